"""A household's history (户) as a use case: its members, every check with every answer and
every version, its problems and monitoring cases; and the photos they hold, found by where
they are so that a photo of another area is never handed out."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from rosterfiles.id_numbers import mask_id_number
from services.runtime import Runtime, acting_user, area_zone, local_date
from storage.areas import area_contains, get_area
from storage.errors import StorageError
from storage.households import (
    HouseholdPage,
    event_photo,
    household_file,
    household_in_area,
    households_page,
)
from storage.models import CheckRecord, Household


@dataclass(frozen=True)
class MemberLine:
    name: str
    relation: str
    id_number: str  # masked
    sex: str | None
    birth_date: date | None
    health: str | None
    schooling: str | None


@dataclass(frozen=True)
class CheckVersion:
    """One version of a check (入户核查记录), its answers as the record keeps them."""

    record_id: int
    check_id: int
    version: int
    latest: bool
    submitted_at: datetime
    cadre_name: str | None
    visit_type: str | None
    amendment_reason: str | None
    form_id: str
    answers: Mapping[str, Any]
    photos: int


@dataclass(frozen=True)
class ProblemLine:
    id: int
    category: str
    text: str
    text_i18n: Mapping[str, str]
    responsible_unit: str
    deadline: date
    status: str


@dataclass(frozen=True)
class CaseStepLine:
    step: str
    due_on: date
    done_at: datetime | None
    outcome: str | None


@dataclass(frozen=True)
class CaseLine:
    id: int
    kind: str
    status: str
    opened_on: date
    steps: list[CaseStepLine]
    # How it ended (codes of storage.monitoring.OUTCOMES, CATEGORIES and RISK_TYPES).
    outcome: str | None = None
    outcome_reason: str | None = None
    category: str | None = None
    risk_types: tuple[str, ...] = ()


@dataclass(frozen=True)
class HouseholdHistory:
    id: int
    number: str
    head_name: str
    village_code: str
    village_name: str
    group_name: str | None
    household_type: str | None
    help_cadre: str | None
    members: list[MemberLine]
    checks: list[CheckVersion]
    problems: list[ProblemLine]
    cases: list[CaseLine]
    today: date
    zone: str


def photo_ids(value: Any) -> Iterator[str]:
    """The Telegram file ids of the photos in an answer (or in all answers), in order."""
    if isinstance(value, Mapping):
        if "file_id" in value and isinstance(value["file_id"], str):
            yield value["file_id"]
            return
        for item in value.values():
            yield from photo_ids(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from photo_ids(item)


async def find_households(
    rt: Runtime, user_id: int, query: str, offset: int, limit: int
) -> HouseholdPage:
    """A page of the households of the user's area matching a name or roster number."""
    async with rt.sessionmaker() as s:
        user = await acting_user(s, user_id)
        return await households_page(s, user.area_code, query or None, offset, limit)


async def household_history(rt: Runtime, user_id: int, household_id: int) -> HouseholdHistory:
    """Everything known of a household of the user's area; refused for any other."""
    async with rt.sessionmaker() as s:
        user = await acting_user(s, user_id)
        household = await household_in_area(s, household_id, user.area_code)
        if household is None:
            raise StorageError("This household is not in your area.")
        zone = await area_zone(s, household.village_code)
        village = await get_area(s, household.village_code)
        kept = await household_file(s, household.id)
        members, records, cadres = kept.members, kept.records, kept.cadre_names
        problems, cases = kept.problems, kept.cases
        steps_of = {
            case_id: [CaseStepLine(st.step, st.due_on, st.done_at, st.outcome) for st in steps]
            for case_id, steps in kept.steps.items()
        }
        return HouseholdHistory(
            household.id,
            household.number,
            household.head_name,
            household.village_code,
            village.name if village is not None else household.village_code,
            household.group_name,
            household.household_type,
            household.help_cadre,
            [
                MemberLine(
                    m.name,
                    m.relation,
                    mask_id_number(m.id_number) if m.id_number else "",
                    m.sex,
                    m.birth_date,
                    m.health,
                    m.schooling,
                )
                for m in members
            ],
            [
                CheckVersion(
                    r.id,
                    r.check_id or r.id,
                    r.version,
                    r.latest,
                    r.submitted_at,
                    cadres.get(r.cadre_user_id),
                    r.visit_type,
                    r.amendment_reason,
                    r.form_id,
                    dict(r.answers or {}),
                    len(list(photo_ids(r.answers))),
                )
                for r in records
            ],
            [
                ProblemLine(
                    p.id,
                    p.category,
                    p.text,
                    dict(p.text_i18n or {}),
                    p.responsible_unit,
                    p.deadline,
                    p.status,
                )
                for p in problems
            ],
            [
                CaseLine(
                    c.id,
                    c.kind,
                    c.status,
                    c.opened_on,
                    steps_of.get(c.id, []),
                    c.outcome,
                    c.outcome_reason,
                    c.category,
                    tuple(c.risk_types or ()),
                )
                for c in cases
            ],
            local_date(rt.clock(), zone),
            zone,
        )


async def photo_file_id(rt: Runtime, user_id: int, source: str, source_id: int, index: int) -> str:
    """The file id of a photo the user may see: the `index`-th photo of a check record
    (source "check") or the photo of a problem's history entry (source "event"), when the
    household lies in the user's area."""
    async with rt.sessionmaker() as s:
        user = await acting_user(s, user_id)
        if source == "check":
            record = await s.get(CheckRecord, source_id)
            household_id = record.household_id if record is not None else None
            found = list(photo_ids(record.answers)) if record is not None else []
        elif source == "event":
            event = await event_photo(s, source_id)
            household_id = event[1] if event is not None else None
            found = [event[0]] if event is not None and event[0] else []
        else:
            raise StorageError("This photo does not exist.")
        household = await s.get(Household, household_id) if household_id is not None else None
        if household is None or not await area_contains(s, user.area_code, household.village_code):
            raise StorageError("This photo does not exist.")
        if not 0 <= index < len(found):
            raise StorageError("This photo does not exist.")
        return found[index]
