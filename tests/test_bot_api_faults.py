"""The Bot API answering 429 or 5xx in the middle of a check: the answer is kept once and the
cadre gets the next question once. One retry policy governs a reply and a reminder alike."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.emulator import BotApiEmulator
from bot.i18n import Translator
from bot.reminders import deliver
from bot.retry import RetryPolicy
from storage import CheckSession
from storage.models import OutboxEntry
from storage.reminders import DueReminder, record_due
from storage.users import user_by_telegram_id
from tests.checkdriver import answer_until, open_check
from tests.harness import VILLAGE, Harness, eventually


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


async def test_one_retry_policy_governs_a_reply_and_a_reminder_alike(
    harness: Harness, emulator: BotApiEmulator
) -> None:
    """With two attempts a request, one refused send is retried for a reply and a reminder
    alike, and two are too many for both: the reply is dropped and the reminder waits in the
    outbox as long as the policy says."""
    await harness.stop()
    policy = RetryPolicy(attempts=2, backoff=0.01, later_first=timedelta(minutes=7))
    harness.settings = harness.settings.with_changes(retry=policy)
    await harness.start()
    await harness.seed()
    user = emulator.user(3603, "测试干部", language_code="zh-hans")
    await harness.register(user)

    emulator.fail("sendMessage", 500, times=1)
    await user.send_command("help")
    assert "/check" in (await user.next_message(timeout=30)).content
    emulator.fail("sendMessage", 500, times=2)
    await user.send_command("help")

    async def refused() -> int:
        return len([e for e in emulator.errors if e.method.lower() == "sendmessage"])

    await eventually(refused, 3, seconds=30)  # the reply tried twice and dropped
    await harness.intake.settled()
    shown = len(user.bot_messages)

    now = harness.clock()
    async with harness.sessionmaker.begin() as s:
        cadre = await user_by_telegram_id(s, 3603)
        assert cadre is not None
        facts = {"reporting_day": "2026-12-04", "unchecked": 3, "total": 5, "village": "幸福村"}
        reminder = DueReminder(
            "report", f"user:{cadre.id}", f"village:{VILLAGE}", "2026-12", cadre.id, now, facts
        )
        await record_due(s, [reminder], now)
    emulator.fail("sendMessage", 500, times=2)
    report = await deliver(harness.app.bot, harness.sessionmaker, Translator(), now, "w")
    assert (report.sent_messages, report.retried) == (0, 1)
    async with harness.sessionmaker() as s:
        row = (await s.scalars(select(OutboxEntry))).one()
    assert (row.status, row.not_before) == ("pending", now + timedelta(minutes=7))
    assert len(user.bot_messages) == shown
    emulator.fail("sendMessage", 500, times=1)
    later = await deliver(
        harness.app.bot, harness.sessionmaker, Translator(), now + timedelta(minutes=7), "w"
    )
    assert later.sent_messages == 1 and "月报" in user.bot_messages[-1].content
