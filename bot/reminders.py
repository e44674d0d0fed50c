"""The reminder sweep (提醒): every minute, derive what fell due from the database, record it in
the outbox, and deliver it: a few people at a time under a short, renewed lease, merged per
person, held in quiet hours, retried on RetryAfter and network errors, handed to the leader
when a person blocked the bot. A reminder is marked sent as soon as Telegram accepts it; one
whose answer timed out may have been delivered and is never sent twice: it is marked
"unknown" and logged.

One repeating job (APScheduler through PTB's JobQueue, UTC, generous misfire grace time)
rather than one job per item: the database is the schedule, so a restart loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from html import escape, unescape
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot, InlineKeyboardMarkup
from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut
from telegram.ext import Application, ContextTypes

from bot.i18n import Translator, format_day
from bot.render import category_name, listed
from bot.retry import Blocked, OutcomeUnknown, policy_of
from bot.sending import send_once
from bot.services import KEY, Services
from conversations import Form
from storage.db import exclusive
from storage.monitoring import STEP_NAMES, open_cases_for_flagged
from storage.progress import load_schedules
from storage.reminders import (
    Deliverable,
    DueReminder,
    ReminderKind,
    claim_deliverable,
    due_reminders,
    mark,
    mark_sent,
    pending_entries,
    postpone,
    record_due,
    renew_claims,
    reroute_blocked,
    still_applying,
)
from storage.schedule import Schedules
from storage.users import users_by_id

log = logging.getLogger(__name__)

SWEEP_JOB = "reminder-sweep"
MISFIRE_GRACE_SECONDS = 300  # APScheduler's default of 1 s would silently skip a late sweep
# A worker claims the reminders of a few people at a time, for a short lease that it renews
# while it sends them: if it dies, the rest of the outbox is not held at all, and its own batch
# is taken over by another worker (or itself, restarted) once the lease runs out.
BATCH_PEOPLE = 20
LEASE = timedelta(seconds=60)
RENEW_EVERY = 15.0  # seconds
MAX_BATCHES = 500  # per sweep; what is left goes in the next one
MAX_LINES = 20  # reminders shown in one merged message; the rest are counted

Sender = Callable[[Bot, int, str, InlineKeyboardMarkup | None], Awaitable[int]]
# The bot that sends to the people of an area (several bots: bot/fleet.py).
BotChoice = Callable[[str], Awaitable[Bot]]


def worker_name() -> str:
    """Names this process in the outbox's claims."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


# ---------------------------------------------------------------- rendering


def step_name(t: Translator, lang: str, step: str) -> str:
    name = STEP_NAMES.get(step)
    return t(lang, name) if name is not None else t(lang, "Monitoring step")


def _problem_text(payload: Mapping[str, Any], lang: str) -> str:
    labels = payload.get("text_i18n") or {}
    return str(labels.get(lang) or payload.get("text") or "")


def _day(value: Any) -> date:
    return date.fromisoformat(str(value))


def _contact_period(payload: Mapping[str, Any]) -> tuple[date, date]:
    """The period a contact reminder speaks of; a row recorded before periods named it by
    its calendar month ("2026-11")."""
    if "period_start" in payload:
        return _day(payload["period_start"]), _day(payload["period_end"])
    first = date.fromisoformat(f"{payload.get('month', '2000-01')}-01")
    after = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first, after - timedelta(days=1)


@dataclass(frozen=True)
class Line:
    """What a reminder's line is drawn from: the translator and language, the payload, its
    strings escaped for HTML (`p`, the category named from the questionnaires), the day."""

    t: Translator
    lang: str
    payload: Mapping[str, Any]
    p: Mapping[str, str]
    today: date
    forms: Mapping[str, Form]


# One function per reminder kind (storage.reminder_rules.ReminderKind) draws its line.
LINES: dict[str, Callable[[Line], str]] = {}


def renders(kind: ReminderKind) -> Callable[[Callable[[Line], str]], Callable[[Line], str]]:
    """Registers the function that draws the line of reminders of `kind`."""

    def register(draw: Callable[[Line], str]) -> Callable[[Line], str]:
        LINES[kind] = draw
        return draw

    return register


def render_line(
    t: Translator,
    lang: str,
    kind: str,
    payload: Mapping[str, Any],
    today: date,
    forms: Mapping[str, Form] | None = None,
) -> str:
    """One reminder as an HTML line in the recipient's language; categories are named from the
    questionnaires' labels."""
    p = {key: escape(str(value)) for key, value in payload.items() if isinstance(value, str)}
    if "category" in payload:
        p["category"] = escape(category_name(forms or {}, str(payload["category"]), lang))
    draw = LINES.get(kind)
    text = draw(Line(t, lang, payload, p, today, forms or {})) if draw else escape(kind)
    if payload.get("for_user"):
        text = (
            t(lang, "For {name}, who cannot be reached:", name=p.get("for_user", "")) + "\n" + text
        )
    return text


@renders(ReminderKind.REPORT)
def _report_line(r: Line) -> str:
    t, lang, payload, p = r.t, r.lang, r.payload, r.p
    text = "📋 " + t(
        lang,
        "Monthly report due {day}: {unchecked} of {total} households of {village} are "
        "not checked yet.",
        day=format_day(_day(payload["reporting_day"]), lang),
        unchecked=payload["unchecked"],
        total=payload["total"],
        village=p.get("village", ""),
    )
    return text


@renders(ReminderKind.REPORT_STATUS)
def _report_status_line(r: Line) -> str:
    day = format_day(_day(r.payload["reporting_day"]), r.lang)
    heading = r.t(r.lang, "Monthly report due {day}. Households checked so far:", day=day)
    return _villages_under(r, heading)


@renders(ReminderKind.REPORT_LATE)
def _report_late_line(r: Line) -> str:
    day = format_day(_day(r.payload["reporting_day"]), r.lang)
    heading = r.t(
        r.lang,
        "The reporting day {day} has passed; these villages did not check every household:",
        day=day,
    )
    return _villages_under(r, heading)


def _villages_under(r: Line, heading: str) -> str:
    """A leader's report line: the heading, then each village's status on a line."""
    villages = [_village_status(r.t, r.lang, v) for v in r.payload.get("villages", [])]
    return "\n".join(["📋 " + heading, *villages])


@renders(ReminderKind.DEADLINE)
def _deadline_line(r: Line) -> str:
    t, lang, payload, p, today = r.t, r.lang, r.payload, r.p, r.today
    deadline = _day(payload["deadline"])
    days = (deadline - today).days
    what = t(
        lang,
        "{household}, {category}: {text}",
        household=p.get("household", ""),
        category=p.get("category", ""),
        text=escape(_problem_text(payload, lang)),
    )
    if "review" in payload:
        review = _day(payload["review"])
        text = "🔁 " + t(
            lang,
            "Ongoing rectification, up for this period's review by {day}: record its "
            "progress. {what}",
            day=format_day(review, lang),
            what=what,
        )
    elif days <= 0:
        text = "⏰ " + t(lang, "Rectification due today: {what}", what=what)
    else:
        text = "⏰ " + t(
            lang,
            "Rectification due in {days} days ({day}): {what}",
            days=days,
            day=format_day(deadline, lang),
            what=what,
        )
    if payload.get("campaign"):
        text += "\n📌 " + t(
            lang,
            "Found in the campaign {name}: everything rectified by {day}.",
            name=p.get("campaign", ""),
            day=format_day(_day(payload["cutoff"]), lang),
        )
    return text


@renders(ReminderKind.OVERDUE)
def _overdue_line(r: Line) -> str:
    t, lang, payload, forms = r.t, r.lang, r.payload, r.forms
    lines = []
    if payload["count"] or not payload.get("campaigns"):
        lines.append(
            "⚠️ " + t(lang, "{count} problems in your area are overdue.", count=payload["count"])
        )
    for item in payload.get("oldest", []):
        lines.append(
            "• "
            + t(
                lang,
                "{household}, {category}: {days} days overdue",
                household=escape(str(item["household"])),
                category=escape(category_name(forms or {}, str(item["category"]), lang)),
                days=item["days"],
            )
        )
    if payload.get("case_steps"):
        lines.append(
            "🛡 "
            + t(
                lang,
                "{count} monitoring case steps are overdue.",
                count=payload["case_steps"],
            )
        )
    for campaign in payload.get("campaigns", []):
        lines.append(
            "📌 "
            + t.n(
                lang,
                "Campaign {name}: {count} problem found in it is still to rectify; "
                "everything by {day}.",
                "Campaign {name}: {count} problems found in it are still to rectify; "
                "everything by {day}.",
                int(campaign["left"]),
                name=escape(str(campaign["campaign"])),
                day=format_day(_day(campaign["cutoff"]), lang),
            )
        )
    lines.append(t(lang, "Send /problems to see them."))
    text = "\n".join(lines)
    return text


@renders(ReminderKind.ESCALATION)
def _escalation_line(r: Line) -> str:
    t, lang, payload, p, today = r.t, r.lang, r.payload, r.p, r.today
    deadline = _day(payload["deadline"])
    text = "🚨 " + t(
        lang,
        "Overdue for {days} days (deadline {day}): {household}, {category}: {text}",
        days=(today - deadline).days,
        day=format_day(deadline, lang),
        household=p.get("household", ""),
        category=p.get("category", ""),
        text=escape(_problem_text(payload, lang)),
    )
    return text


@renders(ReminderKind.CONTACT)
def _contact_line(r: Line) -> str:
    t, lang, payload, p = r.t, r.lang, r.payload, r.p
    names = listed([escape(str(name)) for name in payload.get("households", [])], lang, t)
    first, last = _contact_period(payload)
    text = "📞 " + t(
        lang,
        "{count} households of {village} have not been contacted this period "
        "({start} to {end}): {names}",
        count=payload["count"],
        village=p.get("village", ""),
        start=format_day(first, lang),
        end=format_day(last, lang),
        names=names + ("…" if payload["count"] > len(payload.get("households", [])) else ""),
    )
    return text


@renders(ReminderKind.CASE_STEP)
def _case_step_line(r: Line) -> str:
    t, lang, payload, p = r.t, r.lang, r.payload, r.p
    text = "🛡 " + t(
        lang,
        "Monitoring step \u201c{step}\u201d for {household} is due {day}.",
        step=step_name(t, lang, str(payload.get("step", ""))),
        household=p.get("household", ""),
        day=format_day(_day(payload["due_on"]), lang),
    )
    return text


def _village_status(t: Translator, lang: str, village: Mapping[str, Any]) -> str:
    """ "幸福村：2/3 ▓▓▓▓▓▓▓░░░": a village's households checked of all."""
    done, total = int(village["checked"]), int(village["total"])
    counts = f"{done}/{total} {bar(done, total)}"
    return t(lang, "{label}: {answer}", label=escape(str(village["village"])), answer=counts)


def bar(done: int, total: int, width: int = 10) -> str:
    """A small text bar: ▓▓▓▓░░░░░░."""
    filled = 0 if total <= 0 else round(width * min(done, total) / total)
    return "▓" * filled + "░" * (width - filled)


def render_message(
    t: Translator,
    lang: str,
    entries: Sequence[Deliverable],
    today: date,
    forms: Mapping[str, Form] | None = None,
) -> str:
    """Every reminder for one person merged into one message (one per second per chat)."""
    lines = [render_line(t, lang, e.kind, e.payload, today, forms) for e in entries[:MAX_LINES]]
    if len(entries) == 1:
        return lines[0]
    header = "🔔 <b>" + escape(t(lang, "{count} reminders", count=len(entries))) + "</b>"
    body = "\n\n".join(lines)
    if len(entries) > MAX_LINES:
        body += "\n\n" + t(lang, "… and {count} more.", count=len(entries) - MAX_LINES)
    return header + "\n\n" + body


def dry_run_line(reminder: DueReminder) -> str:
    return (
        f"{reminder.not_before:%Y-%m-%d %H:%M} UTC  {reminder.kind:<13} to {reminder.target:<10} "
        f"about {reminder.subject:<22} [{reminder.period}]  {reminder.reason}"
    )


# ---------------------------------------------------------------- delivery


@dataclass
class DeliveryReport:
    sent_messages: int = 0
    sent_reminders: int = 0
    held: int = 0
    cancelled: int = 0
    rerouted: int = 0
    retried: int = 0
    failed: int = 0
    unknown: int = 0  # sent, but Telegram's answer never came: perhaps delivered


@dataclass
class SweepReport:
    cases_opened: int = 0
    due: int = 0
    recorded: int = 0
    delivery: DeliveryReport = field(default_factory=DeliveryReport)


async def _deliver_to(
    bot: Bot,
    sessionmaker: async_sessionmaker[AsyncSession],
    t: Translator,
    schedules: Schedules,
    entries: list[Deliverable],
    now: datetime,
    default_language: str,
    sender: Sender,
    report: DeliveryReport,
    forms: Mapping[str, Form] | None = None,
) -> None:
    first = entries[0]
    ids = [entry.id for entry in entries]
    schedule = schedules.of(first.area_code)
    if schedule.in_quiet_hours(now):
        async with sessionmaker.begin() as s:
            await postpone(s, ids, schedule.release(now), count_attempt=False)
        report.held += len(ids)
        return
    if not first.active or first.telegram_id is None:
        async with sessionmaker.begin() as s:
            report.rerouted += await reroute_blocked(s, first.user_id, ids, now)
        return
    lang = first.language or default_language
    text = render_message(t, lang, entries, schedule.local(now).date(), forms)
    try:
        await sender(bot, first.telegram_id, text, None)
    except Blocked:
        log.info("user %s blocked the bot; reminders go to their leader", first.user_id)
        async with sessionmaker.begin() as s:
            report.rerouted += await reroute_blocked(s, first.user_id, ids, now)
        return
    except BadRequest as error:
        log.warning("reminders to user %s refused: %s", first.user_id, error)
        async with sessionmaker.begin() as s:
            await mark(s, ids, "failed", str(error))
        report.failed += len(ids)
        return
    except OutcomeUnknown as error:
        # Telegram may have delivered it: sending it again could make it arrive twice, and
        # the Bot API cannot be asked. It is not sent again; the row says so.
        log.warning(
            "reminders to user %s may or may not have arrived (%s); not sent again",
            first.user_id,
            error,
        )
        async with sessionmaker.begin() as s:
            await mark(s, ids, "unknown", f"TimedOut: {error}")
        report.unknown += len(ids)
        return
    except (RetryAfter, TimedOut, NetworkError) as error:
        # The policy's attempts ran out: the rows wait in the outbox for a later sweep.
        log.warning("reminders to user %s not sent yet: %r", first.user_id, error)
        wait = policy_of(bot).later(error, max(entry.attempts for entry in entries))
        async with sessionmaker.begin() as s:
            await postpone(s, ids, now + wait, type(error).__name__)
        report.retried += len(ids)
        return
    async with sessionmaker.begin() as s:
        await mark_sent(s, ids, now)
    report.sent_messages += 1
    report.sent_reminders += len(ids)


async def deliver(
    bot: Bot,
    sessionmaker: async_sessionmaker[AsyncSession],
    t: Translator,
    now: datetime,
    worker: str,
    default_language: str = "zh_CN",
    sender: Sender = send_once,
    forms: Mapping[str, Form] | None = None,
    bot_for: BotChoice | None = None,
) -> DeliveryReport:
    """Send what the outbox holds for `now`, a few people at a time: claim, drop what no
    longer applies, merge per person, send, and record each person's outcome as soon as it is
    known (a message accepted is marked sent at once). The claims are renewed while the batch
    is being sent. A row is only ever marked, never deleted."""
    report = DeliveryReport()
    started = asyncio.get_running_loop().time()

    def clock() -> datetime:  # `now`, moved on by the time spent delivering
        return now + timedelta(seconds=asyncio.get_running_loop().time() - started)

    for _ in range(MAX_BATCHES):
        async with sessionmaker.begin() as s:
            claimed = await claim_deliverable(s, now, worker, LEASE, BATCH_PEOPLE)
        if not claimed:
            break
        done = asyncio.Event()
        renewing = asyncio.create_task(
            _renew(sessionmaker, [entry.id for entry in claimed], worker, clock, done)
        )
        try:
            await _deliver_batch(
                bot, sessionmaker, t, claimed, now, default_language, sender, report, forms, bot_for
            )
        finally:
            # Told twice: a cancellation that reaches it inside a database call may come
            # out as another error, and the loop must end all the same.
            done.set()
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
    return report


async def _renew(
    sessionmaker: async_sessionmaker[AsyncSession],
    ids: list[int],
    worker: str,
    clock: Callable[[], datetime],
    done: asyncio.Event,
) -> None:
    """Keep the batch's claims until `done`, while it is being sent."""
    while not done.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), RENEW_EVERY)
        if done.is_set():
            return
        try:
            async with sessionmaker.begin() as s:
                await renew_claims(s, ids, worker, clock() + LEASE)
        except Exception:  # a missed renewal only lets the lease run out
            log.warning("cannot renew the claims on reminders", exc_info=True)


async def _deliver_batch(
    bot: Bot,
    sessionmaker: async_sessionmaker[AsyncSession],
    t: Translator,
    claimed: list[Deliverable],
    now: datetime,
    default_language: str,
    sender: Sender,
    report: DeliveryReport,
    forms: Mapping[str, Form] | None,
    bot_for: BotChoice | None = None,
) -> None:
    async with sessionmaker() as s:
        keep = await still_applying(s, claimed)
        schedules = await load_schedules(s)
    dropped = [entry.id for entry in claimed if entry.id not in keep]
    if dropped:
        async with sessionmaker.begin() as s:
            await mark(s, dropped, "cancelled", "no longer applies")
        report.cancelled += len(dropped)
    by_user: dict[int, list[Deliverable]] = {}
    for entry in claimed:
        if entry.id in keep:
            by_user.setdefault(entry.user_id, []).append(entry)
    # With several bots, each person hears from the bot of their area.
    senders = {
        user: await bot_for(entries[0].area_code) if bot_for else bot
        for user, entries in by_user.items()
    }
    await asyncio.gather(
        *(
            _deliver_to(
                senders[user],
                sessionmaker,
                t,
                schedules,
                entries,
                now,
                default_language,
                sender,
                report,
                forms,
            )
            for user, entries in by_user.items()
        )
    )


async def sweep(
    bot: Bot,
    sessionmaker: async_sessionmaker[AsyncSession],
    t: Translator,
    now: datetime,
    worker: str,
    default_language: str = "zh_CN",
    sender: Sender = send_once,
    forms: Mapping[str, Form] | None = None,
    bot_for: BotChoice | None = None,
) -> SweepReport:
    """One sweep: open monitoring cases for flagged checks, record what fell due, deliver."""
    report = SweepReport()
    async with sessionmaker.begin() as s:
        schedules = await load_schedules(s)
        report.cases_opened = await open_cases_for_flagged(s, schedules, now)
    async with sessionmaker() as s:
        due = await due_reminders(s, now)
    report.due = len(due)
    if due:
        async with sessionmaker.begin() as s:
            report.recorded = await record_due(s, due, now)
    report.delivery = await deliver(
        bot, sessionmaker, t, now, worker, default_language, sender, forms, bot_for
    )
    return report


# ---------------------------------------------------------------- the job

_WORKER = "reminder_worker"
_LOCK = "reminder_lock"


async def sweep_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """The repeating job: one sweep at the services' clock; overlapping runs are skipped."""
    application = context.application
    svc: Services = application.bot_data[KEY]
    lock: asyncio.Lock = application.bot_data.setdefault(_LOCK, asyncio.Lock())
    if lock.locked():
        return
    async with lock:
        worker = application.bot_data.setdefault(_WORKER, worker_name())
        try:
            # One instance sweeps at a time; the others skip, and take over if it dies.
            async with exclusive(svc.sessionmaker, SWEEP_JOB) as mine:
                if not mine:
                    return
                report = await sweep(
                    context.bot,
                    svc.sessionmaker,
                    svc.t,
                    svc.clock(),
                    worker,
                    svc.settings.default_language,
                    forms=svc.forms,
                    bot_for=svc.fleet.bot_for if svc.fleet else None,
                )
        except Exception:  # the job must keep running next minute; log what escaped
            log.exception("reminder sweep failed")
            return
        svc.metrics.reminders_sent.inc(report.delivery.sent_messages)
        if report.recorded or report.delivery.sent_messages:
            log.info("reminder sweep: %s", report)


def schedule_sweep(application: Application, interval_seconds: float) -> None:  # type: ignore[type-arg]
    """Run the sweep every `interval_seconds` (0 turns it off, as tests that drive it do)."""
    if interval_seconds <= 0 or application.job_queue is None:
        return
    application.job_queue.run_repeating(
        sweep_job,
        interval=interval_seconds,
        first=interval_seconds,
        name=SWEEP_JOB,
        job_kwargs={
            "timezone": UTC,
            "misfire_grace_time": MISFIRE_GRACE_SECONDS,
            "coalesce": True,
            "max_instances": 1,
        },
    )


async def run_sweep(application: Application, now: datetime | None = None) -> SweepReport:  # type: ignore[type-arg]
    """One sweep now (or at `now`) with the application's bot and services: for tests and the
    CLI."""
    svc: Services = application.bot_data[KEY]
    worker = application.bot_data.setdefault(_WORKER, worker_name())
    return await sweep(
        application.bot,
        svc.sessionmaker,
        svc.t,
        now or svc.clock(),
        worker,
        svc.settings.default_language,
        forms=svc.forms,
        bot_for=svc.fleet.bot_for if svc.fleet else None,
    )


# ---------------------------------------------------------------- the dry run


async def dry_run(
    sessionmaker: async_sessionmaker[AsyncSession],
    t: Translator,
    at: datetime,
    default_language: str = "zh_CN",
    forms: Mapping[str, Form] | None = None,
) -> list[str]:
    """What a sweep at `at` would send, to whom and why, without writing anything.

    Lists reminders falling due by then and not yet in the outbox, and rows already waiting
    in the outbox (held for quiet hours or a retry) that would go out by then.
    """
    async with sessionmaker() as s:
        schedules = await load_schedules(s)
        due = await due_reminders(s, at, schedules)
        waiting = await pending_entries(s, at)
        wanted = {reminder.user_id for reminder in due} | {entry.user_id for entry in waiting}
        users = await users_by_id(s, wanted)
    lines: list[str] = []
    by_user: dict[int, list[tuple[str, str, Mapping[str, Any], str]]] = {}
    for reminder in due:
        by_user.setdefault(reminder.user_id, []).append(
            (reminder.kind, reminder.subject, reminder.payload, reminder.reason)
        )
    for entry in waiting:
        by_user.setdefault(entry.user_id, []).append(
            (entry.kind, entry.subject, entry.payload, f"waiting in the outbox (#{entry.id})")
        )
    for user_id, items in sorted(by_user.items()):
        user = users[user_id]
        schedule = schedules.of(user.area_code)
        lang = user.language or default_language
        when = schedule.release(at)
        held = " (held for quiet hours)" if when > at else ""
        lines.append(
            f"→ {user.name} ({user.role}, {user.area_code}, user {user.id}) "
            f"at {schedule.local(when):%Y-%m-%d %H:%M %Z}{held}: {len(items)} reminder(s)"
        )
        today = schedule.local(when).date()
        for kind, subject, payload, reason in items:
            text = _plain(render_line(t, lang, kind, payload, today, forms))
            lines.append(f"    [{kind} {subject}] {reason}")
            lines.extend(f"      {line}" for line in text.splitlines())
    if not lines:
        lines.append("nothing would be sent")
    return lines


def _plain(html_text: str) -> str:
    return unescape(re.sub(r"<[^>]+>", "", html_text))
