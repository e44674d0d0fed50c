"""The reminder rules: what has fallen due by a moment, derived from the database (monthly
report 月报, rectification deadlines 整改期限, the leaders' overdue digest, escalation to the
office, monthly contact, monitoring-case steps), leaving out what the outbox holds already.

A series of reminders about one subject (3 days before, on the day) sends only its latest
stage: after downtime the stage that applies now goes out, the superseded one does not."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import String, and_, cast, exists, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.campaigns import CampaignFacts, covering, open_campaigns
from storage.deadlines import ONGOING, review_day
from storage.models import (
    Household,
    MonitoringCase,
    MonitoringStep,
    OutboxEntry,
    Problem,
    User,
)
from storage.monitoring import STEP_ROLES
from storage.outbox import Deliverable, DueReminder, chunks
from storage.periods import (
    Period,
    checked_by_village,
    checked_in_period,
    contacted_since,
    has_due_date,
    period_of,
)
from storage.problems import OPEN_STATUSES, overdue_condition
from storage.progress import households_by_village, load_schedules
from storage.reminder_people import People
from storage.schedule import AreaSchedule, Schedules


class ReminderKind(StrEnum):
    """What a reminder is about; stored as its value in the outbox. The sweep finds them in
    this order (and a person's merged message lists them so)."""

    REPORT = "report"  # a village's households to check before the reporting day (月报)
    REPORT_STATUS = "report_status"  # a leader's villages before the reporting day
    DEADLINE = "deadline"  # a rectification deadline (整改期限) coming up
    OVERDUE = "overdue"  # a leader's digest of overdue problems
    ESCALATION = "escalation"  # a problem long overdue, to the office
    REPORT_LATE = "report_late"  # the reporting day passed with households unchecked
    CONTACT = "contact"  # households not contacted this period
    CASE_STEP = "case_step"  # a monitoring case's step due


KINDS: tuple[ReminderKind, ...] = tuple(ReminderKind)
REPORT_LATE_DAYS = 2  # after downtime, a passed reporting day is still told this long
TOP_LINES = 5  # problems or households named in a digest; the rest are counted


def _due(
    people: People,
    now: datetime,
    kind: ReminderKind,
    user: User,
    subject: str,
    period: str,
    payload: Mapping[str, Any],
    reason: str,
) -> DueReminder:
    release = people.schedule_of(user).release(now)
    return DueReminder(
        kind, f"user:{user.id}", subject, period, user.id, release, dict(payload), reason
    )


def _stage(offsets: Sequence[int], days_left: int) -> int | None:
    """The latest stage of a series (offsets: days before) that has begun `days_left` before."""
    if days_left < 0:
        return None
    begun = [offset for offset in offsets if offset >= days_left]
    return min(begun) if begun else None


# ---------------------------------------------------------------- groups of villages


@dataclass
class _Group:
    schedule: AreaSchedule
    villages: list[str]


def _groups(schedules: Schedules) -> list[_Group]:
    """Villages sharing one schedule, so that each kind runs one query per schedule."""
    groups: dict[str, _Group] = {}
    for village in schedules.villages():
        schedule = schedules.of(village.code)
        key = repr(schedule)
        if key not in groups:
            groups[key] = _Group(schedule, [])
        groups[key].villages.append(village.code)
    return list(groups.values())


async def _existing(
    s: AsyncSession, kind: str, subjects: Iterable[str]
) -> set[tuple[str, str, str, str]]:
    """The outbox keys of `kind` about these subjects."""
    found: set[tuple[str, str, str, str]] = set()
    for chunk in chunks(sorted(set(subjects))):
        rows = await s.execute(
            select(
                OutboxEntry.kind, OutboxEntry.target, OutboxEntry.subject, OutboxEntry.period
            ).where(OutboxEntry.kind == kind, OutboxEntry.subject.in_(chunk))
        )
        found.update((k, t, sub, p) for k, t, sub, p in rows)
    return found


async def _existing_in_period(
    s: AsyncSession, kind: str, period: str
) -> set[tuple[str, str, str, str]]:
    rows = await s.execute(
        select(OutboxEntry.kind, OutboxEntry.target, OutboxEntry.subject, OutboxEntry.period).where(
            OutboxEntry.kind == kind, OutboxEntry.period == period
        )
    )
    return {(k, t, sub, p) for k, t, sub, p in rows}


def _problem_payload(row: Any) -> dict[str, Any]:
    return {
        "problem_id": row.id,
        "household": row.head_name,
        "number": row.number,
        "category": row.category,
        "text": row.text,
        "text_i18n": dict(row.text_i18n or {}),
        "deadline": row.deadline.isoformat(),
    }


# ---------------------------------------------------------------- the registry


@dataclass(frozen=True)
class Sweep:
    """What every rule reads: the session, the moment, the areas' schedules, the people, the
    villages grouped by schedule and the campaigns open."""

    s: AsyncSession
    now: datetime
    schedules: Schedules
    people: People
    groups: list[_Group]
    campaigns: Sequence[CampaignFacts]


Find = Callable[[Sweep], Awaitable[list[DueReminder]]]
# The ids of a kind's outbox entries whose subject still calls for the reminder at sending.
Live = Callable[[AsyncSession, Sequence[Deliverable]], Awaitable[set[int]]]


@dataclass(frozen=True)
class Rule:
    """One registered rule: the kinds it finds (a rule finding two shares their reading),
    whether what it finds is checked against the outbox by subject (a series whose stages
    are periods of their own) rather than by the rule itself, and how the outbox tells at
    sending time that the subject still applies."""

    kinds: tuple[ReminderKind, ...]
    find: Find
    told_by_subject: bool = False
    live: Live | None = None


RULES: list[Rule] = []


def rule(
    *kinds: ReminderKind, told_by_subject: bool = False, live: Live | None = None
) -> Callable[[Find], Find]:
    """Registers a rule that finds reminders of `kinds` (see Rule)."""

    def register(find: Find) -> Find:
        RULES.append(Rule(kinds, find, told_by_subject, live))
        return find

    return register


def _subject_id(entry: Deliverable) -> int:
    return int(entry.subject.split(":")[1])


async def _problems_live(s: AsyncSession, entries: Sequence[Deliverable]) -> set[int]:
    """A problem still to rectify, its deadline unchanged since the reminder was found."""
    rows = await s.execute(
        select(Problem.id, Problem.deadline, Problem.deadline_tier).where(
            Problem.id.in_({_subject_id(e) for e in entries}), Problem.status.in_(OPEN_STATUSES)
        )
    )
    # An ongoing problem's review is due whatever its first review date was.
    live = {pid: None if tier == ONGOING else deadline for pid, deadline, tier in rows}
    keep: set[int] = set()
    for entry in entries:
        problem_id = _subject_id(entry)
        if problem_id not in live:
            continue
        deadline = live[problem_id]
        if deadline is not None and not entry.period.startswith(deadline.isoformat()):
            continue
        keep.add(entry.id)
    return keep


async def _steps_live(s: AsyncSession, entries: Sequence[Deliverable]) -> set[int]:
    """A monitoring case's step not done yet, in a case still open."""
    rows = await s.execute(
        select(MonitoringStep.case_id, MonitoringStep.step)
        .join(MonitoringCase, MonitoringCase.id == MonitoringStep.case_id)
        .where(
            MonitoringStep.case_id.in_({_subject_id(e) for e in entries}),
            MonitoringStep.done_at.is_(None),
            MonitoringCase.status == "open",
        )
    )
    open_steps = {(case_id, step) for case_id, step in rows}
    keep: set[int] = set()
    for entry in entries:
        _, case_id, step = entry.subject.split(":", 2)
        if (int(case_id), step) in open_steps:
            keep.add(entry.id)
    return keep


# ---------------------------------------------------------------- each kind


def _found_in(
    campaigns: Sequence[CampaignFacts], schedules: Schedules, village: str, raised_at: datetime
) -> CampaignFacts | None:
    """The campaign a problem raised in a village at a moment was found in."""
    if not campaigns:
        return None
    chain = [area.code for area in schedules.chain(village)]
    day = schedules.of(village).local(raised_at).date()
    return covering(campaigns, chain, day)


def _name_campaign(payload: dict[str, Any], campaign: CampaignFacts | None) -> None:
    if campaign is not None:
        payload["campaign"] = campaign.name
        payload["cutoff"] = campaign.cutoff.isoformat()


@rule(ReminderKind.DEADLINE, told_by_subject=True, live=_problems_live)
async def _deadline_reminders(sweep: Sweep) -> list[DueReminder]:
    """Rectification deadlines: the responsible cadre, some days before and on the day. A
    长期坚持 (ongoing) problem has no deadline: it comes up for review at the end of every
    period instead, told the same days before."""
    s, groups, people, now, campaigns, schedules = (
        sweep.s,
        sweep.groups,
        sweep.people,
        sweep.now,
        sweep.campaigns,
        sweep.schedules,
    )
    due: list[DueReminder] = []
    for group in groups:
        schedule = group.schedule
        if not schedule.deadline_offsets:
            continue
        today = schedule.effective_day(now, schedule.remind_time)
        latest = today + timedelta(days=max(schedule.deadline_offsets))
        review = review_day(schedule, today)
        review_stage = _stage(schedule.deadline_offsets, (review - today).days)
        dated = and_(has_due_date(), Problem.deadline >= today, Problem.deadline <= latest)
        reviewed = and_(~has_due_date(), Problem.deadline <= review)
        wanted = or_(dated, reviewed) if review_stage is not None else dated
        for villages in chunks(group.villages):
            rows = (
                await s.execute(
                    select(
                        Problem.id,
                        Problem.deadline,
                        Problem.deadline_tier,
                        Problem.category,
                        Problem.text,
                        Problem.text_i18n,
                        Problem.created_at,
                        func.coalesce(Problem.assignee_user_id, Problem.created_by_user_id).label(
                            "responsible"
                        ),
                        Household.head_name,
                        Household.number,
                        Household.village_code,
                    )
                    .join(Household, Household.id == Problem.household_id)
                    .where(
                        Household.village_code.in_(villages),
                        Problem.status.in_(OPEN_STATUSES),
                        wanted,
                    )
                )
            ).all()
            for row in rows:
                payload = _problem_payload(row)
                if schedules is not None:
                    found_in = _found_in(campaigns, schedules, row.village_code, row.created_at)
                    _name_campaign(payload, found_in)
                if row.deadline_tier == ONGOING:
                    day, stage = review, review_stage
                    payload["review"] = review.isoformat()
                    reason = f"review {review.isoformat()}, {stage} days before"
                else:
                    day = row.deadline
                    stage = _stage(schedule.deadline_offsets, (row.deadline - today).days)
                    reason = f"deadline {row.deadline.isoformat()}, {stage} days before"
                if stage is None:
                    continue
                for user in people.recipients(row.responsible, row.village_code):
                    due.append(
                        _due(
                            people,
                            now,
                            ReminderKind.DEADLINE,
                            user,
                            f"problem:{row.id}",
                            f"{day.isoformat()}/{stage}",
                            payload,
                            reason,
                        )
                    )
    return due


@rule(ReminderKind.ESCALATION, live=_problems_live)
async def _escalations(sweep: Sweep) -> list[DueReminder]:
    """Problems overdue for `escalation_days`: the office is told, once per problem."""
    s, groups, people, now = sweep.s, sweep.groups, sweep.people, sweep.now
    due: list[DueReminder] = []
    for group in groups:
        schedule = group.schedule
        today = schedule.effective_day(now, schedule.remind_time)
        cutoff = today - timedelta(days=schedule.escalation_days)
        subject = literal("problem:") + cast(Problem.id, String)
        told = exists().where(
            OutboxEntry.subject == subject,
            OutboxEntry.kind == ReminderKind.ESCALATION,
            OutboxEntry.period == cast(Problem.deadline, String),
        )
        for villages in chunks(group.villages):
            rows = (
                await s.execute(
                    select(
                        Problem.id,
                        Problem.deadline,
                        Problem.category,
                        Problem.text,
                        Problem.text_i18n,
                        Household.head_name,
                        Household.number,
                        Household.village_code,
                    )
                    .join(Household, Household.id == Problem.household_id)
                    .where(
                        Household.village_code.in_(villages),
                        Problem.status.in_(OPEN_STATUSES),
                        Problem.deadline <= cutoff,
                        has_due_date(),
                        ~told,
                    )
                )
            ).all()
            for row in rows:
                for user in people.offices_over(row.village_code):
                    payload = _problem_payload(row)
                    payload["village"] = row.village_code
                    due.append(
                        _due(
                            people,
                            now,
                            ReminderKind.ESCALATION,
                            user,
                            f"problem:{row.id}",
                            row.deadline.isoformat(),
                            payload,
                            f"overdue since {row.deadline.isoformat()}",
                        )
                    )
    return due


async def _campaign_lines(
    s: AsyncSession,
    schedules: Schedules,
    campaigns: Sequence[CampaignFacts],
    leader: User,
    villages: Sequence[str],
    day: date,
) -> list[dict[str, Any]]:
    """The campaigns a leader's area is in on `day` (until their cut-off), each with how many
    of the problems found in it in the leader's area are still to rectify."""
    lines: list[dict[str, Any]] = []
    chain = {area.code for area in schedules.chain(leader.area_code)}
    for campaign in sorted(campaigns, key=lambda c: (c.cutoff, c.id)):
        if not campaign.starts_on <= day <= campaign.cutoff:
            continue
        if campaign.area_code not in chain and not schedules.contains(
            leader.area_code, campaign.area_code
        ):
            continue
        inside = [code for code in villages if schedules.contains(campaign.area_code, code)]
        if not inside:
            continue
        schedule = schedules.of(campaign.area_code)
        first = schedule.at(campaign.starts_on, time.min)
        after = schedule.at(campaign.ends_on + timedelta(days=1), time.min)
        left = await s.scalar(
            select(func.count())
            .select_from(Problem)
            .where(
                Problem.village_code.in_(inside),
                Problem.status.in_(OPEN_STATUSES),
                Problem.created_at >= first,
                Problem.created_at < after,
            )
        )
        lines.append(
            {
                "campaign": campaign.name,
                "cutoff": campaign.cutoff.isoformat(),
                "left": int(left or 0),
            }
        )
    return lines


@rule(ReminderKind.OVERDUE)
async def _overdue_digests(sweep: Sweep) -> list[DueReminder]:
    """Once a day at the digest time, each leader hears of the overdue problems and case
    steps in their area."""
    s, schedules, people, now, campaigns = (
        sweep.s,
        sweep.schedules,
        sweep.people,
        sweep.now,
        sweep.campaigns,
    )
    due: list[DueReminder] = []
    leaders = people.leaders()
    by_day: dict[date, list[User]] = {}
    for leader in leaders:
        schedule = people.schedule_of(leader)
        by_day.setdefault(schedule.effective_day(now, schedule.digest_time), []).append(leader)
    for day, group in by_day.items():
        told = await _existing_in_period(s, ReminderKind.OVERDUE, day.isoformat())
        waiting = [
            leader
            for leader in group
            if (
                ReminderKind.OVERDUE,
                f"user:{leader.id}",
                f"area:{leader.area_code}",
                day.isoformat(),
            )
            not in told
        ]
        if not waiting:
            continue
        # One count per village serves every leader of the day.
        per_village: dict[str, int] = {
            code: n
            for code, n in await s.execute(
                select(Household.village_code, func.count())
                .select_from(Problem)
                .join(Household, Household.id == Problem.household_id)
                .where(overdue_condition(day))
                .group_by(Household.village_code)
            )
        }
        steps_per_village: dict[str, int] = {
            code: n
            for code, n in await s.execute(
                select(Household.village_code, func.count())
                .select_from(MonitoringStep)
                .join(MonitoringCase, MonitoringCase.id == MonitoringStep.case_id)
                .join(Household, Household.id == MonitoringCase.household_id)
                .where(
                    MonitoringCase.status == "open",
                    MonitoringStep.done_at.is_(None),
                    MonitoringStep.due_on < day,
                )
                .group_by(Household.village_code)
            )
        }
        for leader in waiting:
            villages = [
                v.code for v in schedules.villages() if schedules.contains(leader.area_code, v.code)
            ]
            if not villages:
                continue
            condition = and_(Household.village_code.in_(villages), overdue_condition(day))
            count = sum(per_village.get(code, 0) for code in villages)
            steps = sum(steps_per_village.get(code, 0) for code in villages)
            in_campaigns = await _campaign_lines(s, schedules, campaigns, leader, villages, day)
            if not count and not steps and not any(line["left"] for line in in_campaigns):
                continue
            oldest = (
                await s.execute(
                    select(Problem.id, Problem.deadline, Problem.category, Household.head_name)
                    .join(Household, Household.id == Problem.household_id)
                    .where(condition)
                    .order_by(Problem.deadline, Problem.id)
                    .limit(TOP_LINES)
                )
            ).all()
            payload = {
                "count": count,
                "case_steps": steps,
                "campaigns": in_campaigns,
                "day": day.isoformat(),
                "oldest": [
                    {
                        "problem_id": pid,
                        "household": head,
                        "category": category,
                        "days": (day - deadline).days,
                    }
                    for pid, deadline, category, head in oldest
                ],
            }
            due.append(
                _due(
                    people,
                    now,
                    ReminderKind.OVERDUE,
                    leader,
                    f"area:{leader.area_code}",
                    day.isoformat(),
                    payload,
                    f"daily digest: {count} overdue problems, {steps} overdue case steps",
                )
            )
    return due


@rule(ReminderKind.REPORT, ReminderKind.REPORT_STATUS)
async def _report_reminders(sweep: Sweep) -> list[DueReminder]:
    """Before the reporting day (月报): cadres of villages with households not yet checked in
    this period; leaders get each village's status."""
    s, groups, schedules, people, now = (
        sweep.s,
        sweep.groups,
        sweep.schedules,
        sweep.people,
        sweep.now,
    )
    due: list[DueReminder] = []
    for group in groups:
        schedule = group.schedule
        today = schedule.effective_day(now, schedule.remind_time)
        current = period_of(schedule, today)
        reporting_day = current.reporting_day
        stage = _stage(schedule.report_offsets, (reporting_day - today).days)
        if stage is None or (reporting_day - today).days == 0:
            continue
        period = f"{reporting_day.isoformat()}/{stage}"
        told = await _existing_in_period(s, ReminderKind.REPORT, period)
        told |= await _existing_in_period(s, ReminderKind.REPORT_STATUS, period)
        expected = {
            (ReminderKind.REPORT, f"user:{cadre.id}", f"village:{village}", period)
            for village in group.villages
            for cadre in people.cadres_of(village)
        } | {
            (ReminderKind.REPORT_STATUS, f"user:{leader.id}", f"area:{leader.area_code}", period)
            for leader in people.leaders()
            if any(schedules.contains(leader.area_code, v) for v in group.villages)
        }
        if expected <= told:
            continue  # everyone has had this stage's reminder: no need to count again
        since, until = current.bounds()
        status: dict[str, tuple[int, int]] = {}
        for villages in chunks(group.villages):
            totals = await households_by_village(s, villages)
            checked = await checked_by_village(s, villages, since, min(until, now))
            for village in villages:
                status[village] = (checked.get(village, 0), totals.get(village, 0))
        for village, (done, total) in status.items():
            if done >= total:
                continue
            area = schedules.area(village)
            for user in people.cadres_of(village):
                reminder = _due(
                    people,
                    now,
                    ReminderKind.REPORT,
                    user,
                    f"village:{village}",
                    period,
                    {
                        "village": area.name if area else village,
                        "unchecked": total - done,
                        "total": total,
                        "reporting_day": reporting_day.isoformat(),
                    },
                    f"report due {reporting_day.isoformat()}, {stage} days before: "
                    f"{total - done} of {total} households not checked",
                )
                if reminder.key not in told:
                    due.append(reminder)
        for leader in people.leaders():
            mine = [v for v in status if schedules.contains(leader.area_code, v)]
            if not mine:
                continue
            lines = []
            for village in sorted(mine):
                area = schedules.area(village)
                done, total = status[village]
                lines.append(
                    {"village": area.name if area else village, "checked": done, "total": total}
                )
            reminder = _due(
                people,
                now,
                ReminderKind.REPORT_STATUS,
                leader,
                f"area:{leader.area_code}",
                period,
                {"reporting_day": reporting_day.isoformat(), "villages": lines},
                f"report due {reporting_day.isoformat()}: status of {len(lines)} villages",
            )
            if reminder.key not in told:
                due.append(reminder)
    return due


@rule(ReminderKind.REPORT_LATE)
async def _report_late(sweep: Sweep) -> list[DueReminder]:
    """The reporting day has passed: leaders hear which villages were not fully checked in
    the period that just ended (those villages are overdue)."""
    s, groups, schedules, people, now = (
        sweep.s,
        sweep.groups,
        sweep.schedules,
        sweep.people,
        sweep.now,
    )
    due: list[DueReminder] = []
    for group in groups:
        schedule = group.schedule
        today = schedule.effective_day(now, schedule.remind_time)
        start = period_of(schedule, today).start  # the last reporting day
        if (today - start).days > REPORT_LATE_DAYS:
            continue
        period = start.isoformat()
        leaders = [
            leader
            for leader in people.leaders()
            if any(schedules.contains(leader.area_code, v) for v in group.villages)
        ]
        told = await _existing_in_period(s, ReminderKind.REPORT_LATE, period)
        waiting = [
            leader
            for leader in leaders
            if (ReminderKind.REPORT_LATE, f"user:{leader.id}", f"area:{leader.area_code}", period)
            not in told
        ]
        if not waiting:
            continue
        ended = period_of(schedule, start - timedelta(days=1))
        late: dict[str, tuple[int, int]] = {}
        for villages in chunks(group.villages):
            totals = await households_by_village(s, villages)
            checked = await checked_in_period(s, villages, ended)
            for village in villages:
                total = totals.get(village, 0)
                if checked.get(village, 0) < total:
                    late[village] = (checked.get(village, 0), total)
        for leader in waiting:
            mine = sorted(v for v in late if schedules.contains(leader.area_code, v))
            if not mine:
                continue
            lines = []
            for village in mine:
                area = schedules.area(village)
                done, total = late[village]
                lines.append(
                    {"village": area.name if area else village, "checked": done, "total": total}
                )
            due.append(
                _due(
                    people,
                    now,
                    ReminderKind.REPORT_LATE,
                    leader,
                    f"area:{leader.area_code}",
                    period,
                    {"reporting_day": period, "villages": lines},
                    f"reporting day {period} passed: {len(lines)} villages not fully checked",
                )
            )
    return due


def contact_day_in(period: Period) -> date:
    """The day of a period on which the contact reminder falls due (the setting
    `contact_day`, a day of the month, in whichever month of the period holds it)."""
    day = period.schedule.contact_day
    if day >= period.start.day:
        return period.start.replace(day=day)
    return period.end.replace(day=min(day, period.end.day))


@rule(ReminderKind.CONTACT)
async def _contact_reminders(sweep: Sweep) -> list[DueReminder]:
    """From the period's contact day on, each cadre hears of their households not contacted
    (storage.periods) in the period; households without a known help cadre go to all the
    village's cadres."""
    s, groups, schedules, people, now = (
        sweep.s,
        sweep.groups,
        sweep.schedules,
        sweep.people,
        sweep.now,
    )
    due: list[DueReminder] = []
    for group in groups:
        schedule = group.schedule
        today = schedule.effective_day(now, schedule.remind_time)
        current = period_of(schedule, today)
        if today < contact_day_in(current):
            continue
        period = current.start.isoformat()
        told = await _existing_in_period(s, ReminderKind.CONTACT, period)
        pending = [
            village
            for village in group.villages
            if any(
                (ReminderKind.CONTACT, f"user:{cadre.id}", f"village:{village}", period) not in told
                for cadre in people.cadres_of(village)
            )
        ]
        contacted = contacted_since(Household.id, current.bounds()[0])
        for villages in chunks(pending):
            rows = (
                await s.execute(
                    select(Household.village_code, Household.head_name, Household.help_cadre)
                    .where(Household.village_code.in_(villages), ~contacted)
                    .order_by(Household.village_code, Household.number)
                )
            ).all()
            owed: dict[tuple[int, str], list[str]] = {}
            for village, head, helper in rows:
                cadres = people.cadres_of(village)
                named = [cadre for cadre in cadres if helper and cadre.name == helper]
                for cadre in named or cadres:
                    owed.setdefault((cadre.id, village), []).append(head)
            for (cadre_id, village), heads in owed.items():
                user = people.by_id[cadre_id]
                area = schedules.area(village)
                reminder = _due(
                    people,
                    now,
                    ReminderKind.CONTACT,
                    user,
                    f"village:{village}",
                    period,
                    {
                        "village": area.name if area else village,
                        "count": len(heads),
                        "households": heads[:TOP_LINES],
                        "period_start": current.start.isoformat(),
                        "period_end": current.end.isoformat(),
                    },
                    f"contact: {len(heads)} households not contacted in the period "
                    f"{current.start.isoformat()} to {current.end.isoformat()}",
                )
                if reminder.key not in told:
                    due.append(reminder)
    return due


def _case_step_recipients(
    people: People, step: str, responsible: int | None, village: str
) -> list[User]:
    """Who records the step: the case's cadre for a village step; the leaders over the
    village (else the offices) for a review; the offices for the county's decision."""
    roles = STEP_ROLES.get(step, ("cadre",))
    if "cadre" in roles:
        return people.recipients(responsible, village)
    leaders = people.leaders_over(village) if "leader" in roles else []
    return leaders or people.offices_over(village) or people.recipients(responsible, village)


@rule(ReminderKind.CASE_STEP, told_by_subject=True, live=_steps_live)
async def _case_step_reminders(sweep: Sweep) -> list[DueReminder]:
    """Monitoring-case steps (防返贫监测): the case's cadre, before and on the step's day."""
    s, groups, people, now = sweep.s, sweep.groups, sweep.people, sweep.now
    due: list[DueReminder] = []
    for group in groups:
        schedule = group.schedule
        if not schedule.deadline_offsets:
            continue
        today = schedule.effective_day(now, schedule.remind_time)
        latest = today + timedelta(days=max(schedule.deadline_offsets))
        earlier_open = (
            select(MonitoringStep.id)
            .where(
                MonitoringStep.case_id == MonitoringCase.id,
                MonitoringStep.done_at.is_(None),
            )
            .correlate(MonitoringCase)
        )
        first_open = earlier_open.order_by(MonitoringStep.position).limit(1).scalar_subquery()
        for villages in chunks(group.villages):
            rows = (
                await s.execute(
                    select(
                        MonitoringCase.id,
                        MonitoringCase.responsible_user_id,
                        MonitoringStep.step,
                        MonitoringStep.due_on,
                        Household.head_name,
                        Household.village_code,
                    )
                    .join(MonitoringStep, MonitoringStep.case_id == MonitoringCase.id)
                    .join(Household, Household.id == MonitoringCase.household_id)
                    .where(
                        Household.village_code.in_(villages),
                        MonitoringCase.status == "open",
                        MonitoringStep.id == first_open,
                        MonitoringStep.due_on >= today,
                        MonitoringStep.due_on <= latest,
                    )
                )
            ).all()
            for case_id, responsible, step, due_on, head, village in rows:
                stage = _stage(schedule.deadline_offsets, (due_on - today).days)
                if stage is None:
                    continue
                for user in _case_step_recipients(people, step, responsible, village):
                    due.append(
                        _due(
                            people,
                            now,
                            ReminderKind.CASE_STEP,
                            user,
                            f"case:{case_id}:{step}",
                            f"{due_on.isoformat()}/{stage}",
                            {
                                "case_id": case_id,
                                "step": step,
                                "household": head,
                                "due_on": due_on.isoformat(),
                            },
                            f"case step {step} due {due_on.isoformat()}, {stage} days before",
                        )
                    )
    return due


async def due_reminders(
    s: AsyncSession, now: datetime, schedules: Schedules | None = None
) -> list[DueReminder]:
    """Every reminder that has fallen due by `now` and is not in the outbox yet: what each
    registered rule finds, in the order of ReminderKind."""
    if schedules is None:
        schedules = await load_schedules(s)
    people = People(await s.scalars(select(User)), schedules)
    sweep = Sweep(s, now, schedules, people, _groups(schedules), await open_campaigns(s))
    found: list[DueReminder] = []
    for registered in sorted(RULES, key=lambda r: KINDS.index(r.kinds[0])):
        found += await registered.find(sweep)
        if registered.told_by_subject:
            for kind in registered.kinds:
                subjects = [reminder.subject for reminder in found if reminder.kind == kind]
                if subjects:
                    told = await _existing(s, kind, subjects)
                    found = [r for r in found if r.kind != kind or r.key not in told]
    unique: dict[tuple[str, str, str, str], DueReminder] = {}
    for reminder in found:
        unique.setdefault(reminder.key, reminder)
    return list(unique.values())


async def still_applying(s: AsyncSession, entries: Sequence[Deliverable]) -> set[int]:
    """The ids of entries whose subject still calls for the reminder, as each kind's rule
    says (a problem verified or reported rectified meanwhile, or a case step done, sends
    nothing); a kind without a `live` check always applies."""
    keep = {entry.id for entry in entries}
    for registered in RULES:
        if registered.live is None:
            continue
        mine = [entry for entry in entries if entry.kind in registered.kinds]
        if mine:
            keep -= {entry.id for entry in mine} - await registered.live(s, mine)
    return keep
