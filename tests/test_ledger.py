"""The problem ledger in storage: transitions in one place, history and audit, hand-added
problems, deadlines, the filtered ledger and the monthly progress."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import (
    AuditEntry,
    Problem,
    ProblemEvent,
    User,
    create_invitation,
    redeem_invitation,
    start_session,
    submit_check,
)
from storage.periods import period_of
from storage.problems import (
    ProblemError,
    ProblemFilter,
    act,
    add_problem,
    allowed_actions,
    problem_card,
    problems_page,
    resolve_deadline,
)
from storage.progress import load_schedules, village_progress
from storage.schedule import AreaSchedule, schedule_from
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
STATE = "This cannot be done to the problem in its current state."


async def _office(s: AsyncSession, world: World) -> User:
    invitation = await create_invitation(s, "office", world.seed.county_code, NOW)
    return await redeem_invitation(s, invitation.code, 1003, "县办", "zh_CN", NOW)


async def _raise(s: AsyncSession, world: World, household: int, cadre: User) -> list[Problem]:
    session = await start_session(s, cadre.id, household, "f", 1, {}, NOW)
    _, problems = await submit_check(
        s,
        session.id,
        finished_record(unsafe_house(), school_dropout()),
        cadre.id,
        NOW,
        deadline_today,
    )
    return problems


async def _counts(s: AsyncSession, problem_id: int) -> tuple[str, int, int]:
    problem = await s.get(Problem, problem_id)
    assert problem is not None
    await s.refresh(problem)
    events = await s.scalar(select(func.count()).where(ProblemEvent.problem_id == problem_id))
    audits = await s.scalar(
        select(func.count()).where(AuditEntry.subject == f"problem:{problem_id}")
    )
    return problem.status, events or 0, audits or 0


@pytest.fixture
async def ledger(sqlite_maker: Maker) -> tuple[World, list[Problem], User]:
    async with sqlite_maker.begin() as s:
        world = await make_world(s)
        problems = await _raise(s, world, world.seed.household_ids[0], world.cadre)
        office = await _office(s, world)
    return world, problems, office


async def test_a_problem_goes_open_in_progress_rectified_verified_with_history(
    sqlite_maker: Maker, ledger: tuple[World, list[Problem], User]
) -> None:
    world, problems, _ = ledger
    pid = problems[0].id
    steps = [
        (world.cadre, "progress", "联系了住建局", "in_progress"),
        (world.cadre, "rectify", "已加固，验收合格", "rectified"),
        (world.leader, "return", "照片不清楚", "in_progress"),
        (world.cadre, "rectify", "补充了照片", "rectified"),
        (world.leader, "verify", None, "verified"),
    ]
    for minutes, (user, action, note, expected) in enumerate(steps, start=1):
        async with sqlite_maker.begin() as s:
            problem = await act(
                s, pid, user.id, action, NOW + timedelta(minutes=minutes), note=note
            )
            assert problem.status == expected
    async with sqlite_maker() as s:
        status, events, audits = await _counts(s, pid)
        card = await problem_card(s, pid, world.leader)
    assert (status, events, audits) == ("verified", 6, 5)
    assert [line.action for line in card.history] == [
        "raised",
        "progress",
        "rectify",
        "return",
        "rectify",
        "verify",
    ]
    assert card.history[3].note == "照片不清楚"
    assert card.history[3].user_name == world.leader.name
    assert card.history[2].from_status == "in_progress"


@pytest.mark.parametrize(
    ("who", "action", "prepare", "note", "message"),
    [
        ("cadre", "verify", ["progress", "rectify"], None, "Your role cannot do this."),
        ("leader", "verify", [], None, "This cannot be done to the problem in its current state."),
        (
            "cadre",
            "rectify",
            [],
            "done",
            "This cannot be done to the problem in its current state.",
        ),
        ("cadre", "rectify", ["progress"], " ", "Please give a note or a reason."),
        ("leader", "return", ["progress", "rectify"], None, "Please give a note or a reason."),
        ("cadre", "deadline", [], "reason", "Your role cannot do this."),
        ("leader", "unit", [], "reason", "Your role cannot do this."),
        ("office", "verify", ["progress", "rectify"], None, "Your role cannot do this."),
        ("cadre", "progress", [], None, "Please send a text or a photo about the progress."),
        ("cadre", "close", [], None, "Unknown action."),
    ],
)
async def test_an_illegal_transition_is_refused_and_changes_nothing(
    sqlite_maker: Maker,
    ledger: tuple[World, list[Problem], User],
    who: str,
    action: str,
    prepare: list[str],
    note: str | None,
    message: str,
) -> None:
    world, problems, office = ledger
    pid = problems[0].id
    people = {"cadre": world.cadre, "leader": world.leader, "office": office}
    for step in prepare:
        async with sqlite_maker.begin() as s:
            await act(s, pid, world.cadre.id, step, NOW, note="ok")
    async with sqlite_maker() as s:
        before = await _counts(s, pid)
    with pytest.raises(ProblemError) as refused:
        async with sqlite_maker.begin() as s:
            await act(s, pid, people[who].id, action, NOW, note=note, unit="x")
    assert refused.value.message_id == message
    async with sqlite_maker() as s:
        assert await _counts(s, pid) == before


async def test_a_stale_button_on_a_verified_problem_is_refused(
    sqlite_maker: Maker, ledger: tuple[World, list[Problem], User]
) -> None:
    world, problems, _ = ledger
    pid = problems[0].id
    async with sqlite_maker.begin() as s:
        await act(s, pid, world.cadre.id, "progress", NOW, note="a")
        await act(s, pid, world.cadre.id, "rectify", NOW, note="b")
        await act(s, pid, world.leader.id, "verify", NOW)
    for action, expected in (("return", "rectified"), ("progress", "open")):
        with pytest.raises(ProblemError) as refused:
            async with sqlite_maker.begin() as s:
                await act(
                    s, pid, world.leader.id, action, NOW, note="late", expected_status=expected
                )
        assert "changed meanwhile" in refused.value.message_id
    with pytest.raises(ProblemError) as refused:
        async with sqlite_maker.begin() as s:
            await act(s, pid, world.leader.id, "return", NOW, note="late")
    assert refused.value.message_id == "This problem is closed (verified) already."


async def test_another_villages_problem_is_refused(sqlite_maker: Maker) -> None:
    async with sqlite_maker.begin() as s:
        world = await make_world(s)
        invitation = await create_invitation(s, "cadre", world.seed.other_village_code, NOW)
        stranger = await redeem_invitation(s, invitation.code, 2001, "外村干部", None, NOW)
        problems = await _raise(s, world, world.seed.household_ids[0], world.cadre)
    with pytest.raises(ProblemError) as refused:
        async with sqlite_maker.begin() as s:
            await act(s, problems[0].id, stranger.id, "progress", NOW, note="x")
    assert refused.value.message_id == "This problem is not in your area."
    with pytest.raises(ProblemError):
        async with sqlite_maker() as s:
            await problem_card(s, problems[0].id, stranger)


async def test_two_leaders_verifying_at_once_verify_once(
    sqlite_maker: Maker, ledger: tuple[World, list[Problem], User]
) -> None:
    world, problems, _ = ledger
    pid = problems[0].id
    async with sqlite_maker.begin() as s:
        await act(s, pid, world.cadre.id, "progress", NOW, note="a")
        await act(s, pid, world.cadre.id, "rectify", NOW, note="b")
    outcomes = []
    for _ in range(2):
        try:
            async with sqlite_maker.begin() as s:
                await act(s, pid, world.leader.id, "verify", NOW, expected_status="rectified")
            outcomes.append("ok")
        except ProblemError:
            outcomes.append("refused")
    assert outcomes == ["ok", "refused"]


async def test_an_office_moves_the_deadline_and_the_unit_with_a_reason(
    sqlite_maker: Maker, ledger: tuple[World, list[Problem], User]
) -> None:
    _, problems, office = ledger
    pid = problems[0].id
    new_day = NOW.date() + timedelta(days=90)
    async with sqlite_maker.begin() as s:
        await act(s, pid, office.id, "deadline", NOW, note="雨季施工困难", deadline=new_day)
        problem = await act(
            s, pid, office.id, "unit", NOW, note="改由乡镇负责", unit="乡镇人民政府"
        )
    assert (problem.deadline, problem.responsible_unit, problem.status) == (
        new_day,
        "乡镇人民政府",
        "open",
    )
    async with sqlite_maker() as s:
        entries = list(
            await s.scalars(select(AuditEntry).where(AuditEntry.action == "problem.deadline"))
        )
    assert entries[0].details["to"] == new_day.isoformat()
    assert entries[0].user_id == office.id


def test_buttons_follow_role_and_state() -> None:
    assert allowed_actions("cadre", "open") == ["progress"]
    assert allowed_actions("cadre", "in_progress") == ["progress", "rectify"]
    assert allowed_actions("cadre", "rectified") == []
    assert allowed_actions("leader", "rectified") == ["verify", "return"]
    assert allowed_actions("office", "in_progress") == ["deadline", "unit"]
    assert allowed_actions("leader", "verified") == []


def test_deadlines_from_a_date_days_a_tier_or_the_category_default() -> None:
    today = date(2026, 11, 23)
    schedule = schedule_from(
        {"deadline_tiers": {"住房安全": "timed"}, "deadline_days": {"饮水安全": 10}}, None
    )
    assert resolve_deadline(date(2026, 12, 5), "x", today, schedule) == (
        date(2026, 12, 5),
        "timed",
    )
    assert resolve_deadline(7, "x", today, schedule) == (date(2026, 11, 30), "timed")
    # 立行立改 and 长期坚持's first review: the end of the reporting period (the eve of the 4th).
    assert resolve_deadline("immediate", "x", today, schedule) == (
        date(2026, 12, 3),
        "immediate",
    )
    assert resolve_deadline("ongoing", "x", today, schedule) == (date(2026, 12, 3), "ongoing")
    assert resolve_deadline(None, "住房安全", today, schedule) == (date(2027, 1, 22), "timed")
    assert resolve_deadline(None, "饮水安全", today, schedule) == (date(2026, 12, 3), "timed")
    assert resolve_deadline(None, "其他", today, AreaSchedule()) == (date(2026, 12, 23), "timed")
    # An area's settings written with the former name of 限时整改 still read.
    former = schedule_from({"deadline_tiers": {"住房安全": "staged"}}, None)
    assert resolve_deadline(None, "住房安全", today, former) == (date(2027, 1, 22), "timed")
    with pytest.raises(ProblemError):
        resolve_deadline(date(2026, 11, 1), "x", today, schedule)
    with pytest.raises(ProblemError):
        resolve_deadline("someday", "x", today, schedule)


async def test_a_leader_adds_a_problem_by_hand_and_a_cadre_cannot(
    sqlite_maker: Maker, ledger: tuple[World, list[Problem], User]
) -> None:
    world, _, _ = ledger
    fields = {
        "category": "饮水安全",
        "text": "自来水经常停水",
        "goal": "稳定供水",
        "measures": "水利局检修管网",
        "responsible_unit": "县水利局",
        "deadline": date(2025, 4, 30),
        "deadline_tier": None,
        "now": NOW,
    }
    async with sqlite_maker.begin() as s:
        problem = await add_problem(
            s,
            world.leader.id,
            world.seed.household_ids[1],
            assignee_user_id=world.cadre.id,
            **fields,  # type: ignore[arg-type]
        )
    assert problem.check_record_id is None and problem.assignee_user_id == world.cadre.id
    with pytest.raises(ProblemError):
        async with sqlite_maker.begin() as s:
            await add_problem(
                s,
                world.cadre.id,
                world.seed.household_ids[1],
                **fields,  # type: ignore[arg-type]
            )
    async with sqlite_maker() as s:
        mine = await problems_page(s, world.cadre, ProblemFilter(mine=True), NOW.date())
    assert problem.id in {row.id for row in mine.rows}


async def test_the_ledger_filters_and_pages(
    sqlite_maker: Maker, ledger: tuple[World, list[Problem], User]
) -> None:
    world, problems, _ = ledger
    async with sqlite_maker.begin() as s:
        more = await _raise(s, world, world.seed.household_ids[1], world.cadre)
        other = await _raise(s, world, world.seed.other_household_ids[0], world.leader)
        await act(s, problems[0].id, world.cadre.id, "progress", NOW, note="a")
        await act(s, problems[0].id, world.cadre.id, "rectify", NOW, note="b")
        await act(s, problems[0].id, world.leader.id, "verify", NOW)
    later = NOW.date() + timedelta(days=40)  # the immediate-tier ones are overdue by then
    async with sqlite_maker() as s:
        everything = await problems_page(s, world.leader, ProblemFilter("all"), later, 0, 50)
        open_ = await problems_page(s, world.leader, ProblemFilter("open"), later, 0, 50)
        overdue = await problems_page(s, world.leader, ProblemFilter("overdue"), later, 0, 50)
        cadre_view = await problems_page(s, world.cadre, ProblemFilter("all"), later, 0, 50)
        houses = await problems_page(
            s, world.leader, ProblemFilter("all", category="住房安全"), later, 0, 50
        )
        village = await problems_page(
            s,
            world.leader,
            ProblemFilter("all", village_code=world.seed.other_village_code),
            later,
        )
        page2 = await problems_page(s, world.leader, ProblemFilter("all"), later, 2, 2)
    assert everything.total == 6
    assert open_.total == 5
    assert {row.category for row in overdue.rows} == {"义务教育"}
    assert overdue.total == 3
    assert cadre_view.total == 4  # not the other village's
    assert houses.total == 3
    assert {row.id for row in village.rows} == {p.id for p in other}
    assert [row.id for row in page2.rows] == [row.id for row in everything.rows[2:4]]
    assert everything.rows[0].id in {p.id for p in other}  # newest first
    assert {p.id for p in more} <= {row.id for row in everything.rows}


async def test_monthly_progress_counts_checks_contacts_and_problems(
    sqlite_maker: Maker, ledger: tuple[World, list[Problem], User]
) -> None:
    world, _, _ = ledger
    async with sqlite_maker() as s:
        schedules = await load_schedules(s)
        villages = [
            schedules.area(world.seed.village_code),
            schedules.area(world.seed.other_village_code),
        ]
        rows = await village_progress(
            s, [v for v in villages if v is not None], schedules, NOW + timedelta(days=40)
        )
    mine, other = rows
    assert mine.households == len(world.seed.household_ids)
    assert other.households == len(world.seed.other_household_ids)
    # NOW is 10 March; forty days on (19 April) the period runs from 4 April: no checks yet.
    assert (mine.checked, mine.period_start, mine.reporting_day) == (
        0,
        date(2025, 4, 4),
        date(2025, 5, 4),
    )
    assert (mine.open_problems, mine.overdue_problems) == (2, 1)
    async with sqlite_maker() as s:
        rows = await village_progress(s, [schedules.area(world.seed.village_code)], schedules, NOW)  # type: ignore[list-item]
    assert (rows[0].checked, rows[0].contacted, rows[0].days_left) == (1, 1, 25)


def test_quiet_hours_hold_until_morning_in_the_areas_zone() -> None:
    schedule = AreaSchedule()
    evening = datetime(2026, 12, 1, 13, 30, tzinfo=schedule.tz).astimezone(schedule.tz)
    late = datetime.fromisoformat("2026-12-01T22:15:00+08:00")
    early = datetime.fromisoformat("2026-12-02T07:59:00+08:00")
    assert not schedule.in_quiet_hours(evening)
    assert schedule.release(late) == datetime.fromisoformat("2026-12-02T08:00:00+08:00")
    assert schedule.release(early) == datetime.fromisoformat("2026-12-02T08:00:00+08:00")
    first = period_of(schedule, date(2026, 12, 1))
    assert (first.name, first.start, first.end) == ("2026-12", date(2026, 11, 4), date(2026, 12, 3))
    second = period_of(schedule, date(2026, 12, 4))
    assert (second.name, second.start, second.end) == (
        "2027-01",
        date(2026, 12, 4),
        date(2027, 1, 3),
    )
