"""Counts for an area's overview (总览), grouped by village in single statements: households,
problems by village, status and category (overdue among the open ones), open monitoring
cases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Integer, case, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.areas import codes_within
from storage.models import Household, MonitoringCase, Problem, ProblemStatus
from storage.periods import OPEN, is_overdue


@dataclass(frozen=True)
class ProblemCounts:
    open: int = 0  # neither verified nor withdrawn (storage.periods)
    overdue: int = 0
    rectified: int = 0  # open, reported rectified, awaiting 销号
    verified: int = 0


TALLIED = ("open", "overdue", "rectified", "verified")  # the fields of ProblemCounts


def _flag(condition: object) -> object:
    return func.sum(cast(case((condition, 1), else_=0), Integer))  # type: ignore[arg-type]


async def households_by_village(s: AsyncSession, area_code: str) -> dict[str, int]:
    result = await s.execute(
        select(Household.village_code, func.count())
        .where(Household.village_code.in_(codes_within(area_code)))
        .group_by(Household.village_code)
    )
    return {code: count for code, count in result}


@dataclass(frozen=True)
class ProblemTally:
    """An area's problems by village (open, overdue, rectified, verified) and by category and
    status."""

    by_village: dict[str, ProblemCounts]
    by_category: list[tuple[str, str, int]]  # (category, status, count), in that order


async def problem_tally(s: AsyncSession, area_code: str, today: date) -> ProblemTally:
    """The area's problems counted per village, status and category in one statement that
    reads only the covering index (village, status, category, unit, deadline)."""
    result = await s.execute(
        select(
            Problem.village_code,
            Problem.status,
            Problem.category,
            func.count(),
            _flag(is_overdue(today)),  # type: ignore[call-overload]
        )
        .where(Problem.village_code.in_(codes_within(area_code)))
        .group_by(Problem.village_code, Problem.status, Problem.category)
    )
    villages: dict[str, dict[str, int]] = {}
    categories: dict[tuple[str, str], int] = {}
    for village, status, category, count, overdue in result:
        tally = villages.setdefault(village, dict.fromkeys(TALLIED, 0))
        tally["open"] += int(count) if status in OPEN else 0
        tally["overdue"] += int(overdue or 0)
        if status in (ProblemStatus.RECTIFIED, ProblemStatus.VERIFIED):
            tally[status] += int(count)
        categories[(category, status)] = categories.get((category, status), 0) + int(count)
    return ProblemTally(
        {village: ProblemCounts(**tally) for village, tally in villages.items()},
        [(category, status, count) for (category, status), count in sorted(categories.items())],
    )


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
