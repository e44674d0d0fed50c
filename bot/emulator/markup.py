"""Reply markup checked as Telegram checks it: inline and reply keyboards, removal, force reply.

The result keeps the object normalised the way Telegram echoes it back in a Message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.emulator.errors import bad_request

MAX_CALLBACK_DATA_BYTES = 64
MAX_BUTTONS = 100

MarkupKind = Literal["inline", "keyboard", "remove", "force_reply"]

_INLINE_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
_URL_SCHEMES = ("http://", "https://", "tg://", "ton://")


@dataclass(frozen=True)
class ReplyMarkup:
    """A checked reply_markup: what kind it is and its normalised JSON object."""

    kind: MarkupKind
    value: dict[str, object]


def parse_reply_markup(value: object) -> ReplyMarkup | None:
    """The checked markup, None when absent, or the Bad Request Telegram would answer."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in value:
        return ReplyMarkup("inline", {"inline_keyboard": _inline_rows(value["inline_keyboard"])})
    if "keyboard" in value:
        return ReplyMarkup("keyboard", {**value, "keyboard": _keyboard_rows(value["keyboard"])})
    if value.get("remove_keyboard") is True:
        return ReplyMarkup("remove", dict(value))
    if value.get("force_reply") is True:
        return ReplyMarkup("force_reply", dict(value))
    raise bad_request("can't parse reply keyboard markup JSON object")


def _rows(rows: object, field: str, markup: str) -> list[list[object]]:
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request(f'field "{field}" of the {markup} must be an Array of Arrays')
    if sum(len(row) for row in rows) > MAX_BUTTONS:
        raise bad_request("reply markup is too long")
    # Telegram drops empty rows.
    return [row for row in rows if row]


def _inline_rows(rows: object) -> list[list[dict[str, object]]]:
    return [
        [_inline_button(button) for button in row]
        for row in _rows(rows, "inline_keyboard", "InlineKeyboardMarkup")
    ]


def _inline_button(button: object) -> dict[str, object]:
    if not isinstance(button, dict):
        raise bad_request(
            "can't parse inline keyboard button: InlineKeyboardButton must be an Object"
        )
    text = button.get("text")
    if not isinstance(text, str):
        raise bad_request(
            'can\'t parse inline keyboard button: field "text" must be of type String'
        )
    actions = [name for name in _INLINE_ACTIONS if name in button]
    if not actions:
        raise bad_request("text buttons are unallowed in the inline keyboard")
    if "callback_data" in button:
        _check_callback_data(button["callback_data"])
    if "url" in button:
        _check_url(button["url"])
    return dict(button)


def _check_callback_data(data: object) -> None:
    if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES:
        raise bad_request("BUTTON_DATA_INVALID")


def _check_url(url: object) -> None:
    if not isinstance(url, str) or not url.startswith(_URL_SCHEMES) or "://" == url[-3:]:
        raise bad_request("BUTTON_URL_INVALID")


def _keyboard_rows(rows: object) -> list[list[dict[str, object]]]:
    return [
        [_keyboard_button(button) for button in row]
        for row in _rows(rows, "keyboard", "ReplyKeyboardMarkup")
    ]


def _keyboard_button(button: object) -> dict[str, object]:
    if isinstance(button, str):
        button = {"text": button}
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise bad_request('can\'t parse keyboard button: field "text" must be of type String')
    if not button["text"]:
        raise bad_request("keyboard button text is empty")
    return dict(button)


def inline_keyboard_of(markup: ReplyMarkup | None) -> dict[str, object] | None:
    """The markup as stored in a Message: only a non-empty inline keyboard is kept."""
    if markup is None or markup.kind != "inline" or not markup.value["inline_keyboard"]:
        return None
    return markup.value
