"""The emulator's HTTP face: an aiohttp server that answers like api.telegram.org.

`BotApiEmulator` owns the server and the emulated world, and hands out `EmulatedUser`s for
tests and the demo. Requests are checked against the Bot API spec (unknown method, missing
required parameter) before a method runs.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import BodyPartReader, web

from bot.emulator.delivery import UpdateDelivery
from bot.emulator.errors import ApiError, bad_request, not_found, not_implemented, unauthorized
from bot.emulator.messaging import Handler, Messaging
from bot.emulator.params import Params, Upload
from bot.emulator.profile import BotProfile
from bot.emulator.spec import MethodSpec, load_method_specs, missing_parameter
from bot.emulator.transcript import ApiCallError, SentDocument
from bot.emulator.user import EmulatedUser
from bot.emulator.world import JsonObject, World

log = logging.getLogger(__name__)

DEFAULT_TOKEN = "123456:TEST"
MAX_BODY_BYTES = 50 * 1024 * 1024  # Telegram's upload limit for bots
SHUTDOWN_SECONDS = 2.0
IDLE_QUIET_SECONDS = 0.05

_dumps = functools.partial(json.dumps, ensure_ascii=False)


def _bot_user(token: str, username: str, first_name: str) -> JsonObject:
    head = token.split(":", 1)[0]
    return {
        "id": int(head) if head.isdigit() else 123456,
        "is_bot": True,
        "first_name": first_name,
        "username": username,
        "can_join_groups": False,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
    }


@dataclass
class Fault:
    """A fault the emulator plays on the next `times` calls of one method, as Telegram's own
    bad moments look to a bot: an error status instead of an answer (429 with retry_after,
    500, 502…), or the call carried out and its answer held back (`hold`, until released:
    the bot's read times out while the message was in fact sent)."""

    method: str
    times: int = 1
    status: int | None = None
    retry_after: int | None = None
    hold: asyncio.Event | None = None
    stall: Stall | None = None


@dataclass
class Stall:
    """Calls received but not yet carried out: `reached` is set when the first arrives; they
    are carried out when `release` is set (or never, when the bot is gone by then)."""

    reached: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)


class TooManyRequests(ApiError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(429, f"Too Many Requests: retry after {retry_after}")
        self.retry_after = retry_after


def _fault_error(fault: Fault) -> ApiError:
    if fault.status == 429:
        return TooManyRequests(fault.retry_after or 1)
    names = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
    status = fault.status or 500
    return ApiError(status, names.get(status, "Internal Server Error"))


def _answer(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result}, dumps=_dumps)


def _refusal(error: ApiError) -> web.Response:
    body = {"ok": False, "error_code": error.code, "description": error.description}
    return web.json_response(body, status=error.code, dumps=_dumps)


async def read_params(request: web.Request) -> Params:
    """The request's parameters from its query string and JSON, form or multipart body."""
    values: dict[str, object] = dict(request.query)
    uploads: dict[str, Upload] = {}
    if request.method == "POST" and request.body_exists:
        content_type = request.content_type
        if content_type == "application/json":
            values.update(await _json_body(request))
        elif content_type == "multipart/form-data":
            await _read_multipart(request, values, uploads)
        elif content_type == "application/x-www-form-urlencoded":
            form = await request.post()
            values.update({key: value for key, value in form.items() if isinstance(value, str)})
    return Params(values, uploads)


async def _json_body(request: web.Request) -> Mapping[str, object]:
    try:
        body = await request.json()
    except ValueError:
        raise bad_request("can't parse JSON encoded request body") from None
    if not isinstance(body, dict):
        raise bad_request("JSON encoded request body must be an Object")
    return body


async def _read_multipart(
    request: web.Request, values: dict[str, object], uploads: dict[str, Upload]
) -> None:
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader) or part.name is None:
            continue
        if part.filename is not None:
            content_type = part.headers.get("Content-Type", "application/octet-stream")
            content = bytes(await part.read(decode=True))
            uploads[part.name] = Upload(part.filename, content, content_type)
        else:
            values[part.name] = await part.text()


class BotApiEmulator:
    """A local Telegram Bot API for one bot token, with people to talk to it."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        api_json: Path | str | None = None,
        *,
        bot_username: str = "hucha_test_bot",
        bot_first_name: str = "户查 Hucha (test)",
        post_webhooks: bool = True,
    ) -> None:
        self.token = token
        self._api_json = api_json
        self._post_webhooks = post_webhooks
        self._specs = load_method_specs(Path(api_json) if api_json is not None else None)
        self._world = World(_bot_user(token, bot_username, bot_first_name))
        self._delivery = UpdateDelivery(self._world, post_webhooks=post_webhooks)
        parts = (Messaging(self._world), self._delivery, BotProfile(self._world))
        self._handlers: dict[str, Handler] = {
            name.lower(): handler for part in parts for name, handler in part.handlers().items()
        }
        self._users: dict[int, EmulatedUser] = {}
        self._runner: web.AppRunner | None = None
        self._origin: str | None = None
        self._faults: list[Fault] = []
        # More bots on this server (add_bot), by token; a bot added here has a `_host`.
        self._bots: dict[str, BotApiEmulator] = {}
        self._host: BotApiEmulator | None = None

    def add_bot(
        self, token: str, *, bot_username: str, bot_first_name: str = "户查 Hucha (test)"
    ) -> BotApiEmulator:
        """Another bot on this server, as api.telegram.org serves many: its own token, people,
        chats and updates, on the same address. A person's id is the same for every bot, and
        each bot has its own chat with them."""
        if token == self.token or token in self._bots:
            raise ValueError(f"the bot {token.split(':')[0]} is on this server already")
        other = BotApiEmulator(
            token,
            self._api_json,
            bot_username=bot_username,
            bot_first_name=bot_first_name,
            post_webhooks=self._post_webhooks,
        )
        other._host = self
        self._bots[token] = other
        return other

    # Lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on host:port; port 0 picks a free port."""
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{file_path:.+}", self._handle_file)
        self._world.closing = False
        self._runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=SHUTDOWN_SECONDS
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_port = self._runner.addresses[0][1]
        shown_host = f"[{host}]" if ":" in host else host
        self._origin = f"http://{shown_host}:{bound_port}"

    async def stop(self) -> None:
        """Release waiting long polls, stop posting to a webhook and close the server."""
        for other in self._bots.values():
            await other.stop()
        self._world.closing = True
        self._world.updates.pulse.fire()
        await self._delivery.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> BotApiEmulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    def continue_updates_after(self, update_id: int) -> None:
        """Number this bot's next update above `update_id`: a new emulator for a database
        that already received updates from this bot (the demo run again)."""
        self._world.updates.continue_after(update_id)

    @property
    def base_url(self) -> str:
        """For python-telegram-bot's `base_url` (it appends the token)."""
        return f"{self._require_origin()}/bot"

    @property
    def base_file_url(self) -> str:
        """For python-telegram-bot's `base_file_url`."""
        return f"{self._require_origin()}/file/bot"

    def _require_origin(self) -> str:
        if self._host is not None:
            return self._host._require_origin()
        if self._origin is None:
            raise RuntimeError("the emulator is not started; await emu.start() first")
        return self._origin

    # The people and what the bot did

    def user(
        self,
        user_id: int,
        first_name: str = "Test",
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = None,
    ) -> EmulatedUser:
        """The person with this id, in a private chat with the bot (chat id == user id).

        Asking again for the same id gives the same person. Until they write or press
        something, the bot cannot message them (403), as in Telegram.
        """
        if user_id not in self._users:
            profile: JsonObject = {"id": user_id, "is_bot": False, "first_name": first_name}
            for key, value in (
                ("last_name", last_name),
                ("username", username),
                ("language_code", language_code),
            ):
                if value:
                    profile[key] = value
            chat = self._world.add_chat(profile)
            self._users[user_id] = EmulatedUser(self._world, chat)
        return self._users[user_id]

    def commands(
        self, language_code: str | None = None, scope: str = "default"
    ) -> list[tuple[str, str]]:
        """What setMyCommands registered for this scope key ("default", "all_private_chats",
        "chat:<id>"...) and language, as (command, description) pairs."""
        stored = self._world.commands.get((scope, language_code or ""), [])
        return [(str(c["command"]), str(c["description"])) for c in stored]

    @property
    def documents(self) -> list[SentDocument]:
        """Documents the bot sent: (chat_id, filename, content, caption)."""
        return list(self._world.documents)

    @property
    def errors(self) -> list[ApiCallError]:
        """The latest requests the emulator refused, oldest first (up to 200)."""
        return list(self._world.errors)

    @property
    def webhook_url(self) -> str:
        """The webhook set by the bot, or "" while it polls."""
        return self._world.webhook.url

    @property
    def pending_update_count(self) -> int:
        """Updates not yet confirmed by the bot."""
        return self._world.updates.pending_count

    async def wait_until_idle(
        self,
        timeout: float = 5.0,  # noqa: ASYNC109 - documented API
        quiet: float = IDLE_QUIET_SECONDS,
    ) -> None:
        """Return once every update was fetched and no request has been in flight for `quiet`
        seconds. The quiet window covers a handler between fetching an update and its first
        request; it is a guard, not a guarantee."""
        world = self._world
        try:
            async with asyncio.timeout(timeout):
                while True:
                    if not world.is_idle():
                        await world.activity.wait()
                    elif not await world.activity.wait(quiet):
                        return
        except TimeoutError:
            raise TimeoutError(
                f"the emulator was still busy after {timeout}s: "
                f"{world.updates.undelivered_count} updates not fetched, "
                f"{world.in_flight} requests in flight"
            ) from None

    # HTTP

    # Faults

    def fail(
        self, method: str, status: int, times: int = 1, retry_after: int | None = None
    ) -> None:
        """Answer the next `times` calls of `method` with `status` without carrying them out."""
        self._faults.append(Fault(method.lower(), times, status, retry_after))

    def deliver_twice(self, times: int = 1) -> None:
        """Post each of the next `times` webhook updates a second time once the webhook has
        taken it, as Telegram does when it did not see the webhook's answer."""
        self._delivery.twice += times

    @property
    def webhook_posts(self) -> int:
        """Webhook posts answered 2xx so far, second deliveries included."""
        return self._delivery.posts

    def hold(self, method: str, times: int = 1) -> asyncio.Event:
        """Carry out the next `times` calls of `method` but hold their answers back until the
        returned event is set."""
        release = asyncio.Event()
        self._faults.append(Fault(method.lower(), times, hold=release))
        return release

    def stall(self, method: str, times: int = 1, after: int = 0) -> Stall:
        """Let `after` calls of `method` through, then receive the next `times` without
        carrying them out until the stall is released: the bot waits on messages Telegram has
        not sent (and never sends, if the bot dies meanwhile and the stall stays)."""
        if after:
            self._faults.append(Fault(method.lower(), after))
        stall = Stall()
        self._faults.append(Fault(method.lower(), times, stall=stall))
        return stall

    def _fault_for(self, name: str) -> Fault | None:
        for fault in self._faults:
            if fault.method == name and fault.times > 0:
                fault.times -= 1
                return fault
        return None

    async def _handle_method(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        if token != self.token:
            other = self._bots.get(token)
            return await other._handle_method(request) if other else _refusal(unauthorized())
        name = request.match_info["method"].lower()
        fault = self._fault_for(name)
        if fault is not None and fault.status is not None:
            return self._refused(name, _fault_error(fault))
        if fault is not None and fault.stall is not None:
            fault.stall.reached.set()
            await fault.stall.release.wait()
        response = await self._handle_known(request, name)
        if fault is not None and fault.hold is not None:
            await fault.hold.wait()
        return response

    async def _handle_known(self, request: web.Request, name: str) -> web.Response:
        spec = self._specs.get(name)
        if spec is None:
            return self._refused(name, not_found())
        handler = self._handlers.get(name)
        if handler is None:
            return self._refused(spec.name, not_implemented())
        counted = name != "getupdates"
        if counted:
            self._world.in_flight += 1
            self._world.activity.fire()
        try:
            return _answer(await self._call(spec, handler, request))
        except ApiError as error:
            return self._refused(spec.name, error)
        except Exception as exc:  # the bot must see a server error, not a dropped connection
            log.exception("emulator failed on %s", spec.name)
            return self._refused(spec.name, ApiError(500, f"Internal Server Error: {exc!r}"))
        finally:
            if counted:
                self._world.in_flight -= 1
                self._world.activity.fire()

    async def _call(self, spec: MethodSpec, handler: Handler, request: web.Request) -> Any:
        params = await read_params(request)
        for required in spec.required:
            if not params.has(required):
                raise missing_parameter(required)
        return await handler(params)

    def _refused(self, method: str, error: ApiError) -> web.Response:
        self._world.errors.append(ApiCallError(method, error.code, error.description))
        log.debug("refused %s: %s", method, error.description)
        if isinstance(error, TooManyRequests):
            body = {
                "ok": False,
                "error_code": 429,
                "description": error.description,
                "parameters": {"retry_after": error.retry_after},
            }
            return web.json_response(body, status=429, dumps=_dumps)
        return _refusal(error)

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        if token != self.token:
            other = self._bots.get(token)
            return await other._handle_file(request) if other else _refusal(unauthorized())
        stored = self._world.files.by_path(request.match_info["file_path"])
        if stored is None:
            return _refusal(ApiError(404, "Not Found: file not found"))
        content_type = stored.mime_type or "application/octet-stream"
        return web.Response(body=stored.content, content_type=content_type)
