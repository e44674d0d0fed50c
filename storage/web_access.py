"""Web dashboard access (网页登录): one-time login links and browser sessions. Tokens are
random; only their SHA-256 is stored, so a copy of the database opens no session."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import User, WebLogin, WebSession

LoginFailure = Literal["unknown", "used", "expired"]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_login(s: AsyncSession, user_id: int, now: datetime, ttl: timedelta) -> str:
    """A new one-time login token for the user, valid for `ttl`."""
    token = secrets.token_urlsafe(32)
    s.add(
        WebLogin(
            token_hash=token_hash(token),
            user_id=user_id,
            created_at=now,
            expires_at=now + ttl,
        )
    )
    await s.flush()
    return token


async def use_login(s: AsyncSession, token: str, now: datetime) -> int | LoginFailure:
    """Spend a login token: the user id, or why not. The conditional update decides, so a
    link opened twice at the same moment opens one session."""
    digest = token_hash(token)
    spent = await s.execute(
        update(WebLogin)
        .where(
            WebLogin.token_hash == digest,
            WebLogin.used_at.is_(None),
            WebLogin.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    row = await s.get(WebLogin, digest)
    if spent.rowcount == 1 and row is not None:  # type: ignore[attr-defined]
        return row.user_id
    if row is None:
        return "unknown"
    if row.used_at is None and row.expires_at <= now:
        return "expired"
    return "used"


async def open_session(s: AsyncSession, user_id: int, now: datetime) -> tuple[str, str]:
    """A new browser session: (cookie token, form token)."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    s.add(
        WebSession(
            token_hash=token_hash(token),
            user_id=user_id,
            csrf=csrf,
            created_at=now,
            seen_at=now,
        )
    )
    await s.flush()
    return token, csrf


async def live_session(
    s: AsyncSession, token: str, now: datetime, idle: timedelta, touch_every: timedelta
) -> tuple[WebSession, User] | None:
    """The session behind a cookie and its active user, unless ended or idle too long;
    marks it seen (at most once per `touch_every`, to spare writes)."""
    row = (
        await s.execute(
            select(WebSession, User)
            .join(User, User.id == WebSession.user_id)
            .where(WebSession.token_hash == token_hash(token))
        )
    ).first()
    if row is None:
        return None
    session, user = row
    if session.ended_at is not None or now - session.seen_at > idle or not user.active:
        return None
    if now - session.seen_at >= touch_every:
        session.seen_at = now
        await s.flush()
    return session, user


async def end_session(s: AsyncSession, token: str, now: datetime) -> bool:
    result = await s.execute(
        update(WebSession)
        .where(WebSession.token_hash == token_hash(token), WebSession.ended_at.is_(None))
        .values(ended_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
