"""The problem ledger (问题台账) as use cases: a filtered, sorted page of the user's area, one
problem with its history, and the actions on it (verify 销号, return 退回 with a reason, a new
deadline or responsible unit, progress and rectification notes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.policy import Deed, Subject, problem_deeds, require
from services.runtime import Runtime, acting_user, area_zone, local_date
from storage.errors import StorageError
from storage.problems import (
    PAST_CUTOFF_REFUSAL,
    SORTS,
    ProblemCard,
    ProblemFilter,
    ProblemRow,
    Scope,
    act,
    ledger_summary,
    problem_card,
    problems_page,
    villages_in,
)
from storage.prompts import await_input, clear_input

# Actions that need a note, reason, date or unit from the person before they can be applied.
NEEDS_INPUT = (Deed.PROGRESS, Deed.RECTIFY, Deed.RETURN, Deed.DEADLINE, Deed.UNIT)
# Refusals after which the same person may simply try again with what was missing.
MISSING_INPUT = (
    "Please give a note or a reason.",
    "Please send a text or a photo about the progress.",
    "Please give the responsible unit.",
    "Please give the new deadline.",
    PAST_CUTOFF_REFUSAL,
)


@dataclass(frozen=True)
class LedgerQuery:
    """What a ledger page shows. `category` names a category, or `category_index` picks one
    from the area's categories (short callback data carries the index)."""

    scope: Scope = "open"
    statuses: tuple[str, ...] = ()
    mine: bool = False
    category: str | None = None
    category_index: int | None = None
    village_code: str | None = None
    unit: str | None = None
    raised_from: date | None = None
    raised_to: date | None = None
    sort: str = "newest"
    offset: int = 0
    limit: int = 8


@dataclass(frozen=True)
class Village:
    code: str
    name: str


@dataclass(frozen=True)
class LedgerPage:
    """A page of the ledger, the filter choices the area offers, and the local day."""

    rows: list[ProblemRow]
    total: int
    today: date
    zone: str
    categories: list[str]
    villages: list[Village]
    units: list[str]
    category: str | None
    village_code: str | None
    offset: int
    limit: int


def _day_start(day: date, zone: str) -> datetime:
    return datetime.combine(day, time(), ZoneInfo(zone))


async def list_problems(rt: Runtime, user_id: int, query: LedgerQuery) -> LedgerPage:
    """The problems of the user's area that match `query`, with what the filters may offer.

    A village, category or unit outside the user's area is a request, not a permission: it
    matches nothing of another area."""
    async with rt.sessionmaker() as s:
        user = await acting_user(s, user_id)
        zone = await area_zone(s, user.area_code)
        today = local_date(rt.clock(), zone)
        summary = await ledger_summary(s, user, today)
        categories = summary.categories()
        villages = await villages_in(s, user.area_code) if user.role != "cadre" else []
        units = summary.units()
        category = query.category
        if query.category_index is not None:
            index = query.category_index
            category = categories[index] if 0 <= index < len(categories) else None
        village = (
            query.village_code if any(v.code == query.village_code for v in villages) else None
        )
        flt = ProblemFilter(
            query.scope,
            query.mine,
            category,
            village,
            statuses=query.statuses,
            unit=query.unit or None,
            raised_since=_day_start(query.raised_from, zone) if query.raised_from else None,
            raised_until=(
                _day_start(query.raised_to + timedelta(days=1), zone) if query.raised_to else None
            ),
        )
        sort = query.sort if query.sort in SORTS else "newest"
        offset = max(query.offset, 0)
        found = await problems_page(s, user, flt, today, offset, query.limit, sort, summary)
    return LedgerPage(
        found.rows,
        found.total,
        today,
        zone,
        categories,
        [Village(v.code, v.name) for v in villages],
        units,
        category,
        village,
        offset,
        query.limit,
    )


@dataclass(frozen=True)
class ProblemDetail:
    """One problem as its card shows it, with the actions open to the user."""

    card: ProblemCard
    today: date
    zone: str
    actions: list[Deed]


async def problem_detail(rt: Runtime, user_id: int, problem_id: int) -> ProblemDetail:
    """A problem of the user's area with its household, history and the user's actions."""
    async with rt.sessionmaker() as s:
        user = await acting_user(s, user_id)
        zone = await area_zone(s, user.area_code)
        card = await problem_card(s, problem_id, user)
    today = local_date(rt.clock(), zone)
    return ProblemDetail(card, today, zone, problem_deeds(user, card.problem.status))


@dataclass(frozen=True)
class Started:
    """What pressing an action did: applied at once, or now waiting for the person's input."""

    problem_id: int
    deed: Deed
    waiting: bool


async def start_action(
    rt: Runtime, user_id: int, problem_id: int, deed: Deed, expected_status: str
) -> Started:
    """An action chosen on a problem the user saw in `expected_status`: checked against the
    problem's current state and the user's rights, then applied (verify) or, when it needs a
    note, remembered as what the person is asked for next."""
    now = rt.clock()
    async with rt.sessionmaker.begin() as s:
        user = await acting_user(s, user_id)
        card = await problem_card(s, problem_id, user)
        if card.problem.status != expected_status:
            raise StorageError("This problem has changed meanwhile; please look at it again.")
        require(user, deed, Subject(state=expected_status))
        if deed in NEEDS_INPUT:
            await await_input(s, user.id, deed.value, problem_id, expected_status, now)
        else:
            await act(s, problem_id, user.id, deed.value, now, expected_status=expected_status)
    return Started(problem_id, deed, deed in NEEDS_INPUT)


@dataclass(frozen=True)
class Done:
    problem_id: int
    status: str


async def act_on_problem(
    rt: Runtime,
    user_id: int,
    problem_id: int,
    deed: Deed,
    *,
    expected_status: str | None = None,
    note: str | None = None,
    photo_file_id: str | None = None,
    deadline: date | None = None,
    unit: str | None = None,
    ends_wait: bool = False,
    past_cutoff: bool = False,
) -> Done:
    """Apply an action to a problem in one transaction (audited and kept in its history), or
    raise StorageError and change nothing. `ends_wait`: this answers what the person was asked
    for, so the wait ends with it; a refusal other than a missing note ends it too."""
    now = rt.clock()
    try:
        async with rt.sessionmaker.begin() as s:
            user = await acting_user(s, user_id)
            require(user, deed)
            if past_cutoff:
                require(user, Deed.PAST_CUTOFF)
            problem = await act(
                s,
                problem_id,
                user.id,
                deed.value,
                now,
                note=note,
                photo_file_id=photo_file_id,
                expected_status=expected_status,
                deadline=deadline,
                unit=unit,
                past_cutoff=past_cutoff,
            )
            if ends_wait:
                await clear_input(s, user.id)
            done = Done(problem.id, problem.status)
    except StorageError as error:
        if ends_wait and error.message_id not in MISSING_INPUT:
            await end_wait(rt, user_id)
        raise
    return done


async def end_wait(rt: Runtime, user_id: int) -> bool:
    """Stop waiting for the person's note; True when there was a wait."""
    async with rt.sessionmaker.begin() as s:
        return await clear_input(s, user_id)


def today_in(rt: Runtime, zone: str) -> date:
    return local_date(rt.clock(), zone)
