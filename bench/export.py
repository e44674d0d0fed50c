"""Measure the check records export against plain openpyxl write-only and the csv module.

    .venv/bin/python bench/export.py [--records 100000] [--database FILE]

A temporary SQLite file (or FILE, reused when it already holds the records) gets the demo
areas, one household per five checks and N submitted check records with realistic answers
(two children and three members each, so both repeat sheets fill). Each variant then runs in
a fresh Python process, so that its peak memory (ru_maxrss) is its own:

- hucha-xlsx / hucha-csv: `storage.exports.export_checks`, exactly what `/export` and
  `hucha export` run: batches streamed from the database, rows built and written in a worker
  thread, choices as Chinese labels, a sheet (or file) per repeat group and the problems;
- plain-xlsx / plain-csv: the same database rows streamed by the same statement, written
  with openpyxl's write-only mode (with the formatting on: styled header row, frozen panes,
  autofilter, widths, dated cells) or the csv module in the event loop thread, raw answer
  values, one row per check and per repeat item: the floor of reading plus writing.

Printed: seconds, peak RSS in MB and rows per second for each, and hucha's ratio to the
plain variant of the same format. `--records 10000` beside the default shows whether memory
grows with the number of rows.
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

from sqlalchemy import func, insert, select  # noqa: E402

from bench.child import measure_in_child  # noqa: E402
from conversations import load_forms  # noqa: E402
from storage import (  # noqa: E402
    CheckRecord,
    CheckSession,
    Household,
    Problem,
    User,
    make_engine,
    make_sessionmaker,
    seed_demo,
    upgrade,
)
from storage.exports import ExportScope, checks_statement, export_checks  # noqa: E402

NOW = datetime(2025, 3, 20, 2, 30, tzinfo=UTC)
SCOPE = ExportScope("320705", date(2025, 3, 1), date(2025, 3, 31))
CHECKS_PER_HOUSEHOLD = 5
BATCH = 5000
VARIANTS = ("hucha-xlsx", "plain-xlsx", "hucha-csv", "plain-csv")


def answers(index: int) -> dict[str, Any]:
    grades = ("A", "B", "C", "D", "not_assessed")
    return {
        "visit_type": "home_visit" if index % 3 else "phone",
        "respondent": "head",
        "food_staple": "yes",
        "food_nutrition": "yes" if index % 17 else "no",
        "clothing_seasonal": "yes",
        "clothing_bedding": "yes",
        "children": [
            {
                "name": f"儿童{index}甲",
                "birth_date": "2014-05-01",
                "school_status": "in_school",
                "grade": "primary_5",
                "school_aid": "yes",
            },
            {
                "name": f"儿童{index}乙",
                "birth_date": "2016-09-01",
                "school_status": "dropped_out" if index % 50 == 0 else "in_school",
                "grade": "primary_3",
                "school_aid": "yes",
            },
        ],
        "members": [
            {
                "name": f"成员{index}-{n}",
                "birth_date": "1975-01-01",
                "insurance": "resident",
                "serious_illness_insurance": "yes",
                "health": "chronic" if n == 0 else "healthy",
                "family_doctor": "yes",
                "chronic_card": "yes",
                "treated": "yes",
                "costs_affordable": "yes",
            }
            for n in range(3)
        ],
        "housing_grade": grades[index % len(grades)],
        "housing_alternative": "renovation_plan" if index % 5 in (2, 3) else None,
        "floor_area": 60 + index % 40,
        "water_source": "centralised",
        "water_lpd": 40 + index % 30,
        "water_clear": "yes",
        "water_no_ill_effects": "yes",
        "water_lab_report": "yes",
        "water_piped": "yes",
        "water_short_days": index % 10,
        "income_wages": 20000 + index % 5000,
        "income_business": 3000,
        "income_property": 0,
        "income_transfer": 1200,
        "spending_eligible": 0,
        "household_size": 5,
        "income_total": 24200 + index % 5000,
        "income_per_person": round((24200 + index % 5000) / 5, 2),
        "income_after_spending_per_person": round((24200 + index % 5000) / 5, 2),
        "risk_factors": ["illness"] if index % 7 == 0 else [],
        "knows_cadre": "yes",
        "contacted_this_month": "yes",
        "leaflet_received": "yes",
        "leaflet_understood": "yes",
        "satisfaction": "satisfied",
        "notes": "情况良好" if index % 4 == 0 else None,
        "location": {"latitude": 34.6, "longitude": 119.2},
    }


async def seed(url: str, records: int) -> None:
    """The demo areas, a cadre, households and `records` submitted checks (some problems)."""
    await upgrade(url)
    engine = make_engine(url)
    maker = make_sessionmaker(engine)
    try:
        async with maker.begin() as s:
            have = await s.scalar(select(func.count(CheckRecord.id)))
            if have == records:
                return
            if have:
                raise SystemExit(f"{url} holds {have} records, not {records}: use another file")
            demo = await seed_demo(s, NOW)
            cadre = User(
                name="李卫东",
                role="cadre",
                area_code=demo.village_code,
                language="zh_CN",
                created_at=NOW,
            )
            s.add(cadre)
            await s.flush()
            households = records // CHECKS_PER_HOUSEHOLD
            villages = (demo.village_code, demo.other_village_code)
            rows = [
                {
                    "village_code": villages[n % 2],
                    "number": f"B{n:06d}",
                    "head_name": f"户主{n}",
                    "head_id_number": "320705198001010019",
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for n in range(households)
            ]
            ids = list(await s.scalars(insert(Household).returning(Household.id), rows))
        for start in range(0, records, BATCH):
            async with maker.begin() as s:
                chunk = range(start, min(start + BATCH, records))
                sessions = list(
                    await s.scalars(
                        insert(CheckSession).returning(CheckSession.id),
                        [
                            {
                                "user_id": cadre.id,
                                "household_id": ids[i % len(ids)],
                                "form_id": "household_check",
                                "state": {},
                                "status": "submitted",
                                "created_at": NOW,
                                "updated_at": NOW,
                            }
                            for i in chunk
                        ],
                    )
                )
                at = [NOW - timedelta(minutes=i % 20000) for i in chunk]
                record_ids = list(
                    await s.scalars(
                        insert(CheckRecord).returning(CheckRecord.id),
                        [
                            {
                                "session_id": session_id,
                                "household_id": ids[i % len(ids)],
                                "cadre_user_id": cadre.id,
                                "form_id": "household_check",
                                "form_version": "2024.1",
                                "submitted_at": moment,
                                "visit_type": "home_visit",
                                "at_risk": False,
                                "problems_raised": 1 if i % 10 == 0 else 0,
                                "answers": answers(i),
                            }
                            for i, session_id, moment in zip(chunk, sessions, at, strict=True)
                        ],
                    )
                )
                problems = [
                    {
                        "household_id": ids[i % len(ids)],
                        "village_code": villages[i % len(ids) % 2],
                        "check_record_id": record_id,
                        "rule_id": "housing_not_assessed",
                        "category": "住房安全",
                        "text": "住房未进行安全性鉴定。",
                        "text_i18n": {},
                        "goal": "鉴定全覆盖。",
                        "goal_i18n": {},
                        "measures": "组织开展住房安全性鉴定。",
                        "responsible_unit": "县住房和城乡建设局",
                        "deadline": date(2025, 5, 20),
                        "deadline_tier": "timed",
                        "status": "open",
                        "created_at": NOW,
                        "updated_at": NOW,
                    }
                    for i, record_id in zip(chunk, record_ids, strict=True)
                    if i % 10 == 0
                ]
                if problems:
                    await s.execute(insert(Problem), problems)
    finally:
        await engine.dispose()


async def run_hucha(url: str, out: Path, fmt: str) -> int:
    form = load_forms()["household_check"]
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as s:
            result = await export_checks(s, form, SCOPE, out, fmt, NOW)  # type: ignore[arg-type]
    finally:
        await engine.dispose()
    return result.rows


async def run_plain(url: str, out: Path, fmt: str) -> int:
    """Same statement, same rows; raw values written directly, in the loop's thread; in XLSX
    with the formatting on: styled header cells, frozen panes, an autofilter, widths and
    dated cells in a date format (openpyxl write-only mode with styles)."""
    form = load_forms()["household_check"]
    top = [q.id for q in form.questions if q.type not in ("repeat", "note")]
    groups = {q.id: [c.id for c in q.children] for q in form.questions if q.type == "repeat"}
    engine = make_engine(url)
    rows = 0
    if fmt == "xlsx":
        from openpyxl import Workbook
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
        from openpyxl.utils import get_column_letter

        workbook = Workbook(write_only=True)
        sheets = {"checks": workbook.create_sheet("checks")}
        sheets |= {group: workbook.create_sheet(group) for group in groups}
        handles: list[Any] = []
        # The formatting on: styled, frozen, filtered header rows, widths, dated cells.
        thin = Side(style="thin")
        header_style = {
            "font": Font(bold=True),
            "alignment": Alignment(wrap_text=True, horizontal="center", vertical="center"),
            "border": Border(left=thin, right=thin, top=thin, bottom=thin),
            "fill": PatternFill("solid", fgColor="DDEBF7"),
        }
        columns = {"checks": 13 + len(top)} | {g: 2 + len(c) for g, c in groups.items()}
        for key, sheet in sheets.items():
            sheet.freeze_panes = "A2"
            sheet.auto_filter.ref = f"A1:{get_column_letter(columns[key])}1048576"
            for index in range(1, columns[key] + 1):
                sheet.column_dimensions[get_column_letter(index)].width = 14
            header = []
            for index in range(columns[key]):
                styled = WriteOnlyCell(sheet, value=f"column {index}")
                for name, style in header_style.items():
                    setattr(styled, name, style)
                header.append(styled)
            sheet.append(header)

        def write(key: str, row: list[Any]) -> None:
            cells: list[Any] = []
            for value in row:
                if isinstance(value, datetime):
                    dated = WriteOnlyCell(sheets[key], value=value)
                    dated.number_format = "yyyy-mm-dd hh:mm"
                    cells.append(dated)
                else:
                    cells.append(value)
            sheets[key].append(cells)
    else:
        handles = [
            out.with_name(f"{out.stem}-{key}.csv").open("w", encoding="utf-8-sig", newline="")
            for key in ("checks", *groups)
        ]
        writers = {key: csv.writer(h) for key, h in zip(("checks", *groups), handles, strict=True)}

        def write(key: str, row: list[Any]) -> None:
            writers[key].writerow(row)

    def cell(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.replace(tzinfo=None)  # Excel has no time zones
        return json.dumps(value, ensure_ascii=False) if isinstance(value, list | dict) else value

    try:
        async with make_sessionmaker(engine)() as s:
            result = await s.stream(checks_statement(SCOPE).execution_options(yield_per=1000))
            async for row in result:
                answers_of = row[13]
                fixed = [cell(value) for value in row[:13]]
                write("checks", [*fixed, *(cell(answers_of.get(q)) for q in top)])
                for group, children in groups.items():
                    for number, item in enumerate(answers_of.get(group) or [], start=1):
                        write(group, [row[1], number, *(cell(item.get(c)) for c in children)])
                rows += 1
    finally:
        await engine.dispose()
    if fmt == "xlsx":
        workbook.save(out)
    for handle in handles:
        handle.close()
    return rows


def child(variant: str, url: str, folder: Path) -> None:
    """Run one variant; print its seconds, peak RSS and rows as JSON."""
    kind, fmt = variant.split("-")
    out = folder / f"{variant}.{fmt}"
    started = time.perf_counter()
    runner = run_hucha if kind == "hucha" else run_plain
    rows = asyncio.run(runner(url, out, fmt))
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size = sum(p.stat().st_size for p in folder.glob(f"{variant}*"))
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_mb": peak_mb, "bytes": size}))


def measure(variant: str, url: str, folder: Path) -> dict[str, Any]:
    return measure_in_child(__file__, variant, ["--url", url, "--folder", str(folder)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--database", type=Path, help="SQLite file to seed or reuse")
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.url, args.folder)
        return
    with tempfile.TemporaryDirectory(prefix="hucha-bench-") as folder:
        database = args.database or Path(folder) / "bench.db"
        url = f"sqlite+aiosqlite:///{database}"
        started = time.perf_counter()
        asyncio.run(seed(url, args.records))
        print(f"seeded {args.records} check records in {time.perf_counter() - started:.1f} s")
        results = {variant: measure(variant, url, Path(folder)) for variant in VARIANTS}
    print(f"{'variant':<12} {'rows':>8} {'seconds':>8} {'peak MB':>8} {'rows/s':>8} {'MB out':>7}")
    for variant, r in results.items():
        print(
            f"{variant:<12} {r['rows']:>8} {r['seconds']:>8.1f} {r['peak_mb']:>8.0f} "
            f"{r['rows'] / r['seconds']:>8.0f} {r['bytes'] / 1e6:>7.1f}"
        )
    for fmt in ("xlsx", "csv"):
        ours, plain = results[f"hucha-{fmt}"], results[f"plain-{fmt}"]
        print(
            f"{fmt}: hucha / plain = {ours['seconds'] / plain['seconds']:.2f}x time, "
            f"{ours['peak_mb'] / plain['peak_mb']:.2f}x peak memory"
        )


if __name__ == "__main__":
    main()
