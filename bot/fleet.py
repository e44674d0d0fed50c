"""Several bots in one process (a province runs one bot per county): one Application per bot,
each with its own rate limiter, all on one database. A person belongs to the bot of their
area, the bot whose area is theirs or the nearest above it; reminders go out through it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot
from telegram.error import BadRequest, TelegramError
from telegram.ext import Application

from bot.services import KEY, Services, utc_now
from bot.settings import Settings
from storage import area_contains, bot_serving
from storage.bots import BotRecord
from storage.photos import Fetch
from web.photos import bot_fetch


@dataclass
class Fleet:
    """The bots of this deployment, by id, in the order they were added; the first runs the
    reminder sweep and the dashboard."""

    sessionmaker: async_sessionmaker[AsyncSession]
    members: dict[int, tuple[BotRecord, Application]]  # type: ignore[type-arg]
    # area code → id of the bot serving it (areas never move, and the bots are fixed at start)
    _serving: dict[str, int | None] = field(default_factory=dict)
    # (bot area, area) → whether the one holds the other
    _holds: dict[tuple[str, str], bool] = field(default_factory=dict)

    @property
    def applications(self) -> list[Application]:  # type: ignore[type-arg]
        return [application for _, application in self.members.values()]

    @property
    def primary(self) -> Application:  # type: ignore[type-arg]
        return self.applications[0]

    async def record_for(self, area_code: str) -> BotRecord | None:
        """The bot of an area, or None when no bot of this process serves it."""
        if area_code not in self._serving:
            async with self.sessionmaker() as s:
                found = await bot_serving(s, area_code)
            self._serving[area_code] = found.id if found and found.id in self.members else None
        bot_id = self._serving[area_code]
        return self.members[bot_id][0] if bot_id is not None else None

    async def bot_for(self, area_code: str) -> Bot:
        """The bot that speaks to the people of an area (the first bot when none serves it)."""
        record = await self.record_for(area_code)
        application = self.members[record.id][1] if record is not None else self.primary
        return application.bot

    async def holds(self, bot_area: str, area_code: str) -> bool:
        """Whether the area a bot serves holds `area_code`."""
        key = (bot_area, area_code)
        if key not in self._holds:
            async with self.sessionmaker() as s:
                self._holds[key] = await area_contains(s, bot_area, area_code)
        return self._holds[key]


def build_fleet(
    settings: Settings,
    bots: Sequence[tuple[BotRecord, str]],
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Callable[[], datetime] = utc_now,
) -> Fleet:
    """One Application per (bot, token); the first also sweeps reminders and serves the
    dashboard on its own port when it has one."""
    from bot.app import build_application

    members: dict[int, tuple[BotRecord, Application]] = {}  # type: ignore[type-arg]
    for index, (record, token) in enumerate(bots):
        own = settings.with_changes(token=token, bot_username=record.username)
        if index > 0:
            own = own.with_changes(reminder_interval=0, web_listen=None)
        members[record.id] = (record, build_application(own, sessionmaker, clock, serving=record))
    fleet = Fleet(sessionmaker, members)
    first: Services = fleet.primary.bot_data[KEY]
    for application in fleet.applications:
        svc: Services = application.bot_data[KEY]
        svc.fleet = fleet
        svc.metrics = first.metrics  # /metrics counts every bot
    return fleet


def fetch_through_any(bots: Sequence[Bot]) -> Fetch:
    """Fetch a photo through whichever bot received it: a file id is valid only for the bot
    that received the file, and the dashboard shows photos of every bot's areas."""

    async def fetch(file_id: str) -> bytes:
        refused: TelegramError | None = None
        for bot in bots:
            try:
                return await bot_fetch(bot)(file_id)
            except BadRequest as error:
                refused = error
        assert refused is not None
        raise refused

    return fetch
