"""SQLite statements make one trip to the connection's thread (storage/sqlite_driver.py), or
none when they are short, and everything SQLAlchemy reads off a cursor still comes back: rows,
column names, row counts, new ids, errors, streamed results."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import make_engine, make_sessionmaker
from storage.db import _acquire
from storage.sqlite_driver import OneTripCursor, short, short_statements

metadata = MetaData()
items = Table(
    "items",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String, nullable=False, unique=True),
)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of every function sent to a connection's thread."""
    sent: list[str] = []
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return sent


async def test_the_engine_uses_one_trip_cursors(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        assert isinstance(raw.dbapi_connection.cursor(), OneTripCursor)  # type: ignore[union-attr]


async def test_a_statement_makes_one_trip(engine: AsyncEngine, trips: list[str]) -> None:
    async with engine.begin() as conn:
        await conn.execute(insert(items).values(name="甲"))
        trips.clear()
        rows = (await conn.execute(select(items.c.name))).all()
    assert rows == [("甲",)]
    # the select, then the commit; the pool's rollback finds no transaction open
    assert trips == ["_run", "commit"]


async def test_a_read_commits_and_rolls_back_without_a_trip(
    engine: AsyncEngine, trips: list[str]
) -> None:
    async with engine.begin() as conn:
        await conn.execute(select(items))
    async with engine.connect() as conn:
        await conn.execute(select(items))
    assert trips == ["_run", "_run"]


async def test_rows_names_counts_and_new_ids_come_back(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        first = await conn.execute(insert(items).values(name="甲"))
        second = await conn.execute(insert(items).values(name="乙"))
        assert first.inserted_primary_key == (1,)
        assert second.inserted_primary_key == (2,)
        await conn.execute(insert(items), [{"name": "丙"}, {"name": "丁"}])
        changed = await conn.execute(update(items).where(items.c.id > 2).values(name=items.c.name))
        assert changed.rowcount == 2
        result = await conn.execute(text("SELECT id AS number, name FROM items ORDER BY id"))
        assert list(result.keys()) == ["number", "name"]
        assert [tuple(row) for row in result] == [(1, "甲"), (2, "乙"), (3, "丙"), (4, "丁")]
        nothing = await conn.execute(select(items).where(items.c.id == 99))
        assert nothing.first() is None


async def test_streamed_results_arrive_in_parts(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(insert(items), [{"name": f"户{n:03d}"} for n in range(250)])
    async with engine.connect() as conn:
        stream = await conn.stream(select(items.c.name).order_by(items.c.id))
        names = [row.name async for row in stream]
    assert len(names) == 250 and names[0] == "户000" and names[-1] == "户249"


async def test_errors_are_sqlalchemys_own_and_the_transaction_goes_on(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(insert(items).values(name="甲"))
        with pytest.raises(IntegrityError):
            async with conn.begin_nested():
                await conn.execute(insert(items).values(name="甲"))
        with pytest.raises(OperationalError):
            await conn.execute(text("SELECT nothing FROM nowhere"))
        await conn.rollback()
    async with engine.connect() as conn:
        assert (await conn.execute(select(items))).all() == []


async def test_short_statements_stay_on_the_loop(engine: AsyncEngine, trips: list[str]) -> None:
    with short_statements():
        async with engine.begin() as conn:
            await conn.execute(select(items))  # a read
            await conn.execute(insert(items).values(name="甲"))  # begins writing: lock free
            await conn.execute(insert(items).values(name="乙"))  # holds the lock
            await conn.execute(select(items))
        # the commit, on the loop too
    assert trips == []
    async with engine.connect() as conn:
        assert len((await conn.execute(select(items))).all()) == 2


async def test_a_use_case_marked_short_runs_short_statements(
    engine: AsyncEngine, trips: list[str]
) -> None:
    @short
    async def names() -> list[str]:
        async with engine.connect() as conn:
            return list((await conn.execute(select(items.c.name))).scalars())

    assert await names() == []
    assert trips == []
    async with engine.connect() as conn:
        await conn.execute(select(items))
    assert trips == ["_run"]  # outside, as before


async def test_a_write_waiting_for_another_process_holds_nobody_up(
    tmp_path: Path, trips: list[str]
) -> None:
    path = tmp_path / "driver.db"
    engine = make_engine(f"sqlite+aiosqlite:///{path}", busy_timeout=10)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        other = sqlite3.connect(path, isolation_level=None)  # another process, say an import
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO items (name) VALUES ('导入')")
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        async def write() -> None:
            with short_statements():
                async with engine.begin() as conn:
                    await conn.execute(insert(items).values(name="甲"))

        trips.clear()
        ticker = asyncio.create_task(tick())
        writing = asyncio.create_task(write())
        await asyncio.sleep(0.5)
        assert not writing.done()
        assert ticks >= 20  # the loop went on while the write waited
        other.execute("COMMIT")
        other.close()
        await asyncio.wait_for(writing, 10)
        ticker.cancel()
        assert trips == ["_run"]  # it waited on the connection's thread
        async with engine.connect() as conn:
            assert sorted((await conn.execute(select(items.c.name))).scalars()) == ["导入", "甲"]
            # and waits as long as before for the next lock
            timeout = await conn.exec_driver_sql("PRAGMA busy_timeout")
            assert timeout.scalar() == 10_000
    finally:
        await engine.dispose()


@pytest.fixture
async def tasks_made() -> AsyncIterator[list[str]]:
    """The name of every coroutine the running loop makes a task of."""
    made: list[str] = []
    loop = asyncio.get_running_loop()
    factory = loop.get_task_factory()

    def counting(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> Any:
        made.append(getattr(coro, "__qualname__", repr(coro)))
        if factory is not None:
            return factory(loop, coro, **kwargs)
        return asyncio.Task(coro, loop=loop, **kwargs)

    loop.set_task_factory(counting)
    yield made
    loop.set_task_factory(factory)


async def test_a_short_session_writes_and_closes_without_a_task(
    engine: AsyncEngine, tasks_made: list[str]
) -> None:
    sessionmaker = make_sessionmaker(engine)
    tasks_made.clear()  # the test's own
    with short_statements():
        async with sessionmaker() as s:
            await s.execute(insert(items).values(name="甲"))  # through the write gate
            await s.commit()
        async with sessionmaker() as s:
            assert list(await s.scalars(select(items.c.name))) == ["甲"]
    assert tasks_made == []
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    # Elsewhere SQLAlchemy's shielded close, which a cancelled caller cannot interrupt.
    async with sessionmaker() as s:
        await s.execute(select(items))
    assert len(tasks_made) == 1
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_the_write_gate_waits_its_turn_and_gives_up_in_time() -> None:
    lock = asyncio.Lock()
    await _acquire(lock, 1)  # free: taken at once
    assert lock.locked()
    with pytest.raises(TimeoutError):
        await _acquire(lock, 0.05)
    waiting = asyncio.create_task(_acquire(lock, 5))
    await asyncio.sleep(0.01)
    lock.release()
    await asyncio.wait_for(waiting, 1)
    assert lock.locked()
