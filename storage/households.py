"""Households (户) and their members: the paged list a cadre picks from, the rights check, the
roster the questionnaire is pre-filled with."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from rosterfiles.reading import HEAD_RELATION
from storage.areas import codes_within
from storage.checks import records_of_household
from storage.models import (
    Area,
    CheckRecord,
    Household,
    Member,
    MonitoringCase,
    MonitoringStep,
    Problem,
    ProblemEvent,
    User,
)

MAX_PAGE = 100


@dataclass(frozen=True)
class HouseholdRow:
    """One line of the household list: enough to pick a household and see when it was checked."""

    id: int
    number: str
    head_name: str
    village_code: str
    village_name: str
    member_count: int
    last_check_at: datetime | None


@dataclass(frozen=True)
class HouseholdPage:
    rows: list[HouseholdRow]
    total: int


async def households_page(
    s: AsyncSession,
    area_code: str,
    query: str | None = None,
    offset: int = 0,
    limit: int = 8,
) -> HouseholdPage:
    """A page of the households in `area_code` and below, ordered by roster number (as numbers
    when they are: 9 before 10).

    `query` matches the head's name (substring) or the roster number (prefix). The page,
    its member counts, last checks and the total come from one statement.
    """
    offset = max(offset, 0)
    limit = min(max(limit, 1), MAX_PAGE)
    members = (
        select(Member.household_id, func.count().label("member_count"))
        .where(Member.active.is_(True))
        .group_by(Member.household_id)
        .subquery("member_counts")
    )
    checks = (
        select(
            CheckRecord.household_id,
            func.max(CheckRecord.submitted_at).label("last_check_at"),
        )
        .group_by(CheckRecord.household_id)
        .subquery("last_checks")
    )
    conditions: list[ColumnElement[bool]] = [Household.village_code.in_(codes_within(area_code))]
    text = (query or "").strip()
    if text:
        conditions.append(
            or_(
                Household.head_name.contains(text, autoescape=True),
                Household.number.startswith(text, autoescape=True),
            )
        )
    statement = (
        select(
            Household.id,
            Household.number,
            Household.head_name,
            Household.village_code,
            Area.name,
            func.coalesce(members.c.member_count, 0),
            checks.c.last_check_at,
            func.count().over().label("total"),
        )
        .join(Area, Area.code == Household.village_code)
        .outerjoin(members, members.c.household_id == Household.id)
        .outerjoin(checks, checks.c.household_id == Household.id)
        .where(*conditions)
        # Shorter numbers first: "9" before "10", as people count.
        .order_by(
            func.length(Household.number), Household.number, Household.village_code, Household.id
        )
        .offset(offset)
        .limit(limit)
    )
    result = (await s.execute(statement)).all()
    rows = [
        HouseholdRow(
            id=row[0],
            number=row[1],
            head_name=row[2],
            village_code=row[3],
            village_name=row[4],
            member_count=int(row[5]),
            last_check_at=row[6],
        )
        for row in result
    ]
    if result:
        total = int(result[0][7])
    elif offset == 0:
        total = 0
    else:
        # Past the last page the window count has no row to ride on.
        total = await s.scalar(select(func.count(Household.id)).where(*conditions)) or 0
    return HouseholdPage(rows=rows, total=total)


async def household_in_area(s: AsyncSession, household_id: int, area_code: str) -> Household | None:
    """The household, or None when it does not exist or lies outside `area_code`: the rights
    check behind every household a user asks for."""
    return await s.scalar(
        select(Household).where(
            Household.id == household_id,
            Household.village_code.in_(codes_within(area_code)),
        )
    )


def _roster_order() -> tuple[Any, ...]:
    return (case((Member.relation == HEAD_RELATION, 0), else_=1), Member.id)


def _roster_item(member: Any) -> dict[str, Any]:
    """A member as the engine's roster item: a Member, or a row of its roster columns."""
    return {
        "member_id": member.id,
        "name": member.name,
        "relation": member.relation,
        "sex": member.sex,
        "birth_date": member.birth_date.isoformat() if member.birth_date else None,
        "health": member.health,
        "schooling": member.schooling,
        # The roster's words, under names no question uses: a form reads them to
        # propose answers (e.g. a chronic illness) without taking them as answered.
        "health_on_roster": member.health,
        "schooling_on_roster": member.schooling,
    }


async def roster_of(s: AsyncSession, household_id: int) -> list[dict[str, Any]]:
    """The active members of a household, head (户主) first, as the engine's roster items."""
    members = await s.scalars(
        select(Member)
        .where(Member.household_id == household_id, Member.active.is_(True))
        .order_by(*_roster_order())
    )
    return [_roster_item(member) for member in members]


# Built once: every answer of a check runs it. The members come as the columns a roster item
# reads, not as Member objects, which would cost more to make than the rest of the statement.
_HOUSEHOLD_WITH_ROSTER = (
    select(
        Household,
        Member.id,
        Member.name,
        Member.relation,
        Member.sex,
        Member.birth_date,
        Member.health,
        Member.schooling,
    )
    .outerjoin(Member, and_(Member.household_id == Household.id, Member.active.is_(True)))
    .where(Household.id == bindparam("b_household"))
    .order_by(*_roster_order())
)


async def household_with_roster(
    s: AsyncSession, household_id: int
) -> tuple[Household, list[dict[str, Any]]] | None:
    """A household and its roster (as `roster_of`) in one statement: every answer of a check
    needs both."""
    rows = (await s.execute(_HOUSEHOLD_WITH_ROSTER, {"b_household": household_id})).all()
    if not rows:
        return None
    return rows[0][0], [_roster_item(row) for row in rows if row.id is not None]


@dataclass(frozen=True)
class HouseholdFile:
    """Everything kept about one household (户档案), read at once: its members on the
    roster, its check records (newest first) with their cadres' names, its problems, and its
    monitoring cases with their steps in order."""

    members: list[Member]
    records: list[CheckRecord]
    cadre_names: dict[int, str]
    problems: list[Problem]
    cases: list[MonitoringCase]
    steps: dict[int, list[MonitoringStep]]


async def household_file(s: AsyncSession, household_id: int) -> HouseholdFile:
    members = await s.scalars(
        select(Member)
        .where(Member.household_id == household_id, Member.active.is_(True))
        .order_by(Member.id)
    )
    records = await records_of_household(s, household_id)
    cadres = await s.scalars(select(User).where(User.id.in_({r.cadre_user_id for r in records})))
    problems = await s.scalars(
        select(Problem).where(Problem.household_id == household_id).order_by(Problem.id)
    )
    cases = list(
        await s.scalars(
            select(MonitoringCase)
            .where(MonitoringCase.household_id == household_id)
            .order_by(MonitoringCase.id)
        )
    )
    steps: dict[int, list[MonitoringStep]] = {}
    for step in await s.scalars(
        select(MonitoringStep)
        .where(MonitoringStep.case_id.in_([kept.id for kept in cases]))
        .order_by(MonitoringStep.case_id, MonitoringStep.position)
    ):
        steps.setdefault(step.case_id, []).append(step)
    return HouseholdFile(
        list(members),
        records,
        {u.id: u.name for u in cadres},
        list(problems),
        cases,
        steps,
    )


async def event_photo(s: AsyncSession, event_id: int) -> tuple[str | None, int] | None:
    """The photo of a problem's history entry and the household it belongs to."""
    row = (
        await s.execute(
            select(ProblemEvent.photo_file_id, Problem.household_id)
            .join(Problem, Problem.id == ProblemEvent.problem_id)
            .where(ProblemEvent.id == event_id)
        )
    ).first()
    return (row[0], row[1]) if row is not None else None
