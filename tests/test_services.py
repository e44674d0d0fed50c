"""The use cases (services/) without any channel: the ledger's page, filters and actions, the
area checks, the overview, a household's history with its photos, and the policy."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services import Runtime, exports, households, invitations, ledger, monitoring, overview
from services.policy import Deed, Subject, may, problem_deeds
from storage import AuditEntry, StorageError, create_invitation, redeem_invitation, start_session
from storage import submit_check as storage_submit
from storage.problems import add_problem
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


async def _world(maker: async_sessionmaker[AsyncSession]) -> tuple[World, int, int]:
    """The demo world, an office of the county, and one check of 幸福村 raising two problems."""
    async with maker.begin() as s:
        world = await make_world(s)
        invitation = await create_invitation(s, "office", world.seed.county_code, NOW)
        office = await redeem_invitation(s, invitation.code, 1003, "县办", "zh_CN", NOW)
        session = await start_session(
            s, world.cadre.id, world.seed.household_ids[0], "household_check", 1, {}, NOW
        )
        record = finished_record(school_dropout(), unsafe_house())
        answers = dict(record.answers)
        answers["house_photo"] = {"file_id": "PHOTO-1", "file_unique_id": "u1"}
        record = type(record)(**{**record.__dict__, "answers": answers})
        checked, _ = await storage_submit(
            s, session.id, record, world.cadre.id, NOW, deadline_today
        )
        other = await add_problem(
            s,
            office.id,
            world.seed.other_household_ids[0],
            category="饮水安全",
            text="水量不足",
            goal="饮水安全有保障",
            measures="",
            responsible_unit="县水利局",
            deadline=date(2025, 4, 1),
            deadline_tier=None,
            now=NOW,
        )
    return world, office.id, checked.id if other.id else 0


def _rt(maker: async_sessionmaker[AsyncSession]) -> Runtime:
    return Runtime(maker, lambda: NOW)


async def test_ledger_filters_sorts_and_keeps_to_the_area(sqlite_maker) -> None:
    world, office_id, _ = await _world(sqlite_maker)
    rt = _rt(sqlite_maker)
    everything = await ledger.list_problems(rt, office_id, ledger.LedgerQuery(scope="all"))
    assert everything.total == 3
    assert set(everything.units) == {"education", "housing", "县水利局"}
    by_unit = await ledger.list_problems(rt, office_id, ledger.LedgerQuery(unit="县水利局"))
    assert [row.text for row in by_unit.rows] == ["水量不足"]
    by_deadline = await ledger.list_problems(rt, office_id, ledger.LedgerQuery(sort="deadline"))
    deadlines = [row.deadline for row in by_deadline.rows]
    assert deadlines == sorted(deadlines)
    # A cadre of 幸福村 sees only 幸福村, whatever village the request names.
    mine = await ledger.list_problems(
        rt,
        world.cadre.id,
        ledger.LedgerQuery(village_code=world.seed.other_village_code, scope="all"),
    )
    assert mine.total == 2
    assert {row.village_code for row in mine.rows} == {world.seed.village_code}
    later = await ledger.list_problems(
        rt, office_id, ledger.LedgerQuery(raised_from=date(2025, 3, 11))
    )
    assert later.total == 0


async def test_another_areas_problem_household_and_photo_are_refused(sqlite_maker) -> None:
    world, office_id, record_id = await _world(sqlite_maker)
    rt = _rt(sqlite_maker)
    outside = await ledger.list_problems(rt, office_id, ledger.LedgerQuery(unit="县水利局"))
    problem_id = outside.rows[0].id
    with pytest.raises(StorageError):
        await ledger.problem_detail(rt, world.cadre.id, problem_id)
    with pytest.raises(StorageError):
        await households.household_history(rt, world.cadre.id, world.seed.other_household_ids[0])
    other_cadre_area = world.seed.other_village_code
    async with sqlite_maker.begin() as s:
        invitation = await create_invitation(s, "cadre", other_cadre_area, NOW)
        stranger = await redeem_invitation(s, invitation.code, 1009, "外村", "zh_CN", NOW)
    with pytest.raises(StorageError):
        await households.photo_file_id(rt, stranger.id, "check", record_id, 0)
    assert await households.photo_file_id(rt, world.cadre.id, "check", record_id, 0) == "PHOTO-1"
    with pytest.raises(StorageError):
        await exports.export_choices(rt, world.leader.id, world.seed.county_code)


async def test_verify_and_return_go_through_one_rule_and_are_audited(sqlite_maker) -> None:
    world, office_id, _ = await _world(sqlite_maker)
    rt = _rt(sqlite_maker)
    page = await ledger.list_problems(rt, world.cadre.id, ledger.LedgerQuery())
    problem_id = page.rows[0].id
    cadre, leader = world.cadre.id, world.leader.id
    await ledger.act_on_problem(rt, cadre, problem_id, Deed.PROGRESS, note="在办")
    await ledger.act_on_problem(rt, cadre, problem_id, Deed.RECTIFY, note="已复学")
    with pytest.raises(StorageError) as refused:
        await ledger.act_on_problem(rt, cadre, problem_id, Deed.VERIFY)
    assert refused.value.message_id == "Your role cannot do this."
    with pytest.raises(StorageError) as missing:
        await ledger.act_on_problem(rt, leader, problem_id, Deed.RETURN, note=" ")
    assert missing.value.message_id == "Please give a note or a reason."
    done = await ledger.act_on_problem(
        rt, leader, problem_id, Deed.VERIFY, expected_status="rectified"
    )
    assert done.status == "verified"
    detail = await ledger.problem_detail(rt, leader, problem_id)
    assert detail.actions == []
    assert [line.action for line in detail.card.history][-1] == "verify"
    changed = await ledger.list_problems(rt, office_id, ledger.LedgerQuery())
    other = next(row for row in changed.rows if row.id != problem_id)
    with pytest.raises(StorageError):
        await ledger.act_on_problem(
            rt, office_id, other.id, Deed.DEADLINE, note="延期", deadline=NOW.date() - timedelta(9)
        )
    await ledger.act_on_problem(
        rt, office_id, other.id, Deed.DEADLINE, note="延期", deadline=date(2025, 6, 30)
    )
    async with sqlite_maker() as s:
        actions = list(await s.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert "problem.verify" in actions and "problem.deadline" in actions


async def test_overview_counts_the_area_and_history_holds_every_check(sqlite_maker) -> None:
    world, office_id, record_id = await _world(sqlite_maker)
    rt = _rt(sqlite_maker)
    county = await overview.area_overview(rt, office_id)
    assert county.total.open_problems == 3
    assert county.total.checked == 1
    assert len(county.history) == overview.HISTORY_PERIODS
    assert county.history[-1].checked == 1
    assert {line.category for line in county.categories} == {"义务教育", "住房安全", "饮水安全"}
    township = await overview.area_overview(rt, world.leader.id)
    assert {line.code for line in township.lines} >= {world.seed.village_code}
    history = await households.household_history(rt, world.cadre.id, world.seed.household_ids[0])
    assert [c.record_id for c in history.checks] == [record_id]
    assert history.checks[0].photos == 1
    assert len(history.problems) == 2
    assert all("*" in m.id_number for m in history.members if m.id_number)
    cases = await monitoring.open_cases(rt, world.cadre.id)
    assert cases.views == []


def test_policy_answers_who_may_do_what() -> None:
    from storage.models import User

    cadre = User(role="cadre", active=True)
    leader = User(role="leader", active=True)
    office = User(role="office", active=True)
    assert problem_deeds(leader, "rectified") == [Deed.VERIFY, Deed.RETURN]
    assert problem_deeds(office, "open") == [Deed.DEADLINE, Deed.UNIT]
    assert problem_deeds(cadre, "open") == [Deed.PROGRESS]
    assert not may(leader, Deed.VERIFY, Subject(in_area=False, state="rectified"))
    assert may(office, Deed.EXPORT_UNMASKED) and not may(leader, Deed.EXPORT_UNMASKED)
    assert not may(cadre, Deed.EXPORT)
    assert not may(User(role="leader", active=False), Deed.VIEW)


async def test_an_office_invites_within_its_area_and_the_code_registers_once(sqlite_maker) -> None:
    world, office_id, _ = await _world(sqlite_maker)
    rt = _rt(sqlite_maker)
    seed = world.seed
    issued = await invitations.issue(rt, office_id, "cadre", seed.village_code)
    assert issued.expires_at == NOW + timedelta(days=7) and issued.bot_username is None
    # A cadre invites nobody; an office of a village invites nobody in the county above it.
    with pytest.raises(StorageError):
        await invitations.issue(rt, world.cadre.id, "cadre", seed.village_code)
    village_office = await invitations.redeem(
        rt, (await invitations.issue(rt, None, "office", seed.village_code)).code, 77, "村", "en"
    )
    assert isinstance(village_office, invitations.Registered)
    with pytest.raises(StorageError):
        await invitations.issue(rt, village_office.user_id, "cadre", seed.county_code)

    joined = await invitations.redeem(rt, issued.code.lower(), 5005, "王五", "zh_CN")
    assert isinstance(joined, invitations.Registered)
    assert (joined.role, joined.area_code, joined.area_name) == (
        "cadre",
        seed.village_code,
        "幸福村",
    )
    again = await invitations.redeem(rt, issued.code, 5006, "赵六", "en")
    assert again == invitations.Refused("used", None, "en")
    # A bot serving another area leaves the code for the bot of its own area.
    fresh = await invitations.issue(rt, None, "cadre", seed.village_code)
    elsewhere = await invitations.redeem(rt, fresh.code, 5007, "孙七", "en", within="999999")
    assert elsewhere == invitations.Refused("elsewhere", seed.village_code, "en")
    assert isinstance(
        await invitations.redeem(rt, fresh.code, 5007, "孙七", "en"), invitations.Registered
    )
