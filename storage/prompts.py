"""What the bot waits for from a person after a button (a progress note, a reason, a new
deadline): one row per person, in the database, so it survives a restart."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import PendingInput

INPUT_TTL = timedelta(minutes=30)


async def await_input(
    s: AsyncSession,
    user_id: int,
    action: str,
    subject_id: int,
    expected: str | None,
    now: datetime,
) -> PendingInput:
    """Wait for the user's next message as input to `action` on a subject; replaces any
    earlier wait."""
    await clear_input(s, user_id)
    row = PendingInput(
        user_id=user_id, action=action, subject_id=subject_id, expected=expected, created_at=now
    )
    s.add(row)
    await s.flush()
    return row


async def pending_input(
    s: AsyncSession, user_id: int, now: datetime, ttl: timedelta = INPUT_TTL
) -> PendingInput | None:
    """The user's current wait, unless it has gone stale."""
    return live_wait(await s.get(PendingInput, user_id), now, ttl)


def live_wait(
    row: PendingInput | None, now: datetime, ttl: timedelta = INPUT_TTL
) -> PendingInput | None:
    """A wait read earlier (with its user), unless it has gone stale."""
    if row is None or now - row.created_at > ttl:
        return None
    return row


async def clear_input(s: AsyncSession, user_id: int) -> bool:
    """Stop waiting; True when there was a wait. Reads first: most of the time there is
    none, and a read does not take the database's write lock."""
    if await s.get(PendingInput, user_id) is None:
        return False
    result = await s.execute(delete(PendingInput).where(PendingInput.user_id == user_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]
