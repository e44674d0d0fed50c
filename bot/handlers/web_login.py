"""/web: a one-time link into the web dashboard, for every role (see services.access)."""

from __future__ import annotations

from html import escape

from telegram import Update
from telegram.ext import ContextTypes

from bot.handlers.common import language, registered_user
from bot.sending import send
from bot.services import services
from services import access


async def on_web(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    svc = services(context)
    user = await registered_user(update, context)
    chat = update.effective_chat
    if user is None or chat is None:
        return
    lang = language(user, update, svc)
    base = svc.settings.web_url
    if not base:
        text = svc.t(lang, "The web dashboard is not set up here. Please ask your office.")
        await send(context.bot, chat.id, escape(text))
        return
    token = await access.issue_login(svc.runtime, user.id)
    link = f"{base.rstrip('/')}/login/{token}"
    text = svc.t(
        lang,
        "Open this link in your browser to sign in to the dashboard. It works once, "
        "for 10 minutes, and only for you: do not forward it.",
    )
    await send(context.bot, chat.id, f"{escape(text)}\n{escape(link)}")
