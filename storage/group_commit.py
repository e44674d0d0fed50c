"""Small writes many tasks make at once, committed together (a group commit).

While one write is under way, the items handed in meanwhile wait for the next, which takes them
all in one transaction. Under load that is one transaction for many items; alone, an item is
written at once. Each caller waits until its own item is committed, so it may rely on it after.
A group's statements must be short (`storage.sqlite_driver.short_statements`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.sqlite_driver import short_statements

Item = TypeVar("Item")

log = logging.getLogger(__name__)


class GroupCommit(Generic[Item]):
    """Commits items in groups; `write` stores one group in the session it is given. A group
    that fails is tried again after each of `retry_delays` (seconds), in a new transaction."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        write: Callable[[AsyncSession, Sequence[Item]], Awaitable[None]],
        name: str,
        retry_delays: Sequence[float] = (),
    ) -> None:
        self._sessionmaker = sessionmaker
        self._write = write
        self._name = name
        self._retry_delays = tuple(retry_delays)
        self._waiting: list[tuple[Item, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def add(self, item: Item) -> None:
        """Write `item` with whatever else is waiting; return once it is committed, or raise
        what the write raised."""
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((item, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain(), name=self._name)
        await asyncio.shield(done)

    async def _drain(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting, []
            error = await self._commit([item for item, _ in group])
            for _, done in group:
                if done.done():
                    continue
                if error is None:
                    done.set_result(None)
                else:
                    done.set_exception(error)
                    # read here too, so a caller that stopped waiting leaves no warning
                    done.add_done_callback(lambda f: f.exception())

    async def _commit(self, items: Sequence[Item]) -> Exception | None:
        """Write the group, trying again as set; the last error, or None once committed."""
        for delay in (*self._retry_delays, None):
            try:
                with short_statements():
                    async with self._sessionmaker.begin() as s:
                        await self._write(s, items)
                return None
            except Exception as error:
                if delay is None:
                    return error
                log.warning("%s: cannot write %d yet", self._name, len(items), exc_info=True)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")
