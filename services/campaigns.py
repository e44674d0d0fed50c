"""Campaigns (专项排查) as use cases: an office opens one for its area, at once (the command line,
`hucha campaign open`) or answer by answer in the chat (/campaign); everyone sees the campaigns
of their area. Who may open one is `services.policy.may` (offices, for their own area)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from conversations.answers import parse_date
from services.policy import Deed, Subject, require
from services.runtime import Runtime, acting_user
from storage.campaigns import (
    DRAFT_STEPS,
    CampaignError,
    CampaignFacts,
    campaigns_for,
    check_dates,
    clean_name,
    draft_of,
    open_campaign,
    start_draft,
    within,
)
from storage.prompts import await_input, clear_input


async def open_for_area(
    rt: Runtime,
    user_id: int | None,
    area_code: str | None,
    name: str,
    start: date,
    end: date,
    cutoff: date,
) -> CampaignFacts:
    """Open a campaign. `user_id` None is the server's operator (the command line), who names
    the area; a person must be an office, and the area their own or one within it."""
    now = rt.clock()
    async with rt.sessionmaker.begin() as s:
        if user_id is not None:
            user = await acting_user(s, user_id)
            code = area_code or user.area_code
            require(user, Deed.OPEN_CAMPAIGN, Subject(await within(s, user.area_code, code)))
        elif area_code is None:
            raise CampaignError("Please name the campaign's area.")
        else:
            code = area_code
        return await open_campaign(s, code, name, start, end, cutoff, now, user_id)


async def list_for(rt: Runtime, user_id: int | None, area_code: str) -> list[CampaignFacts]:
    """The campaigns of an area (and above it, and within it); a person sees their own area's."""
    async with rt.sessionmaker() as s:
        if user_id is not None:
            area_code = (await acting_user(s, user_id)).area_code
        return await campaigns_for(s, area_code)


# ---------------------------------------------------------------- answer by answer


@dataclass(frozen=True)
class DraftStep:
    """Where a campaign being entered stands: the step asked next, or the campaign opened."""

    asks: str | None
    opened: CampaignFacts | None = None


async def begin(rt: Runtime, user_id: int) -> DraftStep:
    """/campaign: an office starts entering a campaign for its area; the name is asked first."""
    now = rt.clock()
    async with rt.sessionmaker.begin() as s:
        user = await acting_user(s, user_id)
        require(user, Deed.OPEN_CAMPAIGN)
        draft = await start_draft(s, user.id, user.area_code, now)
        await await_input(s, user.id, "campaign", draft.id, DRAFT_STEPS[0], now)
    return DraftStep(DRAFT_STEPS[0])


async def answer(rt: Runtime, user_id: int, draft_id: int, step: str, text: str) -> DraftStep:
    """One answer to the step asked. A wrong one is refused (CampaignError) and the same step is
    asked again; the last one opens the campaign."""
    now = rt.clock()
    async with rt.sessionmaker.begin() as s:
        user = await acting_user(s, user_id)
        require(user, Deed.OPEN_CAMPAIGN)
        draft = await draft_of(s, draft_id, user.id)
        if step == "name":
            draft.name = clean_name(text)
        else:
            day = parse_date(text)
            if day is None:
                raise CampaignError("I could not read a date there. Send it like 2026-12-31.")
            if step == "start":
                draft.starts_on = day
            elif step == "end":
                assert draft.starts_on is not None
                check_dates(draft.starts_on, day, max(day, draft.starts_on))
                draft.ends_on = day
            else:
                assert draft.starts_on is not None and draft.ends_on is not None
                check_dates(draft.starts_on, draft.ends_on, day)
                draft.cutoff = day
        position = DRAFT_STEPS.index(step)
        if position + 1 < len(DRAFT_STEPS):
            following = DRAFT_STEPS[position + 1]
            await await_input(s, user.id, "campaign", draft.id, following, now)
            return DraftStep(following)
        assert draft.starts_on and draft.ends_on and draft.cutoff
        name, start, end, cutoff = draft.name, draft.starts_on, draft.ends_on, draft.cutoff
        area = draft.area_code
        await s.delete(draft)
        await s.flush()
        opened = await open_campaign(s, area, name, start, end, cutoff, now, user.id)
        await clear_input(s, user.id)
    return DraftStep(None, opened)
