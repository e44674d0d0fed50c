"""Counts for an area's overview (总览), grouped by village in single statements: households,
households checked in a period, problems by status (overdue among the open ones), problems by
category and status, open monitoring cases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Integer, and_, case, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.areas import codes_within
from storage.models import CheckRecord, Household, MonitoringCase, Problem
from storage.problems import OPEN_STATUSES
from storage.progress import PHONE_VISIT


@dataclass(frozen=True)
class ProblemCounts:
    open: int = 0  # open or in progress
    overdue: int = 0  # open or in progress, past the deadline
    rectified: int = 0  # awaiting verification
    verified: int = 0


def _flag(condition: object) -> object:
    return func.sum(cast(case((condition, 1), else_=0), Integer))  # type: ignore[arg-type]


async def households_by_village(s: AsyncSession, area_code: str) -> dict[str, int]:
    result = await s.execute(
        select(Household.village_code, func.count())
        .where(Household.village_code.in_(codes_within(area_code)))
        .group_by(Household.village_code)
    )
    return {code: count for code, count in result}


async def checked_by_village(
    s: AsyncSession, area_code: str, since: datetime, until: datetime, home_visits: bool
) -> dict[str, int]:
    """Households with a check submitted in [since, until), per village; home visits only
    (not phone calls) when `home_visits`."""
    query = (
        select(Household.village_code, func.count(func.distinct(CheckRecord.household_id)))
        .select_from(CheckRecord)
        .join(Household, Household.id == CheckRecord.household_id)
        .where(
            Household.village_code.in_(codes_within(area_code)),
            CheckRecord.submitted_at >= since,
            CheckRecord.submitted_at < until,
        )
        .group_by(Household.village_code)
    )
    if home_visits:
        query = query.where(
            or_(CheckRecord.visit_type.is_(None), CheckRecord.visit_type != PHONE_VISIT)
        )
    return {code: count for code, count in await s.execute(query)}


async def checked_in(s: AsyncSession, area_code: str, since: datetime, until: datetime) -> int:
    """Households of the area with a home visit in [since, until)."""
    counts = await checked_by_village(s, area_code, since, until, home_visits=True)
    return sum(counts.values())


async def problems_by_village(
    s: AsyncSession, area_code: str, today: date
) -> dict[str, ProblemCounts]:
    is_open = Problem.status.in_(OPEN_STATUSES)
    result = await s.execute(
        select(
            Household.village_code,
            _flag(is_open),  # type: ignore[call-overload]
            _flag(and_(is_open, Problem.deadline < today)),  # type: ignore[call-overload]
            _flag(Problem.status == "rectified"),  # type: ignore[call-overload]
            _flag(Problem.status == "verified"),  # type: ignore[call-overload]
        )
        .select_from(Problem)
        .join(Household, Household.id == Problem.household_id)
        .where(Household.village_code.in_(codes_within(area_code)))
        .group_by(Household.village_code)
    )
    return {
        code: ProblemCounts(int(o or 0), int(d or 0), int(r or 0), int(v or 0))
        for code, o, d, r, v in result
    }


async def problems_by_category(s: AsyncSession, area_code: str) -> list[tuple[str, str, int]]:
    """(category, status, count) for the area's problems."""
    result = await s.execute(
        select(Problem.category, Problem.status, func.count())
        .join(Household, Household.id == Problem.household_id)
        .where(Household.village_code.in_(codes_within(area_code)))
        .group_by(Problem.category, Problem.status)
        .order_by(Problem.category, Problem.status)
    )
    return [(category, status, int(count)) for category, status, count in result]


async def open_cases_by_village(s: AsyncSession, area_code: str) -> dict[str, int]:
    result = await s.execute(
        select(Household.village_code, func.count())
        .select_from(MonitoringCase)
        .join(Household, Household.id == MonitoringCase.household_id)
        .where(
            Household.village_code.in_(codes_within(area_code)),
            MonitoringCase.status == "open",
        )
        .group_by(Household.village_code)
    )
    return {code: count for code, count in result}
