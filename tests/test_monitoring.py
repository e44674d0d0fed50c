"""Monitoring cases (防返贫监测): a check that flags a household opens a case once, its steps go
in order with their own deadlines inside 15 days, the notice runs five days, each step is
reminded; and in the chat a cadre records a step from /cases."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot

from bot.i18n import Translator
from bot.reminders import sweep
from storage import start_session, submit_check
from storage.models import MonitoringCase
from storage.monitoring import CaseError, case_view, open_cases_for_flagged, record_step
from storage.progress import load_schedules
from tests.harness import Harness
from tests.ledger_harness import bot_harness, populate
from tests.storage_fixtures import NOW, World, deadline_today, finished_record, make_world
from tests.test_ledger_chat import until
from tests.test_reminders_delivery import FlakySender

pytest_plugins = ("tests.storage_fixtures",)
__all__ = ["bot_harness"]

Maker = async_sessionmaker[AsyncSession]


async def _flagged(s: AsyncSession, world: World, household: int) -> None:
    session = await start_session(s, world.cadre.id, household, "f", 1, {}, NOW)
    await submit_check(
        s, session.id, finished_record(at_risk=True), world.cadre.id, NOW, deadline_today
    )


async def test_a_flagged_check_opens_one_case_with_steps_inside_fifteen_days(
    sqlite_maker: Maker,
) -> None:
    async with sqlite_maker.begin() as s:
        world = await make_world(s)
        await _flagged(s, world, world.seed.household_ids[0])
        schedules = await load_schedules(s)
        assert await open_cases_for_flagged(s, schedules, NOW) == 1
        assert await open_cases_for_flagged(s, schedules, NOW) == 0
        case = await s.scalar(select(MonitoringCase))
        assert case is not None
        view = await case_view(s, case.id, world.cadre)
    assert [step.step for step in view.steps] == [
        "home_verification",
        "village_review",
        "public_notice",
        "township_review",
        "county_approval",
    ]
    opened = view.case.opened_on
    assert [(step.due_on - opened).days for step in view.steps] == [2, 5, 11, 13, 15]
    assert view.case.responsible_user_id == world.cadre.id


async def test_steps_go_in_order_by_role_and_the_notice_runs_five_days(
    sqlite_maker: Maker,
) -> None:
    async with sqlite_maker.begin() as s:
        world = await make_world(s)
        await _flagged(s, world, world.seed.household_ids[0])
        await open_cases_for_flagged(s, await load_schedules(s), NOW)
        case_id = await s.scalar(select(MonitoringCase.id))
    assert case_id is not None
    today = NOW.date()

    async def record(step: str, user_id: int, days: int, outcome: str = "ok") -> None:
        async with sqlite_maker.begin() as s:
            at = NOW + timedelta(days=days)
            await record_step(s, case_id, step, user_id, outcome, at, today + timedelta(days=days))

    with pytest.raises(CaseError, match="not the next one"):
        await record("village_review", world.cadre.id, 0)
    with pytest.raises(CaseError, match="note or a reason"):
        await record("home_verification", world.cadre.id, 0, " ")
    await record("home_verification", world.cadre.id, 1)
    await record("village_review", world.cadre.id, 3)
    with pytest.raises(CaseError) as short:
        await record("public_notice", world.cadre.id, 6)
    assert short.value.params == {"days": 5}
    await record("public_notice", world.cadre.id, 8)
    with pytest.raises(CaseError, match="role"):
        await record("township_review", world.cadre.id, 9)
    await record("township_review", world.leader.id, 9)
    async with sqlite_maker() as s:
        status = await s.scalar(select(MonitoringCase.status))
    assert status == "open"  # the county approval is the office's


async def test_case_steps_are_reminded_and_counted_overdue(sqlite_maker: Maker) -> None:
    async with sqlite_maker.begin() as s:
        world = await make_world(s)
        await _flagged(s, world, world.seed.household_ids[0])
    sender = FlakySender()
    t = Translator()
    # The sweep opens the case; two days later (09:00 Shanghai) the home verification is due.
    first = await sweep(Bot("1:x"), sqlite_maker, t, NOW, "w", sender=sender)
    assert first.cases_opened == 1
    due_day = datetime(2025, 3, 12, 1, 0, tzinfo=UTC)
    await sweep(Bot("1:x"), sqlite_maker, t, due_day, "w", sender=sender)
    await sweep(Bot("1:x"), sqlite_maker, t, due_day + timedelta(minutes=1), "w", sender=sender)
    steps = [text for _, text in sender.sent if "Monitoring step" in text or "监测环节" in text]
    assert len(steps) == 2  # three days before (sent on opening day, 1 day before) and on the day
    await sweep(Bot("1:x"), sqlite_maker, t, due_day + timedelta(days=1), "w", sender=sender)
    digest = sender.sent[-1][1]
    assert "1 monitoring case steps are overdue" in digest or "1 个监测环节已逾期" in digest
    async with sqlite_maker() as s:
        assert await s.scalar(select(func.count()).select_from(MonitoringCase)) == 1


async def test_a_cadre_records_the_home_verification_in_the_chat(bot_harness: Harness) -> None:
    h = bot_harness
    v = await populate(h)
    async with h.sessionmaker.begin() as s:
        session = await start_session(
            s, v.ids["cadre"], h.households["wang"], "f", 1, {}, h.clock()
        )
        await submit_check(
            s, session.id, finished_record(at_risk=True), v.ids["cadre"], h.clock(), deadline_today
        )
        await open_cases_for_flagged(s, await load_schedules(s), h.clock())
    await v.cadre.send_command("cases")
    await until(v.cadre, lambda m: "Open monitoring cases: 1" in m.content)
    await v.cadre.press_button(lambda label: label.startswith("王秀兰"))
    card = await until(v.cadre, lambda m: "Monitoring case #" in m.content)
    assert "⬜ Home verification" in card.content
    await v.cadre.press_button("Record: Home verification")
    await until(v.cadre, lambda m: "Send the outcome" in m.content)
    await v.cadre.send_text("已入户核实，因病支出大")
    card = await until(v.cadre, lambda m: "✅ Home verification" in m.content)
    assert "因病支出大" in card.content
    assert [text for text, _ in card.buttons] == ["Record: Village review"]
    assert date(2026, 11, 23) <= h.clock().date()
