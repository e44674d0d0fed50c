"""Exports offices file (导出): check records (XLSX with a sheet per repeat group and a sheet of
problems, or CSV in UTF-8 with a BOM) and the problem ledger in the layout of the Ganzhou
rectification list (seed 004). Rows are read from the database in batches and written in a
worker thread with openpyxl's write-only mode, so memory does not grow with the export and
the event loop stays free for other users."""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import IO, Any, Literal, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Select, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from conversations.model import Form, Question
from storage.areas import area_contains, codes_within
from storage.audit import audit
from storage.errors import StorageError
from storage.models import Area, CheckRecord, Household, Problem, ProblemEvent, User
from storage.rosters import mask_id_number

ExportKind = Literal["checks", "problems", "monthly"]
ExportFormat = Literal["xlsx", "csv"]
EXPORT_KINDS: tuple[ExportKind, ...] = ("checks", "problems", "monthly")
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("xlsx", "csv")
EXPORT_ROLES = ("office", "leader")
LANGUAGE = "zh_CN"
BATCH = 1000

# Progress of a long export: (rows written, rows in all).
Progress = Callable[[int, int], Awaitable[None]]

YES_NO = {"yes": "是", "no": "否"}
PROBLEM_STATUS_NAMES = {
    "open": "未整改",
    "in_progress": "整改中",
    "rectified": "已整改待核验",
    "verified": "已销号",
    "withdrawn": "已撤销（误报）",
}
DEADLINE_TIER_NAMES = {"immediate": "立查立改", "staged": "阶段整改", "ongoing": "持续整改"}
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


@dataclass(frozen=True)
class ExportScope:
    """What to export: an area (and all below it), the local dates from `start` to `end`
    (both included) in `zone`, the latest version of each check or all versions, and
    whether ID numbers are shown in full (an office's explicit choice, audited)."""

    area_code: str
    start: date
    end: date
    zone: str = "Asia/Shanghai"
    all_versions: bool = False
    unmasked: bool = False

    def bounds(self) -> tuple[datetime, datetime]:
        """The UTC instants [from, to) the local dates cover."""
        tz = ZoneInfo(self.zone)
        first = datetime.combine(self.start, time(), tz).astimezone(UTC)
        after = datetime.combine(self.end + timedelta(days=1), time(), tz).astimezone(UTC)
        return first, after

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(ZoneInfo(self.zone))


@dataclass(frozen=True)
class ExportResult:
    """The files written (one for XLSX; one per sheet for CSV) and how many rows."""

    files: list[Path]
    rows: int
    kind: ExportKind


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


# ---------------------------------------------------------------- sheets and files


@dataclass
class SheetSpec:
    """A sheet: its key, title, the rows above the data (title lines, headers) and widths."""

    key: str
    title: str
    header_rows: list[list[Any]]
    widths: Sequence[float] = ()
    freeze: str | None = None


class TableSink(Protocol):
    """Where export rows go: an XLSX workbook or CSV files."""

    def add_sheet(self, spec: SheetSpec) -> None: ...

    def append(self, key: str, row: Sequence[Any]) -> None: ...

    def close(self) -> list[Path]: ...


def _column_letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index)


class XlsxSink:
    """An XLSX workbook in write-only mode: rows go to temporary files as they come."""

    def __init__(self, path: Path) -> None:
        from openpyxl import Workbook

        self.path = path
        self.workbook = Workbook(write_only=True)
        self.sheets: dict[str, Any] = {}

    def add_sheet(self, spec: SheetSpec) -> None:
        sheet = self.workbook.create_sheet(spec.title[:31])
        for index, width in enumerate(spec.widths, start=1):
            sheet.column_dimensions[_column_letter(index)].width = width
        if spec.freeze:
            sheet.freeze_panes = spec.freeze
        for row in spec.header_rows:
            sheet.append(row)
        self.sheets[spec.key] = sheet

    def append(self, key: str, row: Sequence[Any]) -> None:
        self.sheets[key].append(list(row))

    def close(self) -> list[Path]:
        self.workbook.save(self.path)
        return [self.path]


class CsvSink:
    """CSV in UTF-8 with a BOM (so Excel reads Chinese): the first sheet at `path`, each other
    sheet beside it as `<name>-<sheet>.csv`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.files: dict[str, IO[str]] = {}
        self.writers: dict[str, Any] = {}
        self.paths: list[Path] = []

    def add_sheet(self, spec: SheetSpec) -> None:
        path = (
            self.path
            if not self.paths
            else self.path.with_name(f"{self.path.stem}-{spec.key}{self.path.suffix or '.csv'}")
        )
        handle = path.open("w", encoding="utf-8-sig", newline="")
        self.files[spec.key] = handle
        self.writers[spec.key] = csv.writer(handle)
        self.paths.append(path)
        for row in spec.header_rows:
            self.writers[spec.key].writerow(_csv_cells(row))

    def append(self, key: str, row: Sequence[Any]) -> None:
        self.writers[key].writerow(_csv_cells(row))

    def close(self) -> list[Path]:
        for handle in self.files.values():
            handle.close()
        return list(self.paths)


def _csv_cells(row: Iterable[Any]) -> list[Any]:
    return ["" if cell is None else cell for cell in row]


def make_sink(path: Path, fmt: ExportFormat) -> TableSink:
    return XlsxSink(path) if fmt == "xlsx" else CsvSink(path)


# ---------------------------------------------------------------- answers as cells


CellOf = Callable[[Any], Any]


def _plain(value: Any) -> Any:
    if isinstance(value, list | tuple | Mapping):
        return str(value)
    return value


def cell_of(question: Question) -> CellOf:
    """How an answer to `question` becomes a cell: a choice as its Chinese label, yes/no as
    是/否, several choices joined by 、, a location as "lat, lon", numbers and text as they
    are, a question not answered as an empty cell. Built once per column."""
    labels: dict[Any, Any] = {
        c.value: c.labels.get(LANGUAGE) or next(iter(c.labels.values()), c.value)
        for c in question.choices
    }
    if question.type == "yes_no" and not labels:
        labels = dict(YES_NO)

    def one(value: Any) -> Any:
        if value is None:
            return None
        return labels.get(value, value) if isinstance(value, str) else _plain(value)

    def many(value: Any) -> Any:
        if value is None:
            return None
        values = value if isinstance(value, list | tuple) else [value]
        return "、".join(str(labels.get(v, v) if isinstance(v, str) else v) for v in values)

    def place(value: Any) -> Any:
        if isinstance(value, Mapping):
            return f"{value.get('latitude')}, {value.get('longitude')}"
        return _plain(value)

    if question.type in ("select_one", "yes_no"):
        return one
    if question.type == "select_many":
        return many
    if question.type == "location":
        return place
    return _plain


def choice_label(question: Question, value: Any) -> Any:
    """One answer as a cell (see `cell_of`)."""
    return cell_of(question)(value)


def _header(question: Question) -> str:
    return question.labels.get(LANGUAGE) or next(iter(question.labels.values()), question.id)


# ---------------------------------------------------------------- check records


CHECK_COLUMNS: tuple[tuple[str, str], ...] = (
    ("核查编号", "check_id"),
    ("版本", "version"),
    ("村", "village"),
    ("村代码", "village_code"),
    ("户编号", "household_number"),
    ("户主姓名", "head_name"),
    ("户主身份证号", "head_id_number"),
    ("核查人", "cadre"),
    ("核查时间", "submitted_at"),
    ("更正人", "amended_by"),
    ("更正原因", "amendment_reason"),
    ("发现问题数", "problems_raised"),
)
ITEM_COLUMNS: tuple[tuple[str, str], ...] = (
    ("核查编号", "check_id"),
    ("版本", "version"),
    ("户编号", "household_number"),
    ("户主姓名", "head_name"),
    ("序号", "item"),
)
PROBLEM_SHEET_COLUMNS: tuple[tuple[str, str], ...] = (
    ("核查编号", "check_id"),
    ("版本", "version"),
    ("户编号", "household_number"),
    ("户主姓名", "head_name"),
    ("问题编号", "problem_id"),
    ("问题类别", "category"),
    ("具体问题", "text"),
    ("整改目标", "goal"),
    ("整改措施", "measures"),
    ("责任单位", "responsible_unit"),
    ("整改期限", "deadline"),
    ("状态", "status"),
)
TIME_FORMAT = "%Y-%m-%d %H:%M"


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

    def sheets(self) -> list[SheetSpec]:
        main = [*CHECK_COLUMNS, *((_header(q), q.id) for q in self.answers)]
        specs = [
            SheetSpec(
                "checks",
                "核查记录",
                [[title for title, _ in main], [code for _, code in main]],
                widths=[10, 6, 12, 14, 10, 10, 20, 10, 17, 10, 16, 10] + [14] * len(self.answers),
                freeze="A3",
            )
        ]
        for group in self.groups:
            columns = [
                *ITEM_COLUMNS,
                *((_header(q), q.id) for q in group.children if q.type not in _NOT_A_COLUMN),
            ]
            specs.append(
                SheetSpec(
                    group.id,
                    _header(group)[:31],
                    [[title for title, _ in columns], [code for _, code in columns]],
                    widths=[10, 6, 10, 10, 6] + [14] * (len(columns) - len(ITEM_COLUMNS)),
                    freeze="A3",
                )
            )
        specs.append(
            SheetSpec(
                "problems",
                "发现问题",
                [[t for t, _ in PROBLEM_SHEET_COLUMNS], [c for _, c in PROBLEM_SHEET_COLUMNS]],
                widths=[10, 6, 10, 10, 10, 10, 40, 30, 40, 18, 18, 12],
                freeze="A3",
            )
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
    rectified_at: datetime | None = None
    verified_by: str | None = None


def deadline_text(deadline: date, tier: str | None) -> str:
    """整改期限 as the lists write it: the date, and the tier when there is one."""
    named = DEADLINE_TIER_NAMES.get(tier or "")
    return f"{deadline.isoformat()}（{named}）" if named else deadline.isoformat()


class CheckRowWriter:
    """Turns check rows into sheet rows; runs in a worker thread."""

    def __init__(self, sink: TableSink, layout: CheckLayout, scope: ExportScope) -> None:
        self.sink = sink
        self.layout = layout
        self.scope = scope
        self.zone = ZoneInfo(scope.zone)
        self.answer_cells = [(q.id, cell_of(q)) for q in layout.answers]
        self.group_cells = [
            (group.id, [(q.id, cell_of(q)) for q in group.children if q.type not in _NOT_A_COLUMN])
            for group in layout.groups
        ]
        for spec in layout.sheets():
            sink.add_sheet(spec)

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
                row.submitted_at.astimezone(self.zone).strftime(TIME_FORMAT),
                row.amended_by,
                row.amendment_reason,
                row.problems_raised,
            ]
            answers = [cell(row.answers.get(key)) for key, cell in self.answer_cells]
            self.sink.append("checks", fixed + answers)
            for group_id, children in self.group_cells:
                items = row.answers.get(group_id) or []
                for index, item in enumerate(items, start=1):
                    if not isinstance(item, Mapping):
                        continue
                    cells = [cell(item.get(key)) for key, cell in children]
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
                    row.category,
                    row.text,
                    row.goal,
                    row.measures,
                    row.responsible_unit,
                    deadline_text(row.deadline, row.deadline_tier),
                    PROBLEM_STATUS_NAMES.get(row.status, row.status),
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
) -> ExportResult:
    """Write the scope's check records: a checks sheet (one row per check, each answer a
    column headed by its Chinese label and its code), one sheet per repeat group joined by
    check id, and the problems raised; audited, unmasked exports as such."""
    total = await _count(s, checks_statement(scope))
    sink = make_sink(path, fmt)
    writer = await asyncio.to_thread(CheckRowWriter, sink, CheckLayout.of(form), scope)
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
    await audit_export(s, "checks", scope, done, now, user_id)
    return ExportResult(files, done, "checks")


# ---------------------------------------------------------------- the problem ledger


LEDGER_COLUMNS = (
    "问题类别",
    "序号",
    "具体问题",
    "整改目标",
    "整改措施",
    "责任单位",
    "整改期限",
    "整改状态",
    "整改完成日期",
    "销号人",
)


def ledger_statement(scope: ExportScope) -> Select[Any]:
    """The problems of the scope's households raised in its period, by category as the
    lists are filed, then in the order they were raised."""
    first, after = scope.bounds()
    order = {category: index for index, category in enumerate(CATEGORY_ORDER)}
    return (
        select(*_problem_columns())
        .join(Household, Household.id == Problem.household_id)
        .join(Area, Area.code == Household.village_code)
        .outerjoin(CheckRecord, CheckRecord.id == Problem.check_record_id)
        .where(
            Household.village_code.in_(codes_within(scope.area_code)),
            Problem.created_at >= first,
            Problem.created_at < after,
        )
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
            ProblemEvent.to_status.in_(["rectified", "verified"]),
        )
        .order_by(ProblemEvent.at, ProblemEvent.id)
    )
    for problem_id, status, at, name in result:
        if status == "rectified":
            rectified[problem_id] = at
        else:
            verified_by[problem_id] = name or ""
    return rectified, verified_by


def _problem_text(row: ProblemRow) -> str:
    return f"【{row.village} {row.household_number}户 {row.head_name}】{row.text}"


class LedgerWriter:
    """The rectification list (整改工作清单) of seed 004, plus status, date and verifier."""

    def __init__(self, sink: TableSink, scope: ExportScope, unit: str, today: date) -> None:
        self.sink = sink
        self.scope = scope
        self.number = 0
        title = f"{unit}脱贫攻坚问题整改工作清单"
        period = f"{scope.start.isoformat()} 至 {scope.end.isoformat()}"
        sink.add_sheet(
            SheetSpec(
                "ledger",
                "问题整改清单",
                [
                    [title],
                    [
                        f"填报单位：{unit}",
                        None,
                        f"时间范围：{period}",
                        None,
                        None,
                        None,
                        f"填报时间：{today.year}年{today.month}月{today.day}日",
                    ],
                    list(LEDGER_COLUMNS),
                ],
                widths=[12, 6, 50, 30, 50, 20, 22, 14, 14, 10],
                freeze="A4",
            )
        )

    def add(self, rows: Sequence[ProblemRow]) -> None:
        for row in rows:
            self.number += 1
            rectified = (
                self.scope.local(row.rectified_at).date().isoformat() if row.rectified_at else None
            )
            self.sink.append(
                "ledger",
                [
                    row.category,
                    self.number,
                    _problem_text(row),
                    row.goal,
                    row.measures,
                    row.responsible_unit,
                    deadline_text(row.deadline, row.deadline_tier),
                    PROBLEM_STATUS_NAMES.get(row.status, row.status),
                    rectified,
                    row.verified_by,
                ],
            )


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
    sink = make_sink(path, fmt)
    writer = await asyncio.to_thread(LedgerWriter, sink, scope, unit, scope.local(now).date())
    done = 0
    async for partition in _batches(s, ledger_statement(scope)):
        rows = [_problem_row(row) for row in partition]
        rectified, verified_by = await _closing_events(s, [row.id for row in rows])
        rows = [_with_closing(row, rectified.get(row.id), verified_by.get(row.id)) for row in rows]
        await asyncio.to_thread(writer.add, rows)
        done += len(rows)
        if progress is not None:
            await progress(done, total)
    files = await asyncio.to_thread(sink.close)
    await audit_export(s, "problems", scope, done, now, user_id)
    return ExportResult(files, done, "problems")


def _with_closing(row: ProblemRow, rectified_at: datetime | None, by: str | None) -> ProblemRow:
    return replace(row, rectified_at=rectified_at, verified_by=by)


__all__ = [
    "EXPORT_FORMATS",
    "EXPORT_KINDS",
    "CheckLayout",
    "ExportFormat",
    "ExportKind",
    "ExportResult",
    "ExportScope",
    "Progress",
    "authorize_export",
    "cell_of",
    "choice_label",
    "deadline_text",
    "export_areas",
    "export_checks",
    "export_ledger",
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
