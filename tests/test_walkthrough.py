"""README.md's "Running against Telegram" walk-through, run as written: each command in order
on an empty database, its output compared with the README's, then the chat it describes
against `hucha run` on the emulator."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import shlex
import shutil
import signal
import sys
from pathlib import Path

import pytest

from bot.cli import main
from bot.emulator import BotApiEmulator

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CODE = re.compile(r"\b[A-HJ-NP-Z2-9]{8}\b")
MOMENT = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}")
YEAR = re.compile(r"\d{4}年")


def walkthrough() -> list[tuple[str, list[str]]]:
    """The commands of the walk-through with the lines each is shown to print."""
    text = README.read_text(encoding="utf-8")
    section = text.split("<!-- walkthrough -->", 1)[1].split("tests/test_walkthrough.py", 1)[0]
    steps: list[tuple[str, list[str]]] = []
    for block in re.findall(r"```\n(.*?)```", section, flags=re.S):
        for line in block.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:].split("#", 1)[0].strip(), []))
            elif line.strip():
                steps[-1][1].append(line)
    return steps


def normalised(lines: list[str]) -> list[str]:
    return [
        YEAR.sub("<year>", MOMENT.sub("<moment>", CODE.sub("<code>", line.rstrip())))
        for line in lines
    ]


def hucha(argv: list[str]) -> tuple[int, list[str]]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    return code, out.getvalue().splitlines()


async def test_readme_walkthrough_takes_a_new_county_to_a_cadre_checking(
    tmp_path: Path, emulator: BotApiEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    readme = README.read_text(encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    for name in ("DATABASE_URL", "HUCHA_LANGUAGE", "HUCHA_TELEGRAM_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    codes: list[str] = []
    process: asyncio.subprocess.Process | None = None
    try:
        for command, shown in walkthrough():
            words = shlex.split(command)
            if words[0] == "export":
                continue
            assert words[0] == ".venv/bin/hucha", command
            if words[1] == "run":
                process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "bot.cli",
                    "run",
                    "--token",
                    emulator.token,
                    "--api-url",
                    emulator.base_url,
                    cwd=tmp_path,
                    env={**os.environ, "HUCHA_REMINDER_INTERVAL": "0", "PYTHONPATH": str(ROOT)},
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.PIPE,
                )
                office = emulator.user(7001, "王主任", language_code="zh-hans")
                await office.send_command("start", codes[0])
                greeting = (await office.next_message(timeout=120)).content  # a cold start
                assert greeting.splitlines()[0] in readme
                continue
            code, printed = await asyncio.to_thread(hucha, words[1:])
            assert code == 0, command
            assert normalised(printed) == normalised(shown), command
            if words[1] == "invite":
                codes.append(printed[0])
        assert process is not None
        cadre = emulator.user(7002, "李明", language_code="zh-hans")
        await cadre.send_command("start", codes[1])
        assert (await cadre.next_message(timeout=30)).content.splitlines()[0] in readme
        await cadre.send_command("check")
        households = await cadre.next_message(timeout=30)
        button = next(text for text, _ in households.buttons if "王大山" in text)
        assert f'"{button}"' in readme
        await cadre.press_button(button, timeout=30)
        await cadre.next_message(timeout=30)  # the check's title
        question = await cadre.next_message(timeout=30)
        assert "核查方式" in question.content
        assert "入户走访" in [text for text, _ in question.buttons]
    finally:
        if process is not None:
            process.send_signal(signal.SIGINT)
            _, errors = await asyncio.wait_for(process.communicate(), timeout=30)
            assert emulator.token not in errors.decode()
