"""Measure the roster import (花名册导入) against plain csv reading and bulk inserts.

    .venv/bin/python bench/import.py [--households 100000]

Writes a roster CSV in UTF-8 with a BOM: N households in 200 villages, 1 to 5 members each
(about 3 on average) with valid resident ID numbers, one row per member, every column offices
use. Each variant then runs in a fresh Python process on a freshly migrated SQLite file, so
that its peak memory (ru_maxrss) is its own:

- hucha: `storage.rosters.import_roster`, exactly what `hucha import-roster` and /import run
  (decoding, header mapping, every row checked, ID numbers checked, compared with the
  database, bulk writes, the history of each household);
- hucha-again: the same file a second time into the same database (nothing changes);
- plain: the csv module reading the same file, grouping rows by household, and SQLAlchemy
  bulk inserts (5,000 households at a time) of households and members as they stand: no
  checks, no comparison with the database, no history. The floor.

Printed: seconds, peak RSS in MB and rows per second for each, and the ratio to plain.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import resource
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from bench.child import measure_in_child  # noqa: E402
from rosterfiles.id_numbers import id_number_check_digit  # noqa: E402
from storage import (  # noqa: E402
    Household,
    Member,
    add_area,
    import_roster,
    make_engine,
    make_sessionmaker,
    seed_demo,
    upgrade,
)

NOW = datetime(2025, 3, 20, 2, 30, tzinfo=UTC)
VILLAGES = 200
TOWNSHIP = "320705001"
HEADER = [
    "村", "组", "户编号", "户主姓名", "身份证号", "与户主关系", "姓名", "性别", "出生日期",
    "健康状况", "在校生状况", "户类型", "帮扶责任人", "联系电话",
]  # fmt: skip
RELATIONS = ("户主", "配偶", "之子", "之女", "之母")
VARIANTS = ("hucha", "hucha-again", "plain")
BATCH = 5000  # households per insert in the plain variant, as the importer batches


def village_code(n: int) -> str:
    return f"{TOWNSHIP}{n + 101:03d}"


def id_number(person: int) -> str:
    """A distinct, well-formed ID number for each person number (up to 25 million)."""
    born = date(1950, 1, 1) + timedelta(days=person % 25000)
    first17 = f"320705{born:%Y%m%d}{person // 25000 % 1000:03d}"
    return first17 + id_number_check_digit(first17)


def write_roster(path: Path, households: int) -> int:
    """The roster file; returns its number of member rows."""
    rows = 0
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for n in range(households):
            village = village_code(n % VILLAGES)
            number = f"{n // VILLAGES + 1:05d}"
            head = f"户主{n}"
            for m in range(1 + n % 5):
                writer.writerow(
                    [
                        village, f"{n % 9 + 1}组", number, head, id_number(n * 5 + m),
                        RELATIONS[m], head if m == 0 else f"成员{n}-{m}", "", "",
                        "健康", "", "脱贫户" if n % 3 else "一般户", f"干部{n % 50}",
                        f"138{n % 100000000:08d}" if m == 0 else "",
                    ]
                )  # fmt: skip
                rows += 1
    return rows


async def prepare(url: str) -> None:
    await upgrade(url)
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine).begin() as s:
            await seed_demo(s, NOW)
            for n in range(VILLAGES):
                await add_area(s, village_code(n), f"村{n}", "village", parent_code=TOWNSHIP)
    finally:
        await engine.dispose()


async def run_hucha(url: str, roster: Path) -> dict[str, Any]:
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine).begin() as s:
            report = await import_roster(s, roster, NOW)
    finally:
        await engine.dispose()
    return {
        "added": report.added_households,
        "unchanged": report.unchanged,
        "members": report.members_added,
        "errors": len(report.errors),
    }


async def run_plain(url: str, roster: Path) -> dict[str, Any]:
    """csv module, households then members in bulk; no checks, no comparison."""
    by_household: dict[tuple[str, str], list[list[str]]] = {}
    with roster.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        for row in reader:
            by_household.setdefault((row[0], row[2]), []).append(row)
    engine = make_engine(url)
    keys = list(by_household)
    members = 0
    try:
        async with make_sessionmaker(engine).begin() as s:
            for start in range(0, len(keys), BATCH):
                batch = keys[start : start + BATCH]
                ids = list(
                    await s.scalars(
                        insert(Household).returning(Household.id, sort_by_parameter_order=True),
                        [
                            {"village_code": village, "number": number,
                             "head_name": by_household[(village, number)][0][3],
                             "created_at": NOW, "updated_at": NOW}
                            for village, number in batch
                        ],
                    )
                )  # fmt: skip
                rows = [
                    {"household_id": household_id, "name": row[6], "relation": row[5],
                     "id_number": row[4], "health": row[9], "active": True}
                    for household_id, key in zip(ids, batch, strict=True)
                    for row in by_household[key]
                ]  # fmt: skip
                await s.execute(insert(Member), rows)
                members += len(rows)
    finally:
        await engine.dispose()
    return {"added": len(keys), "members": members}


def child(variant: str, url: str, roster: Path) -> None:
    started = time.perf_counter()
    runner = run_plain if variant == "plain" else run_hucha
    outcome = asyncio.run(runner(url, roster))
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, **outcome}))


def measure(variant: str, url: str, roster: Path) -> dict[str, Any]:
    return measure_in_child(__file__, variant, ["--url", url, "--roster", str(roster)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--households", type=int, default=100_000)
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--roster", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.url, args.roster)
        return
    with tempfile.TemporaryDirectory(prefix="hucha-bench-") as folder:
        roster = Path(folder) / "roster.csv"
        rows = write_roster(roster, args.households)
        size = roster.stat().st_size / 1e6
        print(f"roster: {args.households} households, {rows} member rows, {size:.1f} MB")
        ours = f"sqlite+aiosqlite:///{Path(folder) / 'hucha.db'}"
        floor = f"sqlite+aiosqlite:///{Path(folder) / 'plain.db'}"
        asyncio.run(prepare(ours))
        asyncio.run(prepare(floor))
        results = {
            "hucha": measure("hucha", ours, roster),
            "hucha-again": measure("hucha-again", ours, roster),
            "plain": measure("plain", floor, roster),
        }
    print(f"{'variant':<12} {'seconds':>8} {'peak MB':>8} {'rows/s':>8}  outcome")
    for variant, r in results.items():
        outcome = {k: v for k, v in r.items() if k not in ("seconds", "peak_mb")}
        print(
            f"{variant:<12} {r['seconds']:>8.1f} {r['peak_mb']:>8.0f} "
            f"{rows / r['seconds']:>8.0f}  {outcome}"
        )
    ours_r, plain_r = results["hucha"], results["plain"]
    print(
        f"hucha / plain = {ours_r['seconds'] / plain_r['seconds']:.2f}x time, "
        f"{ours_r['peak_mb'] / plain_r['peak_mb']:.2f}x peak memory"
    )


if __name__ == "__main__":
    main()
