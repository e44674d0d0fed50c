"""The reminder schedule and deadline defaults of an area (提醒设置), read from `Area.settings`.

Settings are inherited down the area tree: a village uses its own keys, else its township's,
else its county's, else the defaults below. Every figure here is a setting, never a constant
of the code: offices set them per area.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from storage.models import Area

DEFAULT_ZONE = "Asia/Shanghai"

# Monitoring case (防返贫监测) steps and the day after opening each is due: the notice (公示)
# is posted by the sixth day and runs at least 5, and the whole case normally takes no more
# than 15. A risk removal (风险消除) uses the same days for the steps it shares.
DEFAULT_CASE_STEP_DAYS: Mapping[str, int] = {
    "discovery": 0,  # 发现
    "assessment": 0,  # 风险消除的入户核实
    "consent": 2,  # 授权承诺
    "data_check": 4,  # 部门比对
    "village_review": 5,  # 村级民主评议
    "public_notice": 6,  # 公示（张贴）
    "township_review": 13,  # 乡镇审核
    "county_decision": 15,  # 县级审定
}
# Rectification tiers (整改时限), in the seeds' words: 立行立改 (fixed at once: by the end of the
# reporting period), 限时整改 (a plan and a date), 长期坚持 (ongoing: reviewed every period,
# never overdue).
IMMEDIATE = "immediate"
TIMED = "timed"
ONGOING = "ongoing"
# Settings written for the steps' earlier names still apply.
RENAMED_CASE_STEPS: Mapping[str, str] = {
    "home_verification": "consent",
    "county_approval": "county_decision",
}
TIERS = (IMMEDIATE, TIMED, ONGOING)
# Names the tiers had before, in settings and questionnaires: still read.
FORMER_TIERS: Mapping[str, str] = {"staged": TIMED}


def tier_code(value: Any) -> str | None:
    """A tier's code from a setting or a rule (former names too), or None when it is none."""
    if not isinstance(value, str):
        return None
    value = FORMER_TIERS.get(value, value)
    return value if value in TIERS else None


def _time(value: Any, default: time) -> time:
    if isinstance(value, str):
        try:
            return time.fromisoformat(value)
        except ValueError:
            return default
    return default


def _days(value: Any, default: tuple[int, ...]) -> tuple[int, ...]:
    if isinstance(value, list | tuple) and all(isinstance(v, int) and v >= 0 for v in value):
        return tuple(sorted(set(value), reverse=True))
    return default


def _int(value: Any, default: int, low: int, high: int) -> int:
    return value if isinstance(value, int) and low <= value <= high else default


@dataclass(frozen=True)
class AreaSchedule:
    """When an area's people are reminded; all times are wall times in `zone`."""

    zone: str = DEFAULT_ZONE
    reporting_day: int = 4  # 月报: the monthly table is due before this day of the month
    report_offsets: tuple[int, ...] = (3, 1)  # days before the reporting day
    deadline_offsets: tuple[int, ...] = (3, 0)  # days before a rectification deadline
    remind_time: time = time(8, 30)
    digest_time: time = time(8, 30)  # the leaders' daily overdue digest
    escalation_days: int = 7  # overdue this long: the office is told too
    contact_day: int = 20  # monthly contact (联系) reminder on this day of the month
    quiet_start: time = time(21, 0)
    quiet_end: time = time(8, 0)
    deadline_tiers: Mapping[str, str] = field(default_factory=dict)  # category -> tier
    deadline_days: Mapping[str, int] = field(default_factory=dict)  # category -> N days
    timed_days: int = 60  # 限时整改 without a date of its own: due this many days after
    default_days: int = 30  # neither the rule, the category nor the person named a deadline
    deadline_min_days: int = 7  # 立行立改 and 长期坚持's first review: at least this far ahead
    case_step_days: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_CASE_STEP_DAYS))

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.tz)

    def at(self, day: date, wall: time) -> datetime:
        """The UTC moment of a wall time on a day in this area."""
        return datetime.combine(day, wall, tzinfo=self.tz).astimezone(UTC)

    def effective_day(self, moment: datetime, wall: time) -> date:
        """The day whose reminders at `wall` have fallen due by `moment`: today once the wall
        time has passed, yesterday before it."""
        local = self.local(moment)
        return local.date() if local.time() >= wall else local.date() - timedelta(days=1)

    def in_quiet_hours(self, moment: datetime) -> bool:
        wall = self.local(moment).time()
        if self.quiet_start <= self.quiet_end:
            return self.quiet_start <= wall < self.quiet_end
        return wall >= self.quiet_start or wall < self.quiet_end

    def release(self, moment: datetime) -> datetime:
        """`moment`, or the end of the quiet hours it falls in (messages wait for morning)."""
        if not self.in_quiet_hours(moment):
            return moment
        local = self.local(moment)
        day = local.date()
        if local.time() >= self.quiet_end and self.quiet_start > self.quiet_end:
            day += timedelta(days=1)
        return self.at(day, self.quiet_end)

    def reporting_date(self, year: int, month: int) -> date:
        last = calendar.monthrange(year, month)[1]
        return date(year, month, min(self.reporting_day, last))

    def next_reporting_date(self, today: date) -> date:
        """The first reporting day on or after `today`."""
        this = self.reporting_date(today.year, today.month)
        if this >= today:
            return this
        year, month = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
        return self.reporting_date(year, month)

    def period_last_day(self, day: date) -> date:
        """The last day of the reporting period `day` falls in (the eve of the reporting day)."""
        # On the reporting day itself the next period has begun (as storage.periods says).
        return self.next_reporting_date(day + timedelta(days=1)) - timedelta(days=1)

    def period_end_after(self, day: date, min_days: int | None = None) -> date:
        """The last day of `day`'s period, or of the next one when fewer than `min_days`
        (the area's `deadline_min_days`) are left: what is found late in a period is due at
        the end of the next."""
        least = self.deadline_min_days if min_days is None else min_days
        last = self.period_last_day(day)
        while (last - day).days < least:
            last = self.period_last_day(last + timedelta(days=1))
        return last


def _merged(areas_top_down: list[Area]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for area in areas_top_down:
        merged.update(area.settings or {})
    return merged


def _zone(name: str | None) -> str:
    try:
        ZoneInfo(name or DEFAULT_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return DEFAULT_ZONE
    return name or DEFAULT_ZONE


def schedule_from(settings: Mapping[str, Any], zone: str | None) -> AreaSchedule:
    """An area's schedule from its (inherited) settings; bad values fall back to defaults."""
    base = AreaSchedule()
    quiet = settings.get("quiet_hours")
    quiet_start, quiet_end = base.quiet_start, base.quiet_end
    if isinstance(quiet, list | tuple) and len(quiet) == 2:
        quiet_start = _time(quiet[0], quiet_start)
        quiet_end = _time(quiet[1], quiet_end)
    tiers = settings.get("deadline_tiers")
    days = settings.get("deadline_days")
    steps = settings.get("case_step_days")
    step_days = dict(DEFAULT_CASE_STEP_DAYS)
    if isinstance(steps, Mapping):
        named = {RENAMED_CASE_STEPS.get(k, k): v for k, v in steps.items()}
        step_days.update({k: v for k, v in named.items() if k in step_days and isinstance(v, int)})
    return AreaSchedule(
        zone=_zone(zone),
        reporting_day=_int(settings.get("reporting_day"), base.reporting_day, 1, 28),
        report_offsets=_days(settings.get("report_offsets"), base.report_offsets),
        deadline_offsets=_days(settings.get("deadline_offsets"), base.deadline_offsets),
        remind_time=_time(settings.get("remind_time"), base.remind_time),
        digest_time=_time(settings.get("digest_time"), base.digest_time),
        escalation_days=_int(settings.get("escalation_days"), base.escalation_days, 1, 365),
        contact_day=_int(settings.get("contact_day"), base.contact_day, 1, 28),
        quiet_start=quiet_start,
        quiet_end=quiet_end,
        deadline_tiers={str(k): code for k, v in tiers.items() if (code := tier_code(v))}
        if isinstance(tiers, Mapping)
        else {},
        deadline_days={str(k): v for k, v in (days or {}).items() if isinstance(v, int) and v > 0}
        if isinstance(days, Mapping)
        else {},
        timed_days=_int(settings.get("timed_days"), base.timed_days, 1, 3 * 366),
        default_days=_int(settings.get("default_days"), base.default_days, 1, 3 * 366),
        deadline_min_days=_int(settings.get("deadline_min_days"), base.deadline_min_days, 0, 60),
        case_step_days=step_days,
    )


class Schedules:
    """The schedules of every area, resolved once per sweep from one read of the area table."""

    def __init__(self, areas: list[Area]) -> None:
        self._areas = {area.code: area for area in areas}
        self._cache: dict[str, AreaSchedule] = {}
        self._chains: dict[str, list[Area]] = {}

    def chain(self, code: str) -> list[Area]:
        """The area and its ancestors, top (county) first."""
        known = self._chains.get(code)
        if known is not None:
            return known
        chain: list[Area] = []
        seen: set[str] = set()
        current = self._areas.get(code)
        while current is not None and current.code not in seen:
            chain.append(current)
            seen.add(current.code)
            current = self._areas.get(current.parent_code) if current.parent_code else None
        found = self._chains[code] = list(reversed(chain))
        return found

    def of(self, code: str) -> AreaSchedule:
        found = self._cache.get(code)
        if found is None:
            chain = self.chain(code)
            zone = chain[-1].timezone if chain else None
            found = self._cache[code] = schedule_from(_merged(chain), zone)
        return found

    def area(self, code: str) -> Area | None:
        return self._areas.get(code)

    def villages(self) -> list[Area]:
        return [area for area in self._areas.values() if area.level == "village"]

    def contains(self, ancestor: str, code: str) -> bool:
        return any(area.code == ancestor for area in self.chain(code))

    def village_of(self, code: str) -> str | None:
        """The village an area lies in (itself for a village, its parent for a group)."""
        for area in reversed(self.chain(code)):
            if area.level == "village":
                return area.code
        return None
