"""Which Bot API methods exist and which parameters they require, read once from api.json.

`api.json` (Bot API as data, in the shared folder beside the repository) is the authority.
Installed elsewhere without it, a built-in table of the emulated methods keeps us working.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

from bot.emulator.errors import ApiError, bad_request


@dataclass(frozen=True)
class MethodSpec:
    """One Bot API method: its canonical name and required parameters."""

    name: str
    required: tuple[str, ...]


# The required parameters of the emulated methods, as in Bot API 10.1.
BUILT_IN_REQUIRED: dict[str, tuple[str, ...]] = {
    "getMe": (),
    "getUpdates": (),
    "setWebhook": ("url",),
    "deleteWebhook": (),
    "getWebhookInfo": (),
    "sendMessage": ("chat_id", "text"),
    "editMessageText": (),
    "editMessageReplyMarkup": (),
    "deleteMessage": ("chat_id", "message_id"),
    "answerCallbackQuery": ("callback_query_id",),
    "sendPhoto": ("chat_id", "photo"),
    "sendDocument": ("chat_id", "document"),
    "sendChatAction": ("chat_id", "action"),
    "getFile": ("file_id",),
    "setMyCommands": ("commands",),
    "getMyCommands": (),
    "deleteMyCommands": (),
    "getChat": ("chat_id",),
    "setChatMenuButton": (),
    "close": (),
    "logOut": (),
}

# Telegram's own words for some missing parameters; the rest get the generic sentence.
_MISSING_WORDS: dict[str, str] = {
    "chat_id": "chat_id is empty",
    "text": "message text is empty",
    "message_id": "message identifier is not specified",
    "photo": "there is no photo in the request",
    "document": "there is no document in the request",
    "action": "wrong parameter action in request",
    "latitude": "latitude is empty",
    "longitude": "longitude is empty",
    "file_id": "wrong file_id specified",
}


def default_api_json() -> Path:
    """Where api.json lives when the repository sits beside the shared folder."""
    return Path(__file__).resolve().parents[3] / "shared" / "telegram-bot-api" / "api.json"


def load_method_specs(api_json: Path | None) -> dict[str, MethodSpec]:
    """Method specs keyed by lower-case name (Telegram's method names are case-insensitive).

    An explicit `api_json` must exist; without one, the default location is tried and the
    built-in table used when it is absent.
    """
    path = api_json if api_json is not None else default_api_json()
    if api_json is None and not path.is_file():
        return built_in_method_specs()
    return dict(_specs_from(path.resolve()))


@functools.cache
def _specs_from(path: Path) -> dict[str, MethodSpec]:
    # Parsed once per process: a test suite starts many emulators.
    document = json.loads(path.read_text(encoding="utf-8"))
    specs: dict[str, MethodSpec] = {}
    for name, method in document["methods"].items():
        required = tuple(f["name"] for f in method.get("fields", []) if f.get("required"))
        specs[name.lower()] = MethodSpec(name, required)
    return specs


def built_in_method_specs() -> dict[str, MethodSpec]:
    """The fallback table: only the methods the emulator implements."""
    return {name.lower(): MethodSpec(name, req) for name, req in BUILT_IN_REQUIRED.items()}


def missing_parameter(name: str) -> ApiError:
    """The error for a required parameter that was not given."""
    return bad_request(_MISSING_WORDS.get(name, f'parameter "{name}" is required'))
