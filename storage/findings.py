"""How a check's findings meet the problem ledger (问题台账): a problem is one thing over time,
known by its household, its rule (or hand-entered item) and its subject (the child, the
member), never by the check that found it.

A check that raises a problem still open adds "seen again" to its history; one that no longer
raises it settles it as the cadre said at the summary (rectified, awaiting 销号, or withdrawn as
误报); a problem found again after its 销号 is a new problem linked to the old one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from conversations.model import RaisedProblem
from storage.deadlines import CheckDeadlines
from storage.documents import json_document
from storage.models import CheckRecord, Problem, ProblemEvent, ProblemStatus
from storage.periods import OPEN, TO_RECTIFY

LEDGER_LANGUAGE = "zh_CN"
NOT_CLOSED = OPEN  # storage.periods
TO_SETTLE = TO_RECTIFY  # still being worked on: a check can settle them
# What became of an earlier problem a check no longer raises.
Settlement = Literal["rectified", "error"]
SETTLEMENTS: tuple[Settlement, ...] = ("rectified", "error")
SETTLED_ACTION = {"rectified": "rectified_at_check", "error": "withdrawn_at_check"}
SETTLED_STATUS = {"rectified": ProblemStatus.RECTIFIED, "error": ProblemStatus.WITHDRAWN}
# History actions by which a check says a problem is there.
RAISING = ("raised", "reopened", "seen_again", "carried_over")

ProblemKey = tuple[str, str]


def key_of(rule_id: str | None, subject: str | None) -> ProblemKey:
    """A problem's identity within its household: the rule (or item) and the subject."""
    return (rule_id or "", (subject or "").strip())


def _in_ledger_language(labels: Mapping[str, str]) -> str:
    """The label in Chinese (the ledger's language), else the first one given."""
    if labels.get(LEDGER_LANGUAGE):
        return labels[LEDGER_LANGUAGE]
    return next((label for label in labels.values() if label), "")


def new_problem(
    raised: RaisedProblem,
    record: CheckRecord,
    user_id: int,
    now: datetime,
    deadlines: CheckDeadlines,
    reopened_from: Problem | None = None,
) -> Problem:
    """The ledger entry for a problem a check raised: open, texts in the ledger language."""
    return Problem(
        household_id=record.household_id,
        check_record_id=record.id,
        rule_id=raised.rule_id,
        category=raised.category,
        text=_in_ledger_language(raised.text),
        text_i18n=json_document(dict(raised.text)),
        goal=_in_ledger_language(raised.goal),
        goal_i18n=json_document(dict(raised.goal)),
        measures=_in_ledger_language(raised.measures),
        responsible_unit=raised.responsible_unit,
        deadline=deadlines.due(raised, now),
        deadline_tier=raised.deadline_tier,
        subject=raised.subject,
        status=ProblemStatus.OPEN,
        created_at=now,
        created_by_user_id=user_id,
        reopened_from_id=reopened_from.id if reopened_from is not None else None,
        updated_at=now,
    )


async def standing_problems(s: AsyncSession, household_id: int) -> list[Problem]:
    """The household's problems not yet verified nor withdrawn, oldest first."""
    result = await s.scalars(
        select(Problem)
        .where(Problem.household_id == household_id, Problem.status.in_(NOT_CLOSED))
        .order_by(Problem.created_at, Problem.id)
    )
    return list(result)


def _by_key(problems: Iterable[Problem]) -> dict[ProblemKey, Problem]:
    found: dict[ProblemKey, Problem] = {}
    for problem in problems:
        if problem.rule_id is not None:
            found.setdefault(key_of(problem.rule_id, problem.subject), problem)
    return found


async def unsettled(
    s: AsyncSession,
    household_id: int,
    raised: Iterable[RaisedProblem],
    settled: Mapping[str, Any] | None = None,
) -> list[Problem]:
    """Earlier problems of the household that a check raising `raised` no longer raises and
    the cadre has not yet said what became of: ask them, one by one, before submitting."""
    wanted = {key_of(r.rule_id, r.subject) for r in raised}
    answered = set((settled or {}).keys())
    return [
        problem
        for key, problem in _by_key(await standing_problems(s, household_id)).items()
        if key not in wanted and problem.status in TO_SETTLE and str(problem.id) not in answered
    ]


async def last_verified(
    s: AsyncSession, household_id: int, keys: set[ProblemKey]
) -> dict[ProblemKey, Problem]:
    """The latest verified (销号) problem of each key, to link a problem that came back."""
    if not keys:
        return {}
    result = await s.scalars(
        select(Problem)
        .where(
            Problem.household_id == household_id,
            Problem.status == ProblemStatus.VERIFIED,
            Problem.rule_id.in_({rule for rule, _ in keys}),
        )
        .order_by(Problem.id.desc())
    )
    found: dict[ProblemKey, Problem] = {}
    for problem in result:
        key = key_of(problem.rule_id, problem.subject)
        if key in keys:
            found.setdefault(key, problem)
    return found


@dataclass
class Findings:
    """What a check did to the ledger."""

    new: list[Problem] = field(default_factory=list)  # raised for the first time (or again)
    seen: list[Problem] = field(default_factory=list)  # still open, seen again
    rectified: list[Problem] = field(default_factory=list)
    withdrawn: list[Problem] = field(default_factory=list)

    @property
    def problems(self) -> list[Problem]:
        """The problems the check raises: those still open, then the new ones."""
        return self.seen + self.new


def _event(
    problem: Problem,
    record: CheckRecord,
    user_id: int,
    now: datetime,
    action: str,
    from_status: str | None,
    note: str | None = None,
) -> ProblemEvent:
    return ProblemEvent(
        problem_id=problem.id,
        at=now,
        user_id=user_id,
        action=action,
        from_status=from_status,
        to_status=problem.status,
        note=note,
        check_record_id=record.id,
    )


async def apply_findings(
    s: AsyncSession,
    record: CheckRecord,
    raised: Sequence[RaisedProblem],
    user_id: int,
    now: datetime,
    deadlines: CheckDeadlines,
    settle: Mapping[int, Settlement],
    *,
    note: str | None = None,
    carried_from: int | None = None,
) -> Findings:
    """Meet a check's raised problems with the household's ledger.

    `settle` says what became of earlier problems the check no longer raises (by problem id);
    those not named stay as they are. `carried_from` is the record an amendment supersedes:
    its problems still raised move to the new version.
    """
    findings = Findings()
    standing = await standing_problems(s, record.household_id)
    by_key = _by_key(standing)
    unique: dict[ProblemKey, RaisedProblem] = {}
    for r in raised:
        unique.setdefault(key_of(r.rule_id, r.subject), r)
    fresh = {key for key in unique if key not in by_key}
    verified = await last_verified(s, record.household_id, fresh)
    events: list[ProblemEvent] = []
    for key, r in unique.items():
        problem = by_key.get(key)
        if problem is None:
            findings.new.append(new_problem(r, record, user_id, now, deadlines, verified.get(key)))
            continue
        action = "seen_again"
        if carried_from is not None and problem.check_record_id == carried_from:
            problem.check_record_id = record.id
            action = "carried_over"
        problem.updated_at = now
        findings.seen.append(problem)
        events.append(_event(problem, record, user_id, now, action, problem.status, note))
    for problem in standing:
        how = settle.get(problem.id)
        if how is None or problem.status not in TO_SETTLE or problem in findings.seen:
            continue
        before = problem.status
        problem.status = SETTLED_STATUS[how]
        problem.updated_at = now
        (findings.rectified if how == "rectified" else findings.withdrawn).append(problem)
        events.append(_event(problem, record, user_id, now, SETTLED_ACTION[how], before, note))
    s.add_all(findings.new)
    await s.flush()
    events.extend(
        _event(
            problem,
            record,
            user_id,
            now,
            "reopened" if problem.reopened_from_id is not None else "raised",
            None,
            note,
        )
        for problem in findings.new
    )
    s.add_all(events)
    record.problems_raised = len(findings.problems)
    await s.flush()
    return findings


async def problems_of_version(s: AsyncSession, record_id: int) -> list[Problem]:
    """The problems a check record raised or saw again, in the order they were raised."""
    seen = select(ProblemEvent.problem_id).where(
        ProblemEvent.check_record_id == record_id, ProblemEvent.action.in_(RAISING)
    )
    result = await s.scalars(
        select(Problem)
        .where(or_(Problem.check_record_id == record_id, Problem.id.in_(seen)))
        .order_by(Problem.id)
    )
    return list(result)


async def found_by(s: AsyncSession, record_id: int) -> set[int]:
    """The problems a check record found for the first time (raised or reopened), as opposed
    to those it saw again or carried over."""
    result = await s.scalars(
        select(ProblemEvent.problem_id).where(
            ProblemEvent.check_record_id == record_id,
            ProblemEvent.action.in_(("raised", "reopened")),
        )
    )
    return set(result)
