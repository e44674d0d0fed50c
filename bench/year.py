"""Measure a simulated year of monthly checks of a county: the checks written, and the monthly
report (月报表) of each reporting period as of its end.

    nice -n 10 .venv/bin/python bench/year.py [--households 5000] [--villages 50]
                                              [--months 12] [--database FILE]

A freshly migrated SQLite file (a temporary one unless FILE is given) gets one county, a
township, `--villages` villages, their households (脱贫户; one in five with a child of school
age), a cadre per village and a leader. Every household is checked every month on the 12th,
with situations that change: one in fifty of the children drops out for three months and goes
back to school, three households in a hundred live in a grade C house that is rebuilt after a
few months, two in a hundred see their income fall below the line for four months (a
monitoring case opened at submit, re-checks noted on it) and again at the end of the year,
five in a hundred lack their help booklet all year (never rectified: overdue). A check that no
longer raises a problem settles it as rectified, as the cadre answers at the summary, and the
leader verifies (销号) what was rectified three days later.

The answers of each check come from the questionnaire engine (`conversations.engine`), run
once per kind of household, situation and month (the engine's own cost is bench/check_flow.py's
business); each check is then written through the storage functions the check desk
(`services.checkdesk`, behind the chat) calls: `storage.checks.start_session`,
`settle_earlier` and `submit_check` with the area's deadline policy and campaign cut-off; one
transaction per village and month. 销号 goes through `storage.problems.act`.

Printed: the time to write each month's checks and the whole year; then the time of each
period's report (`storage.reports.monthly_report`, what `hucha export --kind monthly` and the
dashboard run) as of the period's end, beside two baselines measured in the same run: reading
every check record (its answers document included) once, and reading one period's records.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker  # noqa: E402

from conversations import FORMS_DIRECTORY, Context, Record, load_form  # noqa: E402
from conversations.thresholds import load_thresholds, params_for  # noqa: E402
from storage import make_engine, make_sessionmaker, upgrade  # noqa: E402
from storage.campaigns import cutoff_on  # noqa: E402
from storage.checks import settle_earlier, start_session  # noqa: E402
from storage.deadlines import CheckDeadlines  # noqa: E402
from storage.models import (  # noqa: E402
    Area,
    CheckRecord,
    Household,
    Member,
    MonitoringCase,
    Problem,
    User,
)
from storage.periods import period_named  # noqa: E402
from storage.problems import act  # noqa: E402
from storage.progress import load_schedules  # noqa: E402
from storage.reports import monthly_report  # noqa: E402
from storage.schedule import AreaSchedule  # noqa: E402
from storage.submissions import submit_check  # noqa: E402
from tests.checkdriver import (  # noqa: E402
    DROPPED_OUT,
    NO_INCOME,
    UNSAFE_HOUSE,
    engine_record,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
COUNTY, TOWNSHIP = "320705", "320705001"
PROVINCE, YEAR, LINE = "江苏", 2026, 10000
BATCH = 5000
PLANS: Mapping[str, Mapping[str, Any]] = {
    "good": {},
    "dropout": DROPPED_OUT,
    "house": UNSAFE_HOUSE,
    "poor": NO_INCOME,
    "no_plan": {"help_plan": "no"},
}
HEAD = {"member_id": 1, "name": "户主", "relation": "户主", "birth_date": "1981-03-01"}
CHILD = {"member_id": 2, "name": "儿童", "relation": "之子", "birth_date": "2013-05-01"}


def at(month: int) -> datetime:
    """The 12th of the month, 10:00 in the county, in UTC: `month` 0 is January 2026."""
    year, index = divmod(month, 12)
    return datetime(YEAR + year, index + 1, 12, 10, tzinfo=SHANGHAI).astimezone(UTC)


def has_child(h: int) -> bool:
    return h % 5 == 0


def plan_of(h: int, month: int) -> str:
    """The situation of household `h` in a month."""
    bucket = h % 100
    if bucket in (10, 60) and 2 <= month <= 4:
        return "dropout"
    if bucket in (3, 43, 83) and month <= 3 + h % 4:
        return "house"
    if bucket in (11, 61) and (3 <= month <= 6 or month >= 10):
        return "poor"
    if bucket in (5, 25, 45, 65, 85):
        return "no_plan"
    return "good"


async def _insert(s: AsyncSession, table: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), BATCH):
        await s.execute(insert(table), rows[start : start + BATCH])


async def populate(
    maker: async_sessionmaker[AsyncSession], households: int, villages: int
) -> tuple[list[str], int]:
    codes = [f"{TOWNSHIP}{v:03d}" for v in range(1, villages + 1)]
    now = at(0) - timedelta(days=7)
    async with maker.begin() as s:
        areas = [
            {"code": COUNTY, "name": "示范县", "level": "county", "parent_code": None},
            {"code": TOWNSHIP, "name": "示范镇", "level": "township", "parent_code": COUNTY},
        ]
        areas += [
            {"code": code, "name": f"村{n}", "level": "village", "parent_code": TOWNSHIP}
            for n, code in enumerate(codes)
        ]
        for area in areas:
            area.update(timezone="Asia/Shanghai", settings={}, province=PROVINCE)
        await _insert(s, Area, areas)
        users = [
            {"name": f"村干部{n}", "role": "cadre", "area_code": code}
            for n, code in enumerate(codes)
        ]
        users.append({"name": "队长", "role": "leader", "area_code": TOWNSHIP})
        for user in users:
            user.update(active=True, created_at=now)
        await _insert(s, User, users)
        await _insert(
            s,
            Household,
            [
                {
                    "id": h + 1,
                    "village_code": codes[h % villages],
                    "number": f"{h // villages + 1:04d}",
                    "head_name": f"户主{h}",
                    "household_type": "脱贫户",
                    "created_at": now,
                    "updated_at": now,
                }
                for h in range(households)
            ],
        )
        members = []
        for h in range(households):
            members.append(
                {
                    "household_id": h + 1,
                    "name": f"户主{h}",
                    "relation": "户主",
                    "birth_date": date(1981, 3, 1),
                    "active": True,
                }
            )
            if has_child(h):
                members.append(
                    {
                        "household_id": h + 1,
                        "name": f"儿童{h}",
                        "relation": "之子",
                        "birth_date": date(2013, 5, 1),
                        "active": True,
                    }
                )
        await _insert(s, Member, members)
    return codes, villages + 1  # the leader's user id


class Answers:
    """Records from the engine, once per kind of household, situation and month."""

    def __init__(self, forms: Path) -> None:
        self.form = load_form(forms / "household_check.toml")
        self.params = params_for(load_thresholds(forms / "thresholds.toml"), PROVINCE, YEAR)
        self.made: dict[tuple[bool, str, int], Record] = {}

    def of(self, h: int, plan: str, month: int) -> Record:
        key = (has_child(h), plan, month)
        if key not in self.made:
            roster = (HEAD, CHILD) if key[0] else (HEAD,)
            context = Context(
                today=at(month).astimezone(SHANGHAI).date(),
                params=self.params,
                roster={"members": roster},
                household={"number": "0001", "head_name": "户主", "type": "脱贫户"},
            )
            self.made[key] = engine_record(self.form, context, PLANS[plan])
        return self.made[key]


def forms_with_line(folder: Path) -> Path:
    """The questionnaires with an income line for the county's province and year."""
    shutil.copytree(FORMS_DIRECTORY, folder, dirs_exist_ok=True)
    with (folder / "thresholds.toml").open("a", encoding="utf-8") as thresholds:
        thresholds.write(
            f'\n[[income_lines]]\narea = "{PROVINCE}"\nyear = {YEAR}\nline = {LINE}\n'
            'name = { zh_CN = "监测线", en = "the monitoring line" }\nsource = "bench"\n'
        )
    return folder


async def check_month(
    maker: async_sessionmaker[AsyncSession],
    answers: Answers,
    codes: list[str],
    households: int,
    month: int,
    raised: dict[int, list[tuple[int, str | None]]],
) -> None:
    """Every household checked once, village by village."""
    now = at(month)
    today = now.astimezone(SHANGHAI).date()
    villages = len(codes)
    for v, code in enumerate(codes):
        async with maker.begin() as s:
            schedule = (await load_schedules(s)).of(code)
            deadlines = CheckDeadlines(schedule, today, await cutoff_on(s, code, today))
            for h in range(v, households, villages):
                record = answers.of(h, plan_of(h, month), month)
                session = await start_session(s, v + 1, h + 1, "household_check", 0, {}, now)
                rules = {problem.rule_id for problem in record.problems}
                for problem_id, rule in raised.get(h, []):
                    if rule not in rules:  # no longer there: rectified, the cadre says
                        await settle_earlier(s, session.id, problem_id, "rectified", now)
                _, problems = await submit_check(s, session.id, record, v + 1, now, deadlines)
                raised[h] = [(problem.id, problem.rule_id) for problem in problems]


async def verify_rectified(maker: async_sessionmaker[AsyncSession], leader: int, month: int) -> int:
    now = at(month) + timedelta(days=3)
    async with maker.begin() as s:
        waiting = list(await s.scalars(select(Problem.id).where(Problem.status == "rectified")))
        for problem_id in waiting:
            await act(s, problem_id, leader, "verify", now)
    return len(waiting)


async def read_checks(
    maker: async_sessionmaker[AsyncSession],
    since: datetime | None = None,
    until: datetime | None = None,
) -> int:
    """Read check records once, their answers documents included: all of them, or those
    submitted in [since, until)."""
    statement = select(CheckRecord)
    if since is not None and until is not None:
        statement = statement.where(
            CheckRecord.submitted_at >= since, CheckRecord.submitted_at < until
        )
    async with maker() as s:
        rows = await s.stream(statement.execution_options(yield_per=2000))
        return sum([1 async for _ in rows.scalars()])


async def run(url: str, households: int, villages: int, months: int, folder: Path) -> None:
    engine = make_engine(url)
    maker = make_sessionmaker(engine)
    try:
        codes, leader = await populate(maker, households, villages)
        answers = Answers(forms_with_line(folder / "forms"))
        raised: dict[int, list[tuple[int, str | None]]] = {}
        year_began = time.perf_counter()
        for month in range(months):
            began = time.perf_counter()
            await check_month(maker, answers, codes, households, month, raised)
            verified = await verify_rectified(maker, leader, month)
            took = time.perf_counter() - began
            print(
                f"month {month + 1:2d}: {households} checks in {took:6.1f} s "
                f"({took / households * 1000:.1f} ms a check), {verified} verified"
            )
        year = time.perf_counter() - year_began
        print(f"the year: {households * months} checks in {year:.1f} s")
        async with maker() as s:
            problems = len(list(await s.scalars(select(Problem.id))))
            cases = len(list(await s.scalars(select(MonitoringCase.id))))
        print(f"ledger: {problems} problems; monitoring cases: {cases}")

        began = time.perf_counter()
        count = await read_checks(maker)
        baseline = time.perf_counter() - began
        print(f"baseline: reading all {count} check records once: {baseline:.2f} s")
        schedule = AreaSchedule()
        middle = period_named(schedule, YEAR, months // 2 + 1)
        began = time.perf_counter()
        count = await read_checks(maker, *middle.bounds())
        period_baseline = time.perf_counter() - began
        print(
            f"baseline: reading the {count} check records of period {middle.name} once: "
            f"{period_baseline:.2f} s"
        )
        total = 0.0
        end = at(months) + timedelta(days=30)
        async with maker() as s:
            for month in range(months):
                named = (YEAR + (month + 1) // 12, (month + 1) % 12 + 1)
                period = period_named(schedule, *named)
                began = time.perf_counter()
                report = await monthly_report(s, COUNTY, period, end)
                took = time.perf_counter() - began
                total += took
                print(
                    f"report {period.name}: {took:5.2f} s ({took / baseline:.2f}x all checks, "
                    f"{took / period_baseline:.1f}x a period's checks), "
                    f"{report.checked_households} checked, "
                    f"{sum(f.open for f in report.figures.values())} open, "
                    f"{sum(f.overdue for f in report.figures.values())} overdue"
                )
        print(f"{months} reports: {total:.2f} s, {total / months:.2f} s a report")
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--households", type=int, default=5000)
    parser.add_argument("--villages", type=int, default=50)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--database", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hucha-bench-year-") as folder:
        path = args.database or Path(folder) / "bench.db"
        url = f"sqlite+aiosqlite:///{path}"
        asyncio.run(upgrade(url))
        asyncio.run(run(url, args.households, args.villages, args.months, Path(folder)))


if __name__ == "__main__":
    main()
