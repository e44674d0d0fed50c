"""/campaign: the campaigns (专项排查) of the person's area, and for an office, a new one entered
answer by answer (name, start, end, rectification cut-off). What has been answered is kept in
the database (a draft and the awaited answer), so a restart loses nothing."""

from __future__ import annotations

from html import escape

from telegram import Message, Update
from telegram.ext import ContextTypes

from bot.handlers.common import language, registered_user
from bot.i18n import Translator, format_day
from bot.sending import send
from bot.services import services
from services import campaigns
from services.policy import Deed, may
from storage import User
from storage.campaigns import CampaignFacts
from storage.errors import StorageError


def campaign_line(t: Translator, lang: str, campaign: CampaignFacts) -> str:
    """A campaign in one line: its name, area, days and cut-off."""
    return t(
        lang,
        "{name} ({area}): found from {start} to {end}, all rectified by {cutoff}",
        name=campaign.name,
        area=campaign.area_name,
        start=format_day(campaign.starts_on, lang),
        end=format_day(campaign.ends_on, lang),
        cutoff=format_day(campaign.cutoff, lang),
    )


def step_prompt(t: Translator, lang: str, step: str) -> str:
    prompts = {
        "name": t(
            lang,
            "Opening a campaign for your area. Send its name. Send /cancel to stop.",
        ),
        "start": t(lang, "Send the campaign's first day, like 2026-12-14."),
        "end": t(lang, "Send the campaign's last day of finding problems, like 2026-12-31."),
        "cutoff": t(
            lang,
            "Send the day by which every problem found in it must be rectified, like 2027-05-31.",
        ),
    }
    return prompts[step]


async def on_campaign(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/campaign: the area's campaigns; an office then enters a new one."""
    svc = services(context)
    user = await registered_user(update, context)
    chat = update.effective_chat
    if user is None or chat is None:
        return
    lang = language(user, update, svc)
    found = await campaigns.list_for(svc.runtime, user.id, user.area_code)
    title = svc.t(lang, "Campaigns")
    lines = [f"<b>{escape(title)}</b>"]
    if found:
        lines += [f"• {escape(campaign_line(svc.t, lang, c))}" for c in found]
    else:
        lines.append(escape(svc.t(lang, "No campaign has been opened for your area.")))
    if not may(user, Deed.OPEN_CAMPAIGN):
        lines.append(escape(svc.t(lang, "Only an office can open a campaign.")))
        await send(context.bot, chat.id, "\n".join(lines))
        return
    step = await campaigns.begin(svc.runtime, user.id)
    assert step.asks is not None
    lines += ["", escape(step_prompt(svc.t, lang, step.asks))]
    await send(context.bot, chat.id, "\n".join(lines))


async def on_campaign_input(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    user: User,
    draft_id: int,
    step: str | None,
    message: Message,
) -> None:
    """An answer to the step of a campaign being entered."""
    svc = services(context)
    lang = language(user, update, svc)
    text = (message.text or "").strip()
    try:
        done = await campaigns.answer(svc.runtime, user.id, draft_id, step or "name", text)
    except StorageError as error:
        # The same step is asked again: the answers given so far are kept.
        again = step_prompt(svc.t, lang, step or "name")
        reason = svc.t(lang, error.message_id, **error.params)
        await send(context.bot, message.chat_id, escape(f"{reason}\n{again}"))
        return
    if done.opened is None:
        assert done.asks is not None
        await send(context.bot, message.chat_id, escape(step_prompt(svc.t, lang, done.asks)))
        return
    opened = svc.t(lang, "Campaign opened: {line}", line=campaign_line(svc.t, lang, done.opened))
    rule = svc.t(
        lang,
        "Problems found in it are due by the cut-off at the latest; only an office can set a "
        "later deadline, and says so explicitly.",
    )
    await send(context.bot, message.chat_id, f"✅ {escape(opened)}\n{escape(rule)}")
