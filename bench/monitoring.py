"""Measure monitoring cases (防返贫监测) on a county's year of checks.

    .venv/bin/python bench/monitoring.py [--households 5000] [--villages 50] [--months 12]
                                         [--database sqlite|URL]

A freshly migrated database (a temporary SQLite file by default) gets one county, a township,
`--villages` villages and their households, a cadre per village and a leader, and a check
record per household and month; one household in ten is flagged at risk every month, with
its one case and a line in its history per re-check. Then:

1. a check that flags a household with an open case, submitted (its line added in the same
   transaction), and one that opens a new case: time per submit's monitoring part;
2. the minute sweep's safety net with nothing left to do (`open_cases_for_flagged`);
3. `/cases` for the leader (20 cases with steps and history) and the dashboard's 200.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from storage import make_engine, make_sessionmaker, upgrade
from storage.models import (
    Area,
    CheckRecord,
    CheckSession,
    Household,
    MonitoringCase,
    MonitoringCaseEvent,
    MonitoringStep,
    User,
)
from storage.monitoring import (
    PROCEDURES,
    note_at_risk,
    open_cases_for_flagged,
    open_cases_in,
)
from storage.progress import load_schedules
from storage.schedule import DEFAULT_CASE_STEP_DAYS

START = datetime(2025, 12, 5, 2, 0, tzinfo=UTC)
BATCH = 5000


async def _insert(s: AsyncSession, table: object, rows: list[dict[str, object]]) -> None:
    for start in range(0, len(rows), BATCH):
        await s.execute(insert(table), rows[start : start + BATCH])  # type: ignore[call-overload]


async def populate(
    maker: async_sessionmaker[AsyncSession], households: int, villages: int, months: int
) -> tuple[int, int]:
    county, township = "360700", "360700001"
    codes = [f"{township}{v:03d}" for v in range(villages)]
    async with maker.begin() as s:
        areas = [
            {"code": county, "name": "示范县", "level": "county", "parent_code": None},
            {"code": township, "name": "示范镇", "level": "township", "parent_code": county},
        ]
        areas += [
            {"code": code, "name": f"村{n}", "level": "village", "parent_code": township}
            for n, code in enumerate(codes)
        ]
        for area in areas:
            area.update(timezone="Asia/Shanghai", settings={}, province="江西")
        await _insert(s, Area, areas)
        users = [
            {
                "name": f"村干部{n}",
                "role": "cadre",
                "area_code": code,
                "active": True,
                "created_at": START,
            }
            for n, code in enumerate(codes)
        ]
        users.append(
            {
                "name": "队长",
                "role": "leader",
                "area_code": township,
                "active": True,
                "created_at": START,
            }
        )
        await _insert(s, User, users)
        await _insert(
            s,
            Household,
            [
                {
                    "id": h + 1,
                    "village_code": codes[h % villages],
                    "number": f"{h:05d}",
                    "head_name": f"户主{h}",
                    "created_at": START,
                    "updated_at": START,
                }
                for h in range(households)
            ],
        )
        sessions, records, cases, steps, events = [], [], [], [], []
        record_id = 0
        at_risk = {h for h in range(households) if h % 10 == 0}
        for month in range(months):
            at = START + timedelta(days=30 * month)
            for h in range(households):
                record_id += 1
                cadre = h % villages + 1
                sessions.append(
                    {
                        "id": record_id,
                        "user_id": cadre,
                        "household_id": h + 1,
                        "form_id": "household_check",
                        "state": {},
                        "status": "submitted",
                        "created_at": at,
                        "updated_at": at,
                    }
                )
                records.append(
                    {
                        "id": record_id,
                        "session_id": record_id,
                        "household_id": h + 1,
                        "cadre_user_id": cadre,
                        "form_id": "household_check",
                        "form_version": "1",
                        "submitted_at": at,
                        "at_risk": h in at_risk,
                        "problems_raised": 0,
                        "answers": {},
                        "version": 1,
                        "latest": True,
                    }
                )
                if h not in at_risk:
                    continue
                if month == 0:
                    case_id = len(cases) + 1
                    cases.append(
                        {
                            "id": case_id,
                            "household_id": h + 1,
                            "check_record_id": record_id,
                            "kind": "identify",
                            "status": "open",
                            "opened_on": at.date(),
                            "responsible_user_id": cadre,
                            "created_at": at,
                        }
                    )
                    for position, rule in enumerate(PROCEDURES["identify"]):
                        due = at.date() + timedelta(days=DEFAULT_CASE_STEP_DAYS[rule.code])
                        steps.append(
                            {
                                "case_id": case_id,
                                "step": rule.code,
                                "position": position,
                                "due_on": due,
                                "done_at": at if position == 0 else None,
                            }
                        )
                events.append(
                    {
                        "case_id": h // 10 + 1,
                        "at": at,
                        "kind": "opened" if month == 0 else "seen_again",
                        "check_record_id": record_id,
                        "check_id": record_id,
                        "user_id": cadre,
                    }
                )
        await _insert(s, CheckSession, sessions)
        await _insert(s, CheckRecord, records)
        await _insert(s, MonitoringCase, cases)
        await _insert(s, MonitoringStep, steps)
        await _insert(s, MonitoringCaseEvent, events)
    return record_id, len(cases)


async def _new_record(s: AsyncSession, record_id: int, household: int, at: datetime) -> CheckRecord:
    s.add(
        CheckSession(
            id=record_id,
            user_id=1,
            household_id=household,
            form_id="household_check",
            state={},
            status="submitted",
            created_at=at,
            updated_at=at,
        )
    )
    await s.flush()
    record = CheckRecord(
        id=record_id,
        session_id=record_id,
        household_id=household,
        cadre_user_id=1,
        form_id="household_check",
        form_version="1",
        submitted_at=at,
        at_risk=True,
        problems_raised=0,
        answers={},
    )
    s.add(record)
    await s.flush()
    return record


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=5000)
    parser.add_argument("--villages", type=int, default=50)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--database", default="sqlite")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="hucha-bench-")
    url = f"sqlite+aiosqlite:///{folder}/bench.db" if args.database == "sqlite" else args.database
    await upgrade(url)
    engine = make_engine(url)
    maker = make_sessionmaker(engine)
    began = time.perf_counter()
    last_id, cases = await populate(maker, args.households, args.villages, args.months)
    print(
        f"{args.households:,} households, {last_id:,} check records, {cases:,} open cases: "
        f"filled in {time.perf_counter() - began:.1f} s"
    )
    now = START + timedelta(days=30 * args.months)

    for label, household in (
        ("re-check of a household with an open case", 1),
        ("check that opens a new case", 2),
    ):
        timings = []
        for n in range(5):
            async with maker.begin() as s:
                record = await _new_record(s, last_id + 1, household + 10 * n, now)
                last_id += 1
                began = time.perf_counter()
                await note_at_risk(s, record, None, now)
                timings.append(time.perf_counter() - began)
        print(f"{label}: {1000 * sorted(timings)[2]:.1f} ms (median of 5)")

    async with maker.begin() as s:
        schedules = await load_schedules(s)
        began = time.perf_counter()
        opened = await open_cases_for_flagged(s, schedules, now)
        sweep = time.perf_counter() - began
    print(f"sweep safety net, nothing to do: {1000 * sweep:.1f} ms (opened {opened})")

    async with maker() as s:
        leader = await s.scalar(select(User).where(User.role == "leader"))
        assert leader is not None
        for limit in (20, 200):
            began = time.perf_counter()
            views = await open_cases_in(s, leader, limit)
            print(
                f"open cases with steps and history, {len(views)} shown: "
                f"{1000 * (time.perf_counter() - began):.1f} ms"
            )
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
