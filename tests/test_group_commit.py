"""Writes made at the same moment share one transaction (storage/group_commit.py): every caller
returns once its own item is committed, and a failure reaches every caller of that group."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, event, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage import make_engine, make_sessionmaker
from storage.group_commit import GroupCommit

metadata = MetaData()
marks = Table("marks", metadata, Column("n", Integer, primary_key=True))


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'group.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


async def write(s: AsyncSession, numbers: Sequence[int]) -> None:
    await s.execute(insert(marks), [{"n": n} for n in numbers])


async def stored(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as s:
        return int(await s.scalar(select(func.count()).select_from(marks)) or 0)


async def test_items_handed_in_together_share_a_transaction(engine: AsyncEngine) -> None:
    commits: list[int] = []
    event.listen(engine.sync_engine, "commit", lambda conn: commits.append(1))
    sessionmaker = make_sessionmaker(engine)
    group = GroupCommit[int](sessionmaker, write, name="marks")

    async def mark(n: int) -> int:
        await group.add(n)
        return await stored(sessionmaker)  # what the caller sees once add returns

    seen = await asyncio.gather(*(mark(n) for n in range(100)))
    assert await stored(sessionmaker) == 100
    # all handed in before the writer ran: one transaction
    assert len(commits) == 1
    # nobody returned before their own item was committed
    assert seen == [100] * 100

    # while a group is being written, what comes in waits for the next
    commits.clear()
    first = asyncio.create_task(group.add(100))
    await asyncio.sleep(0)  # the writer has taken 100 and is writing it
    await asyncio.gather(*(group.add(n) for n in range(101, 150)), first)
    assert len(commits) == 2 and await stored(sessionmaker) == 150


async def test_one_item_alone_is_written_at_once(engine: AsyncEngine) -> None:
    sessionmaker = make_sessionmaker(engine)
    group = GroupCommit[int](sessionmaker, write, name="marks")
    await group.add(7)
    assert await stored(sessionmaker) == 1


async def test_a_failed_group_fails_every_caller_and_the_next_goes_on(engine: AsyncEngine) -> None:
    sessionmaker = make_sessionmaker(engine)
    group = GroupCommit[int](sessionmaker, write, name="marks")
    await group.add(1)
    outcomes = await asyncio.gather(group.add(1), group.add(3), return_exceptions=True)
    # 1 is there already: the group of 1 and 3 fails, for both callers
    assert all(isinstance(outcome, IntegrityError) for outcome in outcomes)
    await group.add(3)
    assert await stored(sessionmaker) == 2


async def test_a_failed_group_is_tried_again_as_set(engine: AsyncEngine) -> None:
    sessionmaker = make_sessionmaker(engine)
    attempts: list[int] = []

    async def flaky(s: AsyncSession, numbers: Sequence[int]) -> None:
        attempts.append(len(numbers))
        if len(attempts) < 3:
            raise ConnectionError("the database is away")
        await write(s, numbers)

    group = GroupCommit[int](sessionmaker, flaky, name="marks", retry_delays=(0.01, 0.01, 0.01))
    await group.add(5)
    assert attempts == [1, 1, 1]
    assert await stored(sessionmaker) == 1
