"""How updates reach the bot: getUpdates long polling, or a webhook the emulator posts to.

Exactly one of the two is active, as in Telegram: while a webhook is set, getUpdates answers
409 Conflict. A newer getUpdates ends the one still waiting, also with 409.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bot.emulator.errors import bad_request, conflict
from bot.emulator.messaging import Handler
from bot.emulator.params import Params
from bot.emulator.world import JsonObject, World, allowed_kinds

log = logging.getLogger(__name__)

WEBHOOK_PORTS = (80, 88, 443, 8443)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
WEBHOOK_RETRY_SECONDS = 0.5
WEBHOOK_POST_TIMEOUT = 10.0
SECRET_TOKEN_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class _Poll:
    """One waiting getUpdates request."""

    def __init__(self) -> None:
        self.superseded = False


class UpdateDelivery:
    """getUpdates, setWebhook, deleteWebhook and getWebhookInfo, and the webhook poster."""

    def __init__(self, world: World, *, post_webhooks: bool) -> None:
        self._world = world
        self._post_webhooks = post_webhooks
        self._poll: _Poll | None = None
        self._poster: asyncio.Task[None] | None = None
        self._stop_poster = asyncio.Event()
        # Updates still to be posted twice (Telegram sends an update again when it did not
        # see the webhook's answer), and the posts the webhook took, second ones included.
        self.twice = 0
        self.posts = 0

    def handlers(self) -> dict[str, Handler]:
        return {
            "getUpdates": self.get_updates,
            "setWebhook": self.set_webhook,
            "deleteWebhook": self.delete_webhook,
            "getWebhookInfo": self.get_webhook_info,
        }

    # Long polling

    async def get_updates(self, params: Params) -> list[JsonObject]:
        world = self._world
        if world.webhook.url:
            raise conflict(
                "can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first"
            )
        offset = params.integer("offset")
        if offset:
            world.updates.confirm(offset)
        limit = min(max(params.integer("limit") or 100, 1), 100)
        if params.has("allowed_updates"):
            world.polling_allowed = _allowed(params.json("allowed_updates", "allowed updates"))
        return await self._long_poll(limit, max(params.number("timeout") or 0.0, 0.0))

    async def _long_poll(self, limit: int, seconds: float) -> list[JsonObject]:
        world = self._world
        if self._poll is not None:
            self._poll.superseded = True
            world.updates.pulse.fire()
        poll = self._poll = _Poll()
        deadline = asyncio.get_running_loop().time() + seconds
        try:
            while True:
                if poll.superseded:
                    raise conflict(
                        "terminated by other getUpdates request; "
                        "make sure that only one bot instance is running"
                    )
                batch = world.updates.take(limit, world.polling_allowed)
                remaining = deadline - asyncio.get_running_loop().time()
                if batch or world.closing or remaining <= 0:
                    return batch
                await world.updates.pulse.wait(remaining)
        finally:
            if self._poll is poll:
                self._poll = None

    # Webhook

    async def set_webhook(self, params: Params) -> bool:
        url = params.string("url") or ""
        _check_webhook_url(url)
        secret = params.string("secret_token")
        if secret is not None and not _valid_secret(secret):
            raise bad_request("secret token contains unallowed characters")
        webhook = self._world.webhook
        webhook.url = url
        webhook.secret_token = secret
        webhook.max_connections = min(max(params.integer("max_connections") or 40, 1), 100)
        if params.has("allowed_updates"):
            webhook.allowed = _allowed(params.json("allowed_updates", "allowed updates"))
        if params.flag("drop_pending_updates"):
            self._world.updates.drop_all()
        await self._restart_poster()
        return True

    async def delete_webhook(self, params: Params) -> bool:
        self._world.webhook.url = ""
        if params.flag("drop_pending_updates"):
            self._world.updates.drop_all()
        await self._restart_poster()
        return True

    async def get_webhook_info(self, params: Params) -> JsonObject:
        webhook = self._world.webhook
        info: JsonObject = {
            "url": webhook.url,
            "has_custom_certificate": False,
            "pending_update_count": self._world.updates.pending_count,
        }
        if webhook.url:
            info["max_connections"] = webhook.max_connections
            if webhook.allowed is not None:
                info["allowed_updates"] = sorted(webhook.allowed)
            if webhook.last_error_date is not None:
                info["last_error_date"] = webhook.last_error_date
                info["last_error_message"] = webhook.last_error_message
        return info

    async def stop(self) -> None:
        """End the webhook poster, if any."""
        self._stop_poster.set()
        if self._poster is not None:
            self._poster.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poster
            self._poster = None

    async def _restart_poster(self) -> None:
        await self.stop()
        self._stop_poster = asyncio.Event()
        if self._world.webhook.url and self._post_webhooks:
            self._poster = asyncio.create_task(self._post_updates(), name="emulator-webhook")

    async def _post_updates(self) -> None:
        """Post pending updates as Telegram does: up to `max_connections` at a time, one chat's
        one at a time and in order; an update is posted again until the webhook answers 2xx
        (and once more after that, while `deliver_twice` asks for it)."""
        world = self._world
        posting: dict[int, asyncio.Task[None]] = {}
        async with aiohttp.ClientSession() as session:
            try:
                while not self._stop_poster.is_set():
                    started = False
                    seen: set[object] = set()
                    for update in world.updates.waiting(world.webhook.allowed):
                        chat = _chat_key(update)
                        if chat in seen:
                            continue  # an earlier update of this chat goes first
                        seen.add(chat)
                        update_id = update["update_id"]
                        if update_id in posting or len(posting) >= world.webhook.max_connections:
                            continue
                        world.updates.posted(update_id)
                        task = asyncio.create_task(self._deliver(session, update))
                        posting[update_id] = task
                        task.add_done_callback(functools.partial(self._posted, posting, update_id))
                        started = True
                    if not started:
                        await world.updates.pulse.wait()
            finally:
                for task in posting.values():
                    task.cancel()
                await asyncio.gather(*posting.values(), return_exceptions=True)

    def _posted(
        self, posting: dict[int, asyncio.Task[None]], update_id: int, _: asyncio.Task[None]
    ) -> None:
        posting.pop(update_id, None)
        self._world.updates.pulse.fire()

    async def _deliver(self, session: aiohttp.ClientSession, update: JsonObject) -> None:
        """Post one update until the webhook takes it; then it is forgotten."""
        times = 1
        if self.twice > 0:
            self.twice -= 1
            times = 2
        for _ in range(times):
            while not await self._post(session, update):
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(WEBHOOK_RETRY_SECONDS):
                        await self._stop_poster.wait()
                if self._stop_poster.is_set():
                    return
            self.posts += 1
        self._world.updates.forget(update["update_id"])

    async def _post(self, session: aiohttp.ClientSession, update: JsonObject) -> bool:
        world = self._world
        webhook = world.webhook
        headers = {SECRET_TOKEN_HEADER: webhook.secret_token} if webhook.secret_token else {}
        world.in_flight += 1
        try:
            async with session.post(
                webhook.url,
                json=update,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=WEBHOOK_POST_TIMEOUT),
            ) as response:
                if response.status < 300:
                    return True
                error = f"Wrong response from the webhook: {response.status} {response.reason}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = f"Connection failed: {exc!r}"
        finally:
            world.in_flight -= 1
            world.activity.fire()
        webhook.last_error_date = world.now()
        webhook.last_error_message = error
        log.debug("webhook delivery to %s failed: %s", webhook.url, error)
        return False


def _chat_key(update: JsonObject) -> object:
    """The chat (or, without one, the person) an update belongs to; its own id otherwise."""
    for key, payload in update.items():
        if key == "update_id" or not isinstance(payload, dict):
            continue
        for holder in (payload, payload.get("message")):
            if isinstance(holder, dict) and isinstance(holder.get("chat"), dict):
                return ("chat", holder["chat"].get("id"))
        sender = payload.get("from") or payload.get("user")
        if isinstance(sender, dict):
            return ("chat", sender.get("id"))
    return ("update", update["update_id"])


def _allowed(value: Any) -> frozenset[str] | None:
    if not isinstance(value, list) or not all(isinstance(kind, str) for kind in value):
        raise bad_request("can't parse allowed updates JSON object")
    return allowed_kinds(value)


def _valid_secret(secret: str) -> bool:
    return 1 <= len(secret) <= 256 and all(
        c.isascii() and (c.isalnum() or c in "_-") for c in secret
    )


def _check_webhook_url(url: str) -> None:
    """Telegram's rules (HTTPS, ports 80/88/443/8443); loopback URLs may be plain HTTP on any
    port so that a local bot can take the emulator's webhook calls."""
    parts = urlsplit(url)
    if parts.hostname in LOOPBACK_HOSTS and parts.scheme in ("http", "https"):
        return
    if parts.scheme != "https" or not parts.hostname:
        raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
    try:
        port = parts.port or 443
    except ValueError:
        port = 0
    if port not in WEBHOOK_PORTS:
        raise bad_request("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")
