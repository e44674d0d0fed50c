"""Inline keyboards (内联键盘) of callback buttons as plain data, turned into the JSON Telegram
reads when they are sent. Every answer of a check sends one: building it as
python-telegram-bot's InlineKeyboardButton objects, which PTB then turns back into a dict and
into JSON, cost more CPU than the rest of the prompt's rendering."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

Button = tuple[str, str]  # its label, its callback data (bot/callbacks.py)


@dataclass(frozen=True, slots=True)
class Keyboard:
    """Rows of callback buttons under a message (an InlineKeyboardMarkup)."""

    rows: tuple[tuple[Button, ...], ...]

    @classmethod
    def of(cls, rows: Iterable[Iterable[Button]]) -> Keyboard:
        return cls(tuple(tuple(row) for row in rows))

    def to_json(self) -> str:
        """The `reply_markup` parameter, the JSON python-telegram-bot sends for the same
        buttons as an InlineKeyboardMarkup, byte for byte."""
        return json.dumps(
            {
                "inline_keyboard": [
                    [{"callback_data": data, "text": text} for text, data in row]
                    for row in self.rows
                ]
            }
        )
