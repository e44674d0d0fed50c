"""`hucha run` logs a JSON line per event with the update id and chat it concerns, and never a
token, an ID number or a phone number."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from bot.emulator import BotApiEmulator
from bot.logs import configure_logging
from bot.redaction import install_redaction, uninstall_redaction
from tests.checkdriver import answer_until, open_check
from tests.harness import Clock
from tests.test_write_safety import bot_on

ID_NUMBER = "110101199003074514"
PHONE = "13812345678"


@pytest.fixture
def json_log(emulator: BotApiEmulator) -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    configure_logging(json_lines=True)
    stream = io.StringIO()
    root.handlers[0].setStream(stream)  # type: ignore[attr-defined]
    install_redaction([emulator.token])
    try:
        yield stream
    finally:
        uninstall_redaction()
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


async def test_a_failed_update_is_one_json_line_with_its_update_and_chat_and_no_secret(
    emulator: BotApiEmulator, database_url: str, clock: Clock, json_log: io.StringIO
) -> None:
    async with bot_on(emulator, database_url, clock, busy_timeout=5) as h:
        await h.seed()
        user = emulator.user(3501, "测试干部", language_code="zh-hans")
        await h.register(user)
        await open_check(h, user, "王秀兰")
        await answer_until(h, user, {}, stop_at="floor_area")
        async with h.sessionmaker.begin() as s:
            await s.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE UPDATE ON check_sessions BEGIN "
                    f"SELECT RAISE(ABORT, 'refused {ID_NUMBER} {PHONE} {emulator.token}'); END"
                )
            )
        await user.send_text(f"{ID_NUMBER} {PHONE}")
        await user.next_message(timeout=15)
        await h.intake.settled()
    output = json_log.getvalue()
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    failures = [line for line in lines if line["message"].startswith("unhandled error")]
    assert failures, output
    assert failures[0]["level"] == "error"
    assert failures[0]["chat_id"] == 3501 and isinstance(failures[0]["update_id"], int)
    assert "refused" in failures[0]["error"]
    for secret in (ID_NUMBER, PHONE, emulator.token, emulator.token.split(":")[1]):
        assert secret not in output
