"""The problem ledger (问题台账) in the chat: /problems with filters and paging, the problem card
with the buttons the user's role and the problem's state allow, and the note, reason or new
deadline the bot waits for after such a button. Every list, card and change goes through the
ledger's use cases (services.ledger).
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from html import escape
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.ext import ContextTypes

from bot.callbacks import (
    ACTION_CODES,
    STATUS_CODES,
    OpenProblem,
    ProblemAction,
    ProblemList,
    encode,
)
from bot.context import sender_user, wait_with_user
from bot.handlers import cases
from bot.handlers.common import language, registered_user
from bot.i18n import LANGUAGES, Translator, format_day, format_moment
from bot.render import category_name, measures_text, unit_name
from bot.sending import edit, fitted, send, visible_length
from bot.services import Services, services
from conversations.answers import parse_date
from services import ledger
from services.monitoring import CASE_INPUT, REMOVAL_INPUT
from services.policy import Deed, may
from storage import Household, User, get_area, households_page, user_by_telegram_id
from storage.campaigns import cutoff_on
from storage.deadlines import IMMEDIATE, ONGOING, TIMED
from storage.errors import StorageError
from storage.models import ProblemStatus
from storage.problems import (
    DeadlineSpec,
    PastCutoff,
    ProblemCard,
    add_problem,
    default_assignee,
    resolve_deadline,
)
from storage.progress import load_schedules
from storage.prompts import await_input, clear_input, live_wait, pending_input
from storage.texts import DEADLINE_TIER_NAMES, STATUS_NAMES, translator

PAGE = 8
ACTIONS_BY_CODE = {code: name for name, code in ACTION_CODES.items()}
STATUSES_BY_CODE = {code: name for name, code in STATUS_CODES.items()}
SCOPES = {"o": "open", "d": "overdue", "a": "all"}
SHORT_STATUS: dict[str, str] = {
    ProblemStatus.OPEN: "○",
    ProblemStatus.IN_PROGRESS: "◐",
    ProblemStatus.RECTIFIED: "◑",
    ProblemStatus.VERIFIED: "●",
}
_DAYS = re.compile(r"^\d{1,4}$")
# A card fits one message with room for a notice above it ("Saved."); any one field or
# history entry is cut at CARD_FIELD_LIMIT, and the oldest entries give way first.
CARD_LIMIT = 3800
CARD_FIELD_LIMIT = 1000
CARD_HISTORY = 30


def status_name(t: Translator, lang: str, status: str) -> str:
    name = STATUS_NAMES.get(status)
    return t(lang, name) if name is not None else status


def action_label(t: Translator, lang: str, action: str) -> str:
    labels = {
        "progress": t(lang, "Add progress"),
        "rectify": t(lang, "Report rectified"),
        "verify": t(lang, "Verify (close)"),
        "return": t(lang, "Return with a reason"),
        "deadline": t(lang, "Change the deadline"),
        "unit": t(lang, "Change the unit"),
    }
    return labels.get(action, action)


def history_name(t: Translator, lang: str, action: str) -> str:
    names = {
        "raised": t(lang, "raised by a check"),
        "added": t(lang, "added by hand"),
        "progress": t(lang, "progress"),
        "rectify": t(lang, "reported rectified"),
        "verify": t(lang, "verified"),
        "return": t(lang, "returned"),
        "deadline": t(lang, "deadline changed"),
        "deadline_past_cutoff": t(
            lang, "deadline set past the campaign's cut-off, on the office's word"
        ),
        "unit": t(lang, "unit changed"),
        "seen_again": t(lang, "seen again by a check"),
        "reopened": t(lang, "found again after it was closed"),
        "carried_over": t(lang, "still raised by the amended check"),
        "rectified_at_check": t(lang, "rectified, as a later check found"),
        "withdrawn_at_check": t(lang, "withdrawn: the earlier answer was wrong"),
        "raised_in_error": t(lang, "withdrawn: the earlier answer was wrong"),
    }
    return names.get(action) or t(lang, "changed")


def prompt_for(t: Translator, lang: str, action: str) -> str:
    prompts = {
        "progress": t(
            lang,
            "Send the progress on this problem: a text, or a photo with a caption. "
            "Send /cancel to stop.",
        ),
        "rectify": t(
            lang,
            "Send a note on how the problem was rectified (required). You may send a photo "
            "with the note as its caption. Send /cancel to stop.",
        ),
        "return": t(lang, "Send the reason for returning this problem. Send /cancel to stop."),
        "deadline": t(
            lang,
            "Send the new deadline (like 2026-12-31, or a number of days) followed by the "
            "reason. Send /cancel to stop.",
        ),
        "unit": t(
            lang,
            "Send the new responsible unit on the first line and the reason on the next. "
            "Send /cancel to stop.",
        ),
    }
    return prompts[action]


async def local_today(svc: Services, user: User) -> tuple[date, str]:
    """Today in the user's area, and the area's zone."""
    async with svc.sessionmaker() as s:
        area = await get_area(s, user.area_code)
    zone = area.timezone if area is not None else "Asia/Shanghai"
    return svc.clock().astimezone(ZoneInfo(zone)).date(), zone


def deadline_text(
    t: Translator, lang: str, deadline: date, status: str, today: date, tier: str | None = None
) -> str:
    """The deadline as a card or list shows it, with its tier; a 长期坚持 (ongoing) problem has
    no date to be overdue after, only its tier."""
    named = tier_label(t, lang, tier)
    if tier == ONGOING:
        return named
    day = format_day(deadline, lang)
    left = (deadline - today).days
    if status in (ProblemStatus.RECTIFIED, ProblemStatus.VERIFIED):
        text = day
    elif left < 0:
        text = t(lang, "{day}, {days} days overdue", day=day, days=-left)
    elif left == 0:
        text = t(lang, "{day}, due today", day=day)
    else:
        text = t(lang, "{day}, {days} days left", day=day, days=left)
    return t(lang, "{text} ({tier})", text=text, tier=named) if named else text


def tier_label(t: Translator, lang: str, tier: str | None) -> str:
    """A rectification tier (整改时限) in the reader's language; empty for none."""
    msgid = DEADLINE_TIER_NAMES.get(tier or "")
    return t(lang, msgid) if msgid else ""


# ---------------------------------------------------------------- the list


async def on_problems(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/problems: the problems of my area, newest first, open ones by default."""
    user = await registered_user(update, context)
    if user is None:
        return
    await show_problems(update, context, user, ProblemList())


async def on_problem_list(
    update: Update, context: ContextTypes.DEFAULT_TYPE, page: ProblemList
) -> None:
    query = update.callback_query
    user = await registered_user(update, context)
    if user is None or query is None:
        return
    await query.answer()
    message_id = query.message.message_id if query.message is not None else None
    await show_problems(update, context, user, page, message_id)


def _filter_button(text: str, page: ProblemList, chosen: bool) -> InlineKeyboardButton:
    return InlineKeyboardButton(("• " if chosen else "") + text, callback_data=encode(page))


async def show_problems(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    user: User,
    page: ProblemList,
    message_id: int | None = None,
) -> None:
    svc = services(context)
    lang = language(user, update, svc)
    chat = update.effective_chat
    assert chat is not None
    found = await ledger.list_problems(
        svc.runtime,
        user.id,
        ledger.LedgerQuery(
            SCOPES.get(page.scope, "open"),  # type: ignore[arg-type]
            mine=page.mine,
            category_index=page.category,
            village_code=page.village or None,
            offset=max(page.offset, 0),
            limit=PAGE,
        ),
    )
    today = found.today
    categories = found.categories
    villages = found.villages
    category = found.category
    rows: list[list[InlineKeyboardButton]] = []
    if page.menu == "c":
        text = escape(svc.t(lang, "Show which category?"))
        for index, name in enumerate(categories):
            choice = ProblemList(page.scope, page.mine, index, page.village)
            shown = category_name(svc.forms, name, lang)
            rows.append([_filter_button(shown, choice, index == page.category)])
        rows.append(
            [
                _filter_button(
                    svc.t(lang, "Any category"),
                    ProblemList(page.scope, page.mine, -1, page.village),
                    page.category < 0,
                )
            ]
        )
    elif page.menu == "v":
        text = escape(svc.t(lang, "Show which village?"))
        for area in villages:
            choice = ProblemList(page.scope, page.mine, page.category, area.code)
            rows.append([_filter_button(area.name, choice, area.code == page.village)])
        rows.append(
            [
                _filter_button(
                    svc.t(lang, "All villages"),
                    ProblemList(page.scope, page.mine, page.category, ""),
                    not page.village,
                )
            ]
        )
    else:
        text = _list_text(svc, lang, found.rows, found.total, page, today, category)
        for row in found.rows:
            rows.append(
                [
                    InlineKeyboardButton(
                        f"{row.head_name} · {category_name(svc.forms, row.category, lang)}"
                        f" · {_short_status(row.status)}",
                        callback_data=encode(OpenProblem(row.id)),
                    )
                ]
            )
        paging = []
        if page.offset > 0:
            back = ProblemList(
                page.scope, page.mine, page.category, page.village, max(page.offset - PAGE, 0)
            )
            paging.append(
                InlineKeyboardButton(svc.t(lang, "◀ Previous"), callback_data=encode(back))
            )
        if page.offset + PAGE < found.total:
            more = ProblemList(
                page.scope, page.mine, page.category, page.village, page.offset + PAGE
            )
            paging.append(InlineKeyboardButton(svc.t(lang, "Next ▶"), callback_data=encode(more)))
        if paging:
            rows.append(paging)
        scopes = []
        for code, label in (
            ("o", svc.t(lang, "Not closed")),
            ("d", svc.t(lang, "Overdue")),
            ("a", svc.t(lang, "All")),
        ):
            scopes.append(
                _filter_button(
                    label,
                    ProblemList(code, page.mine, page.category, page.village),
                    code == page.scope,
                )
            )
        rows.append(scopes)
        extra = [
            _filter_button(
                svc.t(lang, "Mine"),
                ProblemList(page.scope, not page.mine, page.category, page.village),
                page.mine,
            ),
            _filter_button(
                svc.t(lang, "Category ▾"),
                ProblemList(page.scope, page.mine, page.category, page.village, 0, "c"),
                page.category >= 0,
            ),
        ]
        if villages:
            extra.append(
                _filter_button(
                    svc.t(lang, "Village ▾"),
                    ProblemList(page.scope, page.mine, page.category, page.village, 0, "v"),
                    bool(page.village),
                )
            )
        rows.append(extra)
    markup = InlineKeyboardMarkup(rows)
    if message_id is not None:
        await edit(context.bot, chat.id, message_id, text, markup)
    else:
        await send(context.bot, chat.id, text, markup)


def _short_status(status: str) -> str:
    return SHORT_STATUS.get(status, "")


def _list_text(
    svc: Services,
    lang: str,
    rows: list,  # type: ignore[type-arg]
    total: int,
    page: ProblemList,
    today: date,
    category: str | None,
) -> str:
    scope = {"o": svc.t(lang, "open"), "d": svc.t(lang, "overdue"), "a": svc.t(lang, "all")}
    title = svc.t(lang, "Problems ({scope}): {total}", scope=scope.get(page.scope, ""), total=total)
    lines = [f"<b>{escape(title)}</b>"]
    if page.mine:
        lines.append(escape(svc.t(lang, "Only those I am responsible for.")))
    if category:
        name = category_name(svc.forms, category, lang)
        lines.append(escape(svc.t(lang, "Category: {name}", name=name)))
    if not rows:
        lines.append(escape(svc.t(lang, "No problems match.")))
        return "\n".join(lines)
    for number, row in enumerate(rows, start=page.offset + 1):
        due = deadline_text(svc.t, lang, row.deadline, row.status, today, row.deadline_tier)
        household = svc.t(
            lang, "{household} ({village})", household=row.head_name, village=row.village_name
        )
        lines.append(
            f"{number}. {escape(household)} · "
            f"{escape(category_name(svc.forms, row.category, lang))} · {escape(due)}"
        )
    shown_to = min(page.offset + PAGE, total)
    lines.append(
        escape(
            svc.t(
                lang,
                "Problems {first}–{last} of {total}",
                first=page.offset + 1,
                last=shown_to,
                total=total,
            )
        )
    )
    return "\n".join(lines)


# ---------------------------------------------------------------- the card


def card_text(svc: Services, lang: str, card: ProblemCard, today: date, zone: str) -> str:
    p = card.problem
    t = svc.t
    text = (p.text_i18n or {}).get(lang) or p.text
    goal = (p.goal_i18n or {}).get(lang) or p.goal
    title = t(lang, "Problem #{id}", id=p.id)
    lines = [
        f"<b>{escape(title)}</b> · {escape(category_name(svc.forms, p.category, lang))}",
        escape(
            t(
                lang,
                "Household: {name} ({number}), {village}",
                name=card.household.head_name,
                number=card.household.number,
                village=card.village_name,
            )
        ),
        escape(t(lang, "Problem: {text}", text=text)),
        escape(t(lang, "Goal: {text}", text=goal)),
    ]
    if p.reopened_from_id is not None:
        lines.append(
            escape(t(lang, "Found again after problem #{id} was closed.", id=p.reopened_from_id))
        )
    measures = measures_text(svc.forms, p.rule_id, p.subject, p.measures, lang)
    if measures:
        lines.append(escape(t(lang, "Measures: {text}", text=measures)))
    unit = unit_name(svc.forms, p.responsible_unit, lang)
    lines.append(escape(t(lang, "Responsible unit: {unit}", unit=unit)))
    if card.responsible_name:
        lines.append(escape(t(lang, "Responsible cadre: {name}", name=card.responsible_name)))
    lines.append(
        escape(
            t(
                lang,
                "Deadline: {text}",
                text=deadline_text(t, lang, p.deadline, p.status, today, p.deadline_tier),
            )
        )
    )
    lines.append(
        "<b>" + escape(t(lang, "Status: {status}", status=status_name(t, lang, p.status))) + "</b>"
    )
    lines = [_short(line, CARD_FIELD_LIMIT) for line in lines]
    lines.append(escape(t(lang, "History:")))
    items: list[str] = []
    for line in card.history[-CARD_HISTORY:]:
        who = line.user_name or "—"
        when = format_moment(line.at, lang, zone)
        action = history_name(t, lang, line.action)
        entry = t(lang, "{when} {who}: {action}", when=when, who=who, action=action)
        if line.note:
            entry = t(lang, "{entry} — {note}", entry=entry, note=line.note)
        item = f"• {entry}"
        if line.photo_file_id:
            item += " 📷"
        items.append(_short(escape(item), CARD_FIELD_LIMIT))
    # The newest entries that fit in one message, so the card can always be sent and acted on.
    budget = CARD_LIMIT - sum(visible_length(line) + 1 for line in lines)
    shown: list[str] = []
    for item in reversed(items):
        if visible_length(item) + 1 > budget:
            break
        shown.insert(0, item)
        budget -= visible_length(item) + 1
    left_out = len(card.history) - len(shown)
    if left_out:
        lines.append(escape(t(lang, "…and {count} earlier", count=left_out)))
    return "\n".join(lines + shown)


def _short(html_line: str, limit: int) -> str:
    """One line of a card, cut when someone typed a very long text."""
    return fitted(html_line, limit) if visible_length(html_line) > limit else html_line


def card_markup(svc: Services, lang: str, detail: ledger.ProblemDetail) -> InlineKeyboardMarkup:
    card = detail.card
    status = card.problem.status
    buttons = [
        InlineKeyboardButton(
            action_label(svc.t, lang, action),
            callback_data=encode(
                ProblemAction(card.problem.id, STATUS_CODES[status], ACTION_CODES[action])
            ),
        )
        for action in detail.actions
    ]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    rows.append(
        [InlineKeyboardButton(svc.t(lang, "◀ Problems"), callback_data=encode(ProblemList()))]
    )
    return InlineKeyboardMarkup(rows)


async def show_card(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    user: User,
    problem_id: int,
    message_id: int | None = None,
    notice: str | None = None,
) -> None:
    svc = services(context)
    lang = language(user, update, svc)
    chat = update.effective_chat
    assert chat is not None
    try:
        detail = await ledger.problem_detail(svc.runtime, user.id, problem_id)
    except StorageError as error:
        await send(context.bot, chat.id, escape(svc.t(lang, error.message_id, **error.params)))
        return
    text = card_text(svc, lang, detail.card, detail.today, detail.zone)
    if notice:
        text = f"✅ {escape(notice)}\n\n{text}"
    markup = card_markup(svc, lang, detail)
    if message_id is not None:
        await edit(context.bot, chat.id, message_id, text, markup)
    else:
        await send(context.bot, chat.id, text, markup)


async def on_open_problem(
    update: Update, context: ContextTypes.DEFAULT_TYPE, cb: OpenProblem
) -> None:
    query = update.callback_query
    user = await registered_user(update, context)
    if user is None or query is None:
        return
    await query.answer()
    await show_card(update, context, user, cb.problem_id)


async def on_problem_action(
    update: Update, context: ContextTypes.DEFAULT_TYPE, cb: ProblemAction
) -> None:
    """A card's button: act now (verify), or wait for the note the action needs. Checked
    against the problem's current state and the user's rights either way."""
    svc = services(context)
    query = update.callback_query
    user = await registered_user(update, context)
    if user is None or query is None or update.effective_chat is None:
        return
    lang = language(user, update, svc)
    action = ACTIONS_BY_CODE.get(cb.action)
    expected = STATUSES_BY_CODE.get(cb.status)
    message_id = query.message.message_id if query.message is not None else None
    if action is None or expected is None:
        await query.answer(svc.t(lang, "This button is no longer valid."), show_alert=True)
        return
    try:
        started = await ledger.start_action(
            svc.runtime, user.id, cb.problem_id, Deed(action), expected
        )
    except StorageError as error:
        await query.answer(svc.t(lang, error.message_id, **error.params), show_alert=True)
        await show_card(update, context, user, cb.problem_id, message_id)
        return
    await query.answer()
    if started.waiting:
        await send(context.bot, update.effective_chat.id, escape(prompt_for(svc.t, lang, action)))
        return
    await show_card(update, context, user, cb.problem_id, message_id, svc.t(lang, "Saved."))


# ---------------------------------------------------------------- the input after a button


def _parse_deadline(text: str, today: date) -> tuple[date | None, str, bool]:
    """The new deadline, the reason, and whether the date ends with "!": the office's explicit
    word that it may pass the cut-off of the campaign the problem was found in."""
    first, _, rest = text.strip().partition("\n" if "\n" in text.strip() else " ")
    head = first.strip()
    past_cutoff = head.endswith(("!", "！"))
    head = head.rstrip("!！").strip()
    reason = rest.strip()
    if _DAYS.match(head):
        return today + timedelta(days=int(head)), reason, past_cutoff
    day = parse_date(head)
    if day is None:
        return None, text.strip(), False
    return day, reason, past_cutoff


async def on_pending_input(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """A message the bot waited for after a card's button (or a case step); True when used."""
    svc = services(context)
    message = update.effective_message
    sender = update.effective_user
    if message is None or sender is None or update.effective_chat is None:
        return False
    if not (message.text or message.photo):
        return False
    now = svc.clock()
    user = await sender_user(context, sender.id)
    if user is None:
        return False
    read, row = wait_with_user(context, user)
    if read:
        waiting = live_wait(row, now)
    else:
        async with svc.sessionmaker() as s:
            waiting = await pending_input(s, user.id, now)
    if waiting is None:
        return False
    if waiting.action == "add":
        await _add_from_input(update, context, user, waiting.subject_id, message)
        return True
    if waiting.action == "campaign":
        from bot.handlers import campaigns

        await campaigns.on_campaign_input(
            update, context, user, waiting.subject_id, waiting.expected, message
        )
        return True
    if waiting.action == CASE_INPUT:
        await cases.on_case_input(
            update, context, user, waiting.subject_id, waiting.expected, message
        )
        return True
    if waiting.action == REMOVAL_INPUT:
        await cases.on_removal_input(update, context, user, waiting.subject_id, message)
        return True
    await _apply_input(
        update, context, user, waiting.action, waiting.subject_id, waiting.expected, message
    )
    return True


async def _apply_input(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    user: User,
    action: str,
    problem_id: int,
    expected: str | None,
    message: Message,
) -> None:
    svc = services(context)
    lang = language(user, update, svc)
    chat_id = message.chat_id
    text = (message.text or message.caption or "").strip()
    photo = message.photo[-1].file_id if message.photo else None
    today, _ = await local_today(svc, user)
    note: str | None = text or None
    deadline: date | None = None
    unit: str | None = None
    past_cutoff = False
    if action == "deadline":
        deadline, note, past_cutoff = _parse_deadline(text, today)
        if deadline is None:
            await send(
                context.bot,
                chat_id,
                escape(
                    svc.t(
                        lang,
                        "I could not read a date there. "
                        "Send it like 2026-12-31, or a number of days.",
                    )
                ),
            )
            return
    if action == "unit":
        unit, _, rest = text.partition("\n")
        note = rest.strip() or None
    try:
        await ledger.act_on_problem(
            svc.runtime,
            user.id,
            problem_id,
            Deed(action),
            expected_status=expected,
            note=note,
            photo_file_id=photo,
            deadline=deadline,
            unit=unit,
            ends_wait=True,
            past_cutoff=past_cutoff,
        )
    except PastCutoff as error:
        # The wait goes on: the office may send the date again, with its explicit word.
        await send(context.bot, chat_id, escape(past_cutoff_text(svc.t, lang, user, error)))
        return
    except StorageError as error:
        # After a missing note the wait goes on: the next message may bring it.
        await send(context.bot, chat_id, escape(svc.t(lang, error.message_id, **error.params)))
        return
    await show_card(update, context, user, problem_id, None, svc.t(lang, "Saved."))


def past_cutoff_text(t: Translator, lang: str, user: User, error: PastCutoff) -> str:
    """Why the deadline cannot pass the campaign's cut-off, and for an office, how to say that
    it may."""
    campaign = error.campaign
    cutoff = format_day(campaign.cutoff, lang)
    text = t(
        lang,
        "This problem was found in the campaign {name}: its deadline cannot pass the "
        "cut-off {day}.",
        name=campaign.name,
        day=cutoff,
    )
    if not may(user, Deed.PAST_CUTOFF):
        return text
    return (
        text
        + "\n"
        + t(
            lang,
            "To set a later deadline anyway, send the date followed by “!”, then the reason, "
            "like: {example}",
            example=f"{(campaign.cutoff + timedelta(days=30)).isoformat()}! …",
        )
    )


async def cancel_pending(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """/cancel while the bot waits for a note: stop waiting. True when there was a wait."""
    svc = services(context)
    sender = update.effective_user
    chat = update.effective_chat
    if sender is None or chat is None:
        return False
    async with svc.sessionmaker.begin() as s:
        user = await user_by_telegram_id(s, sender.id)
        if user is None or not await clear_input(s, user.id):
            return False
    lang = language(user, update, svc)
    await send(context.bot, chat.id, escape(svc.t(lang, "Stopped. Nothing was changed.")))
    return True


# ---------------------------------------------------------------- problems added by hand

# What a person may type for a tier: the seeds' names, the names the tiers had before, and
# the names in either language.
TIER_NAMES = {
    "立行立改": IMMEDIATE,
    "限时整改": TIMED,
    "长期坚持": ONGOING,
    "立查立改": IMMEDIATE,
    "阶段整改": TIMED,
    "持续整改": ONGOING,
}


def _typed_tier(line: str) -> str | None:
    if line in TIER_NAMES:
        return TIER_NAMES[line]
    for lang in LANGUAGES:
        for code, msgid in DEADLINE_TIER_NAMES.items():
            if line.casefold() in (msgid.casefold(), translator(lang)(msgid).casefold()):
                return code
    return None


async def on_add_problem(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/addproblem NAME: a leader or office adds a problem to a household by hand (not from
    a check); the bot then waits for its fields, one per line."""
    svc = services(context)
    user = await registered_user(update, context)
    chat = update.effective_chat
    if user is None or chat is None:
        return
    lang = language(user, update, svc)
    if not may(user, Deed.ADD_PROBLEM):
        await send(context.bot, chat.id, escape(svc.t(lang, "Your role cannot do this.")))
        return
    query = " ".join(context.args or []).strip()
    if not query:
        await send(
            context.bot,
            chat.id,
            escape(
                svc.t(
                    lang,
                    "Send /addproblem with the household's name or roster number, "
                    "like /addproblem 张建国.",
                )
            ),
        )
        return
    async with svc.sessionmaker.begin() as s:
        found = await households_page(s, user.area_code, query, 0, 5)
        if found.total == 1:
            row = found.rows[0]
            await await_input(s, user.id, "add", row.id, None, svc.clock())
    if found.total == 0:
        text = svc.t(lang, "No household matches “{query}”.", query=query)
        await send(context.bot, chat.id, escape(text))
        return
    if found.total > 1:
        text = svc.t(
            lang,
            "{count} households match “{query}”; please be more precise.",
            count=found.total,
            query=query,
        )
        await send(context.bot, chat.id, escape(text))
        return
    prompt = svc.t(
        lang,
        "Adding a problem to {name} ({village}). Send one message, one item per line:\n"
        "category\nthe problem\nthe goal\nthe measures (or -)\nthe responsible unit\n"
        "the deadline: a date, a number of days, {immediate}, {timed} or {ongoing} "
        "(leave it out for the category's default)\nSend /cancel to stop.",
        name=row.head_name,
        village=row.village_name,
        immediate=tier_label(svc.t, lang, IMMEDIATE),
        timed=tier_label(svc.t, lang, TIMED),
        ongoing=tier_label(svc.t, lang, ONGOING),
    )
    await send(context.bot, chat.id, escape(prompt))


def _deadline_spec(line: str | None) -> DeadlineSpec:
    if line is None:
        return None
    line = line.strip()
    if _DAYS.match(line):
        return int(line)
    tier = _typed_tier(line)
    if tier is not None:
        return tier
    day = parse_date(line)
    return day if day is not None else line  # refused by resolve_deadline as an unknown tier


async def _add_from_input(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    user: User,
    household_id: int,
    message: Message,
) -> None:
    svc = services(context)
    lang = language(user, update, svc)
    lines = [line.strip() for line in (message.text or "").splitlines() if line.strip()]
    if len(lines) < 5:
        text = svc.t(
            lang,
            "Please send at least five lines: category, problem, goal, measures and "
            "responsible unit.",
        )
        await send(context.bot, message.chat_id, escape(text))
        return
    category, problem_text, goal, measures, unit = lines[:5]
    now = svc.clock()
    try:
        async with svc.sessionmaker.begin() as s:
            household = await s.get(Household, household_id)
            if household is None:
                raise StorageError("This household is not in your area.")
            schedule = (await load_schedules(s)).of(household.village_code)
            today = schedule.local(now).date()
            deadline, tier = resolve_deadline(
                _deadline_spec(lines[5] if len(lines) > 5 else None), category, today, schedule
            )
            # Found in a campaign (专项排查): never due after its cut-off.
            cutoff = await cutoff_on(s, household.village_code, today)
            deadline = min(deadline, cutoff) if cutoff is not None else deadline
            problem = await add_problem(
                s,
                user.id,
                household_id,
                category=category,
                text=problem_text,
                goal=goal,
                measures="" if measures == "-" else measures,
                responsible_unit=unit,
                deadline=deadline,
                deadline_tier=tier,
                now=now,
                assignee_user_id=await default_assignee(s, household_id),
            )
            await clear_input(s, user.id)
    except StorageError as error:
        await send(
            context.bot, message.chat_id, escape(svc.t(lang, error.message_id, **error.params))
        )
        return
    await show_card(update, context, user, problem.id, None, svc.t(lang, "Saved."))
