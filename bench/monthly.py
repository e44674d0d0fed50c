"""Measure the monthly report (月报表) of a county: figures from history, written as XLSX.

    nice -n 10 .venv/bin/python bench/monthly.py [--records 25000] [--database FILE]

The database of bench/export.py (the demo county, one household per five checks, a problem
per ten checks), with each problem's history: raised, and for one in three a progress note,
for one in five rectified and verified. Then, in this process: the report of the period the
checks fall in, as of its date (`storage.reports.monthly_report`), the report of the next
period (nothing checked, the open problems carried from history), and the XLSX file with its
villages' sheet. Printed: seconds for each and the peak RSS in MB.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select  # noqa: E402

from bench.export import NOW, seed  # noqa: E402
from storage import Problem, ProblemEvent, make_engine, make_sessionmaker  # noqa: E402
from storage.periods import period_named  # noqa: E402
from storage.reports import monthly_report, write_monthly  # noqa: E402
from storage.schedule import AreaSchedule  # noqa: E402

COUNTY = "320705"


async def add_history(url: str) -> None:
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine).begin() as s:
            if await s.scalar(select(func.count(ProblemEvent.id))):
                return
            ids = list(await s.scalars(select(Problem.id).order_by(Problem.id)))
            events = []
            for n, problem_id in enumerate(ids):
                events.append(
                    {"problem_id": problem_id, "at": NOW, "action": "raised", "to_status": "open"}
                )
                if n % 3 == 0:
                    events.append(
                        {
                            "problem_id": problem_id,
                            "at": NOW + timedelta(days=1),
                            "action": "progress",
                            "from_status": "open",
                            "to_status": "in_progress",
                            "note": f"已联系鉴定机构（{n}）",
                        }
                    )
                if n % 5 == 0:
                    for days, action, before, after in (
                        (2, "rectify", "in_progress", "rectified"),
                        (3, "verify", "rectified", "verified"),
                    ):
                        events.append(
                            {
                                "problem_id": problem_id,
                                "at": NOW + timedelta(days=days),
                                "action": action,
                                "from_status": before,
                                "to_status": after,
                                "note": "已完成鉴定" if action == "rectify" else None,
                            }
                        )
            for start in range(0, len(events), 5000):
                await s.execute(insert(ProblemEvent), events[start : start + 5000])
    finally:
        await engine.dispose()


async def measure(url: str, folder: Path) -> None:
    engine = make_engine(url)
    schedule = AreaSchedule()
    try:
        async with make_sessionmaker(engine)() as s:
            for name, period, now in (
                ("the checks' period", period_named(schedule, 2025, 4), NOW + timedelta(days=5)),
                ("the next period", period_named(schedule, 2025, 5), NOW + timedelta(days=40)),
            ):
                began = time.perf_counter()
                report = await monthly_report(s, COUNTY, period, now)
                took = time.perf_counter() - began
                print(
                    f"{name}: {took:.2f} s, {report.checked_households} households checked, "
                    f"{sum(f.open for f in report.figures.values())} open problems"
                )
            began = time.perf_counter()
            await asyncio.to_thread(write_monthly, report, folder / "monthly.xlsx", "xlsx", "zh_CN")
            print(f"writing the XLSX: {time.perf_counter() - began:.2f} s")
    finally:
        await engine.dispose()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=25000)
    parser.add_argument("--database", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hucha-bench-monthly-") as folder:
        path = args.database or Path(folder) / "bench.db"
        url = f"sqlite+aiosqlite:///{path}"
        began = time.perf_counter()
        asyncio.run(seed(url, args.records))
        asyncio.run(add_history(url))
        print(f"{args.records} checks seeded in {time.perf_counter() - began:.1f} s")
        asyncio.run(measure(url, Path(folder)))


if __name__ == "__main__":
    main()
