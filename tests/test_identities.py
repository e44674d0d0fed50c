"""People are found by their identities (channel, address), and Telegram keeps where a check is
shown in its own table; the migration moves what the older schema kept on users and sessions."""

from __future__ import annotations

import json
from pathlib import Path

from alembic import command
from sqlalchemy import func, inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from storage import (
    Channel,
    Identity,
    address_of,
    create_invitation,
    redeem_invitation,
    seed_demo,
    upgrade,
    user_by_address,
    user_by_telegram_id,
)
from storage.db import alembic_config
from tests.storage_fixtures import NOW

pytest_plugins = ("tests.storage_fixtures",)

Maker = async_sessionmaker[AsyncSession]
BEFORE = "0013_campaigns"


async def test_registration_gives_the_person_a_telegram_identity(sqlite_maker: Maker) -> None:
    async with sqlite_maker.begin() as s:
        seed = await seed_demo(s, NOW)
        invitation = await create_invitation(s, "cadre", seed.village_code, NOW)
        user = await redeem_invitation(s, invitation.code, 2**40, "王芳", "zh_CN", NOW)
    async with sqlite_maker() as s:
        found = await user_by_telegram_id(s, 2**40)
        assert found is not None and found.id == user.id
        assert await address_of(s, user.id, Channel.TELEGRAM) == str(2**40)
        identities = list(await s.scalars(select(Identity)))
    assert [(i.user_id, i.channel, i.address) for i in identities] == [
        (user.id, "telegram", str(2**40))
    ]


async def test_a_second_invitation_rebinds_the_person_without_a_second_identity(
    sqlite_maker: Maker,
) -> None:
    async with sqlite_maker.begin() as s:
        seed = await seed_demo(s, NOW)
        first = await create_invitation(s, "cadre", seed.village_code, NOW)
        cadre = await redeem_invitation(s, first.code, 1001, "王芳", "zh_CN", NOW)
        second = await create_invitation(s, "leader", seed.township_code, NOW)
        leader = await redeem_invitation(s, second.code, 1001, "王芳", "zh_CN", NOW)
    assert leader.id == cadre.id and leader.role == "leader"
    async with sqlite_maker() as s:
        assert await s.scalar(select(func.count()).select_from(Identity)) == 1


async def test_the_same_address_on_another_channel_is_another_person(sqlite_maker: Maker) -> None:
    """A channel is a plain string in the table: one added later needs no migration, and its
    addresses never mix with Telegram's."""
    other = "sms"
    async with sqlite_maker.begin() as s:
        seed = await seed_demo(s, NOW)
        invitations = [await create_invitation(s, "cadre", seed.village_code, NOW) for _ in "ab"]
        by_telegram = await redeem_invitation(s, invitations[0].code, 13800, "王芳", None, NOW)
        by_other = await redeem_invitation(
            s,
            invitations[1].code,
            "13800",
            "李明",
            None,
            NOW,
            channel=other,  # type: ignore[arg-type]
        )
    assert by_telegram.id != by_other.id
    async with sqlite_maker() as s:
        found = await user_by_address(s, other, "13800")  # type: ignore[arg-type]
        assert found is not None and found.name == "李明"
        telegram = await user_by_telegram_id(s, 13800)
        assert telegram is not None and telegram.name == "王芳"
        assert await address_of(s, by_other.id, Channel.TELEGRAM) is None


# ---------------------------------------------------------------- the migration


async def test_the_migration_moves_telegram_ids_and_prompts(tmp_path: Path) -> None:
    await _migrate_and_back(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}", "1")


async def test_the_migration_moves_telegram_ids_and_prompts_on_postgres(postgres_url: str) -> None:
    await _migrate_and_back(postgres_url, "true")


def _downgrade_on(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


async def _run(url: str, statements: list[str]) -> None:
    engine = create_async_engine(url, poolclass=NullPool)
    async with engine.begin() as c:
        for statement in statements:
            await c.execute(text(statement))
    await engine.dispose()


async def _rows(url: str, query: str) -> list[tuple[object, ...]]:
    engine = create_async_engine(url, poolclass=NullPool)
    async with engine.connect() as c:
        rows = [tuple(row) for row in await c.execute(text(query))]
    await engine.dispose()
    return rows


async def _state(url: str, session_id: int) -> dict[str, object]:
    (found,) = await _rows(url, f"SELECT state FROM check_sessions WHERE id = {session_id}")
    state = found[0]
    return state if isinstance(state, dict) else json.loads(str(state))


async def _migrate_and_back(url: str, true: str) -> None:
    await upgrade(url, BEFORE)
    at = NOW.replace(tzinfo=None).isoformat(sep=" ")
    statements = [
        "INSERT INTO areas (code, name, level, timezone, settings)"
        " VALUES ('v', '幸福村', 'village', 'Asia/Shanghai', '{}')",
        "INSERT INTO households (id, village_code, number, head_name, created_at, updated_at)"
        f" VALUES (1, 'v', '001', '张', '{at}', '{at}')",
    ]
    for n, telegram_id in ((1, 1001), (2, 2**40)):
        statements.append(
            "INSERT INTO users (id, telegram_id, name, role, area_code, active, created_at)"
            f" VALUES ({n}, {telegram_id}, '人{n}', 'cadre', 'v', {true}, '{at}')"
        )
    # An open check part-way, whose last screen was sent; a submitted one; an open one whose
    # prompt was never recorded.
    sessions = [
        (1, 1, "open", 1001, 77, '{"cursor": "b", "applied_update": 9, "shown_update": 9}'),
        (2, 2, "submitted", 2**40, 2**33, '{"cursor": "a"}'),
        (3, 2, "discarded", 2**40, "NULL", '{"cursor": "a", "shown_update": 4}'),
    ]
    for sid, user, status, chat, message, state in sessions:
        statements.append(
            "INSERT INTO check_sessions (id, user_id, household_id, form_id, state, status,"
            " chat_id, prompt_message_id, created_at, updated_at)"
            f" VALUES ({sid}, {user}, 1, 'f', '{state}', '{status}', {chat}, {message},"
            f" '{at}', '{at}')"
        )
    await _run(url, statements)

    await upgrade(url)
    identities = await _rows(
        url, "SELECT user_id, channel, address FROM identities ORDER BY user_id"
    )
    assert identities == [(1, "telegram", "1001"), (2, "telegram", str(2**40))]
    prompts = await _rows(
        url,
        "SELECT session_id, chat_id, message_id, shown_update FROM telegram_prompts"
        " ORDER BY session_id",
    )
    assert prompts == [(1, 1001, 77, 9), (2, 2**40, 2**33, None), (3, 2**40, None, None)]
    # What was sent moved to Telegram's table; what was applied stays with the state.
    assert await _state(url, 1) == {"cursor": "b", "applied_update": 9}
    assert await _state(url, 3) == {"cursor": "a", "shown_update": 4}  # closed: left alone
    engine = create_async_engine(url, poolclass=NullPool)
    async with engine.connect() as c:
        columns = await c.run_sync(
            lambda sync: {
                table: {column["name"] for column in inspect(sync).get_columns(table)}
                for table in ("users", "check_sessions")
            }
        )
    await engine.dispose()
    assert "telegram_id" not in columns["users"]
    assert not {"chat_id", "prompt_message_id"} & columns["check_sessions"]

    # Someone registered after the upgrade goes back too.
    await _run(
        url,
        [
            "INSERT INTO users (id, name, role, area_code, active, created_at)"
            f" VALUES (3, '人3', 'leader', 'v', {true}, '{at}')",
            "INSERT INTO identities (user_id, channel, address) VALUES (3, 'telegram', '3003')",
        ],
    )
    engine = create_async_engine(url, poolclass=NullPool)
    async with engine.begin() as c:
        await c.run_sync(_downgrade_on, BEFORE)
    await engine.dispose()
    users = await _rows(url, "SELECT id, telegram_id FROM users ORDER BY id")
    assert users == [(1, 1001), (2, 2**40), (3, 3003)]
    back = await _rows(url, "SELECT id, chat_id, prompt_message_id FROM check_sessions ORDER BY id")
    assert back == [(1, 1001, 77), (2, 2**40, 2**33), (3, 2**40, None)]
    assert await _state(url, 1) == {"cursor": "b", "applied_update": 9, "shown_update": 9}
    tables = await _rows(url, _TABLES[url.split(":")[0].split("+")[0]])
    assert not {"identities", "telegram_prompts"} & {row[0] for row in tables}
    # And up again, as a deployment rolled back and forward does.
    await upgrade(url)
    assert len(await _rows(url, "SELECT * FROM identities")) == 3


_TABLES = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'table'",
    "postgresql": "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()",
}
