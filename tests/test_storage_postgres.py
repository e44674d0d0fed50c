"""Storage on PostgreSQL (asyncpg): the core of test_storage run against the server named by
HUCHA_TEST_POSTGRES_URL, each test in a fresh database; skipped when none answers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage import (
    Area,
    AuditEntry,
    CheckRecord,
    CheckSession,
    Household,
    InvitationError,
    ProblemEvent,
    StorageError,
    User,
    area_codes_within,
    area_contains,
    audit,
    create_invitation,
    get_session,
    household_in_area,
    households_page,
    import_roster_csv,
    last_checks,
    problems_of_record,
    province_of,
    redeem_invitation,
    save_session,
    seed_demo,
    start_session,
    submit_check,
    upgrade,
    user_by_telegram_id,
)
from storage.checks import set_prompt_message
from tests.storage_fixtures import (
    NOW,
    World,
    deadline_today,
    finished_record,
    make_world,
    migration_diff,
    school_dropout,
    submit_twice_at_once,
    unsafe_house,
)

pytest_plugins = ("tests.storage_fixtures",)
pytestmark = pytest.mark.postgres

Maker = async_sessionmaker[AsyncSession]
SHANGHAI = timezone(timedelta(hours=8))


async def world_in(maker: Maker) -> World:
    async with maker.begin() as s:
        return await make_world(s)


async def test_migration_builds_exactly_the_models_schema(postgres_url: str) -> None:
    await upgrade(postgres_url)
    assert await migration_diff(postgres_url) == []
    await upgrade(postgres_url)
    assert await migration_diff(postgres_url) == []


async def test_every_statement_is_planned_for_its_own_parameters(postgres_maker: Maker) -> None:
    """A generic plan, which PostgreSQL may pick for a statement prepared five times, made the
    county overview three times slower: each run gets a plan of its own."""
    async with postgres_maker() as s:
        for _ in range(7):
            mode = await s.scalar(text("SHOW plan_cache_mode"))
            assert mode == "force_custom_plan"


async def test_area_tree_on_postgres(postgres_maker: Maker) -> None:
    world = await world_in(postgres_maker)
    seed = world.seed
    async with postgres_maker() as s:
        assert await area_codes_within(s, seed.township_code) == sorted(
            [seed.township_code, seed.village_code, seed.other_village_code]
        )
        assert await area_contains(s, seed.county_code, seed.village_code)
        assert not await area_contains(s, seed.village_code, seed.other_village_code)
        assert await province_of(s, seed.village_code) == "江苏"


async def test_invitations_on_postgres(postgres_maker: Maker) -> None:
    world = await world_in(postgres_maker)
    async with postgres_maker.begin() as s:
        invitation = await create_invitation(s, "cadre", world.seed.village_code, NOW)
        short = await create_invitation(
            s, "cadre", world.seed.village_code, NOW, ttl=timedelta(minutes=5)
        )
        with pytest.raises(StorageError):
            await create_invitation(s, "cadre", "404", NOW)
    async with postgres_maker.begin() as s:
        user = await redeem_invitation(
            s, f" {invitation.code.lower()} ", 2**40, "赵磊", "zh_CN", NOW
        )
    async with postgres_maker.begin() as s:
        with pytest.raises(InvitationError) as used:
            await redeem_invitation(s, invitation.code, 7, "乙", None, NOW)
        with pytest.raises(InvitationError) as expired:
            await redeem_invitation(s, short.code, 7, "乙", None, NOW + timedelta(minutes=5))
        with pytest.raises(InvitationError) as unknown:
            await redeem_invitation(s, "ZZZZZZZZ", 7, "乙", None, NOW)
    assert (used.value.reason, expired.value.reason, unknown.value.reason) == (
        "used",
        "expired",
        "unknown",
    )
    async with postgres_maker.begin() as s:
        again = await create_invitation(s, "leader", world.seed.township_code, NOW)
        rebound = await redeem_invitation(s, again.code, 2**40, "赵磊", None, NOW)
    assert rebound.id == user.id
    async with postgres_maker() as s:
        stored = await user_by_telegram_id(s, 2**40)
        assert stored is not None
        assert (stored.role, stored.area_code) == ("leader", world.seed.township_code)
        assert await s.scalar(select(func.count(User.id))) == 3


async def test_households_page_on_postgres(
    postgres_engine: AsyncEngine, postgres_maker: Maker
) -> None:
    world = await world_in(postgres_maker)
    statements: list[object] = []

    def count(*args: object) -> None:
        statements.append(args[2])

    event.listen(postgres_engine.sync_engine, "before_cursor_execute", count)
    try:
        async with postgres_maker() as s:
            page = await households_page(s, world.seed.village_code, limit=5)
    finally:
        event.remove(postgres_engine.sync_engine, "before_cursor_execute", count)
    assert len(statements) == 1
    assert page.total == 12
    assert [row.number for row in page.rows] == ["001", "002", "003", "004", "005"]
    assert page.rows[4].member_count == 8
    async with postgres_maker() as s:
        found = await households_page(s, world.seed.township_code, query="马")
        by_number = await households_page(s, world.seed.village_code, query="01")
        past_end = await households_page(s, world.seed.village_code, offset=100)
        theirs = world.seed.other_household_ids[0]
        assert await household_in_area(s, theirs, world.seed.village_code) is None
        assert await household_in_area(s, theirs, world.seed.county_code) is not None
    assert [row.head_name for row in found.rows] == ["马德明"]
    assert by_number.total == 3
    assert (past_end.rows, past_end.total) == ([], 12)


async def test_submit_check_with_problems_on_postgres(postgres_maker: Maker) -> None:
    world = await world_in(postgres_maker)
    household_id = world.seed.household_ids[0]
    async with postgres_maker.begin() as s:
        session = await start_session(
            s, world.cadre.id, household_id, "household_check", 2**40, {"cursor": "a"}, NOW
        )
        await save_session(s, session.id, {"cursor": "b"}, NOW)
        await set_prompt_message(s, session.id, 2**33, shown_update=2**35)
    async with postgres_maker.begin() as s:
        record, problems = await submit_check(
            s,
            session.id,
            finished_record(school_dropout(), unsafe_house(), at_risk=True),
            world.cadre.id,
            NOW,
            deadline_today,
        )
    async with postgres_maker.begin() as s:
        with pytest.raises(StorageError):
            await submit_check(
                s, session.id, finished_record(), world.cadre.id, NOW, deadline_today
            )
    async with postgres_maker() as s:
        stored_session = await get_session(s, session.id)
        assert stored_session is not None
        assert stored_session.status == "submitted"
        shown = stored_session.telegram
        assert shown is not None
        assert (shown.chat_id, shown.message_id, shown.shown_update) == (2**40, 2**33, 2**35)
        stored = await s.get(CheckRecord, record.id)
        assert stored is not None
        assert stored.income_per_person == Decimal("5800.46")
        assert stored.answers["visit_date"] == "2025-03-10"
        assert stored.at_risk and stored.problems_raised == 2
        assert await s.scalar(select(func.count(CheckRecord.id))) == 1
        dropout, house = await problems_of_record(s, record.id)
        assert (dropout.text, dropout.deadline) == (
            "适龄儿童失学辍学",
            date(2025, 4, 3),
        )  # the end of the period
        assert dropout.text_i18n == school_dropout().text
        assert house.deadline == date(2025, 4, 24)
        events = (await s.scalars(select(ProblemEvent.action))).all()
        assert events == ["raised", "raised"]
        assert await last_checks(s, [household_id]) == {household_id: NOW}
    assert [problem.id for problem in problems] == [dropout.id, house.id]


async def test_simultaneous_submits_make_one_record_on_postgres(postgres_maker: Maker) -> None:
    world = await world_in(postgres_maker)
    outcomes = await submit_twice_at_once(postgres_maker, world)
    assert sorted(type(outcome).__name__ for outcome in outcomes) == [
        "CheckRecord",
        "StorageError",
    ]
    async with postgres_maker() as s:
        assert await s.scalar(select(func.count(CheckRecord.id))) == 1


async def test_database_refuses_a_second_open_check_on_postgres(postgres_maker: Maker) -> None:
    world = await world_in(postgres_maker)
    household_id = world.seed.household_ids[0]
    async with postgres_maker.begin() as s:
        await start_session(s, world.cadre.id, household_id, "f", 1, {}, NOW)
    with pytest.raises(IntegrityError):
        async with postgres_maker.begin() as s:
            s.add(
                CheckSession(
                    user_id=world.cadre.id,
                    household_id=household_id,
                    form_id="f",
                    state={},
                    status="open",
                    created_at=NOW,
                    updated_at=NOW,
                )
            )


async def test_json_and_aware_times_round_trip_on_postgres(postgres_maker: Maker) -> None:
    local = datetime(2025, 3, 10, 10, 30, tzinfo=SHANGHAI)
    settings = {"reporting_day": 4, "quiet_hours": ["21:00", "08:00"], "线": 6000.5}
    async with postgres_maker.begin() as s:
        s.add(
            Area(
                code="1",
                name="测试县",
                level="county",
                province="云南",
                timezone="Asia/Shanghai",
                settings=settings,
            )
        )
        entry = await audit(s, "test", "area:1", local, details={"nested": {"列表": [1, None]}})
    async with postgres_maker() as s:
        area = await s.get(Area, "1")
        stored = await s.get(AuditEntry, entry.id)
        assert area is not None and stored is not None
        assert area.settings == settings
        assert stored.details == {"nested": {"列表": [1, None]}}
        assert stored.at == local
        assert stored.at.tzinfo is UTC and stored.at.hour == 2


async def test_roster_import_and_demo_seed_are_idempotent_on_postgres(
    postgres_maker: Maker,
) -> None:
    roster = (
        "村,户编号,户主姓名,身份证号,与户主关系,姓名,出生日期\n"
        "320705001001,101,钱多多,,户主,钱多多,1980-01-01\n"
        "320705001001,101,钱多多,,之子,钱小宝,2015-09-01\n"
        "320705001001,102,孙某,,户主,孙某,1980-02-30\n"
    )
    async with postgres_maker.begin() as s:
        first_seed = await seed_demo(s, NOW)
        first = await import_roster_csv(s, roster, NOW)
    async with postgres_maker.begin() as s:
        second_seed = await seed_demo(s, NOW)
        second = await import_roster_csv(s, roster, NOW)
    assert first_seed == second_seed
    assert (first.added_households, first.members_added) == (1, 2)
    assert [(e.line, e.column) for e in first.errors] == [(4, "出生日期")]
    assert (second.added_households, second.unchanged, second.members_added) == (0, 1, 0)
    async with postgres_maker() as s:
        assert await s.scalar(select(func.count(Household.id))) == 15
