"""CPU per Bot API call on the household check's hot path: the calls each answer makes
(bot/sending.py over bot/transport.py, through the bot's `_post`) and the updates it comes in
as (bot/intake.py), with the screens of a real check.

    .venv/bin/python bench/bot_api_calls.py [--checks 10] [--rounds 5]

The Bot API emulator serves from a process of its own, so the CPU time taken here is the
bot's alone. The screens are those one household check shows (bench/engine.py's household,
answered as tests/checkdriver.py's GOOD plan says). Each row is the best of `--rounds`:

- render: a prompt's screen built, its text and keyboard (bot/render.py), no I/O;
- sendMessage: that screen sent with its keyboard (`send_once`);
- editMessageText: a sent prompt edited to show its answer, its keyboard gone (`edit`);
- answerCallbackQuery: a press on a prompt answered, as a handler's `query.answer()`;
- getUpdates+store: presses on a prompt polled and stored in a SQLite file, as the intake
  receives them (`Intake.receive`), per update.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from telegram import Update

from bot.app import build_application
from bot.emulator import BotApiEmulator
from bot.i18n import Translator
from bot.intake import Intake
from bot.render import Screen, answered_text, prompt_screen
from bot.sending import HuchaBot, edit, send_once
from bot.settings import Settings
from conversations import Form, KeptPositions, Position, Prompt
from storage import make_engine, make_sessionmaker, upgrade

_engine_bench = importlib.import_module("bench.engine")
FORM: Form = _engine_bench.FORM

SCRIPT = Path(__file__).resolve()
CHAT = 4242
LANG = "zh_CN"
SESSION = 1234
BATCH = 100  # updates per getUpdates, Telegram's most


async def serve() -> None:
    """The emulator with one person who has started the bot. Reads commands on stdin:
    `press MESSAGE COUNT` presses a button of that message COUNT times (answered later or
    never); `quit` ends it."""
    async with BotApiEmulator() as emulator:
        user = emulator.user(CHAT, "干部")
        await user.send_command("start")
        print(emulator.token, emulator.base_url, flush=True)
        loop = asyncio.get_running_loop()
        pending: set[asyncio.Task[Any]] = set()
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            words = line.split()
            if words[0] == "press":
                message_id, count = int(words[1]), int(words[2])
                data = words[3]
                for _ in range(count):
                    pending.add(asyncio.create_task(user.press(message_id, data, 3600)))
                await asyncio.sleep(0)
            print("ok", flush=True)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


def check_prompts() -> list[Prompt]:
    """Every prompt one household check shows, in order."""
    context = _engine_bench.household_context(4)
    _, states = _engine_bench.one_check(FORM, context, KeptPositions())
    prompts = []
    for state in states:
        shown = Position(FORM, state, context).shown
        if isinstance(shown, Prompt):
            prompts.append(shown)
    return prompts


def screens(prompts: Sequence[Prompt], t: Translator) -> list[Screen]:
    return [prompt_screen(FORM, prompt, SESSION, LANG, t) for prompt in prompts]


class Emulator:
    """The emulator's process, told what to do on its stdin."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        assert process.stdin is not None and process.stdout is not None
        self.stdin, self.stdout = process.stdin, process.stdout

    async def tell(self, command: str) -> None:
        self.stdin.write(command.encode() + b"\n")
        await self.stdin.drain()
        await self.stdout.readline()


async def poll(
    bot: HuchaBot, count: int, offset: int | None
) -> tuple[list[Update], list[dict[str, Any]], int | None]:
    """`count` updates and their JSON, as the intake polls them; the offset after them."""
    updates: list[Update] = []
    as_sent: list[dict[str, Any]] = []
    while len(updates) < count:
        got, json = await bot.get_updates_as_sent(offset, 0, Update.ALL_TYPES)
        updates += got
        as_sent += json
        if got:
            offset = got[-1].update_id + 1
    return updates, as_sent, offset


Timed = Callable[[], Awaitable[tuple[int, float]]]


async def best_us(run: Timed, rounds: int) -> float:
    """The least CPU microseconds a call over `rounds` runs; each run gives its calls and the
    CPU seconds they took."""
    best = float("inf")
    for _ in range(rounds):
        calls, cpu = await run()
        best = min(best, cpu * 1e6 / calls)
    return best


async def measure(
    emulator: Emulator, token: str, base_url: str, checks: int, rounds: int
) -> dict[str, float]:
    t = Translator()
    prompts = check_prompts() * checks
    shown = screens(prompts, t)
    keyboard = next(s for s in shown if s.markup is not None)
    answered = [answered_text(FORM, p, None, LANG, t) for p in prompts]
    with tempfile.TemporaryDirectory(prefix="hucha-bench-") as directory:
        url = f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}"
        await upgrade(url)
        engine = make_engine(url)
        settings = Settings(
            token=token, api_url=base_url, database_url=url, rate_limit=False, reminder_interval=0
        )
        app = build_application(settings, make_sessionmaker(engine))
        bot = app.bot
        assert isinstance(bot, HuchaBot)
        await app.initialize()
        try:
            intake = Intake(app, instance="bench")

            async def render() -> tuple[int, float]:
                cpu = time.process_time()
                screens(prompts, t)
                return len(prompts), time.process_time() - cpu

            async def send_all() -> list[int]:
                return [await send_once(bot, CHAT, s.text, s.markup) for s in shown]

            async def sending() -> tuple[int, float]:
                cpu = time.process_time()
                await send_all()
                return len(shown), time.process_time() - cpu

            async def editing() -> tuple[int, float]:
                sent = await send_all()
                cpu = time.process_time()
                for message_id, text in zip(sent, answered, strict=True):
                    await edit(bot, CHAT, message_id, text, None)
                return len(sent), time.process_time() - cpu

            earlier = await bot.get_updates(timeout=0)  # the /start, left out
            offset: int | None = earlier[-1].update_id + 1 if earlier else None
            target = await send_once(bot, CHAT, keyboard.text, keyboard.markup)
            press = f"bench:{SESSION}"

            async def answering() -> tuple[int, float]:
                nonlocal offset
                await emulator.tell(f"press {target} {len(prompts)} {press}")
                updates, _, offset = await poll(bot, len(prompts), offset)
                cpu = time.process_time()
                for update in updates:
                    assert update.callback_query is not None
                    await update.callback_query.answer()
                return len(updates), time.process_time() - cpu

            async def receiving() -> tuple[int, float]:
                nonlocal offset
                await emulator.tell(f"press {target} {BATCH * 5} {press}")
                cpu = time.process_time()
                for _ in range(5):
                    updates, as_sent, offset = await poll(bot, BATCH, offset)
                    await intake.receive(updates, as_sent)
                return BATCH * 5, time.process_time() - cpu

            return {
                "render (prompt screen)": await best_us(render, rounds),
                "sendMessage (prompt)": await best_us(sending, rounds),
                "editMessageText (answered)": await best_us(editing, rounds),
                "answerCallbackQuery": await best_us(answering, rounds),
                "getUpdates+store, per update": await best_us(receiving, rounds),
            }
        finally:
            await app.shutdown()
            await engine.dispose()


async def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--checks", type=int, default=10, help="checks' prompts per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        await serve()
        return 0
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SCRIPT),
        "--serve",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    emulator = Emulator(process)
    try:
        token, base_url = (await emulator.stdout.readline()).decode().split()
        figures = await measure(emulator, token, base_url, args.checks, args.rounds)
    finally:
        emulator.stdin.close()
        await process.wait()
    prompts = len(check_prompts()) * args.checks
    print(f"{prompts} prompts ({args.checks} checks), bot CPU µs a call, best of {args.rounds}")
    for name, value in figures.items():
        print(f"{name:30} {value:9.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
