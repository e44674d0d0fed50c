"""/cases: the monitoring cases (防返贫监测) of households at risk, each step recorded from its
card by the people whose role records it (services.monitoring decides, this module only shows
and asks); and the risk removal (风险消除) of a monitored household, opened from /cases."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from html import escape
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.ext import ContextTypes

from bot.callbacks import CaseAnswer, CaseMenu, CaseStep, HouseholdPage, OpenCase, encode
from bot.handlers.common import language, registered_user
from bot.i18n import Translator, format_day, format_number
from bot.reminders import step_name
from bot.sending import edit, send
from bot.services import Services, services
from conversations.answers import parse_date
from conversations.thresholds import income_line_for
from services import monitoring
from services.monitoring import CaseCard
from services.policy import Deed, may
from storage import Household, User
from storage.errors import StorageError
from storage.monitoring import (
    CATEGORIES,
    HAND_SOURCES,
    MIN_NOTICE_DAYS,
    OUTCOMES,
    REMOVE,
    RISK_TYPES,
    SOURCES,
    CaseView,
    decision_draft,
)

PAGE = 8
Button = InlineKeyboardButton
ZONE = "Asia/Shanghai"


def _error(t: Translator, lang: str, error: StorageError) -> str:
    params = {key: _shown(value, lang) for key, value in error.params.items()}
    return t(lang, error.message_id, **params)


def _shown(value: object, lang: str) -> object:
    if isinstance(value, date):
        return format_day(value, lang)
    if isinstance(value, Decimal):
        return format_number(value, lang)
    return value


async def _income_line(svc: Services, household_id: int) -> Decimal | None:
    """The income line of the household's area for this year, when the thresholds have one."""
    async with svc.sessionmaker() as s:
        household = await s.get(Household, household_id)
        if household is None:
            return None
        zone, province = await svc.desk.place_of(s, household.village_code)
    year = svc.clock().astimezone(ZoneInfo(zone)).year
    line = income_line_for(svc.thresholds, province, year)
    return None if line is None else Decimal(str(line.line))


# ---------------------------------------------------------------- the card


def kind_name(t: Translator, lang: str, kind: str) -> str:
    return t(lang, "Risk removal") if kind == REMOVE else t(lang, "Identification for monitoring")


def _names(t: Translator, lang: str, table: Mapping[str, str], codes: list[str]) -> str:
    names = [t(lang, table[code]) for code in codes if code in table]
    joined = names[0] if names else ""
    for name in names[1:]:
        joined = t(lang, "{first}, {second}", first=joined, second=name)
    return joined


def _step_note(t: Translator, lang: str, view: CaseView, step_index: int) -> str:
    step = view.steps[step_index]
    details = step.details or {}
    if step.done_at is None:
        return ""
    if details.get("not_recorded"):
        return t(lang, "not recorded")
    source = SOURCES.get(str(details.get("source")))
    if step.step == "discovery" and source is not None:
        return t(lang, source)
    if step.step == "assessment" and details.get("income") is not None:
        income = format_number(Decimal(str(details["income"])), lang)
        return t(lang, "income {income} yuan a person, risks gone", income=income)
    if step.step == "public_notice" and details.get("end"):
        return t(
            lang,
            "posted {start} to {end}",
            start=format_day(date.fromisoformat(details["start"]), lang),
            end=format_day(date.fromisoformat(details["end"]), lang),
        )
    if details.get("passed") is False:
        return step.outcome or ""
    return step.outcome or ""


def _local_day(moment: datetime) -> date:
    return moment.astimezone(ZoneInfo(ZONE)).date()


def case_text(t: Translator, lang: str, card: CaseCard) -> str:
    view = card.view
    title = t(lang, "Monitoring case #{id}: {name}", id=view.case.id, name=view.household.head_name)
    lines = [f"🛡 <b>{escape(title)}</b>", escape(kind_name(t, lang, view.case.kind))]
    lines.append(escape(t(lang, "Opened {day}", day=format_day(view.case.opened_on, lang))))
    for event in view.history:
        day = format_day(_local_day(event.at), lang)
        text = (
            t(lang, "Opened by the check of {day}.", day=day)
            if event.kind == "opened"
            else t(lang, "Flagged at risk again by the check of {day}.", day=day)
        )
        lines.append("🔁 " + escape(text))
    lines.append("")
    for index, step in enumerate(view.steps):
        if step.done_at is None and view.case.status != "open":
            continue  # a case that ended early never reached these
        failed = (step.details or {}).get("passed") is False
        mark = "⛔" if failed else ("✅" if step.done_at is not None else "⬜")
        line: str = f"{mark} {step_name(t, lang, step.step)}"
        if step.done_at is None:
            line += " · " + t(lang, "due {day}", day=format_day(step.due_on, lang))
        elif not (step.details or {}).get("not_recorded"):
            line += " · " + t(lang, "done {day}", day=format_day(_local_day(step.done_at), lang))
        note = _step_note(t, lang, view, index)
        if note:
            line = t(lang, "{label}: {answer}", label=line, answer=note)
        lines.append(escape(line))
    lines.extend(_state_lines(t, lang, card))
    return "\n".join(lines)


def _state_lines(t: Translator, lang: str, card: CaseCard) -> list[str]:
    view = card.view
    case = view.case
    lines: list[str] = [""]
    if case.status != "open":
        lines.append(
            "🏁 " + escape(t(lang, OUTCOMES.get(case.outcome or "", "The case is closed.")))
        )
        if case.outcome == "included":
            lines.append(
                escape(
                    t(
                        lang,
                        "Category: {category}",
                        category=t(lang, CATEGORIES.get(case.category or "", "")),
                    )
                )
            )
            named = _names(t, lang, RISK_TYPES, list(case.risk_types or []))
            lines.append(escape(t(lang, "Risk types: {risks}", risks=named)))
        if case.outcome_reason:
            lines.append(escape(t(lang, "Reason: {reason}", reason=case.outcome_reason)))
        return lines
    step = view.next_step
    if step is None:
        return []
    if card.notice_until is not None:
        lines.append(
            escape(
                t(
                    lang,
                    "The notice runs until {day}; “{step}” can be recorded from {next}.",
                    day=format_day(card.notice_until, lang),
                    step=step_name(t, lang, step.step),
                    next=format_day(card.notice_until + timedelta(days=1), lang),
                )
            )
        )
        return lines
    if card.rule is None:
        lines.append(escape(t(lang, "Next step: “{step}”.", step=step_name(t, lang, step.step))))
        return lines
    if card.rule.answer == "decision":
        category, ticked = decision_draft(step)
        if category is None:
            lines.append(
                escape(
                    t(lang, "Included: choose the monitoring category, or press “Not included”.")
                )
            )
        else:
            lines.append(
                escape(t(lang, "Category: {category}", category=t(lang, CATEGORIES[category])))
            )
            lines.append(escape(t(lang, "Tick every risk type, then press “Include ✔”.")))
            if ticked:
                lines.append(
                    escape(
                        t(lang, "Risk types: {risks}", risks=_names(t, lang, RISK_TYPES, ticked))
                    )
                )
        return lines
    if card.rule.answer == "notice":
        lines.append(
            escape(
                t(
                    lang,
                    "Post the notice for at least {days} days, then press a button to record "
                    "its last day.",
                    days=MIN_NOTICE_DAYS,
                )
            )
        )
        return lines
    lines.append(
        escape(t(lang, "Press a button to record “{step}”.", step=step_name(t, lang, step.step)))
    )
    return lines


def case_markup(t: Translator, lang: str, card: CaseCard) -> InlineKeyboardMarkup | None:
    rule = card.rule
    step = card.view.next_step
    if rule is None or step is None:
        return None
    case_id, position = card.view.case.id, step.position

    def button(label: str, action: str, arg: int = 0) -> Button:
        return Button(label, callback_data=encode(CaseAnswer(case_id, position, action, arg)))

    refuse = (
        t(lang, "⛔ Not agreed") if card.view.case.kind == REMOVE else t(lang, "⛔ Not eligible")
    )
    rows: list[list[Button]]
    match rule.answer:
        case "consent":
            rows = [
                [
                    button(t(lang, "✅ Consent signed"), "y"),
                    button(t(lang, "⛔ Refused to sign"), "n"),
                ]
            ]
        case "review":
            passed = t(lang, "✅ {step}: agreed", step=step_name(t, lang, step.step))
            rows = [[button(passed, "y")], [button(refuse, "n")]]
        case "removal":
            rows = [
                [
                    button(t(lang, "✅ Risk removed"), "y"),
                    button(t(lang, "⛔ Risk not removed"), "n"),
                ]
            ]
        case "notice":
            end = card.today + timedelta(days=MIN_NOTICE_DAYS - 1)
            quick = t(lang, "📋 Posted today, until {day}", day=format_day(end, lang))
            rows = [
                [button(quick, "e", MIN_NOTICE_DAYS)],
                [button(t(lang, "📅 Another last day"), "e")],
            ]
        case "decision":
            category, risks = decision_draft(step)
            if category is None:
                rows = [
                    [button(t(lang, name), "c", index)]
                    for index, name in enumerate(CATEGORIES.values())
                ]
                rows.append([button(t(lang, "⛔ Not included"), "n")])
            else:
                rows = []
                for index, (code, name) in enumerate(RISK_TYPES.items()):
                    mark = "☑" if code in risks else "☐"
                    rows.append([button(f"{mark} {t(lang, name)}", "r", index)])
                rows.append([button(t(lang, "↩ Category"), "k"), button(t(lang, "Include ✔"), "i")])
        case _:
            return None
    return InlineKeyboardMarkup(rows)


async def show_card(
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
        card = await monitoring.case_card(svc.runtime, user.id, case_id)
    except StorageError as error:
        await send(context.bot, chat.id, escape(_error(svc.t, lang, error)))
        return
    text = case_text(svc.t, lang, card)
    markup = case_markup(svc.t, lang, card)
    if message_id is not None:
        await edit(context.bot, chat.id, message_id, text, markup)
    else:
        await send(context.bot, chat.id, text, markup)


# ---------------------------------------------------------------- /cases


async def on_cases(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/cases: the open monitoring cases of my area, and the way to a risk removal."""
    svc = services(context)
    user = await registered_user(update, context)
    chat = update.effective_chat
    if user is None or chat is None:
        return
    lang = language(user, update, svc)
    found = await monitoring.open_cases(svc.runtime, user.id)
    rows = []
    for view in found.views:
        step = view.next_step
        label = view.household.head_name
        if view.case.kind == REMOVE:
            label += " · " + svc.t(lang, "Risk removal")
        if step is not None:
            label += f" · {step_name(svc.t, lang, step.step)} · {format_day(step.due_on, lang)}"
        rows.append([Button(label, callback_data=encode(OpenCase(view.case.id)))])
    if may(user, Deed.OPEN_CASE):
        application = HouseholdPage(0, "", "m")
        rows.append(
            [
                Button(svc.t(lang, "➕ New case"), callback_data=encode(application)),
                Button(svc.t(lang, "➕ Risk removal"), callback_data=encode(CaseMenu("l", 0))),
            ]
        )
    if found.views:
        text = svc.t(lang, "Open monitoring cases: {count}", count=len(found.views))
    else:
        text = svc.t(lang, "No monitoring case is open in your area.")
    await send(context.bot, chat.id, escape(text), InlineKeyboardMarkup(rows) if rows else None)


async def on_open_case(update: Update, context: ContextTypes.DEFAULT_TYPE, cb: OpenCase) -> None:
    query = update.callback_query
    user = await registered_user(update, context)
    if user is None or query is None:
        return
    await query.answer()
    await show_card(update, context, user, cb.case_id)


async def on_old_step(update: Update, context: ContextTypes.DEFAULT_TYPE, cb: CaseStep) -> None:
    """A button of an older card: show the case as it is now."""
    await on_open_case(update, context, OpenCase(cb.case_id))


async def on_case_answer(
    update: Update, context: ContextTypes.DEFAULT_TYPE, cb: CaseAnswer
) -> None:
    """A button of a case card: checked by services.monitoring against the case's next step
    and the user's role, then done, or the bot asks for what it needs."""
    svc = services(context)
    query = update.callback_query
    user = await registered_user(update, context)
    chat = update.effective_chat
    if user is None or query is None or chat is None:
        return
    lang = language(user, update, svc)
    rt = svc.runtime
    card_id = query.message.message_id if query.message is not None else None
    ask: str | None = None
    try:
        match cb.action:
            case "y":
                await monitoring.pass_step(rt, user.id, cb.case_id, cb.position)
            case "n":
                view = await monitoring.ask(rt, user.id, cb.case_id, cb.position, monitoring.REASON)
                ask = _reason_prompt(svc, lang, view)
            case "e" if cb.arg > 0:
                today = await monitoring.notice_earliest_end(rt, user.id)
                await monitoring.post_notice(rt, user.id, cb.case_id, cb.position, today)
            case "e":
                view = await monitoring.ask(
                    rt, user.id, cb.case_id, cb.position, monitoring.NOTICE_END
                )
                ask = await _notice_prompt(svc, lang, user, view)
            case "c" if 0 <= cb.arg < len(CATEGORIES):
                category = list(CATEGORIES)[cb.arg]
                await monitoring.choose(rt, user.id, cb.case_id, cb.position, category=category)
            case "r" if 0 <= cb.arg < len(RISK_TYPES):
                risk = list(RISK_TYPES)[cb.arg]
                await monitoring.choose(rt, user.id, cb.case_id, cb.position, toggle_risk=risk)
            case "k":
                await monitoring.choose(rt, user.id, cb.case_id, cb.position, category="")
            case "i":
                await monitoring.include(rt, user.id, cb.case_id, cb.position)
            case _:
                raise StorageError("This button is no longer valid.")
    except StorageError as error:
        await query.answer(_error(svc.t, lang, error), show_alert=True)
        return
    await query.answer()
    if ask is not None:
        await send(context.bot, chat.id, escape(ask))
        return
    await show_card(update, context, user, cb.case_id, card_id)


def _reason_prompt(svc: Services, lang: str, view: CaseView) -> str:
    name = view.household.head_name
    if view.case.kind == REMOVE:
        return svc.t(
            lang,
            "Send the reason the risk of {name} is not removed. Send /cancel to stop.",
            name=name,
        )
    return svc.t(lang, "Send the reason {name} is not eligible. Send /cancel to stop.", name=name)


async def _notice_prompt(svc: Services, lang: str, user: User, view: CaseView) -> str:
    earliest = await monitoring.notice_earliest_end(svc.runtime, user.id)
    return svc.t(
        lang,
        "Send the last day of the notice for {name}, {day} or later (for example {example}). "
        "Send /cancel to stop.",
        name=view.household.head_name,
        day=format_day(earliest, lang),
        example=earliest.isoformat(),
    )


_SHORT_DATE = re.compile(r"^(\d{1,2})[-/.月](\d{1,2})日?$")


def read_day(text: str, today: date) -> date | None:
    """A day typed as 2026-12-03, 2026年12月3日, 12月3日 or 12-3 (this year, or the next
    when that day has passed)."""
    typed = re.sub(r"\s+", "", text)
    found = parse_date(typed)
    if found is not None:
        return found
    match = _SHORT_DATE.match(typed)
    if match is None:
        return None
    try:
        day = date(today.year, int(match.group(1)), int(match.group(2)))
    except ValueError:
        return None
    return day if day >= today else date(today.year + 1, day.month, day.day)


async def on_case_input(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    user: User,
    case_id: int,
    expected: str | None,
    message: Message,
) -> None:
    """The message the bot waited for after a case button: a reason, or the notice's last
    day. A message it cannot use is answered with what to send, and the wait goes on."""
    svc = services(context)
    lang = language(user, update, svc)
    text = (message.text or message.caption or "").strip()
    what, _, position_text = (expected or "").partition(":")
    position = int(position_text) if position_text.isdigit() else -1
    rt = svc.runtime
    try:
        if what == monitoring.NOTICE_END:
            earliest = await monitoring.notice_earliest_end(rt, user.id)
            end = read_day(text, earliest - timedelta(days=MIN_NOTICE_DAYS - 1))
            if end is None:
                await send(
                    context.bot,
                    message.chat_id,
                    escape(
                        svc.t(
                            lang,
                            "I could not read a date there. Send the last day of the notice, "
                            "for example {example}, or /cancel to stop.",
                            example=earliest.isoformat(),
                        )
                    ),
                )
                return
            await monitoring.post_notice(rt, user.id, case_id, position, end)
        else:
            if not text:
                await send(
                    context.bot,
                    message.chat_id,
                    escape(svc.t(lang, "Please give a note or a reason.")),
                )
                return
            await monitoring.exit_case(rt, user.id, case_id, position, text)
    except StorageError as error:
        # A notice too short keeps the wait: another last day can be sent, or the card's
        # button pressed. Anything else (the step was done meanwhile) ends it.
        if not error.message_id.startswith("The public notice must run"):
            await monitoring.stop_waiting(rt, user.id)
        await send(context.bot, message.chat_id, escape("⚠️ " + _error(svc.t, lang, error)))
        await show_card(update, context, user, case_id)
        return
    await send(context.bot, message.chat_id, "✅ " + escape(svc.t(lang, "Saved.")))
    await show_card(update, context, user, case_id)


# ---------------------------------------------------------------- risk removal


async def on_case_menu(update: Update, context: ContextTypes.DEFAULT_TYPE, cb: CaseMenu) -> None:
    """➕ Risk removal: pick a monitored household, say its risks are gone, give its income."""
    svc = services(context)
    query = update.callback_query
    user = await registered_user(update, context)
    chat = update.effective_chat
    if user is None or query is None or chat is None:
        return
    lang = language(user, update, svc)
    rt = svc.runtime
    try:
        if cb.action == "l":
            households = await monitoring.removable(rt, user.id, cb.arg, PAGE + 1)
            await query.answer()
            await _removal_list(context, svc, lang, chat.id, households, cb.arg)
            return
        if cb.action == "h":
            household = await monitoring.removable_one(rt, user.id, cb.arg)
            await query.answer()
            question = svc.t(
                lang,
                "Risk removal for {name}: is the income stably above the line, and are the "
                "risks gone (food, clothing, schooling, medical care, housing and drinking "
                "water secured)?",
                name=household.head_name,
            )
            markup = InlineKeyboardMarkup(
                [
                    [
                        Button(
                            svc.t(lang, "Yes, the risks are gone"),
                            callback_data=encode(CaseMenu("g", household.id)),
                        )
                    ],
                    [
                        Button(
                            svc.t(lang, "No, not yet"),
                            callback_data=encode(CaseMenu("x", household.id)),
                        )
                    ],
                ]
            )
            await send(context.bot, chat.id, escape(question), markup)
            return
        if cb.action == "g":
            household = await monitoring.ask_income(rt, user.id, cb.arg)
            await query.answer()
            await send(
                context.bot,
                chat.id,
                escape(
                    svc.t(
                        lang,
                        "Send the income per person of {name} over the last 12 months, in yuan "
                        "(for example 9800). Send /cancel to stop.",
                        name=household.head_name,
                    )
                ),
            )
            return
        if cb.action == "a":
            await query.answer()
            await _ask_source(context, svc, lang, chat.id, cb.arg)
            return
        if cb.action == "s" and 0 <= cb.extra < len(HAND_SOURCES):
            view = await monitoring.open_identification(rt, user.id, cb.arg, HAND_SOURCES[cb.extra])
            await query.answer()
            await show_card(update, context, user, view.case.id)
            return
        if cb.action == "x":
            await query.answer()
            await send(
                context.bot,
                chat.id,
                escape(
                    svc.t(
                        lang,
                        "The household stays monitored. A risk removal is opened once its "
                        "income is stably above the line and its risks are gone.",
                    )
                ),
            )
            return
        raise StorageError("This button is no longer valid.")
    except StorageError as error:
        await query.answer(_error(svc.t, lang, error), show_alert=True)


async def _ask_source(
    context: ContextTypes.DEFAULT_TYPE, svc: Services, lang: str, chat_id: int, household_id: int
) -> None:
    rows = [
        [
            Button(
                svc.t(lang, SOURCES[source]),
                callback_data=encode(CaseMenu("s", household_id, index)),
            )
        ]
        for index, source in enumerate(HAND_SOURCES)
    ]
    text = svc.t(lang, "How did this household come to notice?")
    await send(context.bot, chat_id, escape(text), InlineKeyboardMarkup(rows))


async def _removal_list(
    context: ContextTypes.DEFAULT_TYPE,
    svc: Services,
    lang: str,
    chat_id: int,
    households: list[Household],
    offset: int,
) -> None:
    if not households:
        await send(
            context.bot,
            chat_id,
            escape(svc.t(lang, "No monitored household without an open case in your area.")),
        )
        return
    rows = [
        [Button(f"{h.number} {h.head_name}", callback_data=encode(CaseMenu("h", h.id)))]
        for h in households[:PAGE]
    ]
    if len(households) > PAGE:
        rows.append(
            [Button(svc.t(lang, "More ▶"), callback_data=encode(CaseMenu("l", offset + PAGE)))]
        )
    text = svc.t(lang, "Risk removal: pick a monitored household.")
    await send(context.bot, chat_id, escape(text), InlineKeyboardMarkup(rows))


async def on_removal_input(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    user: User,
    household_id: int,
    message: Message,
) -> None:
    """The income per person typed for a risk removal: the case opens with it."""
    svc = services(context)
    lang = language(user, update, svc)
    income = monitoring.parse_income(message.text or "")
    if income is None:
        await send(
            context.bot,
            message.chat_id,
            escape(
                svc.t(
                    lang,
                    "I could not read an amount there. Send the income per person in yuan, "
                    "for example 9800, or /cancel to stop.",
                )
            ),
        )
        return
    try:
        line = await _income_line(svc, household_id)
        view = await monitoring.open_removal(svc.runtime, user.id, household_id, income, line)
    except StorageError as error:
        if "income" not in error.params:  # below the line: another amount may be sent
            await monitoring.stop_waiting(svc.runtime, user.id)
        await send(context.bot, message.chat_id, escape("⚠️ " + _error(svc.t, lang, error)))
        return
    await show_card(update, context, user, view.case.id)
