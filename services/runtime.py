"""What every use case needs: the database, the clock and the questionnaires."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conversations import Form
from storage.areas import get_area
from storage.errors import StorageError
from storage.models import User

DEFAULT_ZONE = "Asia/Shanghai"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Runtime:
    """The database session factory, the clock (tests move it) and the loaded forms."""

    sessionmaker: async_sessionmaker[AsyncSession]
    clock: Callable[[], datetime] = utc_now
    forms: Mapping[str, Form] = field(default_factory=dict)


async def acting_user(s: AsyncSession, user_id: int) -> User:
    """The registered, active user behind a request; refused otherwise."""
    user = await s.get(User, user_id)
    if user is None or not user.active:
        raise StorageError("Unknown user.")
    return user


async def area_zone(s: AsyncSession, area_code: str) -> str:
    area = await get_area(s, area_code)
    return area.timezone if area is not None else DEFAULT_ZONE


def local_date(now: datetime, zone: str) -> date:
    return now.astimezone(ZoneInfo(zone)).date()
