"""The outbox (发送队列) of reminders: each row is one reminder under the unique key (kind, target,
subject, period). `record_due()` inserts them: whoever inserts a key first owns it, so a restart,
a second sweep or a second instance never sends it twice. Delivery claims rows with a lease,
renews the lease while it works, and marks them sent, postponed (quiet hours, network trouble)
or rerouted (the person blocked the bot) without ever deleting one."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.audit import audit
from storage.documents import json_document
from storage.models import (
    Channel,
    Identity,
    OutboxEntry,
    User,
)
from storage.progress import load_schedules
from storage.reminder_people import People

BATCH = 500


@dataclass(frozen=True)
class DueReminder:
    """A reminder that has fallen due, with its outbox key, recipient and what it says."""

    kind: str
    target: str  # "user:<id>"
    subject: str  # "problem:<id>", "village:<code>", "area:<code>", "case:<id>:<step>"
    period: str
    user_id: int
    not_before: datetime
    payload: Mapping[str, Any] = field(default_factory=dict)
    reason: str = ""

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.kind, self.target, self.subject, self.period)


def chunks(items: Sequence[Any], size: int = BATCH) -> Iterable[Sequence[Any]]:
    """The items in slices of at most `size`, for statements with many bound values."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _insert(s: AsyncSession) -> Any:
    dialect = s.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(OutboxEntry)


async def record_due(s: AsyncSession, reminders: Sequence[DueReminder], now: datetime) -> int:
    """Insert reminders into the outbox; keys already there are skipped. Returns how many
    were new."""
    inserted = 0
    for chunk in chunks(list(reminders)):
        rows = [
            {
                "kind": r.kind,
                "target": r.target,
                "subject": r.subject,
                "period": r.period,
                "user_id": r.user_id,
                "payload": json_document(r.payload),
                "status": "pending",
                "created_at": now,
                "not_before": r.not_before,
                "attempts": 0,
            }
            for r in chunk
        ]
        statement = (
            _insert(s)
            .on_conflict_do_nothing(index_elements=["kind", "target", "subject", "period"])
            .returning(OutboxEntry.id)
        )
        # One compiled statement, sent in batches ("insertmanyvalues"): RETURNING counts
        # only the rows that were new.
        inserted += len((await s.execute(statement, rows)).all())
    return inserted


@dataclass(frozen=True)
class Deliverable:
    """A claimed outbox row with what delivery needs to know of its recipient."""

    id: int
    kind: str
    subject: str
    period: str
    payload: Mapping[str, Any]
    attempts: int
    user_id: int
    # None: the person has no Telegram identity, nowhere to send to.
    telegram_id: int | None
    language: str | None
    area_code: str
    user_name: str
    active: bool


async def claim_deliverable(
    s: AsyncSession, now: datetime, worker: str, lease: timedelta, people: int = 20
) -> list[Deliverable]:
    """Claim for `worker` until `now + lease` the pending rows due by `now` of at most `people`
    recipients (all of each one's rows, so that they make one message): a small batch, so that
    what a worker that dies leaves behind is little and soon taken over. Two workers never
    claim the same row: the update claims only rows still claimable when it writes them."""
    claimable = and_(
        OutboxEntry.status == "pending",
        OutboxEntry.not_before <= now,
        or_(OutboxEntry.claimed_until.is_(None), OutboxEntry.claimed_until < now),
    )
    recipients = (
        select(OutboxEntry.user_id)
        .where(claimable)
        .group_by(OutboxEntry.user_id)
        .order_by(func.min(OutboxEntry.id))
        .limit(people)
        .scalar_subquery()
    )
    claimed = await s.execute(
        update(OutboxEntry)
        .where(OutboxEntry.user_id.in_(recipients), claimable)
        .values(claimed_by=worker, claimed_until=now + lease)
        .returning(OutboxEntry.id)
        .execution_options(synchronize_session=False)
    )
    ids = [row[0] for row in claimed]
    if not ids:
        return []
    rows = await s.execute(
        select(OutboxEntry, User, Identity.address)
        .join(User, User.id == OutboxEntry.user_id)
        .outerjoin(Identity, (Identity.user_id == User.id) & (Identity.channel == Channel.TELEGRAM))
        .where(OutboxEntry.id.in_(ids))
        .order_by(OutboxEntry.id)
    )
    return [
        Deliverable(
            entry.id,
            entry.kind,
            entry.subject,
            entry.period,
            dict(entry.payload or {}),
            entry.attempts,
            user.id,
            None if address is None else int(address),
            user.language,
            user.area_code,
            user.name,
            user.active,
        )
        for entry, user, address in rows
    ]


async def renew_claims(s: AsyncSession, ids: Iterable[int], worker: str, until: datetime) -> None:
    """Extend `worker`'s claims on the rows it is still delivering; rows already closed, or
    taken over by another worker after the lease ran out, are left alone."""
    for chunk in chunks(sorted(ids)):
        await s.execute(
            update(OutboxEntry)
            .where(
                OutboxEntry.id.in_(chunk),
                OutboxEntry.claimed_by == worker,
                OutboxEntry.status == "pending",
            )
            .values(claimed_until=until)
            .execution_options(synchronize_session=False)
        )


async def mark_sent(s: AsyncSession, ids: Iterable[int], now: datetime) -> None:
    for chunk in chunks(sorted(ids)):
        await s.execute(
            update(OutboxEntry)
            .where(OutboxEntry.id.in_(chunk))
            .values(
                status="sent", sent_at=now, claimed_until=None, attempts=OutboxEntry.attempts + 1
            )
            .execution_options(synchronize_session=False)
        )


async def mark(s: AsyncSession, ids: Iterable[int], status: str, error: str | None = None) -> None:
    """Close rows without sending: "cancelled" (no longer applies), "failed" (Telegram
    refuses for good), "unknown" (its message may have been delivered: Telegram's answer
    did not come back, so it is not sent again). The row stays, with its reason."""
    for chunk in chunks(sorted(ids)):
        await s.execute(
            update(OutboxEntry)
            .where(OutboxEntry.id.in_(chunk))
            .values(status=status, claimed_until=None, last_error=error and error[:200])
            .execution_options(synchronize_session=False)
        )


async def postpone(
    s: AsyncSession,
    ids: Iterable[int],
    until: datetime,
    error: str | None = None,
    count_attempt: bool = True,
) -> None:
    """Give rows back, pending, not before `until` (quiet hours, RetryAfter, network trouble)."""
    values: dict[str, Any] = {"not_before": until, "claimed_by": None, "claimed_until": None}
    if count_attempt:
        values["attempts"] = OutboxEntry.attempts + 1
        values["last_error"] = error[:200] if error else None
    for chunk in chunks(sorted(ids)):
        await s.execute(
            update(OutboxEntry)
            .where(OutboxEntry.id.in_(chunk), OutboxEntry.status == "pending")
            .values(**values)
            .execution_options(synchronize_session=False)
        )


async def reroute_blocked(
    s: AsyncSession, user_id: int, entry_ids: Sequence[int], now: datetime
) -> int:
    """The person blocked the bot: mark them inactive and hand their reminders to their
    stand-ins (leader, else office). The original rows stay, marked "rerouted"."""
    await s.execute(
        update(User)
        .where(User.id == user_id, User.active.is_(True))
        .values(active=False, blocked_bot=True)
    )
    schedules = await load_schedules(s)
    people = People(await s.scalars(select(User)), schedules)
    user = people.by_id.get(user_id)
    entries = list(await s.scalars(select(OutboxEntry).where(OutboxEntry.id.in_(list(entry_ids)))))
    stand_ins = people.stand_ins(user) if user is not None else []
    rerouted = [
        DueReminder(
            entry.kind,
            f"user:{stand_in.id}",
            entry.subject,
            entry.period,
            stand_in.id,
            people.schedule_of(stand_in).release(now),
            {**(entry.payload or {}), "for_user": user.name if user else ""},
        )
        for entry in entries
        for stand_in in stand_ins
    ]
    added = await record_due(s, rerouted, now)
    await mark(s, entry_ids, "rerouted", "blocked")
    await audit(
        s,
        "user.blocked_bot",
        f"user:{user_id}",
        now,
        details={"rerouted": len(entry_ids), "to": [u.id for u in stand_ins]},
    )
    return added


async def pending_entries(s: AsyncSession, until: datetime) -> list[OutboxEntry]:
    """Pending rows that would go out by `until` (for the dry run)."""
    result = await s.scalars(
        select(OutboxEntry)
        .where(OutboxEntry.status == "pending", OutboxEntry.not_before <= until)
        .order_by(OutboxEntry.id)
    )
    return list(result)
