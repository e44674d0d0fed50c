"""The database out of reach in the middle of a check (PostgreSQL behind a link that is cut,
then restored): the cadre is told once that the message waits, nothing is acknowledged to
Telegram before it is stored, and when the database is back the answer is applied once and
the next question comes once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from bot.app import build_application
from bot.emulator import BotApiEmulator
from bot.settings import Settings
from storage import CheckSession, make_engine, make_sessionmaker, upgrade
from tests.checkdriver import answer_until, open_check
from tests.harness import Clock, Harness

pytestmark = pytest.mark.postgres

WAITS = "请稍候：您的消息已收到，稍后就会回复。"
OUTAGE_SECONDS = 3.0  # long enough for several failed attempts to store and to retry


class Link:
    """A TCP link to the database that can be cut (every connection dropped, new ones
    refused) and restored, as a network failure or a database restart would."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.up = True
        self.pipes: set[asyncio.Task[None]] = set()
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.close()
            return
        upstream_reader, upstream_writer = await asyncio.open_connection(self.host, self.port)
        pipes = [
            asyncio.create_task(self._pipe(reader, upstream_writer)),
            asyncio.create_task(self._pipe(upstream_reader, writer)),
        ]
        self.pipes.update(pipes)
        await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        for pipe in pipes:
            pipe.cancel()
            self.pipes.discard(pipe)
        for end in (writer, upstream_writer):
            end.close()

    async def _pipe(self, source: asyncio.StreamReader, target: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while data := await source.read(65536):
                target.write(data)
                await target.drain()

    def cut(self) -> None:
        self.up = False
        for pipe in list(self.pipes):
            pipe.cancel()

    def restore(self) -> None:
        self.up = True

    async def stop(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@pytest.fixture
async def cut_link(postgres_url: str) -> AsyncIterator[tuple[Link, str]]:
    await upgrade(postgres_url)
    url = make_url(postgres_url)
    link = Link(url.host or "127.0.0.1", url.port or 5432)
    port = await link.start()
    try:
        yield link, url.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
    finally:
        await link.stop()


async def test_an_answer_sent_while_the_database_is_away_is_kept_and_applied_once(
    emulator: BotApiEmulator, cut_link: tuple[Link, str], clock: Clock, tmp_path: Path
) -> None:
    link, url = cut_link
    settings = Settings(
        token=emulator.token,
        database_url=url,
        api_url=emulator.base_url,
        file_url=emulator.base_file_url,
        rate_limit=False,
        reminder_interval=0,
        photo_dir=tmp_path,
    )
    engine = make_engine(url)
    h = Harness(emulator, settings, make_sessionmaker(engine), clock, build_application)
    await h.start()
    try:
        await h.seed()
        user = emulator.user(3701, "测试干部", language_code="zh-hans")
        await h.register(user)
        await open_check(h, user, "王秀兰")
        await answer_until(h, user, {}, stop_at="floor_area")
        await h.intake.settled()
        link.cut()
        await user.send_text("85")
        assert (await user.next_message(timeout=15)).content == WAITS
        await asyncio.sleep(OUTAGE_SECONDS)
        link.restore()
        question = await user.next_message(timeout=60)
        assert "住房照片" in question.content
        await h.intake.settled()
        with pytest.raises(TimeoutError):
            await user.next_message(timeout=2)  # nothing twice: not the wait, not the question
        async with h.sessionmaker() as s:
            state = (await s.scalars(select(CheckSession))).one().state
        assert state["answers"]["floor_area"] == 85
    finally:
        link.restore()
        await h.stop()
        await engine.dispose()
