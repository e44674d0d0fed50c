"""A problem is one thing over time: known by household, rule and subject, seen again by later
checks, settled at the summary when a check no longer raises it (rectified or a wrong answer),
reopened and linked when it comes back after its 销号; amendments say what happened; existing
duplicates are merged by the migration."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from bot.emulator import EmulatedUser
from conversations import Record, load_forms
from storage import (
    CheckRecord,
    CheckSession,
    Problem,
    ProblemEvent,
    start_session,
    submit_check,
    upgrade,
)
from storage.amendments import start_amendment
from tests.checkdriver import SUBMIT, answer_until, open_check
from tests.harness import TOWNSHIP, Harness
from tests.storage_fixtures import (
    NOW,
    World,
    deadline_today,
    finished_record,
    make_world,
    school_dropout,
    unsafe_house,
)

pytest_plugins = ("tests.storage_fixtures",)

Maker = async_sessionmaker[AsyncSession]
PROBLEM_PLAN = {
    "school_status": "dropped_out",
    "dropout_reason": "work",
    "dropout_note": "在外地打工",
    "housing_grade": "C",
    "housing_alternative": "none",
}


async def history(maker: Maker, problem_id: int) -> list[tuple[str, int | None]]:
    async with maker() as s:
        events = await s.scalars(
            select(ProblemEvent)
            .where(ProblemEvent.problem_id == problem_id)
            .order_by(ProblemEvent.id)
        )
        return [(event.action, event.check_record_id) for event in events]


async def checked(harness: Harness, cadre: EmulatedUser, plan: dict[str, str]) -> str:
    """One check of 张建国 through the chat; the title shown on opening it."""
    await cadre.send_command("check")
    await cadre.next_message()
    await cadre.press_button(lambda label: "张建国" in label)
    title = await cadre.next_message()
    await cadre.next_message()
    summary = await answer_until(harness, cadre, plan)
    assert summary is not None
    await cadre.press(summary.message_id, summary.callback_data(SUBMIT))
    return title.content


async def test_monthly_rechecks_keep_one_problem_and_add_seen_again(harness: Harness) -> None:
    await harness.seed()
    cadre = harness.emulator.user(3101, "王芳", language_code="zh-hans")
    await harness.register(cadre)
    await open_check(harness, cadre, "张建国")
    summary = await answer_until(harness, cadre, PROBLEM_PLAN)
    assert summary is not None
    await cadre.press(summary.message_id, summary.callback_data(SUBMIT))
    assert "2 条问题" in (await cadre.next_message()).content

    for month in (1, 2):
        harness.clock.advance(timedelta(days=30))
        title = await checked(harness, cadre, PROBLEM_PLAN)
        # Opening the household shows what is still open for it.
        assert "这户尚未销号的问题：2 条" in title and "在外地打工" not in title
        result = await cadre.next_message()
        assert "仍未整改、本次再次发现：2 条" in result.content, (month, result)
        assert "条问题" not in result.content

    async with harness.sessionmaker() as s:
        problems = (await s.scalars(select(Problem).order_by(Problem.id))).all()
        records = (await s.scalars(select(CheckRecord).order_by(CheckRecord.id))).all()
    assert len(problems) == 2 and len(records) == 3
    assert [r.problems_raised for r in records] == [2, 2, 2]
    for problem in problems:
        assert await history(harness.sessionmaker, problem.id) == [
            ("raised", records[0].id),
            ("seen_again", records[1].id),
            ("seen_again", records[2].id),
        ]


async def test_a_problem_no_longer_raised_is_asked_about_at_the_summary(
    harness: Harness,
) -> None:
    await harness.seed()
    cadre = harness.emulator.user(3102, "王芳", language_code="zh-hans")
    await harness.register(cadre)
    await open_check(harness, cadre, "张建国")
    summary = await answer_until(harness, cadre, PROBLEM_PLAN)
    assert summary is not None
    await cadre.press(summary.message_id, summary.callback_data(SUBMIT))
    await cadre.next_message()
    async with harness.sessionmaker() as s:
        dropout, house = (await s.scalars(select(Problem).order_by(Problem.id))).all()

    harness.clock.advance(timedelta(days=30))
    await checked(harness, cadre, {})  # the child is back at school, the house was rebuilt
    first = await cadre.next_message()
    assert "这次没有再出现" in first.content and "是已经整改了，还是上次回答有误" in first.content
    assert [label for label, _ in first.buttons] == ["✅ 已整改", "✏️ 上次回答有误", "⬅ 返回汇总"]
    # Nothing is submitted while the question waits.
    assert await harness.cursor(cadre.user_id) == "summary"
    await cadre.press(first.message_id, first.callback_data("✅ 已整改"))
    second = await cadre.next_message()
    assert "这次没有再出现" in second.content
    await cadre.press(second.message_id, second.callback_data("✏️ 上次回答有误"))
    result = await cadre.next_message()
    assert "已提交" in result.content and "未发现问题" in result.content, result

    async with harness.sessionmaker() as s:
        settled = {p.id: p.status for p in await s.scalars(select(Problem))}
        record = await s.scalar(select(CheckRecord).order_by(CheckRecord.id.desc()))
    assert record is not None
    assert settled == {dropout.id: "rectified", house.id: "withdrawn"}
    assert (await history(harness.sessionmaker, dropout.id))[-1] == (
        "rectified_at_check",
        record.id,
    )
    assert (await history(harness.sessionmaker, house.id))[-1] == (
        "withdrawn_at_check",
        record.id,
    )


async def test_the_problem_card_history_speaks_the_users_language(harness: Harness) -> None:
    await harness.seed()
    cadre = harness.emulator.user(3103, "王芳", language_code="zh-hans")
    await harness.register(cadre)
    await open_check(harness, cadre, "张建国")
    summary = await answer_until(harness, cadre, PROBLEM_PLAN)
    assert summary is not None
    await cadre.press(summary.message_id, summary.callback_data(SUBMIT))
    await cadre.next_message()
    harness.clock.advance(timedelta(days=30))
    await checked(harness, cadre, PROBLEM_PLAN)
    await cadre.next_message()
    leader = harness.emulator.user(3113, "Leader", language_code="en")
    await harness.register(leader, role="leader", area=TOWNSHIP)
    await leader.send_command("problems")
    await leader.next_message()
    await leader.press_button(lambda label: label.startswith("张建国"))
    card = await leader.next_message()
    assert "seen again by a check" in card.content, card
    for code in ("seen_again", "raised_in_error", "carried_over", "withdrawn"):
        assert code not in card.content


async def submit(maker: Maker, world: World, record: Record, at: datetime) -> int:
    async with maker.begin() as s:
        session = await start_session(
            s, world.cadre.id, world.seed.household_ids[0], "household_check", 1, {}, at
        )
        check, _ = await submit_check(s, session.id, record, world.cadre.id, at, deadline_today)
        return check.id


async def test_a_verified_problem_that_comes_back_is_a_new_problem_linked_to_it(
    sqlite_maker: Maker,
) -> None:
    async with sqlite_maker.begin() as s:
        world = await make_world(s, NOW)
    await submit(sqlite_maker, world, finished_record(school_dropout()), NOW)
    async with sqlite_maker.begin() as s:
        old = await s.scalar(select(Problem))
        assert old is not None
        old.status = "verified"
    later = NOW + timedelta(days=60)
    record_id = await submit(sqlite_maker, world, finished_record(school_dropout()), later)
    async with sqlite_maker() as s:
        problems = (await s.scalars(select(Problem).order_by(Problem.id))).all()
    assert [(p.status, p.reopened_from_id) for p in problems] == [
        ("verified", None),
        ("open", old.id),
    ]
    assert await history(sqlite_maker, problems[1].id) == [("reopened", record_id)]
    # Another child of the same household is another problem.
    other = replace(school_dropout(), subject="王小红")
    await submit(
        sqlite_maker, world, finished_record(school_dropout(), other), later + timedelta(days=1)
    )
    async with sqlite_maker() as s:
        subjects = [p.subject for p in await s.scalars(select(Problem).order_by(Problem.id))]
    assert subjects == ["王小明", "王小明", "王小红"]


async def test_an_amendment_for_a_changed_situation_rectifies_and_never_withdraws(
    sqlite_maker: Maker,
) -> None:
    form = load_forms()["household_check"]
    async with sqlite_maker.begin() as s:
        world = await make_world(s, NOW)
    first = await submit(
        sqlite_maker, world, finished_record(school_dropout(), unsafe_house()), NOW
    )
    later = NOW + timedelta(days=1)
    async with sqlite_maker.begin() as s:
        session = await start_amendment(
            s, first, world.cadre, form, 1, "孩子已返校", later, kind="change"
        )
    async with sqlite_maker.begin() as s:
        record, problems = await submit_check(
            s, session.id, finished_record(unsafe_house()), world.cadre.id, later, deadline_today
        )
    async with sqlite_maker() as s:
        statuses = {p.rule_id: p.status for p in await s.scalars(select(Problem))}
        event = await s.scalar(
            select(ProblemEvent).where(ProblemEvent.action == "rectified_at_check")
        )
    assert statuses == {"education_dropout": "rectified", "housing_cd": "open"}
    assert event is not None and event.note == "孩子已返校"
    assert [p.rule_id for p in problems] == ["housing_cd"]
    assert record.problems_raised == 1


async def test_the_bot_asks_what_an_amendment_records(harness: Harness) -> None:
    await harness.seed()
    cadre = harness.emulator.user(3104, "王芳", language_code="zh-hans")
    await harness.register(cadre)
    await open_check(harness, cadre, "张建国")
    summary = await answer_until(harness, cadre, PROBLEM_PLAN)
    assert summary is not None
    await cadre.press(summary.message_id, summary.callback_data(SUBMIT))
    await cadre.next_message()
    async with harness.sessionmaker() as s:
        first = await s.scalar(select(CheckRecord))
        assert first is not None
    await cadre.send_command("amend", f"{first.id} 孩子已返校")
    summary = await cadre.next_message()
    while SUBMIT not in [label for label, _ in summary.buttons]:
        summary = await cadre.next_message()
    await cadre.next_message()  # "you are amending…"
    await cadre.press(summary.message_id, summary.callback_data(SUBMIT))
    question = await cadre.next_message()
    assert "这次更正属于哪种情况" in question.content
    assert [label for label, _ in question.buttons][:2] == ["✏️ 原来答错了", "🔄 情况有了变化"]
    await cadre.press(question.message_id, question.callback_data("🔄 情况有了变化"))
    assert "已提交" in (await cadre.next_message()).content
    async with harness.sessionmaker() as s:
        session = await s.scalar(
            select(CheckSession).where(CheckSession.amends_record_id.is_not(None))
        )
    assert session is not None and session.amendment_kind == "change"


async def test_the_migration_merges_duplicates_of_one_problem(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    await upgrade(url, "0003_offices")
    at = NOW.replace(tzinfo=None).isoformat(sep=" ")
    statements = [
        "INSERT INTO areas (code, name, level, timezone, settings)"
        " VALUES ('v', '幸福村', 'village', 'Asia/Shanghai', '{}')",
        "INSERT INTO users (id, telegram_id, name, role, area_code, active, created_at)"
        f" VALUES (1, 1, '王芳', 'cadre', 'v', 1, '{at}')",
        "INSERT INTO households (id, village_code, number, head_name, created_at, updated_at)"
        f" VALUES (1, 'v', '001', '张', '{at}', '{at}')",
    ]
    for n in (1, 2, 3):
        status = "in_progress" if n == 2 else "open"
        statements += [
            "INSERT INTO check_sessions (id, user_id, household_id, form_id, state, status,"
            " chat_id, created_at, updated_at)"
            f" VALUES ({n}, 1, 1, 'f', '{{}}', 'submitted', 1, '{at}', '{at}')",
            "INSERT INTO check_records (id, session_id, household_id, cadre_user_id, form_id,"
            " form_version, submitted_at, at_risk, problems_raised, answers, check_id, version,"
            f" latest) VALUES ({n}, {n}, 1, 1, 'f', '1', '{at}', 0, 1, '{{}}', {n}, 1, 1)",
            "INSERT INTO problems (id, household_id, check_record_id, rule_id, category, text,"
            " text_i18n, goal, goal_i18n, measures, responsible_unit, deadline, subject, status,"
            f" created_at, updated_at) VALUES ({n}, 1, {n}, 'dropout', '教育', '辍学', '{{}}',"
            f" '返校', '{{}}', '', '教育局', '2025-0{5 - n}-01', '小明', '{status}', '{at}',"
            f" '{at}')",
            "INSERT INTO problem_events (problem_id, at, action, to_status)"
            f" VALUES ({n}, '{at}', 'raised', 'open')",
        ]
    engine = create_async_engine(url, poolclass=NullPool)
    async with engine.begin() as c:
        for statement in statements:
            await c.execute(text(statement))
    await engine.dispose()
    await upgrade(url)
    engine = create_async_engine(url, poolclass=NullPool)
    async with engine.connect() as c:
        problems = (await c.execute(text("SELECT id, status, deadline FROM problems"))).all()
        events = (
            await c.execute(
                text("SELECT problem_id, action, check_record_id FROM problem_events ORDER BY id")
            )
        ).all()
    await engine.dispose()
    assert [tuple(p) for p in problems] == [(1, "in_progress", "2025-02-01")]
    assert [tuple(e) for e in events] == [
        (1, "raised", 1),
        (1, "seen_again", 2),
        (1, "seen_again", 3),
    ]
