"""Storage on SQLite: migrations, areas, invitations, households, checks, problems, imports and
the demo seed, each on a temporary database file migrated with `upgrade()`."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from conversations.model import Record
from storage import (
    AuditEntry,
    CheckRecord,
    CheckSession,
    Household,
    InvitationError,
    Member,
    Problem,
    ProblemEvent,
    StorageError,
    User,
    add_area,
    area_codes_within,
    area_contains,
    audit,
    create_invitation,
    database_url_from_env,
    deadline_from,
    discard_session,
    get_area,
    get_session,
    household_in_area,
    households_page,
    import_roster_csv,
    last_checks,
    open_session,
    open_sessions_of,
    problems_of_record,
    province_of,
    records_of_household,
    redeem_invitation,
    roster_of,
    save_session,
    seed_demo,
    set_active,
    set_language,
    start_session,
    submit_check,
    upgrade,
    user_by_telegram_id,
)
from storage.checks import set_prompt_message
from storage.deadlines import due_on
from storage.schedule import schedule_from
from storage.users import INVITATION_ALPHABET
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

Maker = async_sessionmaker[AsyncSession]
SHANGHAI = timezone(timedelta(hours=8))


def age_on(today: date, birth_date: date) -> int:
    birthday_to_come = (today.month, today.day) < (birth_date.month, birth_date.day)
    return today.year - birth_date.year - birthday_to_come


async def world_in(maker: Maker) -> World:
    async with maker.begin() as s:
        return await make_world(s)


# ---------------------------------------------------------------- database and migrations


async def test_migration_builds_exactly_the_models_schema(sqlite_url: str) -> None:
    assert await migration_diff(sqlite_url) == []


async def test_upgrade_twice_inside_the_running_loop_changes_nothing(sqlite_url: str) -> None:
    await upgrade(sqlite_url)
    assert await migration_diff(sqlite_url) == []


async def test_engine_turns_on_foreign_keys_and_wal(sqlite_engine: AsyncEngine) -> None:
    async with sqlite_engine.connect() as connection:
        assert (await connection.execute(text("PRAGMA foreign_keys"))).scalar() == 1
        assert (await connection.execute(text("PRAGMA journal_mode"))).scalar() == "wal"


async def test_foreign_keys_are_enforced(sqlite_maker: Maker) -> None:
    with pytest.raises(IntegrityError):
        async with sqlite_maker.begin() as s:
            s.add(
                User(
                    name="无名",
                    role="cadre",
                    area_code="999",
                    active=True,
                    created_at=NOW,
                )
            )


def test_database_url_defaults_to_a_sqlite_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert database_url_from_env() == "sqlite+aiosqlite:///hucha.db"


@pytest.mark.parametrize(
    ("given_url", "expected"),
    [
        ("postgres://u:p@db/hucha", "postgresql+asyncpg://u:p@db/hucha"),
        ("postgresql://u@db/hucha", "postgresql+asyncpg://u@db/hucha"),
        ("postgresql+asyncpg://u@db/hucha", "postgresql+asyncpg://u@db/hucha"),
        ("sqlite:///var/hucha.db", "sqlite+aiosqlite:///var/hucha.db"),
    ],
)
def test_database_url_from_env_uses_async_drivers(
    monkeypatch: pytest.MonkeyPatch, given_url: str, expected: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", given_url)
    assert database_url_from_env() == expected


async def test_times_come_back_aware_in_utc(sqlite_maker: Maker) -> None:
    local = datetime(2025, 3, 10, 10, 30, tzinfo=SHANGHAI)
    async with sqlite_maker.begin() as s:
        entry = await audit(s, "test.time", "clock", local, details={"when": local})
        entry_id = entry.id
    async with sqlite_maker() as s:
        stored = await s.get(AuditEntry, entry_id)
        assert stored is not None
        assert stored.at == local
        assert stored.at.tzinfo is UTC
        assert stored.at.hour == 2
        assert stored.details == {"when": "2025-03-10T10:30:00+08:00"}


async def test_naive_times_are_refused(sqlite_maker: Maker) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        async with sqlite_maker.begin() as s:
            await audit(s, "test.time", "clock", datetime(2025, 3, 10, 10, 30))


async def test_json_settings_round_trip(sqlite_maker: Maker) -> None:
    async with sqlite_maker.begin() as s:
        area = await add_area(s, "110000", "测试市", "county", province="北京")
        area.settings = {"reporting_day": 4, "quiet": ["21:00", "08:00"], "名称": "月报"}
    async with sqlite_maker() as s:
        stored = await get_area(s, "110000")
        assert stored is not None
        assert stored.settings == {"reporting_day": 4, "quiet": ["21:00", "08:00"], "名称": "月报"}
        assert stored.timezone == "Asia/Shanghai"


# ---------------------------------------------------------------- areas


async def test_area_tree_answers_containment(sqlite_maker: Maker) -> None:
    world = await world_in(sqlite_maker)
    seed = world.seed
    async with sqlite_maker() as s:
        assert await area_codes_within(s, seed.county_code) == sorted(
            [seed.county_code, seed.township_code, seed.village_code, seed.other_village_code]
        )
        assert await area_codes_within(s, seed.village_code) == [seed.village_code]
        assert await area_codes_within(s, "nowhere") == []
        assert await area_contains(s, seed.county_code, seed.village_code)
        assert await area_contains(s, seed.village_code, seed.village_code)
        assert not await area_contains(s, seed.village_code, seed.other_village_code)
        assert not await area_contains(s, seed.village_code, seed.township_code)


async def test_province_is_found_by_walking_up(sqlite_maker: Maker) -> None:
    world = await world_in(sqlite_maker)
    async with sqlite_maker.begin() as s:
        assert await province_of(s, world.seed.village_code) == "江苏"
        await add_area(s, "530000", "某县", "county")
        assert await province_of(s, "530000") is None
        assert await province_of(s, "nowhere") is None


async def test_add_area_refuses_bad_levels_parents_and_duplicates(sqlite_maker: Maker) -> None:
    async with sqlite_maker.begin() as s:
        await add_area(s, "1", "县", "county")
        with pytest.raises(StorageError) as bad_level:
            await add_area(s, "2", "省", "province")
        assert bad_level.value.params == {"level": "province"}
        with pytest.raises(StorageError):
            await add_area(s, "3", "镇", "township", parent_code="404")
        with pytest.raises(StorageError):
            await add_area(s, "1", "县", "county")
        with pytest.raises(StorageError):
            await add_area(s, "5", "县", "county", timezone="Mars/Olympus")
        group = await add_area(s, "4", "一组", "group", parent_code="1")
        assert group.parent_code == "1"


# ---------------------------------------------------------------- invitations and users


async def test_invitation_codes_are_unambiguous(sqlite_maker: Maker) -> None:
    world = await world_in(sqlite_maker)
    async with sqlite_maker.begin() as s:
        invitation = await create_invitation(s, "office", world.seed.county_code, NOW)
    assert len(invitation.code) == 8
    assert set(invitation.code) <= set(INVITATION_ALPHABET)
    assert not set(invitation.code) & set("0O1I")
    assert invitation.expires_at == NOW + timedelta(days=7)
    assert invitation.used_at is None


async def test_invitation_needs_a_known_role_and_area(sqlite_maker: Maker) -> None:
    await world_in(sqlite_maker)
    async with sqlite_maker.begin() as s:
        with pytest.raises(StorageError):
            await create_invitation(s, "cadre", "320705", NOW, ttl=timedelta(0))
        with pytest.raises(StorageError) as role:
            await create_invitation(s, "king", "320705", NOW)
        assert role.value.params == {"role": "king"}
        with pytest.raises(StorageError) as area:
            await create_invitation(s, "cadre", "999999", NOW)
        assert area.value.params == {"code": "999999"}


async def test_newcomer_redeems_invitation_typed_loosely(sqlite_maker: Maker) -> None:
    world = await world_in(sqlite_maker)
    async with sqlite_maker.begin() as s:
        invitation = await create_invitation(
            s, "cadre", world.seed.village_code, NOW, created_by_user_id=world.leader.id
        )
    typed = " " + invitation.code[:4].lower() + " " + invitation.code[4:].lower() + " "
    async with sqlite_maker.begin() as s:
        user = await redeem_invitation(s, typed, 2001, "赵磊", None, NOW + timedelta(days=1))
    async with sqlite_maker() as s:
        registered = await user_by_telegram_id(s, 2001)
        assert registered is not None
        assert (registered.id, registered.role, registered.area_code) == (
            user.id,
            "cadre",
            world.seed.village_code,
        )
        assert registered.active and registered.language is None
        entries = (
            await s.scalars(select(AuditEntry).where(AuditEntry.action == "user.registered"))
        ).all()
        assert [entry.subject for entry in entries][-1] == f"user:{user.id}"


async def test_unknown_client_language_is_dropped_not_refused(sqlite_maker: Maker) -> None:
    world = await world_in(sqlite_maker)
    async with sqlite_maker.begin() as s:
        invitation = await create_invitation(s, "cadre", world.seed.village_code, NOW)
        user = await redeem_invitation(s, invitation.code, 2002, "Ann", "fr", NOW)
    assert user.language is None


async def test_invitation_is_used_once(sqlite_maker: Maker) -> None:
    world = await world_in(sqlite_maker)
    async with sqlite_maker.begin() as s:
        invitation = await create_invitation(s, "cadre", world.seed.village_code, NOW)
        await redeem_invitation(s, invitation.code, 3001, "甲", "zh_CN", NOW)
    async with sqlite_maker.begin() as s:
        with pytest.raises(InvitationError) as error:
            await redeem_invitation(s, invitation.code, 3002, "乙", "zh_CN", NOW)
    assert error.value.reason == "used"
    assert error.value.message_id.startswith("This invitation code has been used")


async def test_unknown_and_expired_invitations_are_refused(sqlite_maker: Maker) -> None:
    world = await world_in(sqlite_maker)
    async with sqlite_maker.begin() as s:
        invitation = await create_invitation(
            s, "cadre", world.seed.village_code, NOW, ttl=timedelta(hours=1)
        )
    async with sqlite_maker.begin() as s:
        with pytest.raises(InvitationError) as unknown:
            await redeem_invitation(s, "ABCDEFGH", 4001, "丙", None, NOW)
        with pytest.raises(InvitationError) as expired:
            await redeem_invitation(s, invitation.code, 4001, "丙", None, NOW + timedelta(hours=1))
    assert (unknown.value.reason, expired.value.reason) == ("unknown", "expired")
    async with sqlite_maker() as s:
        assert await user_by_telegram_id(s, 4001) is None


async def test_known_user_is_rebound_by_a_new_invitation(sqlite_maker: Maker) -> None:
    world = await world_in(sqlite_maker)
    async with sqlite_maker.begin() as s:
        await set_active(s, world.cadre.id, False)
        invitation = await create_invitation(s, "leader", world.seed.township_code, NOW)
        user = await redeem_invitation(s, invitation.code, 1001, "李卫东", "en", NOW)
    assert user.id == world.cadre.id
    assert (user.role, user.area_code, user.active) == ("leader", world.seed.township_code, True)
    assert user.language == "zh_CN"  # the user's own choice stays
    async with sqlite_maker() as s:
        assert await s.scalar(select(func.count(User.id))) == 2
        stored = await s.get(type(invitation), invitation.code)
        assert stored is not None and stored.used_by_user_id == user.id


async def test_language_and_activity_are_set(sqlite_maker: Maker) -> None:
    world = await world_in(sqlite_maker)
    async with sqlite_maker.begin() as s:
        await set_language(s, world.cadre.id, "en")
        await set_active(s, world.cadre.id, False)
        with pytest.raises(StorageError):
            await set_language(s, world.cadre.id, "fr")
        with pytest.raises(StorageError):
            await set_active(s, 9999, True)
    async with sqlite_maker() as s:
        user = await user_by_telegram_id(s, 1001)
        assert user is not None
        assert (user.language, user.active) == ("en", False)


# ---------------------------------------------------------------- households


async def test_households_page_lists_the_area_by_number(sqlite_maker: Maker) -> None:
    world = await world_in(sqlite_maker)
    async with sqlite_maker() as s:
        first = await households_page(s, world.seed.village_code)
        second = await households_page(s, world.seed.village_code, offset=8)
        township = await households_page(s, world.seed.township_code, limit=100)
    assert first.total == second.total == 12
    assert [row.number for row in first.rows] == [f"{n:03d}" for n in range(1, 9)]
    assert [row.number for row in second.rows] == ["009", "010", "011", "012"]
    assert first.rows[0].head_name == "王建国"
    assert first.rows[0].village_name == "幸福村"
    assert first.rows[0].member_count == 4
    assert first.rows[0].last_check_at is None
    assert township.total == 14
    assert {row.village_name for row in township.rows} == {"幸福村", "红星村"}


async def test_households_page_searches_name_or_number(sqlite_maker: Maker) -> None:
    world = await world_in(sqlite_maker)
    village = world.seed.village_code
    async with sqlite_maker() as s:
        by_name = await households_page(s, village, query="建国")
        by_number = await households_page(s, village, query=" 01")
        by_full_number = await households_page(s, village, query="012")
        nothing = await households_page(s, village, query="%")
        outside = await households_page(s, village, query="马德明")
    assert [row.head_name for row in by_name.rows] == ["王建国"]
    assert by_number.total == 3 and [r.number for r in by_number.rows] == ["010", "011", "012"]
    assert [row.head_name for row in by_full_number.rows] == ["何春生"]
    assert nothing.total == 0 and nothing.rows == []
    assert outside.total == 0


async def test_households_page_past_the_end_still_counts(sqlite_maker: Maker) -> None:
    world = await world_in(sqlite_maker)
    async with sqlite_maker() as s:
        page = await households_page(s, world.seed.village_code, offset=40)
    assert page.rows == [] and page.total == 12


async def test_households_page_is_one_statement(
    sqlite_engine: AsyncEngine, sqlite_maker: Maker
) -> None:
    world = await world_in(sqlite_maker)
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(sqlite_engine.sync_engine, "before_cursor_execute", count)
    try:
        async with sqlite_maker() as s:
            page = await households_page(s, world.seed.township_code, query="0")
    finally:
        event.remove(sqlite_engine.sync_engine, "before_cursor_execute", count)
    assert page.total == 14
    assert len(statements) == 1


async def test_household_outside_the_users_area_is_hidden(sqlite_maker: Maker) -> None:
    world = await world_in(sqlite_maker)
    mine, theirs = world.seed.household_ids[0], world.seed.other_household_ids[0]
    async with sqlite_maker() as s:
        household = await household_in_area(s, mine, world.seed.village_code)
        assert household is not None and household.head_name == "王建国"
        assert await household_in_area(s, theirs, world.seed.village_code) is None
        assert await household_in_area(s, theirs, world.seed.township_code) is not None
        assert await household_in_area(s, 999999, world.seed.county_code) is None


async def test_roster_lists_active_members_head_first(sqlite_maker: Maker) -> None:
    world = await world_in(sqlite_maker)
    household_id = world.seed.household_ids[4]  # 赵永福, eight members
    async with sqlite_maker.begin() as s:
        grandmother = await s.scalar(select(Member).where(Member.name == "钱桂芝"))
        assert grandmother is not None
        grandmother.active = False
        roster = await roster_of(s, household_id)
    assert roster[0]["relation"] == "户主" and roster[0]["name"] == "赵永福"
    assert len(roster) == 7
    assert "钱桂芝" not in [member["name"] for member in roster]
    child = next(member for member in roster if member["name"] == "赵子墨")
    assert set(child) == {
        "member_id",
        "name",
        "relation",
        "sex",
        "birth_date",
        "health",
        "schooling",
        "health_on_roster",
        "schooling_on_roster",
    }
    assert age_on(NOW.date(), date.fromisoformat(child["birth_date"])) == 7


# ---------------------------------------------------------------- check sessions


async def test_cadre_has_one_open_check_per_household(sqlite_maker: Maker) -> None:
    world = await world_in(sqlite_maker)
    household_id = world.seed.household_ids[0]
    async with sqlite_maker.begin() as s:
        session = await start_session(
            s, world.cadre.id, household_id, "household_check", 1001, {"cursor": "a"}, NOW
        )
    async with sqlite_maker.begin() as s:
        with pytest.raises(StorageError) as twice:
            await start_session(s, world.cadre.id, household_id, "household_check", 1001, {}, NOW)
    assert twice.value.message_id == "You already have an open check of this household."
    async with sqlite_maker() as s:
        found = await open_session(s, world.cadre.id, household_id)
        assert found is not None and found.id == session.id
        assert await open_session(s, world.leader.id, household_id) is None
        assert [o.id for o in await open_sessions_of(s, world.cadre.id)] == [session.id]


async def test_database_refuses_a_second_open_check_too(sqlite_maker: Maker) -> None:
    world = await world_in(sqlite_maker)
    household_id = world.seed.household_ids[0]
    async with sqlite_maker.begin() as s:
        await start_session(s, world.cadre.id, household_id, "f", 1, {}, NOW)
    with pytest.raises(IntegrityError):
        async with sqlite_maker.begin() as s:
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


async def test_session_state_is_saved_after_every_answer(sqlite_maker: Maker) -> None:
    world = await world_in(sqlite_maker)
    async with sqlite_maker.begin() as s:
        session = await start_session(
            s, world.cadre.id, world.seed.household_ids[1], "f", 1001, {"cursor": "a"}, NOW
        )
    later = NOW + timedelta(minutes=3)
    async with sqlite_maker.begin() as s:
        await save_session(s, session.id, {"cursor": "b"}, later)
        await set_prompt_message(s, session.id, 77, shown_update=5)
    async with sqlite_maker.begin() as s:
        await save_session(
            s, session.id, {"cursor": "c", "answers": {"born": date(2015, 5, 1)}}, later
        )
    async with sqlite_maker() as s:
        stored = await get_session(s, session.id)
        assert stored is not None
        assert stored.state == {"cursor": "c", "answers": {"born": "2015-05-01"}}
        assert stored.updated_at == later and stored.created_at == NOW
        assert stored.telegram is not None
        assert (stored.telegram.chat_id, stored.telegram.message_id) == (1001, 77)
        assert stored.telegram.shown_update == 5
        assert await get_session(s, 424242) is None


async def test_discarded_check_can_be_restarted(sqlite_maker: Maker) -> None:
    world = await world_in(sqlite_maker)
    household_id = world.seed.household_ids[1]
    async with sqlite_maker.begin() as s:
        session = await start_session(s, world.cadre.id, household_id, "f", 1, {}, NOW)
        await discard_session(s, session.id, NOW)
        with pytest.raises(StorageError):
            await save_session(s, session.id, {}, NOW)
        with pytest.raises(StorageError):
            await discard_session(s, session.id, NOW)
        again = await start_session(s, world.cadre.id, household_id, "f", 1, {}, NOW)
    async with sqlite_maker() as s:
        discarded = await get_session(s, session.id)
        assert discarded is not None and discarded.status == "discarded"
        assert [o.id for o in await open_sessions_of(s, world.cadre.id)] == [again.id]


async def test_saving_an_answer_is_one_update_and_keeps_the_loaded_check_in_step(
    sqlite_engine: AsyncEngine, sqlite_maker: Maker
) -> None:
    world = await world_in(sqlite_maker)
    async with sqlite_maker.begin() as s:
        session = await start_session(
            s, world.cadre.id, world.seed.household_ids[1], "f", 1001, {"cursor": "a"}, NOW
        )
    later = NOW + timedelta(minutes=3)
    statements: list[str] = []

    def record(*args: object) -> None:
        statements.append(" ".join(str(args[2]).split()))

    async with sqlite_maker.begin() as s:
        loaded = await get_session(s, session.id)
        assert loaded is not None and loaded.telegram is not None
        # A change pending in the transaction is written first, as a flush would write it.
        loaded.telegram.message_id = 77
        event.listen(sqlite_engine.sync_engine, "before_cursor_execute", record)
        try:
            await save_session(s, session.id, {"cursor": "b", "on": date(2026, 5, 1)}, later)
            assert loaded.state == {"cursor": "b", "on": "2026-05-01"}
            assert loaded.updated_at == later
            # Nothing left for a flush to write: the commit writes the row no second time.
            assert not s.dirty
            await s.commit()
        finally:
            event.remove(sqlite_engine.sync_engine, "before_cursor_execute", record)
    assert [statement.split(" SET ")[0] for statement in statements] == [
        "UPDATE telegram_prompts",
        "UPDATE check_sessions",
    ], statements
    assert "status" in statements[1].split(" WHERE ")[1], statements
    async with sqlite_maker() as s:
        stored = await get_session(s, session.id)
        assert stored is not None and stored.telegram is not None
        assert (stored.state, stored.updated_at) == ({"cursor": "b", "on": "2026-05-01"}, later)
        assert stored.telegram.message_id == 77


async def test_an_answer_to_a_check_closed_meanwhile_is_refused(sqlite_maker: Maker) -> None:
    world = await world_in(sqlite_maker)
    async with sqlite_maker.begin() as s:
        session = await start_session(
            s, world.cadre.id, world.seed.household_ids[1], "f", 1001, {"cursor": "a"}, NOW
        )
    async with sqlite_maker() as s:
        loaded = await get_session(s, session.id)
        assert loaded is not None and loaded.status == "open"
        # Closed elsewhere (another instance of the bot) after this one read it open.
        async with sqlite_maker.begin() as other:
            await discard_session(other, session.id, NOW)
        with pytest.raises(StorageError) as closed:
            await save_session(s, session.id, {"cursor": "b"}, NOW)
        assert closed.value.message_id == "This check is no longer open."
        with pytest.raises(StorageError) as missing:
            await save_session(s, 424242, {}, NOW)
        assert missing.value.message_id == "This check does not exist."
    async with sqlite_maker() as s:
        stored = await get_session(s, session.id)
        assert stored is not None and stored.state == {"cursor": "a"}


async def test_start_session_refuses_unknown_household(sqlite_maker: Maker) -> None:
    world = await world_in(sqlite_maker)
    async with sqlite_maker.begin() as s:
        with pytest.raises(StorageError):
            await start_session(s, world.cadre.id, 999999, "f", 1, {}, NOW)


# ---------------------------------------------------------------- submitting checks


async def submitted(maker: Maker, world: World, household_index: int = 0) -> tuple[int, int]:
    """Start and submit a check with two problems; returns (session id, record id)."""
    async with maker.begin() as s:
        session = await start_session(
            s, world.cadre.id, world.seed.household_ids[household_index], "f", 1, {}, NOW
        )
        record, _ = await submit_check(
            s,
            session.id,
            finished_record(school_dropout(), unsafe_house(), at_risk=True),
            world.cadre.id,
            NOW,
            deadline_today,
        )
    return session.id, record.id


async def test_submitted_check_becomes_record_and_problems(sqlite_maker: Maker) -> None:
    world = await world_in(sqlite_maker)
    household_id = world.seed.household_ids[0]
    session_id, record_id = await submitted(sqlite_maker, world)
    async with sqlite_maker() as s:
        session = await get_session(s, session_id)
        assert session is not None and session.status == "submitted"
        record = await s.get(CheckRecord, record_id)
        assert record is not None
        assert (record.household_id, record.cadre_user_id) == (household_id, world.cadre.id)
        assert (record.form_id, record.form_version) == ("household_check", "2025.1")
        assert (record.visit_type, record.housing_grade) == ("home_visit", "C")
        assert record.income_per_person == Decimal("5800.46")
        assert record.at_risk and record.problems_raised == 2
        assert record.submitted_at == NOW
        assert record.answers["visit_date"] == "2025-03-10"
        assert record.answers["risks"] == ["illness", "education"]
        assert record.answers["children"] == [{"name": "王小明", "status": "dropped_out"}]

        dropout, house = await problems_of_record(s, record_id)
        assert dropout.text == "适龄儿童失学辍学"
        assert dropout.text_i18n["en"] == "A school-age child has dropped out"
        assert dropout.goal == "劝返复学"
        assert dropout.goal_i18n == {"zh_CN": "劝返复学", "en": "The child is back at school"}
        assert dropout.measures == "村干部和学校联合劝返"
        assert dropout.deadline == date(2025, 4, 3)  # 立行立改: the end of the period
        assert (dropout.deadline_tier, dropout.subject) == ("immediate", "王小明")
        assert (dropout.status, dropout.household_id) == ("open", household_id)
        assert dropout.created_by_user_id == world.cadre.id
        assert house.measures == "" and house.deadline == date(2025, 4, 24)
        assert house.responsible_unit == "housing" and house.rule_id == "housing_cd"

        events = (await s.scalars(select(ProblemEvent).order_by(ProblemEvent.id))).all()
        assert [(e.problem_id, e.action, e.from_status, e.to_status) for e in events] == [
            (dropout.id, "raised", None, "open"),
            (house.id, "raised", None, "open"),
        ]
        entry = await s.scalar(select(AuditEntry).where(AuditEntry.action == "check.submitted"))
        assert entry is not None and entry.subject == f"household:{household_id}"
        assert entry.details["problems"] == [dropout.id, house.id]


async def test_double_submit_makes_one_record(sqlite_maker: Maker) -> None:
    world = await world_in(sqlite_maker)
    session_id, _ = await submitted(sqlite_maker, world)
    async with sqlite_maker.begin() as s:
        with pytest.raises(StorageError) as again:
            await submit_check(
                s, session_id, finished_record(unsafe_house()), world.cadre.id, NOW, deadline_today
            )
        with pytest.raises(StorageError):
            await submit_check(s, 999999, finished_record(), world.cadre.id, NOW, deadline_today)
    assert again.value.message_id == "This check is no longer open."
    async with sqlite_maker() as s:
        assert await s.scalar(select(func.count(CheckRecord.id))) == 1
        assert await s.scalar(select(func.count(Problem.id))) == 2


async def test_simultaneous_submits_make_one_record(sqlite_maker: Maker) -> None:
    world = await world_in(sqlite_maker)
    outcomes = await submit_twice_at_once(sqlite_maker, world)
    assert sorted(type(outcome).__name__ for outcome in outcomes) == [
        "CheckRecord",
        "StorageError",
    ]
    async with sqlite_maker() as s:
        assert await s.scalar(select(func.count(CheckRecord.id))) == 1
        assert await s.scalar(select(func.count(Problem.id))) == 1


async def test_check_without_problems_records_plain_answers(sqlite_maker: Maker) -> None:
    world = await world_in(sqlite_maker)
    async with sqlite_maker.begin() as s:
        session = await start_session(
            s, world.cadre.id, world.seed.household_ids[2], "f", 1, {}, NOW
        )
        record, problems = await submit_check(
            s,
            session.id,
            Record(form_id="f", form_version="1", answers={"income_per_person": "x"}, problems=()),
            world.cadre.id,
            NOW,
            deadline_today,
        )
    assert problems == []
    assert record.income_per_person is None and record.visit_type is None
    assert record.problems_raised == 0 and not record.at_risk


async def test_last_checks_and_history_of_a_household(sqlite_maker: Maker) -> None:
    world = await world_in(sqlite_maker)
    household_id = world.seed.household_ids[0]
    _, first_id = await submitted(sqlite_maker, world)
    later = NOW + timedelta(days=20)
    async with sqlite_maker.begin() as s:
        session = await start_session(s, world.leader.id, household_id, "f", 2, {}, later)
        second, _ = await submit_check(
            s, session.id, finished_record(), world.leader.id, later, deadline_today
        )
    async with sqlite_maker() as s:
        checks = await last_checks(s, [household_id, world.seed.household_ids[1]])
        assert checks == {household_id: later}
        assert checks[household_id].tzinfo is UTC
        assert await last_checks(s, []) == {}
        history = await records_of_household(s, household_id)
        assert [record.id for record in history] == [second.id, first_id]
        page = await households_page(s, world.seed.village_code, query="王建国")
        assert page.rows[0].last_check_at == later
        assert page.rows[0].last_check_at.tzinfo is UTC
        assert await problems_of_record(s, second.id) == []


# ---------------------------------------------------------------- deadlines


@pytest.mark.parametrize(
    ("days", "tier", "today", "expected"),
    [
        (10, "ongoing", date(2025, 3, 10), date(2025, 3, 20)),
        # 立行立改: the last day of the reporting period (the eve of the 4th)...
        (None, "immediate", date(2025, 3, 10), date(2025, 4, 3)),
        # ...or of the next one when fewer than 7 days are left.
        (None, "immediate", date(2024, 2, 3), date(2024, 3, 3)),
        (None, "immediate", date(2025, 12, 31), date(2026, 2, 3)),
        # Found on 20 December: not due on the 31st, nor a few days later.
        (None, "immediate", date(2026, 12, 20), date(2027, 1, 3)),
        (None, "timed", date(2025, 3, 10), date(2025, 5, 9)),
        (None, "staged", date(2025, 3, 10), date(2025, 5, 9)),  # the former name
        # 长期坚持: the first review at the end of the period, never the year's end.
        (None, "ongoing", date(2025, 3, 10), date(2025, 4, 3)),
        (None, "ongoing", date(2026, 12, 20), date(2027, 1, 3)),
        (None, None, date(2025, 3, 10), date(2025, 4, 9)),
        (None, "whenever", date(2025, 3, 10), date(2025, 4, 9)),
    ],
)
def test_deadline_policy(days: int | None, tier: str | None, today: date, expected: date) -> None:
    assert deadline_from(days, tier, today) == expected


def test_an_immediate_fix_found_late_in_a_period_rolls_to_the_next_period_end() -> None:
    late = schedule_from({"reporting_day": 25}, None)
    # Found on 20 December, the period ends on the 24th: too close, so the next period's end.
    assert due_on(None, "immediate", date(2026, 12, 20), late) == (
        date(2027, 1, 24),
        "immediate",
    )
    assert due_on(None, "immediate", date(2026, 12, 10), late) == (date(2026, 12, 24), "immediate")
    keen = schedule_from({"reporting_day": 25, "deadline_min_days": 3}, None)
    assert due_on(None, "immediate", date(2026, 12, 20), keen) == (date(2026, 12, 24), "immediate")


@given(
    st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 1)),
    st.sampled_from([None, "immediate", "timed", "ongoing"]),
    st.integers(min_value=1, max_value=28),
)
def test_tier_deadlines_never_fall_within_days_of_the_finding(
    today: date, tier: str | None, reporting_day: int
) -> None:
    schedule = schedule_from({"reporting_day": reporting_day}, None)
    deadline = deadline_from(None, tier, today, schedule)
    assert today + timedelta(days=schedule.deadline_min_days) <= deadline
    assert deadline <= today + timedelta(days=70)


# ---------------------------------------------------------------- audit


async def test_audit_entry_records_who_what_when(sqlite_maker: Maker) -> None:
    world = await world_in(sqlite_maker)
    async with sqlite_maker.begin() as s:
        entry = await audit(
            s, "export.unmasked", "area:320705", NOW, user_id=world.leader.id, details={"n": 3}
        )
    async with sqlite_maker() as s:
        stored = await s.get(AuditEntry, entry.id)
        assert stored is not None
        assert (stored.action, stored.subject, stored.user_id) == (
            "export.unmasked",
            "area:320705",
            world.leader.id,
        )
        assert (stored.at, stored.details) == (NOW, {"n": 3})


# ---------------------------------------------------------------- roster import

ROSTER = """\ufeff村,户编号,户主姓名,身份证号,与户主关系,姓名,出生日期
320705001001,101,钱多多,32070519800101019x,户主,钱多多,1980-01-01
320705001001,101,钱多多,,配偶,孙小美,1982/3/4
320705001001,101,钱多多,,之子,钱小宝,2015年9月1日
320705001002,201,马大哈,,户主,马大哈,19700707
"""

BAD_ROWS = """村,户编号,户主姓名,身份证号,与户主关系,姓名,出生日期
999999999999,301,无名,,户主,无名,
320705001001,,赵某,,户主,赵某,
320705001001,302,何某,,户主,,
320705001001,303,冯某,,户主,冯某,1990-13-01
320705001,304,镇上,,户主,镇上,
320705001001,305,冯好,,户主,冯好,1991-02-03
"""


async def test_roster_import_adds_households_and_members(sqlite_maker: Maker) -> None:
    await world_in(sqlite_maker)
    async with sqlite_maker.begin() as s:
        report = await import_roster_csv(s, ROSTER, NOW)
    assert (report.added_households, report.updated_households, report.unchanged) == (2, 0, 0)
    assert report.members_added == 4 and report.errors == []
    async with sqlite_maker() as s:
        household = await s.scalar(select(Household).where(Household.number == "101"))
        assert household is not None
        assert (household.village_code, household.head_name) == ("320705001001", "钱多多")
        assert household.head_id_number == "32070519800101019X"
        roster = await roster_of(s, household.id)
        assert [(m["name"], m["relation"], m["birth_date"]) for m in roster] == [
            ("钱多多", "户主", "1980-01-01"),
            ("孙小美", "配偶", "1982-03-04"),
            ("钱小宝", "之子", "2015-09-01"),
        ]


async def test_importing_the_same_roster_twice_changes_nothing(
    sqlite_maker: Maker, tmp_path: Path
) -> None:
    await world_in(sqlite_maker)
    path = tmp_path / "roster.csv"
    path.write_bytes(ROSTER.encode("utf-8"))
    async with sqlite_maker.begin() as s:
        await import_roster_csv(s, path, NOW)
    async with sqlite_maker.begin() as s:
        again = await import_roster_csv(s, str(path), NOW + timedelta(days=1))
    assert (again.added_households, again.updated_households, again.unchanged) == (0, 0, 2)
    assert again.members_added == 0 and again.members_updated == 0 and again.errors == []
    async with sqlite_maker() as s:
        household = await s.scalar(select(Household).where(Household.number == "101"))
        assert household is not None and household.updated_at == NOW
        members = select(func.count(Member.id)).where(Member.household_id == household.id)
        assert await s.scalar(members) == 3


async def test_roster_import_updates_changed_households(sqlite_maker: Maker) -> None:
    await world_in(sqlite_maker)
    async with sqlite_maker.begin() as s:
        await import_roster_csv(s, ROSTER, NOW)
    changed = ROSTER.replace("2015年9月1日", "2015-09-02") + (
        "320705001001,101,钱多多,,之女,钱小贝,2019-06-01\n"
    )
    async with sqlite_maker.begin() as s:
        report = await import_roster_csv(s, changed, NOW)
    assert (report.added_households, report.updated_households, report.unchanged) == (0, 1, 1)
    assert (report.members_added, report.members_updated) == (1, 1)


async def test_bad_roster_rows_are_reported_and_good_rows_kept(sqlite_maker: Maker) -> None:
    await world_in(sqlite_maker)
    async with sqlite_maker.begin() as s:
        report = await import_roster_csv(s, BAD_ROWS, NOW)
    assert [(e.line, e.column) for e in report.errors] == [
        (2, "村"),
        (3, "户编号"),
        (4, "姓名"),
        (5, "出生日期"),
        (6, "村"),
    ]
    assert report.errors[0].params == {"code": "999999999999"}
    assert report.errors[3].params == {"value": "1990-13-01"}
    assert report.added_households == 1
    async with sqlite_maker() as s:
        head = select(Household.head_name).where(Household.number == "305")
        assert await s.scalar(head) == "冯好"


async def test_roster_without_required_columns_is_refused(sqlite_maker: Maker) -> None:
    async with sqlite_maker.begin() as s:
        report = await import_roster_csv(s, "村,姓名\n320705001001,某人\n", NOW)
        missing_file = await import_roster_csv(s, "/nonexistent/roster.csv", NOW)
    assert [(e.line, e.column) for e in report.errors] == [(1, "户编号")]
    assert report.added_households == 0
    assert [e.line for e in missing_file.errors] == [0]


# ---------------------------------------------------------------- demo seed


async def test_demo_seed_makes_a_village_worth_checking(sqlite_maker: Maker) -> None:
    async with sqlite_maker.begin() as s:
        seed = await seed_demo(s, NOW)
    assert seed.village_code == "320705001001"
    assert 10 <= len(seed.household_ids) <= 12 and len(seed.other_household_ids) == 2
    async with sqlite_maker() as s:
        village = await get_area(s, seed.village_code)
        assert village is not None and village.name == "幸福村" and village.level == "village"
        types = set(
            await s.scalars(
                select(Household.household_type).where(Household.village_code == seed.village_code)
            )
        )
        assert {"脱贫户", "监测户", "一般户"} <= types
        members = (await s.scalars(select(Member))).all()
        ages = [age_on(NOW.date(), m.birth_date) for m in members if m.birth_date]
        assert sum(6 <= age <= 15 for age in ages) >= 8
        assert any(m.health and m.health.startswith("残疾") for m in members)
        assert any(m.health and m.health.startswith("长期慢性病") for m in members)
        assert all(m.id_number and len(m.id_number) == 18 for m in members)
        sizes = (
            await s.execute(
                select(func.count(Member.id))
                .where(Member.household_id.in_(seed.household_ids))
                .group_by(Member.household_id)
            )
        ).scalars()
        assert {1, 8} <= set(sizes)


async def test_demo_seed_twice_changes_nothing(sqlite_maker: Maker) -> None:
    async with sqlite_maker.begin() as s:
        first = await seed_demo(s, NOW)
    async with sqlite_maker.begin() as s:
        second = await seed_demo(s, NOW + timedelta(days=400))
    assert first == second
    async with sqlite_maker() as s:
        assert await s.scalar(select(func.count(Household.id))) == 14
        assert await s.scalar(select(func.count(AuditEntry.id))) == 1
