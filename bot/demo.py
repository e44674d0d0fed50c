"""`hucha demo`: the real bot against the local emulator, chatted with from the terminal.

Offline and without a token: the emulator plays Telegram, a demo county is seeded into an
embedded SQLite file, and the person at the keyboard is a registered demo cadre, or, with
`--as leader` or `--as office`, the township's work-team leader or the county's office.
"""

from __future__ import annotations

import asyncio
import re
import struct
import zlib
from html import unescape

from bot.app import build_application
from bot.emulator import BotApiEmulator, ChatMessage, EmulatedUser
from bot.handlers import routes
from bot.intake import Intake, bot_key
from bot.services import utc_now
from bot.settings import Settings
from services import Runtime, invitations
from storage import make_engine, make_sessionmaker, seed_demo, upgrade
from storage.inbox import last_update_id

DEMO_DATABASE = "sqlite+aiosqlite:///hucha-demo.db"
DEMO_USER_ID = 900001
# Who the person at the keyboard is: their Telegram id, name, and the area of their role.
DEMO_PEOPLE = {
    "cadre": (DEMO_USER_ID, "演示干部"),
    "leader": (DEMO_USER_ID + 1, "演示队长"),
    "office": (DEMO_USER_ID + 2, "演示办公室"),
}
REPLY_QUIET = 0.2
FIRST_REPLY_WAIT = 10.0
_TAGS = re.compile(r"<[^>]+>")

HELP = (
    "输入数字按按钮，其他内容作为消息发送；photo 发送照片，location 发送位置，quit 退出；"
    "一条消息要写几行时，用 \\n 分行。\n"
    "Type a number to press a button; anything else is sent as a message; "
    "'photo' sends a photo, 'location' a location, 'quit' leaves; "
    "'\\n' starts a new line within a message."
)


def sample_photo() -> bytes:
    """A tiny valid PNG standing in for a photo of the house."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\x80\x80\x80")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def plain(message: ChatMessage) -> str:
    return unescape(_TAGS.sub("", message.content))


class Terminal:
    """Prints what the bot says; numbers the buttons of the latest message that has some."""

    def __init__(self, emulator: BotApiEmulator, user: EmulatedUser) -> None:
        self.emulator = emulator
        self.user = user
        self.buttons: list[tuple[int, str]] = []  # (message id, callback data) per number

    def show(self, message: ChatMessage, edited: bool = False, alone: bool = False) -> None:
        """Print a message. An edit without buttons (an answered question showing its
        answer) is printed only when it is all the bot did (`alone`): a card brought up to
        date after a press."""
        if edited and not message.buttons and not alone:
            return
        print(("✎ " if edited else "") + plain(message))
        if message.buttons:
            self.buttons = []
            for row in message.reply_markup:
                cells = []
                for text, data in row:
                    if data is None:
                        continue
                    self.buttons.append((message.message_id, data))
                    cells.append(f"[{len(self.buttons)}] {text}")
                print("   " + "   ".join(cells))
        print()

    async def drain(self) -> None:
        """Print every message and edit the bot made, once it has fallen quiet.

        The first reply is awaited before the quiet window starts: on a busy machine a handler
        can take longer than the window between fetching an update and answering it.
        """
        first = await self.first_replies()
        await self.emulator.wait_until_idle(timeout=30, quiet=REPLY_QUIET)
        later: list[tuple[ChatMessage, bool]] = []
        for read, edited in ((self.user.next_message, False), (self.user.next_edit, True)):
            while True:
                try:
                    later.append((await read(0.001), edited))
                except TimeoutError:
                    break
        replies = first + later
        alone = not any(not edited for _, edited in replies)
        for message, edited in replies:
            self.show(message, edited, alone)

    async def first_replies(self) -> list[tuple[ChatMessage, bool]]:
        """The bot's first message or edit after an action (both if they come together)."""
        reads = {
            asyncio.ensure_future(self.user.next_message(FIRST_REPLY_WAIT)): False,
            asyncio.ensure_future(self.user.next_edit(FIRST_REPLY_WAIT)): True,
        }
        done, pending = await asyncio.wait(reads, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        return [(task.result(), reads[task]) for task in done if task.exception() is None]

    async def act(self, line: str) -> bool:
        """Do what the person typed; False to quit."""
        line = line.strip()
        if not line:
            return True
        if line in ("quit", "exit", "q"):
            return False
        if line.isdigit() and 1 <= int(line) <= len(self.buttons):
            message_id, data = self.buttons[int(line) - 1]
            answer = await self.user.press(message_id, data)
            if answer.text:
                print(f"({answer.text})")
        elif line == "photo":
            await self.user.send_photo(sample_photo())
        elif line == "location":
            await self.user.send_location(34.59, 119.22)
        elif line.startswith("/"):
            command, _, args = line[1:].partition(" ")
            await self.user.send_command(command, args or None)
        else:
            # A message of several lines (a problem added by hand) is typed on one.
            await self.user.send_text(line.replace("\\n", "\n"))
        await self.drain()
        return True


async def prepare_database(url: str, role: str = "cadre") -> str | None:
    """Migrate and seed; return an invitation code for the demo person of `role` (a cadre of
    the village, a leader of the township, an office of the county)."""
    await upgrade(url)
    engine = make_engine(url)
    try:
        sessionmaker = make_sessionmaker(engine)
        async with sessionmaker.begin() as s:
            seed = await seed_demo(s, utc_now())
        area = {
            "cadre": seed.village_code,
            "leader": seed.township_code,
            "office": seed.county_code,
        }[role]
        issued = await invitations.issue(Runtime(sessionmaker), None, role, area)
        return issued.code
    finally:
        await engine.dispose()


async def run_demo(
    database_url: str | None = None, script: str | None = None, role: str = "cadre"
) -> int:
    url = database_url or DEMO_DATABASE
    code = await prepare_database(url, role)
    emulator = BotApiEmulator()
    await emulator.start()
    settings = Settings(
        token=emulator.token,
        database_url=url,
        api_url=emulator.base_url,
        file_url=emulator.base_file_url,
        rate_limit=False,
    )
    engine = make_engine(url)
    sessionmaker = make_sessionmaker(engine)
    application = build_application(settings, sessionmaker)
    # Telegram never numbers two updates alike; the emulator starts at 1 on every run, and
    # the updates an earlier run left in this database would make the new ones look repeated.
    async with sessionmaker() as s:
        emulator.continue_updates_after(await last_update_id(s, bot_key(application)))
    await application.initialize()
    await routes.register_commands(application)
    await application.start()
    intake = Intake(application, instance="demo")
    await intake.start_polling(poll_seconds=1)
    user_id, name = DEMO_PEOPLE[role]
    user = emulator.user(user_id, name, language_code="zh-hans")
    terminal = Terminal(emulator, user)
    print("户查 Hucha demo\n" + HELP + "\n")
    try:
        await terminal.act(f"/start {code}")
        if role == "cadre":
            await terminal.act("/check")
        lines = script.split(";") if script is not None else None
        while True:
            if lines is not None:
                if not lines:
                    break
                line = lines.pop(0)
                print(f"> {line}")
            else:
                try:
                    line = await asyncio.to_thread(input, "> ")
                except EOFError:
                    break
            if not await terminal.act(line):
                break
    finally:
        await intake.stop()
        await application.stop()
        await application.shutdown()
        await engine.dispose()
        await emulator.stop()
    return 0
