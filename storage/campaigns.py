"""Campaigns (专项排查): an office opens one for its area with a name, a start, an end and a
rectification cut-off (seed 002: problems found from 14 to 31 December, "确保5月31日前全部整改
到位"). A problem is found in a campaign when its household lies in the campaign's area and it
was raised between the start and the end (local days, both included); its deadline never passes
the cut-off unless an office says so.

A draft is a campaign being entered in the chat one answer at a time: it lives in the same table,
counts for nothing and is opened (or forgotten) at the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.areas import area_contains, codes_within, get_area
from storage.audit import audit
from storage.errors import StorageError
from storage.models import Area, Campaign

DEFAULT_ZONE = "Asia/Shanghai"
MAX_NAME = 200
MAX_DAYS = 3 * 366  # from the start to the cut-off


class CampaignError(StorageError):
    """A campaign that cannot be opened as given; nothing was written."""


@dataclass(frozen=True)
class CampaignFacts:
    """An open campaign, as screens, reminders and reports name it."""

    id: int
    area_code: str
    area_name: str
    name: str
    starts_on: date
    ends_on: date
    cutoff: date

    def covers(self, day: date) -> bool:
        return self.starts_on <= day <= self.ends_on


def _facts(campaign: Campaign, area_name: str) -> CampaignFacts:
    assert campaign.starts_on and campaign.ends_on and campaign.cutoff
    return CampaignFacts(
        campaign.id,
        campaign.area_code,
        area_name,
        campaign.name,
        campaign.starts_on,
        campaign.ends_on,
        campaign.cutoff,
    )


def check_dates(start: date, end: date, cutoff: date) -> None:
    """Refuse dates that make no campaign: an end before the start, a cut-off before the end."""
    if end < start:
        raise CampaignError("The campaign cannot end before it starts.")
    if cutoff < end:
        raise CampaignError("The rectification cut-off cannot come before the campaign ends.")
    if (cutoff - start).days > MAX_DAYS:
        raise CampaignError("A campaign runs at most three years from its start to its cut-off.")


def clean_name(name: str) -> str:
    cleaned = " ".join(name.split())[:MAX_NAME]
    if not cleaned:
        raise CampaignError("Please give the campaign a name.")
    return cleaned


async def _overlapping(
    s: AsyncSession, area_code: str, start: date, end: date
) -> CampaignFacts | None:
    """An open campaign of the same area whose days meet [start, end]."""
    found = await s.scalar(
        select(Campaign)
        .where(
            Campaign.status == "open",
            Campaign.area_code == area_code,
            Campaign.starts_on <= end,
            Campaign.ends_on >= start,
        )
        .limit(1)
    )
    if found is None:
        return None
    area = await get_area(s, area_code)
    return _facts(found, area.name if area is not None else area_code)


async def open_campaign(
    s: AsyncSession,
    area_code: str,
    name: str,
    start: date,
    end: date,
    cutoff: date,
    now: datetime,
    user_id: int | None = None,
) -> CampaignFacts:
    """Open a campaign for an area (who may do so is the caller's business)."""
    area = await get_area(s, area_code)
    if area is None:
        raise CampaignError("Unknown area {code}.", {"code": area_code})
    name = clean_name(name)
    check_dates(start, end, cutoff)
    clash = await _overlapping(s, area_code, start, end)
    if clash is not None:
        raise CampaignError(
            "The campaign {name} of this area already runs on some of these days.",
            {"name": clash.name},
        )
    campaign = Campaign(
        area_code=area_code,
        name=name,
        starts_on=start,
        ends_on=end,
        cutoff=cutoff,
        status="open",
        created_by_user_id=user_id,
        created_at=now,
        opened_at=now,
    )
    s.add(campaign)
    await s.flush()
    await audit(
        s,
        "campaign.open",
        f"campaign:{campaign.id}",
        now,
        user_id=user_id,
        details={
            "area": area_code,
            "name": name,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "cutoff": cutoff.isoformat(),
        },
    )
    return _facts(campaign, area.name)


async def campaigns_for(s: AsyncSession, area_code: str) -> list[CampaignFacts]:
    """The open campaigns of an area, of the areas above it and of those within it, newest
    first."""
    above = await _ancestry(s, area_code)
    rows = await s.execute(
        select(Campaign, Area.name)
        .join(Area, Area.code == Campaign.area_code)
        .where(
            Campaign.status == "open",
            Campaign.area_code.in_(above) | Campaign.area_code.in_(codes_within(area_code)),
        )
        .order_by(Campaign.starts_on.desc(), Campaign.id.desc())
    )
    return [_facts(campaign, name) for campaign, name in rows]


async def _ancestry(s: AsyncSession, code: str) -> list[str]:
    """The area and those above it."""
    chain: list[str] = []
    current = await get_area(s, code)
    while current is not None and current.code not in chain:
        chain.append(current.code)
        current = await get_area(s, current.parent_code) if current.parent_code else None
    return chain


def covering(
    campaigns: Sequence[CampaignFacts], chain: Sequence[str], day: date
) -> CampaignFacts | None:
    """The campaign an area (with `chain`, itself and the areas above it) is in on `day`: the
    one of the nearest area, the latest started when two meet."""
    best: tuple[int, date, CampaignFacts] | None = None
    for campaign in campaigns:
        if campaign.area_code not in chain or not campaign.covers(day):
            continue
        rank = (len(chain) - list(chain).index(campaign.area_code), campaign.starts_on, campaign)
        if best is None or rank[:2] > best[:2]:
            best = rank
    return best[2] if best is not None else None


async def campaign_covering(s: AsyncSession, area_code: str, day: date) -> CampaignFacts | None:
    """The campaign an area lies in on a local day, if any."""
    chain = await _ancestry(s, area_code)
    rows = await s.execute(
        select(Campaign, Area.name)
        .join(Area, Area.code == Campaign.area_code)
        .where(
            Campaign.status == "open",
            Campaign.area_code.in_(chain),
            Campaign.starts_on <= day,
            Campaign.ends_on >= day,
        )
    )
    return covering([_facts(c, name) for c, name in rows], chain, day)


async def campaign_in_force(s: AsyncSession, area_code: str, day: date) -> CampaignFacts | None:
    """The campaign an area is in on a day, from its start until its cut-off (the findings
    are over at its end, the rectification goes on): the latest started."""
    chain = await _ancestry(s, area_code)
    row = (
        await s.execute(
            select(Campaign, Area.name)
            .join(Area, Area.code == Campaign.area_code)
            .where(
                Campaign.status == "open",
                Campaign.area_code.in_(chain),
                Campaign.starts_on <= day,
                Campaign.cutoff >= day,
            )
            .order_by(Campaign.starts_on.desc(), Campaign.id.desc())
            .limit(1)
        )
    ).first()
    return _facts(row[0], row[1]) if row is not None else None


async def open_campaigns(s: AsyncSession) -> list[CampaignFacts]:
    """Every open campaign (a county has few): for a reminder sweep."""
    rows = await s.execute(
        select(Campaign, Area.name)
        .join(Area, Area.code == Campaign.area_code)
        .where(Campaign.status == "open")
    )
    return [_facts(campaign, name) for campaign, name in rows]


# ---------------------------------------------------------------- drafts in the chat

DRAFT_STEPS = ("name", "start", "end", "cutoff")


async def start_draft(s: AsyncSession, user_id: int, area_code: str, now: datetime) -> Campaign:
    """A new draft for the person (an earlier unfinished one of theirs is dropped)."""
    await s.execute(
        delete(Campaign).where(Campaign.created_by_user_id == user_id, Campaign.status == "draft")
    )
    draft = Campaign(
        area_code=area_code, status="draft", created_by_user_id=user_id, created_at=now
    )
    s.add(draft)
    await s.flush()
    return draft


async def draft_of(s: AsyncSession, draft_id: int, user_id: int) -> Campaign:
    draft = await s.get(Campaign, draft_id)
    if draft is None or draft.status != "draft" or draft.created_by_user_id != user_id:
        raise CampaignError("This campaign is no longer being entered; send /campaign again.")
    return draft


async def within(s: AsyncSession, ancestor: str, code: str) -> bool:
    return await area_contains(s, ancestor, code)


async def campaign_of_problem(
    s: AsyncSession, village_code: str, raised_at: datetime
) -> CampaignFacts | None:
    """The campaign a problem was found in: its village's, on the local day it was raised."""
    area = await get_area(s, village_code)
    zone = ZoneInfo(area.timezone if area is not None and area.timezone else DEFAULT_ZONE)
    return await campaign_covering(s, village_code, raised_at.astimezone(zone).date())


async def cutoff_on(s: AsyncSession, village_code: str, day: date) -> date | None:
    """The cut-off a problem found in a village on a local day must be rectified by, if a
    campaign runs there then."""
    campaign = await campaign_covering(s, village_code, day)
    return campaign.cutoff if campaign is not None else None
