"""The area tree from the national statistical division codes (统计用区划代码): a CSV or XLSX
of codes and names, levels and parents read from the codes; and the tree as a summary with the
households and users of each area."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from conversations.messages import N_
from rosterfiles.reading import RosterFileError, RowError, read_table
from storage.areas import codes_within
from storage.errors import StorageError
from storage.models import Area, Household, User

# Header names an office may use, first the official one.
CODE_NAMES = ("代码", "统计用区划代码", "区划代码", "code", "area code", "area_code")
NAME_NAMES = ("名称", "name", "area name", "area_name")
GROUP_NAMES = ("组", "村民小组", "group")

# A code's length decides its level; the full 12-digit form pads with zeros
# (320705000000 is the county 320705, 320705001000 the township 320705001).
LEVEL_BY_LENGTH = {6: "county", 9: "township", 12: "village"}
PARENT_LENGTH = {"township": 6, "village": 9}
NAME_LENGTH = 100

# Every reason a row can be refused for, as msgids the CLI translates.
MESSAGES = (
    N_("The column {column} is missing."),
    N_("The area code is missing."),
    N_(
        "{code} is not an area code: use 6 digits for a county, 9 for a township, 12 for a village."
    ),
    N_("The area name is missing."),
    N_("The name is longer than {limit} characters."),
    N_("The area {parent} above {code} is neither in the file nor in the database."),
    N_("The area {code} exists already at another level."),
    N_("The group {value} has no number."),
    N_("This row repeats line {line}."),
)


@dataclass(frozen=True)
class TopAreaOptions:
    """What is set on the top areas of an imported file (its counties, or the areas whose
    parent was there before): the province (省) thresholds are looked up by, the time zone,
    and the area settings (reminder schedule) inherited down the tree."""

    province: str | None = None
    timezone: str | None = None
    settings: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class AreaRow:
    line: int
    code: str
    name: str
    level: str
    parent: str | None


@dataclass
class AreaImportReport:
    """What an area import did; errors are RowError like the roster importer's."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    # Rows above a county (province, prefecture), left out: the tree starts at the county.
    skipped: int = 0
    errors: list[RowError] = field(default_factory=list)


def normalized_code(raw: str) -> str | None:
    """The short code (6, 9 or 12 digits) of a county, township or village; None for a code
    that is none of these. Rows above a county come back as ''."""
    text = raw.strip().replace(" ", "")
    if not text.isdigit() or not text.isascii():
        return None
    if len(text) == 12:
        if text.endswith("000000"):
            return "" if text[4:6] == "00" else text[:6]
        if text.endswith("000"):
            return text[:9]
        return text
    if len(text) in (2, 4):
        return ""
    if len(text) == 6 and text.endswith("00") and text[2:4] != "00":
        # 320700: a prefecture-level city (地级市) in the 6-digit scheme, above a county.
        # Counties end in 01–99; xx0000 and xxxx00 are a province or prefecture.
        return ""
    if len(text) == 6 and text[2:] == "0000":
        return ""
    return text if len(text) in LEVEL_BY_LENGTH else None


def _column(header: Sequence[str], names: Iterable[str]) -> int | None:
    wanted = {name.lower() for name in names}
    for index, cell in enumerate(header):
        if " ".join(str(cell).lower().replace("_", " ").split()) in wanted:
            return index
    return None


def _group_code(village: str, value: str) -> str | None:
    digits = re.search(r"\d+", value)
    return f"{village}{int(digits.group()):02d}" if digits else None


def read_area_rows(source: str | Path | bytes) -> tuple[list[AreaRow], AreaImportReport]:
    """The rows of an area file, checked one by one; reads the disk: call it in a thread."""
    report = AreaImportReport()
    try:
        table = read_table(source)
    except RosterFileError as error:
        report.errors.append(RowError(0, None, error.message_id, error.params))
        return [], report
    code_at = _column(table.header, CODE_NAMES)
    name_at = _column(table.header, NAME_NAMES)
    group_at = _column(table.header, GROUP_NAMES)
    for index, title in ((code_at, "代码"), (name_at, "名称")):
        if index is None:
            report.errors.append(
                RowError(1, title, "The column {column} is missing.", {"column": title})
            )
    if code_at is None or name_at is None:
        return [], report
    code_title, name_title = table.header[code_at], table.header[name_at]
    rows: list[AreaRow] = []
    seen: dict[str, int] = {}

    def cell(cells: Sequence[Any], index: int | None) -> str:
        if index is None or index >= len(cells):
            return ""
        return str(cells[index]).strip()

    for line, cells in table.rows:
        if not any(str(value).strip() for value in cells):
            continue
        raw_code, name = cell(cells, code_at), cell(cells, name_at)
        if not raw_code:
            report.errors.append(RowError(line, code_title, "The area code is missing."))
            continue
        code = normalized_code(raw_code)
        if code is None:
            report.errors.append(
                RowError(
                    line,
                    code_title,
                    "{code} is not an area code: use 6 digits for a county, 9 for a township, "
                    "12 for a village.",
                    {"code": raw_code},
                )
            )
            continue
        if code == "":
            report.skipped += 1
            continue
        if not name:
            report.errors.append(RowError(line, name_title, "The area name is missing."))
            continue
        if len(name) > NAME_LENGTH:
            report.errors.append(
                RowError(
                    line,
                    name_title,
                    "The name is longer than {limit} characters.",
                    {"limit": NAME_LENGTH},
                )
            )
            continue
        level = LEVEL_BY_LENGTH[len(code)]
        parent = code[: PARENT_LENGTH[level]] if level in PARENT_LENGTH else None
        group = cell(cells, group_at)
        if group and level == "village":
            group_code = _group_code(code, group)
            if group_code is None:
                report.errors.append(
                    RowError(
                        line,
                        table.header[group_at or 0],
                        "The group {value} has no number.",
                        {"value": group},
                    )
                )
                continue
            if code not in seen:
                seen[code] = line
                rows.append(AreaRow(line, code, name, level, parent))
            code, name, level, parent = group_code, group[:NAME_LENGTH], "group", code
        if code in seen:
            report.errors.append(
                RowError(line, code_title, "This row repeats line {line}.", {"line": seen[code]})
            )
            continue
        seen[code] = line
        rows.append(AreaRow(line, code, name, level, parent))
    return rows, report


def check_options(options: TopAreaOptions) -> None:
    """Refuse a time zone that does not exist before anything is written."""
    if options.timezone is not None:
        try:
            ZoneInfo(options.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise StorageError("Unknown time zone {zone}.", {"zone": options.timezone}) from None


async def import_areas(
    s: AsyncSession, source: str | Path | bytes, options: TopAreaOptions = TopAreaOptions()
) -> AreaImportReport:
    """Add or rename the areas of a file; a second import of the same file changes nothing.
    A row whose parent is neither in the file nor in the database is refused with its line.
    Flushes, never commits."""
    check_options(options)
    rows, report = await asyncio.to_thread(read_area_rows, source)
    codes = {row.code for row in rows} | {row.parent for row in rows if row.parent}
    existing: dict[str, Area] = {}
    ordered = sorted(codes)
    for start in range(0, len(ordered), 500):
        found = await s.scalars(select(Area).where(Area.code.in_(ordered[start : start + 500])))
        existing.update({area.code: area for area in found})
    accepted: set[str] = set()
    level_order = {"county": 0, "township": 1, "village": 2, "group": 3}
    for row in sorted(rows, key=lambda row: (level_order[row.level], row.line)):
        if row.parent is not None and row.parent not in accepted and row.parent not in existing:
            report.errors.append(
                RowError(
                    row.line,
                    None,
                    "The area {parent} above {code} is neither in the file nor in the database.",
                    {"parent": row.parent, "code": row.code},
                )
            )
            continue
        area = existing.get(row.code)
        top = row.parent is None or row.parent not in accepted
        if area is not None and area.level != row.level:
            report.errors.append(
                RowError(
                    row.line,
                    None,
                    "The area {code} exists already at another level.",
                    {"code": row.code},
                )
            )
            continue
        accepted.add(row.code)
        if area is None:
            area = Area(
                code=row.code,
                name=row.name,
                level=row.level,
                parent_code=row.parent,
                province=options.province if top else None,
                timezone=(options.timezone if top else None) or _inherited_zone(row, existing),
                settings=dict(options.settings or {}) if top else {},
            )
            s.add(area)
            existing[row.code] = area
            report.added += 1
            continue
        changed = _apply(area, row, options if top else TopAreaOptions())
        if changed:
            report.updated += 1
        else:
            report.unchanged += 1
    await s.flush()
    report.errors.sort(key=lambda error: error.line)
    return report


def _inherited_zone(row: AreaRow, existing: Mapping[str, Area]) -> str:
    parent = existing.get(row.parent) if row.parent else None
    return parent.timezone if parent is not None else "Asia/Shanghai"


def _apply(area: Area, row: AreaRow, options: TopAreaOptions) -> bool:
    changes: dict[str, Any] = {"name": row.name}
    if options.province is not None:
        changes["province"] = options.province
    if options.timezone is not None:
        changes["timezone"] = options.timezone
    if options.settings is not None:
        changes["settings"] = {**(area.settings or {}), **options.settings}
    changed = False
    for name, value in changes.items():
        if getattr(area, name) != value:
            setattr(area, name, value)
            changed = True
    return changed


@dataclass(frozen=True)
class AreaSummary:
    """One line of the tree: an area, its depth below the listed root, and the households and
    users in it and below it."""

    code: str
    name: str
    level: str
    depth: int
    households: int
    users: int


async def area_tree(s: AsyncSession, code: str | None = None) -> list[AreaSummary]:
    """The tree below `code` (every root without it), depth first, with counts per subtree."""
    query = select(Area.code, Area.name, Area.level, Area.parent_code)
    if code is not None:
        query = query.where(Area.code.in_(codes_within(code)))
    areas = {row.code: row for row in await s.execute(query)}
    household_query = select(Household.village_code, func.count()).group_by(Household.village_code)
    user_query = (
        select(User.area_code, func.count()).where(User.active.is_(True)).group_by(User.area_code)
    )
    if code is not None:
        household_query = household_query.where(Household.village_code.in_(codes_within(code)))
        user_query = user_query.where(User.area_code.in_(codes_within(code)))
    households: dict[str, int] = {
        village: count for village, count in await s.execute(household_query)
    }
    users: dict[str, int] = {area: count for area, count in await s.execute(user_query)}
    children: dict[str | None, list[str]] = {}
    for area in areas.values():
        parent = area.parent_code if area.parent_code in areas else None
        children.setdefault(parent, []).append(area.code)
    lines: list[AreaSummary] = []

    def walk(area_code: str, depth: int) -> tuple[int, int]:
        index = len(lines)
        lines.append(AreaSummary(area_code, "", "", depth, 0, 0))
        total_households = households.get(area_code, 0)
        total_users = users.get(area_code, 0)
        for child in sorted(children.get(area_code, [])):
            below = walk(child, depth + 1)
            total_households += below[0]
            total_users += below[1]
        area = areas[area_code]
        lines[index] = AreaSummary(
            area_code, area.name, area.level, depth, total_households, total_users
        )
        return total_households, total_users

    for root in sorted(children.get(None, [])):
        walk(root, 0)
    return lines
