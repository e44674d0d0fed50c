"""How updates come in, for polling and the webhook alike: each update is stored first
(storage/inbox.py), acknowledged to Telegram second, and handled third; it is marked done once
its handler (or the error handler, which tells the person to try again) has finished. A
restarted or surviving instance handles what a stopped or killed one left behind."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from telegram import Update
from telegram.error import Conflict, InvalidToken, NetworkError, RetryAfter, TimedOut
from telegram.ext import Application

from bot.i18n import language_of
from bot.logs import about_update
from bot.sending import HuchaBot, send
from bot.services import KEY, Services, utc_now
from storage.group_commit import GroupCommit
from storage.inbox import (
    Incoming,
    claim_update,
    earlier_pending,
    forget_done,
    mark_done,
    pending_updates,
    renew_claims,
    store_updates,
)
from storage.sqlite_driver import short_statements

log = logging.getLogger(__name__)

# A claim on an update runs out this long after its last renewal: a killed instance's updates
# are taken over by another within about this time.
LEASE = timedelta(seconds=60)
RENEW_SECONDS = 20.0
# Updates handled are kept this long against a late second delivery, then forgotten.
KEEP_DONE = timedelta(days=2)
# How long a stopping instance lets the updates in hand finish.
GRACE_SECONDS = 20.0


def instance_name() -> str:
    """This instance's stable name: HUCHA_INSTANCE, else the host name. A restart under the
    same name takes back its own unfinished updates at once."""
    return os.environ.get("HUCHA_INSTANCE") or socket.gethostname()


def bot_key(application: Application) -> str:  # type: ignore[type-arg]
    """The bot's numeric id, from its token: updates are numbered per bot."""
    return str(application.bot.token).split(":", 1)[0]


def chat_of(update: Update) -> int | None:
    chat = update.effective_chat
    return chat.id if chat is not None else None


class Intake:
    """Receives updates for one bot of this instance and sees each through to done."""

    def __init__(
        self,
        application: Application,  # type: ignore[type-arg]
        instance: str | None = None,
    ) -> None:
        self.application = application
        self.services: Services = application.bot_data[KEY]
        self.bot = bot_key(application)
        self.instance = instance or instance_name()
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self._renewer: asyncio.Task[None] | None = None
        self._poller: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._told_busy: set[int] = set()
        # Updates handled are marked done together with the others finished meanwhile. The
        # database may be away for a while: each group is tried again, then left not done, and
        # the claim runs out and they are taken up again.
        self._done = GroupCommit[int](
            self.services.sessionmaker,
            lambda s, update_ids: mark_done(s, self.bot, sorted(set(update_ids)), utc_now()),
            name="intake-done",
            retry_delays=(0.5, 1, 2, 4, 8),
        )
        self._pruned = utc_now()
        # SQLite serves one process, where routes already take one person's updates in turn.
        self._single_process = self.services.settings.database_url.startswith("sqlite")
        self.services.metrics.measure_queue(lambda: len(self.tasks))

    # Receiving

    async def receive(
        self, updates: Sequence[Update], as_sent: Sequence[dict[str, Any]] | None = None
    ) -> list[Update]:
        """Store the updates, each as its JSON as Telegram sent it (`as_sent`, in the same
        order) or else as the update's `to_dict()`; return those not stored before, which this
        instance now holds. Raises when they cannot be stored: then they must not be
        acknowledged."""
        payloads = as_sent if as_sent is not None else [u.to_dict() for u in updates]
        incoming = [
            Incoming(u.update_id, chat_of(u), payload)
            for u, payload in zip(updates, payloads, strict=True)
        ]
        with short_statements():
            async with self.services.sessionmaker.begin() as s:
                stored = set(
                    await store_updates(s, self.bot, incoming, utc_now(), self.instance, LEASE)
                )
        return [u for u in updates if u.update_id in stored]

    def dispatch(self, updates: Sequence[Update]) -> None:
        """Handle each update in a task of its own; one person's stay in order (routes)."""
        for item in updates:
            task = asyncio.create_task(self._handle(item), name=f"update-{item.update_id}")
            self.tasks[item.update_id] = task
            task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        for key, held in list(self.tasks.items()):
            if held is task:
                del self.tasks[key]

    async def _in_turn(self, update: Update) -> None:
        """Wait while an earlier update of the same chat is not done, wherever it is being
        handled: one chat's updates are applied in order, one at a time, across instances."""
        chat = chat_of(update)
        if chat is None or self._single_process:
            return
        delay = 0.02
        while not self._stopping.is_set():
            try:
                async with self.services.sessionmaker() as s:
                    if not await earlier_pending(s, self.bot, chat, update.update_id):
                        return
            except Exception:
                log.warning("cannot tell whether update %s may go", update.update_id)
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def _handle(self, update: Update) -> None:
        app = self.application
        metrics = self.services.metrics
        with metrics.handler_seconds.time(), about_update(update.update_id, chat_of(update)):
            await self._in_turn(update)
            await app.update_processor.process_update(update, app.process_update(update))
        metrics.updates_handled.inc()
        await self._mark_done(update.update_id)

    async def _mark_done(self, update_id: int) -> None:
        """Mark the update done, in a group commit: under load one statement for many
        updates; alone, at once."""
        try:
            await self._done.add(update_id)
        except Exception:
            log.warning("update %s is left not done", update_id)

    async def resume(self, own_too: bool = False) -> int:
        """Handle what was received and not done: this instance's own leftovers after a
        restart (`own_too`), and updates whose claim ran out. Returns how many."""
        now = utc_now()
        async with self.services.sessionmaker() as s:
            rows = await pending_updates(s, self.bot, now, self.instance if own_too else None)
        taken: list[Update] = []
        for row in rows:
            if row.update_id in self.tasks:
                continue
            async with self.services.sessionmaker.begin() as s:
                claimed = await claim_update(
                    s, self.bot, row.update_id, self.instance, utc_now(), LEASE
                )
            if claimed:
                update = Update.de_json(dict(row.payload), self.application.bot)
                if update is not None:
                    taken.append(update)
        self.dispatch(taken)
        return len(taken)

    async def _renew(self) -> None:
        """Keep the claims on the updates in hand; take over those of a dead instance."""
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), RENEW_SECONDS)
            if self._stopping.is_set():
                return
            try:
                now = utc_now()
                async with self.services.sessionmaker.begin() as s:
                    await renew_claims(s, self.bot, self.instance, list(self.tasks), now, LEASE)
                    if now - self._pruned > KEEP_DONE / 24:
                        await forget_done(s, now - KEEP_DONE)
                        self._pruned = now
                await self.resume()
            except Exception:
                log.warning("cannot renew the claims on updates", exc_info=True)

    # Polling

    async def start(self) -> None:
        """Take back this instance's unfinished updates; keep claims and watch for those of a
        dead instance in the background. The webhook calls this; polling does too."""
        self._stopping.clear()
        await self.resume(own_too=True)
        self._renewer = asyncio.create_task(self._renew(), name="intake-renew")

    async def start_polling(self, poll_seconds: float = 10.0) -> None:
        """Start, then poll getUpdates in the background."""
        await self.start()
        self._poller = asyncio.create_task(self._poll(poll_seconds), name="intake-poll")

    async def _poll(self, poll_seconds: float) -> None:
        bot = self.application.bot
        if not isinstance(bot, HuchaBot):
            raise TypeError("updates are polled through the bot of build_bot (HuchaBot)")
        offset: int | None = None
        delay = 0.5
        while not self._stopping.is_set():
            try:
                updates, as_sent = await bot.get_updates_as_sent(
                    offset, poll_seconds, Update.ALL_TYPES
                )
            except TimedOut:
                continue
            except RetryAfter as error:
                await self._pause(_seconds(error.retry_after))
                continue
            except (NetworkError, Conflict, InvalidToken) as error:
                log.warning("getUpdates failed, again in %.1fs: %s", delay, error)
                await self._pause(delay)
                delay = min(delay * 2, 30.0)
                continue
            delay = 0.5
            if not updates:
                continue
            try:
                new = await self.receive(updates, as_sent)
            except Exception:
                # Not stored, so not acknowledged: Telegram sends them again.
                log.warning("cannot store %d updates; they stay unacknowledged", len(updates))
                await self._tell_busy(updates)
                await self._pause(delay)
                delay = min(delay * 2, 30.0)
                continue
            offset = updates[-1].update_id + 1
            self._told_busy.difference_update(u.update_id for u in updates)
            self.dispatch(new)
        if offset is not None:
            # Acknowledge the last batch; what this call returns is not acknowledged by it.
            with contextlib.suppress(Exception):
                await bot.get_updates(offset=offset, timeout=0, limit=1)

    async def _tell_busy(self, updates: Sequence[Update]) -> None:
        """Tell each person once that their message waits (the database is away): it will be
        answered when the database is back, nobody needs to send it again."""
        for item in updates:
            chat = item.effective_chat
            if item.update_id in self._told_busy or chat is None or chat.type != "private":
                continue
            self._told_busy.add(item.update_id)
            sender = item.effective_user
            lang = language_of(
                sender.language_code if sender else None,
                self.services.settings.default_language,
            )
            text = self.services.t(
                lang, "One moment please: your message is kept and will be answered shortly."
            )
            with contextlib.suppress(Exception):
                await send(self.application.bot, chat.id, text)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def stop(self, grace: float = GRACE_SECONDS) -> None:
        """Stop receiving, let the updates in hand finish (within `grace`), stop renewing."""
        self._stopping.set()
        for task in (self._poller, self._renewer):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(task, timeout=grace)
        self._poller = self._renewer = None
        if self.tasks:
            await asyncio.wait(list(self.tasks.values()), timeout=grace)

    async def settled(self) -> None:
        """Wait until the updates in hand are done (tests, and a stop)."""
        while self.tasks:
            await asyncio.wait(list(self.tasks.values()))

    @property
    def in_hand(self) -> int:
        return len(self.tasks)


def _seconds(value: Any) -> float:
    return value.total_seconds() if hasattr(value, "total_seconds") else float(value)
