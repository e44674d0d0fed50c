"""Fixtures and builders shared by the storage tests: a migrated SQLite file per test, a fresh
PostgreSQL database per test (when HUCHA_TEST_POSTGRES_URL names a server that answers), and a
small world of areas, users and a finished check record.

Test modules load it with `pytest_plugins = ("tests.storage_fixtures",)` and import its
builders; it holds no assertions, so pytest need not rewrite it: PYTEST_DONT_REWRITE.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import make_url, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from conversations.model import RaisedProblem, Record
from storage import (
    Base,
    CheckDeadlines,
    DemoSeed,
    User,
    create_invitation,
    make_engine,
    make_sessionmaker,
    redeem_invitation,
    seed_demo,
    start_session,
    submit_check,
    upgrade,
)

POSTGRES_ENV = "HUCHA_TEST_POSTGRES_URL"
NOW = datetime(2025, 3, 10, 2, 30, tzinfo=UTC)  # 10:30 in Shanghai, a Monday


# ---------------------------------------------------------------- databases


@pytest.fixture
async def sqlite_url(tmp_path: Path) -> str:
    """A SQLite file in tmp_path, migrated to head through `upgrade()`."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'hucha.db'}"
    await upgrade(url)
    return url


async def _admin_engine(base_url: str) -> AsyncEngine:
    engine = create_async_engine(
        base_url,
        isolation_level="AUTOCOMMIT",
        poolclass=NullPool,
        connect_args={"timeout": 5},
    )
    return engine


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """The URL of a fresh, empty PostgreSQL database, dropped after the test.

    A database per test (rather than a schema) keeps the URL the only thing the code under
    test is given, exactly as in production, and lets reruns and parallel runs coexist.
    """
    base_url = os.environ.get(POSTGRES_ENV, "").strip()
    if not base_url:
        pytest.skip(f"{POSTGRES_ENV} is not set, so the PostgreSQL tests do not run")
    shown = make_url(base_url).render_as_string(hide_password=True)
    name = f"hucha_test_{uuid.uuid4().hex[:12]}"
    admin = await _admin_engine(base_url)
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
    except (OSError, TimeoutError, DBAPIError) as error:
        await admin.dispose()
        pytest.skip(f"no PostgreSQL server answers at {shown} ({type(error).__name__}: {error})")
    try:
        yield make_url(base_url).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@pytest.fixture
async def sqlite_engine(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(sqlite_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def sqlite_maker(sqlite_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return make_sessionmaker(sqlite_engine)


@pytest.fixture
async def postgres_engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    await upgrade(postgres_url)
    engine = make_engine(postgres_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def postgres_maker(postgres_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return make_sessionmaker(postgres_engine)


def _schema_diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, Base.metadata))


async def migration_diff(url: str) -> list[Any]:
    """What Alembic's autogenerate would still change after the migrations ran (empty: the
    migrations build exactly the models' schema)."""
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_schema_diff)
    finally:
        await engine.dispose()


# ---------------------------------------------------------------- a small world


@dataclass(frozen=True)
class World:
    """The demo areas and households, a cadre of 幸福村 and a leader of the township."""

    seed: DemoSeed
    cadre: User
    leader: User


async def make_world(s: AsyncSession, now: datetime = NOW) -> World:
    seed = await seed_demo(s, now)
    invitation = await create_invitation(s, "cadre", seed.village_code, now)
    cadre = await redeem_invitation(s, invitation.code, 1001, "李卫东", "zh_CN", now)
    invitation = await create_invitation(s, "leader", seed.township_code, now)
    leader = await redeem_invitation(s, invitation.code, 1002, "张队长", "en", now)
    return World(seed=seed, cadre=cadre, leader=leader)


def school_dropout() -> RaisedProblem:
    return RaisedProblem(
        rule_id="education_dropout",
        category="义务教育",
        text={"zh_CN": "适龄儿童失学辍学", "en": "A school-age child has dropped out"},
        goal={"zh_CN": "劝返复学", "en": "The child is back at school"},
        measures={"zh_CN": "村干部和学校联合劝返", "en": "Village and school persuade the family"},
        responsible_unit="education",
        deadline_days=None,
        deadline_tier="immediate",
        subject="王小明",
    )


def unsafe_house() -> RaisedProblem:
    return RaisedProblem(
        rule_id="housing_cd",
        category="住房安全",
        text={"zh_CN": "住房为C级危房且无安全住房", "en": "Grade C house, no safe housing"},
        goal={"zh_CN": "住房安全有保障", "en": "Safe housing guaranteed"},
        measures={},
        responsible_unit="housing",
        deadline_days=45,
        deadline_tier=None,
    )


def finished_record(*problems: RaisedProblem, at_risk: bool = False) -> Record:
    return Record(
        form_id="household_check",
        form_version="2025.1",
        answers={
            "visit_type": "home_visit",
            "housing_grade": "C",
            "income_per_person": 5800.456,
            "visit_date": date(2025, 3, 10),
            "children": [{"name": "王小明", "status": "dropped_out"}],
            "risks": ("illness", "education"),
        },
        problems=problems,
        at_risk=at_risk,
    )


async def submit_twice_at_once(maker: async_sessionmaker[AsyncSession], world: World) -> list[Any]:
    """Submit one check from two transactions at the same time (two bot instances, or a
    double tap); returns what each got: a CheckRecord or the exception raised."""
    async with maker.begin() as s:
        session = await start_session(
            s, world.cadre.id, world.seed.household_ids[0], "f", 1, {}, NOW
        )

    async def submit() -> Any:
        async with maker.begin() as s:
            record, _ = await submit_check(
                s, session.id, finished_record(unsafe_house()), world.cadre.id, NOW, deadline_today
            )
            # Hold the transaction open a moment so that the other one runs into it.
            await asyncio.sleep(0.05)
            return record

    return list(await asyncio.gather(submit(), submit(), return_exceptions=True))


# The rule's days or tier from the day of submission, on the default schedule.
deadline_today = CheckDeadlines()
