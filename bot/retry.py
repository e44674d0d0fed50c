"""The one retry policy (重试策略) for everything sent to Telegram: an interactive reply, an
edit, a document and a reminder alike. It decides how many attempts a request gets, how long
to wait between them, which errors are tried again, and when the outbox tries a reminder again
whose attempts ran out. AIORateLimiter only keeps Telegram's rates (max_retries=0)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import aiohttp
import httpx
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.ext import AIORateLimiter

log = logging.getLogger(__name__)

T = TypeVar("T")


class Blocked(Exception):
    """The user blocked the bot (Telegram answered Forbidden)."""


class OutcomeUnknown(Exception):
    """The request reached Telegram but its answer did not come back in time: the message
    may have been delivered or not, and the Bot API cannot be asked which."""


# A timeout while connecting or waiting for a connection, on aiohttp (bot/transport.py) or on
# httpx (python-telegram-bot's own request, used behind a SOCKS proxy).
_NOT_SENT = (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout, httpx.PoolTimeout)


def may_have_arrived(error: TimedOut) -> bool:
    """Whether a timed-out request may have reached Telegram: only a timeout while connecting
    or waiting for a connection means it never left."""
    return not isinstance(error.__cause__, _NOT_SENT)


def retry_after_seconds(error: RetryAfter) -> float:
    wait: Any = error.retry_after
    return wait.total_seconds() if hasattr(wait, "total_seconds") else float(wait)


@dataclass(frozen=True)
class RetryPolicy:
    """How a request to the Bot API is tried again.

    - Forbidden (the user blocked the bot) and BadRequest (the request is wrong) never are.
    - RetryAfter is waited out as Telegram asks, then the request is tried again.
    - A network error, or a timeout before the request left (connecting, waiting for a
      connection), is tried again after `backoff` seconds, doubled after each failure.
    - A timeout after the request left may mean the message arrived. Where arriving twice
      matters (`resend_unknown=False`: a check's next question, a reminder) it is not sent
      again but raised as OutcomeUnknown; otherwise it is tried again like a network error.

    A request gets `attempts` tries in all. A reminder whose tries ran out stays in the outbox
    and a later sweep tries it again (`later`)."""

    attempts: int = 4
    backoff: float = 0.5
    # A reminder not delivered is tried again by a later sweep after this, doubled after
    # each failed delivery, at most `later_cap`; RetryAfter's own wait when Telegram gave one.
    later_first: timedelta = timedelta(seconds=30)
    later_cap: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("a request needs at least one attempt")

    async def run(self, call: Callable[[], Awaitable[T]], resend_unknown: bool = True) -> T:
        """`call()` under this policy; raises Blocked, OutcomeUnknown or the last error."""
        delay = self.backoff
        for attempt in range(1, self.attempts + 1):
            last = attempt == self.attempts
            try:
                return await call()
            except Forbidden as error:
                raise Blocked(str(error)) from error
            except RetryAfter as error:
                if last:
                    raise
                seconds = retry_after_seconds(error)
                log.warning("Telegram asks to wait %.1fs; then trying again", seconds)
                await asyncio.sleep(seconds)
            except BadRequest:
                raise
            except (TimedOut, NetworkError) as error:
                if isinstance(error, TimedOut) and not resend_unknown and may_have_arrived(error):
                    raise OutcomeUnknown(str(error)) from error
                if last:
                    raise
                log.warning("network error, retrying in %.1fs: %s", delay, error)
                await asyncio.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable: the last attempt returns or raises")

    def later(self, error: Exception, failures: int) -> timedelta:
        """When the outbox tries again a delivery that failed with `error`, its `failures`-th
        failure (counted before this one): 30 s, 1, 2, 4 … minutes, at most an hour."""
        if isinstance(error, RetryAfter):
            return timedelta(seconds=retry_after_seconds(error))
        return min(self.later_first * 2 ** max(failures, 0), self.later_cap)


DEFAULT_POLICY = RetryPolicy()


def policy_of(bot: object) -> RetryPolicy:
    """The policy the bot was built with (bot/app.py), or the default one."""
    policy = getattr(bot, "retry_policy", None)
    return policy if isinstance(policy, RetryPolicy) else DEFAULT_POLICY


class _RetriedElsewhere(logging.Filter):
    """AIORateLimiter logs a RetryAfter it passes on as an error; the policy handles it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Rate limit hit after maximum")


_QUIET = _RetriedElsewhere()


def rate_limiter() -> AIORateLimiter:
    """Telegram's rates, kept by python-telegram-bot's AIORateLimiter, which retries nothing:
    a RetryAfter goes to the sender, whose policy waits it out."""
    logging.getLogger("telegram.ext.AIORateLimiter").addFilter(_QUIET)
    return AIORateLimiter(max_retries=0)
