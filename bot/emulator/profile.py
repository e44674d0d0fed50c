"""Bot API methods about the bot itself: getMe, its command menus, the menu button, close/logOut.

Commands are kept per (scope, language code), exactly as setMyCommands stored them; like
Telegram, getMyCommands does not fall back from one scope or language to another.
"""

from __future__ import annotations

import re
from typing import Any

from bot.emulator.errors import bad_request
from bot.emulator.messaging import Handler, chat_id_of
from bot.emulator.params import Params
from bot.emulator.world import JsonObject, World

MAX_COMMANDS = 100
MAX_DESCRIPTION = 256
COMMAND_PATTERN = re.compile(r"[a-z0-9_]{1,32}")
LANGUAGE_PATTERN = re.compile(r"[a-z]{2}")

SCOPES_WITHOUT_CHAT = frozenset(
    {"default", "all_private_chats", "all_group_chats", "all_chat_administrators"}
)
SCOPES_WITH_CHAT = frozenset({"chat", "chat_administrators", "chat_member"})


def scope_key(scope: object) -> str:
    """A BotCommandScope as a short key: "default", "all_private_chats", "chat:42",
    "chat_member:42:7"."""
    if scope is None:
        return "default"
    kind = scope.get("type") if isinstance(scope, dict) else None
    if kind in SCOPES_WITHOUT_CHAT:
        return str(kind)
    if isinstance(scope, dict) and kind in SCOPES_WITH_CHAT:
        if "chat_id" not in scope:
            raise bad_request("can't parse BotCommandScope: chat_id is empty")
        key = f"{kind}:{scope['chat_id']}"
        if kind == "chat_member":
            if "user_id" not in scope:
                raise bad_request("can't parse BotCommandScope: invalid user_id specified")
            key += f":{scope['user_id']}"
        return key
    raise bad_request("can't parse BotCommandScope: unsupported type specified")


def checked_commands(commands: object) -> list[JsonObject]:
    """BotCommand objects checked against Telegram's limits."""
    if not isinstance(commands, list):
        raise bad_request("can't parse commands JSON object")
    if len(commands) > MAX_COMMANDS:
        raise bad_request("too many commands specified")
    checked: list[JsonObject] = []
    for command in commands:
        if not isinstance(command, dict):
            raise bad_request("can't parse BotCommand: expected an Object")
        name, description = command.get("command"), command.get("description")
        if not isinstance(name, str) or not COMMAND_PATTERN.fullmatch(name.lower()):
            raise bad_request("BOT_COMMAND_INVALID")
        if not isinstance(description, str) or not 1 <= len(description) <= MAX_DESCRIPTION:
            raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        checked.append({"command": name.lower(), "description": description})
    return checked


class BotProfile:
    """The bot's own settings in one emulated world."""

    def __init__(self, world: World) -> None:
        self._world = world

    def handlers(self) -> dict[str, Handler]:
        return {
            "getMe": self.get_me,
            "setMyCommands": self.set_my_commands,
            "getMyCommands": self.get_my_commands,
            "deleteMyCommands": self.delete_my_commands,
            "setChatMenuButton": self.set_chat_menu_button,
            "getChatMenuButton": self.get_chat_menu_button,
            "close": self.accept,
            "logOut": self.accept,
        }

    async def get_me(self, params: Params) -> JsonObject:
        return self._world.bot_user

    async def set_my_commands(self, params: Params) -> bool:
        commands = checked_commands(params.json("commands", "commands"))
        key = self._key(params)
        if commands:
            self._world.commands[key] = commands
        else:
            self._world.commands.pop(key, None)
        return True

    async def get_my_commands(self, params: Params) -> list[JsonObject]:
        return self._world.commands.get(self._key(params), [])

    async def delete_my_commands(self, params: Params) -> bool:
        self._world.commands.pop(self._key(params), None)
        return True

    async def set_chat_menu_button(self, params: Params) -> bool:
        button = params.json("menu_button", "menu button")
        if button is None:
            button = {"type": "default"}
        if not isinstance(button, dict) or button.get("type") not in (
            "default",
            "commands",
            "web_app",
        ):
            raise bad_request("can't parse menu button: unsupported type specified")
        self._world.menu_buttons[chat_id_of(params)] = button
        return True

    async def get_chat_menu_button(self, params: Params) -> JsonObject:
        return self._world.menu_buttons.get(chat_id_of(params), {"type": "commands"})

    async def accept(self, params: Params) -> bool:
        return True

    @staticmethod
    def _key(params: Params) -> tuple[str, str]:
        language = params.string("language_code") or ""
        if language and not LANGUAGE_PATTERN.fullmatch(language):
            raise bad_request("invalid language code specified")
        scope: Any = params.json("scope", "scope")
        return scope_key(scope), language
