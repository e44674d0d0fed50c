"""How exports are written: XLSX with XlsxWriter (typed cells, styled headers, print set-up;
text is always written as text, never as a formula) and CSV in UTF-8 with a BOM (cells that a
spreadsheet would run are neutralised, codes keep their leading zeros). The export modules say
which rows go in which columns; this module says how the files look.

Two shapes: a data table (`TableSink`: frozen, filtered header rows, widths fitted to the
content, rows streamed in constant memory) and a printed document (`DocumentSink`: a titled
form with 填报单位 / 填报时间 above, signature lines below, borders, wrapped text, categories
merged down their rows, A4 with page numbers)."""

from __future__ import annotations

import csv
import math
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Literal, Protocol

ColumnKind = Literal["text", "code", "integer", "number", "date", "datetime"]

# A spreadsheet runs a cell that begins with one of these (OWASP, CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Digit strings Excel or WPS would turn into a number and so change: a leading zero (户编号
# 001), or more digits than a number shows (area codes, ID numbers).
_FRAGILE_DIGITS = re.compile(r"0\d+|\d{12,}")
FIT_ROWS = 1000  # rows looked at to fit a column's width
MAX_WIDTH = 50.0
MIN_WIDTH = 6.0
SHEET_NAME_LIMIT = 31
_SHEET_NAME_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
TEXT_FORMAT = "@"
DOCUMENT_FONT = "宋体"
BODY_SIZE = 9
# Row heights are set, not left to the office suite: LibreOffice trusts the heights of a file
# that says Excel wrote it and would cut wrapped text off. One line of 9-point 宋体 is 12 px
# wide per Chinese character (1.75 column units) and 12 points high.
CJK_UNITS = 1.75
LINE_HEIGHT = 12.0
ROW_PADDING = 3.0


def display_width(text: str) -> int:
    """How many narrow character widths a text takes: Chinese characters count two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def lines_needed(text: str, width: float, size: float = BODY_SIZE) -> int:
    """The printed lines a wrapped text of the document font (`size` points) takes in a
    column `width` units wide (a unit: the width of a digit of the workbook's default font)."""
    usable = max(width - 1.0, 1.0)
    scale = size / BODY_SIZE
    total = 0
    for part in text.split("\n"):
        wide = sum(1 for ch in part if unicodedata.east_asian_width(ch) in "WF")
        shown = (wide * CJK_UNITS + (len(part) - wide) * 0.9) * scale
        total += max(1, math.ceil(shown / usable))
    return total


def row_height(lines: int, size: float = BODY_SIZE) -> float:
    return LINE_HEIGHT * size / BODY_SIZE * lines + ROW_PADDING


def neutralised(text: str) -> str:
    """A CSV cell that no spreadsheet will run: a leading ' before =, +, -, @, tab or CR."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def protected(text: str) -> str:
    """A CSV cell that Excel and WPS open as the same text: digit strings they would make a
    number of (001, 320705001001) are written ="001", which shows 001. Only plain digits are
    wrapped, so nothing a user typed can become a formula this way."""
    if _FRAGILE_DIGITS.fullmatch(text):
        return f'="{text}"'
    return neutralised(text)


def sheet_name(title: str) -> str:
    """A title as Excel allows a sheet to be named (31 characters, no []:*?/\\)."""
    return _SHEET_NAME_FORBIDDEN.sub("_", title)[:SHEET_NAME_LIMIT] or "Sheet"


@dataclass(frozen=True)
class Link:
    """A cell that opens a file beside the workbook: `target` is its relative path."""

    target: str
    text: str


@dataclass(frozen=True)
class Column:
    """A column: its title, the machine code shown under it (data tables), what it holds,
    and a fixed width (None: fitted to the content)."""

    title: str
    code: str = ""
    kind: ColumnKind = "text"
    width: float | None = None


@dataclass
class SheetSpec:
    """A data sheet: its key, title and columns; `codes` adds a second header row of codes."""

    key: str
    title: str
    columns: Sequence[Column]
    codes: bool = True


@dataclass(frozen=True)
class Document:
    """A form to print and sign: the title, 填报单位 and 填报时间 (or any two lines) above
    the table, its columns (fixed widths, which decide the printed layout), the lines below
    (填报人, 审核人, 盖章) and a note. `merge` is the column whose value is merged down the
    rows it covers (a row with that cell empty or equal joins the one above)."""

    sheet: str
    title: str
    above: tuple[str, str]
    columns: Sequence[Column]
    below: Sequence[str] = ()
    note: str = ""
    intro: str = ""
    merge: int | None = None
    landscape: bool = True
    pages_tall: int = 0  # 0: as many pages as it takes
    footer: str = "第 &P 页，共 &N 页"
    date_format: str = DATE_FORMAT
    font_size: float = BODY_SIZE


class TableSink(Protocol):
    """Where data rows go: an XLSX workbook or CSV files."""

    def add_sheet(self, spec: SheetSpec) -> None: ...

    def append(self, key: str, row: Sequence[Any]) -> None: ...

    def close(self) -> list[Path]: ...


class DocumentSink(Protocol):
    """Where a printed document goes: an XLSX sheet set up for A4, or a CSV file."""

    def append(self, row: Sequence[Any]) -> None: ...

    def start_sheet(self, document: Document, key: str) -> None: ...

    def close(self) -> list[Path]: ...


def _plain_cell(value: Any) -> Any:
    """A value as a CSV cell: text neutralised and protected, dates in ISO form."""
    if value is None:
        return ""
    if isinstance(value, Link):
        return protected(value.target)
    if isinstance(value, str):
        return protected(value)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return value


def csv_row(row: Sequence[Any]) -> list[Any]:
    return [_plain_cell(cell) for cell in row]


# ---------------------------------------------------------------- XLSX


def _workbook(path: Path, constant_memory: bool) -> Any:
    import xlsxwriter

    return xlsxwriter.Workbook(
        str(path),
        {
            "constant_memory": constant_memory,
            # Text is text: nothing a user typed becomes a formula, a number or a link.
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
            "remove_timezone": True,
        },
    )


Put = Callable[[int, int, Any], None]


def _cell_writer(sheet: Any, kind: ColumnKind, formats: dict[str, Any]) -> Put:
    """How a value of a column is written: each type by its own call, so that text is only
    ever a string cell."""
    text_format = formats["code"] if kind == "code" else formats.get("text")
    number_format = formats.get("number")
    date_format = formats["datetime"] if kind == "datetime" else formats["date"]

    def put(row: int, col: int, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, Link):
            # Excel allows 65,530 links a sheet; past them the path is shown as text.
            if sheet.write_url(row, col, "external:" + value.target, string=value.text):
                sheet.write_string(row, col, value.target, text_format)
        elif isinstance(value, str):
            sheet.write_string(row, col, value, text_format)
        elif isinstance(value, bool):
            sheet.write_boolean(row, col, value, number_format)
        elif isinstance(value, int | float | Decimal):
            number = float(value) if isinstance(value, Decimal) else value
            sheet.write_number(row, col, number, number_format)
        elif isinstance(value, datetime | date):
            sheet.write_datetime(row, col, value, date_format)
        else:
            sheet.write_string(row, col, str(value), text_format)

    return put


@dataclass
class _Sheet:
    sheet: Any
    spec: SheetSpec
    puts: list[Put]
    row: int
    widths: list[float] = field(default_factory=list)


class XlsxSink:
    """Data sheets in one workbook, written row by row in constant memory: bold, wrapped,
    frozen header rows, an autofilter, typed cells and widths fitted to the first rows."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.workbook = _workbook(path, constant_memory=True)
        book = self.workbook
        self.formats = {
            "header": book.add_format(
                {
                    "bold": True,
                    "text_wrap": True,
                    "valign": "vcenter",
                    "align": "center",
                    "border": 1,
                    "bg_color": "#DDEBF7",
                }
            ),
            "code_header": book.add_format({"font_color": "#808080", "font_size": 8}),
            "code": book.add_format({"num_format": TEXT_FORMAT}),
            "date": book.add_format({"num_format": DATE_FORMAT}),
            "datetime": book.add_format({"num_format": DATETIME_FORMAT}),
        }
        self.sheets: dict[str, _Sheet] = {}

    def add_sheet(self, spec: SheetSpec) -> None:
        sheet = self.workbook.add_worksheet(sheet_name(spec.title))
        for col, column in enumerate(spec.columns):
            sheet.write_string(0, col, column.title, self.formats["header"])
        row = 1
        if spec.codes:
            for col, column in enumerate(spec.columns):
                sheet.write_string(1, col, column.code, self.formats["code_header"])
            row = 2
        sheet.freeze_panes(row, 0)
        # Printed, a data sheet keeps its headers on every page and its grid.
        sheet.set_paper(9)
        sheet.set_landscape()
        sheet.repeat_rows(0, row - 1)
        sheet.hide_gridlines(0)
        sheet.set_footer("&C&A &P / &N")
        widths = [
            column.width
            or min(max(MIN_WIDTH, display_width(column.title) / 2 + 2, len(column.code) + 1), 24)
            for column in spec.columns
        ]
        puts = [_cell_writer(sheet, column.kind, self.formats) for column in spec.columns]
        self.sheets[spec.key] = _Sheet(sheet, spec, puts, row, widths)

    def append(self, key: str, row: Sequence[Any]) -> None:
        state = self.sheets[key]
        number = state.row
        for col, (put, value) in enumerate(zip(state.puts, row, strict=False)):
            put(number, col, value)
        if number < FIT_ROWS:
            self._fit(state, row)
        state.row = number + 1

    @staticmethod
    def _fit(state: _Sheet, row: Sequence[Any]) -> None:
        for col, value in enumerate(row[: len(state.widths)]):
            column = state.spec.columns[col]
            if value is None or column.width:
                continue
            if isinstance(value, datetime):
                need = 17.0
            elif isinstance(value, date):
                need = 11.0
            elif isinstance(value, Link):
                need = display_width(value.text) + 2.0
            else:
                need = display_width(str(value)) + 2.0
            if need > state.widths[col]:
                state.widths[col] = min(need, MAX_WIDTH)

    def close(self) -> list[Path]:
        for state in self.sheets.values():
            last_col = max(len(state.spec.columns) - 1, 0)
            header = 1 if state.spec.codes else 0
            state.sheet.autofilter(header, 0, max(state.row - 1, header), last_col)
            for col, width in enumerate(state.widths):
                state.sheet.set_column(col, col, width)
        self.workbook.close()
        return [self.path]


class XlsxDocument:
    """A printed form on one sheet: A4, fit to one page wide, header rows repeated on every
    page, thin borders, wrapped text with row heights that show all of it, page numbers."""

    def __init__(self, path: Path, document: Document) -> None:
        self.path = path
        self.document = document
        # Rows stream out as they come; the merged categories are recorded as they close.
        self.workbook = _workbook(path, constant_memory=True)
        book = self.workbook
        self.size = size = document.font_size
        base = {"font_name": DOCUMENT_FONT, "font_size": size, "valign": "vcenter"}
        self.title_format = book.add_format(
            {**base, "font_size": size + 7, "bold": True, "align": "center"}
        )
        self.line_format = book.add_format({**base, "font_size": 11})
        self.right_format = book.add_format({**base, "font_size": 11, "align": "right"})
        self.intro_format = book.add_format({**base, "font_size": 11, "text_wrap": True})
        self.header_format = book.add_format(
            {**base, "bold": True, "align": "center", "text_wrap": True, "border": 1}
        )
        cell = {**base, "text_wrap": True, "border": 1}
        self.cell_formats = {
            "text": book.add_format(cell),
            "code": book.add_format({**cell, "num_format": TEXT_FORMAT, "align": "center"}),
            "integer": book.add_format({**cell, "align": "center"}),
            "number": book.add_format({**cell}),
            "date": book.add_format(
                {**cell, "num_format": document.date_format, "align": "center"}
            ),
            "datetime": book.add_format({**cell, "num_format": DATETIME_FORMAT}),
        }
        self.merge_format = book.add_format({**cell, "align": "center"})
        self._new_sheet(document)

    def _new_sheet(self, document: Document) -> None:
        self.document = document
        self.sheet = self.workbook.add_worksheet(sheet_name(document.sheet))
        self.columns = document.columns
        self.puts = [_cell_writer(self.sheet, c.kind, self._formats_of(c)) for c in self.columns]
        self.row = 0
        self.group_start: int | None = None
        self.group_value: Any = None
        self._set_up()

    def start_sheet(self, document: Document, key: str) -> None:
        """Finish this sheet and go on with another form on a sheet of its own."""
        self._finish_sheet()
        self._new_sheet(document)

    def _formats_of(self, column: Column) -> dict[str, Any]:
        own = self.cell_formats[column.kind]
        return {
            "text": own,
            "number": own,
            "code": self.cell_formats["code"],
            "date": self.cell_formats["date"],
            "datetime": self.cell_formats["datetime"],
        }

    def _set_up(self) -> None:
        sheet, document = self.sheet, self.document
        last = len(self.columns) - 1
        for col, column in enumerate(self.columns):
            sheet.set_column(col, col, column.width or 12)
        sheet.set_paper(9)  # A4
        if document.landscape:
            sheet.set_landscape()
        else:
            sheet.set_portrait()
        sheet.set_margins(left=0.4, right=0.4, top=0.5, bottom=0.6)
        sheet.fit_to_pages(1, document.pages_tall)
        sheet.center_horizontally()
        sheet.set_footer("&C" + document.footer)
        sheet.set_row(0, 30)
        sheet.merge_range(0, 0, 0, last, document.title, self.title_format)
        left, right = document.above
        split = self._split(left)
        sheet.set_row(1, 22)
        self._span(1, 0, split - 1, left, self.line_format)
        self._span(1, split, last, right, self.right_format)
        header = 2
        if document.intro:
            width = sum(c.width or 12 for c in self.columns)
            lines = lines_needed(document.intro, width, size=11)
            sheet.set_row(2, row_height(lines, size=11) + 4)
            sheet.merge_range(2, 0, 2, last, document.intro, self.intro_format)
            header = 3
        size = self.size
        header_lines = max(lines_needed(c.title, c.width or 12, size) for c in self.columns)
        sheet.set_row(header, row_height(header_lines, size) + 2)
        for col, column in enumerate(self.columns):
            sheet.write_string(header, col, column.title, self.header_format)
        sheet.repeat_rows(header)
        sheet.freeze_panes(header + 1, 0)
        self.row = header + 1

    def _span(self, row: int, first: int, last: int, text: str, style: Any) -> None:
        """`text` across the columns `first`..`last` of `row` (merged when more than one)."""
        if last > first:
            self.sheet.merge_range(row, first, row, last, text, style)
        else:
            self.sheet.write_string(row, first, text, style)

    def _split(self, left: str) -> int:
        """The first column of the right-hand line above the table: the left one gets the
        columns its text needs (11-point), the right one at least the last column."""
        wide = sum(1 for ch in left if unicodedata.east_asian_width(ch) in "WF")
        need = (wide * CJK_UNITS + (len(left) - wide) * 0.9) * 11 / BODY_SIZE + 2
        taken = 0.0
        for col, column in enumerate(self.columns[:-1]):
            taken += column.width or 12
            if taken >= need:
                return max(col + 1, len(self.columns) // 2)
        return len(self.columns) - 1

    def append(self, row: Sequence[Any]) -> None:
        number = self.row
        lines = 1
        for col, column in enumerate(self.columns):
            value = row[col] if col < len(row) else None
            if value is not None and col != self.document.merge:
                lines = max(lines, lines_needed(_shown(value), column.width or 12, self.size))
        self.sheet.set_row(number, row_height(lines, self.size))
        merge = self.document.merge
        for col, (put, value) in enumerate(zip(self.puts, row, strict=False)):
            if col == merge:
                continue
            if value is None:
                self.sheet.write_blank(number, col, None, self.cell_formats["text"])
            else:
                put(number, col, value)
        for col in range(len(row), len(self.columns)):
            self.sheet.write_blank(number, col, None, self.cell_formats["text"])
        if merge is not None:
            self._merge_cell(number, merge, row[merge] if merge < len(row) else None)
        self.row = number + 1

    def _merge_cell(self, number: int, col: int, value: Any) -> None:
        joins = self.group_start is not None and value in (None, "", self.group_value)
        if joins:
            self.sheet.write_blank(number, col, None, self.merge_format)
            return
        self._close_group(number - 1)
        self.group_start, self.group_value = number, value
        self.sheet.write_string(number, col, str(value or ""), self.merge_format)

    def _close_group(self, last: int) -> None:
        """Merge the finished category down its rows. Its rows are already written, so the
        range is recorded directly: in constant memory XlsxWriter writes only forward."""
        start, col = self.group_start, self.document.merge
        if start is None or col is None or last <= start:
            return
        self.sheet.merge.append([start, col, last, col])

    def close(self) -> list[Path]:
        self._finish_sheet()
        self.workbook.close()
        return [self.path]

    def _finish_sheet(self) -> None:
        self._close_group(self.row - 1)
        self.group_start = None
        last = len(self.columns) - 1
        sheet = self.sheet
        if self.document.note:
            sheet.merge_range(self.row, 0, self.row, last, self.document.note, self.line_format)
            self.row += 1
        if self.document.below:
            self.row += 1
            sheet.set_row(self.row, 26)
            span = (last + 1) / len(self.document.below)
            for index, text in enumerate(self.document.below):
                first = round(index * span)
                end = round((index + 1) * span) - 1
                self._span(self.row, first, end, text, self.line_format)
        sheet.print_area(0, 0, self.row, last)


def _shown(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return "0000-00-00"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


class CsvDocument:
    """A printed document as CSV: the same lines and rows, plain."""

    def __init__(self, path: Path, document: Document) -> None:
        self.path = path
        self.paths: list[Path] = []
        self._open(path, document)

    def _open(self, path: Path, document: Document) -> None:
        self.paths.append(path)
        self.handle: IO[str] = path.open("w", encoding="utf-8-sig", newline="")
        self.writer = csv.writer(self.handle)
        self.document = document
        self.writer.writerow(csv_row([document.title]))
        self.writer.writerow(csv_row(list(document.above)))
        if document.intro:
            self.writer.writerow(csv_row([document.intro]))
        self.writer.writerow(csv_row([c.title for c in document.columns]))

    def append(self, row: Sequence[Any]) -> None:
        self.writer.writerow(csv_row(row))

    def start_sheet(self, document: Document, key: str) -> None:
        """Finish this file and go on with another form in a file beside it."""
        self._finish()
        self._open(self.path.with_name(f"{self.path.stem}-{key}{self.path.suffix}"), document)

    def _finish(self) -> None:
        if self.document.note:
            self.writer.writerow(csv_row([self.document.note]))
        if self.document.below:
            self.writer.writerow(csv_row(list(self.document.below)))
        self.handle.close()

    def close(self) -> list[Path]:
        self._finish()
        return list(self.paths)


class CsvSink:
    """CSV in UTF-8 with a BOM (so Excel reads Chinese): the first sheet at `path`, each other
    sheet beside it as `<name>-<sheet>.csv`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.files: dict[str, IO[str]] = {}
        self.writers: dict[str, Any] = {}
        self.paths: list[Path] = []

    def add_sheet(self, spec: SheetSpec) -> None:
        path = (
            self.path
            if not self.paths
            else self.path.with_name(f"{self.path.stem}-{spec.key}{self.path.suffix or '.csv'}")
        )
        handle = path.open("w", encoding="utf-8-sig", newline="")
        self.files[spec.key] = handle
        self.writers[spec.key] = csv.writer(handle)
        self.paths.append(path)
        self.writers[spec.key].writerow(csv_row([c.title for c in spec.columns]))
        if spec.codes:
            self.writers[spec.key].writerow(csv_row([c.code for c in spec.columns]))

    def append(self, key: str, row: Sequence[Any]) -> None:
        self.writers[key].writerow(csv_row(row))

    def close(self) -> list[Path]:
        for handle in self.files.values():
            handle.close()
        return list(self.paths)


def make_sink(path: Path, fmt: str) -> TableSink:
    return XlsxSink(path) if fmt == "xlsx" else CsvSink(path)


def make_document(path: Path, fmt: str, document: Document) -> DocumentSink:
    return XlsxDocument(path, document) if fmt == "xlsx" else CsvDocument(path, document)
