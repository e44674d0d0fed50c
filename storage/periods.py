"""The reporting period (报告期) and what counts in it, defined once for every screen, reminder
and report.

An area's reporting day D (the setting `reporting_day`, default 4: "the monthly table is filed
before the 4th") cuts the year into periods. A period starts on a reporting day and ends the
day before the next one, in the area's time zone; it is named by the month of the reporting
day that closes it. With D = 4 the period "2026-11" runs from 4 October to 3 November 2026
inclusive, its table is due before 4 November, and a check made on 4 November counts for
"2026-12".

In a period:

- a household is *checked* when a check of it (home visit or phone call, the version in force)
  was submitted in the period;
- a household is *contacted* when it was checked, or a contact with it was recorded, in the
  period (a phone call is recorded as a check: a contact is a check today);
- a problem is *open* when it is neither verified (销号) nor withdrawn (误报): reported
  rectified and awaiting 销号 still counts; it is *to rectify* when open and not yet reported
  rectified, and *overdue* when to rectify past its deadline, unless its tier is 长期坚持
  (ongoing): that has no date to be overdue after, it comes up for review every period.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, exists, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.campaigns import campaign_in_force
from storage.models import CheckRecord, Household, Problem, ProblemStatus
from storage.schedule import ONGOING, AreaSchedule

OPEN = (ProblemStatus.OPEN, ProblemStatus.IN_PROGRESS, ProblemStatus.RECTIFIED)
# open and not yet reported rectified: reminded, may be overdue
TO_RECTIFY = (ProblemStatus.OPEN, ProblemStatus.IN_PROGRESS)
CLOSED = (ProblemStatus.VERIFIED, ProblemStatus.WITHDRAWN)


@dataclass(frozen=True)
class Period:
    """One reporting period of an area: `start` to `end`, both days included, local days."""

    year: int
    month: int  # the month of the reporting day that closes it: the period's name
    start: date
    end: date
    schedule: AreaSchedule

    @property
    def name(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def reporting_day(self) -> date:
        """The reporting day that closes the period: its table is due before it."""
        return self.end + timedelta(days=1)

    def bounds(self) -> tuple[datetime, datetime]:
        """The UTC moments [first, after) of the period."""
        return (
            self.schedule.at(self.start, time.min),
            self.schedule.at(self.reporting_day, time.min),
        )

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end

    def previous(self) -> Period:
        return period_of(self.schedule, self.start - timedelta(days=1))

    def next(self) -> Period:
        return period_of(self.schedule, self.reporting_day)


def _month_before(year: int, month: int) -> tuple[int, int]:
    return (year - 1, 12) if month == 1 else (year, month - 1)


def period_named(schedule: AreaSchedule, year: int, month: int) -> Period:
    """The period closed by the reporting day of `year`-`month`."""
    end = schedule.reporting_date(year, month)
    start = schedule.reporting_date(*_month_before(year, month))
    return Period(year, month, start, end - timedelta(days=1), schedule)


def period_of(schedule: AreaSchedule, day: date) -> Period:
    """The period a local day falls in; on the reporting day itself the next one has begun."""
    closing = schedule.next_reporting_date(day + timedelta(days=1))
    return period_named(schedule, closing.year, closing.month)


def current_period(schedule: AreaSchedule, now: datetime) -> Period:
    return period_of(schedule, schedule.local(now).date())


def parse_period_name(text: str) -> tuple[int, int] | None:
    """ "2026-11" → (2026, 11); None for anything else."""
    parts = text.strip().split("-")
    if len(parts) != 2 or not all(part.isdigit() for part in parts):
        return None
    year, month = int(parts[0]), int(parts[1])
    if not (2000 <= year <= 2999 and 1 <= month <= 12):
        return None
    return year, month


async def campaign_start(s: AsyncSession, area_code: str, day: date) -> date:
    """The first day of the campaign (专项排查) a day belongs to, for "found so far": of the
    campaign of the area (or an area above it) running on that day, its rectification until
    the cut-off included; without one, the 1st of January of the day's year."""
    campaign = await campaign_in_force(s, area_code, day)
    return campaign.starts_on if campaign is not None else date(day.year, 1, 1)


# ---------------------------------------------------------------- problems


def is_open() -> ColumnElement[bool]:
    return Problem.status.in_(OPEN)


def is_to_rectify() -> ColumnElement[bool]:
    return Problem.status.in_(TO_RECTIFY)


def has_due_date() -> ColumnElement[bool]:
    """Every problem but a 长期坚持 (ongoing) one has a date to be overdue after."""
    return func.coalesce(Problem.deadline_tier, "") != ONGOING


def overdue_on(status: str, deadline: date, tier: str | None, today: date) -> bool:
    """`is_overdue` for a problem in hand (its status and deadline as they stood that day)."""
    return status in TO_RECTIFY and deadline < today and tier != ONGOING


def is_overdue(today: date) -> ColumnElement[bool]:
    return Problem.status.in_(TO_RECTIFY) & (Problem.deadline < today) & has_due_date()


# ---------------------------------------------------------------- households


def _checks_between(since: datetime, until: datetime) -> Sequence[ColumnElement[bool]]:
    return (
        CheckRecord.submitted_at >= since,
        CheckRecord.submitted_at < until,
        CheckRecord.latest.is_(True),
    )


async def reads_by_time(s: AsyncSession, households_in_area: int) -> bool:
    """Whether an area with this many households holds an eighth or more of them all: then
    its checks in a period are best found from the period's checks (by time), each looked up
    for its village, rather than from each of its households. Chosen here for SQLite, which
    keeps no statistics; PostgreSQL chooses from its own."""
    if s.get_bind().dialect.name != "sqlite":
        return False
    everyone = await s.scalar(select(func.max(Household.id))) or 0
    return households_in_area * 8 >= everyone


def _village(by_time: bool) -> ColumnElement[str]:
    """The household's village; when checks are read by time, as an expression no index
    serves, so that the database does not start from the area's households."""
    column = Household.village_code
    return column.concat(literal_column("''")) if by_time else column.expression


async def checked_by_village(
    s: AsyncSession,
    village_codes: Sequence[str],
    since: datetime,
    until: datetime,
    by_time: bool = False,
) -> dict[str, int]:
    """Households checked in [since, until), per village (`by_time`: see `reads_by_time`)."""
    if not village_codes:
        return {}
    result = await s.execute(
        select(Household.village_code, func.count(func.distinct(CheckRecord.household_id)))
        .select_from(CheckRecord)
        .join(Household, Household.id == CheckRecord.household_id)
        .where(_village(by_time).in_(list(village_codes)), *_checks_between(since, until))
        .group_by(Household.village_code)
    )
    return {code: int(count) for code, count in result}


async def checked_per_period(
    s: AsyncSession,
    village_codes: Sequence[str],
    periods: Sequence[Period],
    by_time: bool = False,
) -> list[dict[str, int]]:
    """Households checked in each of the `periods` (consecutive, oldest first), per village,
    in one statement (`by_time`: see `reads_by_time`)."""
    if not village_codes or not periods:
        return [{} for _ in periods]
    bounds = [period.bounds() for period in periods]
    submitted = CheckRecord.submitted_at
    which = case(
        *((submitted < after, index) for index, (_, after) in enumerate(bounds)),
        else_=None,
    ).label("period")
    checks = (
        select(which, Household.village_code, CheckRecord.household_id)
        .join(Household, Household.id == CheckRecord.household_id)
        .where(
            _village(by_time).in_(list(village_codes)),
            *_checks_between(bounds[0][0], bounds[-1][1]),
        )
        .subquery()
    )
    result = await s.execute(
        select(
            checks.c.period, checks.c.village_code, func.count(func.distinct(checks.c.household_id))
        ).group_by(checks.c.period, checks.c.village_code)
    )
    counts: list[dict[str, int]] = [{} for _ in periods]
    for index, village, count in result:
        if index is not None:
            counts[int(index)][village] = int(count)
    return counts


async def checked_in_period(
    s: AsyncSession, village_codes: Sequence[str], period: Period, by_time: bool = False
) -> dict[str, int]:
    """Households checked in the period, per village."""
    return await checked_by_village(s, village_codes, *period.bounds(), by_time)


async def contacted_in_period(
    s: AsyncSession, village_codes: Sequence[str], period: Period, by_time: bool = False
) -> dict[str, int]:
    """Households contacted in the period, per village (every check is a contact)."""
    return await checked_by_village(s, village_codes, *period.bounds(), by_time)


def contacted_since(household_id: Any, since: datetime) -> ColumnElement[bool]:
    """A condition: the household (a correlated column) was contacted from `since` on."""
    return exists().where(
        CheckRecord.household_id == household_id,
        CheckRecord.submitted_at >= since,
        CheckRecord.latest.is_(True),
    )
