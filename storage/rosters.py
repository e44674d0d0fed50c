"""Household roster import (花名册导入) from CSV or XLSX: one row per member, Chinese or English
headers, resident ID numbers checked, upserted by village and roster number (户编号). Bad rows
are reported by line, column and reason while good rows go in; a second import of the same file
changes nothing; every change to a household is kept in its history (`HouseholdChange`)."""

from __future__ import annotations

import asyncio
import operator
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table as SqlTable
from sqlalchemy import insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from rosterfiles.id_numbers import check_id_number, id_number_check_digit, mask_id_number
from rosterfiles.reading import (
    HEAD_NAME,
    HEAD_RELATION,
    MESSAGES,
    MemberRow,
    RosterFileError,
    RowError,
    by_household,
    read_and_check,
    read_table,
)
from storage.areas import area_contains, codes_within
from storage.audit import audit
from storage.models import Area, AuditEntry, Household, HouseholdChange, Member

# What callers import from here, the names of reading and checking included.
__all__ = [
    "MESSAGES",
    "ImportReport",
    "RosterFileError",
    "RosterWriter",
    "RowError",
    "check_id_number",
    "id_number_check_digit",
    "import_roster",
    "import_roster_csv",
    "mask_id_number",
    "read_table",
    "request_roster_import",
    "roster_import_requested",
]


# Households compared with the database and written per round (whole villages at a time).
HOUSEHOLDS_PER_BATCH = 5000
# Households looked up per statement: two bound values each, well under SQLite's limit.
PAIRS_PER_QUERY = 2000
# Audit actions: an office asked to import (/import), a roster was imported.
IMPORT_REQUESTED = "roster.import_requested"
IMPORT_DONE = "roster.imported"


@dataclass(frozen=True)
class ImportReport:
    """What an import did: households added, updated and unchanged, members, and the errors."""

    added_households: int
    updated_households: int
    unchanged: int
    members_added: int
    errors: list[RowError]
    members_updated: int = 0
    members_removed: int = 0
    # Villages the import added under their township because a row named them (村名).
    villages_added: tuple[str, ...] = ()

    @property
    def rejected_rows(self) -> int:
        """How many rows of the file were left out."""
        return len({error.line for error in self.errors if error.line > 1})


# ---------------------------------------------------------------- comparing and writing


HOUSEHOLD_FIELDS = (
    "head_name",
    "head_id_number",
    "group_name",
    "household_type",
    "help_cadre",
    "phone",
)
MEMBER_FIELDS = ("relation", "id_number", "sex", "birth_date", "health", "schooling")


@dataclass
class _Tally:
    added_households: int = 0
    updated_households: int = 0
    unchanged: int = 0
    members_added: int = 0
    members_updated: int = 0
    members_removed: int = 0
    errors: list[RowError] = field(default_factory=list)

    def report(self) -> ImportReport:
        return ImportReport(
            added_households=self.added_households,
            updated_households=self.updated_households,
            unchanged=self.unchanged,
            members_added=self.members_added,
            errors=sorted(self.errors, key=lambda error: error.line),
            members_updated=self.members_updated,
            members_removed=self.members_removed,
        )


@dataclass(frozen=True, slots=True)
class _StoredMember:
    id: int
    name: str
    values: dict[str, Any]
    active: bool


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _household_values(rows: Sequence[MemberRow]) -> dict[str, Any] | None:
    """The household's own columns as the rows give them (first non-empty wins); None when
    no head of household can be found."""
    head_row = next((row for row in rows if row.relation == HEAD_RELATION), None)
    head_name = next((row.head_name for row in rows if row.head_name), "")
    head_name = head_name or (head_row.name if head_row else "")
    if not head_name:
        return None

    values: dict[str, Any] = {
        "head_name": head_name,
        "head_id_number": head_row.id_number if head_row else None,
    }
    for name, value_of in _GIVEN_ONCE:
        values[name] = next((value for value in map(value_of, rows) if value), None)
    return values


# Household columns any row may give; the first row that gives one wins.
_GIVEN_ONCE = [
    (name, operator.attrgetter(name))
    for name in ("group_name", "household_type", "help_cadre", "phone")
]


def _member_values(row: MemberRow) -> dict[str, Any]:
    return {
        "relation": row.relation,
        "id_number": row.id_number,
        "sex": row.sex,
        "birth_date": row.birth_date,
        "health": row.health,
        "schooling": row.schooling,
    }


def _changed_values(
    stored: Mapping[str, Any], given: Mapping[str, Any]
) -> dict[str, tuple[Any, Any]]:
    """Fields the file gives (non-empty) that differ from what is stored: field → (old, new).
    An empty cell never erases what an office entered before."""
    return {
        name: (stored.get(name), value)
        for name, value in given.items()
        if value not in (None, "") and stored.get(name) != value
    }


def _matching_member(members: list[_StoredMember], row: MemberRow) -> _StoredMember | None:
    """The member a row describes: same ID number, else same name without a conflicting one."""
    if row.id_number:
        for member in members:
            if member.values.get("id_number") == row.id_number:
                return member
    for member in members:
        stored_id = member.values.get("id_number")
        if member.name == row.name and (not row.id_number or not stored_id):
            return member
    return None


def _as_written(rows: Sequence[MemberRow]) -> dict[str, Any]:
    """For the history: names as the file wrote them, where cleaning changed them."""
    written = {
        row.name: _visible_controls(row.written_name)
        for row in rows
        if row.written_name is not None
    }
    return {"as_written": written} if written else {}


def _visible_controls(text: str) -> str:
    """Control characters written as \\uXXXX: PostgreSQL stores no NUL, even in JSON."""
    return "".join(
        f"\\u{ord(char):04x}" if unicodedata.category(char) == "Cc" else char for char in text
    )


_MEMBERS = cast(SqlTable, Member.__table__)
_HOUSEHOLDS = cast(SqlTable, Household.__table__)
_CHANGES = cast(SqlTable, HouseholdChange.__table__)


@dataclass
class _Writes:
    """Everything one batch of villages changes, written in a few statements."""

    new_households: list[tuple[dict[str, Any], list[MemberRow]]] = field(default_factory=list)
    household_updates: list[dict[str, Any]] = field(default_factory=list)
    new_members: list[dict[str, Any]] = field(default_factory=list)
    member_updates: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)


class RosterWriter:
    """Compares checked rows with the database a batch of villages at a time and writes the
    differences with bulk statements."""

    def __init__(
        self,
        s: AsyncSession,
        now: datetime,
        tally: _Tally,
        has_names: bool,
        user_id: int | None,
        source: str,
    ) -> None:
        self.s = s
        self.now = now
        self.tally = tally
        self.has_names = has_names
        self.user_id = user_id
        self.source = source[:200]

    async def _stored(
        self, keys: Sequence[tuple[str, str]]
    ) -> tuple[dict[tuple[str, str], dict[str, Any]], dict[int, list[_StoredMember]]]:
        """The stored households of these keys, and their members."""
        households: dict[tuple[str, str], dict[str, Any]] = {}
        # Core statements on the session's connection: plain rows, no ORM loading. Asked by
        # (village, number) pairs: household numbers repeat from village to village.
        connection = await self.s.connection()
        pairs = sorted(set(keys))
        for start in range(0, len(pairs), PAIRS_PER_QUERY):
            result = await connection.execute(
                select(
                    Household.id,
                    Household.village_code,
                    Household.number,
                    *(getattr(Household, name) for name in HOUSEHOLD_FIELDS),
                ).where(
                    tuple_(Household.village_code, Household.number).in_(
                        pairs[start : start + PAIRS_PER_QUERY]
                    )
                )
            )
            for row in result:
                households[(row[1], row[2])] = {
                    "id": row[0],
                    **dict(zip(HOUSEHOLD_FIELDS, row[3:], strict=True)),
                }
        members: dict[int, list[_StoredMember]] = {}
        if not households:
            return households, members
        result = await connection.execute(
            select(
                Member.id,
                Member.household_id,
                Member.name,
                Member.active,
                *(getattr(Member, name) for name in MEMBER_FIELDS),
            )
            .where(Member.household_id.in_([h["id"] for h in households.values()]))
            .order_by(Member.id)
        )
        for row in result:
            members.setdefault(row[1], []).append(
                _StoredMember(
                    id=row[0],
                    name=row[2],
                    active=bool(row[3]),
                    values=dict(zip(MEMBER_FIELDS, row[4:], strict=True)),
                )
            )
        return households, members

    def _history(
        self, household_id: int | None, action: str, changes: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "household_id": household_id,
            "at": self.now,
            "user_id": self.user_id,
            "action": action,
            "source": self.source,
            "changes": changes,
        }

    def _compare_members(
        self,
        household_id: int,
        stored: list[_StoredMember],
        rows: Sequence[MemberRow],
        writes: _Writes,
    ) -> dict[str, Any]:
        """Member changes of one stored household, queued in `writes`; returns them for the
        history (empty when nothing changed)."""
        changes: dict[str, Any] = {}
        matched: set[int] = set()
        for row in rows:
            member = _matching_member([m for m in stored if m.id not in matched], row)
            given = _member_values(row)
            if member is None:
                writes.new_members.append(
                    {"household_id": household_id, "name": row.name, "active": True, **given}
                )
                changes.setdefault("members_added", []).append(row.name)
                self.tally.members_added += 1
                continue
            matched.add(member.id)
            changed = _changed_values(member.values, given)
            if changed or not member.active:
                update_values: dict[str, Any] = {name: new for name, (_, new) in changed.items()}
                writes.member_updates.append({"id": member.id, "active": True, **update_values})
                changes.setdefault("members_updated", {})[row.name] = {
                    name: [_jsonable(old), _jsonable(new)] for name, (old, new) in changed.items()
                } | ({"active": [False, True]} if not member.active else {})
                self.tally.members_updated += 1
        if self.has_names:
            for member in stored:
                if member.id not in matched and member.active:
                    # The file lists the household's members: one missing has left it.
                    writes.member_updates.append({"id": member.id, "active": False})
                    changes.setdefault("members_removed", []).append(member.name)
                    self.tally.members_removed += 1
        return changes

    async def write(self, households: Mapping[tuple[str, str], list[MemberRow]]) -> None:
        """Whole villages at a time, up to about HOUSEHOLDS_PER_BATCH households."""
        by_village: dict[str, list[tuple[str, str]]] = {}
        for key in households:
            by_village.setdefault(key[0], []).append(key)
        batch: list[tuple[str, str]] = []
        for village in sorted(by_village):
            batch.extend(by_village[village])
            if len(batch) >= HOUSEHOLDS_PER_BATCH:
                await self._write_batch(batch, households)
                batch = []
        if batch:
            await self._write_batch(batch, households)

    async def _write_batch(
        self, keys: Sequence[tuple[str, str]], households: Mapping[tuple[str, str], list[MemberRow]]
    ) -> None:
        stored_households, stored_members = await self._stored(keys)
        writes = _Writes()
        for key in keys:
            rows = households[key]
            values = _household_values(rows)
            if values is None:
                self.tally.errors.append(
                    RowError(
                        rows[0].line,
                        HEAD_NAME,
                        "The head of household {number} is missing.",
                        {"number": key[1]},
                    )
                )
                continue
            stored = stored_households.get(key)
            if stored is None:
                writes.new_households.append(
                    (
                        {
                            "village_code": key[0],
                            "number": key[1],
                            **values,
                            "created_at": self.now,
                            "updated_at": self.now,
                        },
                        rows,
                    )
                )
                continue
            changed = _changed_values(stored, values)
            changes: dict[str, Any] = {}
            if changed:
                changes["fields"] = {
                    name: [_jsonable(old), _jsonable(new)] for name, (old, new) in changed.items()
                }
            changes |= self._compare_members(
                stored["id"], stored_members.get(stored["id"], []), rows, writes
            )
            if changes:
                changes |= _as_written(rows)
            if changes:
                writes.household_updates.append(
                    {"id": stored["id"], "updated_at": self.now}
                    | {name: new for name, (_, new) in changed.items()}
                )
                writes.history.append(self._history(stored["id"], "updated", changes))
                self.tally.updated_households += 1
            else:
                self.tally.unchanged += 1
        await self._flush(writes)

    async def _flush(self, writes: _Writes) -> None:
        if writes.new_households:
            connection = await self.s.connection()
            result = await connection.execute(
                insert(_HOUSEHOLDS).returning(
                    _HOUSEHOLDS.c.id, _HOUSEHOLDS.c.village_code, _HOUSEHOLDS.c.number
                ),
                [values for values, _ in writes.new_households],
            )
            ids = {(row[1], row[2]): row[0] for row in result}
            for values, rows in writes.new_households:
                household_id = ids[(values["village_code"], values["number"])]
                for row in rows:
                    writes.new_members.append(
                        {
                            "household_id": household_id,
                            "name": row.name,
                            "active": True,
                            **_member_values(row),
                        }
                    )
                    self.tally.members_added += 1
                added: dict[str, Any] = {"members_added": [row.name for row in rows]}
                added |= _as_written(rows)
                writes.history.append(self._history(household_id, "added", added))
                self.tally.added_households += 1
        # One statement per set of columns: bulk UPDATE by primary key wants uniform rows.
        for table, updates in (
            (Household, writes.household_updates),
            (Member, writes.member_updates),
        ):
            by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for values in updates:
                by_columns.setdefault(tuple(sorted(values)), []).append(values)
            for group in by_columns.values():
                await self.s.execute(update(table), group)
        # Core inserts of plain rows: the ORM's bulk path costs more than the database here.
        if writes.new_members:
            await self.s.execute(insert(_MEMBERS), writes.new_members)
        if writes.history:
            await self.s.execute(insert(_CHANGES), writes.history)


async def _known_villages(
    s: AsyncSession, codes: Iterable[str], within: str | None
) -> tuple[dict[str, str], set[str]]:
    """Area code → level for the codes that exist, and those inside `within` (all, without)."""
    wanted = sorted(set(codes))
    levels: dict[str, str] = {}
    inside: set[str] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        result = await s.execute(select(Area.code, Area.level).where(Area.code.in_(chunk)))
        levels.update({code: level for code, level in result})
        if within is not None:
            allowed = await s.scalars(
                select(Area.code).where(Area.code.in_(chunk), Area.code.in_(codes_within(within)))
            )
            inside.update(allowed)
    if within is None:
        inside = set(levels)
    return levels, inside


def _village_errors(
    households: dict[tuple[str, str], list[MemberRow]],
    village_title: str,
    levels: Mapping[str, str],
    inside: set[str],
) -> list[RowError]:
    """Drop the households of unknown villages, non-villages and villages outside the user's
    area, one error per row."""
    errors: list[RowError] = []
    for key in list(households):
        code = key[0]
        if code not in levels:
            message, params = "Unknown village code {code}.", {"code": code}
        elif levels[code] != "village":
            message, params = "{code} is not a village.", {"code": code}
        elif code not in inside:
            message, params = "The village {code} lies outside your area.", {"code": code}
        else:
            continue
        rows = households.pop(key)
        errors.extend(RowError(row.line, village_title, message, params) for row in rows)
    return errors


async def _add_named_villages(
    s: AsyncSession,
    village_names: Mapping[str, str],
    levels: dict[str, str],
    inside: set[str],
    within: str | None,
) -> tuple[str, ...]:
    """Add the unknown villages whose rows name them (村名) under their township, when the
    township (the code's first 9 digits) exists and lies within `within`."""
    named: dict[str, str] = {}
    for code, name in village_names.items():
        if code not in levels and name and len(code) == 12 and code.isdigit():
            named.setdefault(code, name[:100])
    added: list[str] = []
    for code, name in sorted(named.items()):
        township = await s.get(Area, code[:9])
        if township is None or township.level != "township":
            continue
        if within is not None and not await area_contains(s, within, township.code):
            continue
        s.add(
            Area(
                code=code,
                name=name,
                level="village",
                parent_code=township.code,
                timezone=township.timezone,
                settings={},
            )
        )
        levels[code] = "village"
        inside.add(code)
        added.append(f"{code} {name}")
    if added:
        await s.flush()
    return tuple(added)


async def import_roster(
    s: AsyncSession,
    source: str | Path | bytes,
    now: datetime,
    *,
    user_id: int | None = None,
    within: str | None = None,
    source_name: str | None = None,
) -> ImportReport:
    """Import a roster (CSV in UTF-8, UTF-8 with BOM or GB18030, or XLSX), one row per member
    (the head's with 与户主关系 = 户主) or one row per household. `source` is a path, the file's
    bytes, or CSV text. With `within`, villages outside that area are refused. Flushes, never
    commits; importing the same file twice changes nothing."""
    tally = _Tally()
    name = source_name or (str(source) if isinstance(source, Path) else "upload")
    if isinstance(source, str) and "\n" not in source:
        name = source_name or source
    try:
        # The whole file is read and checked before anything is written: a file that turns
        # out unreadable half-way writes nothing.
        roster = await asyncio.to_thread(read_and_check, source, now.date())
    except RosterFileError as error:
        tally.errors.append(RowError(0, None, error.message_id, error.params))
        return tally.report()
    try:
        tally.errors.extend(roster.errors)
        levels, inside = await _known_villages(s, roster.spool.villages, within)
        villages_added = await _add_named_villages(
            s, roster.spool.village_names, levels, inside, within
        )
        writer = RosterWriter(s, now, tally, roster.has_names, user_id, name)
        buckets = roster.spool.buckets()
        while (rows := await asyncio.to_thread(next, buckets, None)) is not None:
            households = by_household(rows, tally.errors, roster.name_title)
            del rows
            tally.errors.extend(_village_errors(households, roster.village_title, levels, inside))
            await writer.write(households)
        await s.flush()
    finally:
        roster.spool.close()

    report = replace(tally.report(), villages_added=villages_added)
    await audit(
        s,
        IMPORT_DONE,
        "roster",
        now,
        user_id=user_id,
        details={
            "source": name[:200],
            "added_households": report.added_households,
            "updated_households": report.updated_households,
            "unchanged": report.unchanged,
            "members_added": report.members_added,
            "members_updated": report.members_updated,
            "members_removed": report.members_removed,
            "errors": len(report.errors),
        },
    )
    return report


async def import_roster_csv(
    s: AsyncSession, path_or_text: str | Path | bytes, now: datetime
) -> ImportReport:
    """The first importer's name, kept for its callers: `import_roster` without a user."""
    return await import_roster(s, path_or_text, now)


async def request_roster_import(s: AsyncSession, user_id: int, now: datetime) -> None:
    """Note that an office asked to import (/import): its next file is a roster. Kept in the
    database, so that whichever bot instance receives the file knows."""
    await audit(s, IMPORT_REQUESTED, f"user:{user_id}", now, user_id=user_id)


async def roster_import_requested(
    s: AsyncSession, user_id: int, now: datetime, within: timedelta = timedelta(minutes=30)
) -> bool:
    """Whether the user asked to import within `within` and has not imported since."""
    latest = await s.execute(
        select(AuditEntry.action)
        .where(
            AuditEntry.user_id == user_id,
            AuditEntry.action.in_([IMPORT_REQUESTED, IMPORT_DONE]),
            AuditEntry.at >= now - within,
        )
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(1)
    )
    return latest.scalar_one_or_none() == IMPORT_REQUESTED
