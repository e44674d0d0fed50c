"""Amendments (更正) of submitted checks: a cadre amends their own check within a few days,
an office any check of its area. The summary is reopened with the answers given; submitting
writes a new version of the record (who, when, why) and keeps the old one; the problems are
re-evaluated: one no longer raised is withdrawn as 误报 when a wrong answer was corrected, or
reported rectified when the situation changed since; a new one is opened, one still raised
carries over to the new version."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from conversations.engine import SUMMARY_KEY
from conversations.model import CheckState, Form, Record
from storage.areas import area_contains
from storage.audit import audit
from storage.checks import open_session, record_columns, telegram_prompt
from storage.deadlines import CheckDeadlines
from storage.documents import json_document
from storage.errors import StorageError
from storage.findings import (
    Settlement,
    apply_findings,
    key_of,
    problems_of_version,
)
from storage.models import CheckRecord, CheckSession, Household, Problem, ProblemStatus, User

DEFAULT_WINDOW = timedelta(days=7)
# Problems still being worked on; rectified and verified ones stay as they are (they were
# real enough to be fixed).
WITHDRAWABLE = (ProblemStatus.OPEN, ProblemStatus.IN_PROGRESS)
# What an amendment says happened.
CORRECTION = "correction"  # a wrong answer corrected: problems no longer raised are 误报
CHANGE = "change"  # the situation changed since: they are rectified through the ledger
AMENDMENT_KINDS = (CORRECTION, CHANGE)


@dataclass(frozen=True)
class AmendmentResult:
    """The new version, and what happened to the problems."""

    record: CheckRecord
    raised: list[Problem]
    withdrawn: list[Problem]
    kept: list[Problem]
    rectified: list[Problem]

    @property
    def problems(self) -> list[Problem]:
        """The problems of the new version."""
        return self.kept + self.raised


async def authorize_amendment(
    s: AsyncSession,
    user: User,
    record: CheckRecord,
    now: datetime,
    window: timedelta = DEFAULT_WINDOW,
) -> None:
    """Refuse (StorageError with a msgid) unless the user may amend this record: the cadre who
    made the check within `window` of its submission, or an office of its area."""
    if not record.latest:
        raise StorageError("Only the latest version of a check can be amended.")
    household = await s.get(Household, record.household_id)
    if household is None:
        raise StorageError("Unknown household.")
    if user.role == "office":
        if not await area_contains(s, user.area_code, household.village_code):
            raise StorageError("This check is not in your area.")
        return
    first = await s.get(CheckRecord, record.check_id or record.id)
    submitted = first.submitted_at if first is not None else record.submitted_at
    if record.cadre_user_id != user.id:
        raise StorageError("Only the cadre who made a check, or an office, can amend it.")
    if now - submitted > window:
        raise StorageError(
            "A check can be amended within {days} days of its submission; ask your office.",
            {"days": window.days},
        )


def summary_state(form: Form, answers: Mapping[str, Any]) -> dict[str, Any]:
    """The engine's state showing the summary of these answers, ready to edit and submit."""
    groups = tuple(q.id for q in form.questions if q.type == "repeat")
    state = CheckState(
        answers=dict(answers), cursor=SUMMARY_KEY, phase="summary", done_groups=groups
    )
    return state.to_json()


async def start_amendment(
    s: AsyncSession,
    record_id: int,
    user: User,
    form: Form,
    chat_id: int | None,
    reason: str,
    now: datetime,
    window: timedelta = DEFAULT_WINDOW,
    kind: str | None = None,
) -> CheckSession:
    """Reopen a submitted check at its summary, as an open session that will amend it.

    `kind` says what happened: a wrong answer corrected, or the situation changed since; when
    not given yet, it is asked before the amendment is submitted."""
    if kind is not None and kind not in AMENDMENT_KINDS:
        raise StorageError("Say whether an answer was wrong or the situation changed.")
    record = await s.get(CheckRecord, record_id)
    if record is None:
        raise StorageError("This check does not exist.")
    await authorize_amendment(s, user, record, now, window)
    reason = reason.strip()
    if not reason:
        raise StorageError("Say why the check is amended.")
    if await open_session(s, user.id, record.household_id) is not None:
        raise StorageError("You already have an open check of this household.")
    session = CheckSession(
        user_id=user.id,
        household_id=record.household_id,
        form_id=record.form_id,
        state=json_document(summary_state(form, record.answers)),
        status="open",
        telegram=telegram_prompt(chat_id),
        amends_record_id=record.id,
        amendment_reason=reason[:1000],
        amendment_kind=kind,
        created_at=now,
        updated_at=now,
    )
    s.add(session)
    await s.flush()
    await audit(
        s,
        "check.amendment_started",
        f"household:{record.household_id}",
        now,
        user_id=user.id,
        details={
            "check_record_id": record.id,
            "session_id": session.id,
            "reason": reason,
            "kind": kind,
        },
    )
    return session


async def submit_amendment(
    s: AsyncSession,
    session_id: int,
    record: Record,
    user_id: int,
    now: datetime,
    deadlines: CheckDeadlines,
) -> AmendmentResult:
    """Close an amendment session: the new version of the record, the old one no longer the
    latest, problems re-evaluated, all of it in the audit trail.

    What happens to a problem the new version no longer raises depends on what the amendment
    says happened: a wrong answer corrected withdraws it as 误报; a situation that changed
    since reports it rectified, awaiting the leader's 销号 (never withdrawn)."""
    claimed = await s.execute(
        update(CheckSession)
        .where(CheckSession.id == session_id, CheckSession.status == "open")
        .values(status="submitted", updated_at=now)
        .returning(
            CheckSession.amends_record_id,
            CheckSession.amendment_reason,
            CheckSession.amendment_kind,
        )
    )
    row = claimed.one_or_none()
    if row is None:
        raise StorageError("This check is no longer open.")
    old_id, reason, kind = row
    if old_id is None:
        raise StorageError("This check does not amend another.")
    # Only one amendment of a version wins, even from two bot instances at once.
    superseded = await s.execute(
        update(CheckRecord)
        .where(CheckRecord.id == old_id, CheckRecord.latest.is_(True))
        .values(latest=False)
        .returning(CheckRecord.id)
    )
    if superseded.scalar_one_or_none() is None:
        raise StorageError("This check was amended meanwhile; open it again.")
    old = await s.get(CheckRecord, old_id)
    assert old is not None
    new = CheckRecord(
        session_id=session_id,
        household_id=old.household_id,
        cadre_user_id=old.cadre_user_id,
        submitted_at=old.submitted_at,
        problems_raised=0,
        **record_columns(record),
        check_id=old.check_id or old.id,
        version=(old.version or 1) + 1,
        latest=True,
        previous_id=old.id,
        amended_by_user_id=user_id,
        amended_at=now,
        amendment_reason=reason,
    )
    s.add(new)
    await s.flush()

    wanted = {key_of(r.rule_id, r.subject) for r in record.problems}
    how: Settlement = "rectified" if kind == CHANGE else "error"
    settle: dict[int, Settlement] = {
        problem.id: how
        for problem in await problems_of_version(s, old.id)
        if problem.status in WITHDRAWABLE and key_of(problem.rule_id, problem.subject) not in wanted
    }
    findings = await apply_findings(
        s,
        new,
        record.problems,
        user_id,
        now,
        deadlines,
        settle,
        note=reason,
        carried_from=old.id,
    )
    await audit(
        s,
        "check.amended",
        f"household:{new.household_id}",
        now,
        user_id=user_id,
        details={
            "check_id": new.check_id,
            "version": new.version,
            "previous_record_id": old.id,
            "check_record_id": new.id,
            "reason": reason,
            "kind": kind or CORRECTION,
            "raised": [p.id for p in findings.new],
            "withdrawn": [p.id for p in findings.withdrawn],
            "rectified": [p.id for p in findings.rectified],
            "kept": [p.id for p in findings.seen],
        },
    )
    return AmendmentResult(new, findings.new, findings.withdrawn, findings.seen, findings.rectified)


async def check_versions(s: AsyncSession, check_id: int) -> list[CheckRecord]:
    """Every version of a check, the first first."""
    result = await s.scalars(
        select(CheckRecord)
        .where((CheckRecord.check_id == check_id) | (CheckRecord.id == check_id))
        .order_by(CheckRecord.version, CheckRecord.id)
    )
    return list(result)


async def amendable_records(
    s: AsyncSession, user: User, now: datetime, window: timedelta = DEFAULT_WINDOW, limit: int = 10
) -> list[tuple[CheckRecord, Household]]:
    """The latest checks this cadre may still amend, newest first (offices use a check id)."""
    result = await s.execute(
        select(CheckRecord, Household)
        .join(Household, Household.id == CheckRecord.household_id)
        .where(
            CheckRecord.cadre_user_id == user.id,
            CheckRecord.latest.is_(True),
            CheckRecord.submitted_at >= now - window,
        )
        .order_by(CheckRecord.submitted_at.desc(), CheckRecord.id.desc())
        .limit(limit)
    )
    return [(record, household) for record, household in result]


async def latest_version(s: AsyncSession, check_id: int) -> CheckRecord | None:
    """The version in force of a check, by the check's id (its first record's id) or the id
    of any of its records."""
    record = await s.get(CheckRecord, check_id)
    if record is None:
        return None
    return await s.scalar(
        select(CheckRecord).where(
            (CheckRecord.check_id == (record.check_id or record.id))
            | (CheckRecord.id == (record.check_id or record.id)),
            CheckRecord.latest.is_(True),
        )
    )
