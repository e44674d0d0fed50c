"""Shared steps of every handler: who is writing, in which language, and polite refusals."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.context import sender_user
from bot.i18n import language_of
from bot.sending import send
from bot.services import Services, services
from storage import User


def client_language(update: Update, svc: Services) -> str:
    user = update.effective_user
    return language_of(user.language_code if user else None, svc.settings.default_language)


def language(user: User | None, update: Update, svc: Services) -> str:
    if user is not None and user.language:
        return user.language
    return client_language(update, svc)


async def registered_user(update: Update, context: ContextTypes.DEFAULT_TYPE) -> User | None:
    """The registered, active user behind this update; otherwise tell them how to get in."""
    svc = services(context)
    sender = update.effective_user
    if sender is None or update.effective_chat is None:
        return None
    user = await sender_user(context, sender.id)
    if user is None:
        lang = client_language(update, svc)
        if update.callback_query is not None:
            await update.callback_query.answer(svc.t(lang, "You are not registered yet."))
        await send(
            context.bot,
            update.effective_chat.id,
            svc.t(
                lang,
                "Welcome to Hucha. You need an invitation to use this bot: ask your township "
                "or county office for an invitation code, then send /start CODE.",
            ),
        )
        return None
    return user
