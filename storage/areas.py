"""The area tree (county 县 > township 乡镇 > village 村 > group 组): adding areas and the
containment questions every rights check asks."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Select, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.selectable import CTE

from storage.errors import StorageError
from storage.models import AREA_LEVELS, Area

# Deeper than any real tree (county > township > village > group); stops a corrupted,
# cyclic parent chain from recursing forever.
MAX_DEPTH = 12


async def add_area(
    s: AsyncSession,
    code: str,
    name: str,
    level: str,
    parent_code: str | None = None,
    province: str | None = None,
    timezone: str = "Asia/Shanghai",
) -> Area:
    """Add an area under `parent_code` (None for a root such as a county)."""
    if level not in AREA_LEVELS:
        raise StorageError("Unknown area level {level}.", {"level": level})
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise StorageError("Unknown time zone {zone}.", {"zone": timezone}) from None
    if await s.get(Area, code) is not None:
        raise StorageError("The area {code} exists already.", {"code": code})
    if parent_code is not None and await s.get(Area, parent_code) is None:
        raise StorageError("Unknown area {code}.", {"code": parent_code})
    area = Area(
        code=code,
        name=name,
        level=level,
        parent_code=parent_code,
        province=province,
        timezone=timezone,
        settings={},
    )
    s.add(area)
    await s.flush()
    return area


async def get_area(s: AsyncSession, code: str) -> Area | None:
    return await s.get(Area, code)


def descendants_cte(code: str) -> CTE:
    """A recursive CTE of `code` and every area below it (columns `code`, `depth`)."""
    tree = (
        select(Area.code, literal(0).label("depth"))
        .where(Area.code == code)
        .cte("area_tree", recursive=True)
    )
    below = (
        select(Area.code, tree.c.depth + 1)
        .join(tree, Area.parent_code == tree.c.code)
        .where(tree.c.depth < MAX_DEPTH)
    )
    return tree.union_all(below)


def codes_within(code: str) -> Select[str]:
    """A SELECT of `code` and its descendants, to use in `column.in_(...)`."""
    tree = descendants_cte(code)
    return select(tree.c.code)


def ancestry_cte(code: str) -> CTE:
    """A recursive CTE of `code` and its ancestors, with their distance from `code`."""
    chain = (
        select(Area.code, Area.parent_code, Area.province, literal(0).label("depth"))
        .where(Area.code == code)
        .cte("area_chain", recursive=True)
    )
    above = (
        select(Area.code, Area.parent_code, Area.province, chain.c.depth + 1)
        .join(chain, Area.code == chain.c.parent_code)
        .where(chain.c.depth < MAX_DEPTH)
    )
    return chain.union_all(above)


async def area_codes_within(s: AsyncSession, code: str) -> list[str]:
    """The codes of the area and all areas below it; empty when the area is unknown."""
    result = await s.scalars(codes_within(code))
    return sorted(result)


async def area_contains(s: AsyncSession, ancestor_code: str, code: str) -> bool:
    """Whether `code` is `ancestor_code` itself or lies below it."""
    chain = ancestry_cte(code)
    found = await s.scalar(
        select(func.count()).select_from(chain).where(chain.c.code == ancestor_code)
    )
    return bool(found)


async def province_of(s: AsyncSession, code: str) -> str | None:
    """The province (省) of an area: its own, or the nearest ancestor's that has one."""
    chain = ancestry_cte(code)
    return await s.scalar(
        select(chain.c.province)
        .where(chain.c.province.is_not(None))
        .order_by(chain.c.depth)
        .limit(1)
    )


async def provinces_within(s: AsyncSession, code: str | None = None) -> list[str | None]:
    """The provinces (省) the villages of an area (or of every area) lie in: the area's own
    and any set below it, sorted; [None] when none is set."""
    found: set[str] = set()
    if code is not None:
        own = await province_of(s, code)
        if own is not None:
            found.add(own)
    query = select(Area.province).where(Area.province.is_not(None)).distinct()
    if code is not None:
        query = query.where(Area.code.in_(codes_within(code)))
    found.update(province for province in await s.scalars(query) if province)
    provinces: list[str | None] = [*sorted(found)]
    return provinces or [None]
