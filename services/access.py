"""Signing in to the web dashboard from the bot (/web): a one-time link valid for minutes,
spent once for a browser session that ends on logout or after hours without use."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from conversations.messages import N_
from services.runtime import Runtime, acting_user
from storage.audit import audit
from storage.errors import StorageError
from storage.web_access import create_login, end_session, live_session, open_session, use_login

LOGIN_TTL = timedelta(minutes=10)
IDLE_TIMEOUT = timedelta(hours=8)
TOUCH_EVERY = timedelta(minutes=1)

LOGIN_REFUSALS = {
    "unknown": N_("This sign-in link is not valid. Send /web to the bot for a new one."),
    "used": N_("This sign-in link has been used already. Send /web to the bot for a new one."),
    "expired": N_("This sign-in link has expired. Send /web to the bot for a new one."),
}


class LoginRefused(StorageError):
    """A login link that opens nothing; `reason` is unknown, used or expired."""

    def __init__(self, reason: str) -> None:
        super().__init__(LOGIN_REFUSALS[reason])
        self.reason = reason


async def issue_login(rt: Runtime, user_id: int) -> str:
    """A one-time login token for the user (every role may have one)."""
    now = rt.clock()
    async with rt.sessionmaker.begin() as s:
        user = await acting_user(s, user_id)
        return await create_login(s, user.id, now, LOGIN_TTL)


@dataclass(frozen=True)
class Opened:
    session_token: str
    user_id: int


async def redeem_login(rt: Runtime, token: str) -> Opened:
    """Spend a login token for a new session, or raise LoginRefused."""
    now = rt.clock()
    async with rt.sessionmaker.begin() as s:
        spent = await use_login(s, token, now)
        if isinstance(spent, str):
            raise LoginRefused(spent)
        user = await acting_user(s, spent)
        session_token, _ = await open_session(s, user.id, now)
        await audit(s, "web.login", f"user:{user.id}", now, user_id=user.id)
    return Opened(session_token, user.id)


@dataclass(frozen=True)
class Visitor:
    """Who is behind a browser session."""

    user_id: int
    name: str
    role: str
    area_code: str
    language: str | None
    csrf: str


async def visitor(rt: Runtime, session_token: str) -> Visitor | None:
    """The signed-in person of a session cookie, or None (unknown, ended, idle too long)."""
    now = rt.clock()
    async with rt.sessionmaker.begin() as s:
        found = await live_session(s, session_token, now, IDLE_TIMEOUT, TOUCH_EVERY)
        if found is None:
            return None
        session, user = found
        return Visitor(user.id, user.name, user.role, user.area_code, user.language, session.csrf)


async def sign_out(rt: Runtime, session_token: str) -> None:
    now = rt.clock()
    async with rt.sessionmaker.begin() as s:
        await end_session(s, session_token, now)
