"""Exports (导出) as use cases: which areas a user may export, writing one export (check
records, the problem ledger, the monthly report, a village's public notice list) with its
options, and the monthly report as data for a printable page. Rights are checked again on
every request; every export is audited by storage, unmasked ones as such.

Each export kind is registered here once (`@export_type`): its name, how it is bounded, its
writer. The bot's /export buttons, the CLI's --kind and the dashboard's export page iterate
`EXPORTS`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from conversations.messages import N_
from conversations.model import Form
from services.policy import Deed, require
from services.runtime import Runtime, acting_user, local_date
from storage.errors import StorageError
from storage.exports import (
    ExportFormat,
    ExportKind,
    ExportResult,
    ExportScope,
    Progress,
    authorize_export,
    export_areas,
    export_checks,
    export_ledger,
    photo_ids_of_scope,
)
from storage.models import Area
from storage.monitoring import MIN_NOTICE_DAYS
from storage.notices import NoticeKind, export_notice
from storage.periods import Period, parse_period_name, period_of
from storage.photos import Fetch, FetchReport, PhotoStore, fill_store
from storage.problems import villages_in
from storage.progress import load_schedules
from storage.reports import MonthlyReport, export_monthly, monthly_report, report_period

FORM_ID = "household_check"


class Span(StrEnum):
    """What bounds an export, and so what a channel asks for besides the area."""

    DATES = "dates"  # a first and a last day
    REPORTING = "reporting"  # one reporting period (月报), by the month of its reporting day
    NOTICE = "notice"  # a village's notice: which decision it posts (a check round on dates)


@dataclass(frozen=True)
class Job:
    """One export as every writer takes it: the scope, the file, the moment, who asked (None
    from the command line), and what some kinds read besides."""

    scope: ExportScope
    path: Path
    fmt: ExportFormat
    now: datetime
    user_id: int | None = None
    progress: Progress | None = None
    form: Form | None = None  # the questionnaire, for kinds that read it
    photos: PhotoStore | None = None  # its photos beside it (a ZIP), for kinds that carry them
    period: Period | None = None  # the reporting period, for Span.REPORTING
    notice: NoticeKind = NoticeKind.CHECK  # for Span.NOTICE
    notice_days: int = MIN_NOTICE_DAYS


Writer = Callable[[AsyncSession, Job], Awaitable[ExportResult]]


@dataclass(frozen=True)
class ExportType:
    """One registered export kind: its name (a msgid), its letter in the bot's buttons, what
    bounds it, its writer; whether its rows are check records (it reads the questionnaire, and
    amended checks may come in all their versions), whether it may carry its photos (the bot
    then asks the file format), whether it shows ID numbers (masked unless an office asks)."""

    kind: ExportKind
    name: str
    code: str
    span: Span
    write: Writer
    reads_form: bool = False
    photos: bool = False
    id_numbers: bool = False


EXPORTS: dict[ExportKind, ExportType] = {}


def export_type(
    kind: ExportKind,
    name: str,
    code: str,
    span: Span,
    *,
    reads_form: bool = False,
    photos: bool = False,
    id_numbers: bool = False,
) -> Callable[[Writer], Writer]:
    """Registers the writer of an export kind (see ExportType)."""

    def register(write: Writer) -> Writer:
        assert all(other.code != code for other in EXPORTS.values()), code
        EXPORTS[kind] = ExportType(kind, name, code, span, write, reads_form, photos, id_numbers)
        return write

    return register


@export_type(
    ExportKind.CHECKS,
    N_("Check records"),
    "c",
    Span.DATES,
    reads_form=True,
    photos=True,
    id_numbers=True,
)
async def _check_records(s: AsyncSession, job: Job) -> ExportResult:
    assert job.form is not None
    return await export_checks(
        s, job.form, job.scope, job.path, job.fmt, job.now, job.user_id, job.progress, job.photos
    )


@export_type(ExportKind.PROBLEMS, N_("Problem ledger"), "p", Span.DATES, id_numbers=True)
async def _problem_ledger(s: AsyncSession, job: Job) -> ExportResult:
    return await export_ledger(s, job.scope, job.path, job.fmt, job.now, job.user_id, job.progress)


@export_type(ExportKind.MONTHLY, N_("Monthly report"), "m", Span.REPORTING)
async def _monthly_report(s: AsyncSession, job: Job) -> ExportResult:
    assert job.period is not None
    return await export_monthly(
        s,
        job.scope.area_code,
        job.period,
        job.path,
        job.fmt,
        job.now,
        job.user_id,
        lang=job.scope.lang,
    )


@export_type(ExportKind.NOTICE, N_("Public notice list"), "n", Span.NOTICE)
async def _public_notice(s: AsyncSession, job: Job) -> ExportResult:
    return await export_notice(
        s,
        job.notice,
        job.scope,
        job.path,
        job.fmt,
        job.now,
        job.user_id,
        notice_days=job.notice_days,
    )


@dataclass(frozen=True)
class ExportArea:
    code: str
    name: str
    zone: str
    level: str


@dataclass(frozen=True)
class ExportChoices:
    """The area asked for, the areas the user may pick from (their own, then those just
    below it), and the villages in it (a public notice is for one village)."""

    area: ExportArea
    choices: list[ExportArea]
    villages: list[ExportArea]


async def export_choices(
    rt: Runtime, user_id: int, area_code: str | None = None, unmasked: bool = False
) -> ExportChoices:
    """Whether the user may export `area_code` (their own area when None), and what else."""
    async with rt.sessionmaker() as s:
        user = await acting_user(s, user_id)
        require(user, Deed.EXPORT)
        area = await authorize_export(s, user, area_code or user.area_code, unmasked)
        below = await export_areas(s, user.area_code)
        villages = await villages_in(s, user.area_code)
    return ExportChoices(
        _export_area(area),
        [_export_area(a) for a in below],
        [_export_area(a) for a in villages],
    )


def _export_area(area: Area) -> ExportArea:
    return ExportArea(area.code, area.name, area.timezone, area.level)


@dataclass(frozen=True)
class ExportOrder:
    """One export: what, of which area, for which local dates (both included), how."""

    kind: ExportKind
    area_code: str
    start: date
    end: date
    fmt: ExportFormat = "xlsx"
    unmasked: bool = False
    all_versions: bool = False
    lang: str = "zh_CN"  # the language of the file's headings
    notice: NoticeKind | None = None  # which public notice, for kind "notice"
    # The monthly report's reporting period by name ("2026-11"); None: the one `end` is in.
    period: str | None = None
    # Check records with their photos (a ZIP) from this local store, already filled.
    photo_dir: Path | None = None


@dataclass(frozen=True)
class Written:
    files: list[Path]
    rows: int
    kind: ExportKind
    area_name: str


def _scope(order: ExportOrder, area_code: str, zone: str) -> ExportScope:
    return ExportScope(
        area_code,
        order.start,
        order.end,
        zone=zone,
        all_versions=order.all_versions,
        unmasked=order.unmasked,
        lang=order.lang,
    )


async def fill_photos(rt: Runtime, user_id: int, order: ExportOrder, fetch: Fetch) -> FetchReport:
    """Before a check-records export with photos: fetch into the order's photo store the
    photos of its checks that the store lacks; refused as the export itself would be."""
    assert order.photo_dir is not None
    async with rt.sessionmaker() as s:
        user = await acting_user(s, user_id)
        require(user, Deed.EXPORT)
        area = await authorize_export(s, user, order.area_code, order.unmasked)
        file_ids = await photo_ids_of_scope(
            s, rt.forms[FORM_ID], _scope(order, area.code, area.timezone)
        )
    return await fill_store(PhotoStore(order.photo_dir), fetch, file_ids)


async def write_export(
    rt: Runtime,
    user_id: int,
    order: ExportOrder,
    path: Path,
    progress: Progress | None = None,
) -> Written:
    """Write an export to `path` (CSV: one file per sheet beside it), audited, in one
    transaction; refused with StorageError when the user may not."""
    now = rt.clock()
    async with rt.sessionmaker.begin() as s:
        user = await acting_user(s, user_id)
        require(user, Deed.EXPORT)
        area = await authorize_export(s, user, order.area_code, order.unmasked)
        export = EXPORTS[order.kind]
        job = Job(
            _scope(order, area.code, area.timezone),
            path,
            order.fmt,
            now,
            user.id,
            progress,
            form=rt.forms[FORM_ID] if export.reads_form else None,
            photos=PhotoStore(order.photo_dir) if order.photo_dir is not None else None,
            period=(
                await _period(s, area.code, order.period, order.end)
                if export.span is Span.REPORTING
                else None
            ),
            notice=order.notice or NoticeKind.CHECK,
        )
        result = await export.write(s, job)
    return Written(result.files, result.rows, result.kind, area.name)


async def _period(s: AsyncSession, area_code: str, name: str | None, day: date) -> Period:
    if name is not None:
        named = parse_period_name(name)
        if named is None:
            raise StorageError("Give the period as YYYY-MM, such as 2026-11.")
        return await report_period(s, area_code, *named)
    schedules = await load_schedules(s)
    return period_of(schedules.of(area_code), day)


async def reporting_periods(rt: Runtime, user_id: int, area_code: str, count: int) -> list[Period]:
    """The area's current reporting period and those before it, newest first."""
    now = rt.clock()
    async with rt.sessionmaker() as s:
        user = await acting_user(s, user_id)
        require(user, Deed.EXPORT)
        schedules = await load_schedules(s)
        schedule = schedules.of(area_code)
    periods = [period_of(schedule, schedule.local(now).date())]
    while len(periods) < count:
        periods.append(periods[-1].previous())
    return periods


async def monthly_report_of(
    rt: Runtime, user_id: int, area_code: str, period: str | None = None, lang: str = "zh_CN"
) -> MonthlyReport:
    """The monthly report (月报) of an area of the user's for a period by name (None: the
    current one), as data for a printable page."""
    now = rt.clock()
    async with rt.sessionmaker() as s:
        user = await acting_user(s, user_id)
        require(user, Deed.EXPORT)
        area = await authorize_export(s, user, area_code, False)
        found = await _period(s, area.code, period, local_date(now, area.timezone))
        return await monthly_report(s, area.code, found, now, lang=lang)
