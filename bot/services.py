"""What handlers need, built once by the composition root and reached through the context."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram.ext import ContextTypes

from bot.i18n import LANGUAGES, Translator, format_number, label
from bot.metrics import Metrics
from bot.settings import Settings
from conversations import Form
from conversations.thresholds import IncomeLine
from services import Runtime
from services.checkdesk import CheckDesk
from storage.bots import BotRecord

if TYPE_CHECKING:
    from bot.fleet import Fleet


def utc_now() -> datetime:
    return datetime.now(UTC)


class UserLocks:
    """One lock per user whose updates are being handled. The table holds its locks weakly:
    a lock lives while an update holds it or waits for it, and leaves the table with the
    last of them, so the table is as large as the users being served now, not all users
    ever served."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    def of(self, telegram_id: int) -> asyncio.Lock:
        lock = self._locks.get(telegram_id)
        if lock is None:
            lock = self._locks[telegram_id] = asyncio.Lock()
        return lock

    def __len__(self) -> int:
        return len(self._locks)


@dataclass
class Services:
    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]
    forms: Mapping[str, Form]
    thresholds: Any
    t: Translator
    clock: Callable[[], datetime] = utc_now
    locks: UserLocks = field(default_factory=UserLocks)
    # (chat, message) of buttons that start something once, such as an export; oldest first.
    consumed: dict[tuple[int, int], None] = field(default_factory=dict)
    metrics: Metrics = field(default_factory=Metrics)
    # With several bots (bot/fleet.py): the bot this is and the area it serves, and the others.
    # None: the single bot of HUCHA_TELEGRAM_TOKEN, serving everyone.
    serving: BotRecord | None = None
    fleet: Fleet | None = None

    desk: CheckDesk = field(init=False)

    def __post_init__(self) -> None:
        self.desk = CheckDesk(self.runtime, self.thresholds, self.area_texts)

    def area_texts(self, line: IncomeLine | None) -> dict[str, dict[str, str]]:
        """The form's named texts as they read in this area: which income line applies."""
        if line is None:
            return {}
        return {
            "income_line": {
                lang: self.t(
                    lang,
                    "{name} of {year} ({amount} yuan)",
                    name=label(line.name, lang),
                    year=line.year,
                    amount=format_number(line.line, lang),
                )
                for lang in LANGUAGES
            }
        }

    @property
    def runtime(self) -> Runtime:
        """What the use cases (services/) need; the clock is read through, as tests move it."""
        return Runtime(self.sessionmaker, lambda: self.clock(), self.forms)

    def lock_for(self, telegram_id: int) -> asyncio.Lock:
        """Updates of one user are handled one at a time, in order."""
        return self.locks.of(telegram_id)

    def consume_button(self, chat_id: int, message_id: int | None) -> bool:
        """Whether this is the first press of a one-shot button on this message. Updates of
        one user are handled one at a time, so the check and the mark cannot interleave."""
        if message_id is None:
            return True
        key = (chat_id, message_id)
        if key in self.consumed:
            return False
        self.consumed[key] = None
        while len(self.consumed) > CONSUMED_KEPT:
            del self.consumed[next(iter(self.consumed))]
        return True


# A double tap arrives within seconds; this many one-shot buttons are remembered.
CONSUMED_KEPT = 10_000
KEY = "hucha"


def services(context: ContextTypes.DEFAULT_TYPE) -> Services:
    found: Services = context.application.bot_data[KEY]
    return found
