"""Where each update goes: commands, buttons and messages, each for one user at a time."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Coroutine
from html import escape
from typing import Any

from telegram import BotCommandScopeDefault, Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot import callbacks
from bot.callbacks import HouseholdPage
from bot.handlers import (
    campaigns,
    cases,
    check,
    households,
    office,
    people,
    problems,
    progress,
    web_login,
)
from bot.handlers.common import client_language, language, registered_user
from bot.i18n import LANGUAGES, Translator
from bot.menu import commands
from bot.sending import send
from bot.services import KEY, services
from storage import user_by_telegram_id

log = logging.getLogger(__name__)

Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]


def one_at_a_time(handler: Handler) -> Handler:
    """Serialise the updates of one user, so that two quick taps cannot race."""

    async def wrapped(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        sender = update.effective_user
        if sender is None:
            return
        async with services(context).lock_for(sender.id):
            await handler(update, context)

    return wrapped


async def on_check(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/check [name or number]: resume the open check, or pick a household."""
    svc = services(context)
    user = await registered_user(update, context)
    if user is None:
        return
    rows = await svc.desk.open_checks(user)
    if rows:
        await check.offer_open_sessions(update, context, user, rows)
        return
    query = " ".join(context.args or []).strip()
    await households.show_households(update, context, user, HouseholdPage(0, query, "c"))


async def on_cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/cancel: pause the current check; nothing typed is lost."""
    if await problems.cancel_pending(update, context):
        return
    svc = services(context)
    user = await registered_user(update, context)
    if user is None or update.effective_chat is None:
        return
    lang = language(user, update, svc)
    visit = await svc.desk.current(user)
    if visit is None:
        await send(context.bot, update.effective_chat.id, svc.t(lang, "Nothing to cancel."))
        return
    await check.pause(context, visit, lang, check.asked_as(visit.row))


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    if query is None:
        return
    decoded = callbacks.decode(query.data)
    match decoded:
        case callbacks.CheckAction():
            await check.on_check_button(update, context, decoded)
        case callbacks.OpenHousehold(household_id):
            user = await registered_user(update, context)
            if user is None:
                return
            await query.answer()
            await check.begin_check(update, context, user, household_id)
        case callbacks.HouseholdPage():
            await households.on_household_page(update, context, decoded)
        case callbacks.OpenSession():
            await check.on_open_session(update, context, decoded)
        case callbacks.ChooseLanguage():
            await people.on_language_chosen(update, context, decoded)
        case callbacks.ProblemList():
            await problems.on_problem_list(update, context, decoded)
        case callbacks.OpenProblem():
            await problems.on_open_problem(update, context, decoded)
        case callbacks.ProblemAction():
            await problems.on_problem_action(update, context, decoded)
        case callbacks.OpenCase():
            await cases.on_open_case(update, context, decoded)
        case callbacks.CaseStep():
            await cases.on_old_step(update, context, decoded)
        case callbacks.CaseAnswer():
            await cases.on_case_answer(update, context, decoded)
        case callbacks.CaseMenu():
            await cases.on_case_menu(update, context, decoded)
        case callbacks.ExportRequest():
            await office.on_export_button(update, context, decoded)
        case _:
            svc = services(context)
            user = await registered_user(update, context)
            if user is not None:
                await query.answer(
                    svc.t(language(user, update, svc), "This button is no longer valid.")
                )


async def on_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Text, photo or location: an answer to the open check, or else a household search."""
    message = update.effective_message
    if message is None:
        return
    # A note the bot asked for after a problem card's button comes before a check's answer.
    if await problems.on_pending_input(update, context):
        return
    inp = check.message_input(message)
    if inp is None:
        if not await check.on_unreadable(update, context):
            await on_idle_message(update, context)
        return
    if await check.on_check_input(update, context, inp):
        return
    if message.text:
        user = await registered_user(update, context)
        if user is not None:
            page = HouseholdPage(0, message.text.strip()[:20], "c")
            await households.show_households(update, context, user, page)
        return
    await on_idle_message(update, context)


async def on_edited_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An edited message is never taken as the answer to whatever is asked now (it answered
    an earlier question, or was a note): say how to change an answer instead."""
    svc = services(context)
    user = await registered_user(update, context)
    if user is None or update.effective_chat is None:
        return
    lang = language(user, update, svc)
    text = svc.t(
        lang,
        "Edited messages are not read. To change an answer, use ⬅ Back, or change it on "
        "the summary before you submit.",
    )
    await send(context.bot, update.effective_chat.id, escape(text))


async def on_idle_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    svc = services(context)
    user = await registered_user(update, context)
    if user is None or update.effective_chat is None:
        return
    lang = language(user, update, svc)
    await send(
        context.bot,
        update.effective_chat.id,
        svc.t(lang, "No check is open. Send /check to start one, or /help."),
    )


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """What escaped a handler: log it, and tell the person their step did not go through, so
    that nobody waits for an answer that will not come."""
    chat = (
        update.effective_chat.id if isinstance(update, Update) and update.effective_chat else None
    )
    log.error("unhandled error (chat %s)", chat, exc_info=context.error)
    services(context).metrics.updates_failed.inc()
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    if update.effective_chat.type != "private":
        return
    svc = services(context)
    lang = client_language(update, svc)
    if update.effective_user is not None:
        with contextlib.suppress(Exception):  # the database may be what failed
            async with svc.sessionmaker() as s:
                user = await user_by_telegram_id(s, update.effective_user.id)
            lang = language(user, update, svc)
    text = svc.t(lang, "Sorry, that did not go through. Please try again.")
    try:
        if update.callback_query is not None:
            with contextlib.suppress(TelegramError):
                await update.callback_query.answer(text)
        await send(context.bot, update.effective_chat.id, text)
    except Exception:  # the person may have blocked the bot, or Telegram be away
        log.warning("could not tell chat %s to try again", chat, exc_info=True)


async def register_commands(application: Application) -> None:  # type: ignore[type-arg]
    """The command menu per language: Chinese by default, English for English clients."""
    svc = application.bot_data[KEY]
    t: Translator = svc.t
    web = bool(svc.settings.web_url)
    await application.bot.set_my_commands(
        commands("zh_CN", t, web=web), scope=BotCommandScopeDefault()
    )
    for lang in LANGUAGES:
        code = lang.split("_")[0]
        await application.bot.set_my_commands(commands(lang, t, web=web), language_code=code)


def then_remind(handler: Handler) -> Handler:
    """A command in the middle of a check answers, then says the check is still open."""

    async def wrapped(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await handler(update, context)
        svc = services(context)
        if update.effective_user is None:
            return
        async with svc.sessionmaker() as s:
            user = await user_by_telegram_id(s, update.effective_user.id)
        if user is not None and user.active:
            await check.resume_after_command(update, context, user)

    return wrapped


async def only_private_chats(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stop every update that does not come from a person's private chat with the bot.

    A group must never see a village's households, and a button pressed in a group (crafted
    or forwarded) must not open a check whose chat is the group. Such a press is answered
    with nothing, so the client stops waiting.
    """
    if not isinstance(update, Update):
        raise ApplicationHandlerStop
    chat = update.effective_chat
    if chat is not None and chat.type == ChatType.PRIVATE and update.effective_user is not None:
        return
    query = update.callback_query
    if query is not None:
        try:
            await query.answer()
        except TelegramError as error:
            log.debug("answer to a press outside a private chat failed: %s", error)
    raise ApplicationHandlerStop


def register(application: Application) -> None:  # type: ignore[type-arg]
    application.add_handler(TypeHandler(object, only_private_chats), group=-2)
    # With several bots, each serves the people of its area (bot/fleet.py).
    application.add_handler(TypeHandler(object, people.own_bot_only), group=-1)
    command_routes: dict[str, Handler] = {
        "start": people.on_start,
        "help": then_remind(people.on_help),
        "lang": then_remind(people.on_lang),
        "check": on_check,
        "households": then_remind(households.on_households),
        "problems": then_remind(problems.on_problems),
        "addproblem": then_remind(problems.on_add_problem),
        "progress": then_remind(progress.on_progress),
        "cases": then_remind(cases.on_cases),
        "cancel": on_cancel,
        "export": then_remind(office.on_export),
        "import": then_remind(office.on_import),
        "campaign": then_remind(campaigns.on_campaign),
        "amend": office.on_amend,
        "web": then_remind(web_login.on_web),
    }
    # New messages only: an edited message is answered by on_edited_message.
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    for name, handler in command_routes.items():
        # Only in private chats: a group must never see a village's households.
        application.add_handler(CommandHandler(name, one_at_a_time(handler), filters=private))
    application.add_handler(CallbackQueryHandler(one_at_a_time(on_button)))
    application.add_handler(
        ChatMemberHandler(one_at_a_time(people.on_membership), ChatMemberHandler.MY_CHAT_MEMBER)
    )
    application.add_handler(
        MessageHandler(
            filters.ChatType.PRIVATE & filters.UpdateType.EDITED,
            one_at_a_time(on_edited_message),
        )
    )
    application.add_handler(
        MessageHandler(private & filters.Document.ALL, one_at_a_time(office.on_document))
    )
    application.add_handler(MessageHandler(private & ~filters.COMMAND, one_at_a_time(on_message)))
    application.add_handler(
        MessageHandler(private & filters.COMMAND, one_at_a_time(on_unknown_command))
    )
    application.add_error_handler(on_error)


async def on_unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    svc = services(context)
    user = await registered_user(update, context)
    if user is None or update.effective_chat is None:
        return
    lang = language(user, update, svc)
    await send(
        context.bot,
        update.effective_chat.id,
        svc.t(lang, "I do not know this command. Send /help to see what I can do."),
    )
