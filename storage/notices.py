"""The public notice list (公示名单) a village posts on its notice board: the households a
decision concerns (a check round, inclusion in monitoring 纳入监测, risk removal 风险消除),
with household head, group and size, the decision, the notice period and whom to tell of an
objection. Nothing private goes on it: no ID number, phone number, income or health detail."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.areas import get_area
from storage.errors import StorageError
from storage.exports import (
    ExportFormat,
    ExportKind,
    ExportResult,
    ExportScope,
    audit_export,
    day_text,
)
from storage.models import (
    Area,
    CheckRecord,
    Household,
    Member,
    MonitoringCase,
    MonitoringStep,
    Problem,
)
from storage.monitoring import MIN_NOTICE_DAYS
from storage.periods import OPEN
from storage.sheets import Column, Document, make_document
from storage.texts import N_, Translate, page_footer, translator

CONTACT_SETTING = "notice_contact"


class NoticeKind(StrEnum):
    """What the notice announces."""

    CHECK = "check"  # 入户核查结果
    INCLUSION = "inclusion"  # 纳入防返贫监测对象
    REMOVAL = "removal"  # 风险消除


NOTICE_TITLES = {
    NoticeKind.CHECK: N_("{village}: public notice of the household check results"),
    NoticeKind.INCLUSION: N_("{village}: public notice of households proposed for monitoring"),
    NoticeKind.REMOVAL: N_("{village}: public notice of households proposed for risk removal"),
}
NOTICE_INTROS = {
    NoticeKind.CHECK: N_(
        "The households below were checked at home against the standard of food, clothing, "
        "compulsory education, basic medical care, safe housing and safe drinking water. "
        "The results are posted for public scrutiny."
    ),
    NoticeKind.INCLUSION: N_(
        "After a home visit and the village review, the households below are proposed for "
        "monitoring against a return to poverty. They are posted for public scrutiny."
    ),
    NoticeKind.REMOVAL: N_(
        "After a home visit and the village review, the risk of the households below is "
        "proposed as removed. They are posted for public scrutiny."
    ),
}
DECISIONS = {
    "check_met": N_("Checked: the standard is met"),
    "check_problems": N_("Checked: problems found are being rectified"),
    NoticeKind.INCLUSION: N_("Proposed for monitoring"),
    NoticeKind.REMOVAL: N_("Proposed for risk removal"),
}
CASE_KINDS = {NoticeKind.INCLUSION: "identify", NoticeKind.REMOVAL: "remove"}
NOTICE_STEP = "public_notice"


@dataclass(frozen=True)
class NoticeEntry:
    """One household on the notice: nothing but what may be posted in public."""

    head_name: str
    group: str | None
    household_size: int
    decision: str


@dataclass(frozen=True)
class Notice:
    """A village's notice, ready to print: its entries, the notice period and the contact."""

    village: str
    kind: NoticeKind
    entries: tuple[NoticeEntry, ...]
    start: date
    end: date
    contact: str
    issued_on: date


def notice_period(issued_on: date, days: int = MIN_NOTICE_DAYS) -> tuple[date, date]:
    """The days the notice is posted, the day of issue counted: at least five."""
    days = max(days, MIN_NOTICE_DAYS)
    return issued_on, issued_on + timedelta(days=days - 1)


async def notice_contact(s: AsyncSession, village: Area) -> str | None:
    """Whom to tell of an objection: the `notice_contact` setting of the village, else of the
    nearest area above it that has one."""
    area: Area | None = village
    while area is not None:
        contact = (area.settings or {}).get(CONTACT_SETTING)
        if isinstance(contact, str) and contact.strip():
            return contact.strip()
        area = await get_area(s, area.parent_code) if area.parent_code else None
    return None


async def _sizes(s: AsyncSession, household_ids: Sequence[int]) -> dict[int, int]:
    if not household_ids:
        return {}
    rows = await s.execute(
        select(Member.household_id, func.count(Member.id))
        .where(Member.household_id.in_(household_ids), Member.active.is_(True))
        .group_by(Member.household_id)
    )
    return {household_id: int(count) for household_id, count in rows}


def _entry(household: Any, sizes: dict[int, int], decision: str) -> NoticeEntry:
    return NoticeEntry(
        household.head_name, household.group_name, sizes.get(household.id, 0), decision
    )


async def check_round_entries(
    s: AsyncSession, village_code: str, scope: ExportScope, t: Translate
) -> list[NoticeEntry]:
    """The households of the village checked in the scope's period (latest versions), each
    with whether the check found problems still open; nothing of what they were."""
    first, after = scope.bounds()
    checked = (
        await s.execute(
            select(Household.id, Household.head_name, Household.group_name)
            .join(CheckRecord, CheckRecord.household_id == Household.id)
            .where(
                Household.village_code == village_code,
                CheckRecord.submitted_at >= first,
                CheckRecord.submitted_at < after,
                CheckRecord.latest.is_(True),
            )
            .group_by(Household.id, Household.head_name, Household.group_name)
            .order_by(Household.group_name, Household.number)
        )
    ).all()
    ids = [row.id for row in checked]
    open_problems = set(
        await s.scalars(
            select(Problem.household_id).where(
                Problem.household_id.in_(ids),
                Problem.status.in_(OPEN),
            )
        )
    )
    sizes = await _sizes(s, ids)
    return [
        _entry(
            row,
            sizes,
            t(DECISIONS["check_problems" if row.id in open_problems else "check_met"]),
        )
        for row in checked
    ]


CaseDecision = Callable[[MonitoringCase], str | None]


async def case_entries(
    s: AsyncSession,
    village_code: str,
    kind: NoticeKind,
    scope: ExportScope,
    t: Translate,
    decision_of: CaseDecision | None = None,
) -> list[NoticeEntry]:
    """The households of the village whose monitoring case of this kind is at its notice step
    (公示): every step before it done and the notice not yet, or the notice done in the scope's
    period. `decision_of` words a case's outcome
    where one is recorded; else the proposal is posted."""
    first, after = scope.bounds()
    earlier = aliased(MonitoringStep)
    # Due for the notice: every step before it done (the village review agreed).
    ready = ~exists().where(
        earlier.case_id == MonitoringStep.case_id,
        earlier.position < MonitoringStep.position,
        earlier.done_at.is_(None),
    )
    rows = (
        await s.execute(
            select(MonitoringCase, Household.id, Household.head_name, Household.group_name)
            .join(Household, Household.id == MonitoringCase.household_id)
            .join(MonitoringStep, MonitoringStep.case_id == MonitoringCase.id)
            .where(
                Household.village_code == village_code,
                MonitoringCase.kind == CASE_KINDS[kind],
                MonitoringStep.step == NOTICE_STEP,
                (MonitoringStep.done_at.is_(None) & (MonitoringCase.status == "open") & ready)
                | ((MonitoringStep.done_at >= first) & (MonitoringStep.done_at < after)),
            )
            .order_by(Household.group_name, Household.number, MonitoringCase.id)
        )
    ).all()
    sizes = await _sizes(s, [row.id for row in rows])
    entries = []
    for case, household_id, head_name, group_name in rows:
        named = decision_of(case) if decision_of is not None else None
        decision = named or t(DECISIONS[kind])
        entries.append(NoticeEntry(head_name, group_name, sizes.get(household_id, 0), decision))
    return entries


NOTICE_COLUMNS: tuple[tuple[str, Any, float], ...] = (
    (N_("No."), "integer", 6),
    (N_("Head of household"), "text", 16),
    (N_("Group"), "text", 14),
    (N_("People in the household"), "integer", 10),
    (N_("Decision"), "text", 36),
    (N_("Remarks"), "text", 16),
)


def notice_document(notice: Notice, lang: str) -> Document:
    t = translator(lang)
    period = t(N_("{start} to {end}")).format(
        start=day_text(notice.start, lang), end=day_text(notice.end, lang)
    )
    contact = notice.contact or t(N_("the village committee"))
    return Document(
        footer=page_footer(t),
        sheet=t(N_("Public notice list")),
        title=t(NOTICE_TITLES[notice.kind]).format(village=notice.village),
        above=(
            t(N_("Notice period: {period}")).format(period=period),
            t(N_("Posted on: {day}")).format(day=day_text(notice.issued_on, lang)),
        ),
        intro=t(NOTICE_INTROS[notice.kind]),
        columns=[Column(t(title), "", kind, width) for title, kind, width in NOTICE_COLUMNS],
        note=t(
            N_(
                "Anyone who objects may tell {contact} within the notice period, in person, "
                "by phone or in writing."
            )
        ).format(contact=contact),
        below=("", t(N_("{village} village committee (stamp)")).format(village=notice.village)),
        landscape=False,
        font_size=12,
    )


def write_notice(notice: Notice, path: Path, fmt: ExportFormat, lang: str) -> None:
    sink = make_document(path, fmt, notice_document(notice, lang))
    for number, entry in enumerate(notice.entries, start=1):
        sink.append([number, entry.head_name, entry.group, entry.household_size, entry.decision])
    sink.close()


async def export_notice(
    s: AsyncSession,
    kind: NoticeKind,
    scope: ExportScope,
    path: Path,
    fmt: ExportFormat,
    now: datetime,
    user_id: int | None = None,
    notice_days: int = MIN_NOTICE_DAYS,
    decision_of: CaseDecision | None = None,
) -> ExportResult:
    """Write the public notice of a village for a check round (the checks of the scope's
    period) or for the monitoring cases at their notice step; audited like every export."""
    village = await get_area(s, scope.area_code)
    if village is None:
        raise StorageError("Unknown area {code}.", {"code": scope.area_code})
    if village.level != "village":
        raise StorageError("A public notice is for one village: pick a village.")
    t = scope.translate()
    if kind == NoticeKind.CHECK:
        entries = await check_round_entries(s, village.code, scope, t)
    else:
        entries = await case_entries(s, village.code, kind, scope, t, decision_of)
    issued_on = scope.local(now).date()
    start, end = notice_period(issued_on, notice_days)
    contact = await notice_contact(s, village) or ""
    notice = Notice(village.name, kind, tuple(entries), start, end, contact, issued_on)
    await asyncio.to_thread(write_notice, notice, path, fmt, scope.lang)
    await audit_export(s, ExportKind.NOTICE, scope, len(entries), now, user_id)
    return ExportResult([path], len(entries), ExportKind.NOTICE)
