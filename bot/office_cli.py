"""The office commands of `hucha`: `areas`, `import-roster` and `export`, printing in the
user's language (Chinese unless `--lang en`)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import date
from pathlib import Path
from typing import Any

from bot.cli_errors import CliError
from bot.i18n import Translator
from bot.office_texts import import_report_lines, row_error_text
from bot.photos import FetchReport, fetch_photos
from bot.services import utc_now
from bot.settings import Settings
from conversations.messages import N_
from services.exports import EXPORTS, Span
from storage.area_import import TopAreaOptions
from storage.exports import EXPORT_FORMATS, ExportFormat, ExportKind

__all__ = ["TopAreaOptions"]


async def import_roster_command(
    settings: Settings, file: Path, lang: str, area: str | None = None
) -> int:
    """Import a roster file; print the summary and each refused row. Exit code 1 when rows
    were refused, 2 when the file cannot be read."""
    from conversations import load_thresholds
    from conversations.thresholds import missing_income_lines
    from storage import import_roster, make_engine, make_sessionmaker, provinces_within, upgrade

    t = Translator()
    await _readable(file)
    await upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine).begin() as s:
            report = await import_roster(s, file, utc_now(), within=area, source_name=file.name)
            provinces = await provinces_within(s, area)
    finally:
        await engine.dispose()
    thresholds = load_thresholds(settings.forms_dir / "thresholds.toml")
    missing = missing_income_lines(thresholds, provinces, utc_now().year)
    for line in import_report_lines(report, lang, t, missing_lines=missing):
        print(line)
    return 0 if not report.errors else 1


async def _readable(file: Path) -> None:
    if not await asyncio.to_thread(file.is_file):
        raise CliError("No such file: {path}", path=str(file))


async def import_areas_command(
    settings: Settings, file: Path, lang: str, options: TopAreaOptions
) -> int:
    """`hucha areas import FILE`: add the areas of a file of division codes; print what was
    added and each refused row. Exit code 1 when rows were refused."""
    from storage import make_engine, make_sessionmaker, upgrade
    from storage.area_import import import_areas

    t = Translator()
    await _readable(file)
    await upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine).begin() as s:
            report = await import_areas(s, file, options)
    finally:
        await engine.dispose()
    print(
        t(
            lang,
            "Areas added: {added}, updated: {updated}, unchanged: {unchanged}. "
            "Rows refused: {refused}.",
            added=report.added,
            updated=report.updated,
            unchanged=report.unchanged,
            refused=len({error.line for error in report.errors}),
        )
    )
    if report.skipped:
        print(t(lang, "Left out {count} areas above a county.", count=report.skipped))
    for error in report.errors:
        print(row_error_text(error, lang, t))
    return 0 if not report.errors else 1


LEVEL_NAMES = {
    "county": N_("county"),
    "township": N_("township"),
    "village": N_("village"),
    "group": N_("group"),
}


async def list_areas_command(settings: Settings, code: str | None, lang: str) -> int:
    """`hucha areas list [CODE]`: the tree, indented, with households and users below each."""
    from storage import make_engine, make_sessionmaker, upgrade
    from storage.area_import import area_tree

    t = Translator()
    await upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as s:
            lines = await area_tree(s, code)
    finally:
        await engine.dispose()
    if code is not None and not lines:
        raise CliError("Unknown area {code}.", code=code)
    if not lines:
        print(t(lang, "No areas yet: add them with hucha areas import FILE."))
        return 0
    for line in lines:
        print(
            "  " * line.depth
            + t(
                lang,
                "{code} {name} ({level}): {households} households, {users} users",
                code=line.code,
                name=line.name,
                level=t(lang, LEVEL_NAMES[line.level]),
                households=line.households,
                users=line.users,
            )
        )
    return 0


def add_export_arguments(export: argparse.ArgumentParser) -> None:
    """`hucha export`: check records, the problem ledger or the monthly report of an area."""
    export.add_argument("--kind", choices=[str(kind) for kind in EXPORTS], required=True)
    export.add_argument("--area", required=True, help="area code, e.g. 320705001")
    export.add_argument(
        "--from", dest="start", help="first day, YYYY-MM-DD (all kinds but monthly)"
    )
    export.add_argument("--to", dest="end", help="last day, YYYY-MM-DD (default: today)")
    export.add_argument(
        "--period",
        help="monthly: the reporting period, YYYY-MM, named by the month of its reporting day",
    )
    export.add_argument(
        "--format",
        dest="fmt",
        choices=EXPORT_FORMATS,
        default=None,
        help="xlsx or csv (default: the extension of --out)",
    )
    export.add_argument("--out", type=Path, required=True, help="file to write")
    export.add_argument("--all-versions", action="store_true", help="amended checks: all versions")
    export.add_argument(
        "--unmasked", action="store_true", help="full ID numbers (recorded in the audit log)"
    )
    export.add_argument(
        "--withdrawn", action="store_true", help="problems: also those withdrawn as raised in error"
    )
    export.add_argument(
        "--decision",
        choices=("check", "inclusion", "removal"),
        default="check",
        help="notice: a check round, inclusion in monitoring or risk removal",
    )
    export.add_argument(
        "--notice-days", type=int, default=5, help="notice: days it is posted (at least 5)"
    )
    export.add_argument(
        "--photos",
        action="store_true",
        help="checks: a ZIP of the workbook and the photos, fetched once into HUCHA_PHOTO_DIR",
    )
    export.add_argument("--token", help="bot token to fetch photos (default: HUCHA_TELEGRAM_TOKEN)")
    export.add_argument("--api-url", help="Bot API base URL to fetch photos from")
    export.add_argument("--form", default="household_check", help="questionnaire id")


def export_format(out: Path, given: ExportFormat | None) -> ExportFormat:
    """The format of an export: as given, else the output file's extension; a file named
    .csv written as XLSX (or the other way round) is refused."""
    suffix = out.suffix.lower().lstrip(".")
    if given is None:
        for fmt in EXPORT_FORMATS:
            if suffix == fmt:
                return fmt
        if suffix:
            raise CliError(
                "Cannot tell the format from {path}: name it .xlsx or .csv, or give --format.",
                path=str(out),
            )
        return "xlsx"
    if suffix in EXPORT_FORMATS and suffix != given:
        raise CliError(
            "The file {path} is named .{suffix} but --format is {format}.",
            path=str(out),
            suffix=suffix,
            format=given,
        )
    return given


async def _writable(out: Path) -> None:
    folder = out.parent if str(out.parent) else Path(".")
    if not await asyncio.to_thread(folder.is_dir):
        raise CliError(
            "Cannot write {path}: the folder {folder} does not exist.",
            path=str(out),
            folder=str(folder),
        )
    if await asyncio.to_thread(out.is_dir):
        raise CliError("Cannot write {path}: it is a folder.", path=str(out))
    writable = await asyncio.to_thread(os.access, folder, os.W_OK)
    if not writable or (
        await asyncio.to_thread(out.exists) and not await asyncio.to_thread(os.access, out, os.W_OK)
    ):
        raise CliError("Cannot write {path}: permission denied.", path=str(out))


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _dates(args: argparse.Namespace, today: date) -> tuple[date, date]:
    start = _day(args.start or "")
    end = _day(args.end) if args.end else today
    if start is None or end is None or end < start:
        raise CliError("Give the dates as YYYY-MM-DD, the first before the last.")
    return start, end


def _period_name(args: argparse.Namespace) -> tuple[int, int] | None:
    """The monthly report's period, (year, month): given with --period, never guessed from
    dates; other kinds take no period."""
    from storage.periods import parse_period_name

    if EXPORTS[ExportKind(args.kind)].span is not Span.REPORTING:
        if args.period is not None:
            raise CliError("--period is for the monthly report; give --from and --to.")
        return None
    if args.period is None or args.start is not None or args.end is not None:
        raise CliError(
            "The monthly report covers one reporting period: give --period YYYY-MM "
            "(the month of its reporting day), without --from and --to."
        )
    named = parse_period_name(args.period)
    if named is None:
        raise CliError("Give the period as YYYY-MM, such as 2026-11.")
    return named


async def export_command(settings: Settings, args: argparse.Namespace, lang: str) -> int:
    """Write an export; print where it went, in the user's language."""
    from conversations import load_forms
    from services.exports import Job
    from storage import get_area, make_engine, make_sessionmaker, upgrade
    from storage.exports import ExportScope
    from storage.notices import NoticeKind
    from storage.photos import PhotoStore
    from storage.reports import report_period

    t = Translator()
    now = utc_now()
    period = _period_name(args)
    given = (now.date(), now.date()) if period is not None else _dates(args, now.date())
    start, end = given
    # With its photos the checks export is a ZIP holding the workbook (or the CSV files).
    fmt = (args.fmt or "xlsx") if args.photos else export_format(args.out, args.fmt)
    await _writable(args.out)
    export = EXPORTS[ExportKind(args.kind)]
    form = None
    if export.reads_form:
        forms = await asyncio.to_thread(load_forms, settings.forms_dir)
        if args.form not in forms:
            raise CliError(
                "Unknown questionnaire {form}; known: {known}.",
                form=args.form,
                known=", ".join(sorted(forms)),
            )
        form = forms[args.form]
    await upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine).begin() as s:
            area = await get_area(s, args.area)
            if area is None:
                raise CliError("Unknown area {code}.", code=args.area)
            scope = ExportScope(
                args.area,
                start,
                end,
                zone=area.timezone,
                all_versions=args.all_versions,
                unmasked=args.unmasked,
                lang=lang,
                withdrawn=args.withdrawn,
            )
            store = None
            if args.photos and export.photos and form is not None:
                store = PhotoStore(settings.photo_dir)
                report = await fetch_missing_photos(settings, s, form, scope, store)
                if report.failed:
                    text = t(lang, "{count} photos could not be fetched.", count=report.failed)
                    print(text, file=sys.stderr)
            job = Job(
                scope,
                args.out,
                fmt,
                now,
                form=form,
                photos=store,
                period=await report_period(s, args.area, *period) if period else None,
                notice=NoticeKind(args.decision),
                notice_days=args.notice_days,
            )
            result = await export.write(s, job)
    finally:
        await engine.dispose()
    files = ", ".join(str(path) for path in result.files)
    print(
        t.n(
            lang,
            "Exported {count} row to {files}.",
            "Exported {count} rows to {files}.",
            result.rows,
            files=files,
        )
    )
    return 0


async def fetch_missing_photos(
    settings: Settings, s: Any, form: Any, scope: Any, store: Any
) -> FetchReport:
    """Fetch the photos of the export that the store lacks, through the Bot API; without a
    token only the store is read."""
    from telegram import Bot

    from bot.transport import bot_api_request
    from storage.exports import photo_ids_of_scope

    file_ids = await photo_ids_of_scope(s, form, scope)
    missing = [f for f in file_ids if not await asyncio.to_thread(store.has, f)]
    if not missing or not settings.token:
        return FetchReport(0, len(file_ids) - len(missing), len(missing))
    bot = Bot(
        settings.token,
        base_url=settings.api_url,
        base_file_url=settings.base_file_url,
        request=bot_api_request(settings.api_url, settings.proxy),
    )
    async with bot:
        report = await fetch_photos(bot, store, missing)
    return FetchReport(report.fetched, len(file_ids) - len(missing), report.failed)


def add_campaign_arguments(
    campaign: argparse.ArgumentParser, common: argparse.ArgumentParser
) -> None:
    """`hucha campaign open|list`: campaigns (专项排查) of an area."""
    actions = campaign.add_subparsers(dest="action", required=True, parser_class=type(campaign))
    opening = actions.add_parser(
        "open", help="open a campaign for an area, with its rectification cut-off", parents=[common]
    )
    opening.add_argument("--area", required=True, help="area code, e.g. 320705001")
    opening.add_argument("--name", required=True, help="e.g. 脱贫攻坚问题大排查")
    opening.add_argument("--start", required=True, help="first day, e.g. 2026-12-14")
    opening.add_argument("--end", required=True, help="last day of finding problems")
    opening.add_argument("--cutoff", required=True, help="every problem rectified by this day")
    listing = actions.add_parser("list", help="the campaigns of an area", parents=[common])
    listing.add_argument("--area", help="area code (default: every area)")


def _campaign_day(value: str, option: str) -> date:
    from conversations.answers import parse_date

    day = parse_date(value)
    if day is None:
        raise CliError(
            "{option} takes a date like 2026-12-31, not {value}.", option=option, value=value
        )
    return day


def _campaign_line(t: Translator, lang: str, campaign: Any) -> str:
    from bot.handlers.campaigns import campaign_line

    return f"{campaign.area_code} " + campaign_line(t, lang, campaign)


async def campaign_command(settings: Settings, args: argparse.Namespace, lang: str) -> int:
    """Open a campaign, or list them; the operator of the server may do so for any area."""
    from services import Runtime
    from services.campaigns import list_for, open_for_area
    from storage import make_engine, make_sessionmaker, upgrade

    t = Translator()
    await upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        rt = Runtime(make_sessionmaker(engine), utc_now)
        if args.action == "open":
            start = _campaign_day(args.start, "--start")
            end = _campaign_day(args.end, "--end")
            cutoff = _campaign_day(args.cutoff, "--cutoff")
            opened = await open_for_area(rt, None, args.area, args.name, start, end, cutoff)
            print(t(lang, "Campaign opened: {line}", line=_campaign_line(t, lang, opened)))
            return 0
        found = await list_for(rt, None, args.area) if args.area else await _every(rt)
    finally:
        await engine.dispose()
    if not found:
        print(t(lang, "No campaign has been opened."))
    for campaign in found:
        print(_campaign_line(t, lang, campaign))
    return 0


async def _every(rt: Any) -> list[Any]:
    from storage.campaigns import open_campaigns

    async with rt.sessionmaker() as s:
        found = await open_campaigns(s)
    return sorted(found, key=lambda c: (c.area_code, c.starts_on))
