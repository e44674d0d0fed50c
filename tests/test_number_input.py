"""Numbers as cadres type them: units after the number, 万 for ten thousand, full-width digits."""

from __future__ import annotations

from datetime import date

import pytest

from conversations import Context, Invalid, Prompt, Text, parse_form, start, step

FORM = parse_form(
    """
id = "numbers"
version = "1"
languages = ["zh_CN", "en"]
title = { zh_CN = "数字", en = "Numbers" }

[[sections]]
id = "main"
label = { zh_CN = "数字", en = "Numbers" }

[[questions]]
id = "income"
type = "integer"
section = "main"
min = 0
max = 100000000
label = { zh_CN = "收入（元）", en = "Income (yuan)" }

[[questions]]
id = "area"
type = "decimal"
section = "main"
min = 0
max = 10000
label = { zh_CN = "面积（平方米）", en = "Area (m²)" }
""",
    "numbers.toml",
)
CONTEXT = Context(today=date(2026, 11, 23))


def answer(key: str, text: str) -> object:
    state, _ = start(FORM, CONTEXT)
    if key == "area":
        state, _ = step(FORM, state, Text("1"), CONTEXT)
    after, events = step(FORM, state, Text(text), CONTEXT)
    if any(isinstance(event, Invalid) for event in events):
        return None
    return after.answers[key]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("8000元", 8000),
        ("8000 块", 8000),
        ("3万", 30000),
        ("3.5万元", 35000),
        ("１２,０００", 12000),
        ("3.00005万", None),
        ("万", None),
        ("三千", None),
    ],
)
def test_income_as_typed(text: str, value: int | None) -> None:
    assert answer("income", text) == value


@pytest.mark.parametrize(
    ("text", "value"),
    [("80平米", 80), ("85.5㎡", 85.5), ("85.5 平方米", 85.5), ("3,5", None), ("八十", None)],
)
def test_floor_area_as_typed(text: str, value: float | None) -> None:
    assert answer("area", text) == value


def test_refusal_keeps_the_question() -> None:
    state, _ = start(FORM, CONTEXT)
    after, events = step(FORM, state, Text("很多"), CONTEXT)
    assert after == state
    assert isinstance(events[0], Invalid)
    assert not any(isinstance(event, Prompt) and event.key != "income" for event in events)
