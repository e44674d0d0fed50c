"""Submitting a check (提交): a first check becomes a record (storage.checks), an amendment
(更正) a new version of the record it reopened (storage.amendments)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from conversations.model import Record
from storage.amendments import submit_amendment
from storage.checks import submit_new_check
from storage.deadlines import CheckDeadlines
from storage.errors import StorageError
from storage.models import CheckRecord, CheckSession, Problem, User
from storage.monitoring import note_at_risk


async def submit_check(
    s: AsyncSession,
    session_id: int,
    record: Record,
    cadre_user_id: int,
    now: datetime,
    deadlines: CheckDeadlines,
) -> tuple[CheckRecord, list[Problem]]:
    """Close an open check, or an open amendment, with the engine's finished record: its
    record (or new version) and the problems it raises. A second submit is refused."""
    if await s.get(User, cadre_user_id) is None:
        raise StorageError("Unknown user.")
    opened = await s.get(CheckSession, session_id)
    if opened is None or opened.amends_record_id is None:
        return await submit_new_check(s, session_id, record, cadre_user_id, now, deadlines)
    amended = await submit_amendment(s, session_id, record, cadre_user_id, now, deadlines)
    await note_at_risk(s, amended.record, None, now)
    return amended.record, amended.problems
