"""The per-user lock table (bot/services.py): updates of one user wait for each other, and a
lock nobody holds or waits for leaves the table."""

from __future__ import annotations

import asyncio

from bot.services import UserLocks


async def test_one_users_updates_take_turns_and_their_lock_then_leaves_the_table() -> None:
    locks = UserLocks()
    order: list[str] = []
    entered = asyncio.Event()
    go_on = asyncio.Event()

    async def update(name: str) -> None:
        async with locks.of(7):
            order.append(f"{name} in")
            entered.set()
            await go_on.wait()
            order.append(f"{name} out")

    first = asyncio.create_task(update("first"))
    await entered.wait()
    second = asyncio.create_task(update("second"))
    await asyncio.sleep(0)
    # One holds the lock and one waits for it: it stays, shared by both.
    assert len(locks) == 1 and locks.of(7).locked()
    go_on.set()
    await asyncio.gather(first, second)
    assert order == ["first in", "first out", "second in", "second out"]
    assert len(locks) == 0


async def test_a_thousand_users_served_once_leave_no_lock_behind() -> None:
    locks = UserLocks()
    for telegram_id in range(1000):
        async with locks.of(telegram_id):
            assert len(locks) == 1
    assert len(locks) == 0
