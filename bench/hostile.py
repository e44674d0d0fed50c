"""Import hostile roster files, each in its own process under a 60-second and 512 MB limit.

    .venv/bin/python bench/hostile.py [--rows 1000000]

The files are made here, in a temporary folder, never kept:

- baseline: a valid roster of three rows (what starting the importer costs);
- dimension: three rows in an XLSX whose sheet claims A1:XFD1048576;
- shared-strings: an XLSX whose table of texts unpacks to 400 MB;
- zip-bomb: an XLSX whose sheet unpacks to 600 MB of blanks;
- wide: 200 rows of 20,000 columns;
- long-field: a CSV with one field of 200 KiB;
- utf16: 100,000 rows in UTF-16 without a BOM;
- csv-small, csv-large: a tenth of --rows, then --rows member rows (a million by default),
  UTF-8 with a BOM, into a database with the county's 200 villages; peak memory of the
  two shows whether memory grows with the rows;
- plain: the csv module reading the large file, nothing else (the floor).

Each runs `storage.rosters.import_roster` exactly as `hucha import-roster` does, with its
address space limited to 512 MB and killed after 60 s. Printed: seconds, peak RSS in MB,
the outcome, and whether the limits held.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import importlib
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from openpyxl import Workbook  # noqa: E402

from storage import import_roster, make_engine, make_sessionmaker  # noqa: E402

roster_bench: Any = importlib.import_module("bench.import")

SECONDS = 60
MEGABYTES = 512
VILLAGE = roster_bench.village_code(0)
FAMILY = [
    [VILLAGE, "1组", "90001", "钱多多", roster_bench.id_number(9_000_001), "户主", "钱多多"],
    [VILLAGE, "1组", "90001", "钱多多", roster_bench.id_number(9_000_002), "配偶", "孙小美"],
    [VILLAGE, "1组", "90001", "钱多多", roster_bench.id_number(9_000_003), "之子", "钱小宝"],
]
HEADER = ["村", "组", "户编号", "户主姓名", "身份证号", "与户主关系", "姓名"]


def csv_file(path: Path, rows: list[list[str]], encoding: str = "utf-8-sig") -> None:
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows)


def xlsx_bytes(rows: list[list[str]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in [HEADER, *rows]:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def with_parts(raw: bytes, path: Path, change: dict[str, Any]) -> None:
    """Copy a workbook, replacing parts: a value is bytes, or (head, unit, count, tail) to
    stream `unit` `count` times between head and tail."""
    with zipfile.ZipFile(io.BytesIO(raw)) as source, zipfile.ZipFile(path, "w") as target:
        names = source.namelist()
        for name in [*names, *(n for n in change if n not in names)]:
            replacement = change.get(name)
            if replacement is None:
                target.writestr(name, source.read(name), compress_type=zipfile.ZIP_DEFLATED)
                continue
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            with target.open(info, "w", force_zip64=True) as part:
                head, unit, count, tail = replacement
                part.write(head)
                block = unit * 1024
                for _ in range(count // 1024):
                    part.write(block)
                part.write(tail)


def make_files(folder: Path, rows: int) -> dict[str, Path]:
    files: dict[str, Path] = {}
    files["baseline"] = folder / "baseline.csv"
    csv_file(files["baseline"], FAMILY)

    workbook = xlsx_bytes(FAMILY)
    files["dimension"] = folder / "dimension.xlsx"
    with zipfile.ZipFile(io.BytesIO(workbook)) as source:
        sheet = source.read("xl/worksheets/sheet1.xml")
    start = sheet.index(b"<dimension ref=")
    end = sheet.index(b"/>", start)
    claimed = sheet[:start] + b'<dimension ref="A1:XFD1048576"' + sheet[end:]
    with_parts(workbook, files["dimension"], {"xl/worksheets/sheet1.xml": (claimed, b"", 0, b"")})

    files["shared-strings"] = folder / "shared-strings.xlsx"
    head = b'<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    unit = b"<si><t>" + "户主".encode() * 10 + b"</t></si>"
    count = 400 * 2**20 // len(unit)
    with_parts(
        workbook, files["shared-strings"], {"xl/sharedStrings.xml": (head, unit, count, b"</sst>")}
    )

    files["zip-bomb"] = folder / "zip-bomb.xlsx"
    with_parts(
        workbook, files["zip-bomb"], {"xl/worksheets/sheet1.xml": (sheet, b" ", 600 * 2**20, b"")}
    )

    files["wide"] = folder / "wide.csv"
    wide = [
        [*FAMILY[n % 3][:2], f"9{n:04d}", *FAMILY[n % 3][3:], *(["x"] * 20_000)] for n in range(200)
    ]
    csv_file(
        files["wide"],
        [[row[0], row[1], row[2], row[3], "", "户主", row[3], *row[7:]] for row in wide],
    )

    files["long-field"] = folder / "long-field.csv"
    csv_file(
        files["long-field"],
        [*FAMILY, [VILLAGE, "1组", "90002", "长" * 200_000, "", "户主", "某某"]],
    )

    files["utf16"] = folder / "utf16.csv"
    small = folder / "utf16-source.csv"
    roster_bench.write_roster(small, 100_000 // 3)
    files["utf16"].write_bytes(small.read_text(encoding="utf-8-sig").encode("utf-16-le"))
    small.unlink()

    files["csv-small"] = folder / "csv-small.csv"
    roster_bench.write_roster(files["csv-small"], rows // 30)
    files["csv-large"] = folder / "csv-large.csv"
    roster_bench.write_roster(files["csv-large"], rows // 3)
    files["plain"] = files["csv-large"]
    return files


async def run_import(url: str, roster: Path) -> dict[str, Any]:
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine).begin() as s:
            report = await import_roster(s, roster, roster_bench.NOW)
    finally:
        await engine.dispose()
    first = report.errors[0].reason_message_id if report.errors else ""
    return {
        "households": report.added_households,
        "members": report.members_added,
        "errors": len(report.errors),
        "first error": first[:60],
    }


def read_plain(roster: Path) -> dict[str, Any]:
    rows = 0
    with roster.open(encoding="utf-8-sig", newline="") as handle:
        for _ in csv.reader(handle):
            rows += 1
    return {"rows read": rows - 1}


def child(variant: str, url: str, roster: Path) -> None:
    limit = MEGABYTES * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    started = time.perf_counter()
    cpu = time.process_time()
    if variant == "plain":
        outcome = read_plain(roster)
    else:
        outcome = asyncio.run(run_import(url, roster))
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures = {"seconds": seconds, "cpu": cpu, "peak_mb": peak_mb, **outcome}
    print(json.dumps(figures, ensure_ascii=False))


def measure(variant: str, url: str, roster: Path, seconds: float) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", variant, "--url", url, "--roster", str(roster)]
    # glibc reserves an arena of address space per thread; two are plenty here.
    environment = {**os.environ, "MALLOC_ARENA_MAX": "2"}
    started = time.perf_counter()
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=seconds, env=environment
        )
    except subprocess.TimeoutExpired:
        return {
            "seconds": time.perf_counter() - started,
            "peak_mb": float("nan"),
            "failed": f"over {seconds:.0f} s",
        }
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return {
            "seconds": time.perf_counter() - started,
            "peak_mb": float("nan"),
            "failed": last[:80],
        }
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--only", nargs="*", help="run only these variants")
    parser.add_argument(
        "--seconds",
        type=float,
        default=SECONDS,
        help="time limit per file (60; raise it on a shared machine to see the memory)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--roster", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.url, args.roster)
        return
    with tempfile.TemporaryDirectory(prefix="hucha-hostile-") as name:
        folder = Path(name)
        started = time.perf_counter()
        files = make_files(folder, args.rows)
        print(f"files made in {time.perf_counter() - started:.0f} s:", flush=True)
        for variant, path in files.items():
            print(f"  {variant:<15} {path.stat().st_size / 1e6:>9.2f} MB  {path.name}")
        template = folder / "template.db"
        asyncio.run(roster_bench.prepare(f"sqlite+aiosqlite:///{template}"))
        print(f"{'variant':<15} {'seconds':>8} {'cpu s':>8} {'peak MB':>8}  limits  outcome")
        for variant, path in files.items():
            if args.only and variant not in args.only:
                continue
            database = folder / f"{variant}.db"
            shutil.copy(template, database)
            r = measure(variant, f"sqlite+aiosqlite:///{database}", path, args.seconds)
            held = r["seconds"] < SECONDS and r.get("peak_mb", 0) < MEGABYTES and "failed" not in r
            outcome = {k: v for k, v in r.items() if k not in ("seconds", "cpu", "peak_mb")}
            print(
                f"{variant:<15} {r['seconds']:>8.1f} {r.get('cpu', float('nan')):>8.1f} "
                f"{r['peak_mb']:>8.0f}  "
                f"{'held' if held else 'BROKEN':<6}  {outcome}",
                flush=True,
            )
            database.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
