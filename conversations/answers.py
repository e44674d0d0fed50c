"""Answers (回答) per question type: turning an input into a stored answer value, checking a
stored value again at submit time, and rendering a value for people to read.

Stored values are JSON-ready: yes_no "yes"/"no"; select_one a choice value; select_many a
list of choice values in choice order; integer an int; decimal a float; text a stripped
str; date an ISO "YYYY-MM-DD" str; photo the file id str; location
{"latitude": float, "longitude": float}; a skipped question None.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from conversations import messages as m
from conversations.expressions import Scope, as_date, evaluate
from conversations.model import (
    Choice,
    Form,
    Input,
    Invalid,
    Labels,
    Location,
    Photo,
    Pick,
    Question,
    Text,
)

TEXT_LIMIT = 1000
NUMBER_LIMIT = 10**15
EARLIEST_YEAR = 1900
YES_NO_CHOICES = (Choice("yes", m.YES), Choice("no", m.NO))
NORMAL, EACH = "normal", "each"
ALL_NORMAL_CHOICES = (Choice(NORMAL, m.ALL_NORMAL), Choice(EACH, m.EACH_ITEM))

_YES_WORDS = frozenset({"是", "是的", "有", "对", "对的", "好", "yes", "y", "true"})
_NO_WORDS = frozenset({"否", "不", "不是", "没有", "没", "无", "no", "n", "false"})
_INTEGER = re.compile(r"^[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)$", re.ASCII)
_DECIMAL = re.compile(r"^[+-]?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+)$", re.ASCII)
_DATE_PATTERNS = (
    re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$", re.ASCII),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})[日号]?$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$", re.ASCII),
)
_LIST_SEPARATORS = re.compile(r"[,，、;；/]+")
# Units cadres type after a number ("35升", "20分钟", "8000元", "80平米"), dropped; and 万
# (ten thousand), applied: "3.5万" of income is 35000. NFKC has already made ㎡ into "m2".
_UNIT = re.compile(
    r"\s*(?:元|块钱|块|公升|升|L|l|分钟|分|小时|天|日|平方米|平米|m2|m\^2|人|口|岁|个)$"
)
_TEN_THOUSAND = re.compile(r"\s*万$")


@dataclass(frozen=True)
class Answer:
    """An accepted answer value (None for a skipped question)."""

    value: Any


def choices_of(question: Question) -> tuple[Choice, ...]:
    """The options of a choice question; yes_no questions get 是/否 unless they set their own."""
    if question.type == "yes_no" and not question.choices:
        return YES_NO_CHOICES
    if question.type == "all_normal":
        return ALL_NORMAL_CHOICES
    return question.choices


def parse_answer(question: Question, inp: Input, today: date) -> Answer | Invalid:
    """The answer an input gives to `question`, or why it is refused. Not for select_many
    toggles, repeat groups or notes, which the engine handles itself."""
    parser = _PARSERS.get(question.type)
    if parser is None:
        return Invalid(m.CHOOSE_BUTTON)
    return parser(question, inp, today)


def normalise(text: str) -> str:
    """Full-width digits and punctuation to ASCII (NFKC), surrounding spaces removed."""
    return unicodedata.normalize("NFKC", text).replace("\u2212", "-").strip()


def _choice(question: Question, inp: Input, today: date) -> Answer | Invalid:
    refusal = Invalid(m.YES_OR_NO if question.type == "yes_no" else m.CHOOSE_BUTTON)
    choices = choices_of(question)
    if isinstance(inp, Pick):
        known = any(choice.value == inp.value for choice in choices)
        return Answer(inp.value) if known else Invalid(m.CHOOSE_BUTTON)
    if isinstance(inp, Text):
        value = choice_for_text(choices, inp.text)
        if value is None and question.type == "yes_no":
            value = _yes_no_word(inp.text)
        return refusal if value is None else Answer(value)
    return refusal


def choice_for_text(choices: tuple[Choice, ...], text: str) -> str | None:
    """The choice typed as its 1-based number, its label in any language, or its value."""
    typed = normalise(text).casefold() if isinstance(text, str) else ""
    if not typed:
        return None
    if typed.isdigit() and typed.isascii() and len(typed) < 6:
        number = int(typed)
        return choices[number - 1].value if 1 <= number <= len(choices) else None
    for choice in choices:
        names = [choice.value, *choice.labels.values()]
        if any(normalise(name).casefold() == typed for name in names):
            return choice.value
    return None


def _yes_no_word(text: str) -> str | None:
    typed = normalise(text).casefold() if isinstance(text, str) else ""
    if typed in _YES_WORDS:
        return "yes"
    if typed in _NO_WORDS:
        return "no"
    return None


def choices_for_text(choices: tuple[Choice, ...], text: str) -> list[str] | None:
    """Several choices typed at once ("1, 3", "因病、因残"), in choice order; None if any
    part is not a choice."""
    whole = choice_for_text(choices, text)
    if whole is not None:
        return [whole]
    typed = normalise(text) if isinstance(text, str) else ""
    for pattern in (_LIST_SEPARATORS, re.compile(r"[,，、;；/\s]+")):
        parts = [part for part in pattern.split(typed) if part.strip()]
        values = [choice_for_text(choices, part) for part in parts]
        if parts and all(value is not None for value in values):
            return [choice.value for choice in choices if choice.value in values]
    return None


def _number_text(text: str) -> tuple[str, int]:
    """The digits of a typed number without its unit, and the factor 万 asks for."""
    typed = _UNIT.sub("", normalise(text), count=1)
    if _TEN_THOUSAND.search(typed):
        return _TEN_THOUSAND.sub("", typed), 10_000
    return typed, 1


def _integer(question: Question, inp: Input, today: date) -> Answer | Invalid:
    if not isinstance(inp, Text) or not isinstance(inp.text, str):
        return Invalid(m.WHOLE_NUMBER)
    typed, factor = _number_text(inp.text)
    if factor != 1 and len(typed) <= 30 and _DECIMAL.match(typed):
        # "3.5万" is a whole number of yuan; "3.00005万" is not.
        exact = Decimal(typed.replace(",", "")) * factor
        if exact == exact.to_integral_value():
            return _bounded(question, int(exact))
        return Invalid(m.WHOLE_NUMBER)
    if len(typed) > 30 or not _INTEGER.match(typed):
        return Invalid(m.WHOLE_NUMBER)
    return _bounded(question, int(typed.replace(",", "")))


def _decimal(question: Question, inp: Input, today: date) -> Answer | Invalid:
    if not isinstance(inp, Text) or not isinstance(inp.text, str):
        return Invalid(m.NUMBER)
    typed, factor = _number_text(inp.text)
    if len(typed) > 40 or not _DECIMAL.match(typed):
        # "3,5" is refused rather than read as 3.5: with thousands separators allowed,
        # "1,500" and "1,5" would otherwise be too easy to confuse.
        return Invalid(m.DECIMAL_POINT if "," in typed else m.NUMBER)
    value = float(Decimal(typed.replace(",", "")) * factor)
    if not math.isfinite(value):
        return Invalid(m.NUMBER)
    return _bounded(question, value)


def _bounded(question: Question, value: int | float) -> Answer | Invalid:
    low, high = question.minimum, question.maximum
    if (low is not None and value < low) or (high is not None and value > high):
        if low is not None and high is not None:
            return Invalid(m.NUMBER_BETWEEN, params={"min": plain(low), "max": plain(high)})
        if low is not None:
            return Invalid(m.NUMBER_AT_LEAST, params={"min": plain(low)})
        return Invalid(m.NUMBER_AT_MOST, params={"max": plain(high)})
    if abs(value) >= NUMBER_LIMIT:
        return Invalid(m.NUMBER_TOO_LARGE)
    return Answer(value)


def plain(number: float | None) -> int | float | None:
    """A number as an int when it is whole (6000.0 → 6000)."""
    if isinstance(number, float) and number.is_integer() and abs(number) < NUMBER_LIMIT:
        return int(number)
    return number


def _text(question: Question, inp: Input, today: date) -> Answer | Invalid:
    if not isinstance(inp, Text) or not isinstance(inp.text, str):
        return Invalid(m.TEXT_EMPTY)
    typed = inp.text.strip()
    if not typed:
        return Invalid(m.TEXT_EMPTY)
    if len(typed) > TEXT_LIMIT:
        return Invalid(m.TEXT_TOO_LONG, params={"limit": TEXT_LIMIT})
    return Answer(typed)


def _date(question: Question, inp: Input, today: date) -> Answer | Invalid:
    if not isinstance(inp, Text) or not isinstance(inp.text, str):
        return Invalid(m.DATE)
    typed = re.sub(r"\s+", "", normalise(inp.text))
    day = parse_date(typed)
    if day is None:
        return Invalid(m.DATE)
    if day > today and not question.future:
        return Invalid(m.DATE_IN_FUTURE)
    return Answer(day.isoformat())


def parse_date(typed: str) -> date | None:
    """A date typed as 2015-03-08, 2015/3/8, 2015.3.8, 2015年3月8日 or 20150308, in full-width
    digits too and with spaces anywhere: the one reading of a typed date, in the check and
    wherever else a date is asked for (deadlines, campaigns, the command line)."""
    typed = re.sub(r"\s+", "", normalise(typed))
    for pattern in _DATE_PATTERNS:
        match = pattern.match(typed)
        if match:
            year, month, day = (int(part) for part in match.groups())
            if year < EARLIEST_YEAR:
                return None
            try:
                return date(year, month, day)
            except ValueError:
                return None
    return None


def _photo(question: Question, inp: Input, today: date) -> Answer | Invalid:
    refusal = Invalid(m.PHOTO if question.required else m.PHOTO_OR_SKIP)
    if not isinstance(inp, Photo) or not isinstance(inp.file_id, str):
        return refusal
    file_id = inp.file_id.strip()
    return Answer(file_id) if 0 < len(file_id) <= 512 else refusal


def _location(question: Question, inp: Input, today: date) -> Answer | Invalid:
    if not isinstance(inp, Location):
        return Invalid(m.LOCATION if question.required else m.LOCATION_OR_SKIP)
    value = {"latitude": inp.latitude, "longitude": inp.longitude}
    if not valid_location(value):
        return Invalid(m.LOCATION_INVALID)
    return Answer({"latitude": float(inp.latitude), "longitude": float(inp.longitude)})


def valid_location(value: Any) -> bool:
    if not isinstance(value, Mapping):
        return False
    latitude: Any = value.get("latitude")
    longitude: Any = value.get("longitude")
    if not (_is_number(latitude) and _is_number(longitude)):
        return False
    return bool(-90 <= latitude <= 90 and -180 <= longitude <= 180)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


_PARSERS = {
    "yes_no": _choice,
    "select_one": _choice,
    "all_normal": _choice,
    "integer": _integer,
    "decimal": _decimal,
    "text": _text,
    "date": _date,
    "photo": _photo,
    "location": _location,
}


# ---------------------------------------------------------------- checking stored values


def stored_value_fits(question: Question, value: Any, today: date) -> bool:
    """Whether a stored (non-None) value is one the question could have accepted."""
    kind = question.type
    if kind in ("yes_no", "select_one", "all_normal"):
        return any(choice.value == value for choice in choices_of(question))
    if kind == "select_many":
        values = [choice.value for choice in question.choices]
        return isinstance(value, list) and all(v in values for v in value)
    if kind in ("integer", "decimal"):
        whole = isinstance(value, int) and not isinstance(value, bool)
        if not (whole or (kind == "decimal" and _is_number(value))):
            return False
        return isinstance(_bounded(question, value), Answer)
    if kind == "text":
        return isinstance(value, str) and 0 < len(value.strip()) <= TEXT_LIMIT
    if kind == "date":
        day = as_date(value)
        return isinstance(value, str) and day is not None and (day <= today or question.future)
    if kind == "photo":
        return isinstance(value, str) and bool(value.strip())
    if kind == "location":
        return valid_location(value)
    return True


# ---------------------------------------------------------------- display


def label_in(labels: Labels, lang: str, languages: tuple[str, ...] = ()) -> str:
    """The text for `lang`, else for the form's first language, else any text."""
    for candidate in (lang, *languages):
        text = labels.get(candidate)
        if text:
            return text
    return next((text for text in labels.values() if text), "")


def display_value(form: Form, key_or_question: str | Question, value: Any, lang: str) -> str:
    """An answer rendered for people in `lang`: choice labels, 是/否 or Yes/No, numbers and
    dates as plain strings (the bot may reformat them with Babel from the value)."""
    question = key_or_question
    if isinstance(key_or_question, str):
        question = question_for_key(form, key_or_question)  # type: ignore[assignment]
    if not isinstance(question, Question):
        return "" if value is None else str(value)
    return _display(form, question, value, lang)


def _display(form: Form, question: Question, value: Any, lang: str) -> str:
    languages = form.languages
    if value is None:
        return label_in(m.SKIPPED, lang, languages)
    kind = question.type
    if kind in ("yes_no", "select_one", "all_normal"):
        return _choice_label(question, value, lang, languages)
    if kind == "select_many" and isinstance(value, list):
        if not value:
            return label_in(m.NO_ITEMS, lang, languages)
        separator = label_in(m.LIST_SEPARATOR, lang, languages)
        return separator.join(_choice_label(question, v, lang, languages) for v in value)
    if kind == "photo":
        return label_in(m.PHOTO_RECEIVED, lang, languages)
    if kind == "location" and valid_location(value):
        return f"{value['latitude']:.5f}, {value['longitude']:.5f}"
    if kind == "repeat":
        return _display_items(question, value, lang, languages)
    if isinstance(value, float):
        return number_text(value)
    return str(value)


def _choice_label(question: Question, value: Any, lang: str, languages: tuple[str, ...]) -> str:
    for choice in choices_of(question):
        if choice.value == value:
            return label_in(choice.labels, lang, languages)
    return str(value)


def _display_items(question: Question, value: Any, lang: str, languages: tuple[str, ...]) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, list) or not value:
        return label_in(m.NO_ITEMS, lang, languages)
    labels = [item_label(question, item, Scope({}), index) for index, item in enumerate(value)]
    return label_in(m.LIST_SEPARATOR, lang, languages).join(labels)


def item_label(group: Question, item: Any, scope: Scope, index: int) -> str:
    """A repeat item's label from the group's item_label expression, or "#n" (1-based)."""
    if group.item_label and isinstance(item, Mapping):
        label = evaluate(group.item_label, scope.for_item(item))
        if isinstance(label, float):
            label = number_text(label)
        if label is not None and str(label).strip():
            return str(label).strip()
    return f"#{index + 1}"


def number_text(value: float) -> str:
    """3.0 → "3", 3.5 → "3.5" (the shortest text that reads back as the same float)."""
    if value.is_integer() and abs(value) < NUMBER_LIMIT:
        return str(int(value))
    return repr(value)


_KEY = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)\[(\d+)\]\.([A-Za-z][A-Za-z0-9_]*)$")


def split_key(key: str) -> tuple[str, int | None, str | None]:
    """ "children[1].status" → ("children", 1, "status"); "water_source" → (id, None, None)."""
    match = _KEY.match(key) if isinstance(key, str) else None
    if match is None:
        return key, None, None
    group, index, child = match.groups()
    return group, int(index), child


def question_for_key(form: Form, key: str) -> Question | None:
    """The question a cursor key points at, or None."""
    group_id, _, child_id = split_key(key)
    for question in form.questions:
        if question.id != group_id:
            continue
        if child_id is None:
            return question
        return next((child for child in question.children if child.id == child_id), None)
    return None
