"""Monitoring cases (防返贫监测) as a use case: the open cases of the user's area with their
steps and the days left on each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from services.policy import Deed, Subject, may
from services.runtime import Runtime, acting_user, area_zone, local_date
from storage.monitoring import CaseView, open_cases_in


@dataclass(frozen=True)
class OpenCases:
    views: list[CaseView]
    today: date
    # Case ids whose next step the user's role may record.
    actionable: frozenset[int]


async def open_cases(rt: Runtime, user_id: int, limit: int = 20) -> OpenCases:
    """The open monitoring cases of the user's area, oldest first."""
    async with rt.sessionmaker() as s:
        user = await acting_user(s, user_id)
        zone = await area_zone(s, user.area_code)
        views = await open_cases_in(s, user, limit)
    actionable = frozenset(
        view.case.id
        for view in views
        if view.next_step is not None
        and may(user, Deed.CASE_STEP, Subject(state=view.next_step.step))
    )
    return OpenCases(views, local_date(rt.clock(), zone), actionable)
