"""Reminders (提醒) derived from the database, and the outbox that sends each exactly once.

`due_reminders(s, now)` reads what has fallen due by `now` (monthly report 月报, rectification
deadlines 整改期限, the leaders' overdue digest, escalation to the office, monthly contact,
monitoring-case steps) and leaves out what the outbox holds already. `record_due()` inserts
them under the unique key (kind, target, subject, period): whoever inserts a key first owns
it, so a restart, a second sweep or a second instance never sends it twice. Delivery claims
rows with a lease, and marks them sent, postponed (quiet hours, network trouble) or rerouted
(the person blocked the bot) without ever deleting one.

A series of reminders about one subject (3 days before, on the day) sends only its latest
stage: after downtime the stage that applies now goes out, the superseded one does not.
"""

from __future__ import annotations

from storage.outbox import (
    Deliverable,
    DueReminder,
    claim_deliverable,
    mark,
    mark_sent,
    pending_entries,
    postpone,
    record_due,
    renew_claims,
    reroute_blocked,
)
from storage.reminder_people import People
from storage.reminder_rules import (
    KINDS,
    ReminderKind,
    contact_day_in,
    due_reminders,
    still_applying,
)

__all__ = [
    "KINDS",
    "Deliverable",
    "DueReminder",
    "People",
    "ReminderKind",
    "claim_deliverable",
    "contact_day_in",
    "due_reminders",
    "mark",
    "mark_sent",
    "pending_entries",
    "postpone",
    "record_due",
    "renew_claims",
    "reroute_blocked",
    "still_applying",
]
