"""Measure one bot per county against one bot for all: round trips per second and latency.

    .venv/bin/python bench/bots.py [--cadres 40] [--trips 5]

Two counties (示范县, 远山县), N cadres in each village of theirs, on a fresh SQLite file. First
one bot serves everybody (no `bots` rows, as with HUCHA_TELEGRAM_TOKEN); then each county has
its bot (`hucha bots add`), both Applications in one process on the same database, and each
cadre talks to their county's bot. Every cadre sends /households `--trips` times, all at once;
a round trip is a send until the bot's answer arrives. The difference is what serving several
bots costs per update: the check that the person belongs to the bot's area (one indexed read
of the user, the area answer kept) and a second polling loop. Rate limits are off in both runs
(the emulator does not enforce Telegram's), so the figures are the stack's own.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

# The repository first: a bench script must not stand in for a package of the same name.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.app import build_application
from bot.emulator import BotApiEmulator, EmulatedUser
from bot.fleet import build_fleet
from bot.handlers import routes
from bot.intake import Intake
from bot.settings import Settings
from storage import add_area, add_bot, make_engine, make_sessionmaker, upgrade
from storage.bots import BotRecord
from tests.harness import COUNTY, VILLAGE, Clock, Harness

FAR_COUNTY, FAR_TOWNSHIP, FAR_VILLAGE = "320706", "320706001", "320706001001"
TOKEN_B = "222222:BETA"


@asynccontextmanager
async def serving(
    emulator: BotApiEmulator, url: str, bots: list[tuple[BotRecord, str]]
) -> AsyncIterator[None]:
    settings = Settings(
        token=emulator.token,
        database_url=url,
        api_url=emulator.base_url,
        file_url=emulator.base_file_url,
        rate_limit=False,
        reminder_interval=0,
    )
    engine = make_engine(url)
    sessionmaker = make_sessionmaker(engine)
    if bots:
        applications = build_fleet(settings, bots, sessionmaker).applications
    else:
        applications = [build_application(settings, sessionmaker)]
    intakes = []
    for application in applications:
        await application.initialize()
        await routes.register_commands(application)
        await application.start()
        intake = Intake(application, instance="bench")
        await intake.start_polling(poll_seconds=1)
        intakes.append(intake)
    try:
        yield
    finally:
        for intake in intakes:
            await intake.stop()
        for application in applications:
            await application.stop()
            await application.shutdown()
        await engine.dispose()


async def trips(user: EmulatedUser, count: int, latencies: list[float]) -> None:
    for _ in range(count):
        started = time.perf_counter()
        await user.send_command("households")
        await user.next_message(timeout=60)
        latencies.append(time.perf_counter() - started)


async def run(mode: str, cadres: int, count: int) -> tuple[float, float, float]:
    folder = Path(tempfile.mkdtemp(prefix="hucha-bench-bots-"))
    url = f"sqlite+aiosqlite:///{folder / 'hucha.db'}"
    await upgrade(url)
    emulator = BotApiEmulator()
    await emulator.start()
    other = emulator.add_bot(TOKEN_B, bot_username="hucha_b_bot")
    clock = Clock(datetime.now(UTC))
    engine = make_engine(url)
    h = Harness(emulator, Settings(), make_sessionmaker(engine), clock, build_application)
    await h.seed()
    async with h.sessionmaker.begin() as s:
        await add_area(s, FAR_COUNTY, "远山县", "county", province="江苏")
        await add_area(s, FAR_TOWNSHIP, "远山镇", "township", parent_code=FAR_COUNTY)
        await add_area(s, FAR_VILLAGE, "远山村", "village", parent_code=FAR_TOWNSHIP)
        bots: list[tuple[BotRecord, str]] = []
        if mode == "two bots":
            a = await add_bot(s, COUNTY, "HUCHA_TOKEN_A", "hucha_test_bot", clock())
            b = await add_bot(s, FAR_COUNTY, "HUCHA_TOKEN_B", "hucha_b_bot", clock())
            bots = [(a, emulator.token), (b, TOKEN_B)]
    people: list[EmulatedUser] = []
    async with serving(emulator, url, bots):
        for index in range(cadres * 2):
            near = index % 2 == 0
            door = emulator if near or not bots else other
            user = door.user(50_000 + index, f"干部{index}", language_code="zh-hans")
            code = await h.invitation("cadre", VILLAGE if near else FAR_VILLAGE)
            await user.send_command("start", code)
            await user.next_message(timeout=60)
            people.append(user)
        latencies: list[float] = []
        started = time.perf_counter()
        await asyncio.gather(*(trips(user, count, latencies) for user in people))
        elapsed = time.perf_counter() - started
    await engine.dispose()
    await emulator.stop()
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return len(latencies) / elapsed, statistics.median(latencies) * 1000, p99 * 1000


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cadres", type=int, default=40, help="cadres per county")
    parser.add_argument("--trips", type=int, default=5, help="round trips per cadre")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    print(f"{args.cadres} cadres per county, {args.trips} round trips each (/households)")
    for mode in ("one bot", "two bots"):
        rate, median, p99 = await run(mode, args.cadres, args.trips)
        print(f"{mode:<9} {rate:7.1f} trips/s   p50 {median:6.1f} ms   p99 {p99:6.1f} ms")


if __name__ == "__main__":
    asyncio.run(main())
