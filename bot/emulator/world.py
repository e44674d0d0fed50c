"""The emulated Telegram: private chats, their messages, files, pending updates and bot settings.

Everything lives in one event loop, so state changes need no locks; waiting is done on
`Pulse`, an asyncio event that is renewed each time it fires.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from bot.emulator.errors import bad_request, forbidden
from bot.emulator.transcript import (
    ApiCallError,
    CallbackAnswer,
    ChatMessage,
    SentDocument,
    snapshot,
)

JsonObject = dict[str, Any]

# Telegram's default when allowed_updates was never given: all but these three.
NOT_SENT_BY_DEFAULT = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


class Pulse:
    """A broadcast that wakes every current waiter; firing is synchronous.

    Check the state, then `await pulse.wait()` with no `await` in between: no change can slip
    through, as the loop runs one task at a time.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def fire(self) -> None:
        """Wake everyone waiting now."""
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, within: float | None = None) -> bool:
        """Wait for the next firing; False if `within` seconds passed first."""
        event = self._event
        if within is None:
            await event.wait()
            return True
        try:
            async with asyncio.timeout(within):
                await event.wait()
        except TimeoutError:
            return False
        return True


@dataclass(frozen=True)
class StoredFile:
    """A file known to the emulated Telegram (sent by a user or uploaded by the bot)."""

    file_id: str
    file_unique_id: str
    file_path: str
    content: bytes
    file_name: str | None = None
    mime_type: str | None = None

    def as_file(self) -> JsonObject:
        """The Bot API File object (file_path relative, as Telegram answers getFile)."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.content),
            "file_path": self.file_path,
        }


class FileStore:
    """Files by id and by download path."""

    _EXTENSIONS: ClassVar[dict[str, str]] = {"photos": ".jpg", "stickers": ".webp", "documents": ""}

    def __init__(self) -> None:
        self._by_id: dict[str, StoredFile] = {}
        self._by_path: dict[str, StoredFile] = {}
        self._counter = itertools.count(1)

    def add(
        self,
        content: bytes,
        folder: str,
        file_name: str | None = None,
        mime_type: str | None = None,
    ) -> StoredFile:
        """Store bytes and give them a file_id and a file_path under `folder`."""
        number = next(self._counter)
        suffix = self._EXTENSIONS.get(folder, "")
        if file_name and "." in file_name:
            suffix = "." + file_name.rsplit(".", 1)[1]
        stored = StoredFile(
            file_id=f"EMU{folder[:3].upper()}{number:08d}",
            file_unique_id=f"U{number:08d}",
            file_path=f"{folder}/file_{number}{suffix}",
            content=content,
            file_name=file_name,
            mime_type=mime_type,
        )
        self._by_id[stored.file_id] = stored
        self._by_path[stored.file_path] = stored
        return stored

    def by_id(self, file_id: str) -> StoredFile | None:
        return self._by_id.get(file_id)

    def by_path(self, file_path: str) -> StoredFile | None:
        return self._by_path.get(file_path)


def update_kind(update: JsonObject) -> str:
    """The update's type: the name of its one field besides update_id."""
    return next(key for key in update if key != "update_id")


class UpdateLog:
    """Updates waiting for the bot, with Telegram's offset semantics."""

    def __init__(self, activity: Pulse) -> None:
        self._pending: deque[JsonObject] = deque()
        self._next_id = 1
        self.delivered_upto = 0
        self.pulse = Pulse()
        self._activity = activity

    def push(self, kind: str, payload: JsonObject) -> JsonObject:
        """Queue a new update; update ids only grow."""
        update = {"update_id": self._next_id, kind: payload}
        self._next_id += 1
        self._pending.append(update)
        self.pulse.fire()
        self._activity.fire()
        return update

    def continue_after(self, update_id: int) -> None:
        """Number the next update above `update_id`, as Telegram never reuses one."""
        self._next_id = max(self._next_id, update_id + 1)

    def confirm(self, offset: int) -> None:
        """Forget updates before `offset`; a negative offset keeps only the last -offset."""
        if offset < 0:
            while len(self._pending) > -offset:
                self._pending.popleft()
            return
        while self._pending and self._pending[0]["update_id"] < offset:
            self._pending.popleft()

    def take(self, limit: int, allowed: frozenset[str] | None) -> list[JsonObject]:
        """Up to `limit` pending updates the bot wants; unwanted ones are dropped."""
        if any(not wanted(update_kind(u), allowed) for u in self._pending):
            self._pending = deque(u for u in self._pending if wanted(update_kind(u), allowed))
        batch = list(itertools.islice(self._pending, limit))
        if batch:
            self.delivered_upto = max(self.delivered_upto, batch[-1]["update_id"])
        return batch

    def waiting(self, allowed: frozenset[str] | None) -> list[JsonObject]:
        """The pending updates the bot wants, oldest first, without marking them delivered
        (the webhook poster takes them one at a time)."""
        self.take(0, allowed)
        return list(self._pending)

    def forget(self, update_id: int) -> None:
        """Forget one update, acknowledged by the webhook."""
        self._pending = deque(u for u in self._pending if u["update_id"] != update_id)

    def posted(self, update_id: int) -> None:
        """The webhook poster has sent this update out (at least once)."""
        self.delivered_upto = max(self.delivered_upto, update_id)

    def drop_all(self) -> None:
        self._pending.clear()

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    @property
    def undelivered_count(self) -> int:
        return sum(1 for u in self._pending if u["update_id"] > self.delivered_upto)


def allowed_kinds(requested: Iterable[str] | None) -> frozenset[str] | None:
    """The update types to deliver; None stands for Telegram's default."""
    if requested is None:
        return None
    kinds = frozenset(requested)
    return kinds or None


def wanted(kind: str, allowed: frozenset[str] | None) -> bool:
    """Whether an update of this kind goes to the bot under `allowed`."""
    return kind not in NOT_SENT_BY_DEFAULT if allowed is None else kind in allowed


@dataclass
class PrivateChat:
    """A private chat between the bot and one person; the chat id is the user id."""

    user: JsonObject
    chat: JsonObject
    messages: dict[int, JsonObject] = field(default_factory=dict)
    bot_message_ids: set[int] = field(default_factory=set)
    edited_ids: set[int] = field(default_factory=set)
    keyboards: dict[int, JsonObject] = field(default_factory=dict)
    inbox: asyncio.Queue[ChatMessage] = field(default_factory=asyncio.Queue)
    edits: asyncio.Queue[ChatMessage] = field(default_factory=asyncio.Queue)
    keyboard: JsonObject | None = None
    actions: list[str] = field(default_factory=list)
    blocked: bool = False
    started: bool = False
    last_message_id: int = 0

    @property
    def id(self) -> int:
        return int(self.chat["id"])

    def next_message_id(self) -> int:
        self.last_message_id += 1
        return self.last_message_id

    def snapshot(self, message_id: int) -> ChatMessage:
        """The message as it stands now."""
        return snapshot(
            self.messages[message_id],
            from_bot=message_id in self.bot_message_ids,
            edited=message_id in self.edited_ids,
            keyboard=self.keyboards.get(message_id),
        )

    def transcript(self) -> list[ChatMessage]:
        return [self.snapshot(message_id) for message_id in self.messages]


@dataclass
class WebhookState:
    """What setWebhook set; an empty url means long polling."""

    url: str = ""
    secret_token: str | None = None
    allowed: frozenset[str] | None = None
    max_connections: int = 40
    last_error_date: int | None = None
    last_error_message: str | None = None


@dataclass
class PendingCallback:
    """A pressed button waiting for answerCallbackQuery."""

    chat_id: int
    answer: asyncio.Future[CallbackAnswer]


class World:
    """All emulated state behind one bot token."""

    def __init__(self, bot_user: JsonObject) -> None:
        self.bot_user = bot_user
        self.activity = Pulse()
        self.updates = UpdateLog(self.activity)
        self.chats: dict[int, PrivateChat] = {}
        self.files = FileStore()
        self.callbacks: dict[str, PendingCallback] = {}
        self.commands: dict[tuple[str, str], list[JsonObject]] = {}
        self.menu_buttons: dict[int | None, JsonObject] = {}
        self.webhook = WebhookState()
        self.polling_allowed: frozenset[str] | None = None
        self.documents: list[SentDocument] = []
        self.errors: deque[ApiCallError] = deque(maxlen=200)
        self.in_flight = 0
        self.closing = False
        self._callback_ids = itertools.count(4_000_000_000_000_000_001)

    @staticmethod
    def now() -> int:
        return int(time.time())

    def add_chat(self, user: JsonObject) -> PrivateChat:
        """Open (or find) the private chat with this person."""
        user_id = int(user["id"])
        if user_id not in self.chats:
            chat = {"id": user_id, "type": "private"}
            for key in ("first_name", "last_name", "username"):
                if user.get(key):
                    chat[key] = user[key]
            self.chats[user_id] = PrivateChat(user=user, chat=chat)
        return self.chats[user_id]

    def chat_for_bot(self, chat_id: int | None, *, sending: bool) -> PrivateChat:
        """The chat the bot addresses, or the error Telegram would give it."""
        chat = self.chats.get(chat_id) if chat_id is not None else None
        if chat is None:
            raise bad_request("chat not found")
        if sending and chat.blocked:
            raise forbidden("bot was blocked by the user")
        if sending and not chat.started:
            raise forbidden("bot can't initiate conversation with a user")
        return chat

    def user_message(self, chat: PrivateChat, content: JsonObject) -> ChatMessage:
        """A message the person sends; it becomes a `message` update for the bot."""
        if chat.blocked:
            raise RuntimeError(f"user {chat.id} has blocked the bot; call unblock() first")
        chat.started = True
        message_id = chat.next_message_id()
        message = {
            "message_id": message_id,
            "from": chat.user,
            "chat": chat.chat,
            "date": self.now(),
            **content,
        }
        chat.messages[message_id] = message
        if chat.keyboard is not None and chat.keyboard.get("one_time_keyboard"):
            chat.keyboard = None
        self.updates.push("message", message)
        return chat.snapshot(message_id)

    def user_edit(self, chat: PrivateChat, message_id: int, content: JsonObject) -> ChatMessage:
        """The person edits a message they sent; the bot gets an `edited_message` update."""
        message = chat.messages.get(message_id)
        if message is None or message_id in chat.bot_message_ids:
            raise LookupError(f"chat {chat.id} has no message {message_id} from the person")
        for key in ("text", "entities", "caption", "caption_entities"):
            message.pop(key, None)
        message.update(content)
        message["edit_date"] = self.now()
        self.updates.push("edited_message", dict(message))
        return chat.snapshot(message_id)

    def bot_message(
        self, chat: PrivateChat, content: JsonObject, keyboard: JsonObject | None
    ) -> JsonObject:
        """A message the bot sent; the person finds it in their inbox."""
        message_id = chat.next_message_id()
        message = {
            "message_id": message_id,
            "from": self.bot_user,
            "chat": chat.chat,
            "date": self.now(),
            **content,
        }
        chat.messages[message_id] = message
        chat.bot_message_ids.add(message_id)
        if keyboard is not None:
            chat.keyboards[message_id] = keyboard
        chat.inbox.put_nowait(chat.snapshot(message_id))
        return message

    def edited(self, chat: PrivateChat, message_id: int) -> JsonObject:
        """Mark a message edited now and tell the person."""
        message = chat.messages[message_id]
        message["edit_date"] = self.now()
        chat.edited_ids.add(message_id)
        chat.edits.put_nowait(chat.snapshot(message_id))
        return message

    def press(
        self, chat: PrivateChat, message_id: int, data: str, group: JsonObject | None = None
    ) -> asyncio.Future[CallbackAnswer]:
        """A callback query on one of the bot's messages; the future holds the bot's answer.

        With `group` (a chat object), the press comes from a copy of that message in a group,
        as a crafted or forwarded button would."""
        if message_id not in chat.bot_message_ids or message_id not in chat.messages:
            raise LookupError(f"chat {chat.id} has no bot message {message_id}")
        chat.started = True
        query_id = str(next(self._callback_ids))
        answer: asyncio.Future[CallbackAnswer] = asyncio.get_running_loop().create_future()
        self.callbacks[query_id] = PendingCallback(chat.id, answer)
        message = chat.messages[message_id]
        if group is not None:
            message = {**message, "chat": group}
        self.updates.push(
            "callback_query",
            {
                "id": query_id,
                "from": chat.user,
                "message": message,
                "chat_instance": str(-7_000_000_000 - chat.id),
                "data": data,
            },
        )
        return answer

    def membership_changed(self, chat: PrivateChat, old: str, new: str) -> None:
        """A my_chat_member update, as when a person blocks or unblocks the bot."""

        def member(status: str) -> JsonObject:
            found: JsonObject = {"user": self.bot_user, "status": status}
            if status == "kicked":
                found["until_date"] = 0
            return found

        self.updates.push(
            "my_chat_member",
            {
                "chat": chat.chat,
                "from": chat.user,
                "date": self.now(),
                "old_chat_member": member(old),
                "new_chat_member": member(new),
            },
        )

    def is_idle(self) -> bool:
        """No update waits to be fetched and no request is being answered."""
        return self.updates.undelivered_count == 0 and self.in_flight == 0
