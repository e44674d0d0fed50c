"""Setting up a county from nothing: the area tree from the statistical division codes
(统计用区划代码), its summary with households and users, and villages a roster names."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cli import main as hucha
from storage import Area, add_area, import_roster
from storage.area_import import TopAreaOptions, area_tree, import_areas
from tests.storage_fixtures import NOW

pytest_plugins = ("tests.storage_fixtures",)

Maker = async_sessionmaker[AsyncSession]

AREAS = (
    "统计用区划代码,名称\n"
    "320000000000,江苏省\n"
    "320700000000,连云港市\n"
    "320723000000,灌云县\n"
    "320723100000,伊山镇\n"
    "320723100201,东山村\n"
    "320723100202,西河村\n"
    "320723101,杨集镇\n"
)


async def test_area_file_builds_the_tree_with_levels_and_parents_from_codes(
    sqlite_maker: Maker,
) -> None:
    options = TopAreaOptions("江苏", "Asia/Shanghai", {"reporting_day": 25})
    async with sqlite_maker.begin() as s:
        report = await import_areas(s, AREAS.encode("utf-8-sig"), options)
    assert (report.added, report.updated, report.unchanged, report.skipped) == (5, 0, 0, 2)
    assert report.errors == []
    async with sqlite_maker() as s:
        county = await s.get(Area, "320723")
        village = await s.get(Area, "320723100201")
        township = await s.get(Area, "320723101")
    assert county is not None and village is not None and township is not None
    assert (county.level, county.parent_code, county.province) == ("county", None, "江苏")
    assert county.settings == {"reporting_day": 25}
    assert (village.level, village.parent_code, village.province) == ("village", "320723100", None)
    assert (township.level, township.parent_code) == ("township", "320723")


async def test_second_import_changes_nothing_and_a_new_name_is_an_update(
    sqlite_maker: Maker,
) -> None:
    async with sqlite_maker.begin() as s:
        await import_areas(s, AREAS)
    async with sqlite_maker.begin() as s:
        again = await import_areas(s, AREAS)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 5)
    renamed = AREAS.replace("东山村", "东山社区")
    async with sqlite_maker.begin() as s:
        report = await import_areas(s, renamed.encode("gb18030"))
    assert (report.added, report.updated, report.unchanged) == (0, 1, 4)


async def test_bad_rows_are_reported_by_line_and_good_rows_go_in(sqlite_maker: Maker) -> None:
    text = (
        "code,name\n"
        "320723,灌云县\n"
        "32072,短码\n"
        "320723100,\n"
        "320799100201,无乡镇的村\n"
        "320723,灌云县\n"
        ",无代码\n"
    )
    async with sqlite_maker.begin() as s:
        report = await import_areas(s, text)
    assert report.added == 1
    reasons = {(error.line, error.reason_message_id) for error in report.errors}
    assert reasons == {
        (
            3,
            "{code} is not an area code: use 6 digits for a county, 9 for a township, "
            "12 for a village.",
        ),
        (4, "The area name is missing."),
        (5, "The area {parent} above {code} is neither in the file nor in the database."),
        (6, "This row repeats line {line}."),
        (7, "The area code is missing."),
    }


async def test_xlsx_with_groups_adds_the_groups_under_their_village(sqlite_maker: Maker) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["代码", "名称", "组"])
    sheet.append([320723, "灌云县", None])
    sheet.append([320723100, "伊山镇", None])
    sheet.append(["320723100201", "东山村", "1组"])
    sheet.append(["320723100201", "东山村", "2组"])
    buffer = io.BytesIO()
    book.save(buffer)
    async with sqlite_maker.begin() as s:
        report = await import_areas(s, buffer.getvalue())
    assert report.errors == [] and report.added == 5
    async with sqlite_maker() as s:
        group = await s.get(Area, "32072310020102")
    assert group is not None
    assert (group.level, group.parent_code, group.name) == ("group", "320723100201", "2组")


async def test_a_missing_column_or_an_unknown_zone_is_refused(sqlite_maker: Maker) -> None:
    async with sqlite_maker.begin() as s:
        report = await import_areas(s, "代码,村名\n320723,灌云县\n")
    assert [(e.line, e.params) for e in report.errors] == [(1, {"column": "名称"})]
    from storage import StorageError

    with pytest.raises(StorageError):
        async with sqlite_maker.begin() as s:
            await import_areas(s, AREAS, TopAreaOptions(timezone="Mars/Olympus"))


async def test_tree_counts_households_and_users_below_each_area(sqlite_maker: Maker) -> None:
    async with sqlite_maker.begin() as s:
        await import_areas(s, AREAS)
        roster = (
            "村,户编号,户主姓名,与户主关系,姓名\n"
            "320723100201,001,王大山,户主,王大山\n"
            "320723100202,001,刘春生,户主,刘春生\n"
        )
        await import_roster(s, roster, NOW)
    async with sqlite_maker() as s:
        tree = await area_tree(s)
        township = await area_tree(s, "320723100")
    assert [(line.code, line.depth, line.households) for line in tree] == [
        ("320723", 0, 2),
        ("320723100", 1, 2),
        ("320723100201", 2, 1),
        ("320723100202", 2, 1),
        ("320723101", 1, 0),
    ]
    assert [line.code for line in township] == ["320723100", "320723100201", "320723100202"]


async def test_roster_adds_a_named_village_whose_township_exists(sqlite_maker: Maker) -> None:
    async with sqlite_maker.begin() as s:
        await add_area(s, "320723", "灌云县", "county", province="江苏")
        await add_area(s, "320723100", "伊山镇", "township", parent_code="320723")
        roster = (
            "村,村名,户编号,户主姓名,与户主关系,姓名\n"
            "320723100203,南岗村,001,孙立,户主,孙立\n"
            "320723199203,北岗村,001,钱五,户主,钱五\n"
            "320723100204,,001,赵六,户主,赵六\n"
        )
        report = await import_roster(s, roster, NOW)
    assert report.villages_added == ("320723100203 南岗村",)
    assert report.added_households == 1
    assert [error.params["code"] for error in report.errors] == ["320723199203", "320723100204"]
    async with sqlite_maker() as s:
        village = await s.get(Area, "320723100203")
    assert village is not None and village.parent_code == "320723100"


def test_areas_commands_import_and_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'areas.db'}"
    file = tmp_path / "areas.csv"
    file.write_text(AREAS + "12345,坏\n", encoding="utf-8")
    assert hucha(["areas", "import", str(file), "--database-url", url, "--lang", "en"]) == 1
    out = capsys.readouterr().out
    assert "Areas added: 5, updated: 0, unchanged: 0. Rows refused: 1." in out
    assert "Left out 2 areas above a county." in out
    assert "Line 9, column 统计用区划代码: 12345 is not an area code" in out
    assert hucha(["--database-url", url, "areas", "list", "320723100"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "320723100 伊山镇（乡镇）：0 户，0 名用户",
        "  320723100201 东山村（村）：0 户，0 名用户",
        "  320723100202 西河村（村）：0 户，0 名用户",
    ]
    assert hucha(["--database-url", url, "areas", "list", "999"]) == 2
    assert capsys.readouterr().err.strip() == "未知的区划代码 999。"
