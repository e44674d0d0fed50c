"""/progress (月度进度): one short message per area, a text bar per village; and /cases, the
monitoring cases (防返贫监测) of households at risk with their steps recorded in the chat."""

from __future__ import annotations

from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.ext import ContextTypes

from bot.callbacks import CaseStep, OpenCase, encode
from bot.handlers.common import language, registered_user
from bot.i18n import Translator, format_day
from bot.reminders import bar, step_name
from bot.sending import edit, send
from bot.services import services
from services import monitoring, overview
from storage import User
from storage.errors import StorageError
from storage.monitoring import STEP_ROLES, CaseView, case_view, record_step
from storage.progress import load_schedules
from storage.prompts import await_input, clear_input

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


# ---------------------------------------------------------------- monitoring cases


def case_text(t: Translator, lang: str, view: CaseView) -> str:
    title = t(lang, "Monitoring case #{id}: {name}", id=view.case.id, name=view.household.head_name)
    lines = [f"🛡 <b>{escape(title)}</b>"]
    lines.append(escape(t(lang, "Opened {day}", day=format_day(view.case.opened_on, lang))))
    for step in view.steps:
        mark = "✅" if step.done_at is not None else "⬜"
        line = f"{mark} {step_name(t, lang, step.step)} · " + t(
            lang, "due {day}", day=format_day(step.due_on, lang)
        )
        if step.outcome:
            line += f" — {step.outcome}"
        lines.append(escape(line))
    if view.case.status == "closed":
        lines.append(escape(t(lang, "The case is closed.")))
    return "\n".join(lines)


def case_markup(
    t: Translator, lang: str, user: User, view: CaseView
) -> InlineKeyboardMarkup | None:
    step = view.next_step
    if step is None or user.role not in STEP_ROLES.get(step.step, ()):
        return None
    label = t(lang, "Record: {step}", step=step_name(t, lang, step.step))
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=encode(CaseStep(view.case.id, step.position)))]]
    )


async def on_cases(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/cases: the open monitoring cases of my area."""
    svc = services(context)
    user = await registered_user(update, context)
    chat = update.effective_chat
    if user is None or chat is None:
        return
    lang = language(user, update, svc)
    views = (await monitoring.open_cases(svc.runtime, user.id)).views
    if not views:
        await send(
            context.bot, chat.id, escape(svc.t(lang, "No monitoring case is open in your area."))
        )
        return
    rows = []
    for view in views:
        step = view.next_step
        label = view.household.head_name
        if step is not None:
            label += f" · {step_name(svc.t, lang, step.step)} · {format_day(step.due_on, lang)}"
        rows.append([InlineKeyboardButton(label, callback_data=encode(OpenCase(view.case.id)))])
    text = escape(svc.t(lang, "Open monitoring cases: {count}", count=len(views)))
    await send(context.bot, chat.id, text, InlineKeyboardMarkup(rows))


async def show_case(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    user: User,
    case_id: int,
    message_id: int | None = None,
) -> None:
    svc = services(context)
    lang = language(user, update, svc)
    chat = update.effective_chat
    assert chat is not None
    try:
        async with svc.sessionmaker() as s:
            view = await case_view(s, case_id, user)
    except StorageError as error:
        await send(context.bot, chat.id, escape(svc.t(lang, error.message_id, **error.params)))
        return
    text = case_text(svc.t, lang, view)
    markup = case_markup(svc.t, lang, user, view)
    if message_id is not None:
        await edit(context.bot, chat.id, message_id, text, markup)
    else:
        await send(context.bot, chat.id, text, markup)


async def on_open_case(update: Update, context: ContextTypes.DEFAULT_TYPE, cb: OpenCase) -> None:
    query = update.callback_query
    user = await registered_user(update, context)
    if user is None or query is None:
        return
    await query.answer()
    await show_case(update, context, user, cb.case_id)


async def on_case_step(update: Update, context: ContextTypes.DEFAULT_TYPE, cb: CaseStep) -> None:
    """ "Record: step": checked against the case's next step and the user's role, then the
    bot waits for the outcome."""
    svc = services(context)
    query = update.callback_query
    user = await registered_user(update, context)
    chat = update.effective_chat
    if user is None or query is None or chat is None:
        return
    lang = language(user, update, svc)
    try:
        async with svc.sessionmaker.begin() as s:
            view = await case_view(s, cb.case_id, user)
            step = view.next_step
            if step is None or step.position != cb.position:
                raise StorageError("This step is not the next one of the case.")
            if user.role not in STEP_ROLES.get(step.step, ()):
                raise StorageError("Your role cannot do this.")
            await await_input(s, user.id, "case", cb.case_id, step.step, svc.clock())
    except StorageError as error:
        await query.answer(svc.t(lang, error.message_id, **error.params), show_alert=True)
        return
    await query.answer()
    await send(
        context.bot,
        chat.id,
        escape(
            svc.t(
                lang,
                "Send the outcome of “{step}” for {name}. Send /cancel to stop.",
                step=step_name(svc.t, lang, step.step),
                name=view.household.head_name,
            )
        ),
    )


async def on_case_outcome(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    user: User,
    case_id: int,
    step: str | None,
    message: Message,
) -> None:
    svc = services(context)
    lang = language(user, update, svc)
    outcome = (message.text or message.caption or "").strip()
    now = svc.clock()
    async with svc.sessionmaker() as s:
        schedules = await load_schedules(s)
    today = schedules.of(user.area_code).local(now).date()
    try:
        async with svc.sessionmaker.begin() as s:
            await record_step(s, case_id, step or "", user.id, outcome, now, today)
            await clear_input(s, user.id)
    except StorageError as error:
        await send(
            context.bot, message.chat_id, escape(svc.t(lang, error.message_id, **error.params))
        )
        if error.message_id != "Please give a note or a reason.":
            async with svc.sessionmaker.begin() as s:
                await clear_input(s, user.id)
        return
    await send(context.bot, message.chat_id, "✅ " + escape(svc.t(lang, "Saved.")))
    await show_case(update, context, user, case_id)
