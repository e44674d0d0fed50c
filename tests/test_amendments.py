"""Amendments (更正): a new version of a check with who, when and why; the old one kept;
problems no longer raised closed as raised in error, new ones opened; exports show the
latest version unless all are asked for."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conversations import Form, Record, load_forms
from storage import (
    CheckRecord,
    CheckSession,
    Problem,
    ProblemEvent,
    StorageError,
    User,
    create_invitation,
    redeem_invitation,
    start_session,
    submit_check,
)
from storage.amendments import (
    amendable_records,
    check_versions,
    start_amendment,
    summary_state,
)
from storage.exports import ExportScope, export_checks
from tests.storage_fixtures import World, deadline_today, make_world, school_dropout, unsafe_house

pytest_plugins = ("tests.storage_fixtures",)

Maker = async_sessionmaker[AsyncSession]
NOW = datetime(2025, 3, 20, 2, 30, tzinfo=UTC)
ANSWERS: dict[str, Any] = {
    "visit_type": "home_visit",
    "housing_grade": "C",
    "housing_alternative": "none",
    "children": [{"name": "王小明", "school_status": "dropped_out"}],
}
FIXED: dict[str, Any] = {
    **ANSWERS,
    "housing_grade": "C",
    "housing_alternative": "none",
    "children": [{"name": "王小明", "school_status": "in_school", "school_aid": "no"}],
}


@pytest.fixture(scope="module")
def form() -> Form:
    return load_forms()["household_check"]


def dropout() -> Any:
    return replace(school_dropout(), rule_id="child_dropped_out")


def no_aid() -> Any:
    return replace(school_dropout(), rule_id="child_aid_missing", text={"zh_CN": "未享受资助"})


def house() -> Any:
    return replace(unsafe_house(), rule_id="housing_unsafe")


async def submitted(maker: Maker) -> tuple[World, User, CheckRecord, list[Problem]]:
    async with maker.begin() as s:
        world = await make_world(s, NOW)
        invitation = await create_invitation(s, "office", world.seed.county_code, NOW)
        office = await redeem_invitation(s, invitation.code, 1009, "县扶贫办", "zh_CN", NOW)
        session = await start_session(
            s, world.cadre.id, world.seed.household_ids[0], "household_check", 1, {}, NOW
        )
        record = Record("household_check", "2024.1", ANSWERS, (dropout(), house()))
        check, problems = await submit_check(
            s, session.id, record, world.cadre.id, NOW, deadline_today
        )
    return world, office, check, problems


async def amend(
    maker: Maker,
    form: Form,
    user: User,
    record_id: int,
    answers: dict[str, Any],
    problems: tuple[Any, ...],
    at: datetime,
    reason: str = "儿童已返校，原记录有误",
) -> tuple[CheckRecord, list[Problem]]:
    async with maker.begin() as s:
        session = await start_amendment(s, record_id, user, form, 1, reason, at)
    async with maker.begin() as s:
        record = Record("household_check", "2024.1", answers, problems)
        return await submit_check(s, session.id, record, user.id, at, deadline_today)


async def test_an_amendment_closes_problems_raised_in_error_and_opens_new_ones(
    sqlite_maker: Maker, form: Form
) -> None:
    world, _, first, problems = await submitted(sqlite_maker)
    later = NOW + timedelta(days=2)
    second, current = await amend(
        sqlite_maker, form, world.cadre, first.id, FIXED, (house(), no_aid()), later
    )
    assert (second.version, second.check_id, second.previous_id) == (2, first.id, first.id)
    assert (second.amended_by_user_id, second.amended_at) == (world.cadre.id, later)
    assert second.amendment_reason == "儿童已返校，原记录有误"
    assert second.submitted_at == NOW and second.problems_raised == 2
    async with sqlite_maker() as s:
        old = await s.get(CheckRecord, first.id)
        assert old is not None and old.latest is False
        assert old.answers["children"][0]["school_status"] == "dropped_out"  # kept as it was
        dropped = await s.get(Problem, problems[0].id)
        unsafe = await s.get(Problem, problems[1].id)
        assert dropped is not None and unsafe is not None
        assert dropped.status == "withdrawn" and dropped.check_record_id == first.id
        event = await s.scalar(
            select(ProblemEvent).where(
                ProblemEvent.problem_id == dropped.id,
                ProblemEvent.action == "withdrawn_at_check",
            )
        )
        assert event is not None and event.user_id == world.cadre.id
        assert event.note == "儿童已返校，原记录有误"
        assert event.check_record_id == second.id
        # Still raised: carried over to the new version, status untouched.
        assert unsafe.status == "open" and unsafe.check_record_id == second.id
        new = [p for p in current if p.id not in (dropped.id, unsafe.id)]
        assert [(p.rule_id, p.status, p.check_record_id) for p in new] == [
            ("child_aid_missing", "open", second.id)
        ]
        versions = await check_versions(s, first.id)
        assert [(v.version, v.latest) for v in versions] == [(1, False), (2, True)]


async def test_rectified_problems_are_not_withdrawn_by_an_amendment(
    sqlite_maker: Maker, form: Form
) -> None:
    world, _, first, problems = await submitted(sqlite_maker)
    async with sqlite_maker.begin() as s:
        dropped = await s.get(Problem, problems[0].id)
        assert dropped is not None
        dropped.status = "rectified"
    await amend(sqlite_maker, form, world.cadre, first.id, FIXED, (house(),), NOW)
    async with sqlite_maker() as s:
        assert (await s.get(Problem, problems[0].id)).status == "rectified"  # type: ignore[union-attr]


async def test_who_may_amend_and_until_when(sqlite_maker: Maker, form: Form) -> None:
    world, office, first, _ = await submitted(sqlite_maker)
    late = NOW + timedelta(days=8)
    async with sqlite_maker() as s:
        for user, at, message in (
            (
                world.cadre,
                late,
                "A check can be amended within {days} days of its submission; ask your office.",
            ),
            (world.leader, NOW, "Only the cadre who made a check, or an office, can amend it."),
        ):
            with pytest.raises(StorageError) as refused:
                await start_amendment(s, first.id, user, form, 1, "错了", at)
            assert refused.value.message_id == message
        with pytest.raises(StorageError) as refused:
            await start_amendment(s, first.id, world.cadre, form, 1, "  ", NOW)
        assert refused.value.message_id == "Say why the check is amended."
        assert [r.id for r, _ in await amendable_records(s, world.cadre, NOW)] == [first.id]
        assert await amendable_records(s, world.cadre, late) == []
    # An office may amend any check of its area, after the cadre's week too.
    second, _ = await amend(sqlite_maker, form, office, first.id, FIXED, (house(),), late)
    assert second.amended_by_user_id == office.id and second.cadre_user_id == world.cadre.id
    async with sqlite_maker() as s:
        with pytest.raises(StorageError) as refused:
            await start_amendment(s, first.id, office, form, 1, "again", late)
        assert refused.value.message_id == "Only the latest version of a check can be amended."


async def test_the_amendment_session_reopens_the_summary_with_the_answers(
    sqlite_maker: Maker, form: Form
) -> None:
    world, _, first, _ = await submitted(sqlite_maker)
    async with sqlite_maker.begin() as s:
        session = await start_amendment(s, first.id, world.cadre, form, 7, "错了", NOW)
    async with sqlite_maker() as s:
        stored = await s.get(CheckSession, session.id)
        assert stored is not None and stored.status == "open"
        assert stored.amends_record_id == first.id and stored.amendment_reason == "错了"
        assert stored.state == summary_state(form, ANSWERS)
        assert stored.state["phase"] == "summary" and stored.state["answers"] == ANSWERS


async def test_exports_show_the_latest_version_unless_all_are_asked_for(
    sqlite_maker: Maker, form: Form, tmp_path: Path
) -> None:
    world, _, first, _ = await submitted(sqlite_maker)
    second, _ = await amend(sqlite_maker, form, world.cadre, first.id, FIXED, (house(),), NOW)
    march = ExportScope("320705001", date(2025, 3, 1), date(2025, 3, 31))

    async def exported(scope: ExportScope) -> list[tuple[Any, ...]]:
        path = tmp_path / "checks.xlsx"
        async with sqlite_maker.begin() as s:
            await export_checks(s, form, scope, path, "xlsx", NOW)
        sheet = load_workbook(path, read_only=True)["核查记录"]
        codes = next(sheet.iter_rows(min_row=2, max_row=2, values_only=True))
        wanted = [codes.index(c) for c in ("check_id", "version", "amended_by", "amendment_reason")]
        rows = [
            tuple(row[i] for i in wanted) for row in sheet.iter_rows(min_row=3, values_only=True)
        ]
        return rows

    assert await exported(march) == [(first.id, 2, "李卫东", "儿童已返校，原记录有误")]
    assert await exported(replace(march, all_versions=True)) == [
        (first.id, 1, None, None),
        (first.id, 2, "李卫东", "儿童已返校，原记录有误"),
    ]
    assert second.id != first.id
