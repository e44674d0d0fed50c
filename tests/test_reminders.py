"""Reminders end to end: the real Application against the emulator, a clock the test controls,
and the sweep run as the job runs it. Each reminder arrives once, never in quiet hours, after
downtime too, with two sweeps at once, and to the leader when a cadre blocked the bot."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select

from bot.app import build_application
from bot.emulator import EmulatedUser
from bot.reminders import run_sweep
from storage import User
from storage.models import OutboxEntry, Problem
from storage.problems import act
from tests.harness import Harness
from tests.ledger_harness import SHANGHAI, STEP, bot_harness, hand_problem, local, populate

__all__ = ["bot_harness"]


def drain(user: EmulatedUser, at: datetime, into: list[tuple[datetime, str]]) -> None:
    queue = user._chat.inbox  # the messages that arrived since the last look
    while not queue.empty():
        into.append((at.astimezone(SHANGHAI), queue.get_nowait().content))


def count(messages: list[tuple[datetime, str]], text: str) -> int:
    return sum(text in content for _, content in messages)


def days_with(messages: list[tuple[datetime, str]], text: str) -> list[date]:
    return [at.date() for at, content in messages if text in content]


async def test_a_simulated_month_sends_every_reminder_once_and_none_in_quiet_hours(
    bot_harness: Harness,
) -> None:
    h = bot_harness
    v = await populate(h)
    soon = await hand_problem(h, v, "zhang", "P-SOON 屋顶漏雨", date(2026, 11, 28))
    fixed = await hand_problem(h, v, "wang", "P-FIXED 墙体开裂", date(2026, 12, 10))
    late = await hand_problem(h, v, "li", "P-LATE 危房未改造", date(2026, 11, 24))
    inbox: dict[str, list[tuple[datetime, str]]] = {key: [] for key in v.ids}
    users = {"cadre": v.cadre, "other": v.other_cadre, "leader": v.leader, "office": v.office}
    for user in users.values():
        user._chat.inbox = asyncio.Queue()  # forget the welcome messages
    down = (local(5, 12, 12), local(7, 12, 12))
    end = local(23, 12, 10)
    while h.clock() < end.astimezone(UTC):
        now = h.clock()
        if not down[0] <= now < down[1]:
            await run_sweep(h.app, now)
            for key, user in users.items():
                drain(user, now, inbox[key])
        if now.astimezone(SHANGHAI) == local(8, 12, 15, 30):
            async with h.sessionmaker.begin() as s:
                await act(s, fixed, v.ids["cadre"], "progress", now, note="施工中")
                await act(s, fixed, v.ids["cadre"], "rectify", now, note="已修好")
                await act(s, fixed, v.ids["leader"], "verify", now)
        h.clock.advance(STEP)

    for key, messages in inbox.items():
        for at, content in messages:
            assert 8 <= at.hour < 21, (key, at, content)  # quiet hours hold until morning
    cadre, leader, office = inbox["cadre"], inbox["leader"], inbox["office"]
    # Rectification deadlines: 3 days before and on the day; the one down time hid is sent
    # when the bot is back; the verified one is not reminded on its day.
    assert days_with(cadre, "P-SOON") == [date(2026, 11, 25), date(2026, 11, 28)]
    assert days_with(cadre, "P-LATE") == [date(2026, 11, 23), date(2026, 11, 24)]
    assert days_with(cadre, "P-FIXED") == [date(2026, 12, 7)]
    assert [at.hour for at, c in cadre if "P-FIXED" in c] == [12]
    # The monthly report on 4 December: 3 days and 1 day before, to every village's cadres.
    assert days_with(cadre, "Monthly report due") == [date(2026, 12, 1), date(2026, 12, 3)]
    assert days_with(inbox["other"], "Monthly report due") == [
        date(2026, 12, 1),
        date(2026, 12, 3),
    ]
    assert days_with(leader, "Monthly report due") == [date(2026, 12, 1), date(2026, 12, 3)]
    # The reporting day passed with households unchecked: the leader hears it once.
    assert days_with(leader, "The reporting day") == [date(2026, 12, 4)]
    # Contact: from the 20th, once a reporting period.
    assert days_with(cadre, "not been contacted this period") == [
        date(2026, 11, 23),
        date(2026, 12, 20),
    ]
    # The leaders' overdue digest, once a day at 08:30 while anything is overdue; not for
    # the days the bot was down (5 December it went at 08:30, before the outage).
    digest_days = days_with(leader, "problems in your area are overdue")
    expected = [date(2026, 11, 25) + timedelta(days=n) for n in range(29)]
    expected.remove(date(2026, 12, 6))
    assert digest_days == expected
    assert {(at.hour, at.minute) for at, c in leader if "are overdue" in c} == {(8, 30), (12, 30)}
    # Escalation to the office after seven days overdue, once.
    assert days_with(office, "P-LATE") == [date(2026, 12, 1)]
    assert count(office, "P-SOON") == 1  # overdue since 28 Nov, escalated 5 Dec
    async with h.sessionmaker() as s:
        rows = await s.execute(
            select(OutboxEntry.status, func.count()).group_by(OutboxEntry.status)
        )
        statuses = {status: n for status, n in rows}
        problem = await s.get(Problem, soon)
    assert set(statuses) <= {"sent", "cancelled"}
    assert problem is not None and late


async def test_two_sweeps_at_once_send_each_reminder_once(bot_harness: Harness) -> None:
    h = bot_harness
    v = await populate(h)
    for n in range(5):
        await hand_problem(h, v, "zhang", f"P-{n} 问题", date(2026, 11, 25))
    v.cadre._chat.inbox = asyncio.Queue()
    second = build_application(h.settings, h.sessionmaker, h.clock)
    await second.initialize()
    try:
        at = local(24, 11, 9).astimezone(UTC)
        await asyncio.gather(run_sweep(h.app, at), run_sweep(second, at), run_sweep(h.app, at))
        await run_sweep(second, at + timedelta(minutes=1))
    finally:
        await second.shutdown()
    messages: list[tuple[datetime, str]] = []
    drain(v.cadre, at, messages)
    for n in range(5):
        assert count(messages, f"P-{n} ") == 1
    async with h.sessionmaker() as s:
        rows = await s.scalar(
            select(func.count()).select_from(OutboxEntry).where(OutboxEntry.kind == "deadline")
        )
    assert rows == 5


async def test_a_restart_does_not_send_again(bot_harness: Harness) -> None:
    h = bot_harness
    v = await populate(h)
    await hand_problem(h, v, "zhang", "P-ONCE 问题", date(2026, 11, 25))
    v.cadre._chat.inbox = asyncio.Queue()
    at = local(24, 11, 9).astimezone(UTC)
    await run_sweep(h.app, at)
    await h.restart()
    await run_sweep(h.app, at + timedelta(minutes=1))
    await run_sweep(h.app, at + timedelta(hours=3))
    messages: list[tuple[datetime, str]] = []
    drain(v.cadre, at, messages)
    assert count(messages, "P-ONCE") == 1


async def test_a_blocked_cadre_is_made_inactive_and_the_leader_gets_the_reminder(
    bot_harness: Harness,
) -> None:
    h = bot_harness
    v = await populate(h)
    await hand_problem(h, v, "zhang", "P-BLOCKED 问题", date(2026, 11, 25))
    # Blocked before the bot heard of it (the my_chat_member update is still on its way), so
    # the send is what finds out; blocking with the update is tested in the hostile-access tests.
    v.cadre._chat.blocked = True
    at = local(24, 11, 9).astimezone(UTC)
    await run_sweep(h.app, at)
    reply = await v.leader.next_message()
    while "P-BLOCKED" not in reply.content:
        reply = await v.leader.next_message()
    assert "王芳" in reply.content and "cannot be reached" in reply.content
    async with h.sessionmaker() as s:
        cadre = await s.get(User, v.ids["cadre"])
        statuses = sorted(
            await s.scalars(select(OutboxEntry.status).where(OutboxEntry.kind == "deadline"))
        )
    assert cadre is not None and not cadre.active
    assert statuses == ["rerouted", "sent"]
    # The next day's reminders go straight to the leader, once.
    await run_sweep(h.app, at + timedelta(days=1))
    await run_sweep(h.app, at + timedelta(days=1, minutes=1))


async def test_a_burst_to_one_person_is_merged_into_one_message(bot_harness: Harness) -> None:
    h = bot_harness
    v = await populate(h)
    for n in range(30):
        await hand_problem(h, v, "zhang", f"P-BURST-{n:02d}", date(2026, 11, 26))
    v.cadre._chat.inbox = asyncio.Queue()
    await run_sweep(h.app, local(24, 11, 9).astimezone(UTC))
    messages: list[tuple[datetime, str]] = []
    drain(v.cadre, h.clock(), messages)
    assert len(messages) == 1
    assert "31 reminders" in messages[0][1]  # thirty deadlines and the monthly contact
    assert "and 11 more" in messages[0][1]
