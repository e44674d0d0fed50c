"""Monitoring cases (防返贫监测) as use cases: the open cases of the user's area, one case with
what the user may do on it now, and each thing a person does on a step: pass it, end the case
as not eligible with the reason, post the notice with its last day, the county's inclusion with
category and risk types; and a risk removal (风险消除) opened for a monitored household.

Every function checks the user's right (services.policy) and the case's state, owns its
transaction, and raises StorageError (with a message id) when the thing cannot be done. What
the bot waits for after a button (a reason, the notice's last day, an income) is kept in the
database (storage.prompts), so it survives a restart."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from services.policy import Deed, Subject, may, require
from services.runtime import Runtime, acting_user, area_zone, local_date
from storage.errors import StorageError
from storage.models import Household, User
from storage.monitoring import (
    CaseView,
    StepRule,
    case_view,
    current_step,
    draft_decision,
    earliest_notice_end,
    monitored_households,
    open_cases_in,
    record_exit,
    record_inclusion,
    record_notice,
    record_pass,
    removable_household,
)
from storage.monitoring import open_identification as store_identification
from storage.monitoring import open_removal as store_removal
from storage.progress import load_schedules
from storage.prompts import await_input, clear_input

# What the bot waits for after a case button (PendingInput.action and .expected).
CASE_INPUT = "case"
REMOVAL_INPUT = "removal"
REASON = "reason"
NOTICE_END = "notice_end"
INCOME = "income"
MAX_INCOME = Decimal("10000000")


@dataclass(frozen=True)
class OpenCases:
    views: list[CaseView]
    today: date
    # Case ids whose next step the user's role may record.
    actionable: frozenset[int]


@dataclass(frozen=True)
class CaseCard:
    """A case as one person sees it today: `rule` is its next step when they may record it
    now; `notice_until` the last day of a notice a later step waits for."""

    view: CaseView
    today: date
    rule: StepRule | None
    notice_until: date | None


async def _today(s: AsyncSession, rt: Runtime, user: User) -> date:
    return local_date(rt.clock(), await area_zone(s, user.area_code))


def _next_rule(user: User, view: CaseView, today: date) -> StepRule | None:
    rule = view.next_rule
    if rule is None or view.waits_for_notice(today) is not None:
        return None
    return rule if may(user, Deed.CASE_STEP, Subject(state=rule.code)) else None


async def open_cases(rt: Runtime, user_id: int, limit: int = 20) -> OpenCases:
    """The open monitoring cases of the user's area, oldest first."""
    async with rt.sessionmaker() as s:
        user = await acting_user(s, user_id)
        today = await _today(s, rt, user)
        views = await open_cases_in(s, user, limit)
    actionable = frozenset(
        view.case.id for view in views if _next_rule(user, view, today) is not None
    )
    return OpenCases(views, today, actionable)


async def case_card(rt: Runtime, user_id: int, case_id: int) -> CaseCard:
    """One case, with the step the user may record now."""
    async with rt.sessionmaker() as s:
        user = await acting_user(s, user_id)
        today = await _today(s, rt, user)
        view = await case_view(s, case_id, user)
    waits = view.waits_for_notice(today)
    return CaseCard(
        view,
        today,
        _next_rule(user, view, today),
        None if waits is None else view.notice_end(),
    )


async def _guard(s: AsyncSession, rt: Runtime, user_id: int, case_id: int) -> tuple[User, date]:
    """The user, their today, and their right to the case's next step (policy first)."""
    user = await acting_user(s, user_id)
    view = await case_view(s, case_id, user)
    rule = view.next_rule
    if rule is not None:
        require(user, Deed.CASE_STEP, Subject(state=rule.code))
    return user, await _today(s, rt, user)


async def pass_step(rt: Runtime, user_id: int, case_id: int, position: int) -> CaseView:
    """The step at `position` passed (consent signed, a review agreed, the risk removed)."""
    async with rt.sessionmaker.begin() as s:
        user, today = await _guard(s, rt, user_id, case_id)
        await record_pass(s, case_id, position, user.id, rt.clock(), today)
        return await case_view(s, case_id, user)


async def ask(rt: Runtime, user_id: int, case_id: int, position: int, what: str) -> CaseView:
    """Wait for the user's next message: the reason the household is not eligible (`REASON`)
    or the notice's last day (`NOTICE_END`) for the step at `position`."""
    async with rt.sessionmaker.begin() as s:
        user, today = await _guard(s, rt, user_id, case_id)
        view, _, rule = await current_step(s, case_id, user.id, position, today)
        if what == NOTICE_END and rule.answer != "notice":
            raise StorageError("This button is no longer valid.")
        if what == REASON and rule.answer not in ("consent", "review", "decision", "removal"):
            raise StorageError("This button is no longer valid.")
        await await_input(s, user.id, CASE_INPUT, case_id, f"{what}:{position}", rt.clock())
        return view


async def exit_case(
    rt: Runtime, user_id: int, case_id: int, position: int, reason: str
) -> CaseView:
    """The household is not eligible, refused its consent, or its risk is not removed: the
    case closes with the reason."""
    async with rt.sessionmaker.begin() as s:
        user, today = await _guard(s, rt, user_id, case_id)
        await record_exit(s, case_id, position, user.id, reason, rt.clock(), today)
        await clear_input(s, user.id)
        return await case_view(s, case_id, user)


async def post_notice(
    rt: Runtime,
    user_id: int,
    case_id: int,
    position: int,
    end: date,
    start: date | None = None,
) -> CaseView:
    """The notice is posted from `start` (today) to `end`, at least five days."""
    async with rt.sessionmaker.begin() as s:
        user, today = await _guard(s, rt, user_id, case_id)
        await record_notice(s, case_id, position, user.id, end, rt.clock(), today, start)
        await clear_input(s, user.id)
        return await case_view(s, case_id, user)


async def notice_earliest_end(rt: Runtime, user_id: int) -> date:
    """The earliest last day of a notice posted today."""
    async with rt.sessionmaker() as s:
        user = await acting_user(s, user_id)
        return earliest_notice_end(await _today(s, rt, user))


async def choose(
    rt: Runtime,
    user_id: int,
    case_id: int,
    position: int,
    *,
    category: str | None = None,
    toggle_risk: str | None = None,
) -> CaseView:
    """A choice on the way to the county's inclusion: the category, a risk type ticked or
    unticked; kept with the step."""
    async with rt.sessionmaker.begin() as s:
        user, today = await _guard(s, rt, user_id, case_id)
        await draft_decision(
            s, case_id, position, user.id, today, category=category, toggle_risk=toggle_risk
        )
        return await case_view(s, case_id, user)


async def include(rt: Runtime, user_id: int, case_id: int, position: int) -> CaseView:
    """The county includes the household with the chosen category and risk types; its
    household type becomes 监测户."""
    async with rt.sessionmaker.begin() as s:
        user, today = await _guard(s, rt, user_id, case_id)
        await record_inclusion(s, case_id, position, user.id, rt.clock(), today)
        return await case_view(s, case_id, user)


async def include_with(
    rt: Runtime,
    user_id: int,
    case_id: int,
    position: int,
    category: str,
    risks: list[str],
) -> CaseView:
    """The county's inclusion in one go (the dashboard's form): category, risk types, done."""
    async with rt.sessionmaker.begin() as s:
        user, today = await _guard(s, rt, user_id, case_id)
        await draft_decision(s, case_id, position, user.id, today, category=category)
        for risk in dict.fromkeys(risks):
            await draft_decision(s, case_id, position, user.id, today, toggle_risk=risk)
        await record_inclusion(s, case_id, position, user.id, rt.clock(), today)
        return await case_view(s, case_id, user)


async def open_identification(
    rt: Runtime, user_id: int, household_id: int, source: str
) -> CaseView:
    """Open an identification by hand for a household that applied or that a department's
    data named."""
    async with rt.sessionmaker.begin() as s:
        user = await acting_user(s, user_id)
        _may_open_by_hand(user)
        schedules = await load_schedules(s)
        case = await store_identification(s, household_id, user, source, schedules, rt.clock())
        return await case_view(s, case.id, user)


async def removable(rt: Runtime, user_id: int, offset: int = 0, limit: int = 8) -> list[Household]:
    """The monitored households of the user's area a risk removal can be opened for."""
    async with rt.sessionmaker() as s:
        user = await acting_user(s, user_id)
        _may_open_by_hand(user)
        return await monitored_households(s, user, limit, offset)


def _may_open_by_hand(user: User) -> None:
    require(user, Deed.OPEN_CASE)


async def removable_one(rt: Runtime, user_id: int, household_id: int) -> Household:
    """A monitored household of the user's area with no open case."""
    async with rt.sessionmaker() as s:
        user = await acting_user(s, user_id)
        _may_open_by_hand(user)
        return await _monitored(s, user, household_id)


async def stop_waiting(rt: Runtime, user_id: int) -> None:
    """Stop waiting for the user's message after a case button."""
    async with rt.sessionmaker.begin() as s:
        await clear_input(s, user_id)


async def ask_income(rt: Runtime, user_id: int, household_id: int) -> Household:
    """The user says the household's risks are gone; wait for its income per person."""
    async with rt.sessionmaker.begin() as s:
        user = await acting_user(s, user_id)
        _may_open_by_hand(user)
        household = await _monitored(s, user, household_id)
        await await_input(s, user.id, REMOVAL_INPUT, household_id, INCOME, rt.clock())
        return household


async def _monitored(s: AsyncSession, user: User, household_id: int) -> Household:
    household = await removable_household(s, user, household_id)
    if household is None:
        raise StorageError("A risk removal can be opened only for a monitored household.")
    return household


def parse_income(text: str) -> Decimal | None:
    """A yuan amount typed by a person: digits, an optional decimal point, commas allowed."""
    cleaned = text.strip().replace(",", "").replace("，", "").removesuffix("元").strip()
    try:
        value = Decimal(cleaned)
    except ArithmeticError:
        return None
    if not value.is_finite() or value < 0 or value > MAX_INCOME:
        return None
    return value.quantize(Decimal("0.01"))


async def open_removal(
    rt: Runtime, user_id: int, household_id: int, income: Decimal, line: Decimal | None = None
) -> CaseView:
    """Open the risk removal of a monitored household with its income per person, which must
    not be below the area's income line of the year (`line`, when it has one)."""
    if line is not None and income < line:
        raise StorageError(
            "The income per person, {income} yuan, is below the line of {line} yuan: the risk "
            "cannot be removed yet. Send another amount if this one was mistyped, or /cancel "
            "to stop.",
            {"income": income, "line": line},
        )
    async with rt.sessionmaker.begin() as s:
        user = await acting_user(s, user_id)
        _may_open_by_hand(user)
        await _monitored(s, user, household_id)
        schedules = await load_schedules(s)
        case = await store_removal(s, household_id, user, income, schedules, rt.clock())
        await clear_input(s, user.id)
        return await case_view(s, case.id, user)
