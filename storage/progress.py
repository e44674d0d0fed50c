"""Progress (进度) per village in the current reporting period: households checked and
contacted, open and overdue problems, days until the reporting day (月报). What each word
means is `storage.periods`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Area, Household, Problem
from storage.periods import (
    checked_in_period,
    contacted_in_period,
    current_period,
    is_open,
    is_overdue,
)
from storage.schedule import Schedules

PHONE_VISIT = "phone"


@dataclass(frozen=True)
class VillageProgress:
    code: str
    name: str
    households: int
    checked: int  # checked in the period
    contacted: int  # contacted in the period
    open_problems: int  # neither verified nor withdrawn
    overdue_problems: int
    period_start: date
    reporting_day: date
    days_left: int


async def households_by_village(s: AsyncSession, codes: Iterable[str]) -> dict[str, int]:
    result = await s.execute(
        select(Household.village_code, func.count())
        .where(Household.village_code.in_(list(codes)))
        .group_by(Household.village_code)
    )
    return {code: count for code, count in result}


async def village_progress(
    s: AsyncSession, villages: list[Area], schedules: Schedules, now: datetime
) -> list[VillageProgress]:
    """The progress of each village, in its own time zone and reporting schedule."""
    if not villages:
        return []
    codes = [village.code for village in villages]
    totals = await households_by_village(s, codes)
    periods = {code: current_period(schedules.of(code), now) for code in codes}
    open_counts: dict[str, int] = {}
    overdue_counts: dict[str, int] = {}
    # Villages usually share one schedule: one query per distinct period.
    by_period: dict[tuple[str, date], list[str]] = {}
    for code in codes:
        by_period.setdefault((periods[code].schedule.zone, periods[code].start), []).append(code)
    checked: dict[str, int] = {}
    contacted: dict[str, int] = {}
    for group in by_period.values():
        shared = periods[group[0]]
        today = shared.schedule.local(now).date()
        checked.update(await checked_in_period(s, group, shared))
        contacted.update(await contacted_in_period(s, group, shared))
        for code, is_late in await s.execute(
            select(Household.village_code, is_overdue(today))
            .select_from(Problem)
            .join(Household, Household.id == Problem.household_id)
            .where(Household.village_code.in_(group), is_open())
        ):
            open_counts[code] = open_counts.get(code, 0) + 1
            if is_late:
                overdue_counts[code] = overdue_counts.get(code, 0) + 1
    result = []
    for village in villages:
        period = periods[village.code]
        today = period.schedule.local(now).date()
        result.append(
            VillageProgress(
                code=village.code,
                name=village.name,
                households=totals.get(village.code, 0),
                checked=checked.get(village.code, 0),
                contacted=contacted.get(village.code, 0),
                open_problems=open_counts.get(village.code, 0),
                overdue_problems=overdue_counts.get(village.code, 0),
                period_start=period.start,
                reporting_day=period.reporting_day,
                days_left=(period.reporting_day - today).days,
            )
        )
    return result


async def load_schedules(s: AsyncSession) -> Schedules:
    """Every area's schedule (the area table is small: counties, townships, villages)."""
    return Schedules(list(await s.scalars(select(Area))))
