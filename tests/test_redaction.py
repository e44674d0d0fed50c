"""No secret in a log: the bot token, ID numbers (身份证号) and phone numbers are removed from
every record, whatever handler or formatter prints it; failures of a real `hucha` process
are run and their output searched."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from bot.emulator import BotApiEmulator
from bot.redaction import install_redaction, redact, uninstall_redaction
from storage import add_area, make_engine, make_sessionmaker, upgrade

ID_NUMBER = "32070519800101123X"
OLD_ID_NUMBER = "320705800101123"
PHONE = "13812345678"
TOKEN = "123456789:AAHfakeFAKEfakeFAKEfakeFAKEfake12345"


@pytest.fixture
def redaction() -> Iterator[None]:
    install_redaction([TOKEN])
    try:
        yield
    finally:
        uninstall_redaction()


def test_redact_removes_tokens_ids_and_phones() -> None:
    line = (
        f"bot{TOKEN}/getMe id {ID_NUMBER} old {OLD_ID_NUMBER} tel {PHONE} "
        f"+86 138-1234-5678 0518-12345678 bot123456789%3AAAHfakeFAKEfakeFAKEfakeFAKEfake12345"
    )
    cleaned = redact(line)
    for secret in (TOKEN, ID_NUMBER, OLD_ID_NUMBER, PHONE, "138-1234-5678", "12345678", "%3A"):
        assert secret not in cleaned, (secret, cleaned)
    # Ordinary numbers stay: chat ids, row ids, dates, counts.
    kept = "chat 1001 household 42 at 2026-11-28 rows 1000000 chat -1001234567890"
    assert redact(kept) == kept


class _Json(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {
                "message": record.getMessage(),
                "error": self.formatException(record.exc_info) if record.exc_info else None,
                "trace": record.exc_text,
                "phone": getattr(record, "phone", None),
            },
            ensure_ascii=False,
        )


def test_a_json_handler_added_later_prints_no_secret(redaction: None) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_Json())
    logger = logging.getLogger("hucha.test.redaction")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        try:
            raise RuntimeError(f"The token `{TOKEN}` was rejected; row {ID_NUMBER}")
        except RuntimeError:
            logger.exception("import of %s failed", ID_NUMBER, extra={"phone": PHONE})
        logger.info("call %s", PHONE)
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert "import of [id number] failed" in output and "RuntimeError" in output
    for secret in (TOKEN, ID_NUMBER, PHONE):
        assert secret not in output


async def test_database_errors_carry_no_parameters(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'hucha.db'}"
    engine = make_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (id_number TEXT NOT NULL UNIQUE)"))
            await connection.execute(text("INSERT INTO t VALUES (:n)"), {"n": ID_NUMBER})
        with pytest.raises(DBAPIError) as raised:
            async with engine.begin() as connection:
                await connection.execute(text("INSERT INTO t VALUES (:n)"), {"n": ID_NUMBER})
    finally:
        await engine.dispose()
    assert ID_NUMBER not in str(raised.value)


# ---------------------------------------------------------------- a real process


async def _hucha(*args: str, timeout: float = 60) -> tuple[int, str]:  # noqa: ASYNC109
    environment = {**os.environ, "HUCHA_REMINDER_INTERVAL": "0"}
    environment.pop("HUCHA_TELEGRAM_TOKEN", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        *args,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=timeout)
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


async def _database(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'run.db'}"
    await upgrade(url)
    return url


async def test_a_roster_write_that_fails_logs_no_id_number(tmp_path: Path) -> None:
    url = await _database(tmp_path)
    engine = make_engine(url)
    async with make_sessionmaker(engine).begin() as s:
        await add_area(s, "320705", "示范县", "county", province="江苏")
        await add_area(s, "320705001", "示范镇", "township", parent_code="320705")
        await add_area(s, "320705001001", "幸福村", "village", parent_code="320705001")
        # Any failure of the write will do: here the database refuses every new member.
        await s.execute(
            text(
                "CREATE TRIGGER no_members BEFORE INSERT ON members "
                "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
            )
        )
    await engine.dispose()
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "村,户编号,户主姓名,身份证号,与户主关系,姓名,联系电话\n"
        f"320705001001,001,张建国,{ID_NUMBER},户主,张建国,{PHONE}\n",
        encoding="utf-8",
    )
    code, output = await _hucha("--database-url", url, "import-roster", str(roster))
    assert code != 0 and "disk full" in output, output
    assert ID_NUMBER not in output and PHONE not in output, output


@pytest.fixture
async def echoing_proxy() -> AsyncIterator[str]:
    """A proxy's error page that echoes the path it was asked for, token and all."""

    async def page(request: web.Request) -> web.Response:
        body = f"<html><body><h1>502 Bad Gateway</h1><p>{request.path}</p></body></html>"
        return web.Response(status=502, text=body, content_type="text/html")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/bot"
    finally:
        await runner.cleanup()


async def test_bot_token_never_reaches_the_output_when_telegram_refuses(
    tmp_path: Path, emulator: BotApiEmulator, echoing_proxy: str
) -> None:
    url = await _database(tmp_path)
    wrong_path = emulator.base_url.removesuffix("/bot") + "/api/bot"
    failures = {
        "wrong --api-url path": (emulator.token, wrong_path),
        "rejected token": (TOKEN, emulator.base_url),
        "proxy error page": (emulator.token, echoing_proxy),
    }
    for name, (token, api_url) in failures.items():
        secret = token.split(":", 1)[1]
        code, output = await _hucha(
            "--database-url", url, "run", "--token", token, "--api-url", api_url
        )
        assert code != 0, (name, output)
        assert output.strip(), name
        assert secret not in output, (name, output)
