"""Engines, sessions and schema upgrades for SQLite (aiosqlite) and PostgreSQL (asyncpg)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, make_url, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool
from sqlalchemy.util import await_only

from storage.sqlite_driver import in_short_statements, one_trip_dbapi

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///hucha.db"

_HERE = Path(__file__).resolve().parent
ALEMBIC_INI = _HERE / "alembic.ini"
MIGRATIONS = _HERE / "migrations"

# Plain driver names an operator may type, mapped to the async drivers we run on.
_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
}


def database_url_from_env() -> str:
    """The database URL from `DATABASE_URL`, with its async driver; SQLite file by default."""
    return normalized_database_url(os.environ.get("DATABASE_URL", ""))


def normalized_database_url(url: str) -> str:
    """`url` with the async driver we run on (`postgresql://…` becomes
    `postgresql+asyncpg://…`, `sqlite:///…` `sqlite+aiosqlite:///…`); the SQLite file
    hucha.db when empty."""
    url = url.strip()
    if not url:
        return DEFAULT_DATABASE_URL
    scheme, separator, rest = url.partition("://")
    if separator and scheme in _ASYNC_DRIVERS:
        return f"{_ASYNC_DRIVERS[scheme]}://{rest}"
    return url


def _is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _is_memory_sqlite(url: str) -> bool:
    database = make_url(url).database
    return database in (None, "", ":memory:") or "mode=memory" in url


# The PostgreSQL advisory lock key migrations hold ("hucha" as a number).
MIGRATION_LOCK = 0x6875636861
# How long a write waits for the one before it (this process's or another's) before it fails.
BUSY_TIMEOUT_SECONDS = 30.0
_GATE = "hucha_write_gate"
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "WITH")


def _sqlite_on_connect_with(busy_timeout: float) -> Any:
    def on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # Foreign keys are off by default in SQLite; WAL lets readers work while the bot writes.
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return on_connect


class WriteGate:
    """One writing transaction at a time in this process, in arrival order, on a SQLite file.

    SQLite has one writer; left to itself, every waiting connection polls its busy handler and
    an unlucky one starves past its timeout ("database is locked") while others get through.
    Here a transaction's first write waits on an asyncio lock (fair, first come first served)
    and gives it back at commit or rollback; reads never wait. The busy timeout still covers
    other processes (a CLI import beside the bot)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        return lock

    def before_execute(
        self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        if _GATE in conn.info or not statement.lstrip().upper().startswith(_WRITES):
            return
        lock = self.lock()
        try:
            await_only(_acquire(lock, self.timeout))
        except TimeoutError:
            raise OperationalError(
                statement, parameters, sqlite3.OperationalError("database is locked")
            ) from None
        conn.info[_GATE] = lock

    @staticmethod
    def release(info: dict[str, Any]) -> None:
        lock = info.pop(_GATE, None)
        if lock is not None and lock.locked():
            lock.release()

    def install(self, engine: AsyncEngine) -> None:
        sync = engine.sync_engine
        event.listen(sync, "before_cursor_execute", self.before_execute)
        event.listen(sync, "commit", lambda conn: self.release(conn.info))
        event.listen(sync, "rollback", lambda conn: self.release(conn.info))
        # A connection given back or dropped mid-transaction gives the gate back too.

        def on_reset(dbapi_connection: Any, connection_record: Any, reset_state: Any) -> None:
            self.release(connection_record.info)

        def on_invalidate(dbapi_connection: Any, connection_record: Any, exception: Any) -> None:
            self.release(connection_record.info)

        def on_close(dbapi_connection: Any, connection_record: Any) -> None:
            self.release(connection_record.info)

        event.listen(sync.pool, "reset", on_reset)
        event.listen(sync.pool, "invalidate", on_invalidate)
        event.listen(sync.pool, "close", on_close)


async def _acquire(lock: asyncio.Lock, seconds: float) -> None:
    """Take `lock`, giving up after `seconds`. Unlike `asyncio.wait_for`, no task is
    made for it: a free lock is taken at once, and most writes find it free."""
    async with asyncio.timeout(seconds):
        await lock.acquire()


def _sqlite_memory_on_connect(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str, busy_timeout: float = BUSY_TIMEOUT_SECONDS) -> AsyncEngine:
    """An async engine for `url`: SQLite with foreign keys and WAL on and one writer at a time
    (WriteGate), PostgreSQL with a checked connection pool. Errors never show the statement's
    parameters: they carry ID numbers and phone numbers into logs."""
    if _is_sqlite(url):
        if _is_memory_sqlite(url):
            engine = create_async_engine(
                url,
                hide_parameters=True,
                module=one_trip_dbapi(),
                connect_args={"check_same_thread": False},
            )
            event.listen(engine.sync_engine, "connect", _sqlite_memory_on_connect)
            return engine
        # Writers queue at the gate holding their connection, and a file connection is cheap:
        # a pool wider than the bot's concurrent updates keeps readers from waiting for one.
        # All of it is kept open: a connection opened past the pool's size is closed again
        # when given back, and opening one (a thread, the schema read anew) cost more CPU
        # than the answer that needed it when 50 people answered at once.
        engine = create_async_engine(
            url,
            hide_parameters=True,
            module=one_trip_dbapi(),
            # Short statements run on the event loop's thread (sqlite_driver.short_statements),
            # the others on the connection's own; never two at once.
            connect_args={"check_same_thread": False},
            pool_size=64,
            max_overflow=0,
            pool_timeout=120,
        )
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect_with(busy_timeout))
        # The gate only waits out this process's own writers, who are making progress: it
        # gives up much later than SQLite does, on a stuck transaction only.
        WriteGate(max(busy_timeout * 4, 30.0)).install(engine)
        return engine
    return create_async_engine(
        url,
        hide_parameters=True,
        pool_size=5,
        max_overflow=10,
        pool_pre_ping=True,
        pool_recycle=1800,
        # asyncpg prepares every statement; after five runs PostgreSQL may switch a prepared
        # statement to a generic plan that ignores its parameters (a village, a period), and
        # the dashboard's overview went from 170 ms to 600 ms on a county. Plan each run.
        connect_args={"server_settings": {"plan_cache_mode": "force_custom_plan"}},
    )


class Session(AsyncSession):
    """SQLAlchemy's AsyncSession, closed at the end of an `async with` block without a task of
    its own where closing cannot be interrupted: SQLAlchemy closes in a shielded task so that
    a cancelled caller still gives its connection back, but short SQLite statements
    (`short_statements`) roll back and give it back without ever waiting."""

    async def __aexit__(self, type_: Any, value: Any, traceback: Any) -> None:
        if in_short_statements() and self.bind is not None and self.bind.dialect.name == "sqlite":
            await self.close()
        else:
            await super().__aexit__(type_, value, traceback)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions whose objects stay readable after commit (the bot replies after committing)."""
    return async_sessionmaker(engine, expire_on_commit=False, class_=Session)


def alembic_config() -> Config:
    """Alembic's configuration for our migrations, wherever the package is installed."""
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str | None:
    """The newest migration this code knows."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def schema_revision(s: AsyncSession) -> str | None:
    """The migration the database stands at (None before the first)."""
    try:
        return await s.scalar(text("SELECT version_num FROM alembic_version"))
    except Exception:  # no alembic_version table: never migrated
        return None


def _upgrade_on(connection: Connection, revision: str) -> None:
    config = alembic_config()
    # env.py migrates on this connection instead of opening its own.
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision` (Alembic), from inside a running event loop.

    Uses its own engine without the SQLite foreign key pragma: batch migrations rebuild
    tables, which foreign key enforcement would forbid. Do not run two upgrades at once in
    one process: Alembic keeps its migration context in module globals.
    """
    engine = create_async_engine(url, poolclass=NullPool, hide_parameters=True)
    try:
        async with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # Instances started together migrate one after the other, not at once.
                await connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK}
                )
            await connection.run_sync(_upgrade_on, revision)
    finally:
        await engine.dispose()


@asynccontextmanager
async def exclusive(
    sessionmaker: async_sessionmaker[AsyncSession], name: str
) -> AsyncIterator[bool]:
    """Whether this process holds the named job now (PostgreSQL: a session advisory lock,
    given back when the job ends or, should the process die, when its connection drops);
    the job runs where this yields True. SQLite serves one process: always True."""
    async with sessionmaker() as s:
        connection = await s.connection()
        if connection.dialect.name != "postgresql":
            yield True
            return
        key = _lock_key(name)
        held = bool(await s.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}))
        await s.commit()
        try:
            yield held
        finally:
            if held:
                await s.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                await s.commit()


def _lock_key(name: str) -> int:
    """A stable 63-bit advisory lock key for a job name."""
    import hashlib

    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") >> 1
