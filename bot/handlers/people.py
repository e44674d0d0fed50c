"""Who may use the bot: /start with an invitation code, /help, /lang."""

from __future__ import annotations

import contextlib
from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot.callbacks import ChooseLanguage, encode
from bot.context import forget_user, sender_user
from bot.handlers.common import client_language, language, registered_user
from bot.i18n import LANGUAGES, Translator
from bot.menu import set_menu_for
from bot.sending import send
from bot.services import Services, services
from services import invitations
from storage import (
    get_area,
    set_blocked_bot,
    set_language,
    user_by_telegram_id,
)
from storage.bots import BotRecord


async def on_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start CODE binds this Telegram user to the invitation's role and area."""
    svc = services(context)
    sender = update.effective_user
    chat = update.effective_chat
    if sender is None or chat is None:
        return
    code = " ".join(context.args or []).strip()
    if not code:
        async with svc.sessionmaker() as s:
            known = await user_by_telegram_id(s, sender.id)
        if known is not None and known.active:
            await on_help(update, context)
            return
        await registered_user(update, context)
        return
    lang = client_language(update, svc)
    name = " ".join(p for p in (sender.first_name, sender.last_name) if p)
    within = svc.serving.area_code if svc.serving is not None else None
    outcome = await invitations.redeem(svc.runtime, code, sender.id, name, lang, within)
    if isinstance(outcome, invitations.Refused):
        lang = outcome.language
        if outcome.reason == "elsewhere" and outcome.area_code is not None:
            text = await _for_another_bot(svc, lang, outcome.area_code)
        else:
            text = _refusal(svc, lang, outcome.reason)
        await send(context.bot, chat.id, escape(text))
        return
    lang = outcome.language
    roles = {
        "cadre": svc.t(lang, "village cadre"),
        "leader": svc.t(lang, "team leader"),
        "office": svc.t(lang, "office"),
    }
    welcome = svc.t(
        lang,
        "Welcome, {name}! You are registered as {role} of {area}.",
        name=name,
        role=roles.get(outcome.role, outcome.role),
        area=outcome.area_name,
    )
    await set_menu_for(
        context.bot, chat.id, outcome.role, lang, svc.t, web=bool(svc.settings.web_url)
    )
    commands = help_text(lang, svc.t, outcome.role)
    await send(context.bot, chat.id, f"✅ {escape(welcome)}\n\n{escape(commands)}")


def _refusal(svc: Services, lang: str, reason: str) -> str:
    reasons = {
        "unknown": svc.t(lang, "This invitation code is not known. Please check it and try again."),
        "used": svc.t(
            lang, "This invitation code has already been used. Ask your office for a new one."
        ),
        "expired": svc.t(lang, "This invitation code has expired. Ask your office for a new one."),
    }
    return reasons.get(reason, reasons["unknown"])


async def _for_another_bot(svc: Services, lang: str, area_code: str) -> str:
    """An invitation for an area this bot does not serve: which bot to open it with."""
    own = await svc.fleet.record_for(area_code) if svc.fleet is not None else None
    async with svc.sessionmaker() as s:
        area = await get_area(s, area_code)
    area_name = area.name if area is not None else area_code
    if own is None:
        return svc.t(
            lang,
            "This invitation is for {area}, which this bot does not serve. Please ask your "
            "office which bot to open it with.",
            area=area_name,
        )
    return svc.t(
        lang,
        "This invitation is for {area}, which has a bot of its own: please open it with "
        "@{username}. The code stays valid.",
        area=area_name,
        username=own.username,
    )


def _starts_with_code(update: Update) -> bool:
    """/start CODE, which the invitation's own area decides (on_start)."""
    message = update.message
    words = (message.text or "").split() if message is not None else []
    return len(words) > 1 and words[0].split("@")[0] == "/start"


def _asks_for_web(update: Update) -> bool:
    """/web: the dashboard is the same whichever bot is asked."""
    message = update.message
    words = (message.text or "").split() if message is not None else []
    return bool(words) and words[0].split("@")[0] == "/web"


async def own_bot_only(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """With several bots, a bot serves the people of its area only: a registered person of
    another area is told which bot is theirs, and nothing else of theirs is handled here
    (neither answers nor a block, which concerns this bot only)."""
    svc = services(context)
    serving = svc.serving
    if serving is None or svc.fleet is None or not isinstance(update, Update):
        return
    sender = update.effective_user
    if sender is None or _starts_with_code(update) or _asks_for_web(update):
        return
    user = await sender_user(context, sender.id)
    if user is None:
        return
    if await svc.fleet.holds(serving.area_code, user.area_code):
        return
    if update.my_chat_member is None and update.effective_chat is not None:
        lang = language(user, update, svc)
        text = await _use_own_bot(svc, lang, serving, user.area_code)
        if update.callback_query is not None:
            with contextlib.suppress(TelegramError):
                await update.callback_query.answer()
        await send(context.bot, update.effective_chat.id, escape(text))
    raise ApplicationHandlerStop


async def _use_own_bot(svc: Services, lang: str, serving: BotRecord, area_code: str) -> str:
    assert svc.fleet is not None
    own = await svc.fleet.record_for(area_code)
    if own is None:
        return svc.t(
            lang,
            "This bot serves {area} only. Please ask your office which bot serves your area.",
            area=serving.area_name,
        )
    return svc.t(
        lang,
        "This bot serves {area} only. You are registered in {own_area}: please use your own "
        "bot, @{username}.",
        area=serving.area_name,
        own_area=own.area_name,
        username=own.username,
    )


def help_text(lang: str, t: Translator, role: str = "cadre") -> str:
    """The commands this person can use, one a line."""
    lines = [
        t(lang, "/check — check a household"),
        t(lang, "/households — the households of your village")
        if role == "cadre"
        else t(lang, "/households — the households of your area"),
        t(lang, "/problems — problems to rectify, with their deadlines"),
        t(lang, "/progress — this period's checks and problems"),
        t(lang, "/cases — households under return-to-poverty monitoring"),
    ]
    if role in ("leader", "office"):
        lines.append(t(lang, "/addproblem NAME — add a problem to a household by hand"))
        lines.append(t(lang, "/export — checks, ledger or monthly report as a file"))
    if role == "office":
        lines.append(t(lang, "/import — import a roster (CSV or XLSX)"))
        lines.append(t(lang, "/campaign — the campaigns of your area; open one"))
    lines.append(t(lang, "/amend — correct a check you submitted"))
    lines.append(t(lang, "/cancel — pause the check you are doing"))
    lines.append(t(lang, "/lang — change the language"))
    lines.append(t(lang, "/help — this help"))
    return "\n".join(lines)


async def on_membership(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Blocking the bot makes a user inactive; unblocking it undoes only that."""
    svc = services(context)
    change = update.my_chat_member
    if change is None or change.chat.type != "private":
        return
    blocked = change.new_chat_member.status in ("kicked", "left")
    async with svc.sessionmaker.begin() as s:
        await set_blocked_bot(s, change.from_user.id, blocked)


async def on_help(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    svc = services(context)
    user = await registered_user(update, context)
    if user is None or update.effective_chat is None:
        return
    lang = language(user, update, svc)
    await send(context.bot, update.effective_chat.id, escape(help_text(lang, svc.t, user.role)))


async def on_lang(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    svc = services(context)
    user = await registered_user(update, context)
    if user is None or update.effective_chat is None:
        return
    lang = language(user, update, svc)
    names = {"zh_CN": "中文", "en": "English"}
    markup = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(names[code], callback_data=encode(ChooseLanguage(code)))
                for code in LANGUAGES
            ]
        ]
    )
    await send(context.bot, update.effective_chat.id, svc.t(lang, "Choose your language:"), markup)


async def on_language_chosen(
    update: Update, context: ContextTypes.DEFAULT_TYPE, choice: ChooseLanguage
) -> None:
    svc = services(context)
    query = update.callback_query
    user = await registered_user(update, context)
    if user is None or query is None or update.effective_chat is None:
        return
    if choice.language not in LANGUAGES:
        await query.answer(svc.t(language(user, update, svc), "This button is no longer valid."))
        return
    async with svc.sessionmaker.begin() as s:
        await set_language(s, user.id, choice.language)
    forget_user(context)
    await set_menu_for(
        context.bot,
        update.effective_chat.id,
        user.role,
        choice.language,
        svc.t,
        web=bool(svc.settings.web_url),
    )
    await query.answer()
    if query.message is not None:
        await query.edit_message_reply_markup(None)
    await send(
        context.bot,
        update.effective_chat.id,
        escape(svc.t(choice.language, "Language set to English.")),
    )
