"""The household check in the chat (入户核查): load the session, ask the engine, save, reply.

Conversation states (kept in the database, never only in this process):

    /check ──► pick household ──► prompt ◄──► prompt … ──► summary ──► submitted
                    ▲                 │  ✖ cancel: paused, answers kept │ ✏️ change
                    └── resume / discard offer on the next /check ◄────┘
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.ext import ContextTypes

from bot.callbacks import CheckAction, HouseholdPage, OpenSession, encode, prompt_token
from bot.handlers.common import language, registered_user
from bot.i18n import LANGUAGES, format_day, format_number, label
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
from bot.sending import OutcomeUnknown, edit, send, send_once
from bot.services import Services, services
from conversations import (
    AddItem,
    Back,
    CheckState,
    Context,
    Done,
    Edit,
    Event,
    Finished,
    Form,
    Input,
    Invalid,
    Location,
    Photo,
    Pick,
    Position,
    Prompt,
    RemoveItem,
    Skip,
    Submit,
    Summary,
    Text,
    params_for,
    start,
)
from conversations.thresholds import IncomeLine, income_line_for
from storage import (
    CheckSession,
    Household,
    User,
    discard_session,
    get_area,
    get_session,
    household_in_area,
    open_session,
    open_sessions_of,
    province_of,
    roster_of,
    save_session,
    start_session,
    submit_check,
)
from storage.campaigns import cutoff_on
from storage.checks import set_amendment_kind, settle_earlier
from storage.deadlines import check_deadlines
from storage.errors import StorageError
from storage.findings import found_by, standing_problems, unsettled
from storage.models import Problem
from storage.monitoring import open_case_of
from storage.progress import load_schedules
from storage.prompts import clear_input

log = logging.getLogger(__name__)

FORM_ID = "household_check"
PLACE_SECONDS = 300.0
_KEY_PART = re.compile(r"^(\w+)\[(\d+)\]$")


@dataclass
class Visit:
    """One check session loaded for a step: the row, its form, the engine context."""

    row: CheckSession
    form: Form
    context: Context
    state: CheckState
    household: Household
    zone: str
    # The state walked once: what it shows and the outcome of the next input.
    position: tuple[CheckState, Position] | None = None

    def at(self) -> Position:
        if self.position is None or self.position[0] is not self.state:
            self.position = (self.state, Position(self.form, self.state, self.context))
        return self.position[1]


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


async def place_of(s: AsyncSession, svc: Services, village_code: str) -> tuple[str, str | None]:
    """A village's time zone and province. Kept for a few minutes: areas hardly ever change,
    and every answer needs them."""
    now = time.monotonic()
    kept = svc.places.get(village_code)
    if kept is not None and now - kept[0] < PLACE_SECONDS:
        return kept[1], kept[2]
    area = await get_area(s, village_code)
    zone = area.timezone if area is not None else "Asia/Shanghai"
    province = await province_of(s, village_code)
    svc.places[village_code] = (now, zone, province)
    return zone, province


async def engine_context(
    s: AsyncSession, svc: Services, household: Household
) -> tuple[Context, str]:
    """The engine's view of the world for a household: today in its zone, thresholds, roster."""
    zone, province = await place_of(s, svc, household.village_code)
    today = svc.clock().astimezone(ZoneInfo(zone)).date()
    roster = tuple(await roster_of(s, household.id))
    context = Context(
        today=today,
        params=params_for(svc.thresholds, province, today.year),
        roster={"members": roster},
        household={
            "number": household.number,
            "head_name": household.head_name,
            "type": household.household_type,
        },
        texts=area_texts(svc, income_line_for(svc.thresholds, province, today.year)),
    )
    return context, zone


def area_texts(svc: Services, line: IncomeLine | None) -> dict[str, dict[str, str]]:
    """The form's named texts as they read in this area: which income line applies."""
    if line is None:
        return {}
    return {
        "income_line": {
            lang: svc.t(
                lang,
                "{name} of {year} ({amount} yuan)",
                name=label(line.name, lang),
                year=line.year,
                amount=format_number(line.line, lang),
            )
            for lang in LANGUAGES
        }
    }


async def load_visit(s: AsyncSession, svc: Services, row: CheckSession) -> Visit | None:
    """Everything the engine needs for one step of this session."""
    household = await s.get(Household, row.household_id)
    form = svc.forms.get(row.form_id)
    if household is None or form is None:
        return None
    context, zone = await engine_context(s, svc, household)
    return Visit(row, form, context, CheckState.from_json(row.state), household, zone)


# Beside the engine's state: the last update that saved it, and the last one whose screen was
# sent. An update handled again (its instance died before marking it done) is then not applied
# a second time, and its screen is sent only when it never was.
APPLIED, SHOWN = "applied_update", "shown_update"


async def remember(
    s: AsyncSession,
    session_id: int,
    state: Mapping[str, Any],
    now: datetime,
    prompt_message_id: int | None = None,
) -> None:
    """Save the check's state and commit at once: an answer is kept before anything is sent."""
    update_id = current_update()
    if update_id is not None:
        state = {**state, APPLIED: update_id}
        if prompt_message_id is not None:
            state[SHOWN] = update_id
    await save_session(s, session_id, state, now, prompt_message_id)
    await s.commit()


def handled_before(row: CheckSession, update: Update) -> bool:
    """Whether this update's input is already in the saved state."""
    return int(row.state.get(APPLIED, -1)) >= update.update_id


def shown_before(row: CheckSession, update: Update) -> bool:
    """Whether the screen that followed this update's input was sent."""
    return int(row.state.get(SHOWN, -1)) >= update.update_id


def current_event(visit: Visit) -> Event | None:
    """The prompt or summary the session stands at."""
    return visit.at().shown


async def show_screen(
    update: Update | None,
    context: ContextTypes.DEFAULT_TYPE,
    visit: Visit,
    event: Event | None,
    lang: str,
    notice: str = "",
) -> int | None:
    """Send the prompt or summary as new messages; return the id of the one with buttons."""
    svc = services(context)
    chat_id = visit.row.chat_id
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


async def send_screens(
    context: ContextTypes.DEFAULT_TYPE, chat_id: int, screens: Sequence[Screen]
) -> int | None:
    """Send the screens in turn; the id of the last, the one with the buttons. A screen whose
    answer from Telegram timed out is never sent again (it may well have arrived): the rest
    are not sent and the id is unknown; the cadre's next input brings the question back."""
    sent: Message | None = None
    try:
        for screen in screens:
            sent = await send_once(context.bot, chat_id, screen.text, screen.markup)
    except OutcomeUnknown:
        log.warning("a question may not have reached chat %s", chat_id)
        return None
    return sent.message_id if sent else None


async def begin_check(
    update: Update, context: ContextTypes.DEFAULT_TYPE, user: User, household_id: int
) -> None:
    """Open (or resume) the check of one household of the cadre's area."""
    svc = services(context)
    lang = language(user, update, svc)
    chat = update.effective_chat
    assert chat is not None
    async with svc.sessionmaker() as s:
        household = await household_in_area(s, household_id, user.area_code)
        if household is None:
            await send(context.bot, chat.id, svc.t(lang, "This household is not in your area."))
            return
        engine_ctx, zone = await engine_context(s, svc, household)
        row = await open_session(s, user.id, household.id)
        standing = await standing_problems(s, household.id) if row is None else []
        if row is None:
            state, _ = start(svc.forms[FORM_ID], engine_ctx)
            row = await start_session(
                s, user.id, household.id, FORM_ID, chat.id, state.to_json(), svc.clock()
            )
            await s.commit()
        await clear_input(s, user.id)
        form = svc.forms[row.form_id]
        visit = Visit(row, form, engine_ctx, CheckState.from_json(row.state), household, zone)
        title = svc.t(lang, "Check of household {name}", name=household_name(household, lang, svc))
        lines = [f"📋 <b>{escape(title)}</b>"]
        if standing:
            lines.append(
                escape(svc.t(lang, "Still open for this household: {count}", count=len(standing)))
            )
            lines.extend(_problem_lines(svc, lang, standing))
        await send(context.bot, chat.id, "\n".join(lines))
        await edit(context.bot, chat.id, row.prompt_message_id)
        message_id = await show_screen(update, context, visit, current_event(visit), lang)
        await remember(s, row.id, visit.state.to_json(), svc.clock(), message_id)


async def current_session(s: AsyncSession, user: User) -> CheckSession | None:
    """The check the cadre is working on: the open session touched last."""
    rows = await open_sessions_of(s, user.id)
    return max(rows, key=lambda row: row.updated_at) if rows else None


async def offer_open_sessions(
    update: Update, context: ContextTypes.DEFAULT_TYPE, user: User, rows: list[CheckSession]
) -> None:
    """A second /check while one is open: resume or discard, or start another."""
    svc = services(context)
    lang = language(user, update, svc)
    chat = update.effective_chat
    assert chat is not None
    lines = [svc.t(lang, "You have an unfinished check:")]
    buttons: list[list[InlineKeyboardButton]] = []
    async with svc.sessionmaker() as s:
        for row in rows:
            household = await s.get(Household, row.household_id)
            if household is None:
                continue
            name = household_name(household, lang, svc)
            when = format_day(row.updated_at.date(), lang)
            lines.append("• " + escape(svc.t(lang, "{name} ({when})", name=name, when=when)))
            buttons.append(
                [
                    InlineKeyboardButton(
                        svc.t(lang, "▶ Continue {name}", name=name),
                        callback_data=encode(OpenSession(row.id, "c")),
                    ),
                    InlineKeyboardButton(
                        svc.t(lang, "🗑 Discard"), callback_data=encode(OpenSession(row.id, "d"))
                    ),
                ]
            )
    lines.append(svc.t(lang, "Continue it, or discard it to start again."))
    other = svc.t(lang, "➕ Check another household")
    buttons.append([InlineKeyboardButton(other, callback_data=encode(HouseholdPage(0, "", "c")))])
    await send(context.bot, chat.id, "\n".join(lines), InlineKeyboardMarkup(buttons))


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
    async with svc.sessionmaker() as s:
        row = await get_session(s, callback.session_id)
        valid = row is not None and row.user_id == user.id and row.status == "open"
        if not valid or row is None:
            await query.answer(svc.t(lang, "This button is no longer valid."))
            await edit(context.bot, user.telegram_id, _message_id(query))
            return
        await query.answer()
        await edit(context.bot, row.chat_id, _message_id(query))
        if callback.choice == "d":
            await discard_session(s, row.id, svc.clock())
            await s.commit()
            await send(
                context.bot,
                row.chat_id,
                svc.t(lang, "The unfinished check was discarded. Send /check to start a new one."),
            )
            return
        household_id = row.household_id
    await begin_check(update, context, user, household_id)


def _message_id(query: Any) -> int | None:
    return query.message.message_id if query.message is not None else None


def input_for(action: CheckAction, event: Event | None) -> Input | None:
    """Turn a pressed button into an engine input, using the prompt it was made for."""
    match action.action:
        case "p" if isinstance(event, Prompt) and action.arg is not None:
            if 0 <= action.arg < len(event.choices):
                return Pick(event.choices[action.arg].value)
            return None
        case "d":
            return Done()
        case "b":
            return Back()
        case "s":
            return Skip()
        case "y":
            return Submit()
        case "a":
            return AddItem()
        case "R" if action.arg is not None:
            return RemoveItem(action.arg)
        case "e" if isinstance(event, Summary) and action.arg is not None:
            if 0 <= action.arg < len(event.items):
                return Edit(event.items[action.arg].key)
            return None
    return None


def token_of(event: Event | None) -> str:
    if isinstance(event, Prompt):
        return prompt_token(event.key, "asking")
    return prompt_token("", "summary")


async def on_check_button(
    update: Update, context: ContextTypes.DEFAULT_TYPE, action: CheckAction
) -> None:
    """A button on a prompt or summary: checked against the session's current state."""
    svc = services(context)
    query = update.callback_query
    assert query is not None
    user = await registered_user(update, context)
    if user is None:
        return
    lang = language(user, update, svc)
    async with svc.sessionmaker() as s:
        row = await get_session(s, action.session_id)
        if row is None or row.user_id != user.id or row.status != "open":
            await query.answer(svc.t(lang, "This button is no longer valid."), show_alert=False)
            await edit(context.bot, user.telegram_id, _message_id(query))
            return
        visit = await load_visit(s, svc, row)
        if visit is None:
            await query.answer(svc.t(lang, "This button is no longer valid."))
            return
        event = current_event(visit)
        if handled_before(row, update) and shown_before(row, update):
            await query.answer()
            return
        stale = action.token != token_of(event) or (
            _message_id(query) != row.prompt_message_id and action.action not in ("m", "n", "v")
        )
        if stale:
            await query.answer(svc.t(lang, "This button is no longer valid."))
            await edit(context.bot, row.chat_id, _message_id(query))
            message_id = await show_screen(update, context, visit, event, lang)
            await edit(context.bot, row.chat_id, row.prompt_message_id)
            await remember(s, row.id, visit.state.to_json(), svc.clock(), message_id)
            return
        await query.answer()
        # Back at the check: a note some problem card asked for is no longer awaited, so the
        # next typed answer goes to the check.
        await clear_input(s, user.id)
        if action.action == "x":
            await pause(context, visit, lang, _message_id(query))
            return
        if action.action in ("m", "n", "v") and isinstance(event, Summary):
            await summary_page(context, s, visit, event, action, _message_id(query), lang)
            return
        if action.action in ("r", "k") and isinstance(event, Prompt):
            # Removing a person from the list asks once more: a slip of the thumb is easy.
            screen = prompt_screen(visit.form, event, row.id, lang, svc.t)
            markup = (
                confirm_removal_markup(event, action.arg or 0, row.id, lang, svc.t)
                if action.action == "r"
                else screen.markup
            )
            await edit(context.bot, row.chat_id, _message_id(query), markup=markup)
            return
        if action.action == "u" and isinstance(event, Summary):
            await edit(context.bot, row.chat_id, _message_id(query))
            message_id = await show_screen(update, context, visit, event, lang)
            await remember(s, row.id, visit.state.to_json(), svc.clock(), message_id)
            return
        if action.action in SETTLE_ACTIONS and isinstance(event, Summary):
            try:
                if action.action in ("g", "w"):
                    visit.row = await settle_earlier(
                        s, row.id, action.arg or 0, SETTLE_ACTIONS[action.action], svc.clock()
                    )
                else:
                    visit.row = await set_amendment_kind(
                        s, row.id, SETTLE_ACTIONS[action.action], svc.clock()
                    )
                await s.commit()
            except StorageError as error:
                await s.rollback()
                await query.answer(svc.t(lang, error.message_id, **error.params))
                return
            await edit(context.bot, row.chat_id, _message_id(query))
            visit.row.prompt_message_id = None
            await advance(update, context, s, user, visit, event, Submit(), lang)
            return
        inp = input_for(action, event)
        if inp is None:
            await reshow(
                update,
                context,
                visit,
                event,
                lang,
                svc.t(lang, "Please choose one of the buttons."),
            )
            return
        await advance(update, context, s, user, visit, event, inp, lang)


async def summary_page(
    context: ContextTypes.DEFAULT_TYPE,
    s: AsyncSession,
    visit: Visit,
    summary: Summary,
    action: CheckAction,
    message_id: int | None,
    lang: str,
) -> None:
    """From the short summary, every answer numbered with the numbers to change one ("m");
    another page of those numbers ("n", on that list, in place); back to the short summary
    ("v")."""
    svc = services(context)
    row = visit.row
    if action.action == "n":
        markup = edit_menu_markup(len(summary.items), action.arg or 0, row.id, lang, svc.t)
        await edit(context.bot, row.chat_id, message_id, markup=markup)
        return
    await edit(context.bot, row.chat_id, message_id)
    if action.action == "m":
        screens = all_answers_screens(visit.form, summary, row.id, lang, svc.t)
        new_id = await send_screens(context, row.chat_id, screens)
    else:
        new_id = await show_screen(None, context, visit, summary, lang)
    await remember(s, row.id, visit.state.to_json(), svc.clock(), new_id)


async def pause(
    context: ContextTypes.DEFAULT_TYPE, visit: Visit, lang: str, message_id: int | None
) -> None:
    svc = services(context)
    await edit(context.bot, visit.row.chat_id, message_id)
    await send(
        context.bot,
        visit.row.chat_id,
        svc.t(
            lang,
            "The check is paused and every answer is kept. Send /check to continue it later.",
        ),
    )


async def reshow(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    visit: Visit,
    event: Event | None,
    lang: str,
    notice: str,
) -> None:
    """Refuse an input: say why, and ask the same question again below."""
    svc = services(context)
    await edit(context.bot, visit.row.chat_id, visit.row.prompt_message_id)
    message_id = await show_screen(update, context, visit, event, lang, notice)
    async with svc.sessionmaker() as s:
        await remember(s, visit.row.id, visit.state.to_json(), svc.clock(), message_id)


async def advance(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    s: AsyncSession,
    user: User,
    visit: Visit,
    before: Event | None,
    inp: Input,
    lang: str,
) -> None:
    """One engine step: save the new state, then mend the transcript and ask what is next."""
    svc = services(context)
    bot = context.bot
    chat_id = visit.row.chat_id
    state, events = visit.at().step(inp)
    invalid = next((e for e in events if isinstance(e, Invalid)), None)
    finished = next((e for e in events if isinstance(e, Finished)), None)
    shown = next((e for e in reversed(events) if isinstance(e, Prompt | Summary)), None)
    now = svc.clock()
    if invalid is not None:
        await edit(bot, chat_id, visit.row.prompt_message_id)
        message_id = await show_screen(
            update, context, visit, shown or before, lang, invalid_text(invalid, lang, svc.t)
        )
        await remember(s, visit.row.id, state.to_json(), now, message_id)
        return
    if finished is not None:
        if await ask_before_submit(context, s, visit, finished, lang):
            return
        await save_session(s, visit.row.id, state.to_json(), now)
        await finish(context, s, user, visit, finished, lang)
        return
    await remember(s, visit.row.id, state.to_json(), now)
    same_prompt = (
        isinstance(before, Prompt) and isinstance(shown, Prompt) and before.key == shown.key
    )
    if same_prompt and isinstance(shown, Prompt):
        screen = prompt_screen(visit.form, shown, visit.row.id, lang, svc.t)
        await edit(bot, chat_id, visit.row.prompt_message_id, screen.text, screen.markup)
        return
    if isinstance(before, Prompt) and not isinstance(inp, Back | Edit):
        value = answer_at(state.answers, before.key)
        text = answered_text(visit.form, before, value, lang, svc.t)
        await edit(bot, chat_id, visit.row.prompt_message_id, text, None)
    else:
        await edit(bot, chat_id, visit.row.prompt_message_id)
    visit.state = state
    message_id = await show_screen(update, context, visit, shown, lang)
    await remember(s, visit.row.id, state.to_json(), now, message_id)


# Buttons shown before submitting: what became of an earlier problem no longer raised, and what
# an amendment records.
SETTLE_ACTIONS = {"g": "rectified", "w": "error", "c": "correction", "h": "change"}


def problem_line(problem: Problem, lang: str) -> str:
    """A problem in one line: its text in the user's language and its subject."""
    text = label(problem.text_i18n or {"zh_CN": problem.text}, lang)
    return f"{text} ({problem.subject})" if problem.subject else text


async def ask_before_submit(
    context: ContextTypes.DEFAULT_TYPE,
    s: AsyncSession,
    visit: Visit,
    finished: Finished,
    lang: str,
) -> bool:
    """Before a check is submitted, ask what it cannot know: for an amendment, whether an
    answer was wrong or the situation changed; for a check, what became of each earlier
    problem it no longer raises. True when a question was asked (nothing submitted yet)."""
    svc = services(context)
    row = visit.row
    token = token_of(Summary(items=()))
    buttons: list[list[InlineKeyboardButton]]
    if row.amends_record_id is not None:
        if row.amendment_kind is not None:
            return False
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
        pending = await unsettled(s, row.household_id, finished.record.problems, row.resolutions)
        if not pending:
            return False
        problem = pending[0]
        text = svc.t(
            lang,
            "An earlier check found this problem, and this check no longer raises it:\n"
            "{problem}\nWas it rectified, or was the earlier answer wrong?",
            problem=problem_line(problem, lang),
        )
        choices = [
            ("g", svc.t(lang, "✅ Rectified")),
            ("w", svc.t(lang, "✏️ The earlier answer was wrong")),
        ]
        arg = problem.id
    buttons = [
        [InlineKeyboardButton(caption, callback_data=encode(CheckAction(row.id, token, code, arg)))]
        for code, caption in choices
    ]
    back = svc.t(lang, "⬅ Back to the summary")
    buttons.append(
        [InlineKeyboardButton(back, callback_data=encode(CheckAction(row.id, token, "u")))]
    )
    await edit(context.bot, row.chat_id, row.prompt_message_id)
    question = Screen("❓ " + escape(text), InlineKeyboardMarkup(buttons))
    new_id = await send_screens(context, row.chat_id, [question])
    await remember(s, row.id, visit.state.to_json(), svc.clock(), new_id)
    return True


async def finish(
    context: ContextTypes.DEFAULT_TYPE,
    s: AsyncSession,
    user: User,
    visit: Visit,
    finished: Finished,
    lang: str,
) -> None:
    """Submit: save the record and its problems, and tell the cadre what was raised."""
    svc = services(context)
    today = visit.context.today

    village = visit.household.village_code
    schedule = (await load_schedules(s)).of(village)
    # Found in a campaign (专项排查): never due after its cut-off.
    deadline_for = check_deadlines(schedule, today, await cutoff_on(s, village, today))
    record, problems = await submit_check(
        s, visit.row.id, finished.record, user.id, svc.clock(), deadline_for
    )
    first_found = await found_by(s, record.id)
    in_case = record.at_risk and await open_case_of(s, record.household_id) is not None
    await s.commit()
    await edit(context.bot, visit.row.chat_id, visit.row.prompt_message_id)
    name = household_name(visit.household, lang, svc)
    saved = svc.t(lang, "Submitted: the check of {name} is saved.", name=name)
    lines = [f"✅ <b>{escape(saved)}</b>"]
    new = [problem for problem in problems if problem.id in first_found]
    seen = [problem for problem in problems if problem.id not in first_found]
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
    if in_case:
        flagged = svc.t(lang, "The household is flagged for monitoring: its case is in /cases.")
        lines.append("⚠️ " + escape(flagged))
    elif record.at_risk:
        lines.append(
            "⚠️ " + escape(svc.t(lang, "The household is flagged for return-to-poverty monitoring."))
        )
    await send(context.bot, visit.row.chat_id, "\n".join(lines))


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
        lines.append(f"{number}. {escape(category)}{escape(text)} — {escape(due)}")
    return lines


async def on_check_input(update: Update, context: ContextTypes.DEFAULT_TYPE, inp: Input) -> bool:
    """A typed answer, photo or location: answer the open check. False when none is open."""
    svc = services(context)
    user = await registered_user(update, context)
    if user is None:
        return True
    lang = language(user, update, svc)
    async with svc.sessionmaker() as s:
        row = await current_session(s, user)
        if row is None:
            return False
        visit = await load_visit(s, svc, row)
        if visit is None:
            return False
        event = current_event(visit)
        if handled_before(row, update):
            if not shown_before(row, update):
                await edit(context.bot, row.chat_id, row.prompt_message_id)
                message_id = await show_screen(update, context, visit, event, lang)
                await remember(s, row.id, visit.state.to_json(), svc.clock(), message_id)
            return True
        await advance(update, context, s, user, visit, event, inp, lang)
    return True


async def on_unreadable(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """A sticker, voice note, file… while a check is open: say so and ask again."""
    svc = services(context)
    user = await registered_user(update, context)
    if user is None:
        return True
    lang = language(user, update, svc)
    async with svc.sessionmaker() as s:
        row = await current_session(s, user)
        if row is None:
            return False
        visit = await load_visit(s, svc, row)
    if visit is None:
        return False
    notice = svc.t(
        lang, "I cannot read this kind of message here. Please answer the question below."
    )
    await reshow(update, context, visit, current_event(visit), lang, notice)
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
    async with svc.sessionmaker() as s:
        row = await current_session(s, user)
    if row is not None and update.effective_chat is not None:
        await send(
            context.bot,
            update.effective_chat.id,
            svc.t(lang, "Your check is still open. Send /check to continue it."),
        )
