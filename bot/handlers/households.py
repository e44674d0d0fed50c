"""Households of the user's area: /households, and the picker that opens a check."""

from __future__ import annotations

from html import escape

from telegram import Update
from telegram.ext import ContextTypes

from bot.callbacks import CaseMenu, HouseholdPage, OpenHousehold, encode
from bot.handlers.common import language, registered_user
from bot.i18n import format_day
from bot.keyboards import Button, Keyboard
from bot.sending import edit, send
from bot.services import services
from storage import User, households_page


async def show_households(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    user: User,
    page: HouseholdPage,
    message_id: int | None = None,
) -> None:
    """One page of households; for a check each is a button, else a line with its last check."""
    svc = services(context)
    lang = language(user, update, svc)
    chat = update.effective_chat
    assert chat is not None
    size = svc.settings.page_size
    offset = max(page.offset, 0)
    async with svc.sessionmaker() as s:
        found = await households_page(s, user.area_code, page.query or None, offset, size)
    if found.total == 0:
        text = (
            svc.t(lang, "No household matches “{query}”.", query=page.query)
            if page.query
            else svc.t(lang, "There are no households in your area yet.")
        )
        await send(context.bot, chat.id, escape(text))
        return
    lines = []
    if page.purpose == "m":
        lines.append(svc.t(lang, "Which household applied, or was named by a department?"))
    elif page.purpose == "c":
        lines.append(svc.t(lang, "Which household are you checking?"))
        lines.append(svc.t(lang, "Pick one below, or type a name or roster number to search."))
    else:
        lines.append(svc.t(lang, "Households of your area ({total}):", total=found.total))
    rows: list[list[Button]] = []
    for row in found.rows:
        last = (
            svc.t(lang, "last checked {date}", date=format_day(row.last_check_at.date(), lang))
            if row.last_check_at
            else svc.t(lang, "not checked yet")
        )
        if page.purpose == "c":
            rows.append([(f"{row.number} {row.head_name} · {last}", encode(OpenHousehold(row.id)))])
        elif page.purpose == "m":
            rows.append([(f"{row.number} {row.head_name}", encode(CaseMenu("a", row.id)))])
        else:
            people = svc.t.n(lang, "{count} person", "{count} people", row.member_count)
            lines.append(f"{escape(row.number)} {escape(row.head_name)} · {people} · {last}")
    paging = []
    if offset > 0:
        back = HouseholdPage(max(offset - size, 0), page.query, page.purpose)
        paging.append((svc.t(lang, "◀ Previous"), encode(back)))
    if offset + size < found.total:
        more = HouseholdPage(offset + size, page.query, page.purpose)
        paging.append((svc.t(lang, "Next ▶"), encode(more)))
    if paging:
        rows.append(paging)
    shown_to = min(offset + size, found.total)
    lines.append(
        svc.t(
            lang,
            "Households {first}–{last} of {total}",
            first=offset + 1,
            last=shown_to,
            total=found.total,
        )
    )
    markup = Keyboard.of(rows) if rows else None
    text = "\n".join(lines)
    if message_id is not None:
        await edit(context.bot, chat.id, message_id, text, markup)
    else:
        await send(context.bot, chat.id, text, markup)


async def on_households(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/households: the village's households with the date of their last check."""
    user = await registered_user(update, context)
    if user is None:
        return
    query = " ".join(context.args or []).strip()
    await show_households(update, context, user, HouseholdPage(0, query, "l"))


async def on_household_page(
    update: Update, context: ContextTypes.DEFAULT_TYPE, page: HouseholdPage
) -> None:
    query = update.callback_query
    user = await registered_user(update, context)
    if user is None or query is None:
        return
    await query.answer()
    message_id = query.message.message_id if query.message is not None else None
    await show_households(update, context, user, page, message_id)
