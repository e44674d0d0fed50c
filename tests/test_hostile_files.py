"""Hostile and broken roster files: a sheet whose <dimension> lies, files that would eat the
machine, files that used to end in a traceback, invisible characters in names. Each gets a
row-level or file-level message, and nothing half-written; on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import date

import pytest
from openpyxl import Workbook
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rosterfiles import reading as roster_module
from storage import Household, ImportReport, Member, households_page, import_roster
from storage.models import HouseholdChange
from tests.storage_fixtures import NOW, make_world
from tests.test_roster_import import HEAD_ID, SON_ID, VILLAGE, WIFE_ID

pytest_plugins = ("tests.storage_fixtures",)

Maker = async_sessionmaker[AsyncSession]
HEADER = ["村", "户编号", "户主姓名", "身份证号", "与户主关系", "姓名"]
FAMILY = [
    [VILLAGE, "101", "钱多多", HEAD_ID, "户主", "钱多多"],
    [VILLAGE, "101", "钱多多", WIFE_ID, "配偶", "孙小美"],
    [VILLAGE, "101", "钱多多", SON_ID, "之子", "钱小宝"],
]


@pytest.fixture(params=["sqlite", "postgres"])
def maker(request: pytest.FixtureRequest) -> Maker:
    """A session factory on a migrated SQLite file, then on a fresh PostgreSQL database."""
    found: Maker = request.getfixturevalue(f"{request.param}_maker")
    return found


async def imported(maker: Maker, content: str | bytes) -> ImportReport:
    async with maker.begin() as s:
        return await import_roster(s, content, NOW)


async def members(maker: Maker) -> dict[str, bool]:
    """The members of the households these tests import (numbers 101 to 104)."""
    async with maker() as s:
        found = await s.scalars(
            select(Member)
            .join(Household, Household.id == Member.household_id)
            .where(Household.number.in_(["101", "102", "103", "104"]))
        )
        return {m.name: m.active for m in found}


def csv_text(rows: list[list[str]], header: list[str] = HEADER) -> str:
    return "\n".join(",".join(row) for row in [header, *rows]) + "\n"


def xlsx(rows: list[list[str]], dimension: str | None = None) -> bytes:
    """A workbook of these rows; with `dimension`, its sheet claims that range."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in [HEADER, *rows]:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    if dimension is None:
        return buffer.getvalue()
    return rewritten(
        buffer.getvalue(),
        "xl/worksheets/sheet1.xml",
        lambda xml: re.sub(
            rb'<dimension ref="[^"]*"', f'<dimension ref="{dimension}"'.encode(), xml
        ),
    )


def rewritten(raw: bytes, part: str, change: object) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(raw)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == part:
                data = change(data)  # type: ignore[operator]
            target.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def file_error(report: ImportReport) -> str:
    assert report.added_households == report.updated_households == 0, report
    (error,) = report.errors
    assert error.line in (0, 1) or error.reason_message_id.startswith("Line"), error
    return error.reason_message_id


# ---------------------------------------------------------------- the sheet's <dimension>


async def test_a_sheet_claiming_fewer_rows_than_it_has_imports_them_all(maker: Maker) -> None:
    async with maker.begin() as s:
        await make_world(s)
    first = await imported(maker, csv_text(FAMILY))
    assert first.added_households == 1 and first.members_added == 3
    report = await imported(maker, xlsx(FAMILY, dimension="A1:F2"))
    assert report.errors == [] and report.members_removed == 0 and report.unchanged == 1
    assert await members(maker) == {"钱多多": True, "孙小美": True, "钱小宝": True}


async def test_a_sheet_claiming_one_cell_is_read_whole(sqlite_maker: Maker) -> None:
    async with sqlite_maker.begin() as s:
        await make_world(s)
    report = await imported(sqlite_maker, xlsx(FAMILY, dimension="A1"))
    assert report.errors == [] and report.members_added == 3


async def test_a_sheet_claiming_the_whole_grid_reads_only_its_rows(sqlite_maker: Maker) -> None:
    async with sqlite_maker.begin() as s:
        await make_world(s)
    report = await imported(sqlite_maker, xlsx(FAMILY, dimension="A1:XFD1048576"))
    assert report.errors == [] and report.members_added == 3


# ---------------------------------------------------------------- limits


async def test_a_workbook_that_unpacks_too_large_is_refused(
    sqlite_maker: Maker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(roster_module, "MAX_XLSX_UNPACKED", 64 * 1024)
    padded = rewritten(xlsx(FAMILY), "xl/worksheets/sheet1.xml", lambda xml: xml + b" " * 200_000)
    assert len(padded) < 20_000
    message = file_error(await imported(sqlite_maker, padded))
    assert message.startswith("The file unpacks to more than")


async def test_a_huge_table_of_texts_is_refused(
    sqlite_maker: Maker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(roster_module, "MAX_SHARED_STRINGS", 64 * 1024)
    strings = b'<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    strings += b"<si><t>x</t></si>" * 20_000 + b"</sst>"
    workbook = xlsx(FAMILY)
    with zipfile.ZipFile(io.BytesIO(workbook)) as archive:
        names = archive.namelist()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(workbook)) as source, zipfile.ZipFile(out, "w") as target:
        for name in names:
            target.writestr(name, source.read(name), compress_type=zipfile.ZIP_DEFLATED)
        target.writestr("xl/sharedStrings.xml", strings, compress_type=zipfile.ZIP_DEFLATED)
    message = file_error(await imported(sqlite_maker, out.getvalue()))
    assert message.startswith("The file's table of texts")


async def test_too_many_rows_are_refused_and_nothing_is_written(
    sqlite_maker: Maker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(roster_module, "MAX_ROWS", 2)
    message = file_error(await imported(sqlite_maker, csv_text(FAMILY)))
    assert message.startswith("The file has more than {count} rows")
    assert await members(sqlite_maker) == {}


async def test_a_row_of_twenty_thousand_columns_reads_the_first_ones(sqlite_maker: Maker) -> None:
    async with sqlite_maker.begin() as s:
        await make_world(s)
    wide = [[*row, *(["x"] * 20_000)] for row in FAMILY]
    report = await imported(sqlite_maker, csv_text(wide))
    assert report.errors == [] and report.members_added == 3


# ---------------------------------------------------------------- broken files


async def test_a_workbook_without_sheets_gets_a_message(sqlite_maker: Maker) -> None:
    no_sheets = rewritten(
        xlsx(FAMILY),
        "xl/workbook.xml",
        lambda xml: re.sub(rb"<sheets>.*</sheets>", b"<sheets/>", xml, flags=re.S),
    )
    message = file_error(await imported(sqlite_maker, no_sheets))
    assert message in ("The file has no sheet.", "The file is not a CSV or XLSX roster.")


async def test_a_field_over_128_kib_gets_its_line(sqlite_maker: Maker) -> None:
    text = csv_text(FAMILY) + f'{VILLAGE},102,"{"长" * 140_000}",,户主,某某\n'
    report = await imported(sqlite_maker, text)
    assert [(e.line, e.reason_message_id[:6]) for e in report.errors] == [(0, "Line {")]
    assert report.errors[0].params == {"line": 5}


async def test_utf16_without_bom_is_read(sqlite_maker: Maker) -> None:
    async with sqlite_maker.begin() as s:
        await make_world(s)
    report = await imported(sqlite_maker, csv_text(FAMILY).encode("utf-16-le"))
    assert report.errors == [] and report.members_added == 3


async def test_a_cell_longer_than_its_column_is_refused_by_line(maker: Maker) -> None:
    async with maker.begin() as s:
        await make_world(s)
    rows = [*FAMILY, [VILLAGE, "102", "赵" * 150, "", "户主", "赵" * 150]]
    report = await imported(maker, csv_text(rows))
    assert report.members_added == 3
    assert [(e.line, e.column, e.params) for e in report.errors] == [
        (5, "户主姓名", {"count": 100})
    ]


async def test_a_nul_byte_is_dropped(maker: Maker) -> None:
    async with maker.begin() as s:
        await make_world(s)
    rows = [[VILLAGE, "101", "钱\x00多多", HEAD_ID, "户主", "钱\x00多多"]]
    report = await imported(maker, csv_text(rows))
    assert report.errors == [] and await members(maker) == {"钱多多": True}


# ---------------------------------------------------------------- invisible characters


async def test_invisible_characters_are_removed_and_the_original_kept(maker: Maker) -> None:
    async with maker.begin() as s:
        world = await make_world(s)
    written = "\u200b李\u200d四\u202e"
    rows = [
        [VILLAGE, "103", written, "", "户主", written],
        [VILLAGE, "104", "ＡＢＣ", "", "户主", "ＡＢＣ"],
    ]
    report = await imported(maker, csv_text(rows))
    assert report.errors == []
    async with maker() as s:
        page = await households_page(s, world.seed.village_code, "李四")
        assert [row.head_name for row in page.rows] == ["李四"]
        assert await s.scalar(select(Household.head_name).where(Household.number == "104")) == (
            "ABC"
        )
        history = await s.scalar(
            select(HouseholdChange.changes)
            .join(Household, Household.id == HouseholdChange.household_id)
            .where(Household.number == "103")
        )
    assert history is not None and history["as_written"] == {"李四": written}


def test_a_row_is_cleaned_cell_by_cell_whatever_its_cells_hold() -> None:
    """Rows are cleaned as one text for speed; a cell holding the separator that uses, a tab
    or a control character is still cleaned on its own."""
    from rosterfiles.reading import _CELL_BREAK, RowChecker

    checker = RowChecker(
        ["村", "户编号", "户主姓名", "与户主关系", "姓名", "联系电话"], date(2026, 1, 1)
    )
    plain = checker._clean_row([" 320705001001", "1\u200b05 ", "Ｗａｎｇ", "户主", "王\t五", ""])
    columns = ("村", "户编号", "户主姓名", "与户主关系", "姓名", "联系电话")
    assert [plain[c] for c in columns] == ["320705001001", "105", "Wang", "户主", "王\t五", ""]
    odd = checker._clean_row(["x", f"a{_CELL_BREAK}b", "\x00李", "户主", "王五"])
    assert [odd[c] for c in ("村", "户编号", "户主姓名", "姓名", "联系电话")] == [
        "x",
        f"a{_CELL_BREAK}b",
        "李",
        "王五",
        "",
    ]


# ---------------------------------------------------------------- large files


async def test_a_file_set_aside_on_disk_imports_whole_households(
    sqlite_maker: Maker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows wait on disk in buckets once there are many; a household whose rows are far
    apart in the file still arrives whole, and a second import changes nothing."""
    monkeypatch.setattr(roster_module, "SPOOL_CHUNK", 2)
    async with sqlite_maker.begin() as s:
        await make_world(s)
    rows = [[VILLAGE, f"2{n:02d}", f"户主{n}", "", "户主", f"户主{n}"] for n in range(40)]
    rows += [[VILLAGE, f"2{n:02d}", f"户主{n}", "", "之子", f"孩子{n}"] for n in range(40)]
    rows += [rows[0]]
    first = await imported(sqlite_maker, csv_text(rows))
    assert (first.added_households, first.members_added) == (40, 80)
    assert [(e.line, e.reason_message_id) for e in first.errors] == [
        (82, "This row repeats line {line}.")
    ]
    again = await imported(sqlite_maker, csv_text(rows[:80]))
    assert (again.unchanged, again.members_removed, again.errors) == (40, 0, [])
