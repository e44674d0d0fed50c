"""Answers per second and p99 of a round trip: SQLite, one PostgreSQL instance and two, and the
echo bot, all on the same transport, in one run.

    .venv/bin/python bench/throughput.py [--cadres 50] [--database postgresql+asyncpg://…/test]

Each configuration serves N cadres checking a household each (bench/check_flow.py's check),
all at once, through the Bot API emulator's webhook: `hucha run --webhook` processes (one on a
SQLite file, one on PostgreSQL, two on PostgreSQL behind bench/soak.py's load balancer), and
last a minimal python-telegram-bot echo Application in a process of its own taking the same
webhook posts and making the same round trips. The users and the emulator share this process,
so on a small machine they compete with the instances for the same cores: the figures say what
this machine can show, with the CPU count printed beside them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parent.parent
sys.path.insert(0, str(ROOT))

from telegram import Update  # noqa: E402

from bench.check_flow import (  # noqa: E402
    FIRST_USER_ID,
    Figures,
    all_at_once,
    echo_application,
    echo_trips,
)
from bench.soak import SECRET, free_port, scratch_database, soak  # noqa: E402
from bot.emulator import BotApiEmulator  # noqa: E402


async def echo_serve(port: int, token: str, api_url: str, file_url: str) -> None:
    """The echo bot taking webhook posts on `port` until killed (run in its own process)."""
    emulator = _Address(token, api_url, file_url)
    app = echo_application(emulator, 256)  # type: ignore[arg-type]
    await app.initialize()
    await app.start()
    tasks: set[asyncio.Task[None]] = set()

    async def on_update(request: web.Request) -> web.Response:
        update = Update.de_json(await request.json(), app.bot)
        if update is not None:
            task = asyncio.create_task(app.process_update(update))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        return web.Response()

    server = web.Application()
    server.router.add_post("/tg", on_update)
    runner = web.AppRunner(server, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await app.bot.set_webhook(f"http://127.0.0.1:{port}/tg", secret_token=SECRET)
    await asyncio.Event().wait()


class _Address:
    """What echo_application reads off an emulator: its token and addresses."""

    def __init__(self, token: str, base_url: str, base_file_url: str) -> None:
        self.token, self.base_url, self.base_file_url = token, base_url, base_file_url


async def run_echo_webhook(kinds: Sequence[Sequence[str]]) -> Figures:
    async with BotApiEmulator() as emulator:
        port = free_port()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(SCRIPT),
            "--echo-serve",
            str(port),
            emulator.token,
            emulator.base_url,
            emulator.base_file_url,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        try:
            while not emulator.webhook_url:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
            users = [
                emulator.user(FIRST_USER_ID + n, f"用户{n}", language_code="zh-hans")
                for n in range(len(kinds))
            ]
            figures, _ = await all_at_once(
                "echo bot", [echo_trips(u, k) for u, k in zip(users, kinds, strict=True)]
            )
        finally:
            process.kill()
            await process.wait()
    return figures


def row(name: str, figures: Figures) -> str:
    return (
        f"{name:22} {figures.per_second:9.1f} {figures.percentile_ms(0.5):8.0f}"
        f" {figures.percentile_ms(0.99):8.0f} {len(figures.trips):7d} {figures.wall:8.1f}"
    )


async def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cadres", type=int, default=50)
    parser.add_argument(
        "--database",
        default=os.environ.get(
            "HUCHA_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
        ),
        help="a PostgreSQL server URL; scratch databases are made on it and dropped",
    )
    parser.add_argument("--echo-serve", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.echo_serve:
        port, token, api_url, file_url = args.echo_serve
        await echo_serve(int(port), token, api_url, file_url)
        return 0
    results: list[tuple[str, Figures]] = []
    failed = False
    with tempfile.TemporaryDirectory(prefix="hucha-throughput-") as folder:
        logs = Path(folder)
        runs = [("SQLite, 1 instance", None, 1), ("PostgreSQL, 1 instance", args.database, 1)]
        runs.append(("PostgreSQL, 2 instances", args.database, 2))
        kinds: list[list[str]] = []
        for name, server, count in runs:
            async with contextlib.AsyncExitStack() as stack:
                if server is None:
                    url = f"sqlite+aiosqlite:///{logs / 'hucha.db'}"
                else:
                    url = await stack.enter_async_context(scratch_database(server))
                outcome = await soak(
                    url, args.cadres, logs, kill=False, instances_wanted=count, faults_wanted=False
                )
            failed = failed or bool(outcome.problems)
            for problem in outcome.problems:
                print(f"PROBLEM ({name}): {problem}")
            results.append((name, outcome.figures))
            kinds = outcome.kinds
    results.append(("echo bot (webhook)", await run_echo_webhook(kinds)))
    print(
        f"{args.cadres} cadres checking at once, webhook; {os.cpu_count()} CPUs shared by the"
        " users, the emulator and the instances"
    )
    print(f"{'':22} {'answers/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'trips':>7} {'wall s':>8}")
    for name, figures in results:
        print(row(name, figures))
    one, two = results[1][1].per_second, results[2][1].per_second
    print(f"two PostgreSQL instances / one: {two / one:.2f}×")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
