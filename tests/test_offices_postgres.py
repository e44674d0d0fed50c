"""Roster import, exports, the monthly report and amendments on PostgreSQL (skipped, with the
reason, when HUCHA_TEST_POSTGRES_URL names no server that answers)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conversations import Record, load_forms
from storage import Household, Problem, import_roster, start_session, submit_check
from storage.amendments import start_amendment
from storage.exports import ExportScope, export_checks, export_ledger
from storage.models import HouseholdChange
from storage.periods import period_named
from storage.reports import monthly_report
from storage.schedule import AreaSchedule
from tests.storage_fixtures import NOW, deadline_today, make_world, school_dropout, unsafe_house
from tests.test_roster_import import ROSTER

pytest_plugins = ("tests.storage_fixtures",)
pytestmark = pytest.mark.postgres

Maker = async_sessionmaker[AsyncSession]


async def test_offices_work_end_to_end_on_postgres(postgres_maker: Maker, tmp_path: Path) -> None:
    form = load_forms()["household_check"]
    async with postgres_maker.begin() as s:
        world = await make_world(s, NOW)
        first = await import_roster(s, ROSTER.encode("gb18030"), NOW, within="320705001")
    assert first.errors == [] and first.added_households == 2
    async with postgres_maker.begin() as s:
        again = await import_roster(s, ROSTER, NOW)
        assert (again.added_households, again.unchanged) == (0, 2)
        assert await s.scalar(select(func.count(HouseholdChange.id))) == 2
        household = await s.scalar(select(Household).where(Household.number == "101"))
        assert household is not None
        session = await start_session(s, world.cadre.id, household.id, "f", 1, {}, NOW)
        raised = (
            replace(school_dropout(), rule_id="child_dropped_out"),
            replace(unsafe_house(), rule_id="housing_unsafe"),
        )
        answers = {"housing_grade": "C", "housing_alternative": "none", "children": []}
        record, _ = await submit_check(
            s,
            session.id,
            Record("household_check", "2024.1", answers, raised),
            world.cadre.id,
            NOW,
            deadline_today,
        )
    async with postgres_maker.begin() as s:
        amendment = await start_amendment(s, record.id, world.cadre, form, 1, "错了", NOW)
    async with postgres_maker.begin() as s:
        second, problems = await submit_check(
            s,
            amendment.id,
            Record("household_check", "2024.1", answers, raised[1:]),
            world.cadre.id,
            NOW,
            deadline_today,
        )
    assert second.version == 2 and [p.rule_id for p in problems] == ["housing_unsafe"]
    march = ExportScope("320705001", date(2025, 3, 1), date(2025, 3, 31))
    path = tmp_path / "checks.xlsx"
    async with postgres_maker.begin() as s:
        result = await export_checks(s, form, march, path, "xlsx", NOW)
        ledger = await export_ledger(s, march, tmp_path / "ledger.xlsx", "xlsx", NOW)
        april = period_named(AreaSchedule(), 2025, 4)
        report = await monthly_report(s, "320705001", april, NOW)
        statuses = sorted(p.status for p in await s.scalars(select(Problem)))
    # The problem the amendment withdrew (误报) is left out of the rectification list.
    assert result.rows == 1 and ledger.rows == 1
    assert statuses == ["open", "withdrawn"]
    rows = list(load_workbook(path, read_only=True)["核查记录"].values)
    assert rows[2][:2] == (record.id, 2)
    assert report.lines[31].situation == (
        "本期核查 1 户；发现C/D级危房 1 户；本期发现问题 1 条，2025年1月1日以来累计 1 条。"
    )
