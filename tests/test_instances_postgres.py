"""Two instances on one PostgreSQL database: an update delivered to both is handled once, one
chat's updates are applied in order whichever instance takes them, and one instance sweeps
reminders at a time, another taking over when it dies."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from telegram import Bot, Update

from bot.app import build_application
from bot.emulator import BotApiEmulator
from bot.intake import Intake
from bot.serve import started, stopped
from bot.settings import Settings
from storage import make_engine, make_sessionmaker, upgrade
from storage.db import _lock_key, exclusive
from tests.harness import Clock, Harness

pytestmark = pytest.mark.postgres


@pytest.fixture
async def two_instances(
    emulator: BotApiEmulator, postgres_url: str, clock: Clock
) -> AsyncIterator[tuple[Harness, Intake, Intake]]:
    await upgrade(postgres_url)
    settings = Settings(
        token=emulator.token,
        database_url=postgres_url,
        api_url=emulator.base_url,
        file_url=emulator.base_file_url,
        rate_limit=False,
        reminder_interval=0,
    )
    engines = [make_engine(postgres_url) for _ in range(2)]
    apps = [build_application(settings, make_sessionmaker(e), clock) for e in engines]
    for app in apps:
        await started(app)
    intakes = [Intake(app, instance=name) for app, name in zip(apps, "ab", strict=True)]
    seeder = Harness(emulator, settings, make_sessionmaker(engines[0]), clock, build_application)
    try:
        yield seeder, intakes[0], intakes[1]
    finally:
        for intake, app in zip(intakes, apps, strict=True):
            await intake.stop()
            await stopped(app)
        for engine in engines:
            await engine.dispose()


async def fetched(emulator: BotApiEmulator, count: int) -> list[Update]:
    """Updates as Telegram would deliver them, taken off the emulator by hand."""
    async with Bot(emulator.token, base_url=emulator.base_url) as bot:
        updates: list[Update] = []
        while len(updates) < count:
            updates += await bot.get_updates(
                offset=updates[-1].update_id + 1 if updates else None, timeout=1
            )
    return updates


async def test_one_chat_in_order_across_instances_and_a_second_delivery_is_ignored(
    two_instances: tuple[Harness, Intake, Intake], emulator: BotApiEmulator
) -> None:
    seeder, a, b = two_instances
    await seeder.seed()
    code = await seeder.invitation("cadre")
    user = emulator.user(3401, "测试干部", language_code="zh-hans")
    await user.send_command("start", code)
    await user.send_command("help")
    start, help_ = await fetched(emulator, 2)
    # Instance a has stored the first update but is slow to handle it; b takes the second
    # and waits for the first.
    held = await a.receive([start])
    b.dispatch(await b.receive([help_]))
    await asyncio.sleep(0.5)
    assert user.bot_messages == []
    a.dispatch(held)
    assert "✅" in (await user.next_message(timeout=30)).content
    assert "/check" in (await user.next_message(timeout=30)).content
    # Both instances are handed the first update again: neither handles it.
    assert await a.receive([start]) == [] and await b.receive([start]) == []
    await a.settled()
    await b.settled()
    with pytest.raises(TimeoutError):
        await user.next_message(timeout=1)


async def test_one_instance_sweeps_at_a_time_and_another_takes_over_when_it_dies(
    postgres_url: str,
) -> None:
    await upgrade(postgres_url)
    first, second = make_engine(postgres_url), make_engine(postgres_url)
    try:
        async with exclusive(make_sessionmaker(first), "reminder_sweep") as mine:
            assert mine
            async with exclusive(make_sessionmaker(second), "reminder_sweep") as theirs:
                assert not theirs
        async with exclusive(make_sessionmaker(second), "reminder_sweep") as theirs:
            assert theirs
        # An instance dies mid-sweep: its connection drops, and the lock with it.
        connection = await first.connect()
        key = {"key": _lock_key("reminder_sweep")}
        assert await connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), key)
        async with exclusive(make_sessionmaker(second), "reminder_sweep") as theirs:
            assert not theirs
        await connection.invalidate()
        async with exclusive(make_sessionmaker(second), "reminder_sweep") as theirs:
            assert theirs
    finally:
        await first.dispose()
        await second.dispose()
