"""The problem ledger (问题台账): every change of a problem in one place, with its history and
audit entry, problems added by hand, deadlines (整改期限) and the paged, filtered ledger.

Transitions (整改流程): open → in_progress → rectified → verified (销号), and rectified →
in_progress when a leader returns it. `act()` is the only function that changes a problem; a
refused request raises `ProblemError` and writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, and_, case, func, literal_column, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, aliased

from storage.areas import area_codes_within, area_contains, codes_within
from storage.audit import audit
from storage.campaigns import CampaignFacts, campaign_of_problem
from storage.deadlines import TIMED, due_on, tier_code
from storage.errors import StorageError
from storage.models import (
    Area,
    CheckRecord,
    Household,
    Problem,
    ProblemEvent,
    ProblemStatus,
    User,
)
from storage.periods import OPEN, TO_RECTIFY, has_due_date
from storage.periods import is_overdue as is_overdue_in_period
from storage.schedule import ONGOING, AreaSchedule

# What open means is said once, in storage.periods.
OPEN_STATUSES = TO_RECTIFY  # still to be rectified: reminded, may be overdue
NOT_CLOSED = OPEN  # neither verified nor withdrawn
MAX_PAGE = 50
MAX_NOTE = 2000
MAX_DEADLINE_DAYS = 3 * 366


class ProblemError(StorageError):
    """A change to a problem that is refused; nothing was written."""


PAST_CUTOFF_REFUSAL = (
    "This problem was found in the campaign {name}: its deadline cannot pass the cut-off {day}."
)


class PastCutoff(ProblemError):
    """A new deadline after the cut-off of the campaign the problem was found in: refused
    unless an office says explicitly that it may pass it."""

    def __init__(self, campaign: CampaignFacts) -> None:
        super().__init__(
            PAST_CUTOFF_REFUSAL, {"name": campaign.name, "day": campaign.cutoff.isoformat()}
        )
        self.campaign = campaign


@dataclass(frozen=True)
class Transition:
    """Who may do an action, from which statuses, to which status (None: status unchanged)."""

    roles: tuple[str, ...]
    from_statuses: tuple[ProblemStatus, ...]
    to_status: ProblemStatus | None
    note_required: bool = False


Action = Literal["progress", "rectify", "verify", "return", "deadline", "unit"]

TRANSITIONS: Mapping[str, Transition] = {
    # A cadre (or leader) records progress (整改进展): text or photo.
    "progress": Transition(("cadre", "leader"), OPEN_STATUSES, ProblemStatus.IN_PROGRESS),
    # Reported rectified (已整改): a note is required, a photo optional.
    "rectify": Transition(
        ("cadre", "leader"),
        (ProblemStatus.IN_PROGRESS,),
        ProblemStatus.RECTIFIED,
        note_required=True,
    ),
    # A leader checks the rectification and closes the problem (销号).
    "verify": Transition(("leader",), (ProblemStatus.RECTIFIED,), ProblemStatus.VERIFIED),
    # A leader returns it (退回) with a reason; the work goes on.
    "return": Transition(
        ("leader",), (ProblemStatus.RECTIFIED,), ProblemStatus.IN_PROGRESS, note_required=True
    ),
    # An office moves the deadline or changes the responsible unit, with a reason.
    "deadline": Transition(("office",), NOT_CLOSED, None, note_required=True),
    "unit": Transition(("office",), NOT_CLOSED, None, note_required=True),
}


def overdue_condition(today: date) -> ColumnElement[bool]:
    """Still to be rectified, past its deadline, and not 长期坚持 (reviewed, never overdue)."""
    return is_overdue_in_period(today)


def is_overdue(status: str, deadline: date, tier: str | None, today: date) -> bool:
    """`overdue_condition` for a problem in hand."""
    return status in OPEN_STATUSES and deadline < today and tier != ONGOING


def allowed_actions(role: str, status: str) -> list[str]:
    """The actions a role may take on a problem in this status, in the order buttons show."""
    return [
        name
        for name, rule in TRANSITIONS.items()
        if role in rule.roles and status in rule.from_statuses
    ]


def responsible_user_id(problem: Problem) -> int | None:
    """The cadre who answers for a problem: its assignee, else whoever raised it."""
    return problem.assignee_user_id or problem.created_by_user_id


def _clean(note: str | None) -> str | None:
    if note is None:
        return None
    note = note.strip()
    return note[:MAX_NOTE] if note else None


async def _actor(s: AsyncSession, user_id: int) -> User:
    user = await s.get(User, user_id)
    if user is None or not user.active:
        raise ProblemError("Unknown user.")
    return user


async def _problem_in_area(s: AsyncSession, problem_id: int, user: User) -> Problem:
    problem = await s.get(Problem, problem_id)
    if problem is None:
        raise ProblemError("This problem does not exist.")
    household = await s.get(Household, problem.household_id)
    if household is None or not await area_contains(s, user.area_code, household.village_code):
        raise ProblemError("This problem is not in your area.")
    return problem


async def act(
    s: AsyncSession,
    problem_id: int,
    user_id: int,
    action: str,
    now: datetime,
    *,
    note: str | None = None,
    photo_file_id: str | None = None,
    expected_status: str | None = None,
    deadline: date | None = None,
    unit: str | None = None,
    past_cutoff: bool = False,
) -> Problem:
    """Apply `action` to a problem for a user, or raise ProblemError and change nothing.

    `expected_status` is the status the user saw (on the card whose button was pressed): a
    stale button is refused rather than acting on a problem that moved on meanwhile. A new
    deadline after the cut-off of the campaign the problem was found in is refused
    (`PastCutoff`) unless an office gives `past_cutoff`; the history then says so.
    """
    rule = TRANSITIONS.get(action)
    if rule is None:
        raise ProblemError("Unknown action.")
    user = await _actor(s, user_id)
    problem = await _problem_in_area(s, problem_id, user)
    if user.role not in rule.roles:
        raise ProblemError("Your role cannot do this.")
    if expected_status is not None and expected_status != problem.status:
        raise ProblemError("This problem has changed meanwhile; please look at it again.")
    if problem.status == ProblemStatus.VERIFIED:
        raise ProblemError("This problem is closed (verified) already.")
    if problem.status not in rule.from_statuses:
        raise ProblemError("This cannot be done to the problem in its current state.")
    note = _clean(note)
    if rule.note_required and note is None:
        raise ProblemError("Please give a note or a reason.")
    if action == "progress" and note is None and photo_file_id is None:
        raise ProblemError("Please send a text or a photo about the progress.")

    values: dict[str, object] = {"updated_at": now}
    details: dict[str, object] = {}
    event_action = action  # the history's word for it
    if rule.to_status is not None:
        values["status"] = rule.to_status
    if action == "deadline":
        if deadline is None:
            raise ProblemError("Please give the new deadline.")
        if deadline < now.date() - timedelta(days=1):
            raise ProblemError("A deadline cannot be in the past.")
        campaign = await campaign_of_problem(s, problem.village_code, problem.created_at)
        if campaign is not None and deadline > campaign.cutoff:
            if not (past_cutoff and user.role == "office"):
                raise PastCutoff(campaign)
            event_action = "deadline_past_cutoff"
            details = {"campaign": campaign.name, "cutoff": campaign.cutoff}
        values["deadline"] = deadline
        details = {"from": problem.deadline, "to": deadline, **details}
    if action == "unit":
        unit = (unit or "").strip()[:100]
        if not unit:
            raise ProblemError("Please give the responsible unit.")
        values["responsible_unit"] = unit
        details = {"from": problem.responsible_unit, "to": unit}

    from_status = problem.status
    # The status guard in the UPDATE makes two concurrent taps lose cleanly.
    changed = await s.execute(
        update(Problem)
        .where(Problem.id == problem.id, Problem.status == from_status)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        raise ProblemError("This problem has changed meanwhile; please look at it again.")
    await s.refresh(problem)
    s.add(
        ProblemEvent(
            problem_id=problem.id,
            at=now,
            user_id=user.id,
            action=event_action,
            from_status=from_status,
            to_status=problem.status,
            note=note,
            photo_file_id=photo_file_id,
        )
    )
    await s.flush()
    await audit(
        s,
        f"problem.{action}",
        f"problem:{problem.id}",
        now,
        user_id=user.id,
        details={
            "from_status": from_status,
            "to_status": problem.status,
            "photo": photo_file_id is not None,
            **{key: str(value) for key, value in details.items()},
        },
    )
    return problem


# ---------------------------------------------------------------- deadlines

DeadlineSpec = date | int | str | None


def resolve_deadline(
    spec: DeadlineSpec, category: str, today: date, schedule: AreaSchedule
) -> tuple[date, str | None]:
    """The due date and tier of a problem raised `today`: a date or N days (限时整改), a tier
    (立行立改 immediate, 限时整改 timed, 长期坚持 ongoing), or None for the category's default
    from the area's settings."""
    if isinstance(spec, date):
        if spec < today:
            raise ProblemError("A deadline cannot be in the past.")
        return spec, TIMED
    if isinstance(spec, int):
        if not 0 <= spec <= MAX_DEADLINE_DAYS:
            raise ProblemError("A deadline must be between 0 and {max} days.", {"max": 1098})
        return today + timedelta(days=spec), TIMED
    if isinstance(spec, str):
        if tier_code(spec) is None:
            raise ProblemError("Unknown deadline tier {tier}.", {"tier": spec})
        return due_on(None, spec, today, schedule)
    if category in schedule.deadline_days:
        return today + timedelta(days=schedule.deadline_days[category]), TIMED
    return due_on(None, schedule.deadline_tiers.get(category), today, schedule)


async def add_problem(
    s: AsyncSession,
    user_id: int,
    household_id: int,
    *,
    category: str,
    text: str,
    goal: str,
    measures: str,
    responsible_unit: str,
    deadline: date,
    deadline_tier: str | None,
    now: datetime,
    assignee_user_id: int | None = None,
) -> Problem:
    """A problem a leader or office adds by hand (not from a check), with the same fields."""
    user = await _actor(s, user_id)
    if user.role not in ("leader", "office"):
        raise ProblemError("Your role cannot do this.")
    household = await s.get(Household, household_id)
    if household is None or not await area_contains(s, user.area_code, household.village_code):
        raise ProblemError("This household is not in your area.")
    fields = {
        "category": category.strip(),
        "text": text.strip(),
        "goal": goal.strip(),
        "responsible_unit": responsible_unit.strip(),
    }
    if not all(fields.values()):
        raise ProblemError("Category, problem, goal and responsible unit are all required.")
    if assignee_user_id is not None:
        assignee = await s.get(User, assignee_user_id)
        if assignee is None or not await area_contains(
            s, household.village_code, assignee.area_code
        ):
            raise ProblemError("The responsible cadre must belong to the household's village.")
    problem = Problem(
        household_id=household_id,
        check_record_id=None,
        rule_id=None,
        category=fields["category"][:64],
        text=fields["text"],
        text_i18n={},
        goal=fields["goal"],
        goal_i18n={},
        measures=measures.strip(),
        responsible_unit=fields["responsible_unit"][:100],
        deadline=deadline,
        deadline_tier=deadline_tier,
        status=ProblemStatus.OPEN,
        created_at=now,
        created_by_user_id=user.id,
        assignee_user_id=assignee_user_id,
        updated_at=now,
    )
    s.add(problem)
    await s.flush()
    s.add(
        ProblemEvent(
            problem_id=problem.id,
            at=now,
            user_id=user.id,
            action="added",
            from_status=None,
            to_status=ProblemStatus.OPEN,
        )
    )
    await s.flush()
    await audit(
        s,
        "problem.added",
        f"problem:{problem.id}",
        now,
        user_id=user.id,
        details={"household_id": household_id, "category": problem.category},
    )
    return problem


# ---------------------------------------------------------------- the ledger

Scope = Literal["open", "overdue", "all"]


@dataclass(frozen=True)
class ProblemFilter:
    """What /problems shows: open (not verified), overdue, or all; optionally only mine, one
    category, one village."""

    scope: Scope = "open"
    mine: bool = False
    category: str | None = None
    village_code: str | None = None
    # The dashboard's further filters: given statuses, a responsible unit, raised in [since, until).
    statuses: tuple[str, ...] = ()
    unit: str | None = None
    raised_since: datetime | None = None
    raised_until: datetime | None = None


# The orders a ledger page can be read in: newest first (the default), by deadline, oldest first.
SORTS = ("newest", "deadline", "oldest")


@dataclass(frozen=True)
class ProblemRow:
    id: int
    household_id: int
    household_number: str
    head_name: str
    village_code: str
    village_name: str
    category: str
    text: str
    text_i18n: Mapping[str, str]
    deadline: date
    status: str
    responsible_unit: str = ""
    created_at: datetime | None = None
    deadline_tier: str | None = None


@dataclass(frozen=True)
class ProblemPage:
    rows: list[ProblemRow]
    total: int


def _responsible() -> ColumnElement[int | None]:
    return func.coalesce(Problem.assignee_user_id, Problem.created_by_user_id)


def _unindexed(column: InstrumentedAttribute[str]) -> ColumnElement[str]:
    """The column as an expression no index serves, so that the database reads a page in its
    order through the order's index rather than gathering and sorting the whole area."""
    return column.concat(literal_column("''"))


def _filtered(
    user: User,
    flt: ProblemFilter,
    today: date,
    village_codes: list[str] | None,
    in_order: bool = False,
) -> Select[Any]:
    area: ColumnElement[str] | InstrumentedAttribute[str] = (
        _unindexed(Problem.village_code) if in_order else Problem.village_code
    )
    status: ColumnElement[str] | InstrumentedAttribute[str] = (
        _unindexed(Problem.status) if in_order else Problem.status
    )
    query = select(Problem).where(area.in_(codes_within(user.area_code)))
    if flt.scope == "open":
        query = query.where(status.in_(NOT_CLOSED))
    elif flt.scope == "overdue":
        query = query.where(status.in_(OPEN_STATUSES), Problem.deadline < today, has_due_date())
    if flt.mine:
        query = query.where(_responsible() == user.id)
    if flt.category:
        query = query.where(Problem.category == flt.category)
    if village_codes is not None:
        query = query.where(area.in_(village_codes))
    if flt.statuses:
        query = query.where(status.in_(flt.statuses))
    if flt.unit:
        query = query.where(Problem.responsible_unit == flt.unit)
    if flt.raised_since is not None:
        query = query.where(Problem.created_at >= flt.raised_since)
    if flt.raised_until is not None:
        query = query.where(Problem.created_at < flt.raised_until)
    return query


def _order(sort: str) -> tuple[Any, ...]:
    if sort == "deadline":
        return (Problem.deadline, Problem.id)
    if sort == "oldest":
        return (Problem.created_at, Problem.id)
    return (Problem.created_at.desc(), Problem.id.desc())


@dataclass(frozen=True)
class LedgerGroup:
    """The area's problems of one status, category and responsible unit."""

    status: str
    category: str
    unit: str
    count: int
    overdue: int  # of them, past their deadline and not 长期坚持 (overdue only while open)


@dataclass(frozen=True)
class LedgerSummary:
    """An area's problems counted by status, category and responsible unit in one statement:
    the filter choices a ledger page offers and the size of most of its selections."""

    groups: tuple[LedgerGroup, ...]

    @property
    def problems(self) -> int:
        return sum(group.count for group in self.groups)

    def categories(self) -> list[str]:
        """The categories of problems not yet verified (for the category filter)."""
        return sorted({g.category for g in self.groups if g.status in NOT_CLOSED})

    def units(self) -> list[str]:
        """The responsible units named in the area's problems (for the unit filter)."""
        return sorted({g.unit for g in self.groups})

    def count(self, flt: ProblemFilter) -> int | None:
        """How many problems `flt` selects; None when it filters on what is not counted here
        (the person's own, a village, the day raised)."""
        if flt.mine or flt.village_code or flt.raised_since or flt.raised_until:
            return None
        total = 0
        for group in self.groups:
            if flt.scope == "open" and group.status not in NOT_CLOSED:
                continue
            if flt.scope == "overdue" and group.status not in OPEN_STATUSES:
                continue
            if flt.statuses and group.status not in flt.statuses:
                continue
            if flt.category and group.category != flt.category:
                continue
            if flt.unit and group.unit != flt.unit:
                continue
            total += group.overdue if flt.scope == "overdue" else group.count
        return total


async def ledger_summary(s: AsyncSession, user: User, today: date) -> LedgerSummary:
    """The user's area's problems counted by status, category and unit, from the covering
    index alone: grouped per village first (in the index's order, so nothing is sorted but the
    small result), then summed."""
    per_village = (
        select(
            Problem.village_code,
            Problem.status,
            Problem.category,
            Problem.responsible_unit,
            func.count().label("n"),
            func.sum(case((and_(Problem.deadline < today, has_due_date()), 1), else_=0)).label(
                "late"
            ),
        )
        .where(Problem.village_code.in_(codes_within(user.area_code)))
        .group_by(Problem.village_code, Problem.status, Problem.category, Problem.responsible_unit)
        .subquery()
    )
    rows = await s.execute(
        select(
            per_village.c.status,
            per_village.c.category,
            per_village.c.responsible_unit,
            func.sum(per_village.c.n),
            func.sum(per_village.c.late),
        ).group_by(per_village.c.status, per_village.c.category, per_village.c.responsible_unit)
    )
    return LedgerSummary(
        tuple(
            LedgerGroup(status, category, unit, int(count or 0), int(late or 0))
            for status, category, unit, count, late in rows
        )
    )


def _read_in_order(offset: int, limit: int, selected: int, problems: int) -> bool:
    """Whether reading the ledger in the page's order (skipping what the filter refuses) reads
    fewer rows than gathering the `selected` problems and sorting them: about
    (offset + limit) * problems / selected rows against `selected`."""
    return (offset + limit) * problems < selected * selected


async def _choose_in_order(s: AsyncSession, offset: int, limit: int, selected: int) -> bool:
    """SQLite keeps no statistics and would gather a whole county to sort it, so the plan is
    chosen here; PostgreSQL chooses well from its own statistics."""
    if s.get_bind().dialect.name != "sqlite":
        return False
    ledger_size = await s.scalar(select(func.max(Problem.id))) or 0
    return _read_in_order(offset, limit, selected, ledger_size)


async def problems_page(
    s: AsyncSession,
    user: User,
    flt: ProblemFilter,
    today: date,
    offset: int = 0,
    limit: int = 8,
    sort: str = "newest",
    summary: LedgerSummary | None = None,
) -> ProblemPage:
    """A page of the problems in the user's area, newest first unless `sort` says otherwise."""
    offset = max(offset, 0)
    limit = min(max(limit, 1), MAX_PAGE)
    codes = await area_codes_within(s, flt.village_code) if flt.village_code else None
    if summary is None:
        summary = await ledger_summary(s, user, today)
    total = summary.count(flt)
    if total is None:
        base = _filtered(user, flt, today, codes)
        total = await s.scalar(select(func.count()).select_from(base.subquery())) or 0
    if total <= offset:
        return ProblemPage([], total)
    in_order = await _choose_in_order(s, offset, limit, total)
    village = aliased(Area)
    rows = await s.execute(
        _filtered(user, flt, today, codes, in_order)
        .join(Household, Household.id == Problem.household_id)
        .join(village, village.code == Problem.village_code)
        .add_columns(Household.number, Household.head_name, village.name)
        .order_by(*_order(sort))
        .offset(offset)
        .limit(limit)
    )
    return ProblemPage(
        [
            ProblemRow(
                id=problem.id,
                household_id=problem.household_id,
                household_number=number,
                head_name=head,
                village_code=problem.village_code,
                village_name=village_name,
                category=problem.category,
                text=problem.text,
                text_i18n=dict(problem.text_i18n or {}),
                deadline=problem.deadline,
                status=problem.status,
                responsible_unit=problem.responsible_unit,
                created_at=problem.created_at,
                deadline_tier=problem.deadline_tier,
            )
            for problem, number, head, village_name in rows
        ],
        total,
    )


async def villages_in(s: AsyncSession, area_code: str) -> list[Area]:
    """The villages in an area, by name."""
    result = await s.scalars(
        select(Area)
        .where(Area.code.in_(codes_within(area_code)), Area.level == "village")
        .order_by(Area.code)
    )
    return list(result)


@dataclass(frozen=True)
class HistoryLine:
    at: datetime
    user_name: str | None
    action: str
    from_status: str | None
    to_status: str | None
    note: str | None
    photo_file_id: str | None
    event_id: int = 0


@dataclass(frozen=True)
class ProblemCard:
    """Everything a problem card (问题卡片) shows."""

    problem: Problem
    household: Household
    village_name: str
    responsible_name: str | None
    history: list[HistoryLine]


async def problem_card(s: AsyncSession, problem_id: int, user: User) -> ProblemCard:
    """A problem with its household and history, if it lies in the user's area."""
    problem = await _problem_in_area(s, problem_id, user)
    household = await s.get(Household, problem.household_id)
    assert household is not None  # checked by _problem_in_area
    village = await s.get(Area, household.village_code)
    responsible_id = responsible_user_id(problem)
    responsible = await s.get(User, responsible_id) if responsible_id is not None else None
    author = aliased(User)
    events = await s.execute(
        select(ProblemEvent, author.name)
        .outerjoin(author, author.id == ProblemEvent.user_id)
        .where(ProblemEvent.problem_id == problem.id)
        .order_by(ProblemEvent.at, ProblemEvent.id)
    )
    history = [
        HistoryLine(
            event.at,
            name,
            event.action,
            event.from_status,
            event.to_status,
            event.note,
            event.photo_file_id,
            event.id,
        )
        for event, name in events
    ]
    return ProblemCard(
        problem,
        household,
        village.name if village is not None else household.village_code,
        responsible.name if responsible is not None else None,
        history,
    )


async def default_assignee(s: AsyncSession, household_id: int) -> int | None:
    """The cadre who answers for a hand-added problem: the household's help cadre (帮扶责任人)
    when registered in its village, else the cadre who checked it last."""
    household = await s.get(Household, household_id)
    if household is None:
        return None
    if household.help_cadre:
        helper = await s.scalar(
            select(User.id)
            .where(
                User.name == household.help_cadre,
                User.role == "cadre",
                User.active.is_(True),
                User.area_code.in_(codes_within(household.village_code)),
            )
            .order_by(User.id)
            .limit(1)
        )
        if helper is not None:
            return helper
    return await s.scalar(
        select(CheckRecord.cadre_user_id)
        .where(CheckRecord.household_id == household_id)
        .order_by(CheckRecord.submitted_at.desc(), CheckRecord.id.desc())
        .limit(1)
    )
