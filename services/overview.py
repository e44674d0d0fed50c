"""Progress (月度进度) and the area overview (总览) as use cases: per village (or per township,
for a county) households checked and contacted in the reporting period, problems by status,
monitoring cases, whether the period is complete; problems by category and status; the last
twelve periods' progress."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from services.runtime import Runtime, acting_user
from storage.exports import export_areas
from storage.overview import (
    ProblemCounts,
    households_by_village,
    open_cases_by_village,
    problem_tally,
)
from storage.periods import (
    Period,
    checked_per_period,
    contacted_in_period,
    current_period,
    reads_by_time,
)
from storage.problems import villages_in
from storage.progress import VillageProgress, load_schedules, village_progress

HISTORY_PERIODS = 12


async def village_progress_of(rt: Runtime, user_id: int, limit: int) -> list[VillageProgress]:
    """/progress: each village of the user's area (at most `limit`), or the user's own."""
    now = rt.clock()
    async with rt.sessionmaker() as s:
        user = await acting_user(s, user_id)
        schedules = await load_schedules(s)
        villages = await villages_in(s, user.area_code)
        if not villages:
            own = schedules.village_of(user.area_code)
            area = schedules.area(own) if own else None
            villages = [area] if area is not None else []
        return await village_progress(s, villages[:limit], schedules, now)


@dataclass(frozen=True)
class AreaLine:
    """One line of the overview: a village, or a township summed over its villages."""

    code: str
    name: str
    households: int
    checked: int
    contacted: int
    open_problems: int
    overdue_problems: int
    rectified_problems: int
    verified_problems: int
    cases: int

    @property
    def complete(self) -> bool:
        """Every household of the line was checked in the period."""
        return self.households > 0 and self.checked >= self.households


@dataclass(frozen=True)
class CategoryLine:
    category: str
    counts: dict[str, int]  # status → problems

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class PeriodPoint:
    start: date
    end: date  # the last day of the period
    checked: int
    households: int
    name: str = ""  # the period's name, YYYY-MM (the month of its reporting day)


@dataclass(frozen=True)
class Overview:
    area_code: str
    area_name: str
    level: str
    today: date
    zone: str
    period_start: date
    period_end: date  # the last day of the period, the day before the reporting day
    days_left: int
    lines: list[AreaLine]
    total: AreaLine
    categories: list[CategoryLine]
    history: list[PeriodPoint]


def _rollup(code: str, name: str, members: list[AreaLine]) -> AreaLine:
    return AreaLine(
        code,
        name,
        *(
            sum(getattr(line, key) for line in members)
            for key in (
                "households",
                "checked",
                "contacted",
                "open_problems",
                "overdue_problems",
                "rectified_problems",
                "verified_problems",
                "cases",
            )
        ),
    )


def _previous_periods(period: Period, count: int) -> list[Period]:
    periods = [period]
    while len(periods) < count:
        periods.append(periods[-1].previous())
    return list(reversed(periods))


async def area_overview(rt: Runtime, user_id: int) -> Overview:
    """The overview of the user's whole area, in the area's time zone and schedule."""
    now = rt.clock()
    async with rt.sessionmaker() as s:
        user = await acting_user(s, user_id)
        schedules = await load_schedules(s)
        own = schedules.area(user.area_code)
        assert own is not None  # a user's area exists (foreign key)
        schedule = schedules.of(own.code)
        today = schedule.local(now).date()
        period = current_period(schedule, now)
        code = own.code
        line_areas = (
            [own] if own.level in ("village", "group") else (await export_areas(s, code))[1:]
        )
        households = await households_by_village(s, code)
        with_households = list(households)
        by_time = await reads_by_time(s, sum(households.values()))
        periods = _previous_periods(period, HISTORY_PERIODS)
        checked_per = await checked_per_period(s, with_households, periods, by_time)
        contacted = await contacted_in_period(s, with_households, period, by_time)
        tally = await problem_tally(s, code, today)
        cases = await open_cases_by_village(s, code)
    checked = checked_per[-1]  # the current period is the last
    problems = tally.by_village
    total_households = sum(households.values())
    history = [
        PeriodPoint(past.start, past.end, sum(done.values()), total_households, past.name)
        for past, done in zip(periods, checked_per, strict=True)
    ]
    villages = sorted(set(households) | set(problems) | set(cases))
    village_lines: dict[str, AreaLine] = {}
    for village in villages:
        counts = problems.get(village, ProblemCounts())
        area = schedules.area(village)
        village_lines[village] = AreaLine(
            village,
            area.name if area is not None else village,
            households.get(village, 0),
            checked.get(village, 0),
            contacted.get(village, 0),
            counts.open,
            counts.overdue,
            counts.rectified,
            counts.verified,
            cases.get(village, 0),
        )
    members: dict[str, list[AreaLine]] = {area.code: [] for area in line_areas}
    for village, line in village_lines.items():
        for above in schedules.chain(village):
            if above.code in members:
                members[above.code].append(line)
    lines = [_rollup(area.code, area.name, members[area.code]) for area in line_areas]
    by_category: dict[str, dict[str, int]] = {}
    for category, status, count in tally.by_category:
        by_category.setdefault(category, {})[status] = count
    return Overview(
        own.code,
        own.name,
        own.level,
        today,
        schedule.zone,
        period.start,
        period.end,
        (period.reporting_day - today).days,
        lines,
        _rollup(own.code, own.name, list(village_lines.values())),
        [CategoryLine(name, counts) for name, counts in by_category.items()],
        history,
    )
