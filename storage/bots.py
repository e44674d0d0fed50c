"""The bots of a deployment (机器人): a province may run one bot per county, each serving an
area. A person, an invitation and a reminder belong to the bot of their area: the bot whose
area is theirs or the nearest above it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.areas import ancestry_cte
from storage.errors import StorageError
from storage.models import Area, BotAccount

# The name of an environment variable: letters, digits and underscores, not starting with a digit.
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A bot serves a county or a larger area, never a township or a village.
BOT_LEVELS = ("county",)


@dataclass(frozen=True)
class BotRecord:
    """A bot as the rest of the program sees it (the token stays in its variable)."""

    id: int
    area_code: str
    area_name: str
    token_env: str
    username: str
    added_at: datetime


def _record(account: BotAccount, area: Area | None) -> BotRecord:
    name = area.name if area is not None else account.area_code
    return BotRecord(
        account.id, account.area_code, name, account.token_env, account.username, account.added_at
    )


async def add_bot(
    s: AsyncSession, area_code: str, token_env: str, username: str, now: datetime
) -> BotRecord:
    """Record that the bot `username`, whose token is in the variable `token_env`, serves
    `area_code`. An area has one bot, and a bot one area."""
    if not _VARIABLE.fullmatch(token_env):
        raise StorageError(
            "{name} is not the name of an environment variable.", {"name": token_env}
        )
    area = await s.get(Area, area_code)
    if area is None:
        raise StorageError("Unknown area {code}.", {"code": area_code})
    if area.parent_code is not None and area.level not in BOT_LEVELS:
        raise StorageError(
            "A bot serves a county or a larger area; {area} is not one.", {"area": area.name}
        )
    serving = await s.scalar(select(BotAccount).where(BotAccount.area_code == area_code))
    if serving is not None:
        raise StorageError(
            "{area} has a bot already (@{username}); remove it first.",
            {"area": area.name, "username": serving.username},
        )
    taken = await s.scalar(select(BotAccount).where(BotAccount.username == username))
    if taken is not None:
        other = await s.get(Area, taken.area_code)
        raise StorageError(
            "The bot @{username} serves {area} already.",
            {"username": username, "area": other.name if other else taken.area_code},
        )
    account = BotAccount(area_code=area_code, token_env=token_env, username=username, added_at=now)
    s.add(account)
    await s.flush()
    return _record(account, area)


async def list_bots(s: AsyncSession) -> list[BotRecord]:
    """Every bot of the deployment, in the order they were added."""
    rows = await s.execute(
        select(BotAccount, Area)
        .join(Area, Area.code == BotAccount.area_code, isouter=True)
        .order_by(BotAccount.id)
    )
    return [_record(account, area) for account, area in rows]


async def remove_bot(s: AsyncSession, area_code: str) -> BotRecord:
    """Stop the bot of `area_code` serving it (its people then belong to the bot above, or,
    with no bot left, to the single bot of HUCHA_TELEGRAM_TOKEN)."""
    account = await s.scalar(select(BotAccount).where(BotAccount.area_code == area_code))
    if account is None:
        raise StorageError("No bot serves the area {code}.", {"code": area_code})
    record = _record(account, await s.get(Area, area_code))
    await s.delete(account)
    await s.flush()
    return record


async def bot_serving(s: AsyncSession, area_code: str) -> BotRecord | None:
    """The bot of an area: the one of the area itself or of its nearest ancestor."""
    chain = ancestry_cte(area_code)
    row = (
        await s.execute(
            select(BotAccount, Area)
            .join(chain, chain.c.code == BotAccount.area_code)
            .join(Area, Area.code == BotAccount.area_code)
            .order_by(chain.c.depth)
            .limit(1)
        )
    ).first()
    return _record(row[0], row[1]) if row is not None else None
