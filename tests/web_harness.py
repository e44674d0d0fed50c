"""The bot and its web dashboard in one process, as `hucha run --web-listen` serves them: the
real Application against the emulator, a SQLite file, the dashboard on a free local port, a
village with a cadre, another village's cadre, a township leader and a county office."""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

import pytest
from aiohttp import web

from bot.app import build_application
from bot.dashboard import start_dashboard
from bot.emulator import BotApiEmulator, EmulatedUser
from bot.settings import Settings
from storage import make_engine, make_sessionmaker, upgrade
from tests.harness import Clock, Harness
from tests.ledger_harness import START, Village, populate

LINK = re.compile(r"(http://\S+/login/\S+)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class WebWorld:
    h: Harness
    v: Village
    base: str
    runner: web.AppRunner


async def web_link(user: EmulatedUser) -> str:
    """Ask the bot for a sign-in link with /web, as a person would."""
    await user.send_command("web")
    while True:
        message = await user.next_message()
        found = LINK.search(message.content)
        if found:
            return found.group(1)


@pytest.fixture
async def web_world(tmp_path: Path) -> AsyncIterator[WebWorld]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'hucha.db'}"
    await upgrade(url)
    emulator = BotApiEmulator()
    await emulator.start()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = Settings(
        token=emulator.token,
        database_url=url,
        api_url=emulator.base_url,
        file_url=emulator.base_file_url,
        rate_limit=False,
        reminder_interval=0,
        web_listen=f"127.0.0.1:{port}",
        web_url=base,
        photo_dir=tmp_path / "photos",
    )
    engine = make_engine(url)
    h = Harness(
        emulator,
        settings,
        make_sessionmaker(engine),
        Clock(START.astimezone(UTC)),
        build_application,
    )
    await h.start()
    runner = await start_dashboard(h.app, f"127.0.0.1:{port}")
    try:
        v = await populate(h)
        yield WebWorld(h, v, base, runner)
    finally:
        await runner.cleanup()
        await h.stop()
        await engine.dispose()
        await emulator.stop()
