"""SQLite statements make one trip to the connection's thread (storage/sqlite_driver.py), and
everything SQLAlchemy reads off a cursor still comes back: rows, column names, row counts, new
ids, errors, streamed results."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import make_engine
from storage.sqlite_driver import OneTripCursor

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
