"""Monitoring cases (防返贫监测) of households at risk: opened from checks that flag a household,
their steps (入户核实, 村级评议, 公示, 乡镇审核, 县级审批), each with its own deadline inside the
15 days, recorded one after the other with who, when and the outcome."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.areas import area_contains, codes_within
from storage.audit import audit
from storage.errors import StorageError
from storage.models import CheckRecord, Household, MonitoringCase, MonitoringStep, User
from storage.schedule import CASE_STEPS, Schedules

MIN_NOTICE_DAYS = 5  # the public notice (公示) runs at least five days
MAX_OUTCOME = 1000

# Who may record each step: the village steps by the village's people, reviews above them.
STEP_ROLES: dict[str, tuple[str, ...]] = {
    "home_verification": ("cadre", "leader"),
    "village_review": ("cadre", "leader"),
    "public_notice": ("cadre", "leader"),
    "township_review": ("leader", "office"),
    "county_approval": ("office",),
}


class CaseError(StorageError):
    """A monitoring step that cannot be recorded; nothing was written."""


async def open_cases_for_flagged(s: AsyncSession, schedules: Schedules, now: datetime) -> int:
    """Open a case for every check record that flagged its household at risk and has none.

    Derived from the records, so a check submitted by any instance (or while the sweep was
    down) gets its case; the unique check_record_id keeps it to one.
    """
    flagged = await s.execute(
        select(
            CheckRecord.id,
            CheckRecord.household_id,
            CheckRecord.cadre_user_id,
            CheckRecord.submitted_at,
            Household.village_code,
        )
        .join(Household, Household.id == CheckRecord.household_id)
        .outerjoin(MonitoringCase, MonitoringCase.check_record_id == CheckRecord.id)
        .where(CheckRecord.at_risk.is_(True), MonitoringCase.id.is_(None))
    )
    opened = 0
    for record_id, household_id, cadre_id, submitted_at, village_code in flagged:
        schedule = schedules.of(village_code)
        await open_case(
            s,
            household_id,
            schedule.local(submitted_at).date(),
            schedule.case_step_days,
            now,
            check_record_id=record_id,
            responsible_user_id=cadre_id,
        )
        opened += 1
    return opened


async def open_case(
    s: AsyncSession,
    household_id: int,
    opened_on: date,
    step_days: Mapping[str, int],
    now: datetime,
    *,
    check_record_id: int | None = None,
    responsible_user_id: int | None = None,
    kind: str = "identify",
) -> MonitoringCase:
    """Open a case with all its steps, each due `step_days[step]` days after `opened_on`."""
    case = MonitoringCase(
        household_id=household_id,
        check_record_id=check_record_id,
        kind=kind,
        status="open",
        opened_on=opened_on,
        responsible_user_id=responsible_user_id,
        created_at=now,
    )
    s.add(case)
    await s.flush()
    s.add_all(
        MonitoringStep(
            case_id=case.id,
            step=step,
            position=position,
            due_on=opened_on + timedelta(days=int(step_days.get(step, 15))),
        )
        for position, step in enumerate(CASE_STEPS)
    )
    await s.flush()
    await audit(
        s,
        "case.opened",
        f"household:{household_id}",
        now,
        user_id=responsible_user_id,
        details={"case_id": case.id, "check_record_id": check_record_id, "kind": kind},
    )
    return case


@dataclass(frozen=True)
class CaseView:
    case: MonitoringCase
    household: Household
    steps: list[MonitoringStep]

    @property
    def next_step(self) -> MonitoringStep | None:
        return next((step for step in self.steps if step.done_at is None), None)


async def _steps(s: AsyncSession, case_id: int) -> list[MonitoringStep]:
    result = await s.scalars(
        select(MonitoringStep)
        .where(MonitoringStep.case_id == case_id)
        .order_by(MonitoringStep.position)
    )
    return list(result)


async def case_view(s: AsyncSession, case_id: int, user: User) -> CaseView:
    """A case with its steps, if its household lies in the user's area."""
    case = await s.get(MonitoringCase, case_id)
    if case is None:
        raise CaseError("This monitoring case does not exist.")
    household = await s.get(Household, case.household_id)
    if household is None or not await area_contains(s, user.area_code, household.village_code):
        raise CaseError("This monitoring case is not in your area.")
    return CaseView(case, household, await _steps(s, case_id))


async def open_cases_in(s: AsyncSession, user: User, limit: int = 20) -> list[CaseView]:
    """The open cases in the user's area, oldest first."""
    rows = await s.execute(
        select(MonitoringCase, Household)
        .join(Household, Household.id == MonitoringCase.household_id)
        .where(
            MonitoringCase.status == "open",
            Household.village_code.in_(codes_within(user.area_code)),
        )
        .order_by(MonitoringCase.opened_on, MonitoringCase.id)
        .limit(limit)
    )
    return [CaseView(case, household, await _steps(s, case.id)) for case, household in rows]


async def record_step(
    s: AsyncSession,
    case_id: int,
    step: str,
    user_id: int,
    outcome: str,
    now: datetime,
    today: date,
) -> CaseView:
    """Record the next step of a case as done with its outcome; the last one closes the case.

    Steps go in order; the public notice cannot end before it ran five days.
    """
    user = await s.get(User, user_id)
    if user is None or not user.active:
        raise CaseError("Unknown user.")
    view = await case_view(s, case_id, user)
    if view.case.status != "open":
        raise CaseError("This monitoring case is closed already.")
    current = view.next_step
    if current is None or current.step != step:
        raise CaseError("This step is not the next one of the case.")
    if user.role not in STEP_ROLES.get(step, ()):
        raise CaseError("Your role cannot do this.")
    outcome = outcome.strip()[:MAX_OUTCOME]
    if not outcome:
        raise CaseError("Please give a note or a reason.")
    if step == "public_notice":
        started = max(
            (s_.done_at for s_ in view.steps if s_.done_at is not None),
            default=None,
        )
        began_on = started.date() if started is not None else view.case.opened_on
        if (today - began_on).days < MIN_NOTICE_DAYS:
            raise CaseError(
                "The public notice must run at least {days} days.", {"days": MIN_NOTICE_DAYS}
            )
    current.done_at = now
    current.done_by_user_id = user.id
    current.outcome = outcome
    if view.next_step is None:
        view.case.status = "closed"
        view.case.closed_at = now
    await s.flush()
    await audit(
        s,
        "case.step",
        f"household:{view.household.id}",
        now,
        user_id=user.id,
        details={"case_id": case_id, "step": step},
    )
    return view
