"""The one place that sends to Telegram: every request goes through the bot's retry policy
(bot/retry.py: RetryAfter, network errors, a user who blocked the bot), and every text fits
Telegram's 4096 characters (split into several messages, or cut when editing one). A send
whose answer timed out may have been delivered: `send_once` then does not send it again but
says so."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from functools import partial
from html import escape, unescape
from pathlib import Path
from typing import Any

from telegram import Bot, InlineKeyboardMarkup, Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import ExtBot

from bot.keyboards import Keyboard
from bot.retry import DEFAULT_POLICY, RetryPolicy, policy_of

HTML = ParseMode.HTML.value

# The buttons under a message: the check's keyboards are plain data (bot/keyboards.py), other
# screens still build python-telegram-bot's markup.
Markup = Keyboard | InlineKeyboardMarkup

log = logging.getLogger(__name__)

# Telegram's limit on a message's text after HTML parsing, in UTF-16 code units.
MAX_TEXT = 4096
ELLIPSIS = "…"
_TAG = re.compile(r"<[^>]*>")


def visible_length(html_text: str) -> int:
    """How long Telegram counts this HTML text: tags removed, entities read, UTF-16 units."""
    return len(unescape(_TAG.sub("", html_text)).encode("utf-16-le")) // 2


def _cut_line(line: str, limit: int) -> str:
    """A line too long for one message, as plain text cut to `limit` with an ellipsis."""
    if visible_length(line) <= limit:
        return line
    kept: list[str] = []
    size = 0
    for char in unescape(_TAG.sub("", line)):
        width = 2 if ord(char) > 0xFFFF else 1
        if size + width > limit - len(ELLIPSIS):
            break
        kept.append(char)
        size += width
    return escape("".join(kept), quote=False) + ELLIPSIS


def pieces(html_text: str, limit: int = MAX_TEXT) -> list[str]:
    """The text in as few messages as fit, split between lines; a line that cannot fit in
    a message of its own is cut."""
    if len(html_text) * 2 <= limit:
        # Fits even were every character visible and two UTF-16 units: no line is measured,
        # as for nearly every message.
        return [html_text]
    parts: list[str] = []
    current: list[str] = []
    size = 0
    for line in html_text.split("\n"):
        line = _cut_line(line, limit)
        length = visible_length(line)
        if current and size + 1 + length > limit:
            parts.append("\n".join(current))
            current, size = [], 0
        size += length + (1 if current else 0)
        current.append(line)
    parts.append("\n".join(current))
    return parts


def fitted(html_text: str, limit: int = MAX_TEXT) -> str:
    """The text cut to one message: the lines that fit, then an ellipsis."""
    parts = pieces(html_text, limit - 2)
    return parts[0] if len(parts) == 1 else parts[0] + "\n" + ELLIPSIS


async def _api(bot: Bot, method: str, data: dict[str, Any]) -> Any:
    """A Bot API call whose answer is kept as Telegram's JSON, not read into PTB's objects:
    the bot needs at most a message's id back, and reading a whole message with its buttons
    costs about as much CPU as the call itself. Through the bot's own `_post`, so its request,
    rate limiter and error handling are PTB's as for any call. Parameters come in the form
    they go out in where PTB would convert them: ids as their digits (PTB JSON-encodes an int
    twice a request) and a keyboard as its JSON."""
    return await bot._post(method, data)


def _reply_markup(markup: Markup | None) -> str | InlineKeyboardMarkup | None:
    """The `reply_markup` parameter: a keyboard as its JSON, which python-telegram-bot sends
    as it is; its own markup for it to turn into JSON."""
    return markup.to_json() if isinstance(markup, Keyboard) else markup


async def send(
    bot: Bot,
    chat_id: int,
    text: str,
    markup: Markup | None = None,
    resend_unknown: bool = True,
) -> int:
    """Send an HTML message (several, when it is longer than Telegram allows; the buttons go
    with the last) and return the last one's id; raises Blocked when the user blocked the bot.
    Unless `resend_unknown`, a message whose answer timed out is not sent again: OutcomeUnknown
    is raised instead."""
    policy = policy_of(bot)
    parts = pieces(text)
    for part in parts[:-1]:
        await policy.run(
            partial(
                _api,
                bot,
                "sendMessage",
                {"chat_id": str(chat_id), "text": part, "parse_mode": HTML},
            ),
            resend_unknown,
        )
    last = {
        "chat_id": str(chat_id),
        "text": parts[-1],
        "parse_mode": HTML,
        "reply_markup": _reply_markup(markup),
    }
    sent = await policy.run(partial(_api, bot, "sendMessage", last), resend_unknown)
    return int(sent["message_id"])


async def send_once(bot: Bot, chat_id: int, text: str, markup: Markup | None = None) -> int:
    """`send`, but a message that may have been delivered is never sent a second time."""
    return await send(bot, chat_id, text, markup, resend_unknown=False)


async def edit(
    bot: Bot,
    chat_id: int,
    message_id: int | None,
    text: str | None = None,
    markup: Markup | None = None,
) -> None:
    """Edit a message's text and/or buttons; an edit that cannot apply is not an error
    (the message is gone, too old, or already shows exactly this)."""
    if message_id is None:
        return
    data: dict[str, Any] = {
        "chat_id": str(chat_id),
        "message_id": str(message_id),
        "reply_markup": _reply_markup(markup),
    }
    if text is None:
        method = "editMessageReplyMarkup"
    else:
        method = "editMessageText"
        data.update(text=fitted(text), parse_mode=HTML)
    try:
        await policy_of(bot).run(partial(_api, bot, method, data))
    except BadRequest as error:
        log.debug("edit of message %s in chat %s skipped: %s", message_id, chat_id, error)


async def send_document(bot: Bot, chat_id: int, path: Path, caption: str | None = None) -> Message:
    """Send a file as a document; raises Blocked when the user blocked the bot."""
    content = await asyncio.to_thread(path.read_bytes)
    message: Message = await policy_of(bot).run(
        lambda: bot.send_document(
            chat_id, content, filename=path.name, caption=caption, parse_mode=ParseMode.HTML
        )
    )
    return message


class HuchaBot(ExtBot[None]):
    """The bot as handlers use it. Answering a pressed button only stops the client's spinner:
    when Telegram refuses the answer (the press is handled again after a restart, or late),
    the press itself still counts, so the refusal is not an error. It carries the retry
    policy every sender follows (bot/retry.py)."""

    def __init__(self, *args: Any, retry_policy: RetryPolicy = DEFAULT_POLICY, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._retry_policy = retry_policy

    @property
    def retry_policy(self) -> RetryPolicy:
        return self._retry_policy

    async def get_updates_as_sent(
        self, offset: int | None, poll_seconds: float, allowed_updates: Sequence[str]
    ) -> tuple[list[Update], list[dict[str, Any]]]:
        """getUpdates as `get_updates(offset, poll_seconds, allowed_updates=…)` calls it (the
        same parameters and read timeout): the updates, and each one's JSON as Telegram sent
        it. The intake stores that JSON (bot/intake.py); making it again from the Update
        (`to_dict`) costs about as much CPU as reading it did."""
        read_timeout = (self._request[0].read_timeout or 0) + poll_seconds
        data = {"timeout": poll_seconds, "offset": offset, "allowed_updates": list(allowed_updates)}
        sent: list[dict[str, Any]] = await self._post("getUpdates", data, read_timeout=read_timeout)
        updates = [Update.de_json(item, self) for item in sent]
        for update in updates:
            self.insert_callback_data(update)
        return updates, sent

    async def answer_callback_query(self, *args: Any, **kwargs: Any) -> bool:
        try:
            return await super().answer_callback_query(*args, **kwargs)
        except BadRequest as error:
            log.info("a button's answer was refused: %s", error)
            return False
