"""Soak: cadres check households through two `hucha run --webhook` instances on one PostgreSQL
database, with Telegram's bad moments on top, and nothing may be lost or done twice.

    .venv/bin/python bench/soak.py [--cadres 200] [--database postgresql+asyncpg://…/test]

The Bot API emulator posts every update to a small load balancer, which passes each post to
the two instances in turn (the next one when an instance does not answer), as the reverse
proxy of deploy/compose.yaml does. While the cadres check, some updates are delivered twice,
sendMessage answers 429 now and then, and one instance is killed with SIGKILL in the middle
and started again under the same name. Each instance sweeps reminders every two seconds.

At the end: every check is submitted exactly once, every answer of the plan is in its record,
every update was handled, and each cadre got their contact reminder exactly once. The figures
(checks, answers, second deliveries refused, time, p50/p99 of a round trip) are printed with
the echo bot's on the same round trips as the baseline (bench/check_flow.py's).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import signal
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web
from sqlalchemy import func, make_url, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.check_flow import (  # noqa: E402
    CONTINUE,
    DONE,
    FIRST_USER_ID,
    FORM,
    GOOD,
    REPLY_SECONDS,
    SKIP,
    Figures,
    all_at_once,
    check_household,
    invitations,
    print_ratios,
    print_table,
    run_echo,
    seed_village,
)
from bot.emulator import BotApiEmulator, EmulatedUser  # noqa: E402
from bot.settings import Settings  # noqa: E402
from storage import (  # noqa: E402
    CheckRecord,
    Household,
    make_engine,
    make_sessionmaker,
    upgrade,
)
from storage.models import Area, OutboxEntry, ReceivedUpdate  # noqa: E402

SECRET = "soak-secret_0123456789"
SWEEP_SECONDS = 2.0
CONTACT_MARK = "尚未联系"  # the contact reminder's line, in Chinese
SECOND_DELIVERIES = 0.1  # of the updates, about
TOO_MANY_REQUESTS = 0.03  # of the messages sent, about


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# The load balancer


@dataclass
class Balancer:
    """Passes each webhook post to the next instance in turn; to the other when one does not
    answer (nginx's proxy_next_upstream). Counts the posts each update id got."""

    ports: Sequence[int]
    posts: dict[int, int] = field(default_factory=dict)
    _turn: itertools.count[int] = field(default_factory=itertools.count)

    async def forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower().startswith("x-telegram")}
        headers["Content-Type"] = "application/json"
        first = next(self._turn)
        async with aiohttp.ClientSession() as http:
            for step in range(len(self.ports)):
                port = self.ports[(first + step) % len(self.ports)]
                try:
                    async with http.post(
                        f"http://127.0.0.1:{port}/tg", data=body, headers=headers
                    ) as answer:
                        if answer.status == 200:
                            update_id = int((await request.json())["update_id"])
                            self.posts[update_id] = self.posts.get(update_id, 0) + 1
                        return web.Response(status=answer.status, body=await answer.read())
                except aiohttp.ClientError:
                    continue
        return web.Response(status=502, text="no instance answers")


@contextlib.asynccontextmanager
async def balancer(ports: Sequence[int]) -> AsyncIterator[tuple[Balancer, int]]:
    lb = Balancer(ports)
    app = web.Application()
    app.router.add_post("/tg", lb.forward)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield lb, port
    finally:
        await runner.cleanup()


# The instances


@dataclass
class Instance:
    """One `hucha run --webhook` process."""

    name: str
    port: int
    database_url: str
    emulator: BotApiEmulator
    webhook_url: str
    log: Path
    process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        environment = {
            **os.environ,
            "HUCHA_REMINDER_INTERVAL": str(SWEEP_SECONDS),
            "HUCHA_INSTANCE": self.name,
            "HUCHA_WEBHOOK_SECRET": SECRET,
            "HUCHA_FILE_URL": self.emulator.base_file_url,
            "PYTHONPATH": str(ROOT),
        }
        environment.pop("HUCHA_TELEGRAM_TOKEN", None)
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli",
            "--database-url",
            self.database_url,
            "run",
            "--token",
            self.emulator.token,
            "--api-url",
            self.emulator.base_url,
            "--webhook",
            "--listen",
            f"127.0.0.1:{self.port}",
            "--webhook-url",
            self.webhook_url,
            env=environment,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=self.log.open("ab"),
        )
        await self.ready()

    async def ready(self, seconds: float = 90.0) -> None:
        deadline = time.monotonic() + seconds
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.returncode is not None:
                    raise RuntimeError(f"instance {self.name} ended: {self.log.read_text()}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"http://127.0.0.1:{self.port}/healthz") as answer:
                        if answer.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise TimeoutError(f"instance {self.name} did not come up: {self.log.read_text()}")

    async def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        await self.process.wait()

    async def stop(self) -> int:
        if self.process is None or self.process.returncode is not None:
            return 0 if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), timeout=60)


# The run


@dataclass
class Outcome:
    figures: Figures
    kinds: list[list[str]]
    records: int
    problems: list[str]
    updates: int
    second_posts: int
    too_many: int
    reminders: int
    killed_at: float
    refusals: list[str]


async def prepare(
    sessionmaker: async_sessionmaker[AsyncSession], cadres: int
) -> tuple[str, list[str], list[str]]:
    """A village with a household per cadre and one nobody checks (so every cadre is owed
    a contact reminder all along); reminders of that kind due today, none held at night."""
    village = await seed_village(sessionmaker, cadres + 1, datetime.now(UTC).date())
    codes = await invitations(sessionmaker, village.code, cadres)
    day = min(datetime.now(ZoneInfo("Asia/Shanghai")).day, 28)
    settings = {
        "quiet_hours": ["00:00", "00:00"],
        "remind_time": "00:00",
        "digest_time": "00:00",
        "reporting_day": day,
        "contact_day": day,
        "report_offsets": [],
        "deadline_offsets": [],
    }
    async with sessionmaker.begin() as s:
        await s.execute(update(Area).where(Area.code == village.code).values(settings=settings))
    return village.code, village.numbers[:cadres], codes


async def register(user: EmulatedUser, code: str) -> None:
    """/start CODE; then the welcome and the contact reminder come, in either order."""
    await user.send_command("start", code)
    welcomed = reminded = False
    while not (welcomed and reminded):
        content = (await user.next_message(REPLY_SECONDS)).content
        welcomed = welcomed or "✅" in content
        reminded = reminded or CONTACT_MARK in content


async def killer(
    emulator: BotApiEmulator, victim: Instance, after_posts: int, faults: int
) -> float:
    """SIGKILL `victim` once the webhook has taken `after_posts` more posts, start it again;
    more second deliveries and 429s on both sides of the kill. The moment, from now."""
    began = time.perf_counter()
    start = emulator.webhook_posts
    while emulator.webhook_posts - start < after_posts:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    moment = time.perf_counter() - began
    await victim.kill()
    emulator.deliver_twice(faults)
    emulator.fail("sendMessage", 429, times=max(faults // 4, 1), retry_after=1)
    await victim.start()
    emulator.deliver_twice(faults)
    return moment


async def soak(
    database_url: str,
    cadres: int,
    log_dir: Path,
    kill: bool = True,
    instances_wanted: int = 2,
    faults_wanted: bool = True,
) -> Outcome:
    """The run; with `faults_wanted` off and no `kill`, a plain measure of `instances_wanted`
    instances (bench/throughput.py)."""
    await upgrade(database_url)
    engine = make_engine(database_url)
    sessionmaker = make_sessionmaker(engine)
    try:
        village, numbers, codes = await prepare(sessionmaker, cadres)
        async with BotApiEmulator() as emulator:
            ports = [free_port() for _ in range(instances_wanted)]
            async with balancer(ports) as (lb, lb_port):
                url = f"http://127.0.0.1:{lb_port}/tg"
                instances = [
                    Instance(name, port, database_url, emulator, url, log_dir / f"{name}.log")
                    for name, port in zip("ab", ports, strict=False)
                ]
                try:
                    await asyncio.gather(*(i.start() for i in instances))
                    users = [
                        emulator.user(FIRST_USER_ID + n, f"干部{n}", language_code="zh-hans")
                        for n in range(cadres)
                    ]
                    await asyncio.gather(
                        *(register(u, c) for u, c in zip(users, codes, strict=True))
                    )
                    trips_per_check = 25
                    faults = max(int(cadres * trips_per_check * SECOND_DELIVERIES / 2), 1)
                    emulator.deliver_twice(faults if faults_wanted else 0)
                    emulator.fail(
                        "sendMessage",
                        429,
                        times=int(cadres * trips_per_check * TOO_MANY_REQUESTS)
                        if faults_wanted
                        else 0,
                        retry_after=1,
                    )
                    kill_task = (
                        asyncio.create_task(
                            killer(emulator, instances[0], cadres * trips_per_check // 3, faults)
                        )
                        if kill
                        else None
                    )
                    refusals: list[str] = []
                    figures, per_cadre = await all_at_once(
                        "soak",
                        [
                            check_household(u, n, refusals)
                            for u, n in zip(users, numbers, strict=True)
                        ],
                    )
                    killed_at = -1.0
                    if kill_task is not None and kill_task.done():
                        killed_at = kill_task.result()
                    elif kill_task is not None:  # the checks ended first
                        kill_task.cancel()
                    await asyncio.sleep(SWEEP_SECONDS * 2.5)  # sweeps that must find nothing new
                finally:
                    codes_out = await asyncio.gather(
                        *(i.stop() for i in instances), return_exceptions=True
                    )
        problems = [
            f"instance {i.name} ended with {c}"
            for i, c in zip(instances, codes_out, strict=True)
            if c != 0
        ]
        problems += await verify(sessionmaker, village, numbers, users)
        second_posts = sum(n - 1 for n in lb.posts.values())
        too_many = sum(1 for e in emulator.errors if e.code == 429)
        async with sessionmaker() as s:
            updates = int(await s.scalar(select(func.count()).select_from(ReceivedUpdate)) or 0)
            reminders = int(
                await s.scalar(
                    select(func.count()).where(
                        OutboxEntry.kind == "contact", OutboxEntry.status == "sent"
                    )
                )
                or 0
            )
            records = int(
                await s.scalar(
                    select(func.count(CheckRecord.id))
                    .join(Household, Household.id == CheckRecord.household_id)
                    .where(Household.village_code == village)
                )
                or 0
            )
    finally:
        await engine.dispose()
    return Outcome(
        figures,
        [[t.kind for t in trips] for trips in per_cadre],
        records,
        problems,
        updates,
        second_posts,
        too_many,
        reminders,
        killed_at,
        refusals,
    )


SIMPLE = ("yes_no", "select_one", "integer", "decimal", "text")
QUESTIONS = {question.id: question for question in FORM.questions}


def plan_answers(answers: dict[str, Any]) -> list[str]:
    """The plan's answers a record lacks or holds otherwise: every simple question asked at the
    top of the form holds what the cadre answered (or, where they confirmed "everything
    normal", the question's normal answer)."""
    wrong = []
    for key, question in QUESTIONS.items():
        value = GOOD.get(key)
        if question.type not in SIMPLE or value in (None, CONTINUE, SKIP, DONE):
            continue
        if key not in answers:
            continue
        kept = answers[key]
        normal = (question.normal or "").strip("'")
        if str(kept) not in (str(value), normal):
            wrong.append(f"{key} holds {kept!r}, answered {value!r}")
    return wrong


async def verify(
    sessionmaker: async_sessionmaker[AsyncSession],
    village: str,
    numbers: Sequence[str],
    users: Sequence[EmulatedUser],
) -> list[str]:
    problems: list[str] = []
    async with sessionmaker() as s:
        per_household = dict(
            (
                await s.execute(
                    select(Household.number, func.count(CheckRecord.id))
                    .outerjoin(CheckRecord, CheckRecord.household_id == Household.id)
                    .where(Household.village_code == village)
                    .group_by(Household.number)
                )
            ).all()
        )
        for number in numbers:
            if per_household.get(number) != 1:
                problems.append(f"household {number}: {per_household.get(number)} records")
        for answers in (
            await s.scalars(
                select(CheckRecord.answers)
                .join(Household, Household.id == CheckRecord.household_id)
                .where(Household.village_code == village)
            )
        ).all():
            missing = [q for q in ("visit_type",) if q not in answers]
            problems += [f"a record lacks {q}" for q in missing] + plan_answers(answers)
        undone = await s.scalar(select(func.count()).where(ReceivedUpdate.done_at.is_(None)))
        if undone:
            problems.append(f"{undone} updates never handled")
        outbox = (
            await s.execute(
                select(OutboxEntry.target, func.count())
                .where(OutboxEntry.kind == "contact")
                .group_by(OutboxEntry.target)
            )
        ).all()
        if any(n != 1 for _, n in outbox) or len(outbox) != len(users):
            problems.append(f"contact reminders in the outbox: {sorted(n for _, n in outbox)}")
    for user in users:
        told = sum(CONTACT_MARK in m.content for m in user.bot_messages)
        if told != 1:
            problems.append(f"cadre {user.user_id} got the contact reminder {told} times")
    return problems


# Running it on its own


@contextlib.asynccontextmanager
async def scratch_database(server_url: str) -> AsyncIterator[str]:
    """A fresh database on the server of `server_url`, dropped afterwards."""
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    base = make_url(server_url)
    name = f"hucha_soak_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(base, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


def print_outcome(outcome: Outcome, cadres: int, baseline: Figures) -> None:
    figures = outcome.figures
    print_table([figures, baseline], cadres, outcome.kinds)
    print_ratios(figures, baseline)
    print(
        f"checks submitted {outcome.records} of {cadres}; answers {len(figures.trips)};"
        f" updates handled {outcome.updates}; second deliveries refused {outcome.second_posts};"
        f" 429s answered {outcome.too_many}; contact reminders sent {outcome.reminders}"
        f" (one per cadre); instance a killed {outcome.killed_at:.1f}s into the checks"
    )
    print(
        f"time {figures.wall:.1f}s; p50 {figures.percentile_ms(0.5):.0f} ms,"
        f" p99 {figures.percentile_ms(0.99):.0f} ms"
    )
    if outcome.refusals:
        print(
            f"answers refused and asked again: {len(outcome.refusals)}"
            f" ({', '.join(outcome.refusals[:5])})"
        )
    for problem in outcome.problems:
        print(f"PROBLEM: {problem}")


async def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cadres", type=int, default=200)
    parser.add_argument("--no-kill", action="store_true", help="keep both instances up")
    parser.add_argument(
        "--database",
        default=os.environ.get(
            "HUCHA_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
        ),
        help="a PostgreSQL server URL; a scratch database is made on it and dropped",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hucha-soak-") as logs:
        async with scratch_database(args.database) as url:
            outcome = await soak(url, args.cadres, Path(logs), kill=not args.no_kill)
        if outcome.problems:
            for name in ("a", "b"):
                print((Path(logs) / f"{name}.log").read_text()[-3000:])
    baseline = await run_echo(outcome.kinds, Settings().concurrent_updates)
    print_outcome(outcome, args.cadres, baseline)
    return 1 if outcome.problems or outcome.records != args.cadres else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
