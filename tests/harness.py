"""A test harness: the real bot Application, the emulator, a clock the test controls."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram.ext import Application

from bot.emulator import BotApiEmulator
from bot.handlers import routes
from bot.intake import Intake
from bot.settings import Settings
from conversations import FORMS_DIRECTORY
from storage import (
    CheckSession,
    Household,
    Identity,
    Member,
    add_area,
    create_invitation,
)

COUNTY, TOWNSHIP, VILLAGE, OTHER_VILLAGE = "320705", "320705001", "320705001001", "320705001002"


def forms_with_income_line(directory: Path, area: str, year: int, line: int) -> Path:
    """A copy of the questionnaires whose thresholds add an income line (no real province
    has published one for the test clock's year)."""
    shutil.copytree(FORMS_DIRECTORY, directory, dirs_exist_ok=True)
    with (directory / "thresholds.toml").open("a", encoding="utf-8") as thresholds:
        thresholds.write(
            f'\n[[income_lines]]\narea = "{area}"\nyear = {year}\nline = {line}\n'
            'name = { zh_CN = "示范县监测线", en = "the test county\'s line" }\n'
            'source = "tests"\n'
        )
    return directory


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class Harness:
    emulator: BotApiEmulator
    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]
    clock: Clock
    build: Callable[..., Application]  # type: ignore[type-arg]
    app: Any = None
    intake: Any = None
    households: dict[str, int] = field(default_factory=dict)

    async def start(self) -> None:
        self.app = self.build(self.settings, self.sessionmaker, self.clock)
        await self.app.initialize()
        await routes.register_commands(self.app)
        await self.app.start()
        self.intake = Intake(self.app, instance="test")
        await self.intake.start_polling(poll_seconds=1)

    async def stop(self) -> None:
        if self.app is None:
            return
        await self.intake.stop()
        await self.app.stop()
        await self.app.shutdown()
        self.app = None

    async def restart(self) -> None:
        """Stop the bot process and start a new one on the same database."""
        await self.stop()
        await self.start()

    async def seed(self) -> dict[str, int]:
        """Two villages: 幸福村 with three households, 和平村 with one."""
        today = self.clock().date()

        def born(years: int) -> date:
            return today.replace(year=today.year - years) - timedelta(days=40)

        async with self.sessionmaker.begin() as s:
            await add_area(s, COUNTY, "示范县", "county", province="江苏")
            await add_area(s, TOWNSHIP, "示范镇", "township", parent_code=COUNTY)
            await add_area(s, VILLAGE, "幸福村", "village", parent_code=TOWNSHIP)
            await add_area(s, OTHER_VILLAGE, "和平村", "village", parent_code=TOWNSHIP)
            families = {
                "zhang": (
                    VILLAGE,
                    "001",
                    "张建国",
                    [("张建国", "户主", 45), ("李秀英", "配偶", 43), ("张小明", "之子", 12)],
                ),
                "wang": (VILLAGE, "002", "王秀兰", [("王秀兰", "户主", 71)]),
                "li": (VILLAGE, "003", "李志强", [("李志强", "户主", 38), ("李文", "之女", 9)]),
                "other": (OTHER_VILLAGE, "001", "赵大海", [("赵大海", "户主", 50)]),
            }
            for key, (village, number, head, members) in families.items():
                household = Household(
                    village_code=village,
                    number=number,
                    head_name=head,
                    created_at=self.clock(),
                    updated_at=self.clock(),
                )
                s.add(household)
                await s.flush()
                for name, relation, age in members:
                    s.add(
                        Member(
                            household_id=household.id,
                            name=name,
                            relation=relation,
                            birth_date=born(age),
                        )
                    )
                self.households[key] = household.id
        return self.households

    async def invitation(self, role: str = "cadre", area: str = VILLAGE, ttl_days: int = 7) -> str:
        async with self.sessionmaker.begin() as s:
            invitation = await create_invitation(
                s, role, area, self.clock(), ttl=timedelta(days=ttl_days)
            )
            return invitation.code

    async def register(self, user: Any, role: str = "cadre", area: str = VILLAGE) -> None:
        code = await self.invitation(role, area)
        await user.send_command("start", code)
        reply = await user.next_message()
        assert "✅" in reply.content, reply

    async def cursor(self, telegram_id: int) -> str | None:
        """Where the user's open check stands (phase:cursor), read from the database."""
        async with self.sessionmaker() as s:
            found = await s.scalars(
                select(CheckSession)
                .join(Identity, Identity.user_id == CheckSession.user_id)
                .where(Identity.address == str(telegram_id), CheckSession.status == "open")
                .order_by(CheckSession.updated_at.desc())
            )
            row = found.first()
        if row is None:
            return None
        phase = row.state.get("phase", "asking")
        return "summary" if phase == "summary" else str(row.state.get("cursor"))


async def eventually(
    check: Callable[[], Awaitable[object]], expected: object = True, seconds: float = 5.0
) -> None:
    """Wait until `check()` gives `expected`, for effects the bot shows in no message."""
    async with asyncio.timeout(seconds):
        while await check() != expected:  # noqa: ASYNC110 - the effect is in the database
            await asyncio.sleep(0.02)
