"""Measure the reminder sweep (提醒) on a county-sized ledger, and delivery through the emulator.

    .venv/bin/python bench/reminder_sweep.py [--households 100000] [--problems 200000]
                                             [--villages 500] [--database sqlite|URL]
                                             [--campaign]

A freshly migrated database (a temporary SQLite file by default) gets one county, 10
townships, `--villages` villages with their households, two cadres per village, a leader per
township and a county office, the problems (deadlines spread from four months ago to eight
months ahead; 60 % open or in progress, 20 % rectified, 20 % verified) and a check record for
a third of the households in the current reporting period. With `--campaign`, a campaign
(专项排查) of the whole county in which every problem was found: each deadline reminder names it,
each leader's digest counts what it has left to rectify. Then:

1. the first sweep at 2026-12-01 08:30 (Shanghai): the monthly report reminders, the
   deadline reminders, the leaders' digest, every escalation that has piled up, the monthly
   contact reminders: time to derive them (`due_reminders`) and to record them in the outbox;
2. the same a minute later, with nothing new due: the cost of the sweep every minute;
3. the next morning's sweep: one day's worth of reminders;
4. delivery of the first sweep's outbox through the real Application and the Bot API
   emulator with python-telegram-bot's AIORateLimiter (Telegram's 30 messages per second),
   and of the next morning's without it (the stack's own ceiling).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.app import build_application
from bot.emulator import BotApiEmulator
from bot.i18n import Translator
from bot.reminders import deliver, worker_name
from bot.settings import Settings
from storage import make_engine, make_sessionmaker, upgrade
from storage.campaigns import open_campaign
from storage.models import (
    Area,
    Channel,
    CheckRecord,
    CheckSession,
    Household,
    Identity,
    OutboxEntry,
    Problem,
    User,
)
from storage.reminders import due_reminders, record_due

SHANGHAI = ZoneInfo("Asia/Shanghai")
FIRST = datetime(2026, 12, 1, 8, 30, tzinfo=SHANGHAI).astimezone(UTC)
CREATED = datetime(2026, 11, 10, 2, 0, tzinfo=UTC)
CATEGORIES = ("住房安全", "饮水安全", "义务教育", "基本医疗", "不愁吃", "收入")
STATUSES = ("open",) * 3 + ("in_progress",) * 3 + ("rectified",) * 2 + ("verified",) * 2
BATCH = 5000
TELEGRAM_BASE = 5_000_000


async def _insert(s: AsyncSession, table: object, rows: list[dict[str, object]]) -> None:
    for start in range(0, len(rows), BATCH):
        await s.execute(insert(table), rows[start : start + BATCH])  # type: ignore[call-overload]


async def populate(
    maker: async_sessionmaker[AsyncSession], households: int, problems: int, villages: int
) -> dict[str, int]:
    rng = random.Random(7)
    county = "360700"
    townships = [f"{county}{t:03d}" for t in range(1, 11)]
    village_codes = [f"{townships[v % 10]}{v:03d}" for v in range(villages)]
    async with maker.begin() as s:
        areas = [{"code": county, "name": "示范县", "level": "county", "parent_code": None}]
        areas += [
            {"code": t, "name": f"镇{i}", "level": "township", "parent_code": county}
            for i, t in enumerate(townships)
        ]
        areas += [
            {"code": v, "name": f"村{i}", "level": "village", "parent_code": v[:9]}
            for i, v in enumerate(village_codes)
        ]
        for area in areas:
            area.update(province="江西", timezone="Asia/Shanghai", settings={})
        await _insert(s, Area, areas)
        users: list[dict[str, object]] = []
        for i, v in enumerate(village_codes):
            for n in range(2):
                users.append({"name": f"干部{i}-{n}", "role": "cadre", "area_code": v})
        users += [{"name": f"队长{t}", "role": "leader", "area_code": t} for t in townships]
        users.append({"name": "县乡村振兴局", "role": "office", "area_code": county})
        for user in users:
            user.update(language="zh_CN", active=True, created_at=CREATED)
        await _insert(s, User, users)
        ids = {name: uid for uid, name in await s.execute(select(User.id, User.name))}
        identities: list[dict[str, object]] = [
            {"user_id": ids[str(user["name"])], "channel": Channel.TELEGRAM, "address": str(n)}
            for n, user in enumerate(users, start=TELEGRAM_BASE)
        ]
        await _insert(s, Identity, identities)
        rows = []
        for h in range(households):
            village = h % villages
            rows.append(
                {
                    "village_code": village_codes[village],
                    "number": f"{h // villages + 1:04d}",
                    "head_name": f"户主{h}",
                    "help_cadre": f"干部{village}-{h % 2}",
                    "created_at": CREATED,
                    "updated_at": CREATED,
                }
            )
        await _insert(s, Household, rows)
        house = [
            (hid, code)
            for hid, code in await s.execute(
                select(Household.id, Household.village_code).order_by(Household.id)
            )
        ]
        index = {code: i for i, code in enumerate(village_codes)}
        cadre_of = {hid: ids[f"干部{index[code]}-{hid % 2}"] for hid, code in house}
        today = FIRST.astimezone(SHANGHAI).date()
        rows = []
        for p in range(problems):
            hid, village_code = house[p % len(house)]
            rows.append(
                {
                    "household_id": hid,
                    "village_code": village_code,
                    "category": CATEGORIES[p % len(CATEGORIES)],
                    "text": f"问题{p}",
                    "text_i18n": {},
                    "goal": "整改到位",
                    "goal_i18n": {},
                    "measures": "",
                    "responsible_unit": "县直单位",
                    "deadline": today + timedelta(days=rng.randint(-120, 240)),
                    "status": rng.choice(STATUSES),
                    "created_at": CREATED,
                    "created_by_user_id": cadre_of[hid],
                    "updated_at": CREATED,
                }
            )
        await _insert(s, Problem, rows)
        checked = [(hid, cadre_of[hid]) for hid, _ in house[::3]]
        sessions = [
            {
                "user_id": cadre,
                "household_id": hid,
                "form_id": "household_check",
                "state": {},
                "status": "submitted",
                "created_at": CREATED,
                "updated_at": CREATED,
            }
            for hid, cadre in checked
        ]
        await _insert(s, CheckSession, sessions)
        session_ids = [
            sid for (sid,) in await s.execute(select(CheckSession.id).order_by(CheckSession.id))
        ]
        records = [
            {
                "session_id": sid,
                "household_id": hid,
                "cadre_user_id": cadre,
                "form_id": "household_check",
                "form_version": "2024.1",
                "submitted_at": CREATED + timedelta(days=10),
                "visit_type": "home_visit",
                "at_risk": False,
                "problems_raised": 0,
                "answers": {},
            }
            for sid, (hid, cadre) in zip(session_ids, checked, strict=True)
        ]
        await _insert(s, CheckRecord, records)
    return {"users": len(users), "households": households, "problems": problems}


async def timed_sweep(
    maker: async_sessionmaker[AsyncSession], at: datetime, label: str
) -> tuple[int, float, float]:
    started = time.perf_counter()
    async with maker() as s:
        due = await due_reminders(s, at)
    derived = time.perf_counter() - started
    started = time.perf_counter()
    async with maker.begin() as s:
        recorded = await record_due(s, due, at)
    stored = time.perf_counter() - started
    kinds: dict[str, int] = {}
    for reminder in due:
        kinds[reminder.kind] = kinds.get(reminder.kind, 0) + 1
    print(
        f"{label}: {len(due)} due ({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))}); "
        f"derive {derived * 1000:.0f} ms, record {recorded} in {stored * 1000:.0f} ms"
    )
    return len(due), derived, stored


async def timed_delivery(
    emulator: BotApiEmulator,
    url: str,
    maker: async_sessionmaker[AsyncSession],
    at: datetime,
    rate_limit: bool,
) -> None:
    settings = Settings(
        token=emulator.token,
        database_url=url,
        api_url=emulator.base_url,
        file_url=emulator.base_file_url,
        rate_limit=rate_limit,
        reminder_interval=0,
    )
    app = build_application(settings, maker, lambda: at)
    await app.initialize()
    messages = reminders = sweeps = 0
    try:
        started = time.perf_counter()
        while True:  # a big batch takes several sweeps' delivery rounds
            report = await deliver(app.bot, maker, Translator(), at, worker_name())
            if not report.sent_messages:
                break
            messages += report.sent_messages
            reminders += report.sent_reminders
            sweeps += 1
        seconds = time.perf_counter() - started
    finally:
        await app.shutdown()
    limiter = "with AIORateLimiter" if rate_limit else "without a rate limiter"
    print(
        f"delivery {limiter}: {messages} messages carrying {reminders} reminders "
        f"({sweeps} delivery passes) in {seconds:.1f} s = {messages / seconds:.1f} "
        f"messages/s (Telegram allows about 30/s)"
    )


def county_parser(description: str) -> argparse.ArgumentParser:
    """The options of a bench on a county's database: its size and where it lives."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--households", type=int, default=100_000)
    parser.add_argument("--problems", type=int, default=200_000)
    parser.add_argument("--villages", type=int, default=500)
    parser.add_argument("--database", default="sqlite")
    return parser


@dataclass
class County:
    """A migrated, filled database of one county, in a temporary folder for SQLite."""

    url: str
    engine: AsyncEngine
    maker: async_sessionmaker[AsyncSession]
    sizes: dict[str, int]
    folder: tempfile.TemporaryDirectory[str]


async def filled_county(args: argparse.Namespace) -> County:
    """Migrate the database `--database` names (a temporary SQLite file by default), fill it
    with `populate`, and say how big it is and how long filling took."""
    logging.basicConfig(level=logging.ERROR)
    folder = tempfile.TemporaryDirectory()
    url = (
        f"sqlite+aiosqlite:///{Path(folder.name) / 'bench.db'}"
        if args.database == "sqlite"
        else args.database
    )
    await upgrade(url)
    engine = make_engine(url)
    maker = make_sessionmaker(engine)
    started = time.perf_counter()
    sizes = await populate(maker, args.households, args.problems, args.villages)
    print(
        f"database: {url.split('://')[0]}, {sizes['households']} households, "
        f"{sizes['problems']} problems, {sizes['users']} users, "
        f"{args.villages} villages (filled in {time.perf_counter() - started:.0f} s)"
    )
    return County(url, engine, maker, sizes, folder)


async def main() -> None:
    parser = county_parser(__doc__.splitlines()[0])
    parser.add_argument("--campaign", action="store_true", help="a county-wide campaign")
    args = parser.parse_args()
    county = await filled_county(args)
    url, engine, maker = county.url, county.engine, county.maker
    if args.campaign:
        async with maker.begin() as s:
            await open_campaign(
                s,
                "360700",
                "冬季大排查",
                date(2026, 11, 1),
                date(2026, 12, 31),
                date(2027, 3, 31),
                FIRST,
            )
        print("a county-wide campaign in which every problem was found")
    await timed_sweep(maker, FIRST, "first sweep 2026-12-01 08:30")
    await timed_sweep(maker, FIRST + timedelta(minutes=1), "a minute later, nothing new")
    await timed_sweep(maker, FIRST + timedelta(minutes=2), "again (steady state)")
    next_morning = FIRST + timedelta(days=1)
    await timed_sweep(maker, next_morning, "next morning 2026-12-02 08:30")
    async with maker() as s:
        pending = await s.scalar(
            select(func.count()).select_from(OutboxEntry).where(OutboxEntry.status == "pending")
        )
    print(f"outbox: {pending} reminders pending")

    emulator = BotApiEmulator()
    await emulator.start()
    try:
        async with maker() as s:
            addresses = list(await s.scalars(select(Identity.address)))
        for address in addresses:
            # Each person has opened the chat once, as registration by /start does.
            emulator.user(int(address))._chat.started = True
        await timed_delivery(emulator, url, maker, FIRST, rate_limit=True)
        await timed_delivery(emulator, url, maker, next_morning, rate_limit=False)
    finally:
        await emulator.stop()
        await engine.dispose()
        county.folder.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
