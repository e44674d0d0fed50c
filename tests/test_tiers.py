"""Rectification tiers (整改时限) as the seeds name them, through the real bot and emulator:
立行立改 is due at the end of the reporting period (the next one when found late in it), never
a few days after the finding because a month or year ends; 长期坚持 is never overdue and comes
up for review every period."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from bot.emulator import EmulatedUser
from bot.reminders import run_sweep
from storage import make_engine, make_sessionmaker, upgrade
from storage.models import Area, Problem
from tests.harness import Harness
from tests.ledger_harness import SHANGHAI, bot_harness, local, populate
from tests.storage_fixtures import postgres_url
from tests.test_ledger_chat import until
from tests.test_reminders import days_with, drain

__all__ = ["bot_harness", "postgres_url"]


async def add(h: Harness, leader: EmulatedUser, name: str, text: str, tier: str) -> Problem:
    await leader.send_command("addproblem", name)
    await until(leader, lambda m: "Adding a problem" in m.content)
    await leader.send_text(f"住房安全\n{text}\n住房安全有保障\n-\n县住建局\n{tier}")
    await until(leader, lambda m: text in m.content and "Saved." in m.content)
    async with h.sessionmaker() as s:
        found = await s.scalar(select(Problem).where(Problem.text == text))
    assert found is not None
    return found


async def test_found_on_20_december_an_immediate_fix_is_not_due_on_the_31st(
    bot_harness: Harness,
) -> None:
    h = bot_harness
    v = await populate(h)
    h.clock.now = local(20, 12, 10).astimezone(UTC)
    # Reporting day the 4th: the period runs to 3 January, 14 days ahead.
    problem = await add(h, v.leader, "王秀兰", "P-DEC 屋顶漏雨", "立行立改")
    assert (problem.deadline, problem.deadline_tier) == (date(2027, 1, 3), "immediate")
    # With the reporting day on the 25th the period ends on 24 December, 4 days ahead:
    # found that late, it is due at the end of the next period.
    async with h.sessionmaker.begin() as s:
        township = await s.get(Area, "320705001")
        assert township is not None
        township.settings = {**(township.settings or {}), "reporting_day": 25}
    late = await add(h, v.leader, "李志强", "P-LATE 墙体开裂", "立行立改")
    assert late.deadline == date(2027, 1, 24)
    planned = await add(h, v.leader, "张建国", "P-PLAN 危房改造", "限时整改")
    assert (planned.deadline, planned.deadline_tier) == (date(2027, 2, 18), "timed")


async def test_an_ongoing_problem_is_never_overdue_and_comes_up_every_period(
    bot_harness: Harness,
) -> None:
    h = bot_harness
    v = await populate(h)
    ongoing = await add(h, v.leader, "王秀兰", "P-ONGOING 收入不稳定", "长期坚持")
    fixed = await add(h, v.leader, "张建国", "P-NOW 屋顶漏雨", "立行立改")
    assert ongoing.deadline == fixed.deadline == date(2026, 12, 3)
    inbox: dict[str, list[tuple[datetime, str]]] = {"leader": [], "office": [], "cadre": []}
    users = {"leader": v.leader, "office": v.office, "cadre": v.cadre}
    for user in users.values():
        user._chat.inbox = asyncio.Queue()
    day = local(23, 11, 10)
    while day < datetime(2027, 2, 5, 10, tzinfo=SHANGHAI):
        h.clock.now = day.astimezone(UTC)
        await run_sweep(h.app, h.clock.now)
        for key, user in users.items():
            drain(user, day, inbox[key])
        day += timedelta(days=1)
    leader = inbox["leader"]
    # The one due on 3 December is overdue from the 4th and escalated a week later...
    assert date(2026, 12, 4) in days_with(leader, "problems in your area are overdue")
    assert days_with(inbox["office"], "P-NOW") == [date(2026, 12, 10)]
    # ...the ongoing one is in no digest, never escalated...
    digests = [content for _, content in leader if "are overdue" in content]
    lines = [line for content in digests for line in content.splitlines()]
    assert lines and not [line for line in lines if "王秀兰" in line and "overdue" in line]
    assert all("⚠️ 1 problems" in content for content in digests)
    assert days_with(inbox["office"], "P-ONGOING") == []
    # ...and comes up for review before the end of every period (3 days before and on the eve
    # of the reporting day), to the leader who stands in for its responsible cadre.
    reviews = days_with(leader, "up for this period's review")
    assert reviews == [
        date(2026, 11, 30),
        date(2026, 12, 3),
        date(2026, 12, 31),
        date(2027, 1, 3),
        date(2027, 1, 31),
        date(2027, 2, 3),
    ]
    # The ledger's overdue list and its card agree: never overdue.
    h.clock.now = local(20, 1, 10).astimezone(UTC)
    await v.leader.send_command("problems")
    listing = await until(v.leader, lambda m: "Problems (open)" in m.content)
    assert "王秀兰 (幸福村) · Safe housing · Ongoing, reviewed every period" in listing.content
    overdue = next(data for label, data in listing.buttons if label == "Overdue")
    await v.leader.press(listing.message_id, overdue)
    edited = await v.leader.next_edit()
    assert "Problems (overdue): 1" in edited.content and "张建国" in edited.content
    assert "王秀兰" not in edited.content


async def test_the_migration_names_the_former_staged_tier_timed(tmp_path: Path) -> None:
    await migrates_former_tiers(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")


async def test_the_migration_names_the_former_staged_tier_timed_on_postgresql(
    postgres_url: str,
) -> None:
    await migrates_former_tiers(postgres_url)


async def migrates_former_tiers(database_url: str) -> None:
    await upgrade(database_url, "0009_problem_village")
    at = "2026-11-20 02:00:00"
    settings = (
        '{"deadline_tiers": {"住房安全": "staged", "不愁吃": "immediate"}, "reporting_day": 4}'
    )
    statements = [
        "INSERT INTO areas (code, name, level, timezone, settings)"
        f" VALUES ('v', '幸福村', 'village', 'Asia/Shanghai', '{settings}')",
        "INSERT INTO areas (code, name, level, timezone, settings)"
        " VALUES ('w', '东山村', 'village', 'Asia/Shanghai', '{}')",
        "INSERT INTO households (id, village_code, number, head_name, created_at, updated_at)"
        f" VALUES (1, 'v', '001', '张', '{at}', '{at}')",
    ]
    for n, tier in ((1, "'staged'"), (2, "'ongoing'"), (3, "NULL")):
        statements.append(
            "INSERT INTO problems (id, household_id, village_code, category, text, text_i18n,"
            " goal, goal_i18n, measures, responsible_unit, deadline, deadline_tier, status,"
            f" created_at, updated_at) VALUES ({n}, 1, 'v', '住房安全', '危房', '{{}}', '安全',"
            " '{}', '',"
            f" '住建局', '2027-01-03', {tier}, 'open', '{at}', '{at}')"
        )
    engine = create_async_engine(database_url, poolclass=NullPool)
    async with engine.begin() as c:
        for statement in statements:
            await c.execute(text(statement))
    await engine.dispose()
    await upgrade(database_url)
    engine = make_engine(database_url)
    async with make_sessionmaker(engine)() as s:
        tiers = (
            await s.execute(select(Problem.id, Problem.deadline_tier).order_by(Problem.id))
        ).all()
        village = await s.get(Area, "v")
        other = await s.get(Area, "w")
    await engine.dispose()
    assert [tuple(row) for row in tiers] == [(1, "timed"), (2, "ongoing"), (3, None)]
    assert village is not None and village.settings == {
        "deadline_tiers": {"住房安全": "timed", "不愁吃": "immediate"},
        "reporting_day": 4,
    }
    assert other is not None and other.settings == {}


def test_the_rectification_list_names_each_tier_in_the_readers_language() -> None:
    from storage.exports import deadline_text

    day = date(2027, 1, 3)
    assert deadline_text(day, "immediate", "zh_CN") == "2027年1月3日（立行立改）"
    assert deadline_text(day, "timed", "zh_CN") == "2027年1月3日（限时整改）"
    assert deadline_text(day, "ongoing", "zh_CN") == "长期坚持"  # no date to be done by
    assert deadline_text(day, "ongoing", "en") == "Ongoing, reviewed every period"
    assert deadline_text(day, "timed", "en") == "January 3, 2027 (Fix by a set date)"
