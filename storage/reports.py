"""The monthly report (月报表) in the layout of the Lianyungang monthly table (seed 002): the
rows household checks can answer are filled from the month's checks and problems with counts;
the others are left for the office. The rows and what fills them are data
(`storage/monthly_report.toml`)."""

from __future__ import annotations

import asyncio
import calendar
import csv
import tomllib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.areas import codes_within
from storage.exports import ExportFormat, ExportResult, ExportScope, audit_export
from storage.models import Area, CheckRecord, Household, Problem

MONTHLY_TEMPLATE = Path(__file__).resolve().parent / "monthly_report.toml"
CLOSED = ("rectified", "verified")
MEASURES_SHOWN = 3


@dataclass(frozen=True)
class ReportRowTemplate:
    """One row of the paper form, and what fills it: problem rules and/or answers."""

    number: int
    project: str
    content: str
    unit: str
    finding: str = ""
    rules: tuple[str, ...] = ()
    answers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def filled_by_checks(self) -> bool:
        return bool(self.rules or self.answers)


@dataclass(frozen=True)
class MonthlyTemplate:
    title: str
    note: str
    due_day: int
    columns: tuple[str, ...]
    rows: tuple[ReportRowTemplate, ...]


def load_monthly_template(path: Path = MONTHLY_TEMPLATE) -> MonthlyTemplate:
    """Read the monthly report's rows from TOML."""
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    rows = tuple(
        ReportRowTemplate(
            number=int(row["number"]),
            project=str(row.get("project", "")),
            content=str(row["content"]),
            unit=str(row.get("unit", "")),
            finding=str(row.get("finding", "")),
            rules=tuple(row.get("rules", ())),
            answers={key: tuple(values) for key, values in row.get("answers", {}).items()},
        )
        for row in data["rows"]
    )
    return MonthlyTemplate(
        title=str(data["title"]),
        note=str(data.get("note", "")),
        due_day=int(data.get("due_day", 4)),
        columns=tuple(data["columns"]),
        rows=rows,
    )


@dataclass(frozen=True)
class ReportLine:
    """A filled row: 序号, 排查项目, 排查内容, 排查情况, 整改措施, 整改进度, 责任单位."""

    number: int
    project: str
    content: str
    situation: str
    measures: str
    progress: str
    unit: str

    def cells(self) -> list[Any]:
        return [
            self.number,
            self.project,
            self.content,
            self.situation,
            self.measures,
            self.progress,
            self.unit,
        ]


@dataclass(frozen=True)
class MonthlyReport:
    """The month's report of an area, ready to write."""

    title: str
    unit: str
    year: int
    month: int
    filed_on: date
    columns: tuple[str, ...]
    lines: tuple[ReportLine, ...]
    note: str
    checked_households: int


@dataclass(frozen=True, slots=True)
class _ProblemFact:
    household_id: int
    rule_id: str | None
    status: str
    measures: str
    deadline: date


def month_scope(area_code: str, year: int, month: int, zone: str = "Asia/Shanghai") -> ExportScope:
    """The export scope of one calendar month in the area's time zone."""
    last = calendar.monthrange(year, month)[1]
    return ExportScope(area_code, date(year, month, 1), date(year, month, last), zone=zone)


def _situation(row: ReportRowTemplate, checked: int, found: int, fixed: int) -> str:
    if not row.filled_by_checks:
        return ""
    if checked == 0:
        return "本月未开展入户核查"
    if not found:
        return f"本月核查 {checked} 户，未发现{row.finding}"
    text = f"本月核查 {checked} 户，发现{row.finding} {found} 户"
    return text + (f"，已整改 {fixed} 户" if row.rules else "")


def _progress(problems: Sequence[_ProblemFact], today: date) -> str:
    if not problems:
        return ""
    statuses = Counter(problem.status for problem in problems)
    overdue = sum(1 for p in problems if p.status not in CLOSED and p.deadline < today)
    text = (
        f"问题 {len(problems)} 个：已销号 {statuses['verified']} 个，"
        f"已整改待核验 {statuses['rectified']} 个，整改中 {statuses['in_progress']} 个，"
        f"未整改 {statuses['open']} 个"
    )
    return text + (f"，其中逾期 {overdue} 个" if overdue else "")


def _measures(problems: Sequence[_ProblemFact]) -> str:
    counted = Counter(problem.measures for problem in problems if problem.measures)
    return "；".join(text for text, _ in counted.most_common(MEASURES_SHOWN))


def fill_line(
    row: ReportRowTemplate,
    checked: int,
    answer_households: set[int],
    problems: Sequence[_ProblemFact],
    today: date,
) -> ReportLine:
    """One row of the report from the month's counts."""
    mine = [problem for problem in problems if problem.rule_id in row.rules]
    by_household: dict[int, list[_ProblemFact]] = {}
    for problem in mine:
        by_household.setdefault(problem.household_id, []).append(problem)
    found = answer_households | set(by_household)
    fixed = sum(
        1
        for household in found
        if by_household.get(household)
        and all(problem.status in CLOSED for problem in by_household[household])
    )
    return ReportLine(
        number=row.number,
        project=row.project,
        content=row.content,
        situation=_situation(row, checked, len(found), fixed),
        measures=_measures(mine),
        progress=_progress(mine, today),
        unit=row.unit,
    )


async def monthly_report(
    s: AsyncSession,
    area_code: str,
    year: int,
    month: int,
    today: date,
    template: MonthlyTemplate | None = None,
    zone: str = "Asia/Shanghai",
) -> MonthlyReport:
    """The monthly report of an area: the latest version of each check of the month, and the
    problems they raised (those withdrawn as raised in error left out)."""
    template = template or load_monthly_template()
    scope = month_scope(area_code, year, month, zone)
    first, after = scope.bounds()
    in_month = (
        Household.village_code.in_(codes_within(area_code)),
        CheckRecord.submitted_at >= first,
        CheckRecord.submitted_at < after,
        CheckRecord.latest.is_(True),
    )
    asked = {key for row in template.rows for key in row.answers}
    households: set[int] = set()
    matches: dict[int, set[int]] = {row.number: set() for row in template.rows}
    result = await s.stream(
        select(CheckRecord.household_id, CheckRecord.answers)
        .join(Household, Household.id == CheckRecord.household_id)
        .where(*in_month)
        .execution_options(yield_per=1000)
    )
    async for household_id, answers in result:
        households.add(household_id)
        if not asked:
            continue
        for row in template.rows:
            if any(answers.get(key) in values for key, values in row.answers.items()):
                matches[row.number].add(household_id)
    problems = [
        _ProblemFact(*fact)
        for fact in await s.execute(
            select(
                Problem.household_id,
                Problem.rule_id,
                Problem.status,
                Problem.measures,
                Problem.deadline,
            )
            .join(CheckRecord, CheckRecord.id == Problem.check_record_id)
            .join(Household, Household.id == Problem.household_id)
            .where(*in_month, Problem.status != "withdrawn")
        )
    ]
    area = await s.get(Area, area_code)
    unit = area.name if area is not None else area_code
    lines = tuple(
        fill_line(row, len(households), matches[row.number], problems, today)
        for row in template.rows
    )
    return MonthlyReport(
        title=template.title.format(unit=unit, year=year, month=month),
        unit=unit,
        year=year,
        month=month,
        filed_on=today,
        columns=template.columns,
        lines=lines,
        note=template.note.format(day=template.due_day),
        checked_households=len(households),
    )


def _heading(report: MonthlyReport) -> tuple[str, str, str]:
    filed = report.filed_on
    return (
        f"{report.title}（{report.year}年{report.month}月）",
        f"填报单位：{report.unit}",
        f"填报时间：{filed.year}年{filed.month}月{filed.day}日",
    )


def write_monthly_xlsx(report: MonthlyReport, path: Path) -> None:
    """The report as the paper form: title, reporting unit and date, the table, the note."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, Side

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "月报表"
    title, unit, filed = _heading(report)
    width = len(report.columns)
    sheet.append([title])
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=width)
    sheet.append([unit, None, None, None, filed])
    sheet.merge_cells(start_row=2, start_column=1, end_row=2, end_column=4)
    sheet.merge_cells(start_row=2, start_column=5, end_row=2, end_column=width)
    sheet.append(list(report.columns))
    for line in report.lines:
        sheet.append(line.cells())
    sheet.append([report.note])
    last = sheet.max_row
    sheet.merge_cells(start_row=last, start_column=1, end_row=last, end_column=width)

    sheet["A1"].font = Font(bold=True, size=16)
    sheet["A1"].alignment = Alignment(horizontal="center")
    thin = Side(style="thin")
    for row in sheet.iter_rows(min_row=3, max_row=last - 1):
        for cell in row:
            cell.border = Border(left=thin, right=thin, top=thin, bottom=thin)
            cell.alignment = Alignment(wrap_text=True, vertical="center")
            if cell.row == 3:
                cell.font = Font(bold=True)
                cell.alignment = Alignment(horizontal="center", vertical="center")
    for letter, column_width in zip("ABCDEFG", (6, 14, 50, 36, 40, 30, 16), strict=False):
        sheet.column_dimensions[letter].width = column_width
    sheet.freeze_panes = "A4"
    workbook.save(path)


def write_monthly_csv(report: MonthlyReport, path: Path) -> None:
    title, unit, filed = _heading(report)
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([title])
        writer.writerow([unit, "", "", "", filed])
        writer.writerow(report.columns)
        for line in report.lines:
            writer.writerow(line.cells())
        writer.writerow([report.note])


async def export_monthly(
    s: AsyncSession,
    area_code: str,
    year: int,
    month: int,
    path: Path,
    fmt: ExportFormat,
    now: datetime,
    user_id: int | None = None,
    zone: str = "Asia/Shanghai",
) -> ExportResult:
    """Write the monthly report of an area; audited like every export."""
    scope = month_scope(area_code, year, month, zone)
    report = await monthly_report(s, area_code, year, month, scope.local(now).date(), zone=zone)
    writer = write_monthly_xlsx if fmt == "xlsx" else write_monthly_csv
    await asyncio.to_thread(writer, report, path)
    await audit_export(s, "monthly", scope, len(report.lines), now, user_id)
    return ExportResult([path], len(report.lines), "monthly")
