"""Measure reading an XLSX roster: python-calamine (read whole, in Rust) beside openpyxl
(streamed, read-only), each in a fresh process so that its peak memory is its own.

    .venv/bin/python bench/xlsx_read.py [--households 33000]

Writes the roster of bench/import.py (about 3 member rows per household) as an XLSX in a
temporary folder, then reads its first sheet with each library, every cell converted as the
importer converts it (`rosterfiles.reading._cell_text`). Printed: seconds of CPU, peak RSS in MB
and rows per second for each, and the ratio to openpyxl. The importer reads a sheet with
calamine while the sheet's XML is at most `CALAMINE_SHEETS_MAX`, and streams it with
openpyxl beyond, to keep memory bounded.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.child import measure_in_child  # noqa: E402

roster_bench: Any = importlib.import_module("bench.import")
READERS = ("openpyxl", "calamine")


def write_xlsx(folder: Path, households: int) -> Path:
    import xlsxwriter

    source = folder / "roster.csv"
    roster_bench.write_roster(source, households)
    target = folder / "roster.xlsx"
    workbook = xlsxwriter.Workbook(str(target), {"constant_memory": True})
    sheet = workbook.add_worksheet()
    with source.open(encoding="utf-8-sig", newline="") as handle:
        for index, row in enumerate(csv.reader(handle)):
            sheet.write_row(index, 0, row)
    workbook.close()
    return target


def read(reader: str, path: Path) -> int:
    from rosterfiles.reading import _cell_text

    rows = 0
    if reader == "openpyxl":
        from openpyxl import load_workbook

        workbook = load_workbook(path, read_only=True, data_only=True)
        sheet = workbook.worksheets[0]
        sheet.reset_dimensions()  # type: ignore[union-attr]
        for cells in sheet.iter_rows(values_only=True):
            [_cell_text(cell) for cell in cells]
            rows += 1
        workbook.close()
    else:
        from python_calamine import CalamineWorkbook

        calamine = CalamineWorkbook.from_path(str(path))
        for cells in calamine.get_sheet_by_index(0).iter_rows():
            [_cell_text(cell) for cell in cells]
            rows += 1
        calamine.close()
    return rows


def child(reader: str, path: Path) -> None:
    cpu = time.process_time()
    rows = read(reader, path)
    cpu = time.process_time() - cpu
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"cpu": cpu, "peak_mb": peak_mb, "rows": rows}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--households", type=int, default=33_000)
    parser.add_argument("--child", choices=READERS, help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.path)
        return
    with tempfile.TemporaryDirectory(prefix="hucha-xlsx-") as name:
        path = write_xlsx(Path(name), args.households)
        print(f"{path.stat().st_size / 1e6:.1f} MB XLSX, {args.households} households")
        figures = {r: measure_in_child(__file__, r, ["--path", str(path)]) for r in READERS}
    base = figures["openpyxl"]["cpu"]
    print(f"{'reader':<10} {'cpu s':>7} {'peak MB':>8} {'rows/s':>9} {'vs openpyxl':>12}")
    for reader, f in figures.items():
        print(
            f"{reader:<10} {f['cpu']:>7.2f} {f['peak_mb']:>8.0f} "
            f"{f['rows'] / f['cpu']:>9.0f} {f['cpu'] / base:>11.2f}x"
        )


if __name__ == "__main__":
    main()
