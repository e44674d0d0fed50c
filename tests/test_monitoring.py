"""Monitoring cases (防返贫监测): a check that flags a household opens its case at submit, one
open case per household (a re-check adds a line, an amendment counts once); the procedure's
steps with their deadlines inside 15 days, recorded from the case card by role: consent, the
county's data cross-check, the village review, the notice of at least five days (never a dead
end), the township review, the county decision with category and risk types (the household
type follows); an early exit with the reason; the risk removal; reminders; the migration."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool
from telegram import Bot

from bot.callbacks import CaseAnswer, CaseMenu, encode
from bot.emulator import ChatMessage, EmulatedUser
from bot.i18n import Translator
from bot.reminders import sweep
from conversations import load_forms
from storage import CheckRecord, Household, start_session, submit_check, upgrade
from storage.amendments import start_amendment
from storage.models import MonitoringCase, MonitoringCaseEvent, MonitoringStep
from storage.monitoring import case_view, open_cases_for_flagged
from storage.progress import load_schedules
from storage.schedule import schedule_from
from tests.checkdriver import SUBMIT, answer_until
from tests.harness import VILLAGE, Harness, forms_with_income_line
from tests.ledger_harness import Village, populate
from tests.storage_fixtures import NOW, World, deadline_today, finished_record, make_world
from tests.test_ledger_chat import until
from tests.test_reminders_delivery import FlakySender

pytest_plugins = ("tests.storage_fixtures",)

Maker = async_sessionmaker[AsyncSession]
# Nothing earned in the last 12 months: below any monitoring line.
NO_INCOME = {
    "income_wages": "0",
    "income_business": "0",
    "income_property": "0",
    "income_transfer": "0",
}


async def _chinese_cadre(h: Harness) -> EmulatedUser:
    cadre = h.emulator.user(3010, "李明")
    await h.register(cadre, "cadre", VILLAGE)
    return cadre


async def at_risk_check(h: Harness, cadre: EmulatedUser, head: str) -> ChatMessage:
    """A check of the household through the chat that flags it at risk; the submit message."""
    await cadre.send_command("check")
    await cadre.next_message()
    await cadre.press_button(lambda label: head in label)
    await cadre.next_message()
    await cadre.next_message()
    summary = await answer_until(h, cadre, NO_INCOME)
    assert summary is not None
    await cadre.press(summary.message_id, summary.callback_data(SUBMIT))
    return await until(cadre, lambda m: "已保存" in m.content)


async def open_card(user: EmulatedUser, head: str) -> ChatMessage:
    await user.send_command("cases")
    await until(user, lambda m: bool(m.buttons))
    await user.press_button(lambda label: label.startswith(head))
    return await until(user, lambda m: "Monitoring case #" in m.content)


async def case_of(h: Harness, household: str) -> MonitoringCase:
    async with h.sessionmaker() as s:
        cases = list(
            await s.scalars(
                select(MonitoringCase).where(MonitoringCase.household_id == h.households[household])
            )
        )
    assert len(cases) == 1
    return cases[0]


async def household_type(h: Harness, household: str) -> str | None:
    async with h.sessionmaker() as s:
        found = await s.get(Household, h.households[household])
        assert found is not None
        return found.household_type


def labels(message: ChatMessage) -> list[str]:
    return [label for label, _ in message.buttons]


# ---------------------------------------------------------------- one case, at once


async def test_an_at_risk_check_is_a_case_at_once_and_a_recheck_adds_to_it(
    harness: Harness, tmp_path: Path
) -> None:
    h = harness
    forms = forms_with_income_line(tmp_path / "forms", "江苏", 2026, 6000)
    h.settings = replace(h.settings, forms_dir=forms)
    await h.restart()
    v = await populate(h)
    checker = await _chinese_cadre(h)
    submitted = await at_risk_check(h, checker, "王秀兰")
    assert "防返贫监测对象：监测案件见 /cases。" in submitted.content
    # No sweep has run: the case is there already.
    await v.cadre.send_command("cases")
    listing = await until(v.cadre, lambda m: "Open monitoring cases" in m.content)
    assert "Open monitoring cases: 1" in listing.content
    assert any(label.startswith("王秀兰 · Household's consent") for label in labels(listing))

    h.clock.advance(timedelta(days=1))
    await at_risk_check(h, checker, "王秀兰")
    case = await case_of(h, "wang")
    card = await open_card(v.cadre, "王秀兰")
    assert "Opened by the check of" in card.content
    assert card.content.count("Flagged at risk again by the check of") == 1
    # The sweep, the safety net, finds nothing left to do.
    async with h.sessionmaker.begin() as s:
        assert await open_cases_for_flagged(s, await load_schedules(s), h.clock()) == 0
        events = await s.scalar(select(func.count()).select_from(MonitoringCaseEvent))
    assert events == 2
    assert (await case_of(h, "wang")).id == case.id


async def test_an_amended_check_counts_once(sqlite_maker: Maker) -> None:
    async with sqlite_maker.begin() as s:
        world = await make_world(s)
        household = world.seed.household_ids[0]
        session = await start_session(s, world.cadre.id, household, "f", 1, {}, NOW)
        record, _ = await submit_check(
            s, session.id, finished_record(at_risk=True), world.cadre.id, NOW, deadline_today
        )
    later = NOW + timedelta(hours=2)
    async with sqlite_maker.begin() as s:
        form = load_forms()["household_check"]
        amendment = await start_amendment(
            s, record.id, world.cadre, form, 1, "收入填错", later, kind="correction"
        )
        await submit_check(
            s, amendment.id, finished_record(at_risk=True), world.cadre.id, later, deadline_today
        )
        assert await open_cases_for_flagged(s, await load_schedules(s), later) == 0
    async with sqlite_maker() as s:
        assert await s.scalar(select(func.count()).select_from(MonitoringCase)) == 1
        assert await s.scalar(select(func.count()).select_from(MonitoringCaseEvent)) == 1
        versions = await s.scalar(select(func.count()).select_from(CheckRecord))
    assert versions == 2


async def test_a_flagged_case_has_the_procedure_inside_fifteen_days(sqlite_maker: Maker) -> None:
    async with sqlite_maker.begin() as s:
        world = await make_world(s)
        await _flagged(s, world, world.seed.household_ids[0])
        case = await s.scalar(select(MonitoringCase))
        assert case is not None
        view = await case_view(s, case.id, world.cadre)
    assert [step.step for step in view.steps] == [
        "discovery",
        "consent",
        "data_check",
        "village_review",
        "public_notice",
        "township_review",
        "county_decision",
    ]
    assert [(step.due_on - view.case.opened_on).days for step in view.steps] == [
        0,
        2,
        4,
        5,
        6,
        13,
        15,
    ]
    assert view.steps[0].done_at is not None  # found by the cadre's check
    assert view.case.responsible_user_id == world.cadre.id


async def _flagged(s: AsyncSession, world: World, household: int) -> None:
    session = await start_session(s, world.cadre.id, household, "f", 1, {}, NOW)
    await submit_check(
        s, session.id, finished_record(at_risk=True), world.cadre.id, NOW, deadline_today
    )


# ---------------------------------------------------------------- the procedure in the chat


async def _flag_by_hand(h: Harness, v: Village, household: str) -> None:
    async with h.sessionmaker.begin() as s:
        session = await start_session(
            s, v.ids["cadre"], h.households[household], "f", 1, {}, h.clock()
        )
        await submit_check(
            s, session.id, finished_record(at_risk=True), v.ids["cadre"], h.clock(), deadline_today
        )


async def _through_notice(h: Harness, v: Village) -> None:
    """Consent, cross-check and village review, then the notice: first too short."""
    card = await open_card(v.cadre, "王秀兰")
    assert labels(card) == ["✅ Consent signed", "⛔ Refused to sign"]
    await v.cadre.press_button("✅ Consent signed")
    card = await v.cadre.next_edit()
    assert "✅ Household's consent" in card.content
    assert card.buttons == []  # the cross-check is the county's, through the leader or office
    assert "Next step: “County data cross-check”." in card.content

    card = await open_card(v.leader, "王秀兰")
    await v.leader.press_button("✅ County data cross-check: agreed")
    await v.leader.next_edit()

    card = await open_card(v.cadre, "王秀兰")
    await v.cadre.press_button("✅ Village review: agreed")
    card = await v.cadre.next_edit()
    assert labels(card)[1] == "📅 Another last day"
    await v.cadre.press_button("📅 Another last day")
    asked = await until(v.cadre, lambda m: "last day of the notice" in m.content)
    assert "Send /cancel to stop." in asked.content
    # Three days is too short: said plainly, and the card comes again to carry on.
    too_soon = (h.clock().astimezone(UTC) + timedelta(days=2)).date()
    await v.cadre.send_text(too_soon.isoformat())
    refused = await until(v.cadre, lambda m: "⚠️" in m.content)
    assert "at least 5 days" in refused.content and "earliest last day" in refused.content
    card = await until(v.cadre, lambda m: "Monitoring case #" in m.content)
    assert labels(card)[0].startswith("📋 Posted today, until")
    # The wait survives a restart: a good last day typed after it is taken.
    await h.restart()
    await v.cadre.send_text("2026年12月1日")
    await until(v.cadre, lambda m: "Saved." in m.content)
    card = await until(v.cadre, lambda m: "Monitoring case #" in m.content)
    assert "posted Nov 23, 2026 to Dec 1, 2026" in card.content
    assert "The notice runs until Dec 1, 2026" in card.content


async def test_the_whole_procedure_to_inclusion_sets_the_household_type(
    harness: Harness, tmp_path: Path
) -> None:
    h = harness
    forms = forms_with_income_line(tmp_path / "forms", "江苏", 2026, 10000)
    h.settings = replace(h.settings, forms_dir=forms)
    await h.restart()
    v = await populate(h)
    await _flag_by_hand(h, v, "wang")
    await _through_notice(h, v)

    # The township review waits for the notice's end.
    card = await open_card(v.leader, "王秀兰")
    assert card.buttons == []
    h.clock.advance(timedelta(days=9))
    card = await open_card(v.leader, "王秀兰")
    await v.leader.press_button("✅ Township review: agreed")
    card = await v.leader.next_edit()
    assert card.buttons == []  # the decision is the county's

    card = await open_card(v.office, "王秀兰")
    assert labels(card) == [
        "Lifted out of poverty but unstable",
        "On the edge of poverty",
        "Sudden severe hardship",
        "⛔ Not included",
    ]
    await v.office.press_button("Sudden severe hardship")
    card = await v.office.next_edit()
    assert labels(card)[-2:] == ["↩ Category", "Include ✔"]
    await v.office.press_button("↩ Category")  # a slip: the category is chosen again
    await v.office.next_edit()
    await v.office.press_button("On the edge of poverty")
    card = await v.office.next_edit()
    answer = await v.office.press_button("Include ✔")
    assert answer.show_alert and answer.text == "Choose at least one risk type."
    await v.office.press_button("☐ Illness")
    await v.office.next_edit()
    await v.office.press_button("☐ Unstable work")
    card = await v.office.next_edit()
    assert "Risk types: Illness, Unstable work" in card.content
    await v.office.press_button("Include ✔")
    card = await v.office.next_edit()
    assert "🏁 Included in monitoring" in card.content
    assert "Category: On the edge of poverty" in card.content
    case = await case_of(h, "wang")
    assert (case.status, case.outcome, case.category) == ("closed", "included", "edge")
    assert case.risk_types == ["illness", "unstable_work"]
    assert await household_type(h, "wang") == "监测户"

    # A re-check of a monitored household notes it on its case, opens none.
    await _flag_by_hand(h, v, "wang")
    async with h.sessionmaker() as s:
        assert await s.scalar(select(func.count()).select_from(MonitoringCase)) == 1
        kinds = list(await s.scalars(select(MonitoringCaseEvent.kind)))
    assert kinds == ["opened", "seen_again"]

    # 风险消除: opened by the cadre, income and risks asked, then its own steps.
    await v.cadre.send_command("cases")
    await until(v.cadre, lambda m: "No monitoring case is open" in m.content)
    await v.cadre.press_button("➕ Risk removal")
    await until(v.cadre, lambda m: "pick a monitored household" in m.content)
    await v.cadre.press_button("002 王秀兰")
    await until(v.cadre, lambda m: "risks gone" in m.content)
    await v.cadre.press_button("Yes, the risks are gone")
    await until(v.cadre, lambda m: "income per person" in m.content)
    await v.cadre.send_text("九千")
    await until(v.cadre, lambda m: "could not read an amount" in m.content)
    await v.cadre.send_text("9,800")
    below = await until(v.cadre, lambda m: "⚠️" in m.content)
    assert "9,800 yuan, is below the line of 10,000 yuan" in below.content
    await v.cadre.send_text("12000")
    card = await until(v.cadre, lambda m: "Monitoring case #" in m.content)
    assert "Risk removal" in card.content
    assert "income 12,000 yuan a person, risks gone" in card.content
    await v.cadre.press_button("✅ Village review: agreed")
    await v.cadre.next_edit()
    await v.cadre.press_button(lambda label: label.startswith("📋 Posted today"))
    await v.cadre.next_edit()
    h.clock.advance(timedelta(days=5))
    await open_card(v.leader, "王秀兰")
    await v.leader.press_button("✅ Township review: agreed")
    await v.leader.next_edit()
    card = await open_card(v.office, "王秀兰")
    assert labels(card) == ["✅ Risk removed", "⛔ Risk not removed"]
    await v.office.press_button("✅ Risk removed")
    card = await v.office.next_edit()
    assert "Risk removed: the household left monitoring" in card.content
    # It was an ordinary household before, on the edge of poverty: it is one again.
    assert await household_type(h, "wang") == "一般户"


async def test_a_household_not_eligible_leaves_early_with_the_reason(harness: Harness) -> None:
    h = harness
    v = await populate(h)
    await _flag_by_hand(h, v, "wang")
    await open_card(v.cadre, "王秀兰")
    await v.cadre.press_button("✅ Consent signed")
    await v.cadre.next_edit()
    await open_card(v.leader, "王秀兰")
    await v.leader.press_button("⛔ Not eligible")
    await until(v.leader, lambda m: "Send the reason 王秀兰 is not eligible" in m.content)
    await v.leader.send_text("比对发现家庭成员名下有小汽车")
    card = await until(v.leader, lambda m: "Monitoring case #" in m.content)
    exit_line = "⛔ County data cross-check · done Nov 23, 2026: 比对发现家庭成员名下有小汽车"
    assert exit_line in card.content
    assert "Village review" not in card.content  # never reached
    assert "🏁 Not included in monitoring" in card.content
    case = await case_of(h, "wang")
    assert (case.status, case.outcome) == ("closed", "not_included")
    assert await household_type(h, "wang") is None
    await v.cadre.send_command("cases")
    await until(v.cadre, lambda m: "No monitoring case is open in your area." in m.content)


async def test_a_cadre_cannot_record_a_leaders_step_with_a_forged_button(
    harness: Harness,
) -> None:
    h = harness
    v = await populate(h)
    await _flag_by_hand(h, v, "wang")
    card = await open_card(v.cadre, "王秀兰")
    await v.cadre.press_button("✅ Consent signed")
    await v.cadre.next_edit()
    case = await case_of(h, "wang")
    for action in ("y", "n"):
        forged = encode(CaseAnswer(case.id, 2, action))
        answer = await v.cadre.press(card.message_id, forged)
        assert answer.show_alert and answer.text == "Your role cannot do this."
    # Nor a step that is not the next one, nor a case outside their village.
    leader_card = await open_card(v.leader, "王秀兰")
    answer = await v.leader.press(leader_card.message_id, encode(CaseAnswer(case.id, 3, "y")))
    assert answer.text == "This step is not the next one of the case."
    await v.other_cadre.send_command("cases")
    listing = await until(v.other_cadre, lambda m: "No monitoring case" in m.content)
    answer = await v.other_cadre.press(listing.message_id, encode(CaseAnswer(case.id, 1, "y")))
    assert answer.show_alert and answer.text == "This monitoring case is not in your area."
    # Opening a risk removal is a cadre's or leader's: an office's forged button is refused.
    await v.office.send_command("cases")
    listing = await until(v.office, lambda m: "Open monitoring cases" in m.content)
    assert "➕ Risk removal" not in labels(listing)
    answer = await v.office.press(listing.message_id, encode(CaseMenu("g", h.households["li"])))
    assert answer.show_alert and answer.text == "Your role cannot do this."
    async with h.sessionmaker() as s:
        step = await s.scalar(
            select(MonitoringStep).where(
                MonitoringStep.case_id == case.id, MonitoringStep.step == "data_check"
            )
        )
    assert step is not None and step.done_at is None


# ---------------------------------------------------------------- reminders


async def test_case_steps_are_reminded_by_name_and_counted_overdue(sqlite_maker: Maker) -> None:
    async with sqlite_maker.begin() as s:
        world = await make_world(s)
        await _flagged(s, world, world.seed.household_ids[0])
    sender = FlakySender()
    t = Translator()
    # The case is open at submit; two days later (09:00 Shanghai) the consent is due.
    first = await sweep(Bot("1:x"), sqlite_maker, t, NOW, "w", sender=sender)
    assert first.cases_opened == 0
    due_day = datetime(2025, 3, 12, 1, 0, tzinfo=UTC)
    await sweep(Bot("1:x"), sqlite_maker, t, due_day, "w", sender=sender)
    await sweep(Bot("1:x"), sqlite_maker, t, due_day + timedelta(minutes=1), "w", sender=sender)
    steps = [text for _, text in sender.sent if "Monitoring step" in text or "监测环节" in text]
    assert len(steps) == 2  # before (sent on opening day) and on the day
    assert all("Household's consent" in step or "授权承诺" in step for step in steps)
    await sweep(Bot("1:x"), sqlite_maker, t, due_day + timedelta(days=1), "w", sender=sender)
    digest = sender.sent[-1][1]
    assert "1 monitoring case steps are overdue" in digest or "1 个监测环节已逾期" in digest
    async with sqlite_maker() as s:
        assert await s.scalar(select(func.count()).select_from(MonitoringCase)) == 1


# ---------------------------------------------------------------- the migration


async def test_the_migration_keeps_one_open_case_and_renames_the_steps(tmp_path: Path) -> None:
    await _migrate_old_cases(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}", "1")


async def test_the_migration_of_cases_on_postgres(postgres_url: str) -> None:
    await _migrate_old_cases(postgres_url, "true")


async def test_simultaneous_at_risk_checks_keep_one_open_case_on_postgres(
    postgres_maker: Maker,
) -> None:
    async with postgres_maker.begin() as s:
        world = await make_world(s)
        household = world.seed.household_ids[0]
        sessions = [
            (await start_session(s, user.id, household, "f", 1, {}, NOW)).id
            for user in (world.cadre, world.leader)
        ]

    async def submit(session_id: int, user_id: int) -> None:
        async with postgres_maker.begin() as s:
            await submit_check(
                s, session_id, finished_record(at_risk=True), user_id, NOW, deadline_today
            )

    await asyncio.gather(submit(sessions[0], world.cadre.id), submit(sessions[1], world.leader.id))
    async with postgres_maker() as s:
        assert await s.scalar(select(func.count()).select_from(MonitoringCase)) == 1
        kinds = sorted(await s.scalars(select(MonitoringCaseEvent.kind)))
    assert kinds == ["opened", "seen_again"]


async def _migrate_old_cases(url: str, true: str) -> None:
    await upgrade(url, "0007_received_updates")
    at = NOW.replace(tzinfo=None).isoformat(sep=" ")
    statements = [
        "INSERT INTO areas (code, name, level, timezone, settings)"
        " VALUES ('v', '幸福村', 'village', 'Asia/Shanghai', '{}')",
        "INSERT INTO users (id, telegram_id, name, role, area_code, active, created_at)"
        f" VALUES (1, 1, '王芳', 'cadre', 'v', {true}, '{at}')",
        "INSERT INTO households (id, village_code, number, head_name, created_at, updated_at)"
        f" VALUES (1, 'v', '001', '张', '{at}', '{at}')",
    ]
    old_steps = ("home_verification", "village_review", "public_notice")
    for n in (1, 2):
        statements += [
            "INSERT INTO check_sessions (id, user_id, household_id, form_id, state, status,"
            " chat_id, created_at, updated_at)"
            f" VALUES ({n}, 1, 1, 'f', '{{}}', 'submitted', 1, '{at}', '{at}')",
            "INSERT INTO check_records (id, session_id, household_id, cadre_user_id, form_id,"
            " form_version, submitted_at, at_risk, problems_raised, answers, check_id, version,"
            f" latest) VALUES ({n}, {n}, 1, 1, 'f', '1', '{at}', {true}, 0, '{{}}', {n}, 1,"
            f" {true})",
            "INSERT INTO monitoring_cases (id, household_id, check_record_id, kind, status,"
            f" opened_on, responsible_user_id, created_at) VALUES ({n}, 1, {n}, 'identify',"
            f" 'open', '2025-03-10', 1, '{at}')",
        ]
        for position, step in enumerate((*old_steps, "township_review", "county_approval")):
            done = f"'{at}'" if n == 2 and step in old_steps[:2] else "NULL"
            statements.append(
                "INSERT INTO monitoring_steps (case_id, step, position, due_on, done_at)"
                f" VALUES ({n}, '{step}', {position}, '2025-03-1{position + 2}', {done})"
            )
    engine = create_async_engine(url, poolclass=NullPool)
    async with engine.begin() as c:
        for statement in statements:
            await c.execute(text(statement))
    await engine.dispose()
    await upgrade(url)
    engine = create_async_engine(url, poolclass=NullPool)
    async with engine.connect() as c:
        cases = (
            await c.execute(text("SELECT id, status, outcome FROM monitoring_cases ORDER BY id"))
        ).all()
        steps = (
            await c.execute(
                text(
                    "SELECT step, CASE WHEN done_at IS NULL THEN 0 ELSE 1 END"
                    " FROM monitoring_steps WHERE case_id = 2"
                    " ORDER BY position"
                )
            )
        ).all()
        events = (
            await c.execute(
                text("SELECT case_id, kind, check_id FROM monitoring_case_events ORDER BY id")
            )
        ).all()
    await engine.dispose()
    # The case further on stays open; the other is merged into it.
    assert [tuple(row) for row in cases] == [(1, "closed", "merged"), (2, "open", None)]
    assert [tuple(row) for row in steps] == [
        ("discovery", 1),
        ("consent", 1),
        ("data_check", 1),
        ("village_review", 1),
        ("public_notice", 0),
        ("township_review", 0),
        ("county_decision", 0),
    ]
    assert sorted(tuple(row) for row in events) == [(2, "opened", 2), (2, "seen_again", 1)]


async def test_a_household_application_opens_a_case_by_hand(harness: Harness) -> None:
    h = harness
    v = await populate(h)
    await v.cadre.send_command("cases")
    await until(v.cadre, lambda m: "No monitoring case is open" in m.content)
    await v.cadre.press_button("➕ New case")
    assert "Which household applied" in (await v.cadre.next_edit()).content
    await v.cadre.press_button("001 张建国")
    await until(v.cadre, lambda m: "come to notice" in m.content)
    await v.cadre.press_button("Household application")
    card = await until(v.cadre, lambda m: "Monitoring case #" in m.content)
    assert "✅ Discovery · done Nov 23, 2026: Household application" in card.content
    assert "Opened by the check" not in card.content
    assert labels(card) == ["✅ Consent signed", "⛔ Refused to sign"]
    # A second one for the same household is refused: one open case per household.
    await v.cadre.send_command("cases")
    await until(v.cadre, lambda m: "Open monitoring cases: 1" in m.content)
    await v.cadre.press_button("➕ New case")
    assert "Which household applied" in (await v.cadre.next_edit()).content
    await v.cadre.press_button("001 张建国")
    await until(v.cadre, lambda m: "come to notice" in m.content)
    answer = await v.cadre.press_button("Department data alert")
    assert answer.show_alert
    assert answer.text == "This household has an open monitoring case already."
    await _flag_by_hand(h, v, "zhang")  # a check now adds to the open case
    async with h.sessionmaker() as s:
        assert await s.scalar(select(func.count()).select_from(MonitoringCase)) == 1
        kinds = list(await s.scalars(select(MonitoringCaseEvent.kind)))
    assert kinds == ["seen_again"]


async def test_a_review_step_is_reminded_to_the_leaders_who_record_it(sqlite_maker: Maker) -> None:
    async with sqlite_maker.begin() as s:
        world = await make_world(s)
        await _flagged(s, world, world.seed.household_ids[0])
        for step in await s.scalars(select(MonitoringStep).where(MonitoringStep.position < 5)):
            step.done_at = NOW
    sender = FlakySender()
    # The township review is due on the 13th day: reminded on that day at 09:00 Shanghai.
    due_day = datetime(2025, 3, 23, 1, 0, tzinfo=UTC)
    await sweep(Bot("1:x"), sqlite_maker, Translator(), due_day, "w", sender=sender)
    steps = [(chat, text) for chat, text in sender.sent if "Monitoring step" in text]
    assert steps == [
        (
            1002,
            "🛡 Monitoring step “Township review” for 王建国 is due Mar 23, 2025.",
        )
    ]


def test_step_days_set_under_the_steps_earlier_names_still_apply() -> None:
    settings = {"case_step_days": {"county_approval": 14, "public_notice": 7, "bogus": 3}}
    days = schedule_from(settings, "Asia/Shanghai").case_step_days
    assert (days["county_decision"], days["public_notice"], days["consent"]) == (14, 7, 2)
    assert "bogus" not in days and "county_approval" not in days
