"""Engines, sessions and schema upgrades for SQLite (aiosqlite) and PostgreSQL (asyncpg)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, make_url
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

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


def _sqlite_on_connect(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # Foreign keys are off by default in SQLite; WAL lets readers work while the bot writes.
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_memory_on_connect(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> AsyncEngine:
    """An async engine for `url`: SQLite with foreign keys and WAL on, PostgreSQL with a
    checked connection pool. Errors never show the statement's parameters: they carry ID
    numbers and phone numbers into logs."""
    if _is_sqlite(url):
        engine = create_async_engine(url, hide_parameters=True)
        listener = _sqlite_memory_on_connect if _is_memory_sqlite(url) else _sqlite_on_connect
        event.listen(engine.sync_engine, "connect", listener)
        return engine
    return create_async_engine(
        url,
        hide_parameters=True,
        pool_size=5,
        max_overflow=10,
        pool_pre_ping=True,
        pool_recycle=1800,
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions whose objects stay readable after commit (the bot replies after committing)."""
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config() -> Config:
    """Alembic's configuration for our migrations, wherever the package is installed."""
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


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
            await connection.run_sync(_upgrade_on, revision)
    finally:
        await engine.dispose()
