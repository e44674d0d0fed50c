"""Nothing typed is lost when writing fails: SQLite writers wait their turn, a failed write
tells the person to try again, a locked database keeps the message until it can be stored,
and an update is acknowledged to Telegram only once it is stored."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import make_url, select, text

from bot.app import build_application
from bot.emulator import BotApiEmulator
from bot.settings import Settings
from storage import CheckSession, make_engine, make_sessionmaker
from storage.models import ReceivedUpdate
from tests.checkdriver import answer_until, open_check
from tests.harness import Clock, Harness

TRY_AGAIN = "抱歉，刚才的操作没有完成，请再试一次。"
KEPT = "请稍候：您的消息已收到，稍后就会回复。"


async def test_concurrent_writers_wait_their_turn_instead_of_failing(database_url: str) -> None:
    # SQLite gives up after its busy timeout; forty writers holding the lock 30 ms each
    # need more than that in all. In turn, none fails.
    engine = make_engine(database_url, busy_timeout=0.3)
    maker = make_sessionmaker(engine)
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE tally (n INTEGER)"))

    async def writer(n: int) -> None:
        async with maker() as s:
            await s.execute(text("SELECT count(*) FROM tally"))
            await s.execute(text("INSERT INTO tally VALUES (:n)"), {"n": n})
            await asyncio.sleep(0.03)
            await s.commit()

    try:
        results = await asyncio.gather(*(writer(n) for n in range(40)), return_exceptions=True)
        assert [r for r in results if r is not None] == []
        async with maker() as s:
            assert await s.scalar(text("SELECT count(*) FROM tally")) == 40
    finally:
        await engine.dispose()


@asynccontextmanager
async def bot_on(
    emulator: BotApiEmulator, database_url: str, clock: Clock, busy_timeout: float
) -> AsyncIterator[Harness]:
    settings = Settings(
        token=emulator.token,
        database_url=database_url,
        api_url=emulator.base_url,
        file_url=emulator.base_file_url,
        rate_limit=False,
        reminder_interval=0,
    )
    engine = make_engine(database_url, busy_timeout=busy_timeout)
    h = Harness(emulator, settings, make_sessionmaker(engine), clock, build_application)
    await h.start()
    try:
        yield h
    finally:
        await h.stop()
        await engine.dispose()


def sqlite_file(url: str) -> str:
    database = make_url(url).database
    assert database is not None
    return database


async def test_a_failed_write_tells_the_cadre_to_try_again_and_the_retry_is_kept(
    emulator: BotApiEmulator, database_url: str, clock: Clock
) -> None:
    async with bot_on(emulator, database_url, clock, busy_timeout=5) as h:
        await h.seed()
        user = emulator.user(3101, "测试干部", language_code="zh-hans")
        await h.register(user)
        await open_check(h, user, "王秀兰")
        await answer_until(h, user, {}, stop_at="floor_area")
        # The disk refuses the next write of a check (as a full disk or a broken file would).
        async with h.sessionmaker.begin() as s:
            await s.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE UPDATE ON check_sessions "
                    "BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
                )
            )
        await user.send_text("85")
        assert (await user.next_message(timeout=15)).content == TRY_AGAIN
        assert await h.cursor(3101) == "floor_area"
        async with h.sessionmaker.begin() as s:
            await s.execute(text("DROP TRIGGER refuse"))
        await user.send_text("85")
        assert "住房照片" in (await user.next_message(timeout=15)).content  # the next question
        assert await h.cursor(3101) != "floor_area"
        async with h.sessionmaker() as s:
            state = (await s.scalars(select(CheckSession))).one().state
        assert state["answers"]["floor_area"] == 85


async def test_a_message_sent_while_the_database_is_locked_is_kept_and_answered(
    emulator: BotApiEmulator, database_url: str, clock: Clock
) -> None:
    async with bot_on(emulator, database_url, clock, busy_timeout=0.5) as h:
        await h.seed()
        user = emulator.user(3102, "测试干部", language_code="zh-hans")
        await h.register(user)
        await open_check(h, user, "王秀兰")
        await answer_until(h, user, {}, stop_at="floor_area")
        # Another program holds the write lock for longer than the bot waits.
        # Taken off the event loop: a bot transaction still in flight must be able to finish.
        await h.intake.settled()
        holder = sqlite3.connect(
            sqlite_file(database_url), timeout=30, isolation_level=None, check_same_thread=False
        )
        await asyncio.to_thread(holder.execute, "BEGIN IMMEDIATE")
        try:
            await user.send_text("85")
            assert (await user.next_message(timeout=15)).content == KEPT
            await asyncio.sleep(1.5)  # several attempts to store it fail meanwhile
            assert await h.cursor(3102) == "floor_area"
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert "住房照片" in (await user.next_message(timeout=30)).content
        await h.intake.settled()
        async with h.sessionmaker() as s:
            state = (await s.scalars(select(CheckSession))).one().state
            pending = await s.scalar(
                select(ReceivedUpdate.update_id).where(ReceivedUpdate.done_at.is_(None))
            )
        assert state["answers"]["floor_area"] == 85
        assert pending is None


async def test_an_update_delivered_twice_is_handled_once(
    emulator: BotApiEmulator, database_url: str, clock: Clock
) -> None:
    async with bot_on(emulator, database_url, clock, busy_timeout=5) as h:
        await h.seed()
        user = emulator.user(3103, "测试干部", language_code="zh-hans")
        await h.register(user)
        await user.send_command("households")
        first = await user.next_message(timeout=15)
        await h.intake.settled()
        async with h.sessionmaker() as s:
            row = (
                await s.scalars(select(ReceivedUpdate).order_by(ReceivedUpdate.update_id.desc()))
            ).first()
        assert row is not None and row.done_at is not None
        from telegram import Update

        again = Update.de_json(dict(row.payload), h.app.bot)
        assert again is not None
        assert await h.intake.receive([again]) == []
        await user.send_command("help")
        reply = await user.next_message(timeout=15)
        assert reply.content != first.content  # no second list of households came first
