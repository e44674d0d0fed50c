"""Invitations (邀请码) as use cases: issue a one-time code for a role in an area, and redeem
one to register (or rebind) a person. The operator issues from the command line
(`hucha invite`); an office may issue for its own area or one within it
(`services.policy.may`). Redeeming needs no account: the code is the permission."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.policy import Deed, Subject, require
from services.runtime import Runtime, acting_user
from storage.areas import area_contains, get_area
from storage.bots import bot_serving
from storage.errors import InvitationError, InvitationFailure
from storage.users import (
    DEFAULT_INVITATION_TTL,
    create_invitation,
    redeem_invitation,
    user_by_telegram_id,
)


@dataclass(frozen=True)
class Issued:
    """A new invitation, and the username of the bot of its area when it has one."""

    code: str
    role: str
    area_code: str
    expires_at: datetime
    bot_username: str | None


async def issue(
    rt: Runtime,
    user_id: int | None,
    role: str,
    area_code: str,
    ttl: timedelta = DEFAULT_INVITATION_TTL,
) -> Issued:
    """Issue an invitation to `role` in `area_code`, valid for `ttl`. `user_id` None is the
    server's operator (the command line); a person must be an office of that area or above."""
    now = rt.clock()
    async with rt.sessionmaker.begin() as s:
        if user_id is not None:
            user = await acting_user(s, user_id)
            require(user, Deed.INVITE, Subject(await area_contains(s, user.area_code, area_code)))
        invitation = await create_invitation(s, role, area_code, now, ttl, user_id)
        # With several bots, the link opens the bot of the invitation's area.
        own = await bot_serving(s, area_code)
        return Issued(
            invitation.code,
            invitation.role,
            invitation.area_code,
            invitation.expires_at,
            own.username if own is not None else None,
        )


@dataclass(frozen=True)
class Registered:
    """The person an invitation registered (or rebound), in the language they read."""

    user_id: int
    name: str
    role: str
    area_code: str
    area_name: str
    language: str


@dataclass(frozen=True)
class Refused:
    """A code that registers nobody: `reason` is unknown, used, expired or elsewhere (an area
    the bot it came to does not serve: `area_code`, and the code stays valid there)."""

    reason: InvitationFailure
    area_code: str | None
    language: str


async def redeem(
    rt: Runtime,
    code: str,
    telegram_id: int,
    name: str,
    language: str,
    within: str | None = None,
) -> Registered | Refused:
    """Spend `code` for the person behind `telegram_id`. `language` is their client's; a
    person known already keeps the language they chose. `within` is the area of the bot the
    code came to (None: a bot serving everyone)."""
    now = rt.clock()
    try:
        async with rt.sessionmaker.begin() as s:
            known = await user_by_telegram_id(s, telegram_id)
            if known is not None and known.language:
                language = known.language
            user = await redeem_invitation(s, code, telegram_id, name, language, now, within)
            area = await get_area(s, user.area_code)
            return Registered(
                user.id,
                user.name,
                user.role,
                user.area_code,
                area.name if area is not None else user.area_code,
                language,
            )
    except InvitationError as error:
        return Refused(error.reason, error.area_code, language)
