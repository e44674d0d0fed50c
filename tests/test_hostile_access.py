"""Nobody is let in by a race, a block and unblock, a group chat or a crafted number."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.callbacks import decode, parse_id
from bot.settings import settings_from_env
from storage import (
    AuditEntry,
    CheckSession,
    InvitationError,
    User,
    add_area,
    create_invitation,
    make_engine,
    make_sessionmaker,
    redeem_invitation,
    set_active,
    upgrade,
    user_by_telegram_id,
)
from storage.models import TelegramPrompt
from tests.harness import TOWNSHIP, VILLAGE, Harness, eventually

pytest_plugins = ("tests.storage_fixtures",)

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


# ---------------------------------------------------------------- one invitation, one person


async def _redeem_at_once(maker: async_sessionmaker[AsyncSession], people: int) -> list[str]:
    async with maker.begin() as s:
        await add_area(s, "320705", "示范县", "county", province="江苏")
        code = (await create_invitation(s, "office", "320705", NOW)).code

    async def redeem(telegram_id: int) -> str:
        try:
            async with maker.begin() as s:
                await redeem_invitation(s, code, telegram_id, f"人{telegram_id}", None, NOW)
            return "in"
        except InvitationError as error:
            return error.reason

    return await asyncio.gather(*(redeem(9000 + n) for n in range(people)))


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest) -> str:
    """A migrated SQLite file, then a fresh PostgreSQL database."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


async def test_one_invitation_lets_in_one_of_six_at_the_same_moment(database: str) -> None:
    url = database
    await upgrade(url)
    engine = make_engine(url)
    try:
        outcomes = await _redeem_at_once(make_sessionmaker(engine), 6)
        assert sorted(outcomes) == ["in"] + ["used"] * 5
        async with make_sessionmaker(engine)() as s:
            assert await s.scalar(select(func.count()).select_from(User)) == 1
    finally:
        await engine.dispose()


async def test_six_people_sending_the_same_code_in_the_chat_register_one(
    harness: Harness,
) -> None:
    await harness.seed()
    code = await harness.invitation("office", TOWNSHIP)
    people = [harness.emulator.user(5100 + n, f"办{n}", language_code="zh-hans") for n in range(6)]
    for person in people:
        await person.send_command("start", code)
    replies = [await person.next_message() for person in people]
    assert sum("✅" in reply.content for reply in replies) == 1
    assert sum("已被使用" in reply.content for reply in replies) == 5


# ---------------------------------------------------------------- blocking and unblocking


async def _active(harness: Harness, telegram_id: int) -> bool:
    async with harness.sessionmaker() as s:
        user = await user_by_telegram_id(s, telegram_id)
        assert user is not None
        return user.active


async def test_unblocking_the_bot_undoes_only_the_block(harness: Harness) -> None:
    await harness.seed()
    cadre = harness.emulator.user(5201, "王芳", language_code="zh-hans")
    await harness.register(cadre)
    cadre.block()
    await eventually(lambda: _active(harness, 5201), False)
    cadre.unblock()
    await eventually(lambda: _active(harness, 5201), True)


async def test_a_user_deactivated_by_an_office_stays_out_after_block_and_unblock(
    harness: Harness,
) -> None:
    await harness.seed()
    cadre = harness.emulator.user(5202, "王芳", language_code="zh-hans")
    await harness.register(cadre)
    async with harness.sessionmaker.begin() as s:
        user = await user_by_telegram_id(s, 5202)
        assert user is not None
        await set_active(s, user.id, False)
    cadre.block()
    cadre.unblock()
    await cadre.send_command("households")
    reply = await cadre.next_message()
    assert "邀请码" in reply.content and "张建国" not in reply.content
    assert not await _active(harness, 5202)


async def test_blocking_while_deactivated_then_unblocking_keeps_the_deactivation(
    harness: Harness,
) -> None:
    await harness.seed()
    cadre = harness.emulator.user(5203, "王芳", language_code="zh-hans")
    await harness.register(cadre)
    cadre.block()
    await eventually(lambda: _active(harness, 5203), False)
    async with harness.sessionmaker.begin() as s:
        user = await user_by_telegram_id(s, 5203)
        assert user is not None
        await set_active(s, user.id, False)  # the office's decision, while blocked
    cadre.unblock()
    await cadre.send_command("help")
    assert "邀请码" in (await cadre.next_message()).content


# ---------------------------------------------------------------- group chats


async def test_a_button_pressed_in_a_group_opens_nothing(harness: Harness) -> None:
    households = await harness.seed()
    cadre = harness.emulator.user(5301, "王芳", language_code="zh-hans")
    await harness.register(cadre)
    await cadre.send_command("check")
    picker = await cadre.next_message()
    answer = await cadre.press_in_group(picker.message_id, f"1o:{households['zhang']}")
    assert answer.text in (None, "")
    async with harness.sessionmaker() as s:
        assert await s.scalar(select(func.count()).select_from(CheckSession)) == 0
    # The private chat still works, and got nothing from the group press.
    await cadre.press(picker.message_id, f"1o:{households['zhang']}")
    title = await cadre.next_message()
    assert "张建国" in title.content
    async with harness.sessionmaker() as s:
        chats = list(await s.scalars(select(TelegramPrompt.chat_id)))
    assert chats == [cadre.chat_id]


# ---------------------------------------------------------------- numbers with bounds


def test_ids_are_plain_digits_within_bounds() -> None:
    assert parse_id("12") == 12
    for bad in ("²", "１２", "1_000", "+5", "-1", "0", "", "99999999999999999999", "2147483648"):
        assert parse_id(bad) is None, bad
    assert parse_id("-1", low=-1) == -1
    assert decode("1o:99999999999999999999") is None
    assert decode("1K:²") is None
    assert decode("1q:12:abc:p:99999999999999999999") is None


async def test_amend_with_odd_numbers_answers_with_the_usage(harness: Harness) -> None:
    await harness.seed()
    cadre = harness.emulator.user(5401, "王芳", language_code="zh-hans")
    await harness.register(cadre)
    for number in ("²", "99999999999999999999"):
        await cadre.send_command("amend", f"{number} 原因")
        reply = await cadre.next_message()
        assert "/amend" in reply.content, reply


async def test_crafted_buttons_with_huge_ids_are_answered(harness: Harness) -> None:
    await harness.seed()
    cadre = harness.emulator.user(5402, "王芳", language_code="zh-hans")
    await harness.register(cadre)
    await cadre.send_command("help")
    message = await cadre.next_message()
    huge = "99999999999999999999"
    for data in (f"1o:{huge}", f"1K:{huge}", f"1C:{huge}", f"1r:{huge}:c", f"1A:{huge}:o:g"):
        answer = await cadre.press(message.message_id, data)
        assert answer.text == "这个按钮已失效。", (data, answer)


# ---------------------------------------------------------------- one export per button


async def test_a_double_tap_on_the_last_export_button_exports_once(harness: Harness) -> None:
    await harness.seed()
    leader = harness.emulator.user(5501, "Team leader", language_code="en")
    await harness.register(leader, role="leader", area=VILLAGE)
    await leader.send_command("export")
    await leader.next_message()
    await leader.press_button("Monthly report")
    await leader.next_edit()
    await leader.press_button("幸福村")
    periods = await leader.next_edit()
    last = periods.callback_data("Current reporting period")
    await leader.press(periods.message_id, last)
    await leader.press(periods.message_id, last)
    document = await leader.next_message(timeout=20)
    assert document.document is not None
    with pytest.raises(TimeoutError):
        await leader.next_message(timeout=1.5)
    async with harness.sessionmaker() as s:
        exports = await s.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action.like("export%"))
        )
    assert exports == 1


# ---------------------------------------------------------------- database URLs


def test_plain_database_urls_get_the_async_driver() -> None:
    settings = settings_from_env({"DATABASE_URL": "postgresql://u@db:5432/hucha"})
    assert settings.database_url == "postgresql+asyncpg://u@db:5432/hucha"
    settings = settings_from_env({"DATABASE_URL": "sqlite:///hucha.db"})
    assert settings.database_url == "sqlite+aiosqlite:///hucha.db"
    assert settings_from_env({}).database_url == "sqlite+aiosqlite:///hucha.db"


def test_hucha_runs_with_a_plain_sqlite_url(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.cli import main

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/plain.db")
    assert main(["db", "upgrade"]) == 0
