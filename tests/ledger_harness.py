"""Shared by the ledger and reminder end-to-end tests: the conftest harness with the minute
sweep job off (the test drives every sweep at the clock it sets), and a village with a cadre,
a cadre of the other village, a township leader and a county office, registered by invitation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.app import build_application
from bot.emulator import BotApiEmulator, EmulatedUser
from bot.settings import Settings
from storage import Identity, make_engine, make_sessionmaker
from storage.problems import add_problem
from tests.harness import COUNTY, OTHER_VILLAGE, TOWNSHIP, VILLAGE, Clock, Harness

SHANGHAI = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 11, 23, 10, 30, tzinfo=SHANGHAI)  # a Monday, mid-morning
STEP = timedelta(hours=1)  # the job runs every minute; hourly is enough to see the month


def local(day: int, month: int = 11, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(2026 if month > 1 else 2027, month, day, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture
async def bot_harness(tmp_path: Path) -> AsyncIterator[Harness]:
    """The harness of conftest, with the minute job off: the test drives every sweep."""
    from storage import upgrade

    url = f"sqlite+aiosqlite:///{tmp_path / 'hucha.db'}"
    await upgrade(url)
    emulator = BotApiEmulator()
    await emulator.start()
    settings = Settings(
        token=emulator.token,
        database_url=url,
        api_url=emulator.base_url,
        file_url=emulator.base_file_url,
        rate_limit=False,
        reminder_interval=0,
    )
    engine = make_engine(url)
    clock = Clock(START.astimezone(UTC))
    h = Harness(emulator, settings, make_sessionmaker(engine), clock, build_application)
    await h.start()
    try:
        yield h
    finally:
        await h.stop()
        await engine.dispose()
        await emulator.stop()


@dataclass
class Village:
    cadre: EmulatedUser
    other_cadre: EmulatedUser
    leader: EmulatedUser
    office: EmulatedUser
    ids: dict[str, int]


async def _user_id(h: Harness, telegram_id: int) -> int:
    async with h.sessionmaker() as s:
        found = await s.scalar(select(Identity.user_id).where(Identity.address == str(telegram_id)))
    assert found is not None
    return found


async def populate(h: Harness) -> Village:
    await h.seed()
    people = {
        "cadre": (h.emulator.user(3001, "王芳", language_code="en"), "cadre", VILLAGE),
        "other": (h.emulator.user(3002, "赵强", language_code="en"), "cadre", OTHER_VILLAGE),
        "leader": (h.emulator.user(3003, "陈队长", language_code="en"), "leader", TOWNSHIP),
        "office": (h.emulator.user(3004, "县乡村振兴局", language_code="en"), "office", COUNTY),
    }
    ids: dict[str, int] = {}
    for key, (user, role, area) in people.items():
        await h.register(user, role, area)
        ids[key] = await _user_id(h, user.user_id)
    return Village(
        people["cadre"][0], people["other"][0], people["leader"][0], people["office"][0], ids
    )


async def hand_problem(h: Harness, v: Village, household: str, text: str, deadline: date) -> int:
    async with h.sessionmaker.begin() as s:
        problem = await add_problem(
            s,
            v.ids["leader"],
            h.households[household],
            category="住房安全",
            text=text,
            goal="住房安全有保障",
            measures="",
            responsible_unit="县住房和城乡建设局",
            deadline=deadline,
            deadline_tier=None,
            now=h.clock(),
            assignee_user_id=v.ids["cadre"],
        )
        return problem.id
