"""Exports offices file (导出): check records (XLSX with a sheet per repeat group and a sheet of
problems, or CSV in UTF-8 with a BOM) and the problem ledger in the layout of the Ganzhou
rectification list (seed 004), in Chinese or English. Rows are read from the database in
batches and written in a worker thread (storage.sheets), so memory does not grow with the
export and the event loop stays free for other users."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import zipfile
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from babel.dates import format_date
from sqlalchemy import Select, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from conversations.answers import ALL_NORMAL_CHOICES
from conversations.model import Form, Question
from rosterfiles.id_numbers import mask_id_number
from storage.areas import area_contains, codes_within
from storage.audit import audit
from storage.errors import StorageError
from storage.models import (
    Area,
    CheckRecord,
    Household,
    Problem,
    ProblemEvent,
    ProblemStatus,
    User,
)
from storage.photos import PhotoFiles, PhotoStore, photo_ids
from storage.schedule import ONGOING
from storage.sheets import (
    Column,
    Document,
    Link,
    SheetSpec,
    TableSink,
    make_document,
    make_sink,
)
from storage.texts import (
    N_,
    YES_NO,
    Translate,
    category_name,
    page_footer,
    status_name,
    tier_name,
    translator,
)


class ExportKind(StrEnum):
    """What an export holds; its value names it on the command line and in the audit log."""

    CHECKS = "checks"  # check records (入户核查记录)
    PROBLEMS = "problems"  # the problem ledger (问题台账)
    MONTHLY = "monthly"  # the monthly report (月报)
    NOTICE = "notice"  # a village's public notice list (公示名单)


ExportFormat = Literal["xlsx", "csv"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("xlsx", "csv")
EXPORT_ROLES = ("office", "leader")
LANGUAGE = "zh_CN"
BATCH = 1000

# Progress of a long export: (rows written, rows in all).
Progress = Callable[[int, int], Awaitable[None]]

# The order of the ledger's categories: 两不愁三保障 first, as the lists are filed.
CATEGORY_ORDER = (
    "不愁吃",
    "不愁穿",
    "义务教育",
    "基本医疗",
    "住房安全",
    "饮水安全",
    "收入",
    "帮扶",
)
# Question types that hold no answer of their own in the checks sheet.
_NOT_A_COLUMN = ("repeat", "note")
BABEL_LOCALES = {"zh_CN": "zh_Hans_CN", "en": "en"}


@dataclass(frozen=True)
class ExportScope:
    """What to export: an area (and all below it), the local dates from `start` to `end`
    (both included) in `zone`, the latest version of each check or all versions, whether ID
    numbers are shown in full (an office's explicit choice, audited), the language of the
    file, and whether the ledger lists problems withdrawn as raised in error (误报)."""

    area_code: str
    start: date
    end: date
    zone: str = "Asia/Shanghai"
    all_versions: bool = False
    unmasked: bool = False
    lang: str = LANGUAGE
    withdrawn: bool = False

    def bounds(self) -> tuple[datetime, datetime]:
        """The UTC instants [from, to) the local dates cover."""
        tz = ZoneInfo(self.zone)
        first = datetime.combine(self.start, time(), tz).astimezone(UTC)
        after = datetime.combine(self.end + timedelta(days=1), time(), tz).astimezone(UTC)
        return first, after

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(ZoneInfo(self.zone))

    def translate(self) -> Translate:
        return translator(self.lang)


@dataclass(frozen=True)
class ExportResult:
    """The files written (one for XLSX; one per sheet for CSV) and how many rows."""

    files: list[Path]
    rows: int
    kind: ExportKind


def document_date_format(lang: str) -> str:
    """The number format of a date on a printed form: 2026年11月28日, or 2026-11-28."""
    return 'yyyy"年"m"月"d"日"' if lang == LANGUAGE else "yyyy-mm-dd"


def day_text(day: date, lang: str) -> str:
    """A date as a form prints it: 2026年11月28日, or November 28, 2026."""
    return format_date(day, format="long", locale=BABEL_LOCALES.get(lang, "zh_Hans_CN"))


# ---------------------------------------------------------------- rights


async def authorize_export(s: AsyncSession, user: User, area_code: str, unmasked: bool) -> Area:
    """The area to export, if this user may: offices and leaders, inside their own area; full
    ID numbers for offices only. Raises StorageError with a msgid otherwise."""
    if user.role not in EXPORT_ROLES:
        raise StorageError("Only offices and team leaders can export.")
    area = await s.get(Area, area_code)
    if area is None:
        raise StorageError("Unknown area {code}.", {"code": area_code})
    if not await area_contains(s, user.area_code, area_code):
        raise StorageError("You can only export your own area.")
    if unmasked and user.role != "office":
        raise StorageError("Only an office can export full ID numbers.")
    return area


# ---------------------------------------------------------------- answers as cells


CellOf = Callable[[Any], Any]


def _plain(value: Any) -> Any:
    if isinstance(value, list | tuple | Mapping):
        return str(value)
    return value


def _label(labels: Mapping[str, str], lang: str, fallback: str) -> str:
    return labels.get(lang) or labels.get(LANGUAGE) or next(iter(labels.values()), fallback)


def _as_date(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return value
    return _plain(value)


def cell_of(question: Question, lang: str = LANGUAGE) -> CellOf:
    """How an answer to `question` becomes a cell: a choice as its label (是/否 for yes/no),
    several choices joined by 、, a date as a date, a location as "lat, lon", numbers and text
    as they are, a question not answered as an empty cell. Built once per column."""
    labels: dict[Any, Any] = {c.value: _label(c.labels, lang, c.value) for c in question.choices}
    if question.type == "yes_no" and not labels:
        t = translator(lang)
        labels = {value: t(msgid) for value, msgid in YES_NO.items()}
    if question.type == "all_normal":  # 全部正常 / 逐项填写, never the choice's code
        labels = {c.value: _label(c.labels, lang, c.value) for c in ALL_NORMAL_CHOICES}
    joiner = "、" if lang == LANGUAGE else ", "

    def one(value: Any) -> Any:
        if value is None:
            return None
        return labels.get(value, value) if isinstance(value, str) else _plain(value)

    def many(value: Any) -> Any:
        if value is None:
            return None
        values = value if isinstance(value, list | tuple) else [value]
        return joiner.join(str(labels.get(v, v) if isinstance(v, str) else v) for v in values)

    def place(value: Any) -> Any:
        if isinstance(value, Mapping):
            return f"{value.get('latitude')}, {value.get('longitude')}"
        return _plain(value)

    if question.type in ("select_one", "yes_no", "all_normal"):
        return one
    if question.type == "select_many":
        return many
    if question.type == "location":
        return place
    if question.type == "date":
        return _as_date
    return _plain


def choice_label(question: Question, value: Any) -> Any:
    """One answer as a cell (see `cell_of`)."""
    return cell_of(question)(value)


def _header(question: Question, lang: str = LANGUAGE) -> str:
    return _label(question.labels, lang, question.id)


def _kind_of(question: Question) -> Any:
    if question.type in ("integer",):
        return "integer"
    if question.type in ("decimal",):
        return "number"
    if question.type == "date":
        return "date"
    return "text"


# ---------------------------------------------------------------- check records


CHECK_COLUMNS: tuple[tuple[str, str, Any], ...] = (
    (N_("Check ID"), "check_id", "integer"),
    (N_("Version"), "version", "integer"),
    (N_("Village"), "village", "text"),
    (N_("Village code"), "village_code", "code"),
    (N_("Household number"), "household_number", "code"),
    (N_("Head of household"), "head_name", "text"),
    (N_("Head's ID number"), "head_id_number", "code"),
    (N_("Checked by"), "cadre", "text"),
    (N_("Checked at"), "submitted_at", "datetime"),
    (N_("Amended by"), "amended_by", "text"),
    (N_("Reason for amendment"), "amendment_reason", "text"),
    (N_("Number of problems"), "problems_raised", "integer"),
)
ITEM_COLUMNS: tuple[tuple[str, str, Any], ...] = (
    (N_("Check ID"), "check_id", "integer"),
    (N_("Version"), "version", "integer"),
    (N_("Household number"), "household_number", "code"),
    (N_("Head of household"), "head_name", "text"),
    (N_("Item"), "item", "integer"),
)
PROBLEM_SHEET_COLUMNS: tuple[tuple[str, str, Any], ...] = (
    (N_("Check ID"), "check_id", "integer"),
    (N_("Version"), "version", "integer"),
    (N_("Household number"), "household_number", "code"),
    (N_("Head of household"), "head_name", "text"),
    (N_("Problem ID"), "problem_id", "integer"),
    (N_("Category"), "category", "text"),
    (N_("Problem"), "text", "text"),
    (N_("Goal"), "goal", "text"),
    (N_("Measures"), "measures", "text"),
    (N_("Responsible unit"), "responsible_unit", "text"),
    (N_("Deadline"), "deadline", "date"),
    (N_("Kind of deadline"), "deadline_tier", "text"),
    (N_("Status"), "status", "text"),
)


def _columns(t: Translate, fixed: Sequence[tuple[str, str, Any]]) -> list[Column]:
    return [Column(t(title), code, kind) for title, code, kind in fixed]


@dataclass(frozen=True)
class CheckLayout:
    """The columns of a checks export, read from the questionnaire: top-level answers on the
    checks sheet, each repeat group's questions on its own sheet."""

    answers: tuple[Question, ...]
    groups: tuple[Question, ...]

    @classmethod
    def of(cls, form: Form) -> CheckLayout:
        answers = tuple(q for q in form.questions if q.type not in _NOT_A_COLUMN)
        groups = tuple(q for q in form.questions if q.type == "repeat")
        return cls(answers, groups)

    def sheets(self, lang: str = LANGUAGE) -> list[SheetSpec]:
        t = translator(lang)
        main = _columns(t, CHECK_COLUMNS) + [
            Column(_header(q, lang), q.id, _kind_of(q)) for q in self.answers
        ]
        specs = [SheetSpec("checks", t(N_("Check records")), main)]
        for group in self.groups:
            columns = _columns(t, ITEM_COLUMNS) + [
                Column(_header(q, lang), q.id, _kind_of(q))
                for q in group.children
                if q.type not in _NOT_A_COLUMN
            ]
            specs.append(SheetSpec(group.id, _header(group, lang), columns))
        specs.append(
            SheetSpec("problems", t(N_("Problems raised")), _columns(t, PROBLEM_SHEET_COLUMNS))
        )
        return specs


@dataclass(frozen=True, slots=True)
class CheckRow:
    """One check record as the export reads it (plain values, safe to hand to a thread)."""

    record_id: int
    check_id: int
    version: int
    village: str
    village_code: str
    household_number: str
    head_name: str
    head_id_number: str | None
    cadre: str
    submitted_at: datetime
    amended_by: str | None
    amendment_reason: str | None
    problems_raised: int
    answers: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ProblemRow:
    """One problem as the exports read it."""

    id: int
    check_id: int | None
    version: int | None
    village: str
    household_number: str
    head_name: str
    category: str
    text: str
    goal: str
    measures: str
    responsible_unit: str
    deadline: date
    deadline_tier: str | None
    status: str
    text_i18n: Mapping[str, str] | None = None
    goal_i18n: Mapping[str, str] | None = None
    rectified_at: datetime | None = None
    verified_by: str | None = None

    def text_in(self, lang: str) -> str:
        return (self.text_i18n or {}).get(lang) or self.text

    def goal_in(self, lang: str) -> str:
        return (self.goal_i18n or {}).get(lang) or self.goal


def deadline_text(deadline: date, tier: str | None, lang: str = LANGUAGE) -> str:
    """整改期限 as the lists write it: the date, and the tier when there is one; a 长期坚持
    (ongoing) problem has no date to be done by, only its tier."""
    named = tier_name(translator(lang), tier)
    if named and tier == ONGOING:
        return named
    day = day_text(deadline, lang)
    if not named:
        return day
    return f"{day}（{named}）" if lang == LANGUAGE else f"{day} ({named})"


class _PhotoCell:
    """A photo column when the photos go along: the cell links to the photo's file."""

    def __init__(
        self,
        photos: PhotoFiles,
        question: Question,
        group: Question | None,
        lang: str,
        plain: CellOf,
    ) -> None:
        self.photos = photos
        self.label = _header(question, lang)
        self.group = _header(group, lang) if group is not None else None
        self.plain = plain

    def __call__(self, value: Any) -> Any:
        return self.plain(value)

    def link(self, row: CheckRow, value: Any, item: int | None = None) -> Any:
        if not isinstance(value, str) or not value:
            return self.plain(value)
        check = f"{row.check_id}" if row.version <= 1 else f"{row.check_id}-{row.version}"
        what = self.label if self.group is None else f"{self.group}_{item}_{self.label}"
        name = self.photos.name(
            value,
            [row.village, f"{row.household_number}_{row.head_name}", f"{check}_{what}"],
        )
        return Link(name, name.rsplit("/", 1)[-1])


def _value(cell: CellOf, row: CheckRow, value: Any, item: int | None = None) -> Any:
    return cell.link(row, value, item) if isinstance(cell, _PhotoCell) else cell(value)


class CheckRowWriter:
    """Turns check rows into sheet rows; runs in a worker thread. With `photos`, a photo's
    cell links to its file in the archive, named by village, household and question."""

    def __init__(
        self,
        sink: TableSink,
        layout: CheckLayout,
        scope: ExportScope,
        photos: PhotoFiles | None = None,
    ) -> None:
        self.sink = sink
        self.layout = layout
        self.scope = scope
        self.lang = scope.lang
        self.t = scope.translate()
        self.zone = ZoneInfo(scope.zone)
        self.photos = photos
        self.answer_cells = [(q.id, self._cell(q)) for q in layout.answers]
        self.group_cells = [
            (
                group.id,
                [
                    (q.id, self._cell(q, group))
                    for q in group.children
                    if q.type not in _NOT_A_COLUMN
                ],
            )
            for group in layout.groups
        ]
        for spec in layout.sheets(self.lang):
            sink.add_sheet(spec)

    def _cell(self, question: Question, group: Question | None = None) -> CellOf:
        plain = cell_of(question, self.lang)
        if self.photos is None or question.type != "photo":
            return plain
        return _PhotoCell(self.photos, question, group, self.lang, plain)

    def _id_number(self, text: str | None) -> str:
        return (text or "") if self.scope.unmasked else mask_id_number(text)

    def add_checks(self, rows: Sequence[CheckRow]) -> None:
        for row in rows:
            fixed = [
                row.check_id,
                row.version,
                row.village,
                row.village_code,
                row.household_number,
                row.head_name,
                self._id_number(row.head_id_number),
                row.cadre,
                row.submitted_at.astimezone(self.zone).replace(tzinfo=None),
                row.amended_by,
                row.amendment_reason,
                row.problems_raised,
            ]
            answers = [_value(cell, row, row.answers.get(key)) for key, cell in self.answer_cells]
            self.sink.append("checks", fixed + answers)
            for group_id, children in self.group_cells:
                items = row.answers.get(group_id) or []
                for index, item in enumerate(items, start=1):
                    if not isinstance(item, Mapping):
                        continue
                    cells = [_value(cell, row, item.get(key), index) for key, cell in children]
                    self.sink.append(
                        group_id,
                        [
                            row.check_id,
                            row.version,
                            row.household_number,
                            row.head_name,
                            index,
                            *cells,
                        ],
                    )

    def add_problems(self, rows: Sequence[ProblemRow]) -> None:
        for row in rows:
            self.sink.append(
                "problems",
                [
                    row.check_id,
                    row.version,
                    row.household_number,
                    row.head_name,
                    row.id,
                    category_name(self.t, row.category),
                    row.text_in(self.lang),
                    row.goal_in(self.lang),
                    row.measures,
                    row.responsible_unit,
                    None if row.deadline_tier == ONGOING else row.deadline,
                    tier_name(self.t, row.deadline_tier),
                    status_name(self.t, row.status),
                ],
            )


def _check_conditions(scope: ExportScope) -> list[Any]:
    first, after = scope.bounds()
    conditions = [
        Household.village_code.in_(codes_within(scope.area_code)),
        CheckRecord.submitted_at >= first,
        CheckRecord.submitted_at < after,
    ]
    if not scope.all_versions:
        conditions.append(CheckRecord.latest.is_(True))
    return conditions


def _check_id() -> Any:
    return func.coalesce(CheckRecord.check_id, CheckRecord.id)


def checks_statement(scope: ExportScope) -> Select[Any]:
    """The check records of the scope with their household, village and cadre."""
    amender = aliased(User)
    return (
        select(
            CheckRecord.id,
            _check_id(),
            CheckRecord.version,
            Area.name,
            Household.village_code,
            Household.number,
            Household.head_name,
            Household.head_id_number,
            User.name,
            CheckRecord.submitted_at,
            amender.name,
            CheckRecord.amendment_reason,
            CheckRecord.problems_raised,
            CheckRecord.answers,
        )
        .join(Household, Household.id == CheckRecord.household_id)
        .join(Area, Area.code == Household.village_code)
        .join(User, User.id == CheckRecord.cadre_user_id)
        .outerjoin(amender, amender.id == CheckRecord.amended_by_user_id)
        .where(*_check_conditions(scope))
        .order_by(
            Household.village_code, Household.number, CheckRecord.submitted_at, CheckRecord.id
        )
    )


async def photo_ids_of_scope(s: AsyncSession, form: Form, scope: ExportScope) -> list[str]:
    """Every photo file id in the checks an export of `scope` writes, each once."""
    seen: dict[str, None] = {}
    result = await s.stream(checks_statement(scope).execution_options(yield_per=1000))
    async for row in result:
        for file_id in photo_ids(form, row[13] or {}):
            seen.setdefault(file_id, None)
    return list(seen)


def _check_row(row: Sequence[Any]) -> CheckRow:
    return CheckRow(
        record_id=row[0],
        check_id=row[1],
        version=row[2] or 1,
        village=row[3],
        village_code=row[4],
        household_number=row[5],
        head_name=row[6],
        head_id_number=row[7],
        cadre=row[8],
        submitted_at=row[9],
        amended_by=row[10],
        amendment_reason=row[11],
        problems_raised=row[12],
        answers=row[13] or {},
    )


def _problem_columns() -> tuple[Any, ...]:
    """The columns both problem exports read, in the order their rows are unpacked."""
    return (
        Problem.id,
        _check_id(),
        CheckRecord.version,
        Area.name,
        Household.number,
        Household.head_name,
        Problem.category,
        Problem.text,
        Problem.goal,
        Problem.measures,
        Problem.responsible_unit,
        Problem.deadline,
        Problem.deadline_tier,
        Problem.status,
        Problem.text_i18n,
        Problem.goal_i18n,
    )


def problems_of_checks_statement(scope: ExportScope) -> Select[Any]:
    """The problems raised by the exported check records."""
    return (
        select(*_problem_columns())
        .join(CheckRecord, CheckRecord.id == Problem.check_record_id)
        .join(Household, Household.id == Problem.household_id)
        .join(Area, Area.code == Household.village_code)
        .where(*_check_conditions(scope))
        .order_by(Household.village_code, Household.number, Problem.id)
    )


def _problem_row(row: Sequence[Any]) -> ProblemRow:
    return ProblemRow(
        id=row[0],
        check_id=row[1],
        version=row[2],
        village=row[3],
        household_number=row[4],
        head_name=row[5],
        category=row[6],
        text=row[7],
        goal=row[8],
        measures=row[9],
        responsible_unit=row[10],
        deadline=row[11],
        deadline_tier=row[12],
        status=row[13],
        text_i18n=row[14],
        goal_i18n=row[15],
    )


async def _count(s: AsyncSession, statement: Select[Any]) -> int:
    counted = select(func.count()).select_from(statement.order_by(None).subquery())
    return int(await s.scalar(counted) or 0)


async def _batches(s: AsyncSession, statement: Select[Any]) -> Any:
    """The statement's rows, BATCH at a time, without loading them all."""
    result = await s.stream(statement.execution_options(yield_per=BATCH))
    async for partition in result.partitions(BATCH):
        yield partition


async def audit_export(
    s: AsyncSession,
    kind: ExportKind,
    scope: ExportScope,
    rows: int,
    now: datetime,
    user_id: int | None,
) -> None:
    details = {
        "kind": kind,
        "from": scope.start.isoformat(),
        "to": scope.end.isoformat(),
        "rows": rows,
        "all_versions": scope.all_versions,
        "unmasked": scope.unmasked,
    }
    action = "export.unmasked" if scope.unmasked else "export.created"
    await audit(s, action, f"area:{scope.area_code}", now, user_id=user_id, details=details)


async def export_checks(
    s: AsyncSession,
    form: Form,
    scope: ExportScope,
    path: Path,
    fmt: ExportFormat,
    now: datetime,
    user_id: int | None = None,
    progress: Progress | None = None,
    photos: PhotoStore | None = None,
) -> ExportResult:
    """Write the scope's check records: a checks sheet (one row per check, each answer a
    column headed by its label and its code), one sheet per repeat group joined by check id,
    and the problems raised; audited, unmasked exports as such. With `photos`, `path` is a
    ZIP of the workbook (or CSV files) and the photos of the local store, each photo's cell
    linking to its file."""
    total = await _count(s, checks_statement(scope))
    folder = None
    written = path
    files_of_photos = None
    if photos is not None:
        folder = await asyncio.to_thread(tempfile.mkdtemp, prefix="hucha-photos-")
        written = Path(folder) / f"{path.stem}.{fmt}"
        files_of_photos = PhotoFiles(photos)
    try:
        sink = make_sink(written, fmt)
        writer = await asyncio.to_thread(
            CheckRowWriter, sink, CheckLayout.of(form), scope, files_of_photos
        )
        done = 0
        async for partition in _batches(s, checks_statement(scope)):
            rows = [_check_row(row) for row in partition]
            await asyncio.to_thread(writer.add_checks, rows)
            done += len(rows)
            if progress is not None:
                await progress(done, total)
        async for partition in _batches(s, problems_of_checks_statement(scope)):
            await asyncio.to_thread(writer.add_problems, [_problem_row(row) for row in partition])
        files = await asyncio.to_thread(sink.close)
        if files_of_photos is not None:
            files = [await asyncio.to_thread(write_photo_archive, path, files, files_of_photos)]
    finally:
        if folder is not None:
            await asyncio.to_thread(shutil.rmtree, folder, True)
    await audit_export(s, ExportKind.CHECKS, scope, done, now, user_id)
    return ExportResult(files, done, ExportKind.CHECKS)


def write_photo_archive(path: Path, files: Sequence[Path], photos: PhotoFiles) -> Path:
    """A ZIP of the export's files and its photos (stored as they are: JPEG does not
    compress further). A photo missing from the store keeps its link and no file."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in files:
            archive.write(file, file.name)
        added: set[str] = set()
        for file_id, name in photos.entries:
            source = photos.store.path_of(file_id)
            if name in added or not source.is_file():
                continue
            archive.write(source, name, compress_type=zipfile.ZIP_STORED)
            added.add(name)
    return path


# ---------------------------------------------------------------- the problem ledger


# The rectification list of seed 004, plus status, date and verifier; widths for A4 landscape.
LEDGER_COLUMNS: tuple[tuple[str, Any, float], ...] = (
    (N_("Category"), "text", 10),
    (N_("No."), "integer", 5),
    (N_("Problem"), "text", 38),
    (N_("Goal"), "text", 22),
    (N_("Measures"), "text", 30),
    (N_("Responsible unit"), "text", 13),
    (N_("Deadline"), "text", 13),
    (N_("Status"), "text", 10),
    (N_("Rectified on"), "date", 13),
    (N_("Verified by"), "text", 8),
)


def ledger_statement(scope: ExportScope) -> Select[Any]:
    """The problems of the scope's households raised in its period, by category as the
    lists are filed, then in the order they were raised; those withdrawn as raised in error
    (误报) only when asked for."""
    first, after = scope.bounds()
    order = {category: index for index, category in enumerate(CATEGORY_ORDER)}
    conditions = [
        Household.village_code.in_(codes_within(scope.area_code)),
        Problem.created_at >= first,
        Problem.created_at < after,
    ]
    if not scope.withdrawn:
        conditions.append(Problem.status != ProblemStatus.WITHDRAWN)
    return (
        select(*_problem_columns())
        .join(Household, Household.id == Problem.household_id)
        .join(Area, Area.code == Household.village_code)
        .outerjoin(CheckRecord, CheckRecord.id == Problem.check_record_id)
        .where(*conditions)
        .order_by(
            case(order, value=Problem.category, else_=len(order)),
            Problem.category,
            Problem.id,
        )
    )


async def _closing_events(
    s: AsyncSession, problem_ids: Sequence[int]
) -> tuple[dict[int, datetime], dict[int, str]]:
    """When each problem was last reported rectified, and who verified (销号) it."""
    rectified: dict[int, datetime] = {}
    verified_by: dict[int, str] = {}
    if not problem_ids:
        return rectified, verified_by
    result = await s.execute(
        select(ProblemEvent.problem_id, ProblemEvent.to_status, ProblemEvent.at, User.name)
        .outerjoin(User, User.id == ProblemEvent.user_id)
        .where(
            ProblemEvent.problem_id.in_(problem_ids),
            ProblemEvent.to_status.in_([ProblemStatus.RECTIFIED, ProblemStatus.VERIFIED]),
        )
        .order_by(ProblemEvent.at, ProblemEvent.id)
    )
    for problem_id, status, at, name in result:
        if status == ProblemStatus.RECTIFIED:
            rectified[problem_id] = at
        else:
            verified_by[problem_id] = name or ""
    return rectified, verified_by


def _problem_text(row: ProblemRow, t: Translate, lang: str) -> str:
    where = t(N_("{village}, household {number}, {head}")).format(
        village=row.village, number=row.household_number, head=row.head_name
    )
    return f"【{where}】{row.text_in(lang)}"


def signature_lines(t: Translate) -> tuple[str, ...]:
    """The lines under a form: who filled it in, who checked it, and the stamp."""
    return (t(N_("Filled in by:")), t(N_("Checked by (reviewer):")), t(N_("(Stamp)")))


def ledger_document(unit: str, scope: ExportScope, today: date) -> Document:
    t = scope.translate()
    lang = scope.lang
    period = t(N_("{start} to {end}")).format(
        start=day_text(scope.start, lang), end=day_text(scope.end, lang)
    )
    return Document(
        footer=page_footer(t),
        sheet=t(N_("Rectification list")),
        title=t(N_("{unit}: list of problems and their rectification")).format(unit=unit),
        above=(
            t(N_("Reporting unit: {unit}    Period: {period}")).format(unit=unit, period=period),
            t(N_("Reported on: {day}")).format(day=day_text(today, lang)),
        ),
        columns=[Column(t(title), "", kind, width) for title, kind, width in LEDGER_COLUMNS],
        below=signature_lines(t),
        merge=0,
        date_format=document_date_format(lang),
    )


class LedgerWriter:
    """The rectification list (整改工作清单) of seed 004, plus status, date and verifier."""

    def __init__(self, path: Path, fmt: ExportFormat, scope: ExportScope, unit: str, today: date):
        self.scope = scope
        self.lang = scope.lang
        self.t = scope.translate()
        self.sink = make_document(path, fmt, ledger_document(unit, scope, today))
        self.number = 0

    def add(self, rows: Sequence[ProblemRow]) -> None:
        for row in rows:
            self.number += 1
            rectified = self.scope.local(row.rectified_at).date() if row.rectified_at else None
            self.sink.append(
                [
                    category_name(self.t, row.category),
                    self.number,
                    _problem_text(row, self.t, self.lang),
                    row.goal_in(self.lang),
                    row.measures,
                    row.responsible_unit,
                    deadline_text(row.deadline, row.deadline_tier, self.lang),
                    status_name(self.t, row.status),
                    rectified,
                    row.verified_by,
                ]
            )

    def close(self) -> list[Path]:
        return self.sink.close()


async def export_ledger(
    s: AsyncSession,
    scope: ExportScope,
    path: Path,
    fmt: ExportFormat,
    now: datetime,
    user_id: int | None = None,
    progress: Progress | None = None,
) -> ExportResult:
    """Write the problem ledger (问题台账) of the scope in the Ganzhou list layout."""
    area = await s.get(Area, scope.area_code)
    unit = area.name if area is not None else scope.area_code
    total = await _count(s, ledger_statement(scope))
    today = scope.local(now).date()
    writer = await asyncio.to_thread(LedgerWriter, path, fmt, scope, unit, today)
    done = 0
    async for partition in _batches(s, ledger_statement(scope)):
        rows = [_problem_row(row) for row in partition]
        rectified, verified_by = await _closing_events(s, [row.id for row in rows])
        rows = [_with_closing(row, rectified.get(row.id), verified_by.get(row.id)) for row in rows]
        await asyncio.to_thread(writer.add, rows)
        done += len(rows)
        if progress is not None:
            await progress(done, total)
    files = await asyncio.to_thread(writer.close)
    await audit_export(s, ExportKind.PROBLEMS, scope, done, now, user_id)
    return ExportResult(files, done, ExportKind.PROBLEMS)


def _with_closing(row: ProblemRow, rectified_at: datetime | None, by: str | None) -> ProblemRow:
    return replace(row, rectified_at=rectified_at, verified_by=by)


__all__ = [
    "EXPORT_FORMATS",
    "CheckLayout",
    "ExportFormat",
    "ExportKind",
    "ExportResult",
    "ExportScope",
    "Progress",
    "authorize_export",
    "cell_of",
    "choice_label",
    "day_text",
    "deadline_text",
    "export_areas",
    "export_checks",
    "export_ledger",
    "signature_lines",
]


async def export_areas(s: AsyncSession, area_code: str) -> list[Area]:
    """The areas a user of `area_code` can export: their own, then those just below it
    (villages of a township, townships of a county), by code."""
    own = await s.get(Area, area_code)
    if own is None:
        return []
    below = await s.scalars(
        select(Area).where(Area.parent_code == area_code, Area.level != "group").order_by(Area.code)
    )
    return [own, *below]
