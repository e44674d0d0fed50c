"""The ledger's pages are the same whichever way the database reads them: a page of a large
selection is read in the page's order, a small one gathered and sorted, and the counts come
from one grouped statement. Every filter, order and offset is checked against the problems
filtered and sorted here, on SQLite and on PostgreSQL; and a problem keeps its household's
village, also when the migration fills it in for problems stored before. The overview's visit
counts are the same whether checks are read by time or by household."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from storage import Area, Household, Problem, User, start_session, submit_check, upgrade
from storage.areas import area_codes_within
from storage.periods import checked_in_period, checked_per_period, current_period
from storage.problems import (
    NOT_CLOSED,
    OPEN_STATUSES,
    SORTS,
    ProblemFilter,
    ledger_summary,
    problems_page,
)
from storage.progress import load_schedules
from tests.storage_fixtures import NOW, World, deadline_today, finished_record, make_world

pytest_plugins = ("tests.storage_fixtures",)

Maker = async_sessionmaker[AsyncSession]
TODAY = NOW.date()
CATEGORIES = ("住房安全", "义务教育", "饮水安全")
UNITS = ("县住建局", "县教育局")
STATUSES = ("open", "in_progress", "rectified", "verified", "withdrawn")


async def _ledger(s: AsyncSession) -> tuple[World, User]:
    """The demo world, a village of another township, and 90 problems spread over them; the
    office of the county sees them all, the township's leader two villages of three."""
    world = await make_world(s)
    s.add(Area(code="elsewhere", name="别镇", level="township", parent_code=world.seed.county_code))
    s.add(Area(code="far", name="远村", level="village", parent_code="elsewhere"))
    await s.flush()
    far = Household(
        village_code="far", number="009", head_name="赵", created_at=NOW, updated_at=NOW
    )
    s.add(far)
    office = User(
        name="县办", role="office", area_code=world.seed.county_code,
        language="zh_CN", created_at=NOW,
    )  # fmt: skip
    s.add(office)
    await s.flush()
    homes = [*world.seed.household_ids, *world.seed.other_household_ids, far.id]
    for n in range(90):
        s.add(
            Problem(  # stored without its village: the household's is taken
                household_id=homes[n * 7 % len(homes)],
                category=CATEGORIES[n % 3],
                text=f"问题{n}",
                goal="整改到位",
                responsible_unit=UNITS[n * 5 % 2 if n % 4 else 0],
                deadline=TODAY + timedelta(days=n * 11 % 40 - 20),
                status=STATUSES[n * 3 % 5],
                created_at=NOW - timedelta(hours=n * 13 % 50),  # several share a moment
                created_by_user_id=world.cadre.id,
                assignee_user_id=world.cadre.id if n % 6 == 0 else None,
                updated_at=NOW,
            )
        )
    await s.flush()
    return world, office


def _expected(
    problems: list[Problem],
    codes: set[str],
    flt: ProblemFilter,
    village_codes: set[str] | None,
    user: User,
    sort: str,
) -> list[int]:
    def selected(p: Problem) -> bool:
        return (
            p.village_code in codes
            and (flt.scope != "open" or p.status in NOT_CLOSED)
            and (flt.scope != "overdue" or (p.status in OPEN_STATUSES and p.deadline < TODAY))
            and (not flt.mine or (p.assignee_user_id or p.created_by_user_id) == user.id)
            and (not flt.category or p.category == flt.category)
            and (village_codes is None or p.village_code in village_codes)
            and (not flt.statuses or p.status in flt.statuses)
            and (not flt.unit or p.responsible_unit == flt.unit)
            and (flt.raised_since is None or p.created_at >= flt.raised_since)
            and (flt.raised_until is None or p.created_at < flt.raised_until)
        )

    def key(p: Problem) -> tuple[object, ...]:
        if sort == "deadline":
            return (p.deadline, p.id)
        if sort == "oldest":
            return (p.created_at, p.id)
        return (-p.created_at.timestamp(), -p.id)

    return [p.id for p in sorted(filter(selected, problems), key=key)]


def _filters(world: World) -> list[ProblemFilter]:
    since = NOW - timedelta(hours=30)
    until = NOW - timedelta(hours=5)
    return [
        ProblemFilter("open"),
        ProblemFilter("all"),
        ProblemFilter("overdue"),
        ProblemFilter("all", statuses=("open", "rectified")),
        ProblemFilter("open", category="义务教育"),
        ProblemFilter("all", unit="县教育局"),
        ProblemFilter("open", category="饮水安全", unit="县住建局"),
        ProblemFilter("overdue", statuses=("in_progress",)),
        ProblemFilter("all", village_code=world.seed.other_village_code),
        ProblemFilter("all", mine=True),
        ProblemFilter("all", raised_since=since, raised_until=until),
        ProblemFilter("all", category="没有的类别"),
    ]


async def _every_page_matches(maker: Maker) -> None:
    async with maker.begin() as s:
        world, office = await _ledger(s)
    async with maker() as s:
        problems = list(await s.scalars(select(Problem)))
        homes = {h.id: h.village_code for h in await s.scalars(select(Household))}
        assert all(p.village_code == homes[p.household_id] for p in problems)
        for user in (office, world.leader, world.cadre):
            codes = set(await area_codes_within(s, user.area_code))
            summary = await ledger_summary(s, user, TODAY)
            in_area = [p for p in problems if p.village_code in codes]
            assert summary.categories() == sorted(
                {p.category for p in in_area if p.status in NOT_CLOSED}
            )
            assert summary.units() == sorted({p.responsible_unit for p in in_area})
            for flt, sort in itertools.product(_filters(world), SORTS):
                village = (
                    set(await area_codes_within(s, flt.village_code)) if flt.village_code else None
                )
                want = _expected(problems, codes, flt, village, user, sort)
                for offset, limit in ((0, 5), (3, 5), (20, 7), (0, 50), (len(want), 5)):
                    page = await problems_page(s, user, flt, TODAY, offset, limit, sort, summary)
                    case = (user.role, flt, sort, offset, limit)
                    assert page.total == len(want), case
                    assert [row.id for row in page.rows] == want[offset : offset + limit], case
                    assert all(row.village_name for row in page.rows), case
            # the count for a village comes from its own statement and agrees
            flt = ProblemFilter("open", category="住房安全")
            assert summary.count(flt) == summary.count(replace(flt, unit=None))


async def test_every_ledger_page_matches_the_problems_sorted_here(sqlite_maker: Maker) -> None:
    await _every_page_matches(sqlite_maker)


async def test_every_ledger_page_matches_on_postgres(postgres_maker: Maker) -> None:
    await _every_page_matches(postgres_maker)


async def _problems_get_their_village_in_the_migration(url: str) -> None:
    await upgrade(url, "0008_monitoring")
    at = datetime(2026, 11, 1, 2, 0)
    statements = [
        "INSERT INTO areas (code, name, level, timezone, settings)"
        " VALUES ('v1', '幸福村', 'village', 'Asia/Shanghai', '{}')",
        "INSERT INTO areas (code, name, level, timezone, settings)"
        " VALUES ('v2', '光明村', 'village', 'Asia/Shanghai', '{}')",
        "INSERT INTO households (id, village_code, number, head_name, created_at, updated_at)"
        " VALUES (1, 'v1', '001', '张', :at, :at), (2, 'v2', '001', '李', :at, :at)",
    ]
    for n, household in ((1, 1), (2, 2), (3, 1)):
        statements.append(
            "INSERT INTO problems (id, household_id, category, text, text_i18n, goal,"
            " goal_i18n, measures, responsible_unit, deadline, status, created_at, updated_at)"
            f" VALUES ({n}, {household}, '教育', '辍学', '{{}}', '返校', '{{}}', '', '教育局',"
            " :day, 'open', :at, :at)"
        )
    engine = create_async_engine(url, poolclass=NullPool)
    async with engine.begin() as c:
        for statement in statements:
            await c.execute(text(statement), {"at": at, "day": date(2026, 12, 1)})
    await engine.dispose()
    await upgrade(url)
    engine = create_async_engine(url, poolclass=NullPool)
    async with engine.connect() as c:
        rows = (await c.execute(text("SELECT id, village_code FROM problems ORDER BY id"))).all()
    await engine.dispose()
    assert [tuple(row) for row in rows] == [(1, "v1"), (2, "v2"), (3, "v1")]


async def test_the_migration_gives_each_problem_its_households_village(tmp_path: Path) -> None:
    await _problems_get_their_village_in_the_migration(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")


async def test_the_migration_gives_each_problem_its_village_on_postgres(
    postgres_url: str,
) -> None:
    await _problems_get_their_village_in_the_migration(postgres_url)


async def _visits_match_either_way(maker: Maker) -> None:
    """The overview's visit counts are the same read by time or by household, and one
    statement for twelve periods counts what a statement per period counts."""
    async with maker.begin() as s:
        world, office = await _ledger(s)
        homes = [h.id for h in await s.scalars(select(Household).order_by(Household.id))]
        for n, household in enumerate(homes * 4):
            at = NOW - timedelta(days=n * 9 % 100, hours=n)
            session = await start_session(s, world.cadre.id, household, "f", 1, {}, at)
            await submit_check(s, session.id, finished_record(), world.cadre.id, at, deadline_today)
    async with maker() as s:
        schedules = await load_schedules(s)
        periods = [current_period(schedules.of(world.seed.county_code), NOW)]
        while len(periods) < 5:
            periods.insert(0, periods[0].previous())
        for user in (office, world.leader, world.cadre):
            codes = await area_codes_within(s, user.area_code)
            one_by_one = [await checked_in_period(s, codes, period) for period in periods]
            assert sum(sum(counts.values()) for counts in one_by_one) > 0
            for by_time in (False, True):
                assert await checked_per_period(s, codes, periods, by_time) == one_by_one
                for period, counts in zip(periods, one_by_one, strict=True):
                    assert await checked_in_period(s, codes, period, by_time) == counts


async def test_visits_are_counted_alike_by_time_or_by_household(sqlite_maker: Maker) -> None:
    await _visits_match_either_way(sqlite_maker)


async def test_visits_are_counted_alike_on_postgres(postgres_maker: Maker) -> None:
    await _visits_match_either_way(postgres_maker)
