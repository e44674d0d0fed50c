"""The monthly report (月报表) in the layout of the Lianyungang monthly table (seed 002): a
progress report of a reporting period (storage.periods) as of its date.

For every row that checks or the ledger can fill: the problems found in the period, found so
far in the campaign, and where they stand (verified 销号, rectified awaiting 销号, in progress,
not started, overdue), earlier periods' problems and problems added by hand included (a problem
belongs to the row naming its rule, else to the row naming its category); 整改措施 is what was
recorded as the measures, 整改进度 the counts and the latest progress notes. Rows nothing in
Hucha checks are left empty for the office. A second sheet shows, per village, whether the
period's checks are done.

Everything is computed from history as it stood at the cut (the end of the period, or now
while it runs): a problem's status is the last change recorded before the cut, its deadline
the one in force then, a check the version in force then. A report of a past period gives
the figures of that day, whenever it is asked for. The rows and what fills them are data
(`storage/monthly_report.toml`)."""

from __future__ import annotations

import asyncio
import tomllib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.areas import codes_within
from storage.exports import (
    ExportFormat,
    ExportKind,
    ExportResult,
    ExportScope,
    audit_export,
    day_text,
    signature_lines,
)
from storage.models import (
    Area,
    AuditEntry,
    CheckRecord,
    Household,
    Problem,
    ProblemEvent,
    ProblemStatus,
)
from storage.periods import OPEN, Period, campaign_start, overdue_on, period_named
from storage.progress import households_by_village, load_schedules
from storage.sheets import Column, ColumnKind, Document, make_document
from storage.texts import N_, Translate, page_footer, translator

MONTHLY_TEMPLATE = Path(__file__).resolve().parent / "monthly_report.toml"
MEASURES_SHOWN = 3
NOTES_SHOWN = 3
# History actions whose note says how the rectification goes (整改进展).
PROGRESS_ACTIONS = ("progress", "rectify", "return", "rectified_at_check")


@dataclass(frozen=True)
class ReportRowTemplate:
    """One row of the paper form, in both languages, and what fills it: problem rules,
    problem categories (problems added by hand, or raised by a rule no row names) and/or
    answers of the period's checks."""

    number: int
    project: str
    content: str
    unit: str
    finding: str = ""
    rules: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    answers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    english: Mapping[str, str] = field(default_factory=dict)  # project, content, unit, finding

    @property
    def filled_by_checks(self) -> bool:
        return bool(self.rules or self.answers or self.categories)

    def text(self, key: str, lang: str) -> str:
        if lang == "en":
            return self.english.get(key, "")
        return str(getattr(self, key))


@dataclass(frozen=True)
class MonthlyTemplate:
    title: str
    note: str
    due_day: int
    columns: tuple[str, ...]
    rows: tuple[ReportRowTemplate, ...]
    english: Mapping[str, str] = field(default_factory=dict)  # title, note

    def row_of(self, rule_id: str | None, category: str) -> ReportRowTemplate | None:
        """The row a problem belongs to: the one naming its rule, else the first naming its
        category."""
        if rule_id:
            for row in self.rows:
                if rule_id in row.rules:
                    return row
        return next((row for row in self.rows if category in row.categories), None)


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
            categories=tuple(row.get("categories", ())),
            answers={key: tuple(values) for key, values in row.get("answers", {}).items()},
            english={key: str(value) for key, value in row.get("en", {}).items()},
        )
        for row in data["rows"]
    )
    return MonthlyTemplate(
        title=str(data["title"]),
        note=str(data.get("note", "")),
        due_day=int(data.get("due_day", 4)),
        columns=tuple(data["columns"]),
        rows=rows,
        english={key: str(value) for key, value in data.get("en", {}).items()},
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
class RowFigures:
    """What a row counts as of the cut, in problems (条) and households (户)."""

    found_in_period: int = 0
    found_so_far: int = 0  # since the campaign's start
    verified: int = 0
    rectified: int = 0  # awaiting 销号
    in_progress: int = 0
    not_started: int = 0
    overdue: int = 0
    households_found: int = 0  # households whose answers the row names, in the period

    @property
    def open(self) -> int:
        return self.rectified + self.in_progress + self.not_started


@dataclass(frozen=True)
class VillageFiling:
    """Whether a village has checked its households in the period, and its problems."""

    code: str
    name: str
    households: int
    checked: int
    open_problems: int
    overdue_problems: int

    @property
    def complete(self) -> bool:
        return self.households > 0 and self.checked >= self.households


@dataclass(frozen=True)
class MonthlyReport:
    """The period's report of an area as of `filed_on`, ready to write."""

    title: str
    unit: str
    period: Period
    filed_on: date
    campaign_start: date
    columns: tuple[str, ...]
    lines: tuple[ReportLine, ...]
    note: str
    checked_households: int
    figures: Mapping[int, RowFigures]
    villages: tuple[VillageFiling, ...]
    lang: str = "zh_CN"

    def full_title(self) -> str:
        """The title with the period's name: …月报表（2026年11月）."""
        return _title(self, translator(self.lang))

    def headings(self) -> tuple[str, ...]:
        """The table's column titles in the report's language."""
        if self.lang == "zh_CN" and len(self.columns) == len(MONTHLY_COLUMNS):
            return self.columns
        t = translator(self.lang)
        return tuple(t(title) for title, _, _ in MONTHLY_COLUMNS)

    @property
    def year(self) -> int:
        return self.period.year

    @property
    def month(self) -> int:
        return self.period.month


@dataclass(frozen=True, slots=True)
class _ProblemFact:
    id: int
    household: str
    village: str
    rule_id: str | None
    category: str
    measures: str
    deadline: date
    created_at: datetime
    deadline_tier: str | None  # 长期坚持 (ongoing) is never overdue


@dataclass
class _History:
    status: str = ProblemStatus.OPEN
    notes: list[tuple[datetime, str]] = field(default_factory=list)


# ---------------------------------------------------------------- reading history


async def _problem_facts(
    s: AsyncSession, area_code: str, cut: datetime
) -> tuple[list[_ProblemFact], dict[int, _History]]:
    """The area's problems known at the cut, and their history up to it."""
    village = Household.village_code.in_(codes_within(area_code))
    facts = [
        _ProblemFact(*row)
        for row in await s.execute(
            select(
                Problem.id,
                Household.head_name,
                Household.village_code,
                Problem.rule_id,
                Problem.category,
                Problem.measures,
                Problem.deadline,
                Problem.created_at,
                Problem.deadline_tier,
            )
            .join(Household, Household.id == Problem.household_id)
            .where(village, Problem.created_at < cut)
        )
    ]
    history: dict[int, _History] = {fact.id: _History() for fact in facts}
    events = await s.stream(
        select(
            ProblemEvent.problem_id,
            ProblemEvent.at,
            ProblemEvent.action,
            ProblemEvent.to_status,
            ProblemEvent.note,
        )
        .join(Problem, Problem.id == ProblemEvent.problem_id)
        .join(Household, Household.id == Problem.household_id)
        .where(village, ProblemEvent.at < cut)
        .order_by(ProblemEvent.at, ProblemEvent.id)
        .execution_options(yield_per=2000)
    )
    async for problem_id, at, action, to_status, note in events:
        known = history.get(problem_id)
        if known is None:
            continue
        if to_status:
            known.status = to_status
        if note and action in PROGRESS_ACTIONS:
            known.notes.append((at, note))
    return facts, history


async def _deadlines_at(
    s: AsyncSession, facts: Sequence[_ProblemFact], cut: datetime
) -> dict[int, date]:
    """Deadlines moved after the cut, as they stood at it (from the audit trail)."""
    moved: dict[int, date] = {}
    if not facts:
        return moved
    rows = await s.execute(
        select(AuditEntry.subject, AuditEntry.details)
        .where(AuditEntry.action == "problem.deadline", AuditEntry.at >= cut)
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    )
    known = {fact.id for fact in facts}
    for subject, details in rows:
        try:
            problem_id = int(str(subject).split(":")[1])
            before = date.fromisoformat(str((details or {}).get("from")))
        except (IndexError, ValueError):
            continue
        if problem_id in known:
            moved[problem_id] = before  # the earliest change after the cut wins: read last
    return moved


async def _checks_in_force(
    s: AsyncSession, area_code: str, period: Period, cut: datetime, asked: Sequence[str]
) -> list[tuple[int, str, Mapping[str, Any]]]:
    """(household, village, the `asked` answers) of each check submitted in the period
    before the cut, in the version in force at the cut. Only the answers asked are read out
    of each document."""
    first, after = period.bounds()
    result = await s.stream(
        select(
            CheckRecord.id,
            CheckRecord.check_id,
            CheckRecord.version,
            CheckRecord.amended_at,
            CheckRecord.household_id,
            Household.village_code,
            *(CheckRecord.answers[key].as_string() for key in asked),
        )
        .join(Household, Household.id == CheckRecord.household_id)
        .where(
            Household.village_code.in_(codes_within(area_code)),
            CheckRecord.submitted_at >= first,
            CheckRecord.submitted_at < min(after, cut),
        )
        .execution_options(yield_per=2000)
    )
    chosen: dict[int, tuple[int, int, str, Mapping[str, Any]]] = {}
    async for record_id, check_id, version, amended_at, household, village, *values in result:
        if amended_at is not None and amended_at >= cut:
            continue  # this version did not exist yet
        key = check_id or record_id
        if key not in chosen or chosen[key][0] < version:
            chosen[key] = (version, household, village, dict(zip(asked, values, strict=True)))
    return [(household, village, answers) for _, household, village, answers in chosen.values()]


# ---------------------------------------------------------------- the figures


def _texts(t: Translate) -> Mapping[str, str]:
    return {
        "checked": t(N_("Households checked this period: {checked}")),
        "answers": t(N_("{finding}: {households}")),
        "found": t(N_("problems found this period: {found}, since {start}: {so_far}")),
        "progress": t(
            N_(
                "Verified (closed): {verified}; rectified, awaiting verification: {rectified}; "
                "in progress: {in_progress}; not started: {not_started}; overdue: {overdue}"
            )
        ),
        "note": t(N_("{household}, {day}: {note}")),
        "joint": t(N_("{first}; {second}")),
        "end": t(N_("{text}.")),
    }


def _figures(
    row: ReportRowTemplate,
    problems: Sequence[_ProblemFact],
    history: Mapping[int, _History],
    deadlines: Mapping[int, date],
    households_found: int,
    period_first: datetime,
    campaign_first: datetime,
    today: date,
) -> RowFigures:
    statuses = Counter(history[p.id].status for p in problems)
    overdue = sum(
        1
        for p in problems
        if overdue_on(history[p.id].status, deadlines.get(p.id, p.deadline), p.deadline_tier, today)
    )
    return RowFigures(
        found_in_period=sum(1 for p in problems if p.created_at >= period_first),
        found_so_far=sum(1 for p in problems if p.created_at >= campaign_first),
        verified=statuses[ProblemStatus.VERIFIED],
        rectified=statuses[ProblemStatus.RECTIFIED],
        in_progress=statuses[ProblemStatus.IN_PROGRESS],
        not_started=statuses[ProblemStatus.OPEN],
        overdue=overdue,
        households_found=households_found,
    )


def _line(
    row: ReportRowTemplate,
    figures: RowFigures,
    problems: Sequence[_ProblemFact],
    history: Mapping[int, _History],
    checked: int,
    start: date,
    lang: str,
    words: Mapping[str, str],
) -> ReportLine:
    """A row of the form: empty where nothing in Hucha checked it."""
    project, content, unit = (row.text(key, lang) for key in ("project", "content", "unit"))
    if not row.filled_by_checks or (checked == 0 and not problems):
        return ReportLine(row.number, project, content, "", "", "", unit)
    parts = [words["checked"].format(checked=checked)]
    if row.answers and checked:
        finding = row.text("finding", lang)
        parts.append(words["answers"].format(finding=finding, households=figures.households_found))
    if row.rules or row.categories:
        parts.append(
            words["found"].format(
                found=figures.found_in_period,
                start=day_text(start, lang),
                so_far=figures.found_so_far,
            )
        )
    situation = _joined(parts, words)
    if not problems:
        return ReportLine(row.number, project, content, situation, "", "", unit)
    measures = Counter(p.measures.strip() for p in problems if p.measures.strip())
    progress = words["end"].format(
        text=words["progress"].format(
            verified=figures.verified,
            rectified=figures.rectified,
            in_progress=figures.in_progress,
            not_started=figures.not_started,
            overdue=figures.overdue,
        )
    )
    latest = sorted(
        ((at, p.household, note) for p in problems for at, note in history[p.id].notes[-1:]),
        reverse=True,
    )
    notes: list[str] = []
    for at, household, note in latest:
        line = words["note"].format(household=household, day=day_text(at.date(), lang), note=note)
        if line not in notes:
            notes.append(line)
        if len(notes) == NOTES_SHOWN:
            break
    lines = [progress, *notes]
    return ReportLine(
        row.number,
        project,
        content,
        situation,
        "\n".join(text for text, _ in measures.most_common(MEASURES_SHOWN)),
        "\n".join(lines),
        unit,
    )


def _joined(parts: Sequence[str], words: Mapping[str, str]) -> str:
    text = parts[0]
    for part in parts[1:]:
        text = words["joint"].format(first=text, second=part)
    return words["end"].format(text=text)


def report_cut(period: Period, now: datetime) -> tuple[datetime, date]:
    """The moment a period's report stands at (the end of the period, or now while it runs)
    and the date it is filed on."""
    _, after = period.bounds()
    if now >= after:
        return after, period.end
    # What happened at `now` itself is part of it.
    return now + timedelta(microseconds=1), period.schedule.local(now).date()


async def monthly_report(
    s: AsyncSession,
    area_code: str,
    period: Period,
    now: datetime,
    template: MonthlyTemplate | None = None,
    lang: str = "zh_CN",
) -> MonthlyReport:
    """The report of an area for a period, as of the end of the period (or `now`, while it
    runs)."""
    template = template or load_monthly_template()
    t = translator(lang)
    words = _texts(t)
    cut, today = report_cut(period, now)
    start = await campaign_start(s, area_code, period.start)
    period_first, _ = period.bounds()
    campaign_first = datetime.combine(start, time.min, period.schedule.tz).astimezone(UTC)
    facts, history = await _problem_facts(s, area_code, cut)
    deadlines = await _deadlines_at(s, facts, cut)
    counted = [
        fact
        for fact in facts
        if history[fact.id].status != ProblemStatus.WITHDRAWN
        and (fact.created_at >= campaign_first or history[fact.id].status in OPEN)
    ]
    by_row: dict[int, list[_ProblemFact]] = {row.number: [] for row in template.rows}
    for fact in counted:
        row = template.row_of(fact.rule_id, fact.category)
        if row is not None:
            by_row[row.number].append(fact)
    asking = [row for row in template.rows if row.answers]
    asked = sorted({key for row in asking for key in row.answers})
    checks = await _checks_in_force(s, area_code, period, cut, asked)
    checked_by_village: dict[str, set[int]] = {}
    answered: dict[int, set[int]] = {row.number: set() for row in template.rows}
    for household, village, answers in checks:
        checked_by_village.setdefault(village, set()).add(household)
        for row in asking:
            if any(answers.get(key) in values for key, values in row.answers.items()):
                answered[row.number].add(household)
    checked = sum(len(found) for found in checked_by_village.values())
    figures = {
        row.number: _figures(
            row,
            by_row[row.number],
            history,
            deadlines,
            len(answered[row.number]),
            period_first,
            campaign_first,
            today,
        )
        for row in template.rows
    }
    lines = tuple(
        _line(
            row,
            figures[row.number],
            by_row[row.number],
            history,
            checked,
            start,
            lang,
            words,
        )
        for row in template.rows
    )
    area = await s.get(Area, area_code)
    unit = area.name if area is not None else area_code
    villages = await _filings(s, area_code, facts, history, deadlines, checked_by_village, today)
    title = template.english.get("title", "") if lang == "en" else template.title
    note = template.english.get("note", "") if lang == "en" else template.note
    return MonthlyReport(
        title=title.format(unit=unit, year=period.year, month=period.month),
        unit=unit,
        period=period,
        filed_on=today,
        campaign_start=start,
        columns=template.columns,
        lines=lines,
        note=note.format(day=period.schedule.reporting_day),
        checked_households=checked,
        figures=figures,
        villages=villages,
        lang=lang,
    )


async def _filings(
    s: AsyncSession,
    area_code: str,
    facts: Sequence[_ProblemFact],
    history: Mapping[int, _History],
    deadlines: Mapping[int, date],
    checked: Mapping[str, set[int]],
    today: date,
) -> tuple[VillageFiling, ...]:
    villages = list(
        await s.scalars(
            select(Area)
            .where(Area.code.in_(codes_within(area_code)), Area.level == "village")
            .order_by(Area.code)
        )
    )
    totals = await households_by_village(s, [v.code for v in villages])
    open_counts: Counter[str] = Counter()
    overdue: Counter[str] = Counter()
    for fact in facts:
        status = history[fact.id].status
        if status in OPEN:
            open_counts[fact.village] += 1
        if overdue_on(status, deadlines.get(fact.id, fact.deadline), fact.deadline_tier, today):
            overdue[fact.village] += 1
    return tuple(
        VillageFiling(
            village.code,
            village.name,
            totals.get(village.code, 0),
            len(checked.get(village.code, ())),
            open_counts[village.code],
            overdue[village.code],
        )
        for village in villages
    )


async def report_period(s: AsyncSession, area_code: str, year: int, month: int) -> Period:
    """The period of an area named `year`-`month`, in the area's schedule."""
    schedules = await load_schedules(s)
    return period_named(schedules.of(area_code), year, month)


# ---------------------------------------------------------------- writing


# 序号, 排查项目, 排查内容, 排查情况, 整改措施, 整改进度, 责任单位: widths that fit the period of
# a township on two A4 landscape pages.
MONTHLY_COLUMNS: tuple[tuple[str, ColumnKind, float], ...] = (
    (N_("No."), "integer", 4),
    (N_("Item checked"), "text", 7.5),
    (N_("What is checked"), "text", 70),
    (N_("Findings"), "text", 28),
    (N_("Measures"), "text", 21),
    (N_("Progress"), "text", 28),
    (N_("Responsible unit"), "text", 12),
)
# English words are longer than two characters: "Responsibility", "Accurate identification".
ITEM_WIDTH_EN = 13.0


def monthly_widths(lang: str) -> list[float]:
    """The columns' widths: the 排查项目 column wider in English, taken from 排查内容."""
    widths = [width for _, _, width in MONTHLY_COLUMNS]
    if lang != "zh_CN":
        widths[2] -= ITEM_WIDTH_EN - widths[1]
        widths[1] = ITEM_WIDTH_EN
    return widths


VILLAGE_COLUMNS: tuple[tuple[str, ColumnKind, float], ...] = (
    (N_("Village"), "text", 20),
    (N_("Households"), "integer", 10),
    (N_("Checked this period"), "integer", 12),
    (N_("Not yet checked"), "integer", 12),
    (N_("Checks done"), "text", 12),
    (N_("Open problems"), "integer", 12),
    (N_("Overdue problems"), "integer", 12),
)


def period_text(period: Period, lang: str) -> str:
    t = translator(lang)
    return t(N_("{start} to {end}")).format(
        start=day_text(period.start, lang), end=day_text(period.end, lang)
    )


def _title(report: MonthlyReport, t: Translate) -> str:
    return t(N_("{title} ({month})")).format(
        title=report.title, month=month_name(report.period, report.lang)
    )


def month_name(period: Period, lang: str) -> str:
    """The period's name as people say it: 2026年11月, November 2026."""
    from babel.dates import format_date

    named = date(period.year, period.month, 1)
    return format_date(named, "yyyy年M月" if lang == "zh_CN" else "MMMM y", locale=_locale(lang))


def monthly_document(report: MonthlyReport, lang: str = "zh_CN") -> Document:
    """The report as the paper form: title, reporting unit and date, the period, the table
    with its 排查项目 merged down their rows, the note, and the lines to sign."""
    t = translator(lang)
    titles = report.headings()
    return Document(
        footer=page_footer(t),
        sheet=t(N_("Monthly report")),
        title=_title(report, t),
        above=(
            t(N_("Reporting unit: {unit}")).format(unit=report.unit),
            t(N_("Reported on: {day}")).format(day=day_text(report.filed_on, lang)),
        ),
        intro=t(N_("Reporting period: {period}; figures as of {day}.")).format(
            period=period_text(report.period, lang), day=day_text(report.filed_on, lang)
        ),
        columns=[
            Column(title, "", kind, width)
            for title, width, (_, kind, _) in zip(
                titles, monthly_widths(lang), MONTHLY_COLUMNS, strict=True
            )
        ],
        below=signature_lines(t),
        note=report.note,
        merge=1,
        pages_tall=2,
    )


def villages_document(report: MonthlyReport, lang: str = "zh_CN") -> Document:
    """The second sheet: each village's checks of the period, done or not."""
    t = translator(lang)
    return Document(
        footer=page_footer(t),
        sheet=t(N_("Checks by village")),
        title=t(N_("Checks by village ({month})")).format(month=month_name(report.period, lang)),
        above=(
            t(N_("Reporting unit: {unit}")).format(unit=report.unit),
            t(N_("Reporting period: {period}")).format(period=period_text(report.period, lang)),
        ),
        columns=[Column(t(title), "", kind, width) for title, kind, width in VILLAGE_COLUMNS],
        pages_tall=0,
    )


def village_cells(village: VillageFiling, t: Translate) -> list[Any]:
    return [
        village.name,
        village.households,
        village.checked,
        max(village.households - village.checked, 0),
        t(N_("Done")) if village.complete else t(N_("Not done")),
        village.open_problems,
        village.overdue_problems,
    ]


def _locale(lang: str) -> str:
    return "zh_Hans_CN" if lang == "zh_CN" else "en"


def write_monthly(report: MonthlyReport, path: Path, fmt: ExportFormat, lang: str) -> list[Path]:
    """Write the report as XLSX set up for printing (the villages on a second sheet), or as
    CSV (the villages in a second file beside it)."""
    t = translator(lang)
    sink = make_document(path, fmt, monthly_document(report, lang))
    for line in report.lines:
        sink.append(line.cells())
    sink.start_sheet(villages_document(report, lang), "villages")
    for village in report.villages:
        sink.append(village_cells(village, t))
    return sink.close()


async def export_monthly(
    s: AsyncSession,
    area_code: str,
    period: Period,
    path: Path,
    fmt: ExportFormat,
    now: datetime,
    user_id: int | None = None,
    lang: str = "zh_CN",
) -> ExportResult:
    """Write the period's report of an area; audited like every export."""
    report = await monthly_report(s, area_code, period, now, lang=lang)
    files = await asyncio.to_thread(write_monthly, report, path, fmt, lang)
    scope = ExportScope(area_code, period.start, period.end, zone=period.schedule.zone, lang=lang)
    await audit_export(s, ExportKind.MONTHLY, scope, len(report.lines), now, user_id)
    return ExportResult(files, len(report.lines), ExportKind.MONTHLY)
