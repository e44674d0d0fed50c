"""Monthly progress (月度进度) per village: households checked in the reporting period, households
contacted this month, open and overdue problems, days until the reporting day (月报)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Area, CheckRecord, Household, Problem
from storage.problems import OPEN_STATUSES
from storage.schedule import AreaSchedule, Schedules

PHONE_VISIT = "phone"


@dataclass(frozen=True)
class VillageProgress:
    code: str
    name: str
    households: int
    checked: int  # home visits in the reporting period
    contacted: int  # any check, visit or phone, this calendar month
    open_problems: int
    overdue_problems: int
    period_start: date
    reporting_day: date
    days_left: int


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month_start(day: date) -> date:
    return date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)


def _utc_range(schedule: AreaSchedule, start: date, end: date) -> tuple[datetime, datetime]:
    return schedule.at(start, datetime.min.time()), schedule.at(end, datetime.min.time())


async def _count_by_village(
    s: AsyncSession, codes: list[str], since: datetime, until: datetime, home_visits: bool
) -> dict[str, int]:
    query = (
        select(Household.village_code, func.count(func.distinct(CheckRecord.household_id)))
        .join(Household, Household.id == CheckRecord.household_id)
        .where(
            Household.village_code.in_(codes),
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
    problems = await s.execute(
        select(
            Household.village_code,
            Problem.status,
            Problem.deadline,
        )
        .join(Household, Household.id == Problem.household_id)
        .where(Household.village_code.in_(codes), Problem.status.in_(OPEN_STATUSES))
    )
    open_counts: dict[str, int] = {}
    overdue_counts: dict[str, int] = {}
    today_of = {code: schedules.of(code).local(now).date() for code in codes}
    for code, _status, deadline in problems:
        open_counts[code] = open_counts.get(code, 0) + 1
        if deadline < today_of[code]:
            overdue_counts[code] = overdue_counts.get(code, 0) + 1
    # Villages usually share one schedule; query once per distinct period.
    checked: dict[str, int] = {}
    contacted: dict[str, int] = {}
    by_period: dict[tuple[str, date, date, date], list[str]] = {}
    for code in codes:
        schedule = schedules.of(code)
        today = today_of[code]
        start, end = schedule.reporting_period(today)
        by_period.setdefault((schedule.zone, start, end, month_start(today)), []).append(code)
    for (_zone, start, end, month), group in by_period.items():
        schedule = schedules.of(group[0])
        since, until = _utc_range(schedule, start, end)
        checked.update(await _count_by_village(s, group, since, until, home_visits=True))
        since, until = _utc_range(schedule, month, next_month_start(month))
        contacted.update(await _count_by_village(s, group, since, until, home_visits=False))
    result = []
    for village in villages:
        schedule = schedules.of(village.code)
        today = today_of[village.code]
        start, end = schedule.reporting_period(today)
        result.append(
            VillageProgress(
                code=village.code,
                name=village.name,
                households=totals.get(village.code, 0),
                checked=checked.get(village.code, 0),
                contacted=contacted.get(village.code, 0),
                open_problems=open_counts.get(village.code, 0),
                overdue_problems=overdue_counts.get(village.code, 0),
                period_start=start,
                reporting_day=end,
                days_left=(end - today).days,
            )
        )
    return result


async def load_schedules(s: AsyncSession) -> Schedules:
    """Every area's schedule (the area table is small: counties, townships, villages)."""
    return Schedules(list(await s.scalars(select(Area))))
