"""Deadline policy (整改期限): from a rule's days or tier to the date a problem is due.

- 立行立改 (`immediate`): by the last day of the reporting period it was found in; found
  fewer than the area's `deadline_min_days` before that day, by the last day of the next
  period. A calendar month or year never ends a deadline: found on 20 December is not due on
  the 31st.
- 限时整改 (`timed`): a date of its own, N days, or the area's `timed_days` after the finding;
  a problem whose rule names neither days nor a tier is 限时整改 over `default_days`.
- 长期坚持 (`ongoing`): no date to be overdue after. The stored deadline is its first review
  (the end of the period, as for 立行立改); after that it comes up for review at the end of
  every period (`review_day`) and is never counted overdue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from conversations.model import RaisedProblem
from storage.schedule import IMMEDIATE, ONGOING, TIERS, TIMED, AreaSchedule, tier_code

__all__ = [
    "IMMEDIATE",
    "ONGOING",
    "TIERS",
    "TIMED",
    "CheckDeadlines",
    "deadline_from",
    "due_on",
    "review_day",
    "tier_code",
]


def due_on(
    days: int | None, tier: str | None, today: date, schedule: AreaSchedule | None = None
) -> tuple[date, str]:
    """The due date and tier of a problem found `today` in an area with `schedule`.

    `days` wins when given (a 限时整改 with its own span); a tier gives its rule; with neither,
    限时整改 over the area's `default_days`."""
    schedule = schedule or AreaSchedule()
    tier = tier_code(tier)
    if days is not None:
        return today + timedelta(days=days), tier if tier and tier != IMMEDIATE else TIMED
    if tier in (IMMEDIATE, ONGOING):
        return schedule.period_end_after(today), tier
    if tier == TIMED:
        return today + timedelta(days=schedule.timed_days), TIMED
    return today + timedelta(days=schedule.default_days), TIMED


def deadline_from(
    days: int | None, tier: str | None, today: date, schedule: AreaSchedule | None = None
) -> date:
    """The due date of a problem found `today` (see `due_on`)."""
    return due_on(days, tier, today, schedule)[0]


def review_day(schedule: AreaSchedule, today: date) -> date:
    """When an ongoing (长期坚持) problem next comes up for review: the end of this period."""
    return schedule.period_last_day(today)


@dataclass(frozen=True)
class CheckDeadlines:
    """What sets the deadlines of the problems one check raises, as data: the area's schedule,
    the day the check is submitted (None: the day of submission), and a campaign's
    rectification cut-off, after which nothing it raises is due."""

    schedule: AreaSchedule = field(default_factory=AreaSchedule)
    today: date | None = None
    cutoff: date | None = None

    def due(self, raised: RaisedProblem, now: datetime) -> date:
        """A rule's own date (e.g. the renovation plan's) unless it has passed, else its days
        or tier; never after the cut-off."""
        today = self.today or now.date()
        if raised.deadline_date and raised.deadline_date >= today.isoformat():
            day = date.fromisoformat(raised.deadline_date)
        else:
            day = deadline_from(raised.deadline_days, raised.deadline_tier, today, self.schedule)
        return min(day, self.cutoff) if self.cutoff is not None else day
