"""An instance killed (SIGKILL) in the middle of a check loses nothing: a button the person
saw answered, whose write the process never made, is applied when the bot comes back."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from sqlalchemy import func, select, update

from bot.emulator import BotApiEmulator
from storage import CheckSession
from storage.models import ReceivedUpdate
from tests.checkdriver import answer_until, open_check
from tests.harness import Clock, Harness

ROOT = Path(__file__).resolve().parent.parent


async def hucha_run(
    emulator: BotApiEmulator, database_url: str, log: Path, instance: str = "one"
) -> asyncio.subprocess.Process:
    """`hucha run` as its own process, as an operator starts it."""
    environment = {
        **os.environ,
        "HUCHA_REMINDER_INTERVAL": "0",
        "HUCHA_INSTANCE": instance,
        "PYTHONPATH": str(ROOT),
    }
    environment.pop("HUCHA_TELEGRAM_TOKEN", None)
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "--database-url",
        database_url,
        "run",
        "--token",
        emulator.token,
        "--api-url",
        emulator.base_url,
        env=environment,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=log.open("ab"),
    )


async def test_a_button_answered_before_a_kill_is_applied_after_the_restart(
    harness: Harness, emulator: BotApiEmulator, database_url: str, clock: Clock, tmp_path: Path
) -> None:
    await harness.seed()
    user = emulator.user(3201, "测试干部", language_code="zh-hans")
    await harness.register(user)
    prompt = await open_check(harness, user, "王秀兰")
    assert await harness.cursor(3201) == "visit_type"
    await harness.stop()
    log = tmp_path / "bot.log"
    # Telegram shows the person the button's answer, but the answer's response never
    # reaches the bot: it is killed while waiting for it, before it writes anything.
    held = emulator.hold("answerCallbackQuery")
    process = await hucha_run(emulator, database_url, log)
    try:
        await user.press(prompt.message_id, prompt.callback_data("入户走访"), timeout=120)
    finally:
        process.kill()
        await process.wait()
    held.set()
    assert await harness.cursor(3201) == "visit_type"
    process = await hucha_run(emulator, database_url, log)
    try:
        await user.next_edit(timeout=120)  # the prompt, now showing the answer
        following = await user.next_message(timeout=60)
        assert "回答人" in following.content
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), timeout=60)
    assert process.returncode == 0, log.read_text()
    async with harness.sessionmaker() as s:
        state = (await s.scalars(select(CheckSession))).one().state
    assert state["answers"]["visit_type"] == "home_visit"
    assert emulator.token not in log.read_text()


async def handled_again(harness: Harness) -> None:
    """What a restarted instance does with the update its killed self never marked done (the
    last one): handed to the handlers a second time."""
    await harness.intake.settled()  # its first handling has marked it done
    async with harness.sessionmaker.begin() as s:
        last = await s.scalar(select(func.max(ReceivedUpdate.update_id)))
        await s.execute(
            update(ReceivedUpdate)
            .where(ReceivedUpdate.update_id == last)
            .values(done_at=None, claimed_by="test", claimed_until=None)
        )
    assert await harness.intake.resume(own_too=True) == 1
    await harness.intake.settled()


async def test_an_answer_handled_again_after_a_kill_is_not_applied_twice(
    harness: Harness, emulator: BotApiEmulator
) -> None:
    await harness.seed()
    user = emulator.user(3202, "测试干部", language_code="zh-hans")
    await harness.register(user)
    await open_check(harness, user, "王秀兰")
    # The last answer typed (the floor area); the photo prompt after it is on screen.
    await answer_until(harness, user, {}, stop_at="house_photo")
    async with harness.sessionmaker() as s:
        before = (await s.scalars(select(CheckSession))).one().state["answers"]
    seen = len(user.bot_messages)
    await handled_again(harness)
    await emulator.wait_until_idle(timeout=10)
    assert len(user.bot_messages) == seen, user.bot_messages[seen:]
    assert await harness.cursor(3202) == "house_photo"
    async with harness.sessionmaker() as s:
        assert (await s.scalars(select(CheckSession))).one().state["answers"] == before
