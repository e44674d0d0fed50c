"""SQLite through aiosqlite with one trip to its thread per statement, or none for short ones.

SQLAlchemy's aiosqlite adapter makes four trips between the event loop and the connection's
thread for every statement: open a cursor, execute, fetch the rows, close the cursor. Each trip
is a future, a queue hand-over, a wake-up of the thread and a wake-up of the loop. Here the
whole statement runs in one function on the connection's thread and comes back with its rows,
description, row count and last row id, so a statement costs one trip. Transactions, errors and
server-side cursors (streamed results) are SQLAlchemy's own.

The use cases that answer a person's every message (a check's answer, the sender looked up, an
update stored or marked done) read and write a few rows by key: they run in
`short_statements`, where a statement runs on the event loop's own thread and makes no trip at
all. A transaction's first write is tried there without waiting for a lock; when another
process holds the write lock (an import from the command line), it goes to the connection's
thread to wait, since waiting on the loop would hold everybody up. Nothing runs on a
connection's two threads at once: a connection serves one task, which awaits each statement.
"""

from __future__ import annotations

import collections
import functools
import sqlite3
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar

import aiosqlite
from sqlalchemy.connectors.asyncio import AsyncAdapt_dbapi_connection
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT

P = ParamSpec("P")
R = TypeVar("R")

# What one statement brings back: description, rows, row count, last row id.
_Outcome = tuple[Any, list[Any], int, int | None]


def _run(raw: sqlite3.Connection, operation: str, parameters: Any) -> _Outcome:
    """One statement, on the connection's own thread, from cursor to closed cursor."""
    cursor = raw.cursor()
    try:
        if parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


def _run_many(raw: sqlite3.Connection, operation: str, parameters: Sequence[Any]) -> _Outcome:
    cursor = raw.cursor()
    try:
        cursor.executemany(operation, parameters)
        return None, [], cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


_short: ContextVar[bool] = ContextVar("hucha_short_statements", default=False)
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "WITH")


@contextmanager
def short_statements() -> Iterator[None]:
    """Within this block, this task's SQLite statements run on the event loop's own thread
    instead of a trip to the connection's thread, except a transaction's first write that
    finds another process holding the write lock: it waits on the connection's thread. Only
    for statements that read a few rows by key and write a few: a long one would hold up
    every other task."""
    token = _short.set(True)
    try:
        yield
    finally:
        _short.reset(token)


def in_short_statements() -> bool:
    """Whether this task's statements are short ones just now (`short_statements`)."""
    return _short.get()


def short(
    fn: Callable[P, Coroutine[Any, Any, R]],
) -> Callable[P, Coroutine[Any, Any, R]]:
    """A use case whose statements are all short (a few rows by key): run them as
    `short_statements` does."""

    @functools.wraps(fn)
    async def in_short(*args: P.args, **kwargs: P.kwargs) -> R:
        with short_statements():
            return await fn(*args, **kwargs)

    return in_short


def _unless_locked(
    raw: sqlite3.Connection,
    busy_timeout_ms: int,
    run: Callable[[sqlite3.Connection, str, Any], _Outcome],
    operation: str,
    params: Any,
) -> _Outcome | None:
    """`run` the statement without waiting for a lock; None when another connection holds the
    write lock (nothing was written, and the transaction stays open to try again)."""
    raw.execute("PRAGMA busy_timeout=0")
    try:
        return run(raw, operation, params)
    except sqlite3.OperationalError as error:
        if error.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY:
            return None
        raise
    finally:
        raw.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")


def _inline(raw: sqlite3.Connection, operation: str) -> bool:
    return _short.get() and (
        raw.in_transaction or not operation.lstrip()[:7].upper().startswith(_WRITES)
    )


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A cursor whose statement makes one trip to the connection's thread."""

    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: AsyncAdapt_dbapi_connection) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]  # nothing to open or close
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self._arraysize = 1

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    def _take(self, outcome: _Outcome) -> None:
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows)

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        await self._statement(_run, operation, parameters)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        await self._statement(_run_many, operation, seq_of_parameters)

    async def _statement(
        self, run: Callable[[sqlite3.Connection, str, Any], _Outcome], operation: str, params: Any
    ) -> None:
        """`run` the statement here when it is short, else on the connection's thread."""
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        raw = connection._conn
        if _inline(raw, operation):
            self._take(run(raw, operation, params))
            return
        adapted: OneTripConnection = self._adapt_connection  # type: ignore[assignment]
        if _short.get():
            # A transaction's first write: here as well, unless another process holds the
            # write lock. Then it goes to the connection's thread to wait for it there.
            done = _unless_locked(raw, adapted.busy_timeout_ms(), run, operation, params)
            if done is not None:
                self._take(done)
                return
        async with adapted._execute_mutex:
            self._take(await connection._execute(run, raw, operation, params))

    async def _async_soft_close(self) -> None:
        return None

    def close(self) -> None:
        self._rows.clear()

    def nextset(self) -> None:
        raise NotImplementedError("SQLite returns one result set per statement")

    def setinputsizes(self, *inputsizes: Any) -> None:
        return None


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    """A connection whose statements make one trip each, and whose commit or rollback makes
    none when no transaction is open (after a read, or the pool's rollback after a commit)."""

    __slots__ = ("_busy_timeout_ms",)

    _cursor_cls = OneTripCursor

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self._busy_timeout_ms: int | None = None

    def busy_timeout_ms(self) -> int:
        """How long a statement waits for another connection's lock (set when connecting)."""
        if self._busy_timeout_ms is None:
            raw = self._connection._conn  # type: ignore[attr-defined]
            self._busy_timeout_ms = int(raw.execute("PRAGMA busy_timeout").fetchone()[0])
        return self._busy_timeout_ms

    def _in_transaction(self) -> bool:
        raw = self._connection._connection  # type: ignore[attr-defined]  # None once closed
        return raw is not None and bool(raw.in_transaction)

    def commit(self) -> None:
        if self._in_transaction():
            if _short.get():
                self._connection._conn.commit()  # type: ignore[attr-defined]
            else:
                super().commit()

    def rollback(self) -> None:
        if self._in_transaction():
            if _short.get():
                self._connection._conn.rollback()  # type: ignore[attr-defined]
            else:
                super().rollback()


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The aiosqlite DBAPI adapter, handing out one-trip connections."""

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        adapted = super().connect(*arg, **kw)
        return OneTripConnection(self, adapted._connection)


def one_trip_dbapi() -> OneTripDBAPI:
    """The DBAPI to give `create_async_engine(module=…)` for a `sqlite+aiosqlite` URL."""
    return OneTripDBAPI(aiosqlite, sqlite3)
