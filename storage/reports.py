"""The monthly report (月报表) in the layout of the Lianyungang monthly table (seed 002): the
rows household checks can answer are filled from the month's checks and problems with counts;
the others are left for the office. The rows and what fills them are data
(`storage/monthly_report.toml`)."""

from __future__ import annotations

import asyncio
import calendar
import tomllib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from babel.dates import format_date
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.areas import codes_within
from storage.exports import (
    ExportFormat,
    ExportResult,
    ExportScope,
    audit_export,
    day_text,
    signature_lines,
)
from storage.models import Area, CheckRecord, Household, Problem
from storage.sheets import Column, ColumnKind, Document, make_document
from storage.texts import N_, translator

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


# 序号, 排查项目, 排查内容, 排查情况, 整改措施, 整改进度, 责任单位: widths that fit the month of
# a township on two A4 landscape pages.
MONTHLY_COLUMNS: tuple[tuple[str, ColumnKind, float], ...] = (
    (N_("No."), "integer", 4),
    (N_("Item checked"), "text", 7.5),
    (N_("What is checked"), "text", 78),
    (N_("Findings"), "text", 24),
    (N_("Measures"), "text", 21),
    (N_("Progress"), "text", 24),
    (N_("Responsible unit"), "text", 12),
)


def monthly_document(report: MonthlyReport, lang: str = "zh_CN") -> Document:
    """The report as the paper form: title, reporting unit and date, the table with its
    排查项目 merged down their rows, the note, and the lines to sign."""
    t = translator(lang)
    month = date(report.year, report.month, 1)
    titles = (
        report.columns
        if lang == "zh_CN" and len(report.columns) == len(MONTHLY_COLUMNS)
        else tuple(t(title) for title, _, _ in MONTHLY_COLUMNS)
    )
    return Document(
        sheet=t(N_("Monthly report")),
        title=t(N_("{title} ({month})")).format(
            title=report.title,
            month=format_date(
                month, "yyyy年M月" if lang == "zh_CN" else "MMMM y", locale=_locale(lang)
            ),
        ),
        above=(
            t(N_("Reporting unit: {unit}")).format(unit=report.unit),
            t(N_("Reported on: {day}")).format(day=day_text(report.filed_on, lang)),
        ),
        columns=[
            Column(title, "", kind, width)
            for title, (_, kind, width) in zip(titles, MONTHLY_COLUMNS, strict=True)
        ],
        below=signature_lines(t),
        note=report.note,
        merge=1,
        pages_tall=2,
    )


def _locale(lang: str) -> str:
    return "zh_Hans_CN" if lang == "zh_CN" else "en"


def write_monthly(report: MonthlyReport, path: Path, fmt: ExportFormat, lang: str) -> None:
    """Write the report as XLSX set up for printing, or as CSV."""
    sink = make_document(path, fmt, monthly_document(report, lang))
    for line in report.lines:
        sink.append(line.cells())
    sink.close()


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
    lang: str = "zh_CN",
) -> ExportResult:
    """Write the monthly report of an area; audited like every export."""
    scope = month_scope(area_code, year, month, zone)
    report = await monthly_report(s, area_code, year, month, scope.local(now).date(), zone=zone)
    await asyncio.to_thread(write_monthly, report, path, fmt, lang)
    await audit_export(s, "monthly", scope, len(report.lines), now, user_id)
    return ExportResult([path], len(report.lines), "monthly")
