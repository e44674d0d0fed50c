"""The Bot API answering 429 or 5xx in the middle of a check: the answer is kept once and the
cadre gets the next question once."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.emulator import BotApiEmulator
from storage import CheckSession
from tests.checkdriver import answer_until, open_check
from tests.harness import Harness


@pytest.mark.parametrize("status", [429, 500, 502])
async def test_a_refused_send_is_retried_and_nothing_is_doubled(
    harness: Harness, emulator: BotApiEmulator, status: int
) -> None:
    await harness.seed()
    user = emulator.user(3601, "测试干部", language_code="zh-hans")
    await harness.register(user)
    await open_check(harness, user, "王秀兰")
    await answer_until(harness, user, {}, stop_at="floor_area")
    emulator.fail("sendMessage", status, times=2, retry_after=1)
    await user.send_text("85")
    question = await user.next_message(timeout=30)
    assert "住房照片" in question.content
    await harness.intake.settled()
    assert [m for m in user.bot_messages if "住房照片" in m.content] == [question]
    async with harness.sessionmaker() as s:
        state = (await s.scalars(select(CheckSession))).one().state
    assert state["answers"]["floor_area"] == 85


async def test_a_question_whose_answer_timed_out_is_not_sent_twice(
    harness: Harness, emulator: BotApiEmulator
) -> None:
    """Telegram delivers the next question but its answer comes after the bot stopped
    waiting: the question may well have arrived, so it is not sent again; the cadre answers
    it and the check goes on."""
    await harness.seed()
    user = emulator.user(3602, "测试干部", language_code="zh-hans")
    await harness.register(user)
    await open_check(harness, user, "王秀兰")
    await answer_until(harness, user, {}, stop_at="floor_area")
    release = emulator.hold("sendMessage")
    await user.send_text("85")
    question = await user.next_message(timeout=30)
    assert "住房照片" in question.content
    await harness.intake.settled()  # the bot gave up waiting for Telegram's answer
    release.set()
    assert [m for m in user.bot_messages if "住房照片" in m.content] == [question]
    await user.send_photo(b"\xff\xd8house")
    assert "住房照片" not in (await user.next_message(timeout=30)).content
    async with harness.sessionmaker() as s:
        state = (await s.scalars(select(CheckSession))).one().state
    assert state["answers"]["floor_area"] == 85 and state["answers"].get("house_photo")
