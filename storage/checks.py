"""Household checks (入户核查): sessions saved after every answer, and the submission that turns
a finished check into a record and its rectification problems (问题台账)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, bindparam, func, inspect, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from conversations.model import Record
from storage.audit import audit
from storage.deadlines import CheckDeadlines
from storage.documents import json_document
from storage.errors import StorageError
from storage.findings import SETTLEMENTS, apply_findings, problems_of_version
from storage.models import (
    CheckRecord,
    CheckSession,
    Household,
    Problem,
    SerialisedJSON,
    TelegramPrompt,
    User,
)
from storage.monitoring import note_at_risk


async def get_session(s: AsyncSession, session_id: int) -> CheckSession | None:
    return await s.get(CheckSession, session_id)


async def open_session(s: AsyncSession, user_id: int, household_id: int) -> CheckSession | None:
    """The user's open check of this household, if any."""
    return await s.scalar(
        select(CheckSession).where(
            CheckSession.user_id == user_id,
            CheckSession.household_id == household_id,
            CheckSession.status == "open",
        )
    )


# Built once: every answer runs it.
_OPEN_SESSIONS_OF = (
    select(CheckSession)
    .where(CheckSession.user_id == bindparam("b_user"), CheckSession.status == "open")
    .order_by(CheckSession.updated_at.desc(), CheckSession.id.desc())
)


async def open_sessions_of(s: AsyncSession, user_id: int) -> list[CheckSession]:
    """The user's open checks, most recently touched first."""
    return list(await s.scalars(_OPEN_SESSIONS_OF, {"b_user": user_id}))


async def start_session(
    s: AsyncSession,
    user_id: int,
    household_id: int,
    form_id: str,
    chat_id: int | None,
    state: Mapping[str, Any],
    now: datetime,
) -> CheckSession:
    """Open a check of a household, shown in the Telegram chat `chat_id` (None: another
    channel shows it). Refused while the user has one open for it already."""
    if await s.get(User, user_id) is None:
        raise StorageError("Unknown user.")
    if await s.get(Household, household_id) is None:
        raise StorageError("Unknown household.")
    if await open_session(s, user_id, household_id) is not None:
        raise StorageError("You already have an open check of this household.")
    session = CheckSession(
        user_id=user_id,
        household_id=household_id,
        form_id=form_id,
        state=json_document(state),
        status="open",
        telegram=telegram_prompt(chat_id),
        created_at=now,
        updated_at=now,
    )
    s.add(session)
    await s.flush()
    return session


async def _open_session_by_id(s: AsyncSession, session_id: int) -> CheckSession:
    session = await s.get(CheckSession, session_id)
    if session is None:
        raise StorageError("This check does not exist.")
    if session.status != "open":
        raise StorageError("This check is no longer open.")
    return session


def telegram_prompt(chat_id: int | None) -> TelegramPrompt | None:
    """Where Telegram will show a new check: in this chat, no prompt sent yet."""
    return None if chat_id is None else TelegramPrompt(chat_id=chat_id)


_SESSIONS = cast(Table, CheckSession.__table__)
_SESSION_MAPPER = inspect(CheckSession)
_SAVE_STATE = (
    update(_SESSIONS)
    .where(_SESSIONS.c.id == bindparam("b_id"), _SESSIONS.c.status == "open")
    .values(
        state=bindparam("b_state", type_=SerialisedJSON()),
        updated_at=bindparam("b_now", type_=_SESSIONS.c.updated_at.type),
    )
)


async def save_session(
    s: AsyncSession,
    session_id: int,
    state: Mapping[str, Any],
    now: datetime,
    as_json: str | None = None,
) -> None:
    """Save the engine's state after an answer: one UPDATE, outside the unit of work (its
    flush is a measurable share of an answer's time). `as_json`: the state's JSON text when
    the caller made it already, written as it is. The session's row, when loaded, is given
    the values saved without being marked changed."""
    # What is pending goes first, as the flush this replaces wrote it (a prompt record, say).
    if s.new or s.dirty or s.deleted:
        await s.flush()
    if as_json is None:
        state = json_document(state)
        as_json = json.dumps(state)
    saved = await s.execute(_SAVE_STATE, {"b_id": session_id, "b_state": as_json, "b_now": now})
    if saved.rowcount != 1:  # type: ignore[attr-defined]
        raise await _why_not_open(s, session_id)
    # Callers read the row again in the same transaction (the submit, the next screen).
    loaded = s.identity_map.get(_SESSION_MAPPER.identity_key_from_primary_key((session_id,)))
    if loaded is not None:
        set_committed_value(loaded, "state", state)
        set_committed_value(loaded, "updated_at", now)


async def _why_not_open(s: AsyncSession, session_id: int) -> StorageError:
    """Why a check could not be written to: gone, or closed (read from the table, as the
    session's copy may be older)."""
    status = await s.scalar(select(_SESSIONS.c.status).where(_SESSIONS.c.id == session_id))
    if status is None:
        return StorageError("This check does not exist.")
    return StorageError("This check is no longer open.")


async def show_in_chat(s: AsyncSession, session: CheckSession, chat_id: int) -> TelegramPrompt:
    """Where Telegram shows the check; a check opened elsewhere gets this chat."""
    if session.telegram is None:
        session.telegram = TelegramPrompt(session_id=session.id, chat_id=chat_id)
        await s.flush()
    return session.telegram


class PromptShown(NamedTuple):
    """Which Telegram message shows a check's current prompt, and the update whose screen that
    is (None: left as it was)."""

    session_id: int
    message_id: int
    shown_update: int | None = None


_PROMPTS = cast(Table, TelegramPrompt.__table__)
_SET_PROMPT = (
    update(_PROMPTS)
    .where(_PROMPTS.c.session_id == bindparam("b_session"))
    .values(
        message_id=bindparam("b_message"),
        shown_update=func.coalesce(bindparam("b_shown"), _PROMPTS.c.shown_update),
    )
)


async def set_prompt_messages(s: AsyncSession, shown: Sequence[PromptShown]) -> None:
    """Remember which messages show these checks' current prompts: one statement for all,
    nothing read."""
    if shown:
        await s.execute(
            _SET_PROMPT,
            [
                {"b_session": p.session_id, "b_message": p.message_id, "b_shown": p.shown_update}
                for p in shown
            ],
        )


async def set_prompt_message(
    s: AsyncSession, session_id: int, message_id: int, shown_update: int | None = None
) -> None:
    """Remember which Telegram message shows the check's current prompt (and, given, the
    update whose screen that is)."""
    await set_prompt_messages(s, [PromptShown(session_id, message_id, shown_update)])


async def discard_session(s: AsyncSession, session_id: int, now: datetime) -> CheckSession:
    """Abandon an open check; it is kept, marked discarded."""
    session = await _open_session_by_id(s, session_id)
    session.status = "discarded"
    session.updated_at = now
    await s.flush()
    return session


def _typed_text(answers: Mapping[str, Any], key: str) -> str | None:
    value = answers.get(key)
    return None if value is None or value == "" else str(value)


def _money(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    if not amount.is_finite():
        return None
    return amount.quantize(Decimal("0.01"))


def record_columns(record: Record) -> dict[str, Any]:
    """The columns a check record takes from the engine's record: the answers, and the typed
    copies of a few of them that queries and exports filter on."""
    answers = record.answers
    return {
        "form_id": record.form_id,
        "form_version": record.form_version,
        "visit_type": _typed_text(answers, "visit_type"),
        "housing_grade": _typed_text(answers, "housing_grade"),
        "income_per_person": _money(answers.get("income_per_person")),
        "at_risk": record.at_risk,
        "answers": json_document(answers),
    }


async def submit_new_check(
    s: AsyncSession,
    session_id: int,
    record: Record,
    cadre_user_id: int,
    now: datetime,
    deadlines: CheckDeadlines,
) -> tuple[CheckRecord, list[Problem]]:
    """Close an open check that amends nothing: write its record, one problem (with a "raised"
    event) per raised problem, and an audit entry. A second submit of the same check is
    refused. `storage.submissions.submit_check` also takes amendments."""
    if await s.get(User, cadre_user_id) is None:
        raise StorageError("Unknown user.")
    opened = await s.get(CheckSession, session_id)
    # The status guard in the UPDATE itself makes a concurrent double submit lose cleanly.
    claimed = await s.execute(
        update(CheckSession)
        .where(CheckSession.id == session_id, CheckSession.status == "open")
        .values(status="submitted", updated_at=now)
        .returning(CheckSession.household_id)
    )
    household_id = claimed.scalar_one_or_none()
    if household_id is None:
        if await s.get(CheckSession, session_id) is None:
            raise StorageError("This check does not exist.")
        raise StorageError("This check is no longer open.")

    check = CheckRecord(
        session_id=session_id,
        household_id=household_id,
        cadre_user_id=cadre_user_id,
        submitted_at=now,
        problems_raised=0,
        **record_columns(record),
    )
    s.add(check)
    await s.flush()

    settle = {
        int(problem_id): how
        for problem_id, how in ((opened.resolutions if opened else None) or {}).items()
        if how in SETTLEMENTS
    }
    findings = await apply_findings(
        s, check, record.problems, cadre_user_id, now, deadlines, settle
    )
    problems = findings.problems
    await audit(
        s,
        "check.submitted",
        f"household:{household_id}",
        now,
        user_id=cadre_user_id,
        details={
            "session_id": session_id,
            "check_record_id": check.id,
            "problems": [problem.id for problem in problems],
            "rectified": [problem.id for problem in findings.rectified],
            "withdrawn": [problem.id for problem in findings.withdrawn],
            "at_risk": record.at_risk,
        },
    )
    # A household flagged at risk is in monitoring from this moment (防返贫监测).
    await note_at_risk(s, check, None, now)
    return check, problems


async def last_checks(s: AsyncSession, household_ids: Iterable[int]) -> dict[int, datetime]:
    """When each household was last checked; households never checked are left out."""
    ids = list(set(household_ids))
    if not ids:
        return {}
    result = await s.execute(
        select(CheckRecord.household_id, func.max(CheckRecord.submitted_at))
        .where(CheckRecord.household_id.in_(ids))
        .group_by(CheckRecord.household_id)
    )
    return {household_id: at for household_id, at in result if at is not None}


async def records_of_household(s: AsyncSession, household_id: int) -> list[CheckRecord]:
    """The household's check records, newest first."""
    result = await s.scalars(
        select(CheckRecord)
        .where(CheckRecord.household_id == household_id)
        .order_by(CheckRecord.submitted_at.desc(), CheckRecord.id.desc())
    )
    return list(result)


async def problems_of_record(s: AsyncSession, record_id: int) -> list[Problem]:
    """The problems a check raised or saw again, in the order they were raised."""
    return await problems_of_version(s, record_id)


async def settle_earlier(
    s: AsyncSession, session_id: int, problem_id: int, how: str, now: datetime
) -> CheckSession:
    """Note, in an open check, what became of an earlier problem it no longer raises: rectified
    or raised in error. Applied when the check is submitted."""
    session = await _open_session_by_id(s, session_id)
    problem = await s.get(Problem, problem_id)
    if how not in SETTLEMENTS or problem is None or problem.household_id != session.household_id:
        raise StorageError("This button is no longer valid.")
    session.resolutions = {**(session.resolutions or {}), str(problem_id): how}
    session.updated_at = now
    await s.flush()
    return session


async def set_amendment_kind(
    s: AsyncSession, session_id: int, kind: str, now: datetime
) -> CheckSession:
    """Say what an amendment records: a wrong answer corrected, or a change since the check."""
    session = await _open_session_by_id(s, session_id)
    if session.amends_record_id is None or kind not in ("correction", "change"):
        raise StorageError("This button is no longer valid.")
    session.amendment_kind = kind
    session.updated_at = now
    await s.flush()
    return session
