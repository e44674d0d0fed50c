"""A local Telegram Bot API emulator for the end-to-end tests and `hucha demo`.

`BotApiEmulator` serves the Bot API methods the bot uses over HTTP, as strictly as Telegram,
and `EmulatedUser` plays a person in a private chat with the bot.
"""

from bot.emulator.errors import ApiError
from bot.emulator.server import DEFAULT_TOKEN, BotApiEmulator
from bot.emulator.transcript import ApiCallError, CallbackAnswer, ChatMessage, SentDocument
from bot.emulator.user import EmulatedUser

__all__ = [
    "DEFAULT_TOKEN",
    "ApiCallError",
    "ApiError",
    "BotApiEmulator",
    "CallbackAnswer",
    "ChatMessage",
    "EmulatedUser",
    "SentDocument",
]
