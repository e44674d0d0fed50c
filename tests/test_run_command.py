"""`hucha run --api-url …` is the same bot: here it runs as its own process against the
emulator, as it would against a self-hosted Bot API server."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

from bot.emulator import BotApiEmulator
from storage import add_area, create_invitation, make_engine, make_sessionmaker, upgrade


async def test_hucha_run_serves_a_user_through_the_given_api_url(
    tmp_path: Path, emulator: BotApiEmulator
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'run.db'}"
    await upgrade(url)
    engine = make_engine(url)
    async with make_sessionmaker(engine).begin() as s:
        await add_area(s, "320705", "示范县", "county", province="江苏")
        invitation = await create_invitation(s, "office", "320705", datetime.now(UTC))
    await engine.dispose()
    environment = {**os.environ, "HUCHA_REMINDER_INTERVAL": "0"}
    environment.pop("HUCHA_TELEGRAM_TOKEN", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "--database-url",
        url,
        "run",
        "--token",
        emulator.token,
        "--api-url",
        emulator.base_url,
        env=environment,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        user = emulator.user(7001, "县办", language_code="zh-hans")
        await user.send_command("start", invitation.code)
        reply = await user.next_message(timeout=30)
        assert "示范县" in reply.content and "办公室" in reply.content
        assert dict(emulator.commands())["check"] == "入户核查"
    finally:
        process.send_signal(signal.SIGINT)
        _, errors = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, errors.decode()
    assert emulator.token not in errors.decode()
