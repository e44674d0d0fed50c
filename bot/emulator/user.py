"""The person on the other side of a private chat, driven by a test or the terminal demo.

A user sends text, commands, photos, documents, locations and stickers, presses buttons,
reads the bot's replies in order, and can block the bot.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bot.emulator.formatting import FormattedText, command_text
from bot.emulator.transcript import CallbackAnswer, ChatMessage
from bot.emulator.world import JsonObject, PrivateChat, World

DEFAULT_TIMEOUT = 5.0
TRANSCRIPT_TAIL = 12

ButtonMatch = str | Callable[[str], bool]


class EmulatedUser:
    """One person in a private chat with the bot (chat id == user id)."""

    def __init__(self, world: World, chat: PrivateChat) -> None:
        self._world = world
        self._chat = chat

    def __repr__(self) -> str:
        return f"EmulatedUser({self.user_id}, {self._chat.user.get('first_name')!r})"

    @property
    def user_id(self) -> int:
        return self._chat.id

    @property
    def chat_id(self) -> int:
        return self._chat.id

    @property
    def user(self) -> JsonObject:
        """The Telegram User object the bot sees."""
        return self._chat.user

    # Saying things

    async def send_text(self, text: str) -> ChatMessage:
        """A plain text message (also how a reply-keyboard button is pressed)."""
        return self._send({"text": text})

    async def edit_text(self, message_id: int, text: str) -> ChatMessage:
        """Edit a text message this person sent earlier (Telegram's "Edit")."""
        return self._world.user_edit(self._chat, message_id, {"text": text})

    async def send_command(self, command: str, args: str | None = None) -> ChatMessage:
        """`/command args`, with the bot_command entity a client adds."""
        return self._send(_text_content(command_text(command.lstrip("/"), args)))

    async def send_photo(self, content: bytes, caption: str | None = None) -> ChatMessage:
        """A photo; its sizes get file ids the bot can getFile and download."""
        files = self._world.files
        small = files.add(content, "photos", None, "image/jpeg")
        large = files.add(content, "photos", None, "image/jpeg")
        sizes = [
            _photo_size(small.file_id, small.file_unique_id, 90, 68, len(content)),
            _photo_size(large.file_id, large.file_unique_id, 1280, 960, len(content)),
        ]
        message: JsonObject = {"photo": sizes}
        if caption:
            message["caption"] = caption
        return self._send(message)

    async def send_document(
        self,
        content: bytes,
        file_name: str,
        caption: str | None = None,
        mime_type: str | None = None,
    ) -> ChatMessage:
        """A file, as sent with the paper clip."""
        stored = self._world.files.add(content, "documents", file_name, mime_type)
        document: JsonObject = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_name": file_name,
            "file_size": len(content),
        }
        if mime_type:
            document["mime_type"] = mime_type
        message: JsonObject = {"document": document}
        if caption:
            message["caption"] = caption
        return self._send(message)

    async def send_location(self, latitude: float, longitude: float) -> ChatMessage:
        """A location pin."""
        return self._send({"location": {"latitude": latitude, "longitude": longitude}})

    async def send_sticker(self, emoji: str = "👍") -> ChatMessage:
        """A sticker message (not text: a bot expecting text must cope)."""
        stored = self._world.files.add(b"RIFF\x00\x00\x00\x00WEBP", "stickers", None, "image/webp")
        sticker = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
            "file_size": len(stored.content),
        }
        return self._send({"sticker": sticker})

    async def send_contact(self, phone_number: str, first_name: str | None = None) -> ChatMessage:
        """The user's own contact, as shared with a request_contact button."""
        contact = {
            "phone_number": phone_number,
            "first_name": first_name or self._chat.user.get("first_name", ""),
            "user_id": self.user_id,
        }
        return self._send({"contact": contact})

    def _send(self, content: JsonObject) -> ChatMessage:
        return self._world.user_message(self._chat, content)

    # Buttons

    async def press(
        self,
        message_id: int,
        data: str,
        timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - the user side's documented API
    ) -> CallbackAnswer:
        """Press an inline button of a bot message with any callback data (even data that no
        button carries) and wait for answerCallbackQuery."""
        answer = self._world.press(self._chat, message_id, data)
        try:
            async with asyncio.timeout(timeout):
                return await answer
        except TimeoutError:
            raise TimeoutError(
                f"the bot did not answer the callback query {data!r} on message {message_id} "
                f"within {timeout}s\n{self._situation()}"
            ) from None

    async def press_in_group(
        self,
        message_id: int,
        data: str,
        group_id: int = -1_001_234_567_890,
        timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109
    ) -> CallbackAnswer:
        """Press a button of a bot message as if the message sat in a group chat."""
        group = {"id": group_id, "type": "supergroup", "title": "村组群"}
        answer = self._world.press(self._chat, message_id, data, group)
        async with asyncio.timeout(timeout):
            return await answer

    async def press_button(
        self,
        label: ButtonMatch,
        timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109
    ) -> CallbackAnswer:
        """Press the callback button with this label (or whose label satisfies the predicate)
        on the latest bot message that has one."""
        matches = label if callable(label) else (lambda text: text == label)
        for message in reversed(self.bot_messages):
            for text, data in message.buttons:
                if data is not None and matches(text):
                    return await self.press(message.message_id, data, timeout)
        raise LookupError(f"no callback button matching {label!r}\n{self._situation()}")

    # Reading

    async def next_message(self, timeout: float = DEFAULT_TIMEOUT) -> ChatMessage:  # noqa: ASYNC109
        """The next message the bot sent to this chat and not yet read here, as it was sent."""
        return await self._next(self._chat.inbox, "message", timeout)

    async def next_edit(self, timeout: float = DEFAULT_TIMEOUT) -> ChatMessage:  # noqa: ASYNC109
        """The next edit the bot made to one of its messages, as it stood after the edit."""
        return await self._next(self._chat.edits, "edit", timeout)

    async def _next(
        self, queue: asyncio.Queue[ChatMessage], what: str, seconds: float
    ) -> ChatMessage:
        try:
            async with asyncio.timeout(seconds):
                return await queue.get()
        except TimeoutError:
            raise TimeoutError(
                f"no {what} from the bot within {seconds}s in chat {self.chat_id}\n"
                f"{self._situation()}"
            ) from None

    @property
    def chat(self) -> list[ChatMessage]:
        """The transcript, both sides, each message in its current state."""
        return self._chat.transcript()

    @property
    def bot_messages(self) -> list[ChatMessage]:
        """The bot's messages in the transcript."""
        return [message for message in self.chat if message.from_bot]

    @property
    def keyboard(self) -> list[list[str]]:
        """The reply keyboard currently shown under the input field."""
        keyboard = self._chat.keyboard or {}
        return [[button["text"] for button in row] for row in keyboard.get("keyboard", [])]

    @property
    def chat_actions(self) -> list[str]:
        """The chat actions (typing, upload_document...) the bot sent, oldest first."""
        return list(self._chat.actions)

    def download(self, file_id: str) -> bytes:
        """The bytes behind a file id (a photo or document the bot sent)."""
        stored = self._world.files.by_id(file_id)
        if stored is None:
            raise LookupError(f"no file {file_id!r}")
        return stored.content

    # Blocking

    @property
    def blocked(self) -> bool:
        return self._chat.blocked

    def block(self) -> None:
        """Block the bot: it gets a my_chat_member update and 403 on every send."""
        if not self._chat.blocked:
            self._chat.blocked = True
            self._world.membership_changed(self._chat, "member", "kicked")

    def unblock(self) -> None:
        """Unblock the bot (Telegram's "Restart")."""
        if self._chat.blocked:
            self._chat.blocked = False
            self._world.membership_changed(self._chat, "kicked", "member")

    def _situation(self) -> str:
        tail = self.chat[-TRANSCRIPT_TAIL:]
        lines = ["transcript (last messages):"]
        lines += [f"  {message}" for message in tail] or ["  (empty)"]
        lines.append(f"updates not yet fetched by the bot: {self._world.updates.undelivered_count}")
        errors = list(self._world.errors)[-5:]
        if errors:
            lines.append("requests the emulator refused lately:")
            lines += [f"  {e.method}: {e.code} {e.description}" for e in errors]
        return "\n".join(lines)


def _text_content(text: FormattedText) -> JsonObject:
    content: JsonObject = {"text": text.text}
    if text.entities:
        content["entities"] = list(text.entities)
    return content


def _photo_size(file_id: str, unique_id: str, width: int, height: int, size: int) -> JsonObject:
    return {
        "file_id": file_id,
        "file_unique_id": unique_id,
        "width": width,
        "height": height,
        "file_size": size,
    }
