"""Monitoring cases (防返贫监测) of households at risk.

A household has at most one open case. Identification (纳入监测) is opened by the check that
flags the household, in the same transaction; a re-check that flags it again, while the case is
open or the household monitored, adds a line to its history instead of a second case, and an
amended check counts once whatever its versions. Risk removal (风险消除) is opened by hand for a
monitored household. Each procedure is a table of steps (PROCEDURES), each with the roles that
record it, how it is recorded and its own deadline inside the 15 days; a household found not
eligible at a review leaves early with the reason; the county decision closes the case and sets
the household type (户类型)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.areas import area_contains, codes_within
from storage.audit import audit
from storage.errors import StorageError
from storage.models import (
    Area,
    CheckRecord,
    Household,
    HouseholdChange,
    MonitoringCase,
    MonitoringCaseEvent,
    MonitoringStep,
    User,
)
from storage.schedule import Schedules
from storage.texts import N_

IDENTIFY = "identify"  # 纳入监测
REMOVE = "remove"  # 风险消除
MIN_NOTICE_DAYS = 5  # the public notice (公示) runs at least five days, first and last counted
MAX_OUTCOME = 1000
MONITORED = "监测户"
LIFTED = "脱贫户"
ORDINARY = "一般户"


@dataclass(frozen=True)
class StepRule:
    """A step of a procedure: who records it and how (`answer`):

    - "source": where the case came from (done when the case is opened);
    - "consent": the household signed its consent to the asset and income check, or refused
      (then the case ends: not included);
    - "review": passed, or the household is not eligible, with the reason (the case ends);
    - "notice": the notice (公示) is posted, with its last day, at least five days on;
    - "decision": the county includes the household, with its category and risk types, or not;
    - "assessment": income stably above the line and the risks gone (done when opened);
    - "removal": the county removes the risk (the household leaves monitoring) or not.
    """

    code: str
    roles: tuple[str, ...]
    answer: str


VILLAGE_ROLES = ("cadre", "leader")
REVIEW_ROLES = ("leader", "office")
COUNTY_ROLES = ("office",)
PROCEDURES: Mapping[str, tuple[StepRule, ...]] = {
    IDENTIFY: (
        StepRule("discovery", VILLAGE_ROLES, "source"),  # 发现（农户申请、干部排查、部门预警）
        StepRule("consent", VILLAGE_ROLES, "consent"),  # 授权承诺
        StepRule("data_check", REVIEW_ROLES, "review"),  # 部门比对
        StepRule("village_review", VILLAGE_ROLES, "review"),  # 村级民主评议
        StepRule("public_notice", VILLAGE_ROLES, "notice"),  # 公示
        StepRule("township_review", REVIEW_ROLES, "review"),  # 乡镇审核
        StepRule("county_decision", COUNTY_ROLES, "decision"),  # 县级审定
    ),
    REMOVE: (
        StepRule("assessment", VILLAGE_ROLES, "assessment"),  # 入户核实：收入、风险
        StepRule("village_review", VILLAGE_ROLES, "review"),
        StepRule("public_notice", VILLAGE_ROLES, "notice"),
        StepRule("township_review", REVIEW_ROLES, "review"),
        StepRule("county_decision", COUNTY_ROLES, "removal"),
    ),
}
# Who may record each step, whatever the procedure (services.policy reads this).
STEP_ROLES: Mapping[str, tuple[str, ...]] = {
    rule.code: rule.roles for rules in PROCEDURES.values() for rule in rules
}
# Roles that may open a case by hand (an identification, a risk removal).
OPENING_ROLES = VILLAGE_ROLES
# The sources of a case opened by hand (a check opens one as a cadre's visit).
HAND_SOURCES = ("application", "data_alert")

STEP_NAMES: Mapping[str, str] = {
    "discovery": N_("Discovery"),
    "consent": N_("Household's consent"),
    "data_check": N_("County data cross-check"),
    "village_review": N_("Village review"),
    "public_notice": N_("Public notice"),
    "township_review": N_("Township review"),
    "county_decision": N_("County decision"),
    "assessment": N_("Income and risks checked"),
}

# Codes of the choices a step records, with their names (translated where shown).
SOURCES: Mapping[str, str] = {
    "application": N_("Household application"),  # 农户申请
    "cadre_visit": N_("Found by a cadre's visit"),  # 干部排查
    "data_alert": N_("Department data alert"),  # 部门预警
}
CATEGORIES: Mapping[str, str] = {
    "unstable": N_("Lifted out of poverty but unstable"),  # 脱贫不稳定户
    "edge": N_("On the edge of poverty"),  # 边缘易致贫户
    "sudden": N_("Sudden severe hardship"),  # 突发严重困难户
}
RISK_TYPES: Mapping[str, str] = {
    "illness": N_("Illness"),  # 因病
    "disability": N_("Disability"),  # 因残
    "schooling": N_("Schooling costs"),  # 因学
    "disaster": N_("Natural disaster"),  # 因自然灾害
    "accident": N_("Accident"),  # 因意外事故
    "business_failure": N_("Failed farming or business"),  # 因产业失败
    "unstable_work": N_("Unstable work"),  # 因务工就业不稳
    "labour_shortage": N_("Lack of labour"),  # 因缺劳动力
    "housing": N_("Unsafe housing"),  # 因安全住房
    "water": N_("Unsafe drinking water"),  # 因安全饮水
    "other": N_("Other"),  # 其他
}
OUTCOMES: Mapping[str, str] = {
    "included": N_("Included in monitoring"),
    "not_included": N_("Not included in monitoring"),
    "removed": N_("Risk removed: the household left monitoring"),
    "not_removed": N_("Risk not removed: the household stays monitored"),
    "merged": N_("Merged into the household's other case"),
}


class CaseError(StorageError):
    """A monitoring step that cannot be recorded; nothing was written."""


def procedure(kind: str) -> tuple[StepRule, ...]:
    return PROCEDURES.get(kind, PROCEDURES[IDENTIFY])


def rule_of(kind: str, step: str) -> StepRule:
    for rule in procedure(kind):
        if rule.code == step:
            return rule
    return StepRule(step, (), "review")


# ---------------------------------------------------------------- opening


async def open_case(
    s: AsyncSession,
    household_id: int,
    opened_on: date,
    step_days: Mapping[str, int],
    now: datetime,
    *,
    check_record_id: int | None = None,
    check_id: int | None = None,
    responsible_user_id: int | None = None,
    kind: str = IDENTIFY,
    first_details: dict[str, Any] | None = None,
) -> MonitoringCase:
    """Open a case with all the steps of its procedure, each due `step_days[step]` days after
    `opened_on`; the first step (discovery, or the assessment of a removal) is done at once.

    Raises CaseError when the household has an open case already."""
    if await open_case_of(s, household_id) is not None:
        raise CaseError("This household has an open monitoring case already.")
    case = MonitoringCase(
        household_id=household_id,
        check_record_id=check_record_id,
        kind=kind,
        status="open",
        opened_on=opened_on,
        responsible_user_id=responsible_user_id,
        created_at=now,
    )
    try:
        async with s.begin_nested():
            s.add(case)
            await s.flush()
    except IntegrityError as error:  # another writer opened one meanwhile
        raise CaseError("This household has an open monitoring case already.") from error
    rules = procedure(kind)
    s.add_all(
        MonitoringStep(
            case_id=case.id,
            step=rule.code,
            position=position,
            due_on=opened_on + timedelta(days=int(step_days.get(rule.code, 15))),
            done_at=now if position == 0 else None,
            done_by_user_id=responsible_user_id if position == 0 else None,
            details=first_details if position == 0 else None,
        )
        for position, rule in enumerate(rules)
    )
    if check_record_id is not None:
        s.add(
            MonitoringCaseEvent(
                case_id=case.id,
                at=now,
                kind="opened",
                check_record_id=check_record_id,
                check_id=check_id or check_record_id,
                user_id=responsible_user_id,
            )
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


async def open_case_of(s: AsyncSession, household_id: int) -> MonitoringCase | None:
    """The household's open case, if it has one."""
    return await s.scalar(
        select(MonitoringCase).where(
            MonitoringCase.household_id == household_id, MonitoringCase.status == "open"
        )
    )


async def monitoring_case_of(s: AsyncSession, household_id: int) -> MonitoringCase | None:
    """The closed case that put the household under monitoring, while it still is."""
    household = await s.get(Household, household_id)
    if household is None or household.household_type != MONITORED:
        return None
    return await s.scalar(
        select(MonitoringCase)
        .where(
            MonitoringCase.household_id == household_id,
            MonitoringCase.kind == IDENTIFY,
            MonitoringCase.outcome == "included",
        )
        .order_by(MonitoringCase.id.desc())
        .limit(1)
    )


@dataclass(frozen=True)
class RiskNote:
    """What a flagged check did to monitoring: opened `case`, or added a line to it."""

    case: MonitoringCase
    opened: bool


async def _counted(s: AsyncSession, check_id: int) -> bool:
    found = await s.scalar(
        select(MonitoringCaseEvent.id).where(MonitoringCaseEvent.check_id == check_id).limit(1)
    )
    return found is not None


async def note_at_risk(
    s: AsyncSession, record: CheckRecord, schedules: Schedules | None, now: datetime
) -> RiskNote | None:
    """A check that flags its household at risk: a line in the household's open case (or in
    the case that monitors it), else a new case. Nothing when this check, in any version, was
    counted already, or when the household is monitored with no case here (a roster's 监测户)."""
    check_id = record.check_id or record.id
    if not record.at_risk or await _counted(s, check_id):
        return None
    household_id = record.household_id
    known = await open_case_of(s, household_id) or await monitoring_case_of(s, household_id)
    if known is None:
        household = await s.get(Household, household_id)
        if household is None or household.household_type == MONITORED:
            return None
        if schedules is None:
            schedules = Schedules(list(await s.scalars(select(Area))))
        schedule = schedules.of(household.village_code)
        try:
            case = await open_case(
                s,
                household_id,
                schedule.local(record.submitted_at).date(),
                schedule.case_step_days,
                now,
                check_record_id=record.id,
                check_id=check_id,
                responsible_user_id=record.cadre_user_id,
                first_details={"source": "cadre_visit"},
            )
            return RiskNote(case, True)
        except CaseError:
            known = await open_case_of(s, household_id)
            if known is None:
                raise
    s.add(
        MonitoringCaseEvent(
            case_id=known.id,
            at=now,
            kind="seen_again",
            check_record_id=record.id,
            check_id=check_id,
            user_id=record.cadre_user_id,
        )
    )
    await s.flush()
    return RiskNote(known, False)


async def open_cases_for_flagged(s: AsyncSession, schedules: Schedules, now: datetime) -> int:
    """The sweep's safety net: every check whose latest version flags its household and that
    no case counts yet is noted as at submit. Returns how many cases it opened; running it
    twice changes nothing."""
    chain = func.coalesce(CheckRecord.check_id, CheckRecord.id)
    counted = exists().where(MonitoringCaseEvent.check_id == chain)
    flagged = await s.scalars(
        select(CheckRecord)
        .where(CheckRecord.at_risk.is_(True), CheckRecord.latest.is_(True), ~counted)
        .order_by(CheckRecord.submitted_at, CheckRecord.id)
    )
    opened = 0
    for record in list(flagged):
        note = await note_at_risk(s, record, schedules, now)
        opened += int(note is not None and note.opened)
    return opened


async def open_identification(
    s: AsyncSession,
    household_id: int,
    user: User,
    source: str,
    schedules: Schedules,
    now: datetime,
) -> MonitoringCase:
    """Open an identification by hand: the household applied (农户申请) or a department's
    data named it (部门预警). A monitored household needs none."""
    household = await s.get(Household, household_id)
    if household is None or not await area_contains(s, user.area_code, household.village_code):
        raise CaseError("This household is not in your area.")
    if source not in SOURCES:
        raise CaseError("This button is no longer valid.")
    if household.household_type == MONITORED:
        raise CaseError("This household is monitored already.")
    schedule = schedules.of(household.village_code)
    return await open_case(
        s,
        household_id,
        schedule.local(now).date(),
        schedule.case_step_days,
        now,
        responsible_user_id=user.id,
        first_details={"source": source},
    )


async def open_removal(
    s: AsyncSession,
    household_id: int,
    user: User,
    income: Decimal,
    schedules: Schedules,
    now: datetime,
) -> MonitoringCase:
    """Open a risk removal (风险消除) for a monitored household: the user says its risks are
    gone and gives its income per person, which stays with the case."""
    household = await s.get(Household, household_id)
    if household is None or not await area_contains(s, user.area_code, household.village_code):
        raise CaseError("This household is not in your area.")
    if household.household_type != MONITORED:
        raise CaseError("This household is not monitored.")
    schedule = schedules.of(household.village_code)
    return await open_case(
        s,
        household_id,
        schedule.local(now).date(),
        schedule.case_step_days,
        now,
        responsible_user_id=user.id,
        kind=REMOVE,
        first_details={"income": str(income), "risks_gone": True},
    )


async def monitored_households(
    s: AsyncSession, user: User, limit: int = 30, offset: int = 0
) -> list[Household]:
    """The monitored households of the user's area with no open case: those a risk removal
    can be opened for."""
    busy = exists().where(
        MonitoringCase.household_id == Household.id, MonitoringCase.status == "open"
    )
    result = await s.scalars(
        select(Household)
        .where(
            Household.village_code.in_(codes_within(user.area_code)),
            Household.household_type == MONITORED,
            ~busy,
        )
        .order_by(Household.village_code, Household.number)
        .offset(offset)
        .limit(limit)
    )
    return list(result)


async def removable_household(s: AsyncSession, user: User, household_id: int) -> Household | None:
    """The household, when it is monitored, in the user's area and has no open case."""
    household = await s.get(Household, household_id)
    if (
        household is None
        or household.household_type != MONITORED
        or not await area_contains(s, user.area_code, household.village_code)
        or await open_case_of(s, household_id) is not None
    ):
        return None
    return household


# ---------------------------------------------------------------- reading


@dataclass(frozen=True)
class CaseLine:
    """A line of a case's history from a check: opened by it, or flagged again."""

    kind: str
    at: datetime
    check_record_id: int | None


@dataclass(frozen=True)
class CaseView:
    case: MonitoringCase
    household: Household
    steps: list[MonitoringStep]
    history: list[CaseLine]

    @property
    def next_step(self) -> MonitoringStep | None:
        if self.case.status != "open":
            return None
        return next((step for step in self.steps if step.done_at is None), None)

    @property
    def next_rule(self) -> StepRule | None:
        step = self.next_step
        return None if step is None else rule_of(self.case.kind, step.step)

    def step(self, code: str) -> MonitoringStep | None:
        return next((step for step in self.steps if step.step == code), None)

    def notice_end(self) -> date | None:
        """The last day of the posted notice, while a later step waits for it to end."""
        notice = self.step("public_notice")
        if notice is None or notice.done_at is None or not notice.details:
            return None
        end = notice.details.get("end")
        return date.fromisoformat(end) if isinstance(end, str) else None

    def waits_for_notice(self, today: date) -> date | None:
        """The first day the next step may be recorded, when the notice still runs."""
        end = self.notice_end()
        step = self.next_step
        if end is None or step is None or step.step == "public_notice":
            return None
        return end + timedelta(days=1) if today <= end else None


async def _steps(s: AsyncSession, case_ids: Sequence[int]) -> dict[int, list[MonitoringStep]]:
    found: dict[int, list[MonitoringStep]] = {case_id: [] for case_id in case_ids}
    if case_ids:
        for step in await s.scalars(
            select(MonitoringStep)
            .where(MonitoringStep.case_id.in_(list(case_ids)))
            .order_by(MonitoringStep.case_id, MonitoringStep.position)
        ):
            found[step.case_id].append(step)
    return found


async def _history(s: AsyncSession, case_ids: Sequence[int]) -> dict[int, list[CaseLine]]:
    found: dict[int, list[CaseLine]] = {case_id: [] for case_id in case_ids}
    if case_ids:
        for event in await s.scalars(
            select(MonitoringCaseEvent)
            .where(MonitoringCaseEvent.case_id.in_(list(case_ids)))
            .order_by(MonitoringCaseEvent.case_id, MonitoringCaseEvent.at, MonitoringCaseEvent.id)
        ):
            found[event.case_id].append(CaseLine(event.kind, event.at, event.check_record_id))
    return found


async def _views(
    s: AsyncSession, rows: Sequence[tuple[MonitoringCase, Household]]
) -> list[CaseView]:
    ids = [case.id for case, _ in rows]
    steps = await _steps(s, ids)
    history = await _history(s, ids)
    return [CaseView(case, household, steps[case.id], history[case.id]) for case, household in rows]


async def case_view(s: AsyncSession, case_id: int, user: User) -> CaseView:
    """A case with its steps and history, if its household lies in the user's area."""
    case = await s.get(MonitoringCase, case_id)
    if case is None:
        raise CaseError("This monitoring case does not exist.")
    household = await s.get(Household, case.household_id)
    if household is None or not await area_contains(s, user.area_code, household.village_code):
        raise CaseError("This monitoring case is not in your area.")
    return (await _views(s, [(case, household)]))[0]


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
    return await _views(s, [(case, household) for case, household in rows.all()])


# ---------------------------------------------------------------- recording


async def _acting(s: AsyncSession, user_id: int) -> User:
    user = await s.get(User, user_id)
    if user is None or not user.active:
        raise CaseError("Unknown user.")
    return user


async def current_step(
    s: AsyncSession, case_id: int, user_id: int, position: int, today: date
) -> tuple[CaseView, MonitoringStep, StepRule]:
    """The case's next step, when it is the one at `position` (the one a button was made for)
    and the user's role records it; else CaseError and nothing changes."""
    user = await _acting(s, user_id)
    view = await case_view(s, case_id, user)
    if view.case.status != "open":
        raise CaseError("This monitoring case is closed already.")
    step = view.next_step
    if step is None or step.position != position:
        raise CaseError("This step is not the next one of the case.")
    rule = rule_of(view.case.kind, step.step)
    if user.role not in rule.roles:
        raise CaseError("Your role cannot do this.")
    opens_on = view.waits_for_notice(today)
    if opens_on is not None:
        raise CaseError("The public notice runs until {day}.", {"day": opens_on - timedelta(1)})
    return view, step, rule


def _clean(text: str) -> str:
    return text.strip()[:MAX_OUTCOME]


async def _done(
    s: AsyncSession,
    view: CaseView,
    step: MonitoringStep,
    user_id: int,
    now: datetime,
    outcome: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> None:
    step.done_at = now
    step.done_by_user_id = user_id
    step.outcome = outcome
    step.details = {**(step.details or {}), **(details or {})}
    await s.flush()
    await audit(
        s,
        "case.step",
        f"household:{view.household.id}",
        now,
        user_id=user_id,
        details={"case_id": view.case.id, "step": step.step},
    )


async def _close(
    s: AsyncSession,
    view: CaseView,
    user_id: int,
    outcome: str,
    now: datetime,
    reason: str | None = None,
) -> None:
    view.case.status = "closed"
    view.case.closed_at = now
    view.case.outcome = outcome
    view.case.outcome_reason = reason
    await s.flush()
    await audit(
        s,
        "case.closed",
        f"household:{view.household.id}",
        now,
        user_id=user_id,
        details={"case_id": view.case.id, "outcome": outcome},
    )


async def _set_type(
    s: AsyncSession, household: Household, new_type: str, user_id: int, case_id: int, now: datetime
) -> None:
    old = household.household_type
    if old == new_type:
        return
    household.household_type = new_type
    household.updated_at = now
    s.add(
        HouseholdChange(
            household_id=household.id,
            at=now,
            user_id=user_id,
            action="updated",
            source=f"monitoring case {case_id}",
            changes={"fields": {"household_type": [old, new_type]}},
        )
    )
    await s.flush()


async def record_pass(
    s: AsyncSession, case_id: int, position: int, user_id: int, now: datetime, today: date
) -> CaseView:
    """The step passed: consent signed, a review agreed. A removal's county decision removes
    the risk: the case closes and the household leaves monitoring."""
    view, step, rule = await current_step(s, case_id, user_id, position, today)
    if rule.answer not in ("consent", "review", "removal"):
        raise CaseError("This step is not the next one of the case.")
    await _done(s, view, step, user_id, now, details={"passed": True})
    if rule.answer == "removal":
        await _close(s, view, user_id, "removed", now)
        await _set_type(s, view.household, await type_after_removal(s, view), user_id, case_id, now)
    return view


async def type_after_removal(s: AsyncSession, view: CaseView) -> str:
    """What a household is once its risk is removed: what it was before its inclusion (a
    脱贫户 stays one, a 一般户 goes back), else 脱贫户 for a formerly poor, unstable household
    and 一般户 for the others."""
    included = await s.scalar(
        select(MonitoringCase)
        .where(
            MonitoringCase.household_id == view.household.id,
            MonitoringCase.kind == IDENTIFY,
            MonitoringCase.outcome == "included",
        )
        .order_by(MonitoringCase.id.desc())
        .limit(1)
    )
    if included is not None and included.previous_household_type in (LIFTED, ORDINARY):
        return included.previous_household_type
    if included is not None and included.category == "unstable":
        return LIFTED
    return ORDINARY


async def record_exit(
    s: AsyncSession,
    case_id: int,
    position: int,
    user_id: int,
    reason: str,
    now: datetime,
    today: date,
) -> CaseView:
    """The household is not eligible (or refused its consent, or its risk is not removed):
    the step is recorded with the reason and the case closes."""
    view, step, rule = await current_step(s, case_id, user_id, position, today)
    if rule.answer not in ("consent", "review", "decision", "removal"):
        raise CaseError("This step is not the next one of the case.")
    reason = _clean(reason)
    if not reason:
        raise CaseError("Please give a note or a reason.")
    await _done(s, view, step, user_id, now, reason, {"passed": False})
    outcome = "not_removed" if view.case.kind == REMOVE else "not_included"
    await _close(s, view, user_id, outcome, now, reason)
    return view


def earliest_notice_end(start: date) -> date:
    return start + timedelta(days=MIN_NOTICE_DAYS - 1)


async def record_notice(
    s: AsyncSession,
    case_id: int,
    position: int,
    user_id: int,
    end: date,
    now: datetime,
    today: date,
    start: date | None = None,
) -> CaseView:
    """The notice is posted from `start` (today unless given) to `end`, at least five days,
    both counted; the next step waits until it has ended."""
    view, step, rule = await current_step(s, case_id, user_id, position, today)
    if rule.answer != "notice":
        raise CaseError("This step is not the next one of the case.")
    start = start or today
    if end < earliest_notice_end(start):
        raise CaseError(
            "The public notice must run at least {days} days: the earliest last day is {day}.",
            {"days": MIN_NOTICE_DAYS, "day": earliest_notice_end(start)},
        )
    await _done(
        s, view, step, user_id, now, details={"start": start.isoformat(), "end": end.isoformat()}
    )
    return view


async def draft_decision(
    s: AsyncSession,
    case_id: int,
    position: int,
    user_id: int,
    today: date,
    *,
    category: str | None = None,
    toggle_risk: str | None = None,
) -> CaseView:
    """A choice on the way to the county's inclusion, kept with the step until it is done:
    the category (an empty one goes back to choosing it), then the risk types one by one."""
    view, step, rule = await current_step(s, case_id, user_id, position, today)
    if rule.answer != "decision":
        raise CaseError("This step is not the next one of the case.")
    details = dict(step.details or {})
    if category == "":  # back to the choice of category
        details.pop("category", None)
        details.pop("risks", None)
    elif category is not None:
        if category not in CATEGORIES:
            raise CaseError("This button is no longer valid.")
        details["category"] = category
        details.setdefault("risks", [])
    if toggle_risk is not None:
        if toggle_risk not in RISK_TYPES or "category" not in details:
            raise CaseError("This button is no longer valid.")
        risks = list(details.get("risks") or [])
        if toggle_risk in risks:
            risks.remove(toggle_risk)
        else:
            risks.append(toggle_risk)
        details["risks"] = [code for code in RISK_TYPES if code in risks]
    step.details = details
    await s.flush()
    return view


async def record_inclusion(
    s: AsyncSession, case_id: int, position: int, user_id: int, now: datetime, today: date
) -> CaseView:
    """The county includes the household with the category and risk types chosen: the case
    closes and the household becomes a 监测户."""
    view, step, rule = await current_step(s, case_id, user_id, position, today)
    details = step.details or {}
    category = details.get("category")
    risks = [code for code in details.get("risks") or [] if code in RISK_TYPES]
    if rule.answer != "decision" or category not in CATEGORIES:
        raise CaseError("This step is not the next one of the case.")
    if not risks:
        raise CaseError("Choose at least one risk type.")
    await _done(s, view, step, user_id, now, details={"passed": True})
    view.case.category = category
    view.case.risk_types = risks
    view.case.previous_household_type = view.household.household_type
    await _close(s, view, user_id, "included", now)
    await _set_type(s, view.household, MONITORED, user_id, case_id, now)
    return view


def decision_draft(step: MonitoringStep | None) -> tuple[str | None, list[str]]:
    """The category and risk types chosen so far for an inclusion."""
    details = (step.details if step is not None else None) or {}
    category = details.get("category")
    return (
        category if isinstance(category, str) else None,
        [code for code in details.get("risks") or [] if code in RISK_TYPES],
    )
