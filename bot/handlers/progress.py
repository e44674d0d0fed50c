"""/progress (月度进度): one short message per area, a text bar per village."""

from __future__ import annotations

from html import escape

from telegram import Update
from telegram.ext import ContextTypes

from bot.handlers.common import language, registered_user
from bot.i18n import format_day
from bot.reminders import bar
from bot.sending import send
from bot.services import services
from services import overview

MAX_VILLAGES = 30


async def on_progress(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/progress: checked and contacted this period, open and overdue problems, days left
    (what each word means: storage.periods)."""
    svc = services(context)
    user = await registered_user(update, context)
    chat = update.effective_chat
    if user is None or chat is None:
        return
    lang = language(user, update, svc)
    rows = await overview.village_progress_of(svc.runtime, user.id, MAX_VILLAGES)
    if not rows:
        await send(
            context.bot, chat.id, escape(svc.t(lang, "There are no villages in your area yet."))
        )
        return
    first = rows[0]
    lines = [
        "📊 <b>"
        + escape(
            svc.t(
                lang,
                "Monthly report due {day}: {days} days left",
                day=format_day(first.reporting_day, lang),
                days=first.days_left,
            )
        )
        + "</b>",
        escape(
            svc.t(
                lang,
                "Checks count from {day}.",
                day=format_day(first.period_start, lang),
            )
        ),
    ]
    for row in rows:
        lines.append("")
        lines.append(f"<b>{escape(row.name)}</b> {bar(row.checked, row.households)}")
        lines.append(
            escape(
                svc.t(
                    lang,
                    "checked {checked}/{total} · contacted {contacted}/{total}",
                    checked=row.checked,
                    contacted=row.contacted,
                    total=row.households,
                )
            )
        )
        lines.append(
            escape(
                svc.t(
                    lang,
                    "problems: {open} open, {overdue} overdue",
                    open=row.open_problems,
                    overdue=row.overdue_problems,
                )
            )
        )
    await send(context.bot, chat.id, "\n".join(lines))
