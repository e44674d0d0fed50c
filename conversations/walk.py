"""The walk: one pass over a form with the answers so far, giving the relevant prompts in
order (the slots), what expressions see (irrelevant answers as None, calculations filled
in), the record of relevant answers, and the items of each repeat group.

A slot key is a question id ("water_source"), a repeat group id for its item list
("children"), or a question of one item ("children[0].school_status", 0-based).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import islice
from typing import Any

from conversations.answers import (
    NORMAL,
    choice_for_text,
    choices_for_text,
    choices_of,
    item_label,
    stored_value_fits,
)
from conversations.expressions import (
    ExpressionError,
    Scope,
    compile_expression,
    evaluate,
    is_true,
)
from conversations.model import CheckState, Choice, Context, Form, Question

PREFILLED = "_prefilled"  # item key listing the fields copied from the roster (not asked)
MAX_ITEMS = 50


@dataclass(frozen=True)
class Slot:
    """One relevant prompt position."""

    key: str
    question: Question
    group: Question | None = None
    index: int | None = None
    answered: bool = False
    value: Any = None
    item_label: str | None = None
    # The key of the `all_normal` question whose "everything normal" gave this answer; such
    # a slot is answered but never asked (unless chosen from the summary).
    normal_from: str | None = None


@dataclass
class Walk:
    slots: list[Slot] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    record: dict[str, Any] = field(default_factory=dict)
    items: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    effective_items: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    item_labels: dict[str, list[str]] = field(default_factory=dict)
    scope: Scope = field(default_factory=lambda: Scope({}))
    texts: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    context: Context | None = None
    # What it was walked from: a state's answers (the object itself) and confirmed groups.
    answers: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)
    done_groups: tuple[str, ...] = field(default=(), compare=False, repr=False)
    # Walks of states a step made from this one, kept so that a state is walked once: for
    # its prompt's preview, its answer and its own position. `normal_walks`, by an
    # all_normal slot's key: the answers "everything normal" there was added to, the answers
    # with it, and their walk.
    made: list[Walk] = field(default_factory=list, compare=False, repr=False)
    normal_walks: dict[str, tuple[Mapping[str, Any], Mapping[str, Any], Walk]] = field(
        default_factory=dict, compare=False, repr=False
    )
    # What `walk_after` takes over from: the form walked; before each top-level question (and
    # after the last) the numbers of slots, records and repeat groups so far and the
    # all_normal shortcut in force; where each repeat item's slots begin, by group.
    form: Form | None = field(default=None, compare=False, repr=False)
    marks: list[tuple[int, int, int, str | None, str | None]] = field(
        default_factory=list, compare=False, repr=False
    )
    item_starts: dict[str, tuple[int, ...]] = field(default_factory=dict, compare=False, repr=False)
    # The items of each repeat group as the answers gave them (before they were copied).
    given_items: dict[str, Sequence[Mapping[str, Any]]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def slot(self, key: str) -> Slot | None:
        return next((slot for slot in self.slots if slot.key == key), None)

    def position(self, key: str) -> int:
        for number, slot in enumerate(self.slots, start=1):
            if slot.key == key:
                return number
        return 0

    def after(self, key: str) -> Slot | None:
        """The slot following `key`, passing over answers "everything normal" gave; the
        first unanswered one if `key` is gone."""
        position = self.position(key)
        if position == 0:
            return self.first_unanswered()
        return next((slot for slot in self.slots[position:] if slot.normal_from is None), None)

    def first_unanswered(self) -> Slot | None:
        return next((slot for slot in self.slots if not slot.answered), None)

    def scope_for(self, slot: Slot) -> Scope:
        """Where a slot's expressions are evaluated: its item, if it has one."""
        if slot.group is None or slot.index is None:
            return self.scope
        items = self.effective_items.get(slot.group.id, [])
        if 0 <= slot.index < len(items):
            return self.scope.for_item(items[slot.index])
        return self.scope


def parameters(form: Form, context: Context) -> dict[str, Any]:
    """The form's parameter defaults overlaid by the area's (Context.params)."""
    return {**form.params, **context.params}


def walk(form: Form, state: CheckState, context: Context) -> Walk:
    result = _begun(form, state, context)
    _walk_questions(result, form, state, context, 0, _Shortcut(), None)
    return result


def walk_after(previous: Walk, form: Form, state: CheckState, context: Context) -> Walk:
    """The walk of `state`, equal to `walk(form, state, context)`, made from `previous`, a walk
    of the same form and context, taking over what cannot differ: a question's walk reads
    only its own answer (and confirmation) and what the questions before it gave, so the
    questions before the first one whose answer is not the very same are taken over; and
    a repeat item's walk reads only the item and what its group's expressions name of the
    questions before the group, so an item that is the very item walked there before, in
    the same place, is taken over when none of those gave anything else."""
    reading = _reading_of(form)
    if previous.form is not form or previous.context is not context or reading is None:
        return walk(form, state, context)
    start = _first_changed(previous, form, state)
    result = _begun(form, state, context)
    slots, records, groups, key, section = previous.marks[start]
    result.slots = previous.slots[:slots]
    result.values.update(islice(previous.values.items(), start))
    result.record.update(islice(previous.record.items(), records))
    result.items.update(islice(previous.items.items(), groups))
    result.effective_items.update(islice(previous.effective_items.items(), groups))
    result.item_labels.update(islice(previous.item_labels.items(), groups))
    result.item_starts.update(islice(previous.item_starts.items(), groups))
    result.given_items.update(islice(previous.given_items.items(), groups))
    result.marks = previous.marks[:start]
    taking_over = _TakingOver(previous, reading, start)
    _walk_questions(result, form, state, context, start, _Shortcut(key, section), taking_over)
    return result


def _first_changed(previous: Walk, form: Form, state: CheckState) -> int:
    """The index of the first top-level question whose own answer or confirmation is not the
    very same as when `previous` was walked."""
    old = previous.answers if isinstance(previous.answers, Mapping) else {}
    new = state.answers if isinstance(state.answers, Mapping) else {}
    old_done, new_done = previous.done_groups, state.done_groups
    for index, question in enumerate(form.questions):
        if question.type == "calculate":
            continue  # reads no answer of its own
        key = question.id
        if (key in old) != (key in new) or old.get(key) is not new.get(key):
            return index
        if question.type == "repeat" and (key in old_done) != (key in new_done):
            return index
    return len(form.questions)


@dataclass(frozen=True)
class _Reading:
    """What `walk_after` needs to know of a form: each top-level question's place, and the
    top-level questions each repeat group's expressions name (its filter, item label and
    its questions' relevance, calculation, normal answer and constraint)."""

    places: dict[str, int]
    group_reads: dict[str, frozenset[str]]


_READINGS: dict[int, tuple[Form, _Reading | None]] = {}
_READINGS_KEPT = 16


def _reading_of(form: Form) -> _Reading | None:
    """The form's reading, or None when its question ids are not unique (a form the loader
    refuses) and nothing is taken over."""
    kept = _READINGS.get(id(form))
    if kept is not None and kept[0] is form:
        return kept[1]
    reading = _read(form)
    _READINGS[id(form)] = (form, reading)
    while len(_READINGS) > _READINGS_KEPT:
        del _READINGS[next(iter(_READINGS))]
    return reading


def _read(form: Form) -> _Reading | None:
    places = {question.id: index for index, question in enumerate(form.questions)}
    if len(places) != len(form.questions):
        return None
    group_reads: dict[str, frozenset[str]] = {}
    for group in form.questions:
        if group.type != "repeat":
            continue
        sources = [group.filter, group.item_label]
        for child in group.children:
            sources += [child.relevant, child.calculation, child.normal, child.constraint]
        names: set[str] = set()
        for source in sources:
            if not source:
                continue
            try:
                names |= compile_expression(source).names
            except ExpressionError:
                continue  # evaluates to None whatever the answers
        group_reads[group.id] = frozenset(names & places.keys())
    return _Reading(places, group_reads)


@dataclass(frozen=True)
class _TakingOver:
    """A walk `walk_after` takes over from, its form's reading, and the first question
    whose own answer changed."""

    previous: Walk
    reading: _Reading
    start: int

    def group_items(self, group: Question, walked: Walk) -> _WalkedItems | None:
        """The previous walk of `group`, if what its expressions read is the same now, as
        `walked` (the walk being made) has it so far."""
        previous = self.previous
        if group.id not in previous.item_starts:
            return None
        place = self.reading.places.get(group.id)
        if place is None:
            return None
        for name in self.reading.group_reads.get(group.id, ()):
            if self.start <= self.reading.places[name] < place and not same_value(
                walked.values.get(name), previous.values.get(name)
            ):
                return None
        return (
            previous.answers if isinstance(previous.answers, Mapping) else {},
            previous.given_items[group.id],
            previous.items[group.id],
            previous.item_starts[group.id],
            previous.effective_items[group.id],
            previous.record[group.id],
            previous.item_labels[group.id],
            previous.slots,
        )


def same_value(one: Any, other: Any) -> bool:
    """Whether two values are the same for every expression: of the same types throughout
    (1, 1.0 and True differ), with equal contents."""
    if one is other:
        return True
    if type(one) is not type(other):
        return False
    if isinstance(one, dict):
        return len(one) == len(other) and all(
            key in other and same_value(value, other[key]) for key, value in one.items()
        )
    if isinstance(one, list | tuple):
        return len(one) == len(other) and all(map(same_value, one, other))
    if isinstance(one, str | int | float | date) or one is None:
        return bool(one == other)
    return False


def _begun(form: Form, state: CheckState, context: Context) -> Walk:
    result = Walk(
        texts={**form.texts, **context.texts},
        context=context,
        answers=state.answers,
        done_groups=state.done_groups,
        form=form,
    )
    household = context.household if isinstance(context.household, Mapping) else {}
    result.scope = Scope(
        result.values, None, parameters(form, context), context.today, household=household
    )
    return result


def _walk_questions(
    result: Walk,
    form: Form,
    state: CheckState,
    context: Context,
    start: int,
    shortcut: _Shortcut,
    taking_over: _TakingOver | None,
) -> None:
    """Walk the form's questions from the one at `start` on, `result` holding the walk of
    those before it, taking repeat items over from an earlier walk where they cannot
    differ."""
    answers = state.answers if isinstance(state.answers, Mapping) else {}
    marks = result.marks
    for index in range(start, len(form.questions)):
        question = form.questions[index]
        marks.append(
            (
                len(result.slots),
                len(result.record),
                len(result.items),
                shortcut.key,
                shortcut.section,
            )
        )
        shortcut.leave_section(question.section)
        if not relevant(question, result.scope):
            result.values[question.id] = None
        elif question.type == "calculate":
            value = calculate(question, result.scope)
            result.values[question.id] = value
            result.record[question.id] = value
        elif question.type == "repeat":
            declared = form.rosters.get(question.source or "")
            walked = taking_over.group_items(question, result) if taking_over else None
            _walk_group(result, question, answers, state.done_groups, context, declared, walked)
        else:
            answered = question.id in answers
            value = answers.get(question.id) if answered else None
            normal_from = None
            if not answered and shortcut.key is not None:
                value = normal_answer(question, result.scope)
                answered, normal_from = (
                    value is not None,
                    shortcut.key if value is not None else None,
                )
            result.values[question.id] = value
            if answered and question.type != "note":
                result.record[question.id] = value
            result.slots.append(
                Slot(question.id, question, answered=answered, value=value, normal_from=normal_from)
            )
            shortcut.passed(question, question.id, value, question.section)
    marks.append(
        (len(result.slots), len(result.record), len(result.items), shortcut.key, shortcut.section)
    )


@dataclass
class _Shortcut:
    """The `all_normal` question in force: its key while its answer is "normal", until the
    next one or, at the top level, the end of its section."""

    key: str | None = None
    section: str | None = None

    def leave_section(self, section: str) -> None:
        if self.key is not None and section != self.section:
            self.key = None

    def passed(self, question: Question, key: str, value: Any, section: str | None) -> None:
        if question.type == "all_normal":
            self.key = key if value == NORMAL else None
            self.section = section


def _choice_named_before_a_note(choices: tuple[Choice, ...], words: str) -> str | None:
    """The one choice whose label is `words` followed by a note in brackets: the roster's
    "初中二年级" is the choice "初中二年级（八年级）"."""
    words = words.strip()
    found = {
        choice.value
        for choice in choices
        for label in choice.labels.values()
        if words and label.startswith(words) and label[len(words) : len(words) + 1] in ("（", "(")
    }
    return found.pop() if len(found) == 1 else None


def normal_answer(question: Question, scope: Scope) -> Any:
    """The answer "everything normal" gives a question: its `normal` expression's value,
    read as an answer (a choice's words, e.g. the roster's "长期慢性病（高血压）", count as
    that choice), or None when it gives nothing the question accepts."""
    if not question.normal or question.type in ("repeat", "calculate", "note", "all_normal"):
        return None
    raw = jsonable(evaluate(question.normal, scope))
    choices = choices_of(question)
    if question.type in ("yes_no", "select_one") and isinstance(raw, str):
        if not any(choice.value == raw for choice in choices):
            raw = choice_for_text(choices, raw) or _choice_named_before_a_note(choices, raw)
    elif question.type == "select_many" and isinstance(raw, str):
        raw = choices_for_text(choices, raw)
    today = scope.today or date.min
    if raw is None or not stored_value_fits(question, raw, today):
        return None
    if question.constraint and not is_true(evaluate(question.constraint, scope.with_value(raw))):
        return None
    return raw


def relevant(question: Question, scope: Scope) -> bool:
    return question.relevant is None or is_true(evaluate(question.relevant, scope))


def calculate(question: Question, scope: Scope) -> Any:
    value = evaluate(question.calculation or "", scope)
    return jsonable(value)


def _walk_group(
    result: Walk,
    group: Question,
    answers: Mapping[str, Any],
    done_groups: tuple[str, ...],
    context: Context,
    declared: tuple[str, ...] | None,
    walked: _WalkedItems | None = None,
) -> None:
    given: Sequence[Mapping[str, Any]] = ()
    if group.id in answers:
        given = _given_items(answers.get(group.id))
        items = [dict(item) for item in given]
    elif walked is not None and group.id not in walked[0]:
        # Pre-filled then too, from the same roster, filter and scope.
        items = list(walked[2])
        given = items
    else:
        items = prefilled_items(group, result.scope, context, declared)
        given = items
    result.items[group.id] = items
    result.given_items[group.id] = given
    result.slots.append(Slot(group.id, group, answered=group.id in done_groups, value=len(items)))
    effective: list[dict[str, Any]] = []
    recorded: list[dict[str, Any]] = []
    labels: list[str] = []
    starts = [len(result.slots)]
    for index, item in enumerate(items):
        if walked is not None and _walked_before(given, index, walked):
            # The very item walked before, in the same place and scope: its walk is the same.
            _, _, _, starts_before, values_before, records_before, labels_before, slots_before = (
                walked
            )
            effective.append(values_before[index])
            recorded.append(records_before[index])
            labels.append(labels_before[index])
            result.slots.extend(slots_before[starts_before[index] : starts_before[index + 1]])
            starts.append(len(result.slots))
            continue
        values, record, asked = _walk_item(group, index, item, result.scope)
        label = item_label(group, values, result.scope, index)
        effective.append(values)
        recorded.append(record)
        labels.append(label)
        result.slots.extend(
            Slot(key, child, group, index, answered, value, label, normal_from)
            for key, child, answered, value, normal_from in asked
        )
        starts.append(len(result.slots))
    result.values[group.id] = effective
    result.record[group.id] = recorded
    result.effective_items[group.id] = effective
    result.item_labels[group.id] = labels
    result.item_starts[group.id] = tuple(starts)


# A group's walk in an earlier walk: the answers walked, the group's items as they gave them
# and as copied, where each item's slots begin (and the last ends), the items' values,
# records and labels, and that walk's slots.
_WalkedItems = tuple[
    Mapping[str, Any],
    Sequence[Mapping[str, Any]],
    list[dict[str, Any]],
    tuple[int, ...],
    list[dict[str, Any]],
    list[dict[str, Any]],
    list[str],
    list[Slot],
]


def _walked_before(given: Sequence[Mapping[str, Any]], index: int, walked: _WalkedItems) -> bool:
    """Whether the item at `index` is the very item walked there before, as given or as
    copied then."""
    if index >= len(given) or index >= len(walked[2]):
        return False
    item = given[index]
    return item is walked[1][index] or item is walked[2][index]


# One prompt of a repeat item, before the item's label is known: its key, question, whether
# it is answered, its value and the all_normal question that gave it.
_Asked = tuple[str, Question, bool, Any, str | None]


def _walk_item(
    group: Question, index: int, item: Mapping[str, Any], scope: Scope
) -> tuple[dict[str, Any], dict[str, Any], list[_Asked]]:
    prefilled = prefilled_fields(item)
    values = {key: value for key, value in item.items() if key != PREFILLED}
    for child in group.children:
        values[child.id] = None
    record = dict(values)
    for child in group.children:
        record.pop(child.id, None)
    asked: list[_Asked] = []
    item_scope = scope.for_item(values)
    shortcut = _Shortcut()
    for child in group.children:
        if not relevant(child, item_scope):
            continue
        if child.type == "calculate":
            values[child.id] = record[child.id] = calculate(child, item_scope)
            continue
        answered = child.id in item
        value = item.get(child.id)
        key = f"{group.id}[{index}].{child.id}"
        normal_from = None
        if not answered and shortcut.key is not None and child.id not in prefilled:
            value = normal_answer(child, item_scope)
            answered, normal_from = value is not None, shortcut.key if value is not None else None
        values[child.id] = value
        if child.id in prefilled:
            record[child.id] = value
            continue
        if answered and child.type != "note":
            record[child.id] = value
        asked.append((key, child, answered, value, normal_from))
        shortcut.passed(child, key, value, None)
    return values, record, asked


def prefilled_fields(item: Mapping[str, Any]) -> set[str]:
    listed = item.get(PREFILLED)
    if not isinstance(listed, list):
        return set()
    return {name for name in listed if isinstance(name, str) and item.get(name) is not None}


def stored_items(raw: Any) -> list[dict[str, Any]]:
    return [dict(item) for item in _given_items(raw)]


def _given_items(raw: Any) -> list[Mapping[str, Any]]:
    if not isinstance(raw, list):
        return []
    return [item for item in raw if isinstance(item, Mapping)]


def prefilled_items(
    group: Question, scope: Scope, context: Context, declared: tuple[str, ...] | None = None
) -> list[dict[str, Any]]:
    """A repeat group's items as the roster gives them, filtered by the group's filter.
    Only the roster fields the form declares are copied (when it declares any), so that
    e.g. ID numbers do not travel into check records."""
    roster = context.roster.get(group.source or "", ()) if group.source else ()
    children = {child.id for child in group.children}
    items: list[dict[str, Any]] = []
    for entry in roster if isinstance(roster, list | tuple) else ():
        if not isinstance(entry, Mapping):
            continue
        fields = {
            key: jsonable(value)
            for key, value in entry.items()
            if isinstance(key, str)
            and not key.startswith("_")
            and (declared is None or key in declared)
        }
        if group.filter and not is_true(evaluate(group.filter, scope.for_item(fields))):
            continue
        fields[PREFILLED] = sorted(k for k in fields if k in children and fields[k] is not None)
        items.append(fields)
        if len(items) >= MAX_ITEMS:
            break
    return items


def jsonable(value: Any) -> Any:
    """A value JSON can hold: dates as ISO strings, non-finite floats as None."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [jsonable(element) for element in value]
    if isinstance(value, Mapping):
        return {str(key): jsonable(element) for key, element in value.items()}
    return str(value)
