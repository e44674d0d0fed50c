"""Office work in the bot: /export (offices and leaders, their own area: kind, area and period
picked with buttons, progress shown by editing one message, the file sent back) and /import
(an office sends a roster file after /import) and /amend (reopen a submitted check; its
submission becomes a new version).

Exports and imports run as background tasks of the application: the writing itself happens
in worker threads (see storage.exports), so other users, and the same user, are answered
meanwhile.

The buttons of /export carry `bot.callbacks.ExportRequest`, checked again against the user's
rights when they come back. A public notice is of one village, and its "period" names the
notice: c0/c1 the check round of this or last month, ci inclusion in monitoring, cr risk
removal."""

from __future__ import annotations

import asyncio
import calendar
import logging
import tempfile
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from html import escape
from pathlib import Path
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import ContextTypes

from bot.callbacks import (
    DATE_PERIODS,
    NOTICE_PERIODS,
    REPORTING_PERIODS,
    ExportRequest,
    encode,
    parse_id,
)
from bot.handlers import check
from bot.handlers.common import language, registered_user
from bot.i18n import Translator, format_day
from bot.office_texts import ROWS_SHOWN_IN_CHAT, import_report_lines
from bot.retry import Blocked
from bot.sending import edit, send, send_document
from bot.services import Services, services
from conversations.thresholds import missing_income_lines
from services import exports
from services.exports import EXPORTS, Span
from services.policy import Deed, may
from storage import StorageError, User, provinces_within
from storage.amendments import amendable_records, latest_version, start_amendment
from storage.exports import ExportFormat, ExportKind
from storage.notices import NoticeKind
from storage.rosters import import_roster, request_roster_import, roster_import_requested
from web.photos import bot_fetch

log = logging.getLogger(__name__)

NOTICE_KINDS = {"c0": NoticeKind.CHECK, "c1": NoticeKind.CHECK}
NOTICE_KINDS |= {"ci": NoticeKind.INCLUSION, "cr": NoticeKind.REMOVAL}
FORMAT_LABELS: tuple[tuple[ExportFormat, str], ...] = (("xlsx", "Excel (XLSX)"), ("csv", "CSV"))
UNMASKED_WORDS = ("full", "unmasked", "完整", "完整身份证号")
MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # what the Bot API lets a bot download
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024  # what the Bot API lets a bot send
ROSTER_SUFFIXES = (".csv", ".xlsx", ".txt")
# Edit the progress message at most this often (Telegram limits edits per chat).
PROGRESS_EVERY = timedelta(seconds=2)


def period_dates(period: str, today: date) -> tuple[date, date]:
    """The first and last day of a period named by a button, seen from `today`."""
    this_month = today.replace(day=1)
    if period in ("m1", "c1"):
        last = this_month - timedelta(days=1)
        return last.replace(day=1), last
    if period == "q":
        start = this_month
        for _ in range(2):
            start = (start - timedelta(days=1)).replace(day=1)
        return start, today
    if period == "y":
        return today.replace(month=1, day=1), today
    end = today.replace(day=calendar.monthrange(today.year, today.month)[1])
    return this_month, min(end, today)


def _kind_names(lang: str, t: Translator) -> dict[ExportKind, str]:
    return {kind: t(lang, export.name) for kind, export in EXPORTS.items()}


def _period_names(lang: str, t: Translator) -> dict[str, str]:
    return {
        "r0": t(lang, "Current reporting period"),
        "r1": t(lang, "Previous reporting period"),
        "m0": t(lang, "This month"),
        "m1": t(lang, "Last month"),
        "q": t(lang, "Last three months"),
        "y": t(lang, "This year"),
        "c0": t(lang, "Check round, this month"),
        "c1": t(lang, "Check round, last month"),
        "ci": t(lang, "Households proposed for monitoring"),
        "cr": t(lang, "Households proposed for risk removal"),
    }


def _button(text: str, request: ExportRequest) -> InlineKeyboardButton:
    return InlineKeyboardButton(text, callback_data=encode(request))


# ---------------------------------------------------------------- /export


async def on_export(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/export: what to export, as buttons. `/export full`: an office's full ID numbers."""
    svc = services(context)
    user = await registered_user(update, context)
    if user is None or update.effective_chat is None:
        return
    lang = language(user, update, svc)
    chat_id = update.effective_chat.id
    unmasked = any(word in UNMASKED_WORDS for word in (context.args or []))
    if not may(user, Deed.EXPORT):
        await send(
            context.bot, chat_id, escape(svc.t(lang, "Only offices and team leaders can export."))
        )
        return
    if unmasked and not may(user, Deed.EXPORT_UNMASKED):
        await send(
            context.bot, chat_id, escape(svc.t(lang, "Only an office can export full ID numbers."))
        )
        return
    names = _kind_names(lang, svc.t)
    rows = [[_button(names[kind], ExportRequest("k", kind, unmasked))] for kind in EXPORTS]
    text = svc.t(lang, "What do you want to export?")
    if unmasked:
        text += "\n" + svc.t(lang, "Full ID numbers will be shown; this export is recorded.")
    await send(context.bot, chat_id, escape(text), InlineKeyboardMarkup(rows))


async def on_export_button(
    update: Update, context: ContextTypes.DEFAULT_TYPE, request: ExportRequest
) -> None:
    """A button of /export: the next question, or the export itself."""
    svc = services(context)
    query = update.callback_query
    user = await registered_user(update, context)
    if query is None or user is None or update.effective_chat is None:
        return
    lang = language(user, update, svc)
    try:
        chosen = await exports.export_choices(svc.runtime, user.id, request.area, request.unmasked)
    except StorageError as error:
        await query.answer(svc.t(lang, error.message_id, **error.params), show_alert=True)
        return
    area, areas = chosen.area, chosen.choices
    export = EXPORTS[request.kind]
    if export.span is Span.NOTICE and request.step != "k" and area.level != "village":
        text = svc.t(lang, "A public notice is for one village: pick a village.")
        await query.answer(text, show_alert=True)
        return
    message_id = query.message.message_id if query.message is not None else None
    chat_id = update.effective_chat.id
    # A kind that may carry its photos is asked its file format after its period.
    last_step = request.step == "f" or (request.step == "p" and not export.photos)
    if last_step and not svc.consume_button(chat_id, message_id):
        # A double tap on the last button: the first press already runs the export.
        await query.answer()
        return
    await query.answer()
    if request.step == "k":
        rows = [
            [_button(a.name, ExportRequest("a", request.kind, request.unmasked, a.code))]
            for a in areas
        ]
        text = svc.t(lang, "Which area?")
        await edit(context.bot, chat_id, message_id, escape(text), InlineKeyboardMarkup(rows))
        return
    if request.step == "a":
        periods = {Span.REPORTING: REPORTING_PERIODS, Span.NOTICE: NOTICE_PERIODS}.get(
            export.span, DATE_PERIODS
        )
        names = _period_names(lang, svc.t)
        rows = [
            [
                _button(
                    names[period],
                    ExportRequest("p", request.kind, request.unmasked, area.code, period),
                )
            ]
            for period in periods
        ]
        text = svc.t(lang, "Which period for {area}?", area=area.name)
        await edit(context.bot, chat_id, message_id, escape(text), InlineKeyboardMarkup(rows))
        return
    if request.step == "p" and export.photos:
        rows = [
            [
                _button(
                    label,
                    ExportRequest(
                        "f", request.kind, request.unmasked, area.code, request.period, fmt
                    ),
                )
                for fmt, label in FORMAT_LABELS
            ],
            [
                _button(
                    svc.t(lang, "Excel with photos (ZIP)"),
                    ExportRequest(
                        "f", request.kind, request.unmasked, area.code, request.period, photos=True
                    ),
                )
            ],
        ]
        text = svc.t(lang, "Which file format?")
        await edit(context.bot, chat_id, message_id, escape(text), InlineKeyboardMarkup(rows))
        return
    text = svc.t(lang, "Exporting…")
    await edit(context.bot, chat_id, message_id, escape(text), None)
    context.application.create_task(
        run_export(svc, context, user, lang, request, area.code, area.zone, chat_id, message_id),
        update=update,
    )


def _progress_reporter(
    context: ContextTypes.DEFAULT_TYPE,
    svc: Services,
    lang: str,
    chat_id: int,
    message_id: int | None,
) -> Callable[[int, int], Awaitable[None]]:
    """Edits the one progress message, no more often than PROGRESS_EVERY."""
    last: list[datetime] = []

    async def report(done: int, total: int) -> None:
        now = svc.clock()
        if last and now - last[0] < PROGRESS_EVERY and done < total:
            return
        last[:] = [now]
        text = svc.t(lang, "Exporting… {done} of {total} rows", done=done, total=total)
        await edit(context.bot, chat_id, message_id, escape(text), None)

    return report


async def run_export(
    svc: Services,
    context: ContextTypes.DEFAULT_TYPE,
    user: User,
    lang: str,
    request: ExportRequest,
    area_code: str,
    zone: str,
    chat_id: int,
    message_id: int | None,
) -> None:
    """Write the export to a temporary folder, send the file(s), say it is done."""
    today = svc.clock().astimezone(ZoneInfo(zone)).date()
    period_name = None
    span = EXPORTS[request.kind].span
    if span is Span.REPORTING:
        periods = await exports.reporting_periods(svc.runtime, user.id, area_code, 2)
        chosen = periods[1 if request.period == "r1" else 0]
        start, end, period_name = chosen.start, chosen.end, chosen.name
    else:
        start, end = period_dates(request.period or "m0", today)
    order = exports.ExportOrder(
        request.kind,
        area_code,
        start,
        end,
        request.fmt,
        unmasked=request.unmasked,
        lang=lang,
        notice=NOTICE_KINDS[request.period or "c0"] if span is Span.NOTICE else None,
        photo_dir=svc.settings.photo_dir if request.photos else None,
        period=period_name,
    )
    progress = _progress_reporter(context, svc, lang, chat_id, message_id)
    names = _kind_names(lang, svc.t)
    try:
        with tempfile.TemporaryDirectory(prefix="hucha-export-") as folder:
            path = Path(folder) / f"{request.kind}-{area_code}-{start:%Y%m%d}-{end:%Y%m%d}"
            path = path.with_suffix(".zip" if request.photos else f".{request.fmt}")
            if request.photos:
                await exports.fill_photos(svc.runtime, user.id, order, bot_fetch(context.bot))
            result = await exports.write_export(svc.runtime, user.id, order, path, progress)
            caption = svc.t(
                lang,
                "{kind}: {area}, {start} – {end}",
                kind=names[request.kind],
                area=result.area_name,
                start=format_day(start, lang),
                end=format_day(end, lang),
            )
            sizes = await asyncio.to_thread(lambda: [f.stat().st_size for f in result.files])
            if max(sizes, default=0) > MAX_DOCUMENT_BYTES:
                text = svc.t(
                    lang,
                    "The file is larger than Telegram allows (50 MB). Pick a smaller area or "
                    "period, or ask your office for the command-line export.",
                )
                await edit(context.bot, chat_id, message_id, escape(text), None)
                return
            for file in result.files:
                await send_document(context.bot, chat_id, file, escape(caption))
    except Blocked:
        return
    except Exception:
        log.exception("export failed (chat %s, area %s)", chat_id, area_code)
        text = svc.t(lang, "The export failed. Please try again later.")
        await edit(context.bot, chat_id, message_id, escape(text), None)
        return
    text = svc.t.n(
        lang, "Export finished: {count} row.", "Export finished: {count} rows.", result.rows
    )
    await edit(context.bot, chat_id, message_id, escape(text), None)


# ---------------------------------------------------------------- /import


async def on_import(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/import: the office's next file is a roster."""
    svc = services(context)
    user = await registered_user(update, context)
    if user is None or update.effective_chat is None:
        return
    lang = language(user, update, svc)
    chat_id = update.effective_chat.id
    if user.role != "office":
        # In the middle of a check a file is no answer: say so and ask the question again.
        if not await check.on_unreadable(update, context):
            text = svc.t(lang, "Only an office can import rosters.")
            await send(context.bot, chat_id, escape(text))
        return
    async with svc.sessionmaker.begin() as s:
        await request_roster_import(s, user.id, svc.clock())
    text = svc.t(
        lang,
        "Send the roster now as a CSV or XLSX file, one row per household member. Columns: "
        "村 (village code), 户编号, 户主姓名, 身份证号, 与户主关系, 姓名, and if you have them "
        "组, 性别, 出生日期, 健康状况, 在校生状况, 户类型, 帮扶责任人, 联系电话.",
    )
    await send(context.bot, chat_id, escape(text))


def _is_import_caption(caption: str | None) -> bool:
    return bool(caption) and str(caption).strip().split(" ")[0].split("@")[0] == "/import"


async def on_document(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A file: a roster when an office sent /import first (or puts /import in the caption)."""
    svc = services(context)
    message = update.effective_message
    user = await registered_user(update, context)
    if user is None or message is None or message.document is None:
        return
    lang = language(user, update, svc)
    chat_id = message.chat_id
    document = message.document
    if user.role != "office":
        # In the middle of a check a file is no answer: say so and ask the question again.
        if not await check.on_unreadable(update, context):
            text = svc.t(lang, "Only an office can import rosters.")
            await send(context.bot, chat_id, escape(text))
        return
    async with svc.sessionmaker() as s:
        asked = await roster_import_requested(s, user.id, svc.clock())
    if not asked and not _is_import_caption(message.caption):
        text = svc.t(lang, "To import a roster, send /import first, then the file.")
        await send(context.bot, chat_id, escape(text))
        return
    name = document.file_name or "roster"
    if not name.lower().endswith(ROSTER_SUFFIXES):
        await send(context.bot, chat_id, escape(svc.t(lang, "Please send a CSV or XLSX file.")))
        return
    if (document.file_size or 0) > MAX_UPLOAD_BYTES:
        text = svc.t(lang, "The file is too large: at most 20 MB.")
        await send(context.bot, chat_id, escape(text))
        return
    status = await send(context.bot, chat_id, escape(svc.t(lang, "Importing the roster…")))
    context.application.create_task(
        run_import(svc, context, user, lang, document.file_id, name, chat_id, status),
        update=update,
    )


async def run_import(
    svc: Services,
    context: ContextTypes.DEFAULT_TYPE,
    user: User,
    lang: str,
    file_id: str,
    name: str,
    chat_id: int,
    message_id: int,
) -> None:
    """Download the file, import it in the office's area, report the counts and bad rows."""
    try:
        file = await context.bot.get_file(file_id)
        content = bytes(await file.download_as_bytearray())
        async with svc.sessionmaker.begin() as s:
            report = await import_roster(
                s, content, svc.clock(), user_id=user.id, within=user.area_code, source_name=name
            )
            provinces = await provinces_within(s, user.area_code)
    except Exception:
        log.exception("roster import failed (chat %s)", chat_id)
        text = svc.t(lang, "The import failed. Please try again later.")
        await edit(context.bot, chat_id, message_id, escape(text), None)
        return
    missing = missing_income_lines(svc.thresholds, provinces, svc.clock().year)
    lines = import_report_lines(
        report, lang, svc.t, limit=ROWS_SHOWN_IN_CHAT, missing_lines=missing
    )
    await edit(context.bot, chat_id, message_id, escape("\n".join(lines)), None)


# ---------------------------------------------------------------- /amend


async def on_amend(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/amend CHECK REASON: reopen a submitted check at its summary; its submission becomes a
    new version. Without arguments: the checks the cadre may still amend."""
    svc = services(context)
    user = await registered_user(update, context)
    if user is None or update.effective_chat is None:
        return
    lang = language(user, update, svc)
    chat_id = update.effective_chat.id
    args = list(context.args or [])
    window = timedelta(days=svc.settings.amendment_days)
    check_id = parse_id(args[0]) if args else None
    if check_id is None or len(args) < 2:
        async with svc.sessionmaker() as s:
            records = await amendable_records(s, user, svc.clock(), window)
        lines = [
            svc.t(
                lang,
                "Send /amend CHECK REASON, for example: /amend 12 the child is back at school.",
            )
        ]
        for record, household in records:
            lines.append(
                svc.t(
                    lang,
                    "Check {id}: household {number} {name}, {day}",
                    id=record.check_id or record.id,
                    number=household.number,
                    name=household.head_name,
                    day=format_day(record.submitted_at.date(), lang),
                )
            )
        await send(context.bot, chat_id, escape("\n".join(lines)))
        return
    reason = " ".join(args[1:])
    form = svc.forms[check.FORM_ID]
    async with svc.sessionmaker() as s:
        try:
            latest = await latest_version(s, check_id)
            if latest is None:
                raise StorageError("This check does not exist.")
            row = await start_amendment(
                s, latest.id, user, form, chat_id, reason, svc.clock(), window
            )
            await s.commit()
        except StorageError as error:
            await s.rollback()
            text = svc.t(lang, error.message_id, **error.params)
            await send(context.bot, chat_id, escape(text))
            return
        visit = await svc.desk.sheet_of(s, row)
        if visit is None:
            return
        notice = svc.t(
            lang,
            "You are amending check {id}. Change what was wrong, then submit: the old "
            "version is kept.",
            id=check_id,
        )
        message_id = await check.show_screen(update, context, visit, visit.shown, lang)
        await send(context.bot, chat_id, escape(notice))
    await check.keep_prompt(context, visit, message_id)
