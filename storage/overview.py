"""Counts for an area's overview (总览), grouped by village in single statements: households,
problems by status (overdue among the open ones), problems by
category and status, open monitoring cases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Integer, case, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.areas import codes_within
from storage.models import Household, MonitoringCase, Problem
from storage.periods import is_open, is_overdue


@dataclass(frozen=True)
class ProblemCounts:
    open: int = 0  # neither verified nor withdrawn (storage.periods)
    overdue: int = 0
    rectified: int = 0  # open, reported rectified, awaiting 销号
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


async def problems_by_village(
    s: AsyncSession, area_code: str, today: date
) -> dict[str, ProblemCounts]:
    result = await s.execute(
        select(
            Household.village_code,
            _flag(is_open()),  # type: ignore[call-overload]
            _flag(is_overdue(today)),  # type: ignore[call-overload]
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
