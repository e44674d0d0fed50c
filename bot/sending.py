"""The one place that sends to Telegram: retries on RetryAfter and network errors, and
reports a user who blocked the bot instead of raising."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from telegram import Bot, InlineKeyboardMarkup, Message
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

log = logging.getLogger(__name__)

ATTEMPTS = 4


class Blocked(Exception):
    """The user blocked the bot (Telegram answered Forbidden)."""


async def _with_retries(call: Any) -> Any:
    delay = 0.5
    for attempt in range(ATTEMPTS):
        try:
            return await call()
        except Forbidden as error:
            raise Blocked(str(error)) from error
        except RetryAfter as error:
            wait = error.retry_after
            seconds = wait.total_seconds() if hasattr(wait, "total_seconds") else float(wait)
            await asyncio.sleep(seconds)
        except (TimedOut, NetworkError) as error:
            if isinstance(error, BadRequest) or attempt == ATTEMPTS - 1:
                raise
            log.warning("network error, retrying in %.1fs: %s", delay, error)
            await asyncio.sleep(delay)
            delay *= 2
    return await call()


async def send(
    bot: Bot, chat_id: int, text: str, markup: InlineKeyboardMarkup | None = None
) -> Message:
    """Send an HTML message; raises Blocked when the user blocked the bot."""
    message: Message = await _with_retries(
        lambda: bot.send_message(chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup)
    )
    return message


async def edit(
    bot: Bot,
    chat_id: int,
    message_id: int | None,
    text: str | None = None,
    markup: InlineKeyboardMarkup | None = None,
) -> None:
    """Edit a message's text and/or buttons; an edit that cannot apply is not an error
    (the message is gone, too old, or already shows exactly this)."""
    if message_id is None:
        return
    try:
        if text is None:
            await _with_retries(
                lambda: bot.edit_message_reply_markup(chat_id, message_id, reply_markup=markup)
            )
        else:
            await _with_retries(
                lambda: bot.edit_message_text(
                    text, chat_id, message_id, parse_mode=ParseMode.HTML, reply_markup=markup
                )
            )
    except BadRequest as error:
        log.debug("edit of message %s in chat %s skipped: %s", message_id, chat_id, error)


async def send_document(bot: Bot, chat_id: int, path: Path, caption: str | None = None) -> Message:
    """Send a file as a document; raises Blocked when the user blocked the bot."""
    content = await asyncio.to_thread(path.read_bytes)
    message: Message = await _with_retries(
        lambda: bot.send_document(
            chat_id, content, filename=path.name, caption=caption, parse_mode=ParseMode.HTML
        )
    )
    return message
