"""Received updates (收件箱): a Telegram update is stored before Telegram is told it arrived,
and marked done once handled, so that nothing acknowledged is lost to a crash and nothing
delivered twice is handled twice."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ReceivedUpdate


@dataclass(frozen=True)
class Incoming:
    """An update as received: its id, its chat (None for updates without one) and its JSON."""

    update_id: int
    chat_id: int | None
    payload: dict[str, Any]


async def store_updates(
    s: AsyncSession,
    bot: str,
    updates: Sequence[Incoming],
    now: datetime,
    instance: str,
    lease: timedelta,
) -> list[int]:
    """Store the updates not stored before, claimed by `instance` for `lease`; return the ids
    stored now, in order. A second delivery of an update (or one another instance stored
    first) is left out."""
    if not updates:
        return []
    rows = [
        {
            "bot": bot,
            "update_id": item.update_id,
            "chat_id": item.chat_id,
            "payload": item.payload,
            "received_at": now,
            "claimed_by": instance,
            "claimed_until": now + lease,
        }
        for item in updates
    ]
    dialect = s.get_bind().dialect.name
    insert = postgres_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert(ReceivedUpdate)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["bot", "update_id"])
        .returning(ReceivedUpdate.update_id)
    )
    stored = set(await s.scalars(statement))
    return sorted(stored)


async def claim_update(
    s: AsyncSession, bot: str, update_id: int, instance: str, now: datetime, lease: timedelta
) -> bool:
    """Take an update to handle it: True when nobody else holds it and it is not done."""
    result = await s.execute(
        update(ReceivedUpdate)
        .where(
            ReceivedUpdate.bot == bot,
            ReceivedUpdate.update_id == update_id,
            ReceivedUpdate.done_at.is_(None),
            or_(
                ReceivedUpdate.claimed_until.is_(None),
                ReceivedUpdate.claimed_until < now,
                ReceivedUpdate.claimed_by == instance,
            ),
        )
        .values(claimed_by=instance, claimed_until=now + lease)
    )
    return bool(getattr(result, "rowcount", 0))


_UPDATES = cast(Table, ReceivedUpdate.__table__)
# Built once, on the table: every update handled runs it (in a group commit).
_MARK_DONE = (
    update(_UPDATES)
    .where(
        _UPDATES.c.bot == bindparam("b_bot"),
        _UPDATES.c.update_id.in_(bindparam("b_ids", expanding=True)),
    )
    .values(done_at=bindparam("b_now", type_=_UPDATES.c.done_at.type), claimed_until=None)
)


async def mark_done(s: AsyncSession, bot: str, update_ids: Sequence[int], now: datetime) -> None:
    """Record that these updates have been handled, in one statement."""
    await s.execute(_MARK_DONE, {"b_bot": bot, "b_ids": list(update_ids), "b_now": now})


async def renew_claims(
    s: AsyncSession,
    bot: str,
    instance: str,
    update_ids: Sequence[int],
    now: datetime,
    lease: timedelta,
) -> None:
    """Extend this instance's claims on the updates it is handling; others run out."""
    if not update_ids:
        return
    await s.execute(
        update(ReceivedUpdate)
        .where(
            ReceivedUpdate.bot == bot,
            ReceivedUpdate.claimed_by == instance,
            ReceivedUpdate.update_id.in_(list(update_ids)),
            ReceivedUpdate.done_at.is_(None),
        )
        .values(claimed_until=now + lease)
    )


async def pending_updates(
    s: AsyncSession, bot: str, now: datetime, own: str | None = None, limit: int = 500
) -> list[ReceivedUpdate]:
    """Updates received and not done whose claim has run out (or that `own` claimed: an
    instance's leftovers from before its restart), oldest first."""
    free = or_(ReceivedUpdate.claimed_until.is_(None), ReceivedUpdate.claimed_until < now)
    if own is not None:
        free = or_(free, ReceivedUpdate.claimed_by == own)
    rows = await s.scalars(
        select(ReceivedUpdate)
        .where(ReceivedUpdate.bot == bot, ReceivedUpdate.done_at.is_(None), free)
        .order_by(ReceivedUpdate.update_id)
        .limit(limit)
    )
    return list(rows)


async def earlier_pending(s: AsyncSession, bot: str, chat_id: int, update_id: int) -> bool:
    """Whether an earlier update of the same chat is received and not yet done (on this
    instance or another): the chat's updates are applied in order, one at a time."""
    found = await s.scalar(
        select(ReceivedUpdate.update_id)
        .where(
            ReceivedUpdate.bot == bot,
            ReceivedUpdate.done_at.is_(None),
            ReceivedUpdate.update_id < update_id,
            ReceivedUpdate.chat_id == chat_id,
        )
        .limit(1)
    )
    return found is not None


async def last_update_id(s: AsyncSession, bot: str) -> int:
    """The highest update id received from this bot (0 for none): a Bot API that starts
    counting again (the demo's emulator) must go on above it."""
    found = await s.scalar(
        select(func.max(ReceivedUpdate.update_id)).where(ReceivedUpdate.bot == bot)
    )
    return int(found or 0)


async def pending_count(s: AsyncSession, bot: str | None = None) -> int:
    """How many updates wait to be handled (all bots without `bot`)."""
    from sqlalchemy import func

    query = select(func.count()).where(ReceivedUpdate.done_at.is_(None))
    if bot is not None:
        query = query.where(ReceivedUpdate.bot == bot)
    return int(await s.scalar(query) or 0)


async def forget_done(s: AsyncSession, before: datetime) -> None:
    """Drop updates handled before `before`: they only guard against a late second delivery,
    which Telegram stops making after a day."""
    await s.execute(
        delete(ReceivedUpdate).where(
            and_(ReceivedUpdate.done_at.is_not(None), ReceivedUpdate.done_at < before)
        )
    )
