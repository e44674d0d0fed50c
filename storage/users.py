"""Users and invitations (邀请码): nobody gets in without a one-time, expiring code."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.areas import area_contains
from storage.audit import audit
from storage.errors import InvitationError, StorageError
from storage.models import (
    LANGUAGES,
    ROLES,
    Area,
    Channel,
    Identity,
    Invitation,
    PendingInput,
    User,
)

# Upper case without the look-alikes 0/O and 1/I, so a code read aloud or typed survives.
INVITATION_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
INVITATION_LENGTH = 8
DEFAULT_INVITATION_TTL = timedelta(days=7)


def new_invitation_code() -> str:
    return "".join(secrets.choice(INVITATION_ALPHABET) for _ in range(INVITATION_LENGTH))


def normalized_invitation_code(code: str) -> str:
    """The code as stored: spaces (and the dashes people add) removed, upper case."""
    return "".join(code.split()).replace("-", "").upper()


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise StorageError("Unknown role {role}.", {"role": role})


def _check_language(language: str | None) -> None:
    if language is not None and language not in LANGUAGES:
        raise StorageError("Unknown language {language}.", {"language": language})


async def create_invitation(
    s: AsyncSession,
    role: str,
    area_code: str,
    now: datetime,
    ttl: timedelta = DEFAULT_INVITATION_TTL,
    created_by_user_id: int | None = None,
) -> Invitation:
    """Issue a one-time invitation to `role` in `area_code`, valid for `ttl` from `now`."""
    _check_role(role)
    if ttl <= timedelta(0):
        raise StorageError("An invitation must be valid for some time.")
    if await s.get(Area, area_code) is None:
        raise StorageError("Unknown area {code}.", {"code": area_code})
    code = new_invitation_code()
    while await s.get(Invitation, code) is not None:
        code = new_invitation_code()
    invitation = Invitation(
        code=code,
        role=role,
        area_code=area_code,
        created_by_user_id=created_by_user_id,
        created_at=now,
        expires_at=now + ttl,
    )
    s.add(invitation)
    await s.flush()
    await audit(
        s,
        "invitation.created",
        f"area:{area_code}",
        now,
        user_id=created_by_user_id,
        details={"role": role, "expires_at": invitation.expires_at.isoformat()},
    )
    return invitation


async def redeem_invitation(
    s: AsyncSession,
    code: str,
    address: int | str,
    name: str,
    language: str | None,
    now: datetime,
    within: str | None = None,
    channel: Channel = Channel.TELEGRAM,
) -> User:
    """Use an invitation: register the person writing from `address` on `channel` (for
    Telegram, their user id) with that identity, or rebind an existing one's role and area.

    Raises InvitationError with reason "unknown", "used" or "expired", or "elsewhere" when
    `within` (the area of the bot it came to) does not hold the invitation's area: then the
    code stays unused, for the bot of its area. A language we do not speak is dropped (the
    user then follows the Telegram client) rather than refusing entry.
    """
    if language not in LANGUAGES:
        language = None
    code = normalized_invitation_code(code)
    if within is not None:
        wanted = await s.get(Invitation, code)
        if wanted is not None and not await area_contains(s, within, wanted.area_code):
            raise InvitationError("elsewhere", wanted.area_code)
    # One conditional update claims the code: of several people redeeming it at once, on
    # SQLite as on PostgreSQL, exactly one sees a row changed.
    claimed = await s.execute(
        update(Invitation)
        .where(
            Invitation.code == code,
            Invitation.used_at.is_(None),
            Invitation.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        found = await s.get(Invitation, code, populate_existing=True)
        if found is None:
            raise InvitationError("unknown")
        if found.used_at is not None:
            raise InvitationError("used")
        raise InvitationError("expired")
    invitation = await s.get(Invitation, code, populate_existing=True)
    assert invitation is not None

    user = await user_by_address(s, channel, str(address))
    if user is None:
        user = User(
            name=name,
            role=invitation.role,
            area_code=invitation.area_code,
            language=language,
            active=True,
            created_at=now,
        )
        s.add(user)
        await s.flush()
        s.add(Identity(user_id=user.id, channel=channel, address=str(address)))
        action = "user.registered"
    else:
        user.role = invitation.role
        user.area_code = invitation.area_code
        user.active = True
        user.blocked_bot = False
        if language is not None and user.language is None:
            user.language = language
        action = "user.rebound"
    await s.flush()

    invitation.used_by_user_id = user.id
    await s.flush()
    await audit(
        s,
        action,
        f"user:{user.id}",
        now,
        user_id=user.id,
        details={
            "invitation": invitation.code,
            "role": invitation.role,
            "area_code": invitation.area_code,
        },
    )
    return user


async def users_by_id(s: AsyncSession, user_ids: Iterable[int]) -> dict[int, User]:
    """The users with these ids, by id."""
    wanted = set(user_ids)
    if not wanted:
        return {}
    return {user.id: user for user in await s.scalars(select(User).where(User.id.in_(wanted)))}


async def user_by_address(s: AsyncSession, channel: Channel, address: str) -> User | None:
    """The person who has this address on this channel: one statement, on the identities'
    unique index."""
    return await s.scalar(
        select(User)
        .join(Identity, Identity.user_id == User.id)
        .where(Identity.channel == channel, Identity.address == address)
    )


# Built once: every message a person sends runs it.
_SENDER_BY_ADDRESS = (
    select(User, PendingInput)
    .join(Identity, Identity.user_id == User.id)
    .outerjoin(PendingInput, PendingInput.user_id == User.id)
    .where(Identity.channel == bindparam("b_channel"), Identity.address == bindparam("b_address"))
)


async def sender_by_address(
    s: AsyncSession, channel: Channel, address: str
) -> tuple[User, PendingInput | None] | None:
    """The person with this address and what the bot waits for from them (a note, a reason,
    stale or not), in one statement: every message a person sends needs both."""
    found = await s.execute(_SENDER_BY_ADDRESS, {"b_channel": channel, "b_address": address})
    row = found.first()
    return (row[0], row[1]) if row is not None else None


async def user_by_telegram_id(s: AsyncSession, telegram_id: int) -> User | None:
    """The person writing from this Telegram account."""
    return await user_by_address(s, Channel.TELEGRAM, str(telegram_id))


async def address_of(s: AsyncSession, user_id: int, channel: Channel) -> str | None:
    """Where to write to a person on a channel; None when they have no identity there."""
    return await s.scalar(
        select(Identity.address).where(Identity.user_id == user_id, Identity.channel == channel)
    )


async def _user(s: AsyncSession, user_id: int) -> User:
    user = await s.get(User, user_id)
    if user is None:
        raise StorageError("Unknown user.")
    return user


async def set_language(s: AsyncSession, user_id: int, language: str | None) -> User:
    """Set the user's language ("zh_CN" or "en"); None follows the Telegram client again."""
    _check_language(language)
    user = await _user(s, user_id)
    user.language = language
    await s.flush()
    return user


async def set_active(s: AsyncSession, user_id: int, active: bool) -> User:
    """Enable or disable a user, as an office does (a disabled user is treated like a
    stranger); unblocking the bot does not undo this."""
    user = await _user(s, user_id)
    user.active = active
    user.blocked_bot = False
    await s.flush()
    return user


async def set_blocked_bot(s: AsyncSession, telegram_id: int, blocked: bool) -> User | None:
    """The person blocked (or unblocked) the bot: blocking makes an active user inactive,
    and unblocking undoes only that, never a deactivation by an office."""
    user = await user_by_telegram_id(s, telegram_id)
    if user is None:
        return None
    if blocked and user.active:
        user.active, user.blocked_bot = False, True
    elif not blocked and not user.active and user.blocked_bot:
        user.active, user.blocked_bot = True, False
    await s.flush()
    return user
