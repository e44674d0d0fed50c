"""Offices in the chat: /export picks kind, area and period with buttons and sends the file
back, showing progress in one message, for their own area only; /import takes a roster file."""

from __future__ import annotations

import asyncio
import io
import zipfile
from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from bot.callbacks import ExportRequest, decode, encode
from bot.cli import main as hucha
from bot.cli import parser
from bot.emulator import ChatMessage, EmulatedUser
from bot.handlers import office as office_handlers
from bot.handlers.office import period_dates
from bot.i18n import Translator
from services.exports import EXPORTS
from storage import CheckRecord, Problem
from storage.exports import ExportKind
from tests.checkdriver import SUBMIT, answer_until, open_check
from tests.harness import COUNTY, OTHER_VILLAGE, TOWNSHIP, VILLAGE, Harness

PROBLEM_PLAN = {
    "school_status": "dropped_out",
    "dropout_reason": "work",
    "dropout_note": "在外地打工",
    "housing_grade": "C",
    "housing_alternative": "none",
}


async def checked_by_cadre(harness: Harness) -> EmulatedUser:
    """A cadre checks 张建国's household through the chat: a dropout and an unsafe house."""
    await harness.seed()
    cadre = harness.emulator.user(3001, "王芳", language_code="zh-hans")
    await harness.register(cadre)
    await open_check(harness, cadre, "张建国")
    summary = await answer_until(harness, cadre, PROBLEM_PLAN)
    assert summary is not None
    await cadre.press(summary.message_id, summary.callback_data(SUBMIT))
    assert "已提交" in (await cadre.next_message()).content
    return cadre


async def until_edit(user: EmulatedUser, text: str) -> list[ChatMessage]:
    """The edits up to the first showing `text`."""
    seen: list[ChatMessage] = []
    while not seen or text not in seen[-1].content:
        seen.append(await user.next_edit(timeout=20))
    return seen


async def test_office_exports_check_records_with_buttons_and_gets_the_file(
    harness: Harness,
) -> None:
    await checked_by_cadre(harness)
    office = harness.emulator.user(3002, "县扶贫办", language_code="zh-hans")
    await harness.register(office, role="office", area=COUNTY)
    await office.send_command("export")
    menu = await office.next_message()
    assert "要导出什么" in menu.content
    assert [text for text, _ in menu.buttons] == ["核查记录", "问题台账", "月报表", "公示名单"]
    await office.press_button("核查记录")
    areas = await office.next_edit()
    assert [text for text, _ in areas.buttons] == ["示范县", "示范镇"]
    await office.press_button("示范镇")
    periods = await office.next_edit()
    assert [text for text, _ in periods.buttons] == ["本月", "上月", "近三个月", "今年"]
    await office.press_button("本月")
    formats = await office.next_edit()
    assert [text for text, _ in formats.buttons] == ["Excel (XLSX)", "CSV", "Excel 和照片（ZIP）"]
    await office.press_button("Excel (XLSX)")

    # Meanwhile the cadre is answered as usual.
    cadre = harness.emulator.user(3001, "王芳", language_code="zh-hans")
    await cadre.send_command("help")
    assert "/check" in (await cadre.next_message()).content

    document = await office.next_message(timeout=20)
    assert document.document is not None
    assert document.document["file_name"].endswith(".xlsx")
    assert "核查记录" in document.content and "示范镇" in document.content
    edits = await until_edit(office, "导出完成")
    assert edits[0].content.startswith("正在导出")
    assert any("已完成 1/1 行" in edit.content for edit in edits), edits
    assert "共 1 行" in edits[-1].content and not edits[-1].buttons

    workbook = load_workbook(io.BytesIO(office.download(document.document["file_id"])))
    checks = list(workbook["核查记录"].values)
    codes = checks[1]
    row = dict(zip(codes, checks[2], strict=False))
    assert (row["village"], row["head_name"], row["cadre"]) == ("幸福村", "张建国", "王芳")
    assert row["housing_grade"] == "C级（局部危房）" and row["visit_type"] == "入户走访"
    children = list(workbook["义务教育阶段适龄儿童"].values)
    child = dict(zip(children[1], children[2], strict=False))
    assert (child["name"], child["school_status"]) == ("张小明", "失学辍学")
    problems = [row[5] for row in list(workbook["发现问题"].values)[2:]]
    assert sorted(problems) == sorted(["住房安全", "义务教育"])


async def test_leader_exports_the_monthly_report_of_a_village(harness: Harness) -> None:
    await checked_by_cadre(harness)
    leader = harness.emulator.user(3003, "Team leader", language_code="en")
    await harness.register(leader, role="leader", area=TOWNSHIP)
    await leader.send_command("export")
    await leader.next_message()
    await leader.press_button("Monthly report")
    areas = await leader.next_edit()
    assert [text for text, _ in areas.buttons] == ["示范镇", "幸福村", "和平村"]
    await leader.press_button("幸福村")
    periods = await leader.next_edit()
    assert [text for text, _ in periods.buttons] == [
        "Current reporting period",
        "Previous reporting period",
    ]
    await leader.press_button("Current reporting period")
    document = await leader.next_message(timeout=20)
    assert document.document is not None
    await until_edit(leader, "Export finished")
    sheet = load_workbook(io.BytesIO(leader.download(document.document["file_id"])))[
        "Monthly report"
    ]
    rows = list(sheet.values)
    # The leader reads English: the form's own words are English, its rows as filed.
    assert rows[1][0] == "Reporting unit: 幸福村"
    assert rows[3][:3] == ("No.", "Item checked", "What is checked")
    dropout = next(row for row in rows if row[0] == 22)
    assert dropout[1] == "Compulsory education"
    assert dropout[3] == (
        "Households checked this period: 1; problems found this period: 1, "
        "since January 1, 2026: 1."
    )


async def test_leader_gets_the_public_notice_list_of_a_village_as_a_file(
    harness: Harness,
) -> None:
    await checked_by_cadre(harness)
    leader = harness.emulator.user(3006, "组长", language_code="zh-hans")
    await harness.register(leader, role="leader", area=TOWNSHIP)
    await leader.send_command("export")
    await leader.next_message()
    await leader.press_button("公示名单")
    await leader.next_edit()
    # A notice is posted by one village: the township is refused, nothing is sent.
    refused = await leader.press_button("示范镇")
    assert refused.show_alert and refused.text == "公示名单以村为单位，请选择一个村。"
    await leader.press_button("幸福村")
    notices = await leader.next_edit()
    assert [text for text, _ in notices.buttons] == [
        "本月入户核查结果",
        "上月入户核查结果",
        "防返贫监测对象纳入",
        "防返贫监测对象风险消除",
    ]
    await leader.press_button("本月入户核查结果")
    document = await leader.next_message(timeout=20)
    assert document.document is not None
    assert document.document["file_name"].endswith(".xlsx")
    await until_edit(leader, "导出完成")
    rows = list(
        load_workbook(io.BytesIO(leader.download(document.document["file_id"])))["公示名单"].values
    )
    assert rows[0][0] == "幸福村入户核查结果公示"
    header = rows.index(("序号", "户主姓名", "所在组", "家庭人口", "公示事项", "备注"))
    assert rows[header + 1][1] == "张建国"
    assert rows[header + 1][4] == "已核查，发现的问题正在整改"


async def test_a_leader_cannot_export_another_area_even_with_a_forged_button(
    harness: Harness,
) -> None:
    await harness.seed()
    leader = harness.emulator.user(3004, "组长", language_code="zh-hans")
    await harness.register(leader, role="leader", area=VILLAGE)
    await leader.send_command("export")
    menu = await leader.next_message()
    forged = encode(ExportRequest("p", "checks", False, OTHER_VILLAGE, "m0"))
    answer = await leader.press(menu.message_id, forged)
    assert answer.show_alert and answer.text == "只能导出本人所辖区域的数据。"
    full = encode(ExportRequest("k", "checks", True))
    answer = await leader.press(menu.message_id, full)
    assert answer.text == "只有扶贫办可以导出完整身份证号。"
    await leader.send_command("export", "full")
    assert "只有扶贫办可以导出完整身份证号" in (await leader.next_message()).content


async def test_a_malformed_export_button_is_answered_as_no_longer_valid(
    harness: Harness,
) -> None:
    await harness.seed()
    leader = harness.emulator.user(3007, "组长", language_code="zh-hans")
    await harness.register(leader, role="leader", area=VILLAGE)
    await leader.send_command("export")
    menu = await leader.next_message()
    for data in ("1x:k:zz", "1x:p:c:320705001:zz", "1x:a:c:32;drop", "1x:f:c:1:m0"):
        answer = await leader.press(menu.message_id, data)
        assert answer.text == "这个按钮已失效。", data


async def test_a_cadre_cannot_export_or_import(harness: Harness) -> None:
    await harness.seed()
    cadre = harness.emulator.user(3005, "村干部", language_code="zh-hans")
    await harness.register(cadre)
    await cadre.send_command("export")
    assert "只有扶贫办和工作队长可以导出" in (await cadre.next_message()).content
    await cadre.send_command("import")
    assert "只有扶贫办可以导入花名册" in (await cadre.next_message()).content


ROSTER = (
    "村,户编号,户主姓名,身份证号,与户主关系,姓名,出生日期\n"
    f"{VILLAGE},101,钱多多,,户主,钱多多,1980-01-01\n"
    f"{VILLAGE},101,钱多多,,之子,钱小宝,2015-09-01\n"
    f"{VILLAGE},102,孙某,,户主,孙某,1980-02-30\n"
    f"320706001001,103,外人,,户主,外人,\n"
)


async def test_office_imports_a_roster_file_after_import(harness: Harness) -> None:
    await harness.seed()
    office = harness.emulator.user(3006, "镇扶贫办", language_code="zh-hans")
    await harness.register(office, role="office", area=TOWNSHIP)
    await office.send_document(ROSTER.encode("gb18030"), "roster.csv")
    assert "请先发送 /import" in (await office.next_message()).content
    await office.send_command("import")
    assert "CSV 或 XLSX" in (await office.next_message()).content
    await office.send_document(ROSTER.encode("gb18030"), "roster.csv")
    status = await office.next_message()
    assert "正在导入" in status.content
    result = await office.next_edit(timeout=20)
    assert "新增 1 户" in result.content and "拒绝导入 2 行" in result.content, result
    # No income line is published for Jiangsu in the clock's year: the office is told.
    assert "⚠️ 江苏2026年没有收入监测线" in result.content
    assert "第 4 行，“出生日期”列：日期“1980-02-30”格式不正确。" in result.content
    assert "第 5 行，“村”列：未知的村代码 320706001001。" in result.content
    # The request is used up: the next file is not taken as a roster.
    await office.send_document(ROSTER.encode("utf-8"), "roster.csv")
    assert "请先发送 /import" in (await office.next_message()).content
    # A caption of /import works as well; importing again changes nothing.
    await office.send_document(ROSTER.encode("utf-8"), "roster.csv", caption="/import")
    await office.next_message()
    again = await office.next_edit(timeout=20)
    assert "新增 0 户" in again.content and "未变 1 户" in again.content


def test_callback_data_round_trips_and_stays_short() -> None:
    for request in (
        ExportRequest("k", "monthly", True),
        ExportRequest("a", "problems", False, "320705001001"),
        ExportRequest("f", "checks", True, "320705001001999", "q", "csv"),
    ):
        data = encode(request)
        assert len(data.encode()) <= 64 and decode(data) == request
    assert decode("1x:p:c:320705001:zz") is None
    assert decode("1x:a:c:32;drop") is None


def test_every_export_kind_is_registered_once_and_offered_everywhere() -> None:
    """An export kind is one registered unit (services.exports.EXPORTS): the /export buttons,
    the CLI's --kind and the dashboard iterate it."""
    assert set(EXPORTS) == set(ExportKind)
    codes = [export.code for export in EXPORTS.values()]
    assert len(set(codes)) == len(codes)
    t = Translator()
    for kind, export in EXPORTS.items():
        assert t("zh_CN", export.name) != export.name, kind
        request = ExportRequest("k", kind, True)
        assert decode(encode(request)) == request
        args = parser().parse_args(["export", "--kind", kind, "--area", "1", "--out", "x.xlsx"])
        assert args.kind == kind


def test_periods_named_by_buttons() -> None:
    today = date(2026, 3, 15)
    assert period_dates("m0", today) == (date(2026, 3, 1), today)
    assert period_dates("m1", today) == (date(2026, 2, 1), date(2026, 2, 28))
    assert period_dates("q", today) == (date(2026, 1, 1), today)
    assert period_dates("y", today) == (date(2026, 1, 1), today)


async def test_cadre_amends_a_check_and_a_new_version_is_saved(harness: Harness) -> None:
    cadre = await checked_by_cadre(harness)
    async with harness.sessionmaker() as s:
        first = await s.scalar(select(CheckRecord))
        assert first is not None
    await cadre.send_command("amend")
    listing = await cadre.next_message()
    assert f"核查 {first.id}：" in listing.content and "张建国" in listing.content
    await cadre.send_command("amend", f"{first.id} 房屋等级填错了")
    summary = await cadre.next_message()
    while SUBMIT not in [text for text, _ in summary.buttons]:
        summary = await cadre.next_message()
    notice = await cadre.next_message()
    assert f"正在更正核查 {first.id}" in notice.content
    await cadre.press(summary.message_id, summary.callback_data(SUBMIT))
    question = await cadre.next_message()
    assert "这次更正属于哪种情况" in question.content
    await cadre.press(question.message_id, question.callback_data("✏️ 原来答错了"))
    result = await cadre.next_message()
    assert "已提交" in result.content and "仍未整改、本次再次发现：2 条" in result.content, result
    async with harness.sessionmaker() as s:
        versions = (await s.scalars(select(CheckRecord).order_by(CheckRecord.id))).all()
        assert [(v.version, v.latest, v.amendment_reason) for v in versions] == [
            (1, False, None),
            (2, True, "房屋等级填错了"),
        ]
        problems = (await s.scalars(select(Problem))).all()
        assert {p.check_record_id for p in problems} == {versions[1].id}
        assert all(p.status == "open" for p in problems)
    # The old version cannot be amended twice at once; a stranger cannot amend at all.
    stranger = harness.emulator.user(3010, "李四", language_code="zh-hans")
    await harness.register(stranger)
    await stranger.send_command("amend", f"{first.id} 试试")
    assert "只有核查人本人或扶贫办可以更正" in (await stranger.next_message()).content


async def test_an_export_too_large_for_telegram_is_not_sent_and_says_why(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await harness.seed()
    monkeypatch.setattr(office_handlers, "MAX_DOCUMENT_BYTES", 100)
    office = harness.emulator.user(3020, "Office", language_code="en")
    await harness.register(office, role="office", area=COUNTY)
    await office.send_command("export")
    await office.next_message()
    await office.press_button("Problem ledger")
    await office.next_edit()
    await office.press_button("示范县")
    await office.next_edit()
    await office.press_button("This year")
    edits = await until_edit(office, "larger than Telegram allows")
    assert edits[-1].content.startswith("The file is larger than Telegram allows (50 MB).")
    assert not [m for m in office.bot_messages if m.document is not None]


async def test_checks_export_with_photos_is_a_zip_linking_each_photo_fetched_once(
    harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await checked_by_cadre(harness)
    monkeypatch.setenv("HUCHA_PHOTO_DIR", str(tmp_path / "store"))
    argv = ["--database-url", harness.settings.database_url, "export", "--kind", "checks"]
    argv += ["--area", VILLAGE, "--from", "2026-11-01", "--to", "2026-11-30", "--photos"]
    first = tmp_path / "first.zip"
    fetching = ["--token", harness.emulator.token, "--api-url", harness.emulator.base_url]
    assert await asyncio.to_thread(hucha, [*argv, *fetching, "--out", str(first)]) == 0
    # The second export reads the store only: a Bot API that cannot be reached is not asked.
    second = tmp_path / "second.zip"
    unreachable = ["--token", "1:X", "--api-url", "http://127.0.0.1:9/bot"]
    assert await asyncio.to_thread(hucha, [*argv, *unreachable, "--out", str(second)]) == 0

    async with harness.sessionmaker() as s:
        record = await s.scalar(select(CheckRecord))
    assert record is not None
    for archive_path in (first, second):
        with zipfile.ZipFile(archive_path) as archive:
            names = archive.namelist()
            assert names[0] == f"{archive_path.stem}.xlsx"
            photos = [name for name in names if name.startswith("photos/")]
            assert photos == [f"photos/幸福村/001_张建国/{record.id}_住房照片.jpg"]
            assert archive.read(photos[0]) == b"\x89PNG fake house photo"
            workbook = load_workbook(io.BytesIO(archive.read(names[0])))
        sheet = workbook["核查记录"]
        codes = [cell.value for cell in sheet[2]]
        cell = sheet.cell(3, codes.index("house_photo") + 1)
        assert cell.value == photos[0].rsplit("/", 1)[-1]
        assert cell.hyperlink is not None
        assert cell.hyperlink.target.replace("\\", "/") == photos[0]


async def test_leader_gets_the_check_records_with_their_photos_from_the_chat(
    harness: Harness,
) -> None:
    await checked_by_cadre(harness)
    office = harness.emulator.user(3007, "组长", language_code="zh-hans")
    await harness.register(office, role="leader", area=TOWNSHIP)
    await office.send_command("export")
    await office.next_message()
    await office.press_button("核查记录")
    await office.next_edit()
    await office.press_button("幸福村")
    await office.next_edit()
    await office.press_button("本月")
    await office.next_edit()
    await office.press_button("Excel 和照片（ZIP）")
    document = await office.next_message(timeout=20)
    assert document.document is not None
    assert document.document["file_name"].endswith(".zip")
    await until_edit(office, "导出完成")
    with zipfile.ZipFile(io.BytesIO(office.download(document.document["file_id"]))) as archive:
        names = archive.namelist()
        photos = [name for name in names if name.startswith("photos/")]
        assert names[0].endswith(".xlsx") and len(photos) == 1
        assert photos[0].startswith("photos/幸福村/001_张建国/")
        assert archive.read(photos[0]) == b"\x89PNG fake house photo"
