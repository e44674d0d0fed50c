"""Reminder delivery when a worker dies or Telegram answers late, through the real bot and the
Bot API emulator on a SQLite file: a worker killed in the middle of a batch leaves behind only
what it had not sent, and that only until its short lease runs out; the rest of the outbox is
not held at all; a worker still sending keeps its claims; a send whose answer timed out is
never sent twice."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot

from bot import reminders
from bot.app import build_bot
from bot.emulator import BotApiEmulator, EmulatedUser
from bot.i18n import Translator
from bot.reminders import deliver
from bot.settings import Settings
from storage import Channel, Identity, User, add_area, make_engine, make_sessionmaker
from storage.models import OutboxEntry
from storage.reminders import DueReminder, record_due

ROOT = Path(__file__).resolve().parent.parent
Maker = async_sessionmaker[AsyncSession]
# 09:00 in Shanghai: no quiet hours.
MORNING = datetime(2025, 3, 24, 1, 0, tzinfo=UTC)
VILLAGE = "320705001001"
FIRST_ID = 7100

# A worker process: delivers the outbox at the given moment through the emulator, then exits.
WORKER = """
import asyncio, sys
from datetime import datetime
from bot.app import build_bot
from bot.i18n import Translator
from bot.reminders import deliver
from bot.settings import Settings
from storage import make_engine, make_sessionmaker

async def main(token, api, url, at, worker):
    engine = make_engine(url)
    bot = build_bot(Settings(token=token, database_url=url, api_url=api, rate_limit=False))
    await bot.initialize()
    try:
        report = await deliver(
            bot, make_sessionmaker(engine), Translator(), datetime.fromisoformat(at), worker
        )
        print(report.sent_messages, flush=True)
    finally:
        await bot.shutdown()
        await engine.dispose()

asyncio.run(main(*sys.argv[1:]))
"""


@pytest.fixture
async def maker(database_url: str) -> AsyncIterator[Maker]:
    engine = make_engine(database_url)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def _outbox(maker: Maker, emulator: BotApiEmulator, people: int) -> list[EmulatedUser]:
    """`people` cadres of one village, each with a monthly report reminder due this morning,
    each having opened the chat with the bot."""
    async with maker.begin() as s:
        await add_area(s, "320705", "示范县", "county", province="江苏")
        await add_area(s, "320705001", "示范镇", "township", "320705")
        await add_area(s, VILLAGE, "幸福村", "village", "320705001")
        cadres = [
            User(
                name=f"干部{n}",
                role="cadre",
                area_code=VILLAGE,
                language="zh_CN",
                created_at=MORNING,
            )
            for n in range(people)
        ]
        s.add_all(cadres)
        await s.flush()
        s.add_all(
            Identity(user_id=cadre.id, channel=Channel.TELEGRAM, address=str(FIRST_ID + n))
            for n, cadre in enumerate(cadres)
        )
        due = [
            DueReminder(
                "report",
                f"user:{cadre.id}",
                f"village:{VILLAGE}",
                "2025-04",
                cadre.id,
                MORNING,
                {"reporting_day": "2025-04-04", "unchecked": 3, "total": 5, "village": "幸福村"},
            )
            for cadre in cadres
        ]
        assert await record_due(s, due, MORNING) == people
    users = [emulator.user(FIRST_ID + n, f"干部{n}") for n in range(people)]
    for user in users:
        await user.send_text("/start")  # Telegram lets the bot write once the person has
    return users


def _received(users: list[EmulatedUser]) -> list[int]:
    """How many reminders each person got."""
    return [sum("月报" in m.content for m in user.bot_messages) for user in users]


async def _statuses(maker: Maker) -> dict[str, int]:
    async with maker() as s:
        rows = await s.execute(
            select(OutboxEntry.status, func.count()).group_by(OutboxEntry.status)
        )
        return {status: int(count) for status, count in rows}


async def _worker(
    emulator: BotApiEmulator, database_url: str, at: datetime, name: str
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        WORKER,
        emulator.token,
        emulator.base_url,
        database_url,
        at.isoformat(),
        name,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
    )


async def _finished(process: asyncio.subprocess.Process) -> int:
    out, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0
    return int(out.decode().split()[-1])


async def _until(condition: Callable[[], Awaitable[bool]], seconds: float = 60) -> None:
    for _ in range(int(seconds / 0.05)):
        if await condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the condition never held")


async def test_a_worker_killed_mid_batch_leaves_only_what_it_had_not_sent(
    emulator: BotApiEmulator, database_url: str, maker: Maker
) -> None:
    people = reminders.BATCH_PEOPLE + 5
    users = await _outbox(maker, emulator, people)
    # Five messages of the first batch go through; the rest of the batch waits on Telegram
    # when the worker is killed (kill -9): those were never sent.
    stall = emulator.stall("sendMessage", times=reminders.BATCH_PEOPLE - 5, after=5)
    process = await _worker(emulator, database_url, MORNING, "dies")

    async def five_marked_sent() -> bool:
        return stall.reached.is_set() and (await _statuses(maker)).get("sent") == 5

    try:
        try:
            await _until(five_marked_sent)
        finally:
            process.kill()
            await process.wait()
        assert sorted(_received(users)) == [0] * (people - 5) + [1] * 5
        # Half a minute later another worker sends at once what the dead one had not
        # claimed; its batch stays with it while its one-minute lease lasts.
        soon = MORNING + timedelta(seconds=30)
        sent = await _finished(await _worker(emulator, database_url, soon, "soon"))
        assert sent == people - reminders.BATCH_PEOPLE
        # Once the lease has run out, the rest: nobody gets a reminder twice, nobody none.
        later = MORNING + reminders.LEASE + timedelta(seconds=31)
        sent = await _finished(await _worker(emulator, database_url, later, "later"))
        assert sent == reminders.BATCH_PEOPLE - 5
        assert _received(users) == [1] * people
        assert await _statuses(maker) == {"sent": people}
    finally:
        stall.release.set()  # the dead worker's calls: their connections are gone


async def test_a_worker_still_sending_keeps_its_batch_and_a_dead_ones_is_taken_over(
    emulator: BotApiEmulator, database_url: str, maker: Maker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reminders, "LEASE", timedelta(seconds=1))
    monkeypatch.setattr(reminders, "RENEW_EVERY", 0.1)
    users = await _outbox(maker, emulator, 4)
    bot = build_bot(Settings(token=emulator.token, api_url=emulator.base_url, rate_limit=False))
    await bot.initialize()
    stall = emulator.stall("sendMessage", times=3, after=1)
    try:
        slow = asyncio.create_task(deliver(bot, maker, Translator(), MORNING, "slow"))
        await asyncio.wait_for(stall.reached.wait(), 30)
        await asyncio.sleep(2.5)  # more than two leases: kept only by renewing them
        other = await deliver(bot, maker, Translator(), MORNING + timedelta(seconds=2), "other")
        assert other.sent_messages == 0
        # The slow worker dies with three messages unsent; once its lease runs out they
        # go out, and only they.
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        later = MORNING + timedelta(seconds=30)
        other = await deliver(bot, maker, Translator(), later, "other")
        assert other.sent_messages == 3
        assert _received(users) == [1, 1, 1, 1]
        assert await _statuses(maker) == {"sent": 4}
    finally:
        stall.release.set()
        await bot.shutdown()


async def test_a_reminder_whose_answer_timed_out_is_not_sent_twice(
    emulator: BotApiEmulator, database_url: str, maker: Maker
) -> None:
    (user,) = await _outbox(maker, emulator, 1)
    bot: Bot = build_bot(
        Settings(token=emulator.token, api_url=emulator.base_url, rate_limit=False)
    )
    await bot.initialize()
    try:
        # Telegram delivers the message, but its answer comes after the bot stopped waiting.
        release = emulator.hold("sendMessage")
        report = await deliver(bot, maker, Translator(), MORNING, "w")
        release.set()
        assert (report.sent_messages, report.unknown) == (0, 1)
        assert _received([user]) == [1]
        for minutes in (1, 5, 60):  # later sweeps do not send it again
            later = MORNING + timedelta(minutes=minutes)
            await deliver(bot, maker, Translator(), later, "w")
    finally:
        await bot.shutdown()
    assert _received([user]) == [1]
    async with maker() as s:
        row = (await s.scalars(select(OutboxEntry))).one()
    assert row.status == "unknown" and row.last_error and "TimedOut" in row.last_error
