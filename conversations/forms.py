"""Load questionnaires (问卷) from TOML files, in the spirit of ODK XLSForm, and reject a
broken one at load time with a message naming the file, the question and the reason.

File layout (see forms/household_check.toml for a full example):

    id = "household_check"            version = "2024.1"
    languages = ["zh_CN", "en"]       title = { zh_CN = "...", en = "..." }
    [params]         name = default   (thresholds; overridden per area by Context.params)
    [rosters]        members = ["member_id", "name", ...]   (fields of the roster lists)
    [choice_lists]   name = [{ value = "...", label = { ... } }, ...]
    [[sections]]     id, label
    [[questions]]    id, type, section, label, hint, choices (inline or a list name),
                     relevant, constraint, constraint_message, required, default,
                     calculation, min, max, normal (the answer an all_normal question
                     before it fills in), hint_relevant (when the hint shows, e.g. only
                     at a home visit), future (a date that may be after today);
                     for repeat: source, filter, item_label,
                     min_items and [[questions.children]]
    [[rules]]        id, when, category, text, goal, measures, responsible_unit,
                     deadline_days | deadline_tier, deadline (a date expression),
                     each, flags_risk
    [texts]          name = { zh_CN = "...", en = "..." }   (quoted as {name} in rule texts)
"""

from __future__ import annotations

import keyword
import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any, NoReturn, cast, get_args

from conversations.expressions import (
    FUNCTIONS,
    HOUSEHOLD_NAME,
    PARAM_NAME,
    VALUE_NAME,
    Expression,
    ExpressionError,
    compile_expression,
)
from conversations.model import (
    Choice,
    Form,
    ProblemRule,
    Question,
    QuestionType,
    Section,
)

FORMS_DIRECTORY = Path(__file__).parent / "forms"
THRESHOLDS_FILE_NAME = "thresholds.toml"
DEFAULT_LANGUAGES = ("zh_CN", "en")
# 立行立改, 限时整改, 长期坚持; "staged" is the former name of "timed", still read.
DEADLINE_TIERS = ("immediate", "timed", "ongoing")
FORMER_DEADLINE_TIERS = {"staged": "timed"}
SELECT_TYPES = ("select_one", "select_many")
NUMBER_TYPES = ("integer", "decimal")
QUESTION_TYPES: tuple[str, ...] = get_args(QuestionType)
YES_NO_VALUES = ("yes", "no")

_ID_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_FORM_KEYS = frozenset(
    {
        "id",
        "version",
        "title",
        "languages",
        "params",
        "rosters",
        "choice_lists",
        "sections",
        "questions",
        "rules",
        "texts",
        "categories",
        "units",
    }
)
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
SUBJECT = "subject"
_QUESTION_KEYS = frozenset(
    {
        "id",
        "type",
        "section",
        "label",
        "hint",
        "choices",
        "relevant",
        "constraint",
        "constraint_message",
        "required",
        "default",
        "calculation",
        "min",
        "max",
        "source",
        "filter",
        "item_label",
        "min_items",
        "children",
        "normal",
        "hint_relevant",
        "future",
    }
)
_RULE_KEYS = frozenset(
    {
        "id",
        "when",
        "category",
        "text",
        "goal",
        "measures",
        "responsible_unit",
        "deadline_days",
        "deadline_tier",
        "each",
        "flags_risk",
        "deadline",
    }
)


class FormError(ValueError):
    """A questionnaire file that cannot be used: "<file>: <question or rule>: <reason>"."""


def load_form(path: str | Path) -> Form:
    """Read and check one questionnaire file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise FormError(f"{path.name}: cannot be read: {error}") from error
    return parse_form(text, path.name)


def load_forms(directory: str | Path = FORMS_DIRECTORY) -> dict[str, Form]:
    """Every questionnaire (*.toml, except the thresholds table) in a directory, by form id."""
    forms: dict[str, Form] = {}
    origins: dict[str, str] = {}
    for path in sorted(Path(directory).glob("*.toml")):
        if path.name == THRESHOLDS_FILE_NAME:
            continue
        form = load_form(path)
        if form.id in forms:
            used = origins[form.id]
            raise FormError(f"{path.name}: form id '{form.id}' is already used by {used}")
        forms[form.id] = form
        origins[form.id] = path.name
    return forms


def parse_form(text: str, source: str = "<form>") -> Form:
    """Check and build a Form from TOML text; `source` names the file in error messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise FormError(f"{source}: not valid TOML: {error}") from error
    return _FormReader(source, data).form()


# ---------------------------------------------------------------- structure


class _FormReader:
    """Reads the raw TOML tables of one file into a Form, failing with context."""

    def __init__(self, source: str, data: Mapping[str, Any]) -> None:
        self.source = source
        self.data = data
        self.languages: tuple[str, ...] = DEFAULT_LANGUAGES
        self.choice_lists: dict[str, tuple[Choice, ...]] = {}
        self.section_ids: set[str] = set()

    def fail(self, where: str, reason: str) -> NoReturn:
        prefix = f"{self.source}: {where}: " if where else f"{self.source}: "
        raise FormError(prefix + reason)

    def form(self) -> Form:
        self.unknown_keys(self.data, _FORM_KEYS, "")
        self.languages = self.read_languages()
        form_id = self.identifier(self.data.get("id"), "", "id")
        version = self.data.get("version")
        if not isinstance(version, str | int | float) or isinstance(version, bool):
            self.fail("", "version: missing or not a string")
        title = self.labels(self.data.get("title"), "", "title")
        params = self.params()
        rosters = self.rosters()
        self.choice_lists = self.read_choice_lists()
        sections = self.sections()
        questions = self.questions()
        rules = self.rules()
        texts = self.texts()
        categories = self.named_labels("categories")
        units = self.named_labels("units")
        for rule in rules:
            if categories and rule.category not in categories:
                self.fail(
                    f"rule '{rule.id}'", f"category: '{rule.category}' is not in [categories]"
                )
            if units and rule.responsible_unit not in units:
                self.fail(
                    f"rule '{rule.id}'",
                    f"responsible_unit: '{rule.responsible_unit}' is not in [units]",
                )
        form = Form(
            id=form_id,
            version=str(version),
            title=title,
            sections=sections,
            questions=questions,
            rules=rules,
            params=params,
            languages=self.languages,
            rosters=rosters,
            texts=texts,
            categories=categories,
            units=units,
        )
        _ReferenceCheck(self, form).run()
        return form

    def unknown_keys(self, raw: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
        for key in raw:
            if key not in allowed:
                self.fail(where, f"unknown key '{key}'")

    def read_languages(self) -> tuple[str, ...]:
        raw = self.data.get("languages", list(DEFAULT_LANGUAGES))
        if not isinstance(raw, list) or not raw or not all(isinstance(x, str) for x in raw):
            self.fail("", "languages: must be a non-empty list of language codes")
        return tuple(raw)

    def identifier(self, raw: Any, where: str, name: str) -> str:
        if not isinstance(raw, str) or not raw:
            self.fail(where, f"{name}: missing")
        if not _ID_PATTERN.match(raw) or keyword.iskeyword(raw):
            self.fail(where, f"{name}: '{raw}' must start with a letter and use letters, digits, _")
        return raw

    def labels(self, raw: Any, where: str, name: str) -> dict[str, str]:
        if not isinstance(raw, Mapping):
            self.fail(where, f"{name}: missing (give one text per language: {self.wanted()})")
        for language in self.languages:
            text = raw.get(language)
            if not isinstance(text, str) or not text.strip():
                self.fail(where, f"{name}: missing '{language}'")
        for language, text in raw.items():
            if not isinstance(text, str):
                self.fail(where, f"{name}: '{language}' must be a text")
        return dict(raw)

    def optional_labels(self, raw: Any, where: str, name: str) -> dict[str, str]:
        return {} if raw is None else self.labels(raw, where, name)

    def wanted(self) -> str:
        return ", ".join(self.languages)

    def params(self) -> dict[str, float | None]:
        """The parameters with their defaults; `nan` declares one without a default (the
        area must set it, e.g. the income line), kept as None."""
        raw = self.data.get("params", {})
        if not isinstance(raw, Mapping):
            self.fail("", "params: must be a table of numbers")
        params: dict[str, float | None] = {}
        for name, value in raw.items():
            self.identifier(name, "params", "name")
            if isinstance(value, float) and math.isnan(value):
                params[name] = None
                continue
            if not _is_finite_number(value):
                self.fail("params", f"'{name}': must be a number")
            params[name] = value
        return params

    def named_labels(self, table: str) -> dict[str, dict[str, str]]:
        """A table of words (a category, a unit) with their labels in each language."""
        raw = self.data.get(table, {})
        if not isinstance(raw, Mapping):
            self.fail("", f"{table}: must be a table of labels per language")
        return {str(name): self.labels(labels, table, str(name)) for name, labels in raw.items()}

    def texts(self) -> dict[str, dict[str, str]]:
        """Named texts a rule's texts quote as {name}; these are the defaults, the caller
        may give the area's own (Context.texts)."""
        raw = self.data.get("texts", {})
        if not isinstance(raw, Mapping):
            self.fail("", "texts: must be a table of texts per language")
        texts: dict[str, dict[str, str]] = {}
        for name, labels in raw.items():
            self.identifier(name, "texts", "name")
            texts[name] = self.labels(labels, "texts", name)
        return texts

    def rosters(self) -> dict[str, tuple[str, ...]]:
        raw = self.data.get("rosters", {})
        if not isinstance(raw, Mapping):
            self.fail("", "rosters: must be a table of field lists")
        rosters: dict[str, tuple[str, ...]] = {}
        for name, fields in raw.items():
            if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
                self.fail("rosters", f"'{name}': must be a list of field names")
            rosters[name] = tuple(fields)
        return rosters

    def read_choice_lists(self) -> dict[str, tuple[Choice, ...]]:
        raw = self.data.get("choice_lists", {})
        if not isinstance(raw, Mapping):
            self.fail("", "choice_lists: must be a table of choice lists")
        return {
            name: self.choices(entries, f"choice list '{name}'") for name, entries in raw.items()
        }

    def choices(self, raw: Any, where: str) -> tuple[Choice, ...]:
        if not isinstance(raw, list):
            self.fail(where, "choices: must be a list of { value, label }")
        choices: list[Choice] = []
        seen: set[str] = set()
        for position, entry in enumerate(raw, start=1):
            if not isinstance(entry, Mapping):
                self.fail(where, f"choice {position}: must be a table with value and label")
            self.unknown_keys(entry, ("value", "label"), f"{where}: choice {position}")
            value = entry.get("value")
            if isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            if not isinstance(value, str) or not value.strip():
                self.fail(where, f"choice {position}: value missing")
            if value in seen:
                self.fail(where, f"duplicate choice value '{value}'")
            seen.add(value)
            labels = self.labels(entry.get("label"), where, f"choice '{value}': label")
            choices.append(Choice(value=value, labels=labels))
        return tuple(choices)

    def sections(self) -> tuple[Section, ...]:
        raw = self.data.get("sections", [])
        if not isinstance(raw, list):
            self.fail("", "sections: must be a list of [[sections]]")
        sections: list[Section] = []
        for position, entry in enumerate(raw, start=1):
            if not isinstance(entry, Mapping):
                self.fail("", f"section {position}: must be a table")
            where = f"section {position}"
            self.unknown_keys(entry, ("id", "label"), where)
            section_id = self.identifier(entry.get("id"), where, "id")
            where = f"section '{section_id}'"
            if section_id in self.section_ids:
                self.fail(where, "duplicate section id")
            self.section_ids.add(section_id)
            sections.append(Section(section_id, self.labels(entry.get("label"), where, "label")))
        return tuple(sections)

    def questions(self) -> tuple[Question, ...]:
        raw = self.data.get("questions")
        if not isinstance(raw, list) or not raw:
            self.fail("", "questions: the form has no [[questions]]")
        questions: list[Question] = []
        seen: set[str] = set()
        for position, entry in enumerate(raw, start=1):
            question = self.question(entry, position, group=None)
            if question.id in seen:
                self.fail(f"question '{question.id}'", "duplicate question id")
            seen.add(question.id)
            questions.append(question)
        top_ids = {question.id for question in questions}
        for question in questions:
            for child in question.children:
                if child.id in top_ids:
                    self.fail(
                        f"question '{question.id}.{child.id}'",
                        f"id '{child.id}' is already used by a top-level question",
                    )
        return tuple(questions)

    def question(self, raw: Any, position: int, group: str | None) -> Question:
        prefix = f"{group}." if group else ""
        if not isinstance(raw, Mapping):
            self.fail(f"question {prefix}{position}", "must be a table")
        where = f"question {prefix}{position}"
        question_id = self.identifier(raw.get("id"), where, "id")
        if question_id in (VALUE_NAME, PARAM_NAME) or question_id in FUNCTIONS:
            self.fail(f"question '{prefix}{question_id}'", f"id '{question_id}' is reserved")
        where = f"question '{prefix}{question_id}'"
        self.unknown_keys(raw, _QUESTION_KEYS, where)
        kind = raw.get("type")
        if kind not in QUESTION_TYPES:
            self.fail(where, f"type: '{kind}' is not one of {', '.join(QUESTION_TYPES)}")
        question_type = cast(QuestionType, kind)
        section = self.section_of(raw, where)
        children: tuple[Question, ...] = ()
        if question_type == "repeat":
            children = self.children(raw, where, question_id)
        elif "children" in raw:
            self.fail(where, "children: only a repeat group has children")
        question = Question(
            id=question_id,
            type=question_type,
            labels=self.question_labels(raw, where, question_type),
            section=section,
            choices=self.question_choices(raw, where, question_type),
            relevant=self.expression_text(raw, "relevant", where),
            constraint=self.expression_text(raw, "constraint", where),
            constraint_message=self.optional_labels(
                raw.get("constraint_message"), where, "constraint_message"
            ),
            required=self.flag(raw, "required", where, default=True),
            hint=self.optional_labels(raw.get("hint"), where, "hint"),
            calculation=self.expression_text(raw, "calculation", where),
            children=tuple(replace(child, section=child.section or section) for child in children),
            source=self.text(raw, "source", where),
            filter=self.expression_text(raw, "filter", where),
            item_label=self.expression_text(raw, "item_label", where),
            minimum=self.number(raw, "min", where),
            maximum=self.number(raw, "max", where),
            min_items=self.count(raw, "min_items", where),
            normal=self.expression_text(raw, "normal", where),
            hint_relevant=self.expression_text(raw, "hint_relevant", where),
            future=self.flag(raw, "future", where, default=False),
        )
        if question.future and question_type != "date":
            self.fail(where, "future: only a date question may allow a later date")
        if question.normal and question_type in ("repeat", "calculate", "note", "all_normal"):
            self.fail(where, f"normal: a {question_type} question has no normal answer")
        self.check_shape(question, raw, where, group)
        return replace(question, default=self.default(raw, question, where))

    def section_of(self, raw: Mapping[str, Any], where: str) -> str:
        section = raw.get("section", "")
        if not isinstance(section, str):
            self.fail(where, "section: must be a section id")
        if section and section not in self.section_ids:
            self.fail(where, f"section: unknown section '{section}'")
        return section

    def children(self, raw: Mapping[str, Any], where: str, group: str) -> tuple[Question, ...]:
        entries = raw.get("children")
        if not isinstance(entries, list) or not entries:
            self.fail(where, "a repeat group needs [[questions.children]]")
        children: list[Question] = []
        seen: set[str] = set()
        for position, entry in enumerate(entries, start=1):
            child = self.question(entry, position, group=group)
            if child.id in seen:
                self.fail(f"question '{group}.{child.id}'", "duplicate question id")
            seen.add(child.id)
            children.append(child)
        return tuple(children)

    def question_labels(self, raw: Mapping[str, Any], where: str, kind: str) -> dict[str, str]:
        if kind == "calculate" and "label" not in raw:
            return {}
        return self.labels(raw.get("label"), where, "label")

    def question_choices(self, raw: Mapping[str, Any], where: str, kind: str) -> tuple[Choice, ...]:
        entries = raw.get("choices")
        if entries is None:
            if kind in SELECT_TYPES:
                self.fail(where, f"{kind} without choices")
            return ()
        if kind not in (*SELECT_TYPES, "yes_no"):
            self.fail(where, f"choices: a {kind} question has no choices")
        if isinstance(entries, str):
            if entries not in self.choice_lists:
                self.fail(where, f"choices: unknown choice list '{entries}'")
            choices = self.choice_lists[entries]
        else:
            choices = self.choices(entries, where)
        if not choices:
            self.fail(where, f"{kind} without choices")
        if kind == "yes_no" and tuple(choice.value for choice in choices) != YES_NO_VALUES:
            self.fail(where, "choices: a yes_no question's choices must be 'yes' then 'no'")
        return choices

    def expression_text(self, raw: Mapping[str, Any], key: str, where: str) -> str | None:
        value = raw.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            self.fail(where, f"{key}: must be an expression text")
        return value

    def text(self, raw: Mapping[str, Any], key: str, where: str) -> str | None:
        value = raw.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            self.fail(where, f"{key}: must be a text")
        return value

    def flag(self, raw: Mapping[str, Any], key: str, where: str, *, default: bool) -> bool:
        value = raw.get(key, default)
        if not isinstance(value, bool):
            self.fail(where, f"{key}: must be true or false")
        return value

    def number(self, raw: Mapping[str, Any], key: str, where: str) -> float | None:
        value = raw.get(key)
        if value is None:
            return None
        if not _is_finite_number(value):
            self.fail(where, f"{key}: must be a number")
        return cast(float, value)

    def count(self, raw: Mapping[str, Any], key: str, where: str) -> int:
        value = raw.get(key, 0)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            self.fail(where, f"{key}: must be a whole number, 0 or more")
        return value

    def check_shape(
        self, question: Question, raw: Mapping[str, Any], where: str, group: str | None
    ) -> None:
        kind = question.type
        if kind == "repeat" and group is not None:
            self.fail(where, "a repeat group cannot be inside another repeat group")
        if kind == "calculate" and question.calculation is None:
            self.fail(where, "calculation: missing for a calculate question")
        if kind != "calculate" and question.calculation is not None:
            self.fail(where, "calculation: only a calculate question has a calculation")
        if question.constraint and not question.constraint_message:
            self.fail(where, "constraint_message: missing for the constraint")
        if kind in ("calculate", "note", "repeat") and question.constraint:
            self.fail(where, f"constraint: a {kind} question has no constraint")
        if kind not in NUMBER_TYPES and ("min" in raw or "max" in raw):
            self.fail(where, "min/max: only integer and decimal questions have min and max")
        if kind == "integer":
            for key in ("min", "max"):
                if key in raw and not isinstance(raw[key], int):
                    self.fail(where, f"{key}: must be a whole number for an integer question")
        low, high = question.minimum, question.maximum
        if low is not None and high is not None and low > high:
            self.fail(where, "min is greater than max")
        if kind != "repeat":
            for key in ("source", "filter", "item_label", "min_items"):
                if key in raw:
                    self.fail(where, f"{key}: only a repeat group has {key}")
        if question.filter and not question.source:
            self.fail(where, "filter: needs a source roster")
        if question.source and question.source not in self.rosters_declared():
            self.fail(
                where, f"source: unknown roster '{question.source}' (declare it in [rosters])"
            )

    def rosters_declared(self) -> Mapping[str, Any]:
        raw = self.data.get("rosters", {})
        return raw if isinstance(raw, Mapping) else {}

    def default(self, raw: Mapping[str, Any], question: Question, where: str) -> Any:
        if "default" not in raw:
            return None
        value = raw["default"]
        reason = _default_problem(question, value)
        if reason:
            self.fail(where, f"default: {reason}")
        return value.isoformat() if isinstance(value, date) else value

    def rules(self) -> tuple[ProblemRule, ...]:
        raw = self.data.get("rules", [])
        if not isinstance(raw, list):
            self.fail("", "rules: must be a list of [[rules]]")
        rules: list[ProblemRule] = []
        seen: set[str] = set()
        for position, entry in enumerate(raw, start=1):
            if not isinstance(entry, Mapping):
                self.fail(f"rule {position}", "must be a table")
            rule_id = self.identifier(entry.get("id"), f"rule {position}", "id")
            where = f"rule '{rule_id}'"
            if rule_id in seen:
                self.fail(where, "duplicate rule id")
            seen.add(rule_id)
            self.unknown_keys(entry, _RULE_KEYS, where)
            rules.append(self.rule(entry, rule_id, where))
        return tuple(rules)

    def rule(self, raw: Mapping[str, Any], rule_id: str, where: str) -> ProblemRule:
        when = self.expression_text(raw, "when", where)
        if when is None:
            self.fail(where, "when: missing")
        for key in ("category", "responsible_unit"):
            value = raw.get(key)
            if not isinstance(value, str) or not value.strip():
                self.fail(where, f"{key}: missing")
        days = raw.get("deadline_days")
        tier = raw.get("deadline_tier")
        tier = FORMER_DEADLINE_TIERS.get(tier, tier) if isinstance(tier, str) else tier
        if days is None and tier is None:
            self.fail(where, "give deadline_days or deadline_tier")
        if days is not None and (not isinstance(days, int) or isinstance(days, bool) or days < 0):
            self.fail(where, "deadline_days: must be a whole number of days")
        if tier is not None and tier not in DEADLINE_TIERS:
            self.fail(where, f"deadline_tier: must be one of {', '.join(DEADLINE_TIERS)}")
        return ProblemRule(
            id=rule_id,
            when=when,
            category=raw["category"],
            text=self.labels(raw.get("text"), where, "text"),
            goal=self.labels(raw.get("goal"), where, "goal"),
            measures=self.optional_labels(raw.get("measures"), where, "measures"),
            responsible_unit=raw["responsible_unit"],
            deadline_days=days,
            deadline_tier=tier,
            each=self.text(raw, "each", where),
            flags_risk=self.flag(raw, "flags_risk", where, default=False),
            deadline=self.expression_text(raw, "deadline", where),
        )


def _is_finite_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _default_problem(question: Question, value: Any) -> str | None:
    """Why a default does not fit its question, or None."""
    kind = question.type
    values = [choice.value for choice in question.choices] or list(YES_NO_VALUES)
    if kind in ("yes_no", "select_one"):
        return None if value in values else f"'{value}' is not one of the choices"
    if kind == "select_many":
        if isinstance(value, list) and all(v in values for v in value):
            return None
        return "must be a list of choice values"
    if kind == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else "must be a whole number"
    if kind == "decimal":
        return None if _is_finite_number(value) else "must be a number"
    if kind == "text":
        return None if isinstance(value, str) else "must be a text"
    if kind == "date":
        plain_date = isinstance(value, date) and not isinstance(value, datetime)
        return None if plain_date else "must be a date such as 2015-03-08"
    return f"a {kind} question has no default"


# ---------------------------------------------------------------- references


@dataclass
class _Visible:
    """The names an expression may use where it stands, and where each comes from."""

    outer: dict[str, Question]
    item: set[str] = field(default_factory=set)
    later: set[str] = field(default_factory=set)  # the same item's fields not yet defined


class _ReferenceCheck:
    """Checks every expression: syntax, functions, params, and that names refer only to
    questions defined before (or to the fields of the same repeat item)."""

    def __init__(self, reader: _FormReader, form: Form) -> None:
        self.reader = reader
        self.form = form
        self.all_ids = {q.id for q in form.questions} | {
            child.id for q in form.questions for child in q.children
        }
        self.top = {q.id: q for q in form.questions}

    def run(self) -> None:
        known: dict[str, Question] = {}
        for question in self.form.questions:
            self.check_question(question, known)
            known[question.id] = question
        for rule in self.form.rules:
            self.check_rule(rule)

    def roster_fields(self, group: Question) -> set[str]:
        return set(self.form.rosters.get(group.source or "", ()))

    def check_question(self, question: Question, known: dict[str, Question]) -> None:
        where = f"question '{question.id}'"
        outer = _Visible(dict(known))
        self.check(where, "relevant", question.relevant, outer)
        if question.type != "repeat":
            self.check(where, "constraint", question.constraint, outer, allow_value=True)
            self.check(where, "calculation", question.calculation, outer)
            self.check(where, "normal", question.normal, outer)
            self.check(where, "hint_relevant", question.hint_relevant, outer)
            return
        roster = self.roster_fields(question)
        self.check(where, "filter", question.filter, _Visible(dict(known), roster))
        children = {child.id for child in question.children}
        labelled = _Visible(dict(known), roster | children)
        self.check(where, "item_label", question.item_label, labelled)
        earlier: set[str] = set(roster)
        for position, child in enumerate(question.children):
            child_where = f"question '{question.id}.{child.id}'"
            later = {c.id for c in question.children[position:]} - earlier
            scope = _Visible(dict(known), set(earlier), later)
            self.check(child_where, "relevant", child.relevant, scope)
            self.check(child_where, "constraint", child.constraint, scope, allow_value=True)
            self.check(child_where, "calculation", child.calculation, scope)
            self.check(child_where, "normal", child.normal, scope)
            self.check(child_where, "hint_relevant", child.hint_relevant, scope)
            earlier.add(child.id)

    def check_rule(self, rule: ProblemRule) -> None:
        where = f"rule '{rule.id}'"
        scope = _Visible(dict(self.top))
        if rule.each is not None:
            group = self.top.get(rule.each)
            if group is None or group.type != "repeat":
                self.reader.fail(where, f"each: '{rule.each}' is not a repeat group")
            scope.item = self.roster_fields(group) | {child.id for child in group.children}
        self.check(where, "when", rule.when, scope)
        self.check(where, "deadline", rule.deadline, scope)
        for key, labels in (("text", rule.text), ("goal", rule.goal), ("measures", rule.measures)):
            for text in labels.values():
                for name in _PLACEHOLDER.findall(text):
                    if name != SUBJECT and name not in self.form.texts:
                        self.reader.fail(where, f"{key}: '{{{name}}}' is not in [texts]")

    def check(
        self,
        where: str,
        key: str,
        source: str | None,
        visible: _Visible,
        *,
        allow_value: bool = False,
    ) -> None:
        if source is None:
            return
        try:
            expression = compile_expression(source)
        except ExpressionError as error:
            self.reader.fail(where, f"{key}: {error.reason}")
        reason = self.problem(expression, visible, allow_value)
        if reason:
            self.reader.fail(where, f"{key}: {reason}")

    def problem(self, expression: Expression, visible: _Visible, allow_value: bool) -> str | None:
        if expression.uses_value and not allow_value:
            return f"'{VALUE_NAME}' can only be used in a constraint"
        for name in sorted(expression.params):
            if name not in self.form.params:
                return f"unknown parameter 'param.{name}'"
        for name in sorted(expression.household_fields):
            if name not in self.form.rosters.get(HOUSEHOLD_NAME, ()):
                return f"unknown household fact 'household.{name}' (see [rosters] household)"
        for name in sorted(expression.outer_names):
            reason = self.name_problem(name, visible)
            if reason:
                return reason
        for group_id, names in sorted(expression.item_names.items()):
            reason = self.group_problem(group_id, names, visible)
            if reason:
                return reason
        return None

    def name_problem(self, name: str, visible: _Visible) -> str | None:
        if name in visible.item or name in visible.outer:
            return None
        if name in self.top or name in visible.later:
            return f"'{name}' is defined later (a question may only use questions before it)"
        if name in self.all_ids:
            return (
                f"'{name}' is a question of another repeat group "
                "(use count, sum, any or all over that group)"
            )
        return f"unknown name '{name}'"

    def group_problem(self, group_id: str, names: frozenset[str], visible: _Visible) -> str | None:
        group = visible.outer.get(group_id)
        if group is None or group.type != "repeat":
            known = self.name_problem(group_id, visible)
            return known or f"'{group_id}' is not a repeat group"
        item = _Visible(visible.outer, self.roster_fields(group) | {c.id for c in group.children})
        for name in sorted(names):
            if name in item.item or name in item.outer or name in visible.item:
                continue
            if self.top.get(name) is not None:
                return f"'{name}' is defined later (a question may only use questions before it)"
            return f"unknown name '{name}' in the items of '{group_id}'"
        return None
