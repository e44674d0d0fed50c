"""Exports offices file: check records (XLSX sheets per repeat group, CSV with a BOM), the
problem ledger in the Ganzhou list layout, the monthly report in the Lianyungang layout; each
file opened again and read cell by cell against what the checks recorded."""

from __future__ import annotations

import asyncio
import csv
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cli import main as hucha
from conversations import Form, RaisedProblem, Record, load_forms
from storage import (
    AuditEntry,
    CheckRecord,
    Household,
    Problem,
    ProblemEvent,
    StorageError,
    User,
    add_area,
    create_invitation,
    make_engine,
    make_sessionmaker,
    redeem_invitation,
    start_session,
    submit_check,
)
from storage.exports import (
    ExportScope,
    authorize_export,
    cell_of,
    export_checks,
    export_ledger,
)
from storage.periods import period_named
from storage.reports import export_monthly, load_monthly_template, monthly_report
from storage.schedule import AreaSchedule
from tests.storage_fixtures import World, deadline_today, make_world, school_dropout, unsafe_house

pytest_plugins = ("tests.storage_fixtures",)

Maker = async_sessionmaker[AsyncSession]
NOW = datetime(2025, 3, 20, 2, 30, tzinfo=UTC)  # 10:30 in Shanghai
MARCH = ExportScope("320705001", date(2025, 3, 1), date(2025, 3, 31))
# The reporting period NOW is in: 4 March to 3 April 2025, its table due before 4 April.
APRIL = period_named(AreaSchedule(), 2025, 4)


@pytest.fixture(scope="module")
def form() -> Form:
    return load_forms()["household_check"]


FIRST_ANSWERS: dict[str, Any] = {
    "visit_type": "home_visit",
    "respondent": "head",
    "food_staple": "yes",
    "food_nutrition": "yes",
    "clothing_seasonal": "yes",
    "clothing_bedding": "no",
    "children": [
        {
            "name": "王小明",
            "birth_date": "2014-05-01",
            "school_status": "dropped_out",
            "dropout_reason": "hardship",
        },
        {
            "name": "王小红",
            "birth_date": "2016-09-01",
            "school_status": "in_school",
            "grade": "primary_3",
            "school_aid": "yes",
        },
    ],
    "members": [
        {
            "name": "王大山",
            "birth_date": "1975-01-01",
            "insurance": "resident",
            "health": ["chronic"],
            "family_doctor": "yes",
            "chronic_card": "no",
            "treated": "yes",
            "costs_affordable": "yes",
        }
    ],
    "housing_grade": "C",
    "housing_alternative": "none",
    "floor_area": 65.5,
    "water_source": "centralised",
    "water_short_days": 50,
    "water_piped": "yes",
    "income_wages": 20000,
    "income_per_person": 5800.46,
    "risk_factors": ["illness", "schooling"],
    "knows_cadre": "yes",
    "leaflet_received": "no",
    "satisfaction": "fairly",
    "location": {"latitude": 34.6, "longitude": 119.2},
}
SECOND_ANSWERS: dict[str, Any] = {
    "visit_type": "phone",
    "housing_grade": "A",
    "members": [{"name": "李四", "insurance": "employee", "health": "healthy"}],
    "leaflet_received": "yes",
    "leaflet_understood": "yes",
    "income_per_person": 9000,
}


def raised() -> tuple[RaisedProblem, RaisedProblem]:
    """The fixtures' problems under the rule ids of the real questionnaire."""
    return (
        replace(school_dropout(), rule_id="child_dropped_out"),
        replace(unsafe_house(), rule_id="housing_unsafe"),
    )


@dataclass
class Checks:
    world: World
    office: User
    first: CheckRecord
    second: CheckRecord
    other_village: CheckRecord
    last_month: CheckRecord
    problems: list[Problem]


async def submit(
    s: AsyncSession,
    cadre: User,
    household_id: int,
    answers: dict[str, Any],
    at: datetime,
    *problems: RaisedProblem,
) -> tuple[CheckRecord, list[Problem]]:
    session = await start_session(s, cadre.id, household_id, "household_check", 1, {}, at)
    record = Record("household_check", "2024.1", answers, problems)
    return await submit_check(s, session.id, record, cadre.id, at, deadline_today)


async def seed_checks(maker: Maker) -> Checks:
    async with maker.begin() as s:
        world = await make_world(s, NOW)
        invitation = await create_invitation(s, "office", world.seed.county_code, NOW)
        office = await redeem_invitation(s, invitation.code, 1003, "县扶贫办", "zh_CN", NOW)
        here, there = world.seed.household_ids, world.seed.other_household_ids
        first, problems = await submit(s, world.cadre, here[0], FIRST_ANSWERS, NOW, *raised())
        second, _ = await submit(s, world.cadre, here[1], SECOND_ANSWERS, NOW + timedelta(hours=1))
        other, _ = await submit(s, world.cadre, there[0], SECOND_ANSWERS, NOW)
        old, _ = await submit(
            s, world.cadre, here[2], SECOND_ANSWERS, NOW - timedelta(days=30), unsafe_house()
        )
        # The unsafe house is rectified and verified (销号) by the leader.
        house = problems[1]
        for status, who, days in (("rectified", world.cadre, 2), ("verified", world.leader, 3)):
            s.add(
                ProblemEvent(
                    problem_id=house.id,
                    at=NOW + timedelta(days=days),
                    user_id=who.id,
                    action=status,
                    from_status=house.status,
                    to_status=status,
                )
            )
            house.status = status
    return Checks(world, office, first, second, other, old, problems)


async def household(maker: Maker, household_id: int) -> Household:
    async with maker() as s:
        found = await s.get(Household, household_id)
    assert found is not None
    return found


def rows_of(path: Path, sheet: str) -> list[list[Any]]:
    """The sheet's rows, each as wide as the widest (read-only mode trims empty cells); a
    blank cell (bordered, empty) reads as None."""
    workbook = load_workbook(path, read_only=True)
    try:
        rows = [
            [None if cell == "" else cell for cell in row]
            for row in workbook[sheet].iter_rows(values_only=True)
        ]
    finally:
        workbook.close()
    width = max((len(row) for row in rows), default=0)
    return [row + [None] * (width - len(row)) for row in rows]


# ---------------------------------------------------------------- check records


async def test_checks_xlsx_has_every_answer_with_chinese_headers_and_codes(
    sqlite_maker: Maker, tmp_path: Path, form: Form
) -> None:
    checks = await seed_checks(sqlite_maker)
    path = tmp_path / "checks.xlsx"
    seen: list[tuple[int, int]] = []

    async def progress(done: int, total: int) -> None:
        seen.append((done, total))

    async with sqlite_maker.begin() as s:
        result = await export_checks(s, form, MARCH, path, "xlsx", NOW, progress=progress)
    assert result.rows == 3 and result.files == [path] and seen == [(3, 3)]

    workbook = load_workbook(path, read_only=True)
    assert workbook.sheetnames == [
        "核查记录",
        "义务教育阶段适龄儿童",
        "家庭成员医疗保障",
        "发现问题",
    ]
    workbook.close()
    sheet = rows_of(path, "核查记录")
    titles, codes = sheet[0], sheet[1]
    assert codes[:12] == [
        "check_id",
        "version",
        "village",
        "village_code",
        "household_number",
        "head_name",
        "head_id_number",
        "cadre",
        "submitted_at",
        "amended_by",
        "amendment_reason",
        "problems_raised",
    ]
    assert titles[:3] == ["核查编号", "版本", "村"]
    top_level = [q for q in form.questions if q.type not in ("repeat", "note")]
    assert codes[12:] == [q.id for q in top_level]
    assert titles[12:] == [q.labels["zh_CN"] for q in top_level]

    by_id = {row[0]: dict(zip(codes, row, strict=True)) for row in sheet[2:]}
    assert set(by_id) == {checks.first.id, checks.second.id, checks.other_village.id}
    first = by_id[checks.first.id]
    home = await household(sqlite_maker, checks.first.household_id)
    assert home.head_id_number
    assert first["village"] == "幸福村" and first["village_code"] == "320705001001"
    assert (first["household_number"], first["head_name"]) == (home.number, home.head_name)
    assert (
        first["head_id_number"] == home.head_id_number[:6] + "********" + home.head_id_number[-4:]
    )
    # Times and dates are real dates (in the area's time zone), numbers are numbers.
    assert (first["cadre"], first["submitted_at"], first["version"]) == (
        "李卫东",
        datetime(2025, 3, 20, 10, 30),
        1,
    )
    assert first["problems_raised"] == 2
    # Every answer as recorded, choices by their Chinese label.
    assert first["visit_type"] == "入户走访"
    assert first["clothing_bedding"] == "否" and first["food_staple"] == "是"
    assert first["housing_grade"] == "C级（局部危房）"
    assert first["housing_alternative"] == "仍住危房或无安全住所，未纳入计划"
    assert first["floor_area"] == 65.5 and first["water_short_days"] == 50
    assert first["income_per_person"] == 5800.46
    assert first["risk_factors"] == "因病、因学"
    assert first["location"] == "34.6, 119.2"
    assert first["leaflet_understood"] is None  # not asked: left empty

    children = rows_of(path, "义务教育阶段适龄儿童")
    assert children[1][:5] == ["check_id", "version", "household_number", "head_name", "item"]
    child_codes = children[1]
    kids = [dict(zip(child_codes, row, strict=True)) for row in children[2:]]
    assert [(k["check_id"], k["item"], k["name"], k["school_status"]) for k in kids] == [
        (checks.first.id, 1, "王小明", "失学辍学"),
        (checks.first.id, 2, "王小红", "在校就读"),
    ]
    assert kids[0]["dropout_reason"] == "家庭经济困难" and kids[1]["grade"] == "小学三年级"

    members = rows_of(path, "家庭成员医疗保障")
    names = [(row[0], row[4], row[5]) for row in members[2:]]
    assert (checks.first.id, 1, "王大山") in names and (checks.second.id, 1, "李四") in names

    problems = rows_of(path, "发现问题")
    assert [row[5:8] for row in problems[2:]] == [
        ["义务教育", "适龄儿童失学辍学", "劝返复学"],
        ["住房安全", "住房为C级危房且无安全住房", "住房安全有保障"],
    ]
    assert problems[2][12] == "未整改" and problems[3][12] == "已销号"
    assert problems[2][10:12] == [datetime(2025, 4, 3), "立行立改"]


async def test_checks_csv_is_utf8_with_bom_and_one_file_per_sheet(
    sqlite_maker: Maker, tmp_path: Path, form: Form
) -> None:
    checks = await seed_checks(sqlite_maker)
    village = ExportScope("320705001001", date(2025, 3, 1), date(2025, 3, 31))
    path = tmp_path / "checks.csv"
    async with sqlite_maker.begin() as s:
        result = await export_checks(s, form, village, path, "csv", NOW)
    assert [p.name for p in result.files] == [
        "checks.csv",
        "checks-children.csv",
        "checks-members.csv",
        "checks-problems.csv",
    ]
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][:3] == ["核查编号", "版本", "村"]
    assert [row[0] for row in rows[2:]] == [str(checks.first.id), str(checks.second.id)]
    assert rows[2][rows[1].index("housing_grade")] == "C级（局部危房）"


async def test_id_numbers_are_shown_only_to_an_office_that_asks_and_that_is_audited(
    sqlite_maker: Maker, tmp_path: Path, form: Form
) -> None:
    checks = await seed_checks(sqlite_maker)
    async with sqlite_maker() as s:
        with pytest.raises(StorageError) as refused:
            await authorize_export(s, checks.world.leader, "320705001", unmasked=True)
        assert refused.value.message_id == "Only an office can export full ID numbers."
        area = await authorize_export(s, checks.office, "320705001", unmasked=True)
        assert area.name == "朝阳镇"
    path = tmp_path / "full.xlsx"
    scope = ExportScope("320705001", date(2025, 3, 1), date(2025, 3, 31), unmasked=True)
    async with sqlite_maker.begin() as s:
        await export_checks(s, form, scope, path, "xlsx", NOW, user_id=checks.office.id)
    home = await household(sqlite_maker, checks.first.household_id)
    sheet = rows_of(path, "核查记录")
    row = next(r for r in sheet[2:] if r[0] == checks.first.id)
    assert row[6] == home.head_id_number
    async with sqlite_maker() as s:
        entry = await s.scalar(select(AuditEntry).where(AuditEntry.action == "export.unmasked"))
    assert entry is not None and entry.user_id == checks.office.id
    assert entry.details["kind"] == "checks" and entry.details["rows"] == 3


async def test_a_leader_cannot_export_another_township_nor_a_cadre_at_all(
    sqlite_maker: Maker,
) -> None:
    checks = await seed_checks(sqlite_maker)
    async with sqlite_maker.begin() as s:
        await add_area(s, "320705002", "另一镇", "township", parent_code="320705")
    async with sqlite_maker() as s:
        for user, area, message in (
            (checks.world.leader, "320705002", "You can only export your own area."),
            (checks.world.leader, "320705", "You can only export your own area."),
            (checks.world.cadre, "320705001001", "Only offices and team leaders can export."),
            (checks.office, "999", "Unknown area {code}."),
        ):
            with pytest.raises(StorageError) as refused:
                await authorize_export(s, user, area, unmasked=False)
            assert refused.value.message_id == message
        assert (await authorize_export(s, checks.world.leader, "320705001001", False)).name


# ---------------------------------------------------------------- the problem ledger


async def test_problem_ledger_follows_the_rectification_list_layout(
    sqlite_maker: Maker, tmp_path: Path
) -> None:
    checks = await seed_checks(sqlite_maker)
    path = tmp_path / "ledger.xlsx"
    async with sqlite_maker.begin() as s:
        result = await export_ledger(s, MARCH, path, "xlsx", NOW)
    assert result.rows == 2
    rows = rows_of(path, "问题整改清单")
    assert rows[0][0] == "朝阳镇脱贫攻坚问题整改工作清单"
    assert rows[1][0] == "填报单位：朝阳镇　　时间范围：2025年3月1日至2025年3月31日"
    assert "填报时间：2025年3月20日" in rows[1]
    assert rows[2] == [
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
    ]
    home = await household(sqlite_maker, checks.first.household_id)
    where = f"【幸福村 {home.number}户 {home.head_name}】"
    assert rows[3] == [
        "义务教育",
        1,
        where + "适龄儿童失学辍学",
        "劝返复学",
        "村干部和学校联合劝返",
        "education",
        "2025年4月3日（立行立改）",
        "未整改",
        None,
        None,
    ]
    assert rows[4] == [
        "住房安全",
        2,
        where + "住房为C级危房且无安全住房",
        "住房安全有保障",
        None,
        "housing",
        (NOW.date() + timedelta(days=45)).strftime("%Y年%-m月%-d日"),
        "已销号",
        datetime(2025, 3, 22),
        "张队长",
    ]
    assert rows[6][:3] == ["填报人：", None, None] and "审核人：" in rows[6]


# ---------------------------------------------------------------- the monthly report


async def test_monthly_report_fills_the_rows_checks_answer_and_leaves_the_rest(
    sqlite_maker: Maker, tmp_path: Path
) -> None:
    await seed_checks(sqlite_maker)
    template = load_monthly_template()
    assert [row.number for row in template.rows] == list(range(1, 38))
    path = tmp_path / "monthly.xlsx"
    async with sqlite_maker.begin() as s:
        result = await export_monthly(s, "320705001", APRIL, path, "xlsx", NOW + timedelta(days=5))
    assert result.rows == 37
    rows = rows_of(path, "月报表")
    assert rows[0][0] == "朝阳镇脱贫攻坚问题大排查任务分解月报表（2025年4月）"
    assert rows[1][0] == "填报单位：朝阳镇" and "填报时间：2025年3月25日" in rows[1]
    assert rows[2][0] == "报告期：2025年3月4日至2025年4月3日；数据截至2025年3月25日。"
    assert rows[3] == [
        "序号",
        "排查项目",
        "排查内容",
        "排查情况",
        "整改措施",
        "整改进度",
        "责任单位",
    ]
    by_number = {row[0]: row for row in rows[4:41]}
    # Not answered by checks: left blank for the office.
    assert by_number[1][1] == "责任落实" and by_number[1][3:6] == [None, None, None]
    assert by_number[1][6] == "各街道"
    # Three households checked in the period in the township (the February check is not).
    assert by_number[22][3] == "本期核查 3 户；本期发现问题 1 条，2025年1月1日以来累计 1 条。"
    assert by_number[22][4] == "村干部和学校联合劝返"
    assert by_number[22][5] == (
        "已销号 0 条；已整改，待销号 0 条；整改中 0 条；未整改 1 条；逾期 0 条。"
    )
    # The February check's unsafe house, verified since, is counted with this period's.
    assert by_number[32][3] == (
        "本期核查 3 户；发现C/D级危房 1 户；本期发现问题 1 条，2025年1月1日以来累计 2 条。"
    )
    assert by_number[32][5].startswith("已销号 1 条；已整改，待销号 0 条；整改中 0 条；未整改 1 条")
    assert by_number[4][3] == "本期核查 3 户；发现未收到或不了解政策明白卡 1 户。"
    assert by_number[33][3] == "本期核查 3 户；本期发现问题 0 条，2025年1月1日以来累计 0 条。"
    assert by_number[33][6] == "各街道、区住建局"
    assert rows[41][0] == "注：此表于每月4日前上报。"
    villages = rows_of(path, "各村核查情况")
    assert villages[2] == [
        "村",
        "户",
        "本期已核查户数",
        "未核查户数",
        "是否完成核查",
        "未销号问题",
        "逾期问题",
    ]
    assert villages[3] == ["幸福村", 12, 2, 10, "未完成", 2, 0]
    assert villages[4] == ["红星村", 2, 1, 1, "未完成", 0, 0]


async def test_monthly_report_of_a_period_without_checks_leaves_rows_empty(
    sqlite_maker: Maker,
) -> None:
    await seed_checks(sqlite_maker)
    async with sqlite_maker() as s:
        report = await monthly_report(s, "320705001", period_named(AreaSchedule(), 2025, 2), NOW)
    assert report.checked_households == 0 and report.filed_on == date(2025, 2, 3)
    # Nothing was checked nor found: no claim either way.
    assert report.lines[21].situation == "" and report.lines[21].progress == ""
    assert report.lines[0].situation == ""


async def test_monthly_report_in_english_has_english_rows_and_title(
    sqlite_maker: Maker, tmp_path: Path
) -> None:
    import re

    await seed_checks(sqlite_maker)
    path = tmp_path / "monthly.xlsx"
    async with sqlite_maker.begin() as s:
        await export_monthly(s, "320705001", APRIL, path, "xlsx", NOW, lang="en")
    rows = rows_of(path, "Monthly report")
    assert rows[0][0] == (
        "朝阳镇: poverty-alleviation problem check, monthly report of tasks (April 2025)"
    )
    chinese = re.compile(r"[\u3400-\u9fff（）：，。；]")
    table = rows[3:41]
    assert table[0][:3] == ["No.", "Item checked", "What is checked"]
    for row in table[1:]:
        # The area's name and what people recorded (measures) stay as written.
        for cell in (row[1], row[2], row[3], row[5], row[6]):
            assert not chinese.search(str(cell or "")), row
    by_number = {row[0]: row for row in table[1:]}
    assert by_number[22][1] == "Compulsory education"
    sheet = load_workbook(path)["Monthly report"]
    assert sheet.oddFooter.center.text == "Page &P of &N"  # not 第 &P 页
    assert by_number[22][5] == (
        "Verified (closed): 0; rectified, awaiting verification: 0; in progress: 0; "
        "not started: 1; overdue: 0."
    )


# ---------------------------------------------------------------- the command line


async def test_export_command_writes_each_kind(tmp_path: Path, sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        await seed_checks(make_sessionmaker(engine))
    finally:
        await engine.dispose()
    for kind, fmt in (("checks", "xlsx"), ("problems", "csv"), ("monthly", "xlsx")):
        out = tmp_path / f"{kind}.{fmt}"
        argv = ["--database-url", sqlite_url, "export", "--kind", kind, "--area", "320705001"]
        if kind == "monthly":
            argv += ["--period", "2025-04"]
        else:
            argv += ["--from", "2025-03-01", "--to", "2025-03-31"]
        argv += ["--format", fmt, "--out", str(out)]
        # The command runs its own event loop: give it a thread of its own.
        assert await asyncio.to_thread(hucha, argv) == 0, kind
        assert out.exists()
    rows = rows_of(tmp_path / "checks.xlsx", "核查记录")
    assert len(rows) == 5  # two header rows, three checks
    with (tmp_path / "problems.csv").open(encoding="utf-8-sig") as handle:
        assert next(csv.reader(handle)) == ["朝阳镇脱贫攻坚问题整改工作清单"]


# ---------------------------------------------------------------- what a spreadsheet makes of it


HYPERLINK = '=HYPERLINK("http://example.com/x","点我")'
TELEGRAM_NAME = "=cmd|' /C calc'!A0"
TYPED_NOTE = "=1+2"


async def seed_hostile(maker: Maker) -> Checks:
    """The seed, with a roster name, a cadre's Telegram name and a typed note that a
    spreadsheet would run, and a household numbered 001."""
    checks = await seed_checks(maker)
    async with maker.begin() as s:
        home = await s.get(Household, checks.first.household_id)
        cadre = await s.get(User, checks.world.cadre.id)
        record = await s.get(CheckRecord, checks.first.id)
        problem = await s.get(Problem, checks.problems[1].id)
        assert home and cadre and record and problem
        home.head_name, home.number = HYPERLINK, "001"
        cadre.name = TELEGRAM_NAME
        record.answers = {**record.answers, "notes": TYPED_NOTE}
        problem.measures = "+86 138 0000 0000"
    return checks


def formulas_in(path: Path) -> list[str]:
    """Every <f> (formula) element in the workbook's sheets."""
    import re
    import zipfile

    with zipfile.ZipFile(path) as archive:
        sheets = [n for n in archive.namelist() if n.startswith("xl/worksheets/sheet")]
        return [
            found
            for name in sheets
            for found in re.findall(r"<f>.*?</f>", archive.read(name).decode("utf-8"))
        ]


async def test_user_input_is_text_in_xlsx_and_neutralised_in_csv(
    sqlite_maker: Maker, tmp_path: Path, form: Form
) -> None:
    checks = await seed_hostile(sqlite_maker)
    async with sqlite_maker.begin() as s:
        await export_checks(s, form, MARCH, tmp_path / "checks.xlsx", "xlsx", NOW)
        await export_checks(s, form, MARCH, tmp_path / "checks.csv", "csv", NOW)
        await export_ledger(s, MARCH, tmp_path / "ledger.xlsx", "xlsx", NOW)
        await export_ledger(s, MARCH, tmp_path / "ledger.csv", "csv", NOW)

    for name in ("checks.xlsx", "ledger.xlsx"):
        assert formulas_in(tmp_path / name) == [], name
    workbook = load_workbook(tmp_path / "checks.xlsx")
    sheet = workbook["核查记录"]
    codes = [cell.value for cell in sheet[2]]
    row = next(r for r in sheet.iter_rows(min_row=3) if r[0].value == checks.first.id)
    for code, text in (
        ("head_name", HYPERLINK),
        ("cadre", TELEGRAM_NAME),
        ("notes", TYPED_NOTE),
        ("household_number", "001"),
    ):
        cell = row[codes.index(code)]
        assert (cell.value, cell.data_type) == (text, "s"), code
    assert row[codes.index("household_number")].number_format == "@"
    ledger = load_workbook(tmp_path / "ledger.xlsx").active
    assert ledger is not None
    measures = [r[4] for r in ledger.iter_rows(min_row=4, max_row=5)]
    assert [(c.value, c.data_type) for c in measures][1] == ("+86 138 0000 0000", "s")

    with (tmp_path / "checks.csv").open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    row_csv = dict(
        zip(rows[1], next(r for r in rows[2:] if r[0] == str(checks.first.id)), strict=True)
    )
    assert row_csv["head_name"] == "'" + HYPERLINK
    assert row_csv["cadre"] == "'" + TELEGRAM_NAME
    assert row_csv["notes"] == "'" + TYPED_NOTE
    # Codes stay as written when Excel or WPS opens the file.
    assert row_csv["household_number"] == '="001"'
    assert row_csv["village_code"] == '="320705001001"'
    with (tmp_path / "ledger.csv").open(encoding="utf-8-sig", newline="") as handle:
        ledger_rows = list(csv.reader(handle))
    assert ["'+86 138 0000 0000"] in [r[4:5] for r in ledger_rows]


async def test_data_sheets_have_frozen_filtered_headers_typed_cells_and_fitted_widths(
    sqlite_maker: Maker, tmp_path: Path, form: Form
) -> None:
    await seed_checks(sqlite_maker)
    path = tmp_path / "checks.xlsx"
    async with sqlite_maker.begin() as s:
        await export_checks(s, form, MARCH, path, "xlsx", NOW)
    workbook = load_workbook(path)
    for sheet in workbook.worksheets:
        assert sheet.freeze_panes == "A3", sheet.title
        assert sheet.auto_filter.ref and sheet.auto_filter.ref.startswith("A2:"), sheet.title
        header = sheet["A1"]
        assert header.font.b and header.alignment.wrap_text, sheet.title
    sheet = workbook["核查记录"]
    codes = [cell.value for cell in sheet[2]]
    letter = {code: sheet.cell(2, index + 1).column_letter for index, code in enumerate(codes)}
    submitted = sheet[f"{letter['submitted_at']}3"]
    assert submitted.is_date and submitted.number_format == "yyyy-mm-dd hh:mm"
    assert sheet[f"{letter['floor_area']}3"].data_type == "n"
    # XlsxWriter writes neighbours of one width as one <col min max>: spread them out.
    by_index = {
        index: dimension.width
        for dimension in sheet.column_dimensions.values()
        for index in range(dimension.min or 0, (dimension.max or 0) + 1)
    }
    widths = {code: by_index[index + 1] for index, code in enumerate(codes)}
    assert widths["check_id"] < widths["head_id_number"] <= 50
    assert widths["housing_grade"] >= 14  # "C级（局部危房）" fits
    assert all(6 <= width <= 50 for width in widths.values())
    children = workbook["义务教育阶段适龄儿童"]
    kid_codes = [cell.value for cell in children[2]]
    born = children.cell(3, kid_codes.index("birth_date") + 1)
    assert born.is_date and born.value == datetime(2014, 5, 1)


async def test_printed_forms_are_set_up_for_a4_with_merged_categories(
    sqlite_maker: Maker, tmp_path: Path
) -> None:
    await seed_checks(sqlite_maker)
    async with sqlite_maker.begin() as s:
        await export_monthly(s, "320705001", APRIL, tmp_path / "monthly.xlsx", "xlsx", NOW)
        await export_ledger(s, MARCH, tmp_path / "ledger.xlsx", "xlsx", NOW)
    monthly = load_workbook(tmp_path / "monthly.xlsx")["月报表"]
    setup = monthly.page_setup
    assert (setup.orientation, setup.paperSize, setup.fitToWidth or 1) == ("landscape", 9, 1)
    assert monthly.sheet_properties.pageSetUpPr.fitToPage
    assert monthly.print_title_rows == "$4:$4"  # below the title, unit and period lines
    assert "第 &P 页，共 &N 页" in monthly.oddFooter.center.text
    merged = {str(r) for r in monthly.merged_cells.ranges}
    # 责任落实 spans rows 1–3 of the table, 政策落实 rows 4–8 (as in seed 002's table).
    assert {"B5:B7", "B8:B12", "A1:G1"} <= merged
    assert monthly["B8"].value == "政策落实" and monthly["B9"].value is None
    content = monthly["C17"]
    assert content.alignment.wrap_text and content.border.left.style == "thin"
    # Rows are as high as their wrapped text: row 11 of the table (the longest 排查内容,
    # three printed lines or more) is higher than row 12 (one line).
    heights = monthly.row_dimensions
    assert (heights[15].height or 0) >= 3 * 12 > (heights[16].height or 15)  # 15: the default
    signature = [c.value for c in monthly[monthly.max_row] if c.value]
    assert signature == ["填报人：", "审核人：", "（盖章）"]

    ledger = load_workbook(tmp_path / "ledger.xlsx")["问题整改清单"]
    assert ledger.page_setup.orientation == "landscape" and ledger.print_title_rows == "$3:$3"
    assert ledger["C4"].alignment.wrap_text and ledger["C4"].border.bottom.style == "thin"


async def test_exports_in_english_have_english_sheets_headers_and_values(
    sqlite_maker: Maker, tmp_path: Path, form: Form
) -> None:
    import re

    checks = await seed_checks(sqlite_maker)
    english = replace(MARCH, lang="en")
    async with sqlite_maker.begin() as s:
        await export_checks(s, form, english, tmp_path / "checks.xlsx", "xlsx", NOW)
        await export_ledger(s, english, tmp_path / "ledger.xlsx", "xlsx", NOW)
    chinese = re.compile(r"[\u3400-\u9fff（）：，。]")
    workbook = load_workbook(tmp_path / "checks.xlsx", read_only=True)
    names = workbook.sheetnames
    workbook.close()
    assert names[0] == "Check records" and names[-1] == "Problems raised"
    assert not any(chinese.search(name) for name in names)
    sheet = rows_of(tmp_path / "checks.xlsx", "Check records")
    assert sheet[0][:3] == ["Check ID", "Version", "Village"]
    assert not any(chinese.search(str(title)) for title in sheet[0][:12])
    top_level = [q for q in form.questions if q.type not in ("repeat", "note")]
    assert sheet[0][12:] == [q.labels["en"] for q in top_level]
    first = dict(zip(sheet[1], next(r for r in sheet[2:] if r[0] == checks.first.id), strict=True))
    assert first["visit_type"] == "Home visit" and first["food_staple"] == "Yes"
    assert not chinese.search(first["housing_grade"])
    problems = rows_of(tmp_path / "checks.xlsx", "Problems raised")
    assert [row[5:7] for row in problems[2:]] == [
        ["Compulsory education", "A school-age child has dropped out"],
        ["Safe housing", "Grade C house, no safe housing"],
    ]
    assert [row[12] for row in problems[2:]] == ["Open", "Verified (closed)"]
    ledger = rows_of(tmp_path / "ledger.xlsx", "Rectification list")
    assert ledger[2][:3] == ["Category", "No.", "Problem"]
    assert ledger[3][6] == "April 3, 2025 (Fix at once)"


async def test_the_rectification_list_leaves_out_withdrawn_problems_unless_asked(
    sqlite_maker: Maker, tmp_path: Path
) -> None:
    checks = await seed_checks(sqlite_maker)
    async with sqlite_maker.begin() as s:
        problem = await s.get(Problem, checks.problems[0].id)
        assert problem is not None
        problem.status = "withdrawn"
    async with sqlite_maker.begin() as s:
        left_out = await export_ledger(s, MARCH, tmp_path / "out.xlsx", "xlsx", NOW)
        kept = await export_ledger(
            s, replace(MARCH, withdrawn=True), tmp_path / "in.xlsx", "xlsx", NOW
        )
    assert (left_out.rows, kept.rows) == (1, 2)
    statuses = [row[7] for row in rows_of(tmp_path / "in.xlsx", "问题整改清单")[3:5]]
    assert statuses == ["已撤销（误报）", "已销号"]


def test_a_section_answered_all_normal_is_exported_in_words() -> None:
    """全部正常 / 逐项填写 in the checks sheets, never the choice's code."""
    form = load_forms()["household_check"]
    sections = [
        question
        for top in form.questions
        for question in (top, *top.children)
        if question.type == "all_normal"
    ]
    assert sections
    for question in sections:
        assert cell_of(question)("normal") == "全部正常"
        assert cell_of(question)("each") == "逐项填写"
        assert cell_of(question, "en")("normal") == "All normal"
