"""CPU per Bot API call of python-telegram-bot's default request (httpx) against ours on aiohttp
(bot/transport.py), in the same run.

    .venv/bin/python bench/transport.py [--calls 2000] [--concurrency 50] [--rounds 3]

The Bot API emulator serves from a process of its own, so the CPU time taken here is the
client's alone: PTB's Bot building each sendMessage, the request object sending it and reading
the answer, PTB parsing it into a Message. Each request object makes N calls one after another,
then N calls with `--concurrency` in flight at once; the two take turns for `--rounds` rounds
and the best round of each is shown, as the machine is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from telegram import Bot
from telegram.request import BaseRequest, HTTPXRequest

from bot.emulator import BotApiEmulator
from bot.transport import AiohttpRequest

SCRIPT = Path(__file__).resolve()
CHAT = 4242
TEXT = "回声 echo, with a few words to carry, as a question would"


async def serve() -> None:
    """The emulator with one person who has started the bot, until stdin closes."""
    async with BotApiEmulator() as emulator:
        await emulator.user(CHAT, "用户").send_command("start")
        print(emulator.token, emulator.base_url, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


async def sequential(bot: Bot, calls: int) -> None:
    for _ in range(calls):
        await bot.send_message(CHAT, TEXT)


async def concurrent(bot: Bot, calls: int, width: int) -> None:
    async def lane(count: int) -> None:
        for _ in range(count):
            await bot.send_message(CHAT, TEXT)

    share, extra = divmod(calls, width)
    await asyncio.gather(*(lane(share + (n < extra)) for n in range(width)))


async def cpu_ms_per_call(
    token: str, base_url: str, make: Callable[[], BaseRequest], calls: int, width: int
) -> tuple[float, float]:
    """CPU ms a call, sequential and concurrent, for one request object."""
    async with Bot(token, base_url=base_url, request=make()) as bot:
        await sequential(bot, 50)  # connections opened, code warmed
        figures = []
        for run in (lambda: sequential(bot, calls), lambda: concurrent(bot, calls, width)):
            cpu = time.process_time()
            await run()
            figures.append((time.process_time() - cpu) * 1000 / calls)
    return figures[0], figures[1]


async def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        await serve()
        return 0
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SCRIPT),
        "--serve",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert server.stdin is not None and server.stdout is not None
    try:
        token, base_url = (await server.stdout.readline()).decode().split()
        pool = max(args.concurrency, 1)
        makers: dict[str, Callable[[], BaseRequest]] = {
            "httpx (PTB's HTTPXRequest)": lambda: HTTPXRequest(connection_pool_size=pool),
            "aiohttp (AiohttpRequest)": lambda: AiohttpRequest(connection_pool_size=pool),
        }
        best: dict[str, tuple[float, float]] = {}
        for _ in range(args.rounds):
            for name, make in makers.items():
                seq, conc = await cpu_ms_per_call(
                    token, base_url, make, args.calls, args.concurrency
                )
                old = best.get(name, (seq, conc))
                best[name] = (min(old[0], seq), min(old[1], conc))
    finally:
        server.stdin.close()
        await server.wait()
    print(f"sendMessage through PTB's Bot, client CPU ms a call (best of {args.rounds} rounds)")
    print(f"{'request':30} {'sequential':>11} {f'{args.concurrency} at once':>11}")
    for name, (seq, conc) in best.items():
        print(f"{name:30} {seq:11.3f} {conc:11.3f}")
    (base_seq, base_conc), (seq, conc) = best.values()
    print(f"aiohttp / httpx: sequential {seq / base_seq:.2f}, concurrent {conc / base_conc:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
