"""`hucha doctor` says what a deployment lacks, in plain words, and exits 1 while it does."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.cli import main
from bot.emulator import BotApiEmulator

AREAS = "代码,名称\n320723,灌云县\n320723100,伊山镇\n320723100201,东山村\n"


def doctor(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = main(["doctor", *argv])
    return code, capsys.readouterr().out.splitlines()


async def test_doctor_names_each_missing_piece_then_passes_what_is_there(
    tmp_path: Path,
    emulator: BotApiEmulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HUCHA_TELEGRAM_TOKEN", raising=False)
    url = f"sqlite+aiosqlite:///{tmp_path / 'doctor.db'}"
    base = ["--database-url", url, "--lang", "en"]
    code, lines = await asyncio.to_thread(doctor, base, capsys)
    assert code == 1
    assert "✗ No bot token: set HUCHA_TELEGRAM_TOKEN." in lines
    assert "✗ The database schema is not up to date: run hucha db upgrade." in lines

    areas = tmp_path / "areas.csv"
    areas.write_text(AREAS, encoding="utf-8")
    await asyncio.to_thread(main, ["areas", "import", str(areas), "--province", "江苏", *base])
    with_token = [*base, "--token", emulator.token, "--api-url", emulator.base_url]
    code, lines = await asyncio.to_thread(doctor, with_token, capsys)
    assert "✓ The database schema is up to date." in lines
    assert "✓ Area tree: 1 counties, 1 townships, 1 villages." in lines
    assert "✓ The Bot API knows the token: @hucha_test_bot." in lines
    assert any(line.startswith("✗ No income line for 江苏 in ") for line in lines)
    assert code == 1

    wrong = [*base, "--token", "654321:WRONG-token-never-shown", "--api-url", emulator.base_url]
    code, lines = await asyncio.to_thread(doctor, wrong, capsys)
    assert "✗ The Bot API refused the token: check HUCHA_TELEGRAM_TOKEN or --token." in lines
    assert not any("WRONG-token" in line for line in lines)
