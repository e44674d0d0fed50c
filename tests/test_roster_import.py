"""Roster import (花名册导入): CSV and XLSX, Chinese and English headers, the encodings offices
use, ID numbers checked, bad rows reported by line and column, re-imports idempotent and
changes kept in the household's history."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cli import main as hucha
from bot.i18n import Translator
from rosterfiles.id_numbers import check_id_number, id_number_check_digit, mask_id_number
from rosterfiles.reading import MESSAGES
from storage import Household, ImportReport, Member, add_area, import_roster
from storage.models import HouseholdChange
from tests.storage_fixtures import NOW, World, make_world

pytest_plugins = ("tests.storage_fixtures",)

Maker = async_sessionmaker[AsyncSession]
VILLAGE = "320705001001"
OTHER_VILLAGE = "320705001002"
TODAY = NOW.date()


def id_number(born: date, sequence: int, male: bool = True, area: str = "320705") -> str:
    """A well-formed resident ID number (made up): area, birth date, sequence, check digit."""
    digit = (sequence * 2 + (1 if male else 0)) % 10
    first17 = f"{area}{born:%Y%m%d}{sequence % 100:02d}{digit}"
    return first17 + id_number_check_digit(first17)


HEAD_ID = id_number(date(1980, 1, 1), 1)
WIFE_ID = id_number(date(1982, 3, 4), 2, male=False)
SON_ID = id_number(date(2015, 9, 1), 3)

ROSTER = (
    "村,组,户编号,户主姓名,身份证号,与户主关系,姓名,性别,出生日期,健康状况,在校生状况,户类型,帮扶责任人,联系电话\n"
    f"{VILLAGE},一组,101,钱多多,{HEAD_ID},户主,钱多多,男,,健康,,脱贫户,李卫东,13800138000\n"
    f"{VILLAGE},一组,101,钱多多,{WIFE_ID},配偶,孙小美,,1982-03-04,长期慢性病,,,,\n"
    f"{VILLAGE},一组,101,钱多多,{SON_ID},之子,钱小宝,,,健康,在校,,,\n"
    f"{OTHER_VILLAGE},三组,201,马大哈,,户主,马大哈,男,1970/7/7,健康,,一般户,王芳,\n"
)


async def world_in(maker: Maker) -> World:
    async with maker.begin() as s:
        return await make_world(s)


async def import_text(
    maker: Maker,
    text: str | bytes,
    user_id: int | None = None,
    within: str | None = None,
    source_name: str | None = None,
) -> ImportReport:
    async with maker.begin() as s:
        return await import_roster(
            s, text, NOW, user_id=user_id, within=within, source_name=source_name
        )


# ---------------------------------------------------------------- ID numbers


@given(
    born=st.dates(min_value=date(1900, 1, 1), max_value=date(2024, 12, 31)),
    sequence=st.integers(0, 99),
    male=st.booleans(),
)
def test_well_formed_id_numbers_are_accepted_with_birth_date_and_sex(
    born: date, sequence: int, male: bool
) -> None:
    text = id_number(born, sequence, male)
    checked = check_id_number(text.lower(), TODAY)
    assert not isinstance(checked, tuple)
    assert (checked.text, checked.birth_date, checked.sex) == (text, born, "男" if male else "女")


@given(
    born=st.dates(min_value=date(1900, 1, 1), max_value=date(2024, 12, 31)),
    position=st.integers(0, 16),
    delta=st.integers(1, 9),
)
def test_a_mistyped_digit_is_caught(born: date, position: int, delta: int) -> None:
    good = id_number(born, 7)
    digit = str((int(good[position]) + delta) % 10)
    bad = good[:position] + digit + good[position + 1 :]
    assert isinstance(check_id_number(bad, TODAY), tuple)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("32070519800101", "The ID number must have 18 characters, not {count}."),
        ("3207051980010100AX", "The ID number may only hold digits and a final X."),
        ("320705198013010011", "The ID number holds no valid birth date."),
        ("320705209901010011", "The ID number holds no valid birth date."),
        (
            HEAD_ID[:17] + ("0" if HEAD_ID[17] != "0" else "1"),
            "The ID number's check digit is wrong.",
        ),
        (
            "3.20705198001011E+17",
            "The ID number was saved as a number and lost its last digits; "
            "format the column as text.",
        ),
    ],
)
def test_bad_id_numbers_say_why(text: str, reason: str) -> None:
    checked = check_id_number(text, TODAY)
    assert isinstance(checked, tuple) and checked[0] == reason


def test_id_numbers_are_masked_to_first_six_and_last_four() -> None:
    assert mask_id_number(HEAD_ID) == HEAD_ID[:6] + "********" + HEAD_ID[-4:]
    assert mask_id_number(None) == "" and mask_id_number("123") == "***"


# ---------------------------------------------------------------- importing


async def test_roster_fills_households_and_members_with_derived_dates_and_sex(
    sqlite_maker: Maker,
) -> None:
    await world_in(sqlite_maker)
    report = await import_text(sqlite_maker, ROSTER)
    assert report.errors == []
    assert (report.added_households, report.members_added) == (2, 4)
    async with sqlite_maker() as s:
        household = await s.scalar(select(Household).where(Household.number == "101"))
        assert household is not None
        assert (
            household.head_name,
            household.head_id_number,
            household.group_name,
            household.household_type,
            household.help_cadre,
            household.phone,
        ) == ("钱多多", HEAD_ID, "一组", "脱贫户", "李卫东", "13800138000")
        members = list(
            await s.scalars(
                select(Member).where(Member.household_id == household.id).order_by(Member.id)
            )
        )
        assert [(m.name, m.sex, m.birth_date, m.health, m.schooling) for m in members] == [
            ("钱多多", "男", date(1980, 1, 1), "健康", None),
            ("孙小美", "女", date(1982, 3, 4), "长期慢性病", None),
            ("钱小宝", "男", date(2015, 9, 1), "健康", "在校"),
        ]
        history = list(await s.scalars(select(HouseholdChange).order_by(HouseholdChange.id)))
        assert (history[0].action, history[0].changes["members_added"]) == (
            "added",
            ["钱多多", "孙小美", "钱小宝"],
        )


BAD = (
    "村,户编号,户主姓名,身份证号,与户主关系,姓名,性别,出生日期,户类型,联系电话\n"
    "999999999999,301,无名,,户主,无名,,,,\n"  # 2 unknown village
    ",302,某,,户主,某,,,,\n"  # 3 no village
    f"{VILLAGE},,赵某,,户主,赵某,,,,\n"  # 4 no household number
    f"{VILLAGE},303,何某,,户主,,,,,\n"  # 5 no name
    f"{VILLAGE},304,冯某,,户主,冯某,,1990-13-01,,\n"  # 6 bad date
    "320705001,305,镇上,,户主,镇上,,,,\n"  # 7 a township, not a village
    f"{VILLAGE},306,陈某,3207051980010100,户主,陈某,,,,\n"  # 8 short ID
    f"{VILLAGE},307,褚某,{HEAD_ID[:17]}{'1' if HEAD_ID[17] != '1' else '2'},户主,褚某,,,,\n"  # 9
    f"{VILLAGE},308,卫某,{HEAD_ID},户主,卫某,,1981-01-01,,\n"  # 10 date differs from ID
    f"{VILLAGE},309,蒋某,{WIFE_ID},户主,蒋某,男,,,\n"  # 11 sex differs from ID
    f"{VILLAGE},310,沈某,,户主,沈某,未知,,,\n"  # 12 unknown sex
    f"{VILLAGE},311,韩某,,户主,韩某,,,贫困户,\n"  # 13 unknown household type
    f"{VILLAGE},312,杨某,,户主,杨某,,,,电话号码\n"  # 14 bad phone
    f"{VILLAGE},313,朱某,{SON_ID},户主,朱某,,,,\n"  # 15 good
    f"{VILLAGE},314,秦某,{SON_ID},户主,秦某,,,,\n"  # 16 ID seen on line 15
    f"{VILLAGE},313,朱某,{SON_ID},户主,朱某,,,,\n"  # 17 repeats line 15 (ID seen first)
    f"{VILLAGE},315,,,之子,尤小,,,,\n"  # 18 no head in household 315
    "\n"
    f"{VILLAGE},316,许某,,户主,许某,女,1975-05-05,监测户,0518-85882331\n"  # 20 good
)


async def test_every_kind_of_bad_row_is_reported_with_line_column_and_reason(
    sqlite_maker: Maker,
) -> None:
    await world_in(sqlite_maker)
    report = await import_text(sqlite_maker, BAD)
    found = [(e.line, e.column, e.reason_message_id) for e in report.errors]
    assert found == [
        (2, "村", "Unknown village code {code}."),
        (3, "村", "The village code is missing."),
        (4, "户编号", "The household number is missing."),
        (5, "姓名", "The member's name is missing."),
        (6, "出生日期", "Bad date {value}."),
        (7, "村", "{code} is not a village."),
        (8, "身份证号", "The ID number must have 18 characters, not {count}."),
        (9, "身份证号", "The ID number's check digit is wrong."),
        (10, "出生日期", "The birth date {value} does not match the ID number."),
        (11, "性别", "The sex {value} does not match the ID number."),
        (12, "性别", "Unknown sex {value}: use 男 or 女."),
        (13, "户类型", "Unknown household type {value}: use 脱贫户, 监测户 or 一般户."),
        (14, "联系电话", "Bad phone number {value}."),
        (16, "身份证号", "The ID number also appears on line {line}."),
        (17, "身份证号", "The ID number also appears on line {line}."),
        (18, "户主姓名", "The head of household {number} is missing."),
    ]
    assert report.errors[0].params == {"code": "999999999999"}
    assert report.errors[13].params == {"line": 15}
    assert report.rejected_rows == 16
    assert report.added_households == 2
    async with sqlite_maker() as s:
        numbers = await s.scalars(
            select(Household.number).where(Household.number.in_(["313", "316"]))
        )
        assert sorted(numbers) == ["313", "316"]


async def test_missing_columns_and_unreadable_files_refuse_the_whole_file(
    sqlite_maker: Maker, tmp_path: Path
) -> None:
    await world_in(sqlite_maker)
    report = await import_text(sqlite_maker, "姓名,性别\n张三,男\n")
    assert [(e.line, e.column) for e in report.errors] == [(1, "村"), (1, "户编号")]
    missing = await import_text(sqlite_maker, str(tmp_path / "nothing.csv"))
    assert [e.line for e in missing.errors] == [0]
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04 not really a workbook")
    report = await import_text(sqlite_maker, broken.read_bytes())
    assert [e.reason_message_id for e in report.errors] == ["The file is not a CSV or XLSX roster."]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
async def test_roster_encodings_seen_in_offices_all_work(
    sqlite_maker: Maker, encoding: str
) -> None:
    await world_in(sqlite_maker)
    report = await import_text(sqlite_maker, ROSTER.encode(encoding))
    assert report.errors == [] and report.added_households == 2
    async with sqlite_maker() as s:
        assert await s.scalar(select(Member.name).where(Member.id_number == WIFE_ID)) == "孙小美"


async def test_english_headers_and_one_row_per_household_work(sqlite_maker: Maker) -> None:
    await world_in(sqlite_maker)
    text = (
        "Village code,Group,Household number,Head name,ID number,Household type,Phone\n"
        f"{VILLAGE},2,401,周大福,{HEAD_ID},monitored,13900000000\n"
        f"{VILLAGE},2,402,吴小姐,,ordinary,\n"
    )
    report = await import_text(sqlite_maker, text)
    assert report.errors == [] and report.added_households == 2
    async with sqlite_maker() as s:
        household = await s.scalar(select(Household).where(Household.number == "401"))
        assert household is not None and household.household_type == "监测户"
        head = await s.scalar(select(Member).where(Member.household_id == household.id))
        assert head is not None
        assert (head.name, head.relation, head.birth_date) == ("周大福", "户主", date(1980, 1, 1))


def roster_workbook(rows: list[list[object]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


async def test_xlsx_roster_with_date_cells_and_an_id_number_saved_as_a_number(
    sqlite_maker: Maker,
) -> None:
    await world_in(sqlite_maker)
    text_id = id_number(date(1990, 2, 3), 5)
    data = roster_workbook(
        [
            ["村", "户编号", "户主姓名", "身份证号", "与户主关系", "姓名", "出生日期"],
            [int(VILLAGE), 501, "郑一", text_id, "户主", "郑一", None],
            [int(VILLAGE), 501, "郑一", None, "之女", "郑二", date(2012, 6, 1)],
            # Excel keeps 15 significant digits of a number: the ID number is lost.
            [int(VILLAGE), 502, "王三", int(text_id), "户主", "王三", None],
        ]
    )
    report = await import_text(sqlite_maker, data, source_name="roster.xlsx")
    assert [(e.line, e.column) for e in report.errors] == [(4, "身份证号")]
    async with sqlite_maker() as s:
        born = await s.scalars(
            select(Member.birth_date).where(Member.name.in_(["郑一", "郑二"])).order_by(Member.id)
        )
        assert list(born) == [date(1990, 2, 3), date(2012, 6, 1)]


async def test_importing_the_same_file_twice_changes_nothing(sqlite_maker: Maker) -> None:
    await world_in(sqlite_maker)
    await import_text(sqlite_maker, ROSTER)
    again = await import_text(sqlite_maker, ROSTER.encode("gb18030"))
    assert (again.added_households, again.updated_households, again.unchanged) == (0, 0, 2)
    assert (again.members_added, again.members_updated, again.members_removed) == (0, 0, 0)
    async with sqlite_maker() as s:
        assert (await s.scalar(select(func.count(Member.id))) or 0) >= 4
        changes = await s.scalar(select(func.count(HouseholdChange.id)))
        assert changes == 2  # the two "added" entries, nothing more


async def test_a_changed_roster_updates_households_and_keeps_the_history(
    sqlite_maker: Maker,
) -> None:
    world = await world_in(sqlite_maker)
    await import_text(sqlite_maker, ROSTER)
    changed = (
        ROSTER.replace("脱贫户,李卫东,13800138000", "监测户,李卫东,13900139000")
        .replace(f"{SON_ID},之子,钱小宝,,,健康,在校", f"{SON_ID},之子,钱小宝,,,患有大病,休学")
        .replace(
            f"{VILLAGE},一组,101,钱多多,{WIFE_ID},配偶,孙小美,,1982-03-04,长期慢性病,,,,\n", ""
        )
    )
    report = await import_text(sqlite_maker, changed, user_id=world.leader.id)
    assert (report.updated_households, report.unchanged) == (1, 1)
    assert (report.members_updated, report.members_removed) == (1, 1)
    async with sqlite_maker() as s:
        household = await s.scalar(select(Household).where(Household.number == "101"))
        assert household is not None
        assert (household.household_type, household.phone) == ("监测户", "13900139000")
        wife = await s.scalar(select(Member).where(Member.id_number == WIFE_ID))
        assert wife is not None and wife.active is False
        entry = await s.scalar(
            select(HouseholdChange).where(
                HouseholdChange.household_id == household.id, HouseholdChange.action == "updated"
            )
        )
        assert entry is not None and entry.user_id == world.leader.id
        assert entry.changes == {
            "fields": {
                "household_type": ["脱贫户", "监测户"],
                "phone": ["13800138000", "13900139000"],
            },
            "members_updated": {
                "钱小宝": {"health": ["健康", "患有大病"], "schooling": ["在校", "休学"]}
            },
            "members_removed": ["孙小美"],
        }
    # The wife comes back: she is active again, not a new member.
    report = await import_text(sqlite_maker, ROSTER)
    assert (report.members_added, report.members_updated) == (0, 2)


async def test_an_office_cannot_import_villages_outside_its_area(sqlite_maker: Maker) -> None:
    await world_in(sqlite_maker)
    async with sqlite_maker.begin() as s:
        await add_area(s, "320706", "别县", "county")
        await add_area(s, "320706001", "别镇", "township", parent_code="320706")
        await add_area(s, "320706001001", "别村", "village", parent_code="320706001")
    text = ROSTER + "320706001001,,601,外人,,户主,外人,,,,,,,\n"
    report = await import_text(sqlite_maker, text, within="320705001")
    assert [(e.line, e.reason_message_id) for e in report.errors] == [
        (6, "The village {code} lies outside your area.")
    ]
    assert report.added_households == 2


# ---------------------------------------------------------------- the command line


def test_import_roster_command_reports_in_chinese_by_default_and_english_on_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    roster = tmp_path / "roster.csv"
    roster.write_bytes(BAD.encode("gb18030"))
    # No areas yet: every village is unknown.
    assert hucha(["--database-url", url, "import-roster", str(roster)]) == 1
    chinese = capsys.readouterr().out
    assert "新增" in chinese and "第 2 行" in chinese and "未知的村代码 999999999999" in chinese
    assert hucha(["--database-url", url, "import-roster", str(roster), "--lang", "en"]) == 1
    english = capsys.readouterr().out
    assert "Line 2, column 村: Unknown village code 999999999999." in english
    assert hucha(["--database-url", url, "import-roster", str(tmp_path / "none.csv")]) == 2


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_every_import_message_is_translated(lang: str) -> None:
    t = Translator()
    for message in MESSAGES:
        params = {
            name: "x" for name in ("reason", "column", "code", "value", "count", "line", "number")
        }
        text = t(lang, message, **params)
        if lang == "zh_CN":
            assert text != message.format(**params), message


def test_a_roster_column_is_as_long_as_the_database_column_it_fills() -> None:
    from rosterfiles import reading

    filled = {
        reading.VILLAGE: Household.village_code,
        reading.GROUP: Household.group_name,
        reading.NUMBER: Household.number,
        reading.HEAD_NAME: Household.head_name,
        reading.ID_NUMBER: Member.id_number,
        reading.RELATION: Member.relation,
        reading.NAME: Member.name,
        reading.SEX: Member.sex,
        reading.HEALTH: Member.health,
        reading.SCHOOLING: Member.schooling,
        reading.HELP_CADRE: Household.help_cadre,
        reading.PHONE: Household.phone,
    }
    assert dict(reading.COLUMN_LIMITS) == {
        name: column.type.length  # type: ignore[attr-defined]
        for name, column in filled.items()
    }
