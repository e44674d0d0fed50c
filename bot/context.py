"""The context of one update: what every handler of that update shares, loaded once.

As in python-telegram-bot's `examples/contexttypesbot.py`, the application is built with
`ContextTypes(context=UpdateContext)`; PTB makes one context per update and hands the same one
to the handlers of every group, so the sender's `User` row read by the first handler that needs
it (the fleet's filter, the pending note, the check) is the one the others see.
"""

from __future__ import annotations

from typing import Any

from telegram.ext import CallbackContext, ContextTypes, ExtBot

from bot.services import services
from storage.models import Channel, PendingInput, User
from storage.sqlite_driver import short_statements
from storage.users import sender_by_address


class UpdateContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """A CallbackContext that remembers the sender's registered user for the update."""

    def __init__(
        self,
        application: Any,
        chat_id: int | None = None,
        user_id: int | None = None,
    ) -> None:
        super().__init__(application, chat_id, user_id)
        # The Telegram id the user was read for, the user, and what the bot waited for from
        # them when the update came (read with the user).
        self.known_user: tuple[int, User] | None = None
        self.known_wait: PendingInput | None = None


CONTEXT_TYPES = ContextTypes(context=UpdateContext)


async def sender_user(context: ContextTypes.DEFAULT_TYPE, telegram_id: int) -> User | None:
    """The active user with this Telegram id, read once per update. Nobody (or an inactive
    user) is not remembered: a handler of the same update may register them."""
    if isinstance(context, UpdateContext):
        known = context.known_user
        if known is not None and known[0] == telegram_id:
            return known[1]
    with short_statements():
        async with services(context).sessionmaker() as s:
            found = await sender_by_address(s, Channel.TELEGRAM, str(telegram_id))
    if found is None or not found[0].active:
        return None
    user, wait = found
    if isinstance(context, UpdateContext):
        context.known_user = (telegram_id, user)
        context.known_wait = wait
    return user


def wait_with_user(
    context: ContextTypes.DEFAULT_TYPE, user: User
) -> tuple[bool, PendingInput | None]:
    """Whether the person's wait (stale or not) was read with them in this update, and the
    wait itself: (False, None) when it was not, and must be read from the database."""
    if isinstance(context, UpdateContext) and context.known_user is not None:
        if context.known_user[1] is user:
            return True, context.known_wait
    return False, None


def forget_user(context: ContextTypes.DEFAULT_TYPE) -> None:
    """After a handler changed the user (language, role) or what the bot waits for from them,
    the next read goes to the database."""
    if isinstance(context, UpdateContext):
        context.known_user = None
        context.known_wait = None
