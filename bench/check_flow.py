"""Measure the household check (入户核查) through the real stack, against the transport's ceiling.

    .venv/bin/python bench/check_flow.py [--cadres 50] [--database sqlite|URL]

First the real bot (`build_application`) polls our Bot API emulator on a freshly migrated
database (a temporary SQLite file by default; a URL such as `postgresql+asyncpg://…` is
migrated and used as it is). One village gets N households of 2-4 members, each with a
school-age child, so both repeat groups are walked; N cadres register by invitation and then
all check their own household at once, answering every prompt as tests/checkdriver.py's GOOD
plan says. Then a minimal python-telegram-bot echo Application (one reply per message or
button) runs on a fresh emulator, and N users make the same round trips against it.

A round trip is one user action (send or press) until the bot's next message arrives in that
chat: /check, picking the household, every answer and the submit. Users, emulator and bot
share one process and one event loop, as in the end-to-end tests, so the figures are the
whole stack's, the users' and the emulator's share included; the echo run shows what that
share and PTB cost without any of our handlers. A second echo ("echo+edit") makes the Bot API
calls the check makes for each trip: it answers the button, edits the message answered to show
it was answered, and sends the next, so the chat reads as a transcript; the ratio to it is what
the check's own work costs. A third echo ("echo aiohttp") is the first on the check bot's own
Bot API transport (bot/transport.py) instead of PTB's default httpx one. The check bot serves
with the heap settled as `hucha run` settles it (bot/serve.py, `settled_heap`); the echoes
with Python's defaults, as a plain PTB application has them. "cpu ms/trip" is the
process's CPU time (all threads, SQLite's included) over the phase, divided by its round
trips: unlike the throughput it hardly moves when other programs compete for the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import math
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot import callbacks
from bot.app import build_application
from bot.emulator import BotApiEmulator, ChatMessage, EmulatedUser
from bot.handlers import routes
from bot.intake import Intake
from bot.serve import settled_heap
from bot.services import KEY
from bot.settings import Settings
from bot.transport import bot_api_request
from conversations import Form, Question
from storage import (
    CheckRecord,
    Household,
    Member,
    add_area,
    create_invitation,
    get_area,
    make_engine,
    make_sessionmaker,
    upgrade,
)

# The answer plan lives with the tests, which are not an installed package: load it from the
# checkout, by name so that mypy leaves tests/ alone (CI does not type-check it either).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
_driver = importlib.import_module("tests.checkdriver")
FORM: Form = _driver.FORM
GOOD: Mapping[str, Any] = _driver.GOOD
CONTINUE: str = _driver.CONTINUE
DONE: str = _driver.DONE
SKIP: str = _driver.SKIP
SUBMIT: str = _driver.SUBMIT
choice_label: Callable[[Question, str], str] = _driver.choice_label

COUNTY, TOWNSHIP = "320705", "320705001"
VILLAGE_CODES = [f"{TOWNSHIP}{n:03d}" for n in range(900, 1000)]  # clear of tests and demo
FIRST_USER_ID = 700_000
REPLY_SECONDS = 60.0  # a guard against a hung bot, never a wait
MAX_ITEMS = 8  # the most items a repeat group may hold in this benchmark's households
SUMMARY = callbacks.prompt_token("", "summary")
PHOTO = b"\x89PNG bench house photo"
AGAIN = "again"

Action = Callable[[], Awaitable[object]]


@dataclass(frozen=True)
class Trip:
    """One round trip: what the user did and how long until the bot's next message."""

    kind: str  # command, press, text, photo or location
    seconds: float


@dataclass(frozen=True)
class Figures:
    """A phase's round trips, and the wall and CPU time of all users doing them at once."""

    name: str
    trips: Sequence[Trip]
    wall: float
    cpu: float  # seconds of this process's CPU (all threads) over the same window

    @property
    def cpu_ms_per_trip(self) -> float:
        return self.cpu * 1000 / len(self.trips)

    @property
    def per_second(self) -> float:
        return len(self.trips) / self.wall

    def percentile_ms(self, fraction: float) -> float:
        ordered = sorted(trip.seconds for trip in self.trips)
        rank = max(math.ceil(fraction * len(ordered)) - 1, 0)
        return ordered[rank] * 1000


# The check bot


def prompts_by_token(
    questions: Sequence[Question], prefix: str = "", found: dict[str, Question] | None = None
) -> dict[str, Question]:
    """Every prompt the form can show, by the token its buttons carry, so the benchmark reads
    the question off the message instead of asking the database where the cursor stands."""
    found = {} if found is None else found
    for question in questions:
        key = f"{prefix}{question.id}"
        token = callbacks.prompt_token(key, "asking")
        if token in found and found[token].id != question.id:
            raise RuntimeError(f"two prompts share the token {token}: {key}")
        found[token] = question
        for index in range(MAX_ITEMS if question.children else 0):
            prompts_by_token(question.children, f"{key}[{index}].", found)
    return found


PROMPTS = prompts_by_token(FORM.questions)


def token_of(message: ChatMessage) -> str | None:
    """The prompt token of a check prompt or summary (every one has a button carrying it)."""
    for _, data in message.buttons:
        decoded = callbacks.decode(data)
        if isinstance(decoded, callbacks.CheckAction):
            return decoded.token
    return None


def button(message: ChatMessage, matches: Callable[[str], bool]) -> str:
    for text, data in message.buttons:
        if data is not None and matches(text):
            return data
    raise LookupError(f"no matching button on {message}")


def answer_action(
    user: EmulatedUser, prompt: ChatMessage, question: Question, value: Any
) -> tuple[str, Action]:
    """How a person answers this prompt: the round trip's kind and the action itself. Buttons
    are pressed on the prompt in hand rather than looked up in the transcript, which would
    copy the whole chat on every press and bill the users' side to the bot."""

    def press(label: str, exact: bool = True) -> Action:
        data = button(prompt, (lambda t: t == label) if exact else (lambda t: t.endswith(label)))
        return lambda: user.press(prompt.message_id, data, REPLY_SECONDS)

    if value in (CONTINUE, SKIP, DONE):
        return "press", press(value)
    if question.type in ("yes_no", "select_one"):
        return "press", press(choice_label(question, value))
    if question.type == "select_many":
        toggles = [press(choice_label(question, item), exact=False) for item in value]
        finish = press(DONE)

        async def pick_all() -> None:
            for toggle in toggles:
                await toggle()
                await user.next_edit(REPLY_SECONDS)
            await finish()

        return "press", pick_all
    if question.type == "photo":
        return "photo", lambda: user.send_photo(PHOTO)
    if question.type == "location":
        return "location", lambda: user.send_location(34.6, 119.2)
    return "text", lambda: user.send_text(str(value))


async def round_trip(
    user: EmulatedUser, trips: list[Trip], kind: str, action: Action
) -> ChatMessage:
    start = time.perf_counter()
    await action()
    message = await user.next_message(REPLY_SECONDS)
    trips.append(Trip(kind, time.perf_counter() - start))
    return message


async def check_household(
    user: EmulatedUser, number: str, refusals: list[str] | None = None
) -> list[Trip]:
    """/check NUMBER, pick the household, answer every prompt, submit. With `refusals`, an
    answer refused (the prompt shown again with a warning) is noted there and the prompt
    shown is answered; without, it fails the run."""
    trips: list[Trip] = []
    picker = await round_trip(user, trips, "command", lambda: user.send_command("check", number))
    pick = button(picker, lambda text: text.startswith(f"{number} "))
    title = await round_trip(
        user, trips, "press", lambda: user.press(picker.message_id, pick, REPLY_SECONDS)
    )
    if number not in title.content:
        raise AssertionError(f"cadre {user.user_id} opened the wrong check: {title}")
    prompt = await user.next_message(REPLY_SECONDS)
    while (token := token_of(prompt)) != SUMMARY:
        if token is None or token not in PROMPTS:
            raise AssertionError(f"cadre {user.user_id}: not a prompt of the check: {prompt}")
        question = PROMPTS[token]
        kind, action = answer_action(user, prompt, question, GOOD[question.id])
        prompt = await round_trip(user, trips, kind, action)
        if "⚠️" in prompt.content and refusals is not None:
            refusals.append(f"cadre {user.user_id}: {question.id}")
        elif "⚠️" in prompt.content:
            raise AssertionError(f"cadre {user.user_id}: {question.id} refused: {prompt}")
        while not prompt.buttons:  # the summary may span several messages; buttons on the last
            prompt = await user.next_message(REPLY_SECONDS)
    submit = button(prompt, lambda text: text == SUBMIT)
    done = await round_trip(
        user, trips, "press", lambda: user.press(prompt.message_id, submit, REPLY_SECONDS)
    )
    if "已提交" not in done.content:
        raise AssertionError(f"cadre {user.user_id}: the check was not submitted: {done}")
    return trips


@dataclass(frozen=True)
class Village:
    code: str
    numbers: list[str]  # roster numbers, one household per cadre


async def seed_village(
    sessionmaker: async_sessionmaker[AsyncSession], households: int, today: date
) -> Village:
    """One village of `households` households of 2-4 members, each with a school-age child."""

    def born(years: int) -> date:
        return today - timedelta(days=round(years * 365.25) + 40)

    now = datetime.now(UTC)
    async with sessionmaker.begin() as s:
        if await get_area(s, COUNTY) is None:
            await add_area(s, COUNTY, "示范县", "county", province="江苏")
        if await get_area(s, TOWNSHIP) is None:
            await add_area(s, TOWNSHIP, "示范镇", "township", parent_code=COUNTY)
        code = None
        for candidate in VILLAGE_CODES:
            if await get_area(s, candidate) is None:
                code = candidate
                break
        if code is None:
            raise RuntimeError("no free village code left in this database")
        await add_area(s, code, "测速村", "village", parent_code=TOWNSHIP)
        numbers = [f"{n:04d}" for n in range(1, households + 1)]
        rows = [
            Household(
                village_code=code,
                number=number,
                head_name=f"户主{number}",
                created_at=now,
                updated_at=now,
            )
            for number in numbers
        ]
        s.add_all(rows)
        await s.flush()
        for index, household in enumerate(rows):
            people = [("户主", 45), ("之子", 10), ("配偶", 43), ("之母", 72)][: 2 + index % 3]
            s.add_all(
                Member(
                    household_id=household.id,
                    name=f"{relation}{household.number}",
                    relation=relation,
                    birth_date=born(age),
                )
                for relation, age in people
            )
    return Village(code, numbers)


async def invitations(
    sessionmaker: async_sessionmaker[AsyncSession], village: str, count: int
) -> list[str]:
    async with sessionmaker.begin() as s:
        now = datetime.now(UTC)
        return [(await create_invitation(s, "cadre", village, now)).code for _ in range(count)]


async def register(user: EmulatedUser, code: str) -> None:
    await user.send_command("start", code)
    reply = await user.next_message(REPLY_SECONDS)
    if "✅" not in reply.content:
        raise AssertionError(f"cadre {user.user_id} was not registered: {reply}")


async def count_records(sessionmaker: async_sessionmaker[AsyncSession], village: str) -> int:
    async with sessionmaker() as s:
        found = await s.scalar(
            select(func.count(CheckRecord.id))
            .join(Household, Household.id == CheckRecord.household_id)
            .where(Household.village_code == village)
        )
    return int(found or 0)


@asynccontextmanager
async def polling(
    app: Application,
    before_polling: Callable[[Application], Awaitable[None]] | None = None,
) -> AsyncIterator[None]:
    """The application polling its emulator as tests/harness.py starts it; stopped in order
    (updater, application, shutdown) however the block ends."""
    await app.initialize()
    intake: Intake | None = None
    heap = contextlib.ExitStack()
    try:
        if before_polling is not None:
            await before_polling(app)
        await app.start()
        if KEY in app.bot_data:
            # The check bot serves as `hucha run` does: with the heap settled, its updates
            # stored, then handled.
            heap.enter_context(settled_heap())
            intake = Intake(app, instance="bench")
            await intake.start_polling(poll_seconds=1)
        else:
            assert app.updater is not None
            await app.updater.start_polling(poll_interval=0, timeout=1)
        yield
    finally:
        if intake is not None:
            await intake.stop()
        elif app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
        await app.shutdown()
        heap.close()


async def all_at_once(
    name: str, journeys: Sequence[Awaitable[list[Trip]]]
) -> tuple[Figures, list[list[Trip]]]:
    """Run every user's journey concurrently; the phase's figures and each user's trips."""
    wall, cpu = time.perf_counter(), time.process_time()
    per_user = await asyncio.gather(*journeys)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return Figures(name, [trip for trips in per_user for trip in trips], wall, cpu), per_user


async def run_checks(database_url: str, cadres: int) -> tuple[Figures, int, list[list[str]]]:
    """The check bot's figures, the check records saved, and each cadre's round-trip kinds."""
    await upgrade(database_url)
    engine = make_engine(database_url)
    sessionmaker = make_sessionmaker(engine)
    try:
        village = await seed_village(sessionmaker, cadres, datetime.now(UTC).date())
        codes = await invitations(sessionmaker, village.code, cadres)
        async with BotApiEmulator() as emulator:
            settings = Settings(
                token=emulator.token,
                database_url=database_url,
                api_url=emulator.base_url,
                file_url=emulator.base_file_url,
                rate_limit=False,
                reminder_interval=0,  # no sweep lands inside the measured window
            )
            app = build_application(settings, sessionmaker)
            async with polling(app, routes.register_commands):
                users = [
                    emulator.user(FIRST_USER_ID + n, f"干部{n}", language_code="zh-hans")
                    for n in range(cadres)
                ]
                await asyncio.gather(*(register(u, c) for u, c in zip(users, codes, strict=True)))
                figures, per_cadre = await all_at_once(
                    "check bot",
                    [check_household(u, n) for u, n in zip(users, village.numbers, strict=True)],
                )
        records = await count_records(sessionmaker, village.code)
    finally:
        await engine.dispose()
    return figures, records, [[trip.kind for trip in trips] for trips in per_cadre]


# The echo bot: the transport's ceiling


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """One message back for every message or button, with a button to press next."""
    if update.callback_query is not None:
        await update.callback_query.answer()
    chat = update.effective_chat
    assert chat is not None
    again = InlineKeyboardMarkup([[InlineKeyboardButton("再来", callback_data=AGAIN)]])
    await context.bot.send_message(chat.id, "回声", reply_markup=again)


async def echo_transcript(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The echo with the check's Bot API calls: the message answered (the button's, or the
    last one sent before a typed reply) is edited to show it was answered, then the next
    message goes out. The check bot keeps its chat a transcript the same way."""
    chat = update.effective_chat
    assert chat is not None
    last: dict[int, int] = context.bot_data.setdefault("last", {})
    query = update.callback_query
    answered = last.get(chat.id)
    if query is not None:
        await query.answer()
        if isinstance(query.message, Message):
            answered = query.message.message_id
    if answered is not None:
        await context.bot.edit_message_text("回声 ✓", chat.id, answered)
    again = InlineKeyboardMarkup([[InlineKeyboardButton("再来", callback_data=AGAIN)]])
    sent = await context.bot.send_message(chat.id, "回声", reply_markup=again)
    last[chat.id] = sent.message_id


def echo_application(
    emulator: BotApiEmulator,
    concurrent_updates: int,
    transcript: bool = False,
    our_transport: bool = False,
) -> Application:
    reply = echo_transcript if transcript else echo
    builder = (
        Application.builder()
        .token(emulator.token)
        .base_url(emulator.base_url)
        .base_file_url(emulator.base_file_url)
        .concurrent_updates(concurrent_updates)
    )
    if our_transport:
        builder = builder.request(bot_api_request(emulator.base_url, None)).get_updates_request(
            bot_api_request(emulator.base_url, None, pool_size=1)
        )
    app = builder.build()
    app.add_handler(MessageHandler(filters.ALL, reply))
    app.add_handler(CallbackQueryHandler(reply))
    return app


def echo_action(user: EmulatedUser, kind: str, shown: ChatMessage | None) -> Action:
    """The echo user's counterpart of one of the cadre's actions."""
    if kind == "press":
        assert shown is not None, "a press needs a message to press on"
        return lambda: user.press(shown.message_id, AGAIN, REPLY_SECONDS)
    actions: dict[str, Action] = {
        "command": lambda: user.send_command("check", "0001"),
        "text": lambda: user.send_text("60"),
        "photo": lambda: user.send_photo(PHOTO),
        "location": lambda: user.send_location(34.6, 119.2),
    }
    return actions[kind]


async def echo_trips(user: EmulatedUser, kinds: Sequence[str]) -> list[Trip]:
    """The same kinds of round trips, in the same order, as one cadre's check."""
    trips: list[Trip] = []
    last: ChatMessage | None = None
    for kind in kinds:
        last = await round_trip(user, trips, kind, echo_action(user, kind, last))
    return trips


async def run_echo(
    kinds: Sequence[Sequence[str]],
    concurrent_updates: int,
    transcript: bool = False,
    our_transport: bool = False,
) -> Figures:
    """The echo bot's figures for the same round trips as the cadres'."""
    name = "echo+edit" if transcript else "echo aiohttp" if our_transport else "echo bot"
    async with BotApiEmulator() as emulator:
        app = echo_application(emulator, concurrent_updates, transcript, our_transport)
        async with polling(app):
            users = [
                emulator.user(FIRST_USER_ID + n, f"用户{n}", language_code="zh-hans")
                for n in range(len(kinds))
            ]
            figures, _ = await all_at_once(
                name,
                [echo_trips(u, k) for u, k in zip(users, kinds, strict=True)],
            )
    return figures


# The report


def print_table(rows: Sequence[Figures], cadres: int, kinds: Sequence[Sequence[str]]) -> None:
    lengths = sorted(len(trips) for trips in kinds)
    print(
        f"{cadres} concurrent users, one event loop;"
        f" {lengths[0]}-{lengths[-1]} round trips per check"
    )
    print(
        f"{'':12} {'trips/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'trips':>7} {'wall s':>8}"
        f" {'cpu ms/trip':>12}"
    )
    for row in rows:
        print(
            f"{row.name:12} {row.per_second:9.1f} {row.percentile_ms(0.5):8.1f}"
            f" {row.percentile_ms(0.99):8.1f} {len(row.trips):7d} {row.wall:8.2f}"
            f" {row.cpu_ms_per_trip:12.2f}"
        )


def print_ratios(check: Figures, echo_run: Figures) -> None:
    throughput = check.per_second / echo_run.per_second
    p50 = check.percentile_ms(0.5) / echo_run.percentile_ms(0.5)
    cpu = check.cpu_ms_per_trip / echo_run.cpu_ms_per_trip
    print(
        f"check / {echo_run.name}: throughput {throughput:.2f}, p50 latency {p50:.1f}×,"
        f" cpu per trip {cpu:.1f}×"
    )


def database_url(choice: str, directory: Path) -> str:
    if choice == "sqlite":
        return f"sqlite+aiosqlite:///{directory / 'hucha-bench.db'}"
    return choice


async def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cadres", type=int, default=50, help="concurrent cadres (default 50)")
    parser.add_argument(
        "--database",
        default="sqlite",
        help="'sqlite' for a temporary file (default), or a database URL to migrate and use",
    )
    args = parser.parse_args(argv)
    if args.cadres < 1:
        parser.error("--cadres must be at least 1")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with tempfile.TemporaryDirectory(prefix="hucha-bench-") as directory:
        url = database_url(args.database, Path(directory))
        check, records, kinds = await run_checks(url, args.cadres)
    echo_run = await run_echo(kinds, Settings().concurrent_updates)
    transcript = await run_echo(kinds, Settings().concurrent_updates, transcript=True)
    same_transport = await run_echo(kinds, Settings().concurrent_updates, our_transport=True)
    print_table([check, echo_run, transcript, same_transport], args.cadres, kinds)
    print_ratios(check, echo_run)
    print_ratios(check, transcript)
    print_ratios(check, same_transport)
    print(f"check records in the database: {records} of {args.cadres}")
    return 0 if records == args.cadres else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
