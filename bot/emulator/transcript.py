"""What a person sees in the chat: snapshots of messages, callback answers and sent documents.

These are the values the user side hands to tests and to the terminal demo.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

Button = tuple[str, str | None]


@dataclass(frozen=True)
class ChatMessage:
    """One message of a private chat, as it stood when the snapshot was taken.

    `reply_markup` is the inline keyboard as rows of (label, callback_data); `keyboard` is
    the reply keyboard (rows of labels) the bot sent with this message, if any. `raw` is the
    Telegram Message object itself.
    """

    message_id: int
    from_bot: bool
    text: str | None
    caption: str | None
    reply_markup: tuple[tuple[Button, ...], ...]
    keyboard: tuple[tuple[str, ...], ...]
    photo: tuple[Mapping[str, Any], ...] | None
    document: Mapping[str, Any] | None
    edited: bool
    raw: Mapping[str, Any] = field(repr=False)

    @property
    def sender(self) -> Literal["bot", "user"]:
        """Who wrote it."""
        return "bot" if self.from_bot else "user"

    @property
    def content(self) -> str:
        """The text, else the caption, else an empty string."""
        return self.text or self.caption or ""

    @property
    def buttons(self) -> list[Button]:
        """The inline buttons in reading order."""
        return [button for row in self.reply_markup for button in row]

    def callback_data(self, label: str) -> str:
        """The callback data of the inline button with this label."""
        for text, data in self.buttons:
            if text == label and data is not None:
                return data
        raise LookupError(f"no callback button {label!r} on message {self.message_id}: {self}")

    def __str__(self) -> str:
        body = self.content or _media_label(self.raw)
        buttons = " ".join(f"[{text}]" for text, _ in self.buttons)
        keys = " ".join(f"<{label}>" for row in self.keyboard for label in row)
        mark = " (edited)" if self.edited else ""
        return f"#{self.message_id} {self.sender}{mark}: {body} {buttons} {keys}".rstrip()


def _media_label(raw: Mapping[str, Any]) -> str:
    for kind in ("photo", "document", "sticker", "location", "contact"):
        if kind in raw:
            return f"<{kind}>"
    return ""


def snapshot(
    raw: Mapping[str, Any], *, from_bot: bool, edited: bool, keyboard: Mapping[str, Any] | None
) -> ChatMessage:
    """A frozen view of a Message object; later edits do not change it."""
    frozen = copy.deepcopy(dict(raw))
    markup = frozen.get("reply_markup") or {}
    rows = tuple(
        tuple((b.get("text", ""), b.get("callback_data")) for b in row)
        for row in markup.get("inline_keyboard", [])
    )
    keys = tuple(
        tuple(b.get("text", "") for b in row) for row in (keyboard or {}).get("keyboard", [])
    )
    return ChatMessage(
        message_id=frozen["message_id"],
        from_bot=from_bot,
        text=frozen.get("text"),
        caption=frozen.get("caption"),
        reply_markup=rows,
        keyboard=keys,
        photo=tuple(frozen["photo"]) if "photo" in frozen else None,
        document=frozen.get("document"),
        edited=edited,
        raw=frozen,
    )


@dataclass(frozen=True)
class CallbackAnswer:
    """What the bot answered to a pressed button (answerCallbackQuery)."""

    text: str | None
    show_alert: bool
    url: str | None = None
    cache_time: int = 0


class SentDocument(NamedTuple):
    """A document the bot sent, with the bytes it uploaded."""

    chat_id: int
    filename: str
    content: bytes
    caption: str | None


class ApiCallError(NamedTuple):
    """A request the emulator refused, kept so a failing test can say why."""

    method: str
    code: int
    description: str
