"""Deadline policy (整改期限): from a rule's days or tier to the date a problem is due."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

# Tiers of the Ganzhou rectification list: 立查立改, 阶段整改, 持续整改.
IMMEDIATE = "immediate"
STAGED = "staged"
ONGOING = "ongoing"
STAGED_DAYS = 60
DEFAULT_DAYS = 30


def deadline_from(days: int | None, tier: str | None, today: date) -> date:
    """The due date of a problem raised `today`.

    `days` wins when given; otherwise "immediate" (立查立改) is the end of this month,
    "staged" (阶段整改) about two months, "ongoing" (持续整改) the end of the year (into the
    annual plan); with neither, thirty days.
    """
    if days is not None:
        return today + timedelta(days=days)
    if tier == IMMEDIATE:
        return today.replace(day=calendar.monthrange(today.year, today.month)[1])
    if tier == STAGED:
        return today + timedelta(days=STAGED_DAYS)
    if tier == ONGOING:
        return date(today.year, 12, 31)
    return today + timedelta(days=DEFAULT_DAYS)
