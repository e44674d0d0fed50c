"""End-to-end fixtures: the real Application against the emulator, a real SQLite file."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app import build_application
from bot.emulator import BotApiEmulator
from bot.emulator.spec import default_api_json
from bot.settings import Settings
from storage import make_engine, make_sessionmaker, upgrade
from tests.harness import Clock, Harness
from tests.storage_fixtures import postgres_url

__all__ = ["postgres_url"]


def needs_shared(path: Path) -> Path:
    """A file of the shared folder beside the repository (../shared). A clone without it skips
    the test, saying why; `.ci/run` (HUCHA_REQUIRE_SHARED=1) fails it instead."""
    if not path.is_file():
        reason = f"needs {path.name} from the shared folder beside the repository ({path})"
        if os.environ.get("HUCHA_REQUIRE_SHARED") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@pytest.fixture
def api_json() -> Path:
    """The Bot API description (../shared/telegram-bot-api/api.json)."""
    return needs_shared(default_api_json())


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))


@pytest.fixture
async def database_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'hucha.db'}"
    await upgrade(url)
    return url


@pytest.fixture
async def emulator() -> AsyncIterator[BotApiEmulator]:
    emu = BotApiEmulator()
    await emu.start()
    try:
        yield emu
    finally:
        await emu.stop()


@asynccontextmanager
async def running_bot(
    emulator: BotApiEmulator, database_url: str, clock: Clock
) -> AsyncIterator[Harness]:
    """The bot Application polling the emulator, on the given database."""
    settings = Settings(
        token=emulator.token,
        database_url=database_url,
        api_url=emulator.base_url,
        file_url=emulator.base_file_url,
        rate_limit=False,
        reminder_interval=0,  # tests drive reminder sweeps themselves
        photo_dir=Path(tempfile.mkdtemp(prefix="hucha-photos-")),
    )
    engine = make_engine(database_url)
    h = Harness(emulator, settings, make_sessionmaker(engine), clock, build_application)
    await h.start()
    try:
        yield h
    finally:
        await h.stop()
        await engine.dispose()


@pytest.fixture
async def harness(
    emulator: BotApiEmulator, database_url: str, clock: Clock
) -> AsyncIterator[Harness]:
    async with running_bot(emulator, database_url, clock) as h:
        yield h


@pytest.fixture
async def postgres_harness(
    emulator: BotApiEmulator, postgres_url: str, clock: Clock
) -> AsyncIterator[Harness]:
    """The same bot on a fresh PostgreSQL database (skipped where no server answers)."""
    await upgrade(postgres_url)
    async with running_bot(emulator, postgres_url, clock) as h:
        yield h
