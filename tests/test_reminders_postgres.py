"""Reminders on PostgreSQL, where several bot instances share one database: concurrent sweeps
send each reminder once (the outbox's unique key and SKIP LOCKED claims), escalations and
digests are derived there too. Skipped unless HUCHA_TEST_POSTGRES_URL names a server."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot

from bot.i18n import Translator
from bot.reminders import sweep
from storage.models import OutboxEntry
from storage.problems import add_problem
from tests.storage_fixtures import NOW, make_world
from tests.test_reminders_delivery import FlakySender

pytest_plugins = ("tests.storage_fixtures",)
pytestmark = pytest.mark.postgres

Maker = async_sessionmaker[AsyncSession]


async def test_concurrent_sweeps_on_postgres_send_each_reminder_once(
    postgres_maker: Maker,
) -> None:
    async with postgres_maker.begin() as s:
        world = await make_world(s)
        for n, deadline in enumerate([date(2025, 3, 26)] * 6 + [date(2025, 3, 12)] * 4):
            await add_problem(
                s,
                world.leader.id,
                world.seed.household_ids[n % 3],
                category="住房安全",
                text=f"P-{n:02d}",
                goal="住房安全有保障",
                measures="",
                responsible_unit="县住建局",
                deadline=deadline,
                deadline_tier=None,
                now=NOW,
                assignee_user_id=world.cadre.id,
            )
    at = datetime(2025, 3, 24, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
    sender = FlakySender()
    t = Translator()
    await asyncio.gather(
        *(sweep(Bot("1:x"), postgres_maker, t, at, f"w{n}", sender=sender) for n in range(4))
    )
    sent = "\n".join(text for _, text in sender.sent)
    for n in range(6):
        assert sent.count(f"P-{n:02d}") == 1
    async with postgres_maker() as s:
        rows = await s.execute(select(OutboxEntry.kind, func.count()).group_by(OutboxEntry.kind))
        kinds = {kind: count for kind, count in rows}
    assert kinds["deadline"] == 6
    assert kinds["overdue"] == 1  # the leader's digest: four problems overdue since 12 March
    assert sent.count("4 problems in your area are overdue") == 1
