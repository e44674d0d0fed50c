"""Roster files read and checked row by row, with no database: CSV (UTF-8 or GB18030) and XLSX
with Chinese column headers, cells cleaned, resident ID numbers and birth dates checked, the
checked rows set aside on disk by household. `storage.rosters` compares them with the database
and writes them; ID numbers are checked by `rosterfiles.id_numbers`."""

from __future__ import annotations

import codecs
import csv
import functools
import io
import itertools
import operator
import pickle
import re
import sys
import tempfile
import unicodedata
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from rosterfiles.id_numbers import CHECK_DIGITS, IdNumber, check_id_number

# The relation (与户主关系) of the head of a household to itself.
HEAD_RELATION = "户主"

# The canonical column names (the Chinese headers offices use) and what else they may be called.
VILLAGE = "村"
VILLAGE_NAME = "村名"
GROUP = "组"
NUMBER = "户编号"
HEAD_NAME = "户主姓名"
ID_NUMBER = "身份证号"
RELATION = "与户主关系"
NAME = "姓名"
SEX = "性别"
BIRTH_DATE = "出生日期"
HEALTH = "健康状况"
SCHOOLING = "在校生状况"
HOUSEHOLD_TYPE = "户类型"
HELP_CADRE = "帮扶责任人"
PHONE = "联系电话"

COLUMN_NAMES: Mapping[str, tuple[str, ...]] = {
    VILLAGE: ("村", "村代码", "村编码", "行政村代码", "village", "village code", "village_code"),
    VILLAGE_NAME: ("村名", "村名称", "行政村", "village name", "village_name"),
    GROUP: ("组", "村民小组", "group"),
    NUMBER: ("户编号", "户号", "household number", "household_number", "household no"),
    HEAD_NAME: ("户主姓名", "户主", "head", "head name", "head_name", "head of household"),
    ID_NUMBER: ("身份证号", "身份证号码", "证件号码", "id number", "id_number", "id no"),
    RELATION: ("与户主关系", "relation", "relationship", "relation to head"),
    NAME: ("姓名", "成员姓名", "name", "member name", "member_name"),
    SEX: ("性别", "sex", "gender"),
    BIRTH_DATE: ("出生日期", "birth date", "birth_date", "date of birth", "born"),
    HEALTH: ("健康状况", "health"),
    SCHOOLING: ("在校生状况", "在校状况", "schooling", "school status", "school_status"),
    HOUSEHOLD_TYPE: ("户类型", "household type", "household_type", "type"),
    HELP_CADRE: ("帮扶责任人", "help cadre", "help_cadre"),
    PHONE: ("联系电话", "电话", "phone", "telephone", "phone number"),
}
REQUIRED_COLUMNS = (VILLAGE, NUMBER)

HOUSEHOLD_TYPE_NAMES: Mapping[str, str] = {
    "脱贫户": "脱贫户",
    "lifted out of poverty": "脱贫户",
    "formerly poor": "脱贫户",
    "监测户": "监测户",
    "防返贫监测户": "监测户",
    "monitored": "监测户",
    "一般户": "一般户",
    "一般农户": "一般户",
    "ordinary": "一般户",
    "general": "一般户",
}
SEX_NAMES: Mapping[str, str] = {
    "男": "男",
    "女": "女",
    "m": "男",
    "male": "男",
    "f": "女",
    "female": "女",
}

# Every reason a row can be refused for, as the English msgids the bot and the CLI translate.
MESSAGES = (
    "The file cannot be read: {reason}",
    "The file is neither UTF-8 nor GB18030 text.",
    "The file is not a CSV or XLSX roster.",
    "The file is empty.",
    "The column {column} is missing.",
    "Neither a name column nor a head of household column was found.",
    "The village code is missing.",
    "Unknown village code {code}.",
    "{code} is not a village.",
    "The village {code} lies outside your area.",
    "The household number is missing.",
    "The member's name is missing.",
    "Bad date {value}.",
    "The birth date {value} does not match the ID number.",
    "The ID number must have 18 characters, not {count}.",
    "The ID number may only hold digits and a final X.",
    "The ID number holds no valid birth date.",
    "The ID number's check digit is wrong.",
    "The ID number was saved as a number and lost its last digits; format the column as text.",
    "The ID number also appears on line {line}.",
    "The sex {value} does not match the ID number.",
    "Unknown sex {value}: use 男 or 女.",
    "Unknown household type {value}: use 脱贫户, 监测户 or 一般户.",
    "Bad phone number {value}.",
    "The head of household {number} is missing.",
    "This row repeats line {line}.",
    "The file has no sheet.",
    "The file has more than {count} rows; split it into smaller files.",
    "The file unpacks to more than {count} MB; split it into smaller files.",
    "The file's table of texts is larger than {count} MB; split it into smaller files.",
    "Line {line} cannot be read: a cell is too long or a quotation mark is not closed.",
    "The text is longer than {count} characters.",
)

_DATE_PATTERNS = (
    re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日?$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
)
_PHONE = re.compile(r"^\+?[\d\- ()]{7,20}$")
# What a roster file may hold. A county's roster is some hundred thousand rows of 14 columns;
# files beyond these are refused quickly instead of eating the machine.
MAX_ROWS = 1_000_000
MAX_COLUMNS = 64
MAX_XLSX_UNPACKED = 400 * 2**20  # bytes of XML, all parts of the workbook together
MAX_SHARED_STRINGS = 48 * 2**20  # bytes of XML in sharedStrings.xml, which is read whole
MAX_XLSX_PARTS = 2000
# Sheets up to this much XML are read whole (by calamine: about three times their size in
# memory); larger ones are streamed row by row.
CALAMINE_SHEETS_MAX = 24 * 2**20
# Checked rows wait on disk in this many files, pickled this many at a time.
SPOOL_BUCKETS = 32
SPOOL_CHUNK = 1000


# The longest text each roster column takes: the length of the database column it fills
# (tests/test_roster_import.py holds the two together).
COLUMN_LIMITS: Mapping[str, int] = {
    VILLAGE: 32,
    GROUP: 100,
    NUMBER: 64,
    HEAD_NAME: 100,
    ID_NUMBER: 32,
    RELATION: 32,
    NAME: 100,
    SEX: 8,
    HEALTH: 64,
    SCHOOLING: 64,
    HELP_CADRE: 100,
    PHONE: 32,
}
# Characters that print nothing but make two equal names differ: zero-width, bidi marks and
# controls (Unicode categories Cf and Cc), NUL included.
_INVISIBLE_CATEGORIES = frozenset(("Cf", "Cc"))
# Between the cells of a row cleaned as one text: a visible symbol (␞) that NFKC keeps, no
# cleaning removes, and no roster holds.
_CELL_BREAK = "\u241e"

Cell = str | date


@dataclass(frozen=True)
class RowError:
    """A row left out: its line in the file (the header is line 1; 0 is the file as a whole),
    the column at fault, and why, as an English msgid with `{name}` placeholders filled from
    `params`."""

    line: int
    column: str | None
    reason_message_id: str
    params: Mapping[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------- reading the file


@dataclass(frozen=True)
class Table:
    """A roster file being read: the header as written, then each row's line and cells as
    the file is read (an iterator, so that a large file is never held as cells)."""

    header: list[str]
    rows: Iterator[tuple[int, Sequence[Cell]]]


class RosterFileError(Exception):
    """The file as a whole cannot be read; carries a msgid like RowError."""

    def __init__(self, message_id: str, params: Mapping[str, Any] | None = None) -> None:
        super().__init__(message_id)
        self.message_id = message_id
        self.params: dict[str, Any] = dict(params or {})


@functools.cache
def _invisible() -> re.Pattern[str]:
    """Every invisible character (formats and controls but tab and newline), as one pattern;
    made once, on first use."""
    chars = (
        chr(point)
        for point in range(sys.maxunicode + 1)
        if unicodedata.category(chr(point)) in _INVISIBLE_CATEGORIES and chr(point) not in "\t\n"
    )
    return re.compile("[" + "".join(re.escape(char) for char in chars) + "]+")


def clean_text(text: str) -> str:
    """A cell as stored: NFKC (full-width letters and digits become plain ones) without
    invisible characters, trimmed. `\u200b李\u200d四` becomes 李四."""
    if not text.isascii() and not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    if text.isprintable():  # nothing invisible: the common case, decided in C
        return text.strip()
    return _invisible().sub("", text).strip()


def _utf16_without_bom(head: bytes) -> str | None:
    """ "utf-16-le" or "-be" when the first bytes look like UTF-16 text saved without a BOM
    (every other byte NUL, as ASCII and many CJK characters give), else None."""
    if len(head) < 4 or head.count(0) < len(head) // 4:
        return None
    even, odd = head[0::2].count(0), head[1::2].count(0)
    return "utf-16-le" if odd > even else "utf-16-be"


def _encoding_of(stream: IO[bytes]) -> str:
    """The encoding of a CSV as offices save it: UTF-8 with or without BOM, UTF-16 with a
    BOM (Excel's "Unicode text") or without one, else GB18030 (which covers GBK and GB2312).
    Reads the stream once, a chunk at a time, and rewinds it."""
    head = stream.read(4096)
    stream.seek(0)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    utf16 = _utf16_without_bom(head)
    if utf16 is not None:
        return utf16
    for encoding in ("utf-8-sig", "gb18030"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            while chunk := stream.read(1 << 20):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        finally:
            stream.seek(0)
        return encoding
    raise RosterFileError("The file is neither UTF-8 nor GB18030 text.")


def decode_text(raw: bytes) -> str:
    """The text of a CSV in whichever encoding `_encoding_of` finds."""
    encoding = _encoding_of(io.BytesIO(raw))
    return raw.decode(encoding).removeprefix("\ufeff")


def _cell_text(value: Any) -> Cell:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value).strip()


def _too_many_rows() -> RosterFileError:
    return RosterFileError(
        "The file has more than {count} rows; split it into smaller files.", {"count": MAX_ROWS}
    )


def _csv_table(lines: Iterator[str]) -> Table:
    """A table over CSV text read line by line (a file, or a string split into lines)."""
    first_line = next(lines, "")
    delimiter = max(",\t;", key=first_line.count) if first_line else ","
    reader = csv.reader(itertools.chain([first_line], lines), delimiter=delimiter)

    def broken(line: int) -> RosterFileError:
        return RosterFileError(
            "Line {line} cannot be read: a cell is too long or a quotation mark is not closed.",
            {"line": line},
        )

    try:
        header = [cell.strip().removeprefix("\ufeff") for cell in next(reader, [])]
    except csv.Error:
        raise broken(1) from None

    def rows() -> Iterator[tuple[int, Sequence[Cell]]]:
        # A quoted cell may span lines: a row starts on the line after the previous one ended.
        line_end = reader.line_num
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error:
                raise broken(line_end + 1) from None
            line, line_end = line_end + 1, reader.line_num
            if line > MAX_ROWS + 1:
                raise _too_many_rows()
            # Cells are trimmed when the row is checked (`RowChecker._clean_row`).
            yield line, cells[:MAX_COLUMNS]

    return Table(header[:MAX_COLUMNS], rows())


def _check_xlsx_parts(archive: zipfile.ZipFile) -> None:
    """Refuse a workbook whose parts unpack to more than we read (a zip bomb, or a table of
    texts too big to hold); the sizes are those the archive declares, which zipfile holds
    every part to when it is read."""
    parts = archive.infolist()
    if len(parts) > MAX_XLSX_PARTS or sum(part.file_size for part in parts) > MAX_XLSX_UNPACKED:
        raise RosterFileError(
            "The file unpacks to more than {count} MB; split it into smaller files.",
            {"count": MAX_XLSX_UNPACKED // 2**20},
        )
    for part in parts:
        if part.filename.lower().endswith("sharedstrings.xml"):
            if part.file_size > MAX_SHARED_STRINGS:
                raise RosterFileError(
                    "The file's table of texts is larger than {count} MB; split it into "
                    "smaller files.",
                    {"count": MAX_SHARED_STRINGS // 2**20},
                )


def _xlsx_table(stream: IO[bytes]) -> Table:
    """The first sheet of a workbook: read whole by calamine (Rust, ten times faster) when
    its XML is small enough to hold, streamed by openpyxl otherwise, so that memory stays
    bounded whatever the file."""
    try:
        with zipfile.ZipFile(stream) as archive:
            _check_xlsx_parts(archive)
            sheets = sum(
                part.file_size
                for part in archive.infolist()
                if part.filename.lower().startswith("xl/worksheets/")
            )
    except zipfile.BadZipFile:
        raise RosterFileError("The file is not a CSV or XLSX roster.") from None
    stream.seek(0)
    if sheets <= CALAMINE_SHEETS_MAX:
        return _calamine_table(stream)
    return _openpyxl_table(stream)


def _calamine_table(stream: IO[bytes]) -> Table:
    from python_calamine import CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_filelike(stream)
        if not workbook.sheet_names:
            raise RosterFileError("The file has no sheet.")
        sheet = workbook.get_sheet_by_index(0)
        lines = sheet.iter_rows()
    except RosterFileError:
        stream.close()
        raise
    except Exception as error:  # calamine raises its own kinds for a broken file
        stream.close()
        raise RosterFileError("The file is not a CSV or XLSX roster.") from error
    # Rows are given from the first, cells from the sheet's first used column.
    blank: list[Cell] = [""] * (sheet.start[1] if sheet.start else 0)
    first = next(lines, None)
    header = [str(_cell_text(cell)) for cell in [*blank, *(first or ())][:MAX_COLUMNS]]
    while header and not header[-1]:
        header.pop()

    def rows() -> Iterator[tuple[int, Sequence[Cell]]]:
        try:
            for line, cells in enumerate(lines, start=2):
                if line > MAX_ROWS + 1:
                    raise _too_many_rows()
                yield line, [*blank, *map(_cell_text, cells)][:MAX_COLUMNS]
        finally:
            workbook.close()
            stream.close()

    return Table(header, rows())


def _openpyxl_table(stream: IO[bytes]) -> Table:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(stream, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a broken file
        raise RosterFileError("The file is not a CSV or XLSX roster.") from error
    if not workbook.worksheets:
        workbook.close()
        stream.close()
        raise RosterFileError("The file has no sheet.")
    sheet = workbook.worksheets[0]
    # Excel ignores the <dimension> a sheet claims, and so do we: read the rows there are.
    sheet.reset_dimensions()  # type: ignore[union-attr]
    lines = sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS)
    first = next(lines, None)
    header = [str(cell).strip() if cell is not None else "" for cell in first or ()]
    while header and not header[-1]:
        header.pop()

    def rows() -> Iterator[tuple[int, Sequence[Cell]]]:
        try:
            for line, cells in enumerate(lines, start=2):
                if line > MAX_ROWS + 1:
                    raise _too_many_rows()
                yield line, [_cell_text(cell) for cell in cells]
        finally:
            workbook.close()
            stream.close()

    return Table(header, rows())


def _text_lines(stream: IO[bytes], encoding: str) -> Iterator[str]:
    text = io.TextIOWrapper(stream, encoding=encoding, errors="strict", newline="")
    try:
        first = True
        for line in text:
            if first:
                line, first = line.removeprefix("\ufeff"), False
            yield line
    finally:
        text.close()


def read_table(source: str | Path | bytes) -> Table:
    """Open a roster file (a path, its bytes, or CSV text) as a Table whose rows are read as
    they are iterated, never the whole file at once. Reads the disk and parses: call it, and
    iterate it, in a worker thread."""
    if isinstance(source, str) and "\n" in source:
        return _csv_table(iter(source.removeprefix("\ufeff").splitlines(keepends=True)))
    stream: IO[bytes]
    if isinstance(source, bytes):
        stream = io.BytesIO(source)
    else:
        try:
            stream = Path(source).open("rb")  # closed when its rows end
        except OSError as error:
            reason = error.strerror or type(error).__name__
            raise RosterFileError("The file cannot be read: {reason}", {"reason": reason}) from None
    try:
        if stream.read(4) == b"PK\x03\x04":
            stream.seek(0)
            return _xlsx_table(stream)
        stream.seek(0)
        encoding = _encoding_of(stream)
    except BaseException:
        stream.close()
        raise
    return _csv_table(_text_lines(stream, encoding))


# ---------------------------------------------------------------- checking one row


def parse_birth_date(text: str) -> date | None:
    """A date as offices type it: 2010-05-03, 2010/5/3, 2010.5.3, 20100503, 2010年5月3日."""
    for pattern in _DATE_PATTERNS:
        match = pattern.match(text.strip())
        if match:
            year, month, day = (int(part) for part in match.groups())
            try:
                return date(year, month, day)
            except ValueError:
                return None
    return None


@dataclass(frozen=True, slots=True)
class MemberRow:
    """One checked row of the roster: the household it belongs to and the member it names."""

    line: int
    village_code: str
    number: str
    head_name: str
    group_name: str
    household_type: str
    help_cadre: str
    phone: str
    name: str
    relation: str
    id_number: str | None
    sex: str | None
    birth_date: date | None
    health: str | None
    schooling: str | None
    village_name: str = ""
    # The name as the file wrote it, when cleaning changed it (kept in the history).
    written_name: str | None = None

    def __reduce__(self) -> tuple[type[MemberRow], tuple[Any, ...]]:
        # Pickled as its values in order: many times faster than a dataclass's state.
        return MemberRow, _row_values(self)


_row_values = operator.attrgetter(*MemberRow.__slots__)
# Every column empty: a row starts from this, so a column the file lacks reads as "".
_NO_CELLS = dict.fromkeys(COLUMN_NAMES, "")


def _header_map(header: Sequence[str]) -> dict[str, int]:
    """Canonical column → index of the header cell naming it (first one wins)."""
    aliases = {
        " ".join(alias.lower().replace("_", " ").split()): canonical
        for canonical, names in COLUMN_NAMES.items()
        for alias in names
    }
    found: dict[str, int] = {}
    for index, cell in enumerate(header):
        canonical = aliases.get(" ".join(cell.lower().replace("_", " ").split()))
        if canonical is not None and canonical not in found:
            found[canonical] = index
    return found


class RowChecker:
    """Checks the rows of one table; knows the header and the ID numbers seen so far."""

    def __init__(self, header: Sequence[str], today: date) -> None:
        self.columns = _header_map(header)
        self._indexes = list(self.columns.values())
        self._limits = [(c, n) for c, n in COLUMN_LIMITS.items() if c in self.columns]
        self.header = list(header)
        self.today = today
        # ID number (as an integer, which takes a third of the memory of its text) → line.
        self._ids_seen: dict[int, int] = {}
        self._row: dict[str, str] = {}

    def missing_columns(self) -> list[RowError]:
        errors = [
            RowError(1, column, "The column {column} is missing.", {"column": column})
            for column in REQUIRED_COLUMNS
            if column not in self.columns
        ]
        if NAME not in self.columns and HEAD_NAME not in self.columns:
            errors.append(
                RowError(1, NAME, "Neither a name column nor a head of household column was found.")
            )
        return errors

    def column_title(self, column: str) -> str:
        """The header as the file writes it, so the user finds the cell."""
        index = self.columns.get(column)
        return self.header[index] if index is not None else column

    def _cell(self, cells: Sequence[Cell], column: str) -> Cell:
        index = self.columns.get(column)
        if index is None or index >= len(cells):
            return ""
        return cells[index]

    def _clean_row(self, cells: Sequence[Cell]) -> dict[str, str]:
        texts = [
            value.isoformat() if isinstance(value, date) else value
            for value in (cells[index] if index < len(cells) else "" for index in self._indexes)
        ]
        joined = _CELL_BREAK.join(texts)
        cleaned: list[str] | None = None
        if joined.count(_CELL_BREAK) == len(texts) - 1:  # no cell holds the break itself
            # The whole row cleaned at once: one call instead of one per cell.
            parts = clean_text(joined).split(_CELL_BREAK)
            if len(parts) == len(texts):
                cleaned = [part.strip() for part in parts]
        if cleaned is None:
            cleaned = [clean_text(text) for text in texts]
        row = dict(_NO_CELLS)
        row.update(zip(self.columns, cleaned, strict=True))
        return row

    def _too_long(self, line: int, values: Mapping[str, str | None]) -> RowError | None:
        """The first value longer than its column in the database holds."""
        for column, limit in self._limits:
            value = values[column]
            if value and len(value) > limit:
                return self._error(
                    line, column, "The text is longer than {count} characters.", count=limit
                )
        return None

    def _error(self, line: int, column: str, message: str, /, **params: Any) -> RowError:
        return RowError(line, self.column_title(column), message, params)

    def check(self, line: int, cells: Sequence[Cell]) -> MemberRow | RowError | None:
        """The row as a MemberRow, an error, or None for a blank row."""
        if _blank(cells):
            return None
        row = self._row = self._clean_row(cells)
        too_long = self._too_long(line, row)
        if too_long is not None:
            return too_long
        village_code = row[VILLAGE]
        if not village_code:
            return self._error(line, VILLAGE, "The village code is missing.")
        number = row[NUMBER]
        if not number:
            return self._error(line, NUMBER, "The household number is missing.")
        head_name = row[HEAD_NAME]
        relation = row[RELATION]
        if NAME in self.columns:
            name = row[NAME]
            if not name:
                return self._error(line, NAME, "The member's name is missing.")
        else:
            # A roster of one row per household: the row is the head.
            name, relation = head_name, relation or HEAD_RELATION
            if not name:
                return self._error(line, HEAD_NAME, "The member's name is missing.")
        if not relation and head_name and name == head_name:
            relation = HEAD_RELATION

        id_number: IdNumber | None = None
        id_text = row[ID_NUMBER]
        if id_text:
            checked = check_id_number(id_text, self.today)
            if not isinstance(checked, IdNumber):
                return self._error(line, ID_NUMBER, checked[0], **checked[1])
            id_key = _id_key(checked.text)
            seen = self._ids_seen.get(id_key)
            if seen is not None:
                return self._error(
                    line, ID_NUMBER, "The ID number also appears on line {line}.", line=seen
                )
            id_number = checked

        birth_cell = self._cell(cells, BIRTH_DATE)
        birth_date: date | None
        if isinstance(birth_cell, date):
            birth_date = birth_cell
        elif row[BIRTH_DATE]:
            birth_text = row[BIRTH_DATE]
            birth_date = parse_birth_date(birth_text)
            if birth_date is None:
                return self._error(line, BIRTH_DATE, "Bad date {value}.", value=birth_text)
        else:
            birth_date = None
        if id_number is not None:
            if birth_date is not None and birth_date != id_number.birth_date:
                return self._error(
                    line,
                    BIRTH_DATE,
                    "The birth date {value} does not match the ID number.",
                    value=birth_date.isoformat(),
                )
            birth_date = id_number.birth_date

        sex_text = row[SEX]
        sex = SEX_NAMES.get(sex_text.lower()) if sex_text else None
        if sex_text and sex is None:
            return self._error(line, SEX, "Unknown sex {value}: use 男 or 女.", value=sex_text)
        if id_number is not None:
            if sex is not None and sex != id_number.sex:
                return self._error(
                    line, SEX, "The sex {value} does not match the ID number.", value=sex_text
                )
            sex = id_number.sex

        type_text = row[HOUSEHOLD_TYPE]
        household_type = HOUSEHOLD_TYPE_NAMES.get(type_text.lower(), "") if type_text else ""
        if type_text and not household_type:
            return self._error(
                line,
                HOUSEHOLD_TYPE,
                "Unknown household type {value}: use 脱贫户, 监测户 or 一般户.",
                value=type_text,
            )
        phone = row[PHONE]
        if phone and not _PHONE.match(phone):
            return self._error(line, PHONE, "Bad phone number {value}.", value=phone)

        if id_number is not None:
            self._ids_seen[id_key] = line
        written = self._cell(cells, NAME if NAME in self.columns else HEAD_NAME)
        written_name = written if isinstance(written, str) and written.strip() != name else None
        return MemberRow(
            written_name=written_name,
            line=line,
            village_code=village_code,
            number=number,
            head_name=head_name,
            group_name=row[GROUP],
            household_type=household_type,
            help_cadre=row[HELP_CADRE],
            phone=phone,
            name=name,
            relation=relation,
            id_number=id_number.text if id_number else None,
            sex=sex,
            birth_date=birth_date,
            health=row[HEALTH] or None,
            schooling=row[SCHOOLING] or None,
            village_name=row[VILLAGE_NAME],
        )


def _blank(cells: Sequence[Cell]) -> bool:
    try:
        return not "".join(cells).strip()  # type: ignore[arg-type]
    except TypeError:  # a date among the cells (XLSX)
        return not any(isinstance(cell, date) or cell.strip() for cell in cells)


def _id_key(text: str) -> int:
    """An 18-character ID number as one integer (X, the check digit 10, becomes a digit)."""
    return int(text[:17]) * 11 + CHECK_DIGITS.index(text[17]) if len(text) == 18 else hash(text)


class _Spool:
    """Checked rows set aside by household on disk, so that a file of any length is read
    once and never held: every row of a household lands in the same bucket, and a bucket
    read back holds whole households. Small files never touch the disk."""

    def __init__(self) -> None:
        self._files: list[IO[bytes] | None] = [None] * SPOOL_BUCKETS
        self._pending: list[list[MemberRow]] = [[] for _ in range(SPOOL_BUCKETS)]
        self.villages: set[str] = set()
        # Village code → the first village name (村名) a row gives for it.
        self.village_names: dict[str, str] = {}

    def add(self, row: MemberRow) -> None:
        self.villages.add(row.village_code)
        if row.village_name and row.village_code not in self.village_names:
            self.village_names[row.village_code] = row.village_name
        key = f"{row.village_code}\x1f{row.number}".encode()
        bucket = zlib.crc32(key) % SPOOL_BUCKETS
        pending = self._pending[bucket]
        pending.append(row)
        if len(pending) >= SPOOL_CHUNK:
            self._dump(bucket)

    def _dump(self, bucket: int) -> None:
        file = self._files[bucket]
        if file is None:
            file = self._files[bucket] = tempfile.TemporaryFile(prefix="hucha-roster-")
        pickle.dump(self._pending[bucket], file, protocol=pickle.HIGHEST_PROTOCOL)
        self._pending[bucket] = []

    def buckets(self) -> Iterator[list[MemberRow]]:
        """Each bucket's rows in the order of the file; everything at once for a small file."""
        if all(file is None for file in self._files):
            rows = sorted((row for pending in self._pending for row in pending), key=_line)
            self._pending = [[] for _ in range(SPOOL_BUCKETS)]
            if rows:
                yield rows
            return
        for bucket in range(SPOOL_BUCKETS):
            rows = []
            file = self._files[bucket]
            if file is not None:
                file.seek(0)
                while True:
                    try:
                        rows.extend(pickle.load(file))
                    except EOFError:
                        break
                file.close()
                self._files[bucket] = None
            rows.extend(self._pending[bucket])
            self._pending[bucket] = []
            if rows:
                yield rows

    def close(self) -> None:
        for file in self._files:
            if file is not None:
                file.close()
        self._files = [None] * SPOOL_BUCKETS


def _line(row: MemberRow) -> int:
    return row.line


@dataclass
class CheckedRoster:
    """The rows of a roster that passed their own checks, set aside by household, and the
    rows that did not."""

    spool: _Spool
    errors: list[RowError]
    has_names: bool
    village_title: str
    name_title: str = NAME


def read_and_check(source: str | Path | bytes, today: date) -> CheckedRoster:
    """Read a roster file and check every row, in one pass over the file. Raises
    RosterFileError when the file as a whole cannot be read; run it in a worker thread."""
    table = read_table(source)
    if not table.header:
        raise RosterFileError("The file is empty.")
    return check_table(table, today)


def check_table(table: Table, today: date) -> CheckedRoster:
    """Check every row of a table on its own (no database): pure and CPU-bound, run it in a
    worker thread for large files."""
    checker = RowChecker(table.header, today)
    missing = checker.missing_columns()
    spool = _Spool()
    if missing:
        return CheckedRoster(spool, missing, False, VILLAGE)
    errors: list[RowError] = []
    try:
        for line, cells in table.rows:
            row = checker.check(line, cells)
            if row is None:
                continue
            if isinstance(row, RowError):
                errors.append(row)
                continue
            spool.add(row)
    except BaseException:
        spool.close()
        raise
    return CheckedRoster(
        spool,
        errors,
        NAME in checker.columns,
        checker.column_title(VILLAGE),
        checker.column_title(NAME),
    )


def by_household(
    rows: Iterable[MemberRow], errors: list[RowError], name_title: str = NAME
) -> dict[tuple[str, str], list[MemberRow]]:
    """Rows grouped by household in the order of the file; a row repeating another of its
    household (same name and ID number) is left out with an error."""
    households: dict[tuple[str, str], list[MemberRow]] = {}
    seen: dict[tuple[str, str, str, str | None], int] = {}
    for row in rows:
        key = (row.village_code, row.number, row.name, row.id_number)
        if key in seen:
            errors.append(
                RowError(row.line, name_title, "This row repeats line {line}.", {"line": seen[key]})
            )
            continue
        seen[key] = row.line
        households.setdefault((row.village_code, row.number), []).append(row)
    return households
