"""Delivery without Telegram: RetryAfter and network errors keep the outbox row and retry
later; a reminder that no longer applies is not sent; quiet hours hold; the dry run tells."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot, InlineKeyboardMarkup
from telegram.error import NetworkError, RetryAfter, TimedOut

from bot.cli import main as cli
from bot.i18n import Translator
from bot.reminders import dry_run, sweep
from storage.models import OutboxEntry
from storage.problems import act, add_problem
from tests.storage_fixtures import NOW, World, make_world

pytest_plugins = ("tests.storage_fixtures",)

Maker = async_sessionmaker[AsyncSession]
# 09:00 in Shanghai on 24 March 2025: the problem below is due in two days.
MORNING = datetime(2025, 3, 24, 1, 0, tzinfo=UTC)


class FlakySender:
    """Plays Telegram: raises the given errors first, then accepts."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.sent: list[tuple[int, str]] = []

    async def __call__(
        self, bot: Bot, chat_id: int, text: str, markup: InlineKeyboardMarkup | None
    ) -> Any:
        if self.errors:
            raise self.errors.pop(0)
        self.sent.append((chat_id, text))
        return None


async def _world_with_problem(maker: Maker) -> tuple[World, int]:
    async with maker.begin() as s:
        world = await make_world(s)
        problem = await add_problem(
            s,
            world.leader.id,
            world.seed.household_ids[0],
            category="饮水安全",
            text="P-WATER 自来水经常停水",
            goal="稳定供水",
            measures="",
            responsible_unit="县水利局",
            deadline=date(2025, 3, 26),
            deadline_tier=None,
            now=NOW,
            assignee_user_id=world.cadre.id,
        )
    return world, problem.id


async def _deadline_rows(maker: Maker) -> list[OutboxEntry]:
    async with maker() as s:
        return list(await s.scalars(select(OutboxEntry).where(OutboxEntry.kind == "deadline")))


def _to(sender: FlakySender, text: str) -> int:
    return sum(text in message for _, message in sender.sent)


@pytest.mark.parametrize(
    "error",
    [RetryAfter(30), TimedOut(), NetworkError("connection reset")],
    ids=["retry-after", "timed-out", "network"],
)
async def test_a_failed_send_keeps_the_row_and_is_retried_later(
    sqlite_maker: Maker, error: Exception
) -> None:
    await _world_with_problem(sqlite_maker)
    sender = FlakySender(error)
    t = Translator()
    first = await sweep(Bot("1:x"), sqlite_maker, t, MORNING, "w1", sender=sender)
    assert first.delivery.retried >= 1 and _to(sender, "P-WATER") == 0
    (row,) = await _deadline_rows(sqlite_maker)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.not_before > MORNING and row.last_error
    # Not before its time; then once.
    await sweep(Bot("1:x"), sqlite_maker, t, MORNING + timedelta(seconds=5), "w1", sender=sender)
    assert _to(sender, "P-WATER") == 0
    later = MORNING + timedelta(minutes=2)
    await sweep(Bot("1:x"), sqlite_maker, t, later, "w1", sender=sender)
    await sweep(Bot("1:x"), sqlite_maker, t, later + timedelta(minutes=1), "w2", sender=sender)
    assert _to(sender, "P-WATER") == 1
    (row,) = await _deadline_rows(sqlite_maker)
    assert row.status == "sent"


async def test_a_reminder_held_for_the_night_is_not_sent_once_the_problem_is_done(
    sqlite_maker: Maker,
) -> None:
    world, problem_id = await _world_with_problem(sqlite_maker)
    sender = FlakySender()
    t = Translator()
    night = datetime(2025, 3, 23, 14, 0, tzinfo=UTC)  # 22:00 in Shanghai, 3 days before
    report = await sweep(Bot("1:x"), sqlite_maker, t, night, "w1", sender=sender)
    assert report.recorded >= 1 and not sender.sent
    (row,) = await _deadline_rows(sqlite_maker)
    assert row.not_before == datetime(2025, 3, 24, 0, 0, tzinfo=UTC)  # 08:00 next morning
    async with sqlite_maker.begin() as s:
        await act(s, problem_id, world.cadre.id, "progress", night, note="已修")
        await act(s, problem_id, world.cadre.id, "rectify", night, note="已修好")
    await sweep(Bot("1:x"), sqlite_maker, t, MORNING, "w1", sender=sender)
    assert _to(sender, "P-WATER") == 0
    (row,) = await _deadline_rows(sqlite_maker)
    assert row.status == "cancelled"


async def test_the_dry_run_tells_what_would_be_sent_to_whom_and_why(
    sqlite_maker: Maker,
) -> None:
    await _world_with_problem(sqlite_maker)
    lines = await dry_run(sqlite_maker, Translator(), MORNING)
    text = "\n".join(lines)
    assert "李卫东 (cadre" in text and "P-WATER" in text
    assert "deadline 2025-03-26, 3 days before" in text
    assert not await _deadline_rows(sqlite_maker)  # nothing written


async def test_hucha_remind_dry_run_prints_the_reminders(
    sqlite_url: str, sqlite_maker: Maker, capsys: pytest.CaptureFixture[str]
) -> None:
    await _world_with_problem(sqlite_maker)
    code = await _run_cli(
        ["--database-url", sqlite_url, "remind", "--at", "2025-03-24 08:30", "--dry-run"]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "reminders due by 2025-03-24 08:30" in out and "P-WATER" in out
    assert "contact" in out  # the monthly contact reminder of the demo village, too


async def _run_cli(argv: list[str]) -> int:
    import asyncio

    return await asyncio.to_thread(cli, argv)
