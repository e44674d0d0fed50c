"""A check's keyboards, plain data (bot/keyboards.py), go out as the very JSON that
python-telegram-bot sends for the same buttons as its own InlineKeyboardMarkup."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.keyboards import Button, Keyboard


def ptb_json(rows: list[list[Button]]) -> str:
    markup = InlineKeyboardMarkup(
        [[InlineKeyboardButton(text, callback_data=data) for text, data in row] for row in rows]
    )
    return json.dumps(markup.to_dict())


def test_a_prompts_keyboard_is_the_json_of_ptbs_markup() -> None:
    rows = [
        [("全部正常", "1q:1234:dad9b5:p:0"), ("逐项填写", "1q:1234:dad9b5:p:1")],
        [("⬅ 上一步", "1q:1234:dad9b5:b"), ('⏸ "Pause" \\ 暂停', "1q:1234:dad9b5:x")],
    ]
    assert Keyboard.of(rows).to_json() == ptb_json(rows)


@given(st.lists(st.lists(st.tuples(st.text(), st.text()), min_size=1), min_size=1))
def test_any_keyboard_is_the_json_of_ptbs_markup(rows: list[list[Button]]) -> None:
    assert Keyboard.of(rows).to_json() == ptb_json(rows)
