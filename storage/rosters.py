"""Household roster import (花名册导入) from CSV: one row per member, upserted by village and
roster number (户编号), bad rows reported by line while good rows go in."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.audit import audit
from storage.models import HEAD_RELATION, Area, Household, Member

VILLAGE = "村"
NUMBER = "户编号"
HEAD_NAME = "户主姓名"
ID_NUMBER = "身份证号"
RELATION = "与户主关系"
NAME = "姓名"
BIRTH_DATE = "出生日期"
REQUIRED_COLUMNS = (VILLAGE, NUMBER, NAME)

_DATE_PATTERNS = (
    re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日?$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
)


@dataclass(frozen=True)
class RowError:
    """A row left out: its line in the file (the header is line 1; 0 is the file as a whole),
    the column at fault, and why, as an English msgid with `{name}` placeholders filled from
    `params`."""

    line: int
    column: str | None
    reason_message_id: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ImportReport:
    added_households: int
    updated_households: int
    unchanged: int
    members_added: int
    errors: list[RowError]
    members_updated: int = 0


@dataclass(frozen=True)
class _MemberRow:
    line: int
    village_code: str
    number: str
    head_name: str
    id_number: str | None
    relation: str
    name: str
    birth_date: date | None


def parse_birth_date(text: str) -> date | None:
    """A date as offices type it: 2010-05-03, 2010/5/3, 2010.5.3, 20100503, 2010年5月3日."""
    for pattern in _DATE_PATTERNS:
        match = pattern.match(text)
        if match:
            year, month, day = (int(part) for part in match.groups())
            try:
                return date(year, month, day)
            except ValueError:
                return None
    return None


def _csv_text(path_or_text: str | Path | bytes) -> str:
    """The CSV's text. A Path, or a str without a line break, names a file; a str with line
    breaks is the CSV itself. Reads the disk: call it in a worker thread."""
    if isinstance(path_or_text, str) and "\n" in path_or_text:
        return path_or_text.removeprefix("\ufeff")
    raw = path_or_text if isinstance(path_or_text, bytes) else Path(path_or_text).read_bytes()
    return raw.decode("utf-8-sig")


class _RowReader:
    """Checks one CSV row at a time against the areas, remembering what it looked up."""

    def __init__(self, s: AsyncSession) -> None:
        self._s = s
        self._villages: dict[str, bool] = {}

    async def _is_village(self, code: str) -> bool | None:
        if code not in self._villages:
            area = await self._s.get(Area, code)
            if area is None:
                return None
            self._villages[code] = area.level == "village"
        return self._villages[code]

    async def read(self, line: int, cells: Mapping[str, str]) -> _MemberRow | RowError:
        village_code = cells.get(VILLAGE, "")
        if not village_code:
            return RowError(line, VILLAGE, "The village code is missing.")
        is_village = await self._is_village(village_code)
        if is_village is None:
            return RowError(line, VILLAGE, "Unknown village code {code}.", {"code": village_code})
        if not is_village:
            return RowError(line, VILLAGE, "{code} is not a village.", {"code": village_code})
        number = cells.get(NUMBER, "")
        if not number:
            return RowError(line, NUMBER, "The household number is missing.")
        name = cells.get(NAME, "")
        if not name:
            return RowError(line, NAME, "The member's name is missing.")
        birth_text = cells.get(BIRTH_DATE, "")
        birth_date = parse_birth_date(birth_text) if birth_text else None
        if birth_text and birth_date is None:
            return RowError(line, BIRTH_DATE, "Bad date {value}.", {"value": birth_text})
        return _MemberRow(
            line=line,
            village_code=village_code,
            number=number,
            head_name=cells.get(HEAD_NAME, ""),
            id_number=cells.get(ID_NUMBER, "").upper() or None,
            relation=cells.get(RELATION, ""),
            name=name,
            birth_date=birth_date,
        )


@dataclass
class _Tally:
    added_households: int = 0
    updated_households: int = 0
    unchanged: int = 0
    members_added: int = 0
    members_updated: int = 0
    errors: list[RowError] = field(default_factory=list)

    def report(self) -> ImportReport:
        return ImportReport(
            added_households=self.added_households,
            updated_households=self.updated_households,
            unchanged=self.unchanged,
            members_added=self.members_added,
            errors=sorted(self.errors, key=lambda error: error.line),
            members_updated=self.members_updated,
        )


def _matching_member(members: list[Member], row: _MemberRow) -> Member | None:
    """The member a row describes: same ID number, else same name without a conflicting one."""
    if row.id_number:
        for member in members:
            if member.id_number == row.id_number:
                return member
    for member in members:
        if member.name == row.name and (
            not row.id_number or not member.id_number or member.id_number == row.id_number
        ):
            return member
    return None


def _update_member(member: Member, row: _MemberRow) -> bool:
    """Copy what the row says onto the member; whether anything changed."""
    changed = False
    if row.relation and member.relation != row.relation:
        member.relation = row.relation
        changed = True
    if row.id_number and member.id_number != row.id_number:
        member.id_number = row.id_number
        changed = True
    if row.birth_date and member.birth_date != row.birth_date:
        member.birth_date = row.birth_date
        changed = True
    if not member.active:
        member.active = True
        changed = True
    return changed


async def _import_household(
    s: AsyncSession, rows: list[_MemberRow], now: datetime, tally: _Tally
) -> None:
    first = rows[0]
    head_row = next((row for row in rows if row.relation == HEAD_RELATION), None)
    head_name = next((row.head_name for row in rows if row.head_name), "")
    head_name = head_name or (head_row.name if head_row else "")
    if not head_name:
        tally.errors.append(
            RowError(
                first.line,
                HEAD_NAME,
                "The head of household {number} is missing.",
                {"number": first.number},
            )
        )
        return
    head_id_number = head_row.id_number if head_row else None

    household = await s.scalar(
        select(Household).where(
            Household.village_code == first.village_code, Household.number == first.number
        )
    )
    is_new = household is None
    if household is None:
        household = Household(
            village_code=first.village_code,
            number=first.number,
            head_name=head_name,
            head_id_number=head_id_number,
            created_at=now,
            updated_at=now,
        )
        s.add(household)
        await s.flush()
        members: list[Member] = []
        changed = True
    else:
        members = list(
            await s.scalars(
                select(Member).where(Member.household_id == household.id).order_by(Member.id)
            )
        )
        changed = False
        if household.head_name != head_name:
            household.head_name = head_name
            changed = True
        if head_id_number and household.head_id_number != head_id_number:
            household.head_id_number = head_id_number
            changed = True

    for row in rows:
        member = _matching_member(members, row)
        if member is None:
            member = Member(
                household_id=household.id,
                name=row.name,
                relation=row.relation,
                id_number=row.id_number,
                birth_date=row.birth_date,
                active=True,
            )
            s.add(member)
            members.append(member)
            tally.members_added += 1
            changed = True
        elif _update_member(member, row):
            tally.members_updated += 1
            changed = True

    if is_new:
        tally.added_households += 1
    elif changed:
        household.updated_at = now
        tally.updated_households += 1
    else:
        tally.unchanged += 1
    await s.flush()


async def import_roster_csv(
    s: AsyncSession, path_or_text: str | Path | bytes, now: datetime
) -> ImportReport:
    """Import a roster CSV (UTF-8, BOM or not) with the columns 村 (village area code), 户编号,
    户主姓名, 身份证号, 与户主关系, 姓名, 出生日期; one row per member, the head's with 与户主关系
    = 户主. Importing the same file twice changes nothing."""
    tally = _Tally()
    try:
        text = await asyncio.to_thread(_csv_text, path_or_text)
    except UnicodeDecodeError:
        tally.errors.append(RowError(0, None, "The file is not UTF-8 text."))
        return tally.report()
    except OSError as error:
        tally.errors.append(
            RowError(0, None, "The file cannot be read: {reason}", {"reason": error.strerror})
        )
        return tally.report()

    reader = csv.reader(io.StringIO(text))
    header = [cell.strip().removeprefix("\ufeff") for cell in next(reader, [])]
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if missing:
        tally.errors.extend(
            RowError(1, column, "The column {column} is missing.", {"column": column})
            for column in missing
        )
        return tally.report()

    rows_of: dict[tuple[str, str], list[_MemberRow]] = {}
    row_reader = _RowReader(s)
    line_end = reader.line_num
    for cells in reader:
        line, line_end = line_end + 1, reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        named = {column: cell.strip() for column, cell in zip(header, cells, strict=False)}
        row = await row_reader.read(line, named)
        if isinstance(row, RowError):
            tally.errors.append(row)
            continue
        rows_of.setdefault((row.village_code, row.number), []).append(row)

    for rows in rows_of.values():
        await _import_household(s, rows, now, tally)

    report = tally.report()
    await audit(
        s,
        "roster.imported",
        "roster",
        now,
        details={
            "added_households": report.added_households,
            "updated_households": report.updated_households,
            "unchanged": report.unchanged,
            "members_added": report.members_added,
            "members_updated": report.members_updated,
            "errors": len(report.errors),
        },
    )
    return report
