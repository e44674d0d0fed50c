"""The household check in the chat (入户核查): read the update, call the check desk
(`services.checkdesk`), show what it returns.

Conversation states (kept in the database, never only in this process):

    /check ──► pick household ──► prompt ◄──► prompt … ──► summary ──► submitted
                    ▲                 │  ✖ cancel: paused, answers kept │ ✏️ change
                    └── resume / discard offer on the next /check ◄────┘
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from html import escape
from typing import Any

from telegram import Message, Update
from telegram.ext import ContextTypes

from bot.callbacks import CheckAction, HouseholdPage, OpenSession, encode
from bot.context import wait_with_user
from bot.handlers.common import language, registered_user
from bot.i18n import format_day, label
from bot.keyboards import Button, Keyboard
from bot.logs import current_update
from bot.render import (
    Screen,
    all_answers_screens,
    answered_text,
    category_name,
    confirm_removal_markup,
    edit_menu_markup,
    invalid_text,
    prompt_screen,
    summary_screens,
    unit_name,
)
from bot.retry import OutcomeUnknown
from bot.sending import edit, send, send_once
from bot.services import Services, services
from conversations import (
    Back,
    Context,
    Edit,
    Event,
    Input,
    Location,
    Photo,
    Prompt,
    Summary,
    Text,
)
from services.checkdesk import (
    FORM_ID,
    SETTLE_ACTIONS,
    OpenCheck,
    Press,
    Pressed,
    Refused,
    Settlement,
    Sheet,
    Submission,
    Turn,
    prompt_message,
    token_of,
)
from storage import CheckSession, Household, User
from storage.models import Problem

log = logging.getLogger(__name__)

__all__ = ["FORM_ID", "Sheet", "engine_context"]

_KEY_PART = re.compile(r"^(\w+)\[(\d+)\]$")
NO_LONGER_VALID = "This button is no longer valid."


def answer_at(answers: Any, key: str) -> Any:
    """The answer stored under a cursor key such as "children[1].status"."""
    value = answers
    for part in key.split("."):
        match = _KEY_PART.match(part)
        try:
            if match:
                value = value[match.group(1)][int(match.group(2))]
            else:
                value = value[part]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def household_name(household: Household, lang: str, svc: Services) -> str:
    return svc.t(lang, "{number} {head}", number=household.number, head=household.head_name)


async def engine_context(s: Any, svc: Services, household: Household) -> tuple[Context, str]:
    """The engine's view of a household, as the check desk builds it."""
    return await svc.desk.engine_context(s, household)


async def show_screen(
    update: Update | None,
    context: ContextTypes.DEFAULT_TYPE,
    visit: Sheet,
    event: Event | None,
    lang: str,
    notice: str = "",
) -> int | None:
    """Send the prompt or summary as new messages; return the id of the one with buttons."""
    svc = services(context)
    chat_id = chat_of(visit.row)
    screens: list[Screen]
    if isinstance(event, Prompt):
        screens = [prompt_screen(visit.form, event, visit.row.id, lang, svc.t, notice)]
    elif isinstance(event, Summary):
        name = household_name(visit.household, lang, svc)
        screens = summary_screens(visit.form, event, name, visit.row.id, lang, svc.t)
        if notice:
            await send(context.bot, chat_id, f"⚠️ {escape(notice)}")
    else:
        return None
    return await send_screens(context, chat_id, screens)


async def keep_prompt(
    context: ContextTypes.DEFAULT_TYPE, sheet: Sheet, message_id: int | None
) -> None:
    """Tell the desk which message the check's prompt went out as, for this update."""
    await services(context).desk.record_prompt(sheet, message_id, current_update())


def chat_of(row: CheckSession) -> int:
    """The chat the check is shown in: the one it was opened (or last resumed) from."""
    if row.telegram is None:
        raise LookupError(f"check {row.id} is not shown in a Telegram chat")
    return row.telegram.chat_id


def asked_as(row: CheckSession) -> int | None:
    """The message the check's current prompt went out as, if known."""
    return prompt_message(row)


async def send_screens(
    context: ContextTypes.DEFAULT_TYPE, chat_id: int, screens: Sequence[Screen]
) -> int | None:
    """Send the screens in turn; the id of the last, the one with the buttons. A screen whose
    answer from Telegram timed out is never sent again (it may well have arrived): the rest
    are not sent and the id is unknown; the cadre's next input brings the question back."""
    sent: int | None = None
    try:
        for screen in screens:
            sent = await send_once(context.bot, chat_id, screen.text, screen.markup)
    except OutcomeUnknown:
        log.warning("a question may not have reached chat %s", chat_id)
        return None
    return sent


async def begin_check(
    update: Update, context: ContextTypes.DEFAULT_TYPE, user: User, household_id: int
) -> None:
    """Open (or resume) the check of one household of the cadre's area."""
    svc = services(context)
    lang = language(user, update, svc)
    chat = update.effective_chat
    assert chat is not None
    opened = await svc.desk.open_check(user, household_id, chat.id)
    if isinstance(opened, Refused):
        await send(context.bot, chat.id, svc.t(lang, opened.message_id, **opened.params))
        return
    sheet = opened.sheet
    title = svc.t(
        lang, "Check of household {name}", name=household_name(sheet.household, lang, svc)
    )
    lines = [f"📋 <b>{escape(title)}</b>"]
    if opened.standing:
        count = len(opened.standing)
        lines.append(escape(svc.t(lang, "Still open for this household: {count}", count=count)))
        lines.extend(_problem_lines(svc, lang, opened.standing))
    await send(context.bot, chat.id, "\n".join(lines))
    await edit(context.bot, chat.id, opened.earlier_prompt)
    message_id = await show_screen(update, context, sheet, sheet.shown, lang)
    await keep_prompt(context, sheet, message_id)


async def offer_open_sessions(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    user: User,
    rows: list[OpenCheck],
) -> None:
    """A second /check while one is open: resume or discard, or start another."""
    svc = services(context)
    lang = language(user, update, svc)
    chat = update.effective_chat
    assert chat is not None
    lines = [svc.t(lang, "You have an unfinished check:")]
    buttons: list[list[Button]] = []
    for found in rows:
        row = found.row
        name = household_name(found.household, lang, svc)
        when = format_day(found.last_day, lang)
        lines.append("• " + escape(svc.t(lang, "{name} ({when})", name=name, when=when)))
        buttons.append(
            [
                (
                    svc.t(lang, "▶ Continue {name}", name=name),
                    encode(OpenSession(row.id, "c")),
                ),
                (svc.t(lang, "🗑 Discard"), encode(OpenSession(row.id, "d"))),
            ]
        )
    lines.append(svc.t(lang, "Continue it, or discard it to start again."))
    other = svc.t(lang, "➕ Check another household")
    buttons.append([(other, encode(HouseholdPage(0, "", "c")))])
    await send(context.bot, chat.id, "\n".join(lines), Keyboard.of(buttons))


async def on_open_session(
    update: Update, context: ContextTypes.DEFAULT_TYPE, callback: OpenSession
) -> None:
    """The resume / discard buttons."""
    svc = services(context)
    query = update.callback_query
    assert query is not None
    user = await registered_user(update, context)
    if user is None:
        return
    lang = language(user, update, svc)
    row = await svc.desk.own_open_check(user, callback.session_id)
    if row is None:
        await query.answer(svc.t(lang, NO_LONGER_VALID))
        await edit(context.bot, _chat_id(update), _message_id(query))
        return
    await query.answer()
    await edit(context.bot, chat_of(row), _message_id(query))
    if callback.choice == "d":
        if await svc.desk.discard(user, row.id) is None:
            return
        await send(
            context.bot,
            chat_of(row),
            svc.t(lang, "The unfinished check was discarded. Send /check to start a new one."),
        )
        return
    await begin_check(update, context, user, row.household_id)


def _chat_id(update: Update) -> int:
    assert update.effective_chat is not None
    return update.effective_chat.id


def _message_id(query: Any) -> int | None:
    return query.message.message_id if query.message is not None else None


async def on_check_button(
    update: Update, context: ContextTypes.DEFAULT_TYPE, action: CheckAction
) -> None:
    """A button on a prompt or summary: the desk checks it against the check's state."""
    svc = services(context)
    query = update.callback_query
    assert query is not None
    user = await registered_user(update, context)
    if user is None:
        return
    lang = language(user, update, svc)
    pressed_on = _message_id(query)
    press = Press(action.session_id, action.token, action.action, action.arg, pressed_on)
    read, wait = wait_with_user(context, user)
    result = await svc.desk.press(
        user, press, query.answer, current_update(), may_wait=not read or wait is not None
    )
    if isinstance(result, Refused):
        await query.answer(svc.t(lang, result.message_id, **result.params))
        if result.message_id == NO_LONGER_VALID:
            await edit(context.bot, _chat_id(update), pressed_on)
        return
    if isinstance(result, Pressed) and result.kind == "stale":
        await query.answer(svc.t(lang, NO_LONGER_VALID))
        row = result.sheet.row
        await edit(context.bot, chat_of(row), pressed_on)
        message_id = await show_screen(update, context, result.sheet, result.shown, lang)
        await edit(context.bot, chat_of(row), asked_as(row))
        await keep_prompt(context, result.sheet, message_id)
        return
    if isinstance(result, Pressed) and result.kind == "replayed":
        return
    if isinstance(result, Pressed):
        await show_pressed(update, context, result, action, pressed_on, lang)
        return
    if action.action in SETTLE_ACTIONS:
        await edit(context.bot, chat_of(result.sheet.row), pressed_on)
    await show_turn(update, context, result, lang)


async def show_pressed(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    pressed: Pressed,
    action: CheckAction,
    message_id: int | None,
    lang: str,
) -> None:
    """A press that changed nothing in the check: show what it asks for."""
    svc = services(context)
    sheet, shown = pressed.sheet, pressed.shown
    row = sheet.row
    if pressed.kind == "pause":
        await pause(context, sheet, lang, message_id)
    elif pressed.kind == "page" and isinstance(shown, Summary):
        await summary_page(context, sheet, shown, action, message_id, lang)
    elif pressed.kind == "confirm" and isinstance(shown, Prompt):
        # Removing a person from the list asks once more: a slip of the thumb is easy.
        screen = prompt_screen(sheet.form, shown, row.id, lang, svc.t)
        markup = (
            confirm_removal_markup(shown, action.arg or 0, row.id, lang, svc.t)
            if action.action == "r"
            else screen.markup
        )
        await edit(context.bot, chat_of(row), message_id, markup=markup)
    elif pressed.kind == "summary":
        await edit(context.bot, chat_of(row), message_id)
        new_id = await show_screen(update, context, sheet, shown, lang)
        await keep_prompt(context, sheet, new_id)
    else:
        notice = svc.t(lang, "Please choose one of the buttons.")
        await reshow(update, context, sheet, shown, lang, notice)


async def summary_page(
    context: ContextTypes.DEFAULT_TYPE,
    sheet: Sheet,
    summary: Summary,
    action: CheckAction,
    message_id: int | None,
    lang: str,
) -> None:
    """From the short summary, every answer numbered with the numbers to change one ("m");
    another page of those numbers ("n", on that list, in place); back to the short summary
    ("v")."""
    svc = services(context)
    row = sheet.row
    if action.action == "n":
        markup = edit_menu_markup(len(summary.items), action.arg or 0, row.id, lang, svc.t)
        await edit(context.bot, chat_of(row), message_id, markup=markup)
        return
    await edit(context.bot, chat_of(row), message_id)
    if action.action == "m":
        screens = all_answers_screens(sheet.form, summary, row.id, lang, svc.t)
        new_id = await send_screens(context, chat_of(row), screens)
    else:
        new_id = await show_screen(None, context, sheet, summary, lang)
    await keep_prompt(context, sheet, new_id)


async def pause(
    context: ContextTypes.DEFAULT_TYPE, sheet: Sheet, lang: str, message_id: int | None
) -> None:
    svc = services(context)
    await edit(context.bot, chat_of(sheet.row), message_id)
    await send(
        context.bot,
        chat_of(sheet.row),
        svc.t(
            lang,
            "The check is paused and every answer is kept. Send /check to continue it later.",
        ),
    )


async def reshow(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    sheet: Sheet,
    event: Event | None,
    lang: str,
    notice: str,
) -> None:
    """Refuse an input: say why, and ask the same question again below."""
    await edit(context.bot, chat_of(sheet.row), asked_as(sheet.row))
    message_id = await show_screen(update, context, sheet, event, lang, notice)
    await keep_prompt(context, sheet, message_id)


async def show_turn(
    update: Update, context: ContextTypes.DEFAULT_TYPE, turn: Turn, lang: str
) -> None:
    """Show one saved step: mend the transcript, then ask what is next."""
    svc = services(context)
    bot = context.bot
    sheet = turn.sheet
    chat_id, shown_as = chat_of(sheet.row), asked_as(sheet.row)
    if turn.invalid is not None:
        await edit(bot, chat_id, shown_as)
        notice = invalid_text(turn.invalid, lang, svc.t)
        message_id = await show_screen(
            update, context, sheet, turn.shown or turn.before, lang, notice
        )
        await keep_prompt(context, sheet, message_id)
        return
    if turn.settlement is not None:
        await ask_before_submit(context, sheet, turn.settlement, lang)
        return
    if turn.submitted is not None:
        await finish(context, sheet, turn.submitted, lang)
        return
    if turn.same_prompt and isinstance(turn.shown, Prompt):
        screen = prompt_screen(sheet.form, turn.shown, sheet.row.id, lang, svc.t)
        await edit(bot, chat_id, shown_as, screen.text, screen.markup)
        return
    if isinstance(turn.before, Prompt) and not isinstance(turn.inp, Back | Edit):
        value = answer_at(turn.state.answers, turn.before.key)
        text = answered_text(sheet.form, turn.before, value, lang, svc.t)
        await edit(bot, chat_id, shown_as, text, None)
    else:
        await edit(bot, chat_id, shown_as)
    message_id = await show_screen(update, context, sheet, turn.shown, lang)
    await keep_prompt(context, sheet, message_id)


def problem_line(svc: Services, problem: Problem, lang: str) -> str:
    """A problem in one line: its text in the user's language and its subject."""
    text = label(problem.text_i18n or {"zh_CN": problem.text}, lang)
    if not problem.subject:
        return text
    return svc.t(lang, "{text} ({subject})", text=text, subject=problem.subject)


async def ask_before_submit(
    context: ContextTypes.DEFAULT_TYPE, sheet: Sheet, settlement: Settlement, lang: str
) -> None:
    """Ask what the check cannot know before it is submitted: for an amendment, whether an
    answer was wrong or the situation changed; for a check, what became of an earlier
    problem it no longer raises."""
    svc = services(context)
    row = sheet.row
    token = token_of(Summary(items=()))
    problem = settlement.problem
    if problem is None:
        text = svc.t(
            lang,
            "What does this amendment record? If an answer was wrong, problems no longer "
            "raised are withdrawn as raised in error; if the situation changed since the "
            "check, they are reported rectified.",
        )
        choices = [
            ("c", svc.t(lang, "✏️ An answer was wrong")),
            ("h", svc.t(lang, "🔄 The situation changed")),
        ]
        arg = None
    else:
        text = svc.t(
            lang,
            "An earlier check found this problem, and this check no longer raises it:\n"
            "{problem}\nWas it rectified, or was the earlier answer wrong?",
            problem=problem_line(svc, problem, lang),
        )
        choices = [
            ("g", svc.t(lang, "✅ Rectified")),
            ("w", svc.t(lang, "✏️ The earlier answer was wrong")),
        ]
        arg = problem.id
    buttons = [
        [(caption, encode(CheckAction(row.id, token, code, arg)))] for code, caption in choices
    ]
    back = svc.t(lang, "⬅ Back to the summary")
    buttons.append([(back, encode(CheckAction(row.id, token, "u")))])
    await edit(context.bot, chat_of(row), asked_as(row))
    question = Screen("❓ " + escape(text), Keyboard.of(buttons))
    new_id = await send_screens(context, chat_of(row), [question])
    await keep_prompt(context, sheet, new_id)


async def finish(
    context: ContextTypes.DEFAULT_TYPE, sheet: Sheet, submitted: Submission, lang: str
) -> None:
    """Tell the cadre the check is saved and what it raised."""
    svc = services(context)
    record, problems = submitted.record, submitted.problems
    await edit(context.bot, chat_of(sheet.row), asked_as(sheet.row))
    name = household_name(sheet.household, lang, svc)
    saved = svc.t(lang, "Submitted: the check of {name} is saved.", name=name)
    lines = [f"✅ <b>{escape(saved)}</b>"]
    new = [problem for problem in problems if problem.id in submitted.first_found]
    seen = [problem for problem in problems if problem.id not in submitted.first_found]
    if not problems:
        lines.append(escape(svc.t(lang, "No problems were found.")))
    if new:
        raised = svc.t.n(
            lang, "{count} problem was raised:", "{count} problems were raised:", len(new)
        )
        lines.append(escape(raised))
        lines.extend(_problem_lines(svc, lang, new))
    if seen:
        lines.append(escape(svc.t(lang, "Still open, seen again: {count}", count=len(seen))))
        lines.extend(_problem_lines(svc, lang, seen))
    if submitted.in_case:
        flagged = svc.t(lang, "The household is flagged for monitoring: its case is in /cases.")
        lines.append("⚠️ " + escape(flagged))
    elif record.at_risk:
        lines.append(
            "⚠️ " + escape(svc.t(lang, "The household is flagged for return-to-poverty monitoring."))
        )
    await send(context.bot, chat_of(sheet.row), "\n".join(lines))


def _problem_lines(svc: Services, lang: str, problems: list[Problem]) -> list[str]:
    lines = []
    for number, problem in enumerate(problems, start=1):
        text = label(problem.text_i18n or {"zh_CN": problem.text}, lang)
        due = svc.t(
            lang,
            "due {date}, {unit}",
            date=format_day(problem.deadline, lang),
            unit=unit_name(svc.forms, problem.responsible_unit, lang),
        )
        category = svc.t(lang, "[{name}] ", name=category_name(svc.forms, problem.category, lang))
        line = svc.t(lang, "{text} — {due}", text=f"{category}{text}", due=due)
        lines.append(f"{number}. {escape(line)}")
    return lines


async def on_check_input(update: Update, context: ContextTypes.DEFAULT_TYPE, inp: Input) -> bool:
    """A typed answer, photo or location: answer the open check. False when none is open."""
    svc = services(context)
    user = await registered_user(update, context)
    if user is None:
        return True
    turn = await svc.desk.answer(user, inp, current_update())
    if turn is None:
        return False
    if isinstance(turn, Pressed):
        # Handled before this delivery: only a screen that was never sent is sent.
        if turn.kind == "unshown":
            sheet = turn.sheet
            await edit(context.bot, chat_of(sheet.row), asked_as(sheet.row))
            lang = language(user, update, svc)
            message_id = await show_screen(update, context, sheet, turn.shown, lang)
            await keep_prompt(context, sheet, message_id)
        return True
    await show_turn(update, context, turn, language(user, update, svc))
    return True


async def on_unreadable(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """A sticker, voice note, file… while a check is open: say so and ask again."""
    svc = services(context)
    user = await registered_user(update, context)
    if user is None:
        return True
    lang = language(user, update, svc)
    sheet = await svc.desk.current(user)
    if sheet is None:
        return False
    notice = svc.t(
        lang, "I cannot read this kind of message here. Please answer the question below."
    )
    await reshow(update, context, sheet, sheet.shown, lang, notice)
    return True


def message_input(message: Message) -> Input | None:
    """The engine input a message carries, if any."""
    if message.photo:
        return Photo(message.photo[-1].file_id)
    if message.location is not None:
        return Location(message.location.latitude, message.location.longitude)
    if message.text is not None:
        return Text(message.text)
    return None


async def resume_after_command(
    update: Update, context: ContextTypes.DEFAULT_TYPE, user: User
) -> None:
    """After a command in the middle of a check: remind where the check stands."""
    svc = services(context)
    lang = language(user, update, svc)
    if await svc.desk.has_open_check(user) and update.effective_chat is not None:
        await send(
            context.bot,
            update.effective_chat.id,
            svc.t(lang, "Your check is still open. Send /check to continue it."),
        )
