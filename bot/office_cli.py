"""The office commands of `hucha`: `import-roster` and `export`, printing in the user's
language (Chinese unless `--lang en`)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date
from pathlib import Path
from typing import Any

from bot.i18n import Translator
from bot.office_texts import import_report_lines
from bot.services import utc_now
from bot.settings import Settings
from storage.exports import EXPORT_FORMATS, EXPORT_KINDS


async def import_roster_command(
    settings: Settings, file: Path, lang: str, area: str | None = None
) -> int:
    """Import a roster file; print the summary and each refused row. Exit code 1 when rows
    were refused, 2 when the file is missing."""
    from conversations import load_thresholds
    from conversations.thresholds import missing_income_lines
    from storage import import_roster, make_engine, make_sessionmaker, provinces_within, upgrade

    t = Translator()
    if not await asyncio.to_thread(file.exists):
        print(t(lang, "No such file: {path}", path=str(file)), file=sys.stderr)
        return 2
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


def add_export_parser(commands: Any) -> None:
    """`hucha export`: check records, the problem ledger or the monthly report of an area."""
    export = commands.add_parser(
        "export", help="export check records, the problem ledger or the monthly report"
    )
    export.add_argument("--kind", choices=EXPORT_KINDS, required=True)
    export.add_argument("--area", required=True, help="area code, e.g. 320705001")
    export.add_argument("--from", dest="start", required=True, help="first day, YYYY-MM-DD")
    export.add_argument("--to", dest="end", help="last day, YYYY-MM-DD (default: today)")
    export.add_argument("--format", dest="fmt", choices=EXPORT_FORMATS, default="xlsx")
    export.add_argument("--out", type=Path, required=True, help="file to write")
    export.add_argument("--all-versions", action="store_true", help="amended checks: all versions")
    export.add_argument(
        "--unmasked", action="store_true", help="full ID numbers (recorded in the audit log)"
    )
    export.add_argument("--form", default="household_check", help="questionnaire id")
    export.add_argument("--lang", choices=("zh_CN", "en"), default="zh_CN")


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


async def export_command(settings: Settings, args: argparse.Namespace) -> int:
    """Write an export; print where it went, in the user's language."""
    from conversations import load_forms
    from storage import get_area, make_engine, make_sessionmaker, upgrade
    from storage.exports import ExportScope, export_checks, export_ledger
    from storage.reports import export_monthly

    t = Translator()
    lang: str = args.lang
    now = utc_now()
    start = _day(args.start)
    end = _day(args.end) if args.end else now.date()
    if start is None or end is None or end < start:
        print(t(lang, "Give the dates as YYYY-MM-DD, the first before the last."), file=sys.stderr)
        return 2
    await upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine).begin() as s:
            area = await get_area(s, args.area)
            if area is None:
                print(t(lang, "Unknown area {code}.", code=args.area), file=sys.stderr)
                return 2
            scope = ExportScope(
                args.area,
                start,
                end,
                zone=area.timezone,
                all_versions=args.all_versions,
                unmasked=args.unmasked,
            )
            if args.kind == "checks":
                form = (await asyncio.to_thread(load_forms, settings.forms_dir))[args.form]
                result = await export_checks(s, form, scope, args.out, args.fmt, now)
            elif args.kind == "problems":
                result = await export_ledger(s, scope, args.out, args.fmt, now)
            else:
                result = await export_monthly(
                    s,
                    args.area,
                    start.year,
                    start.month,
                    args.out,
                    args.fmt,
                    now,
                    zone=area.timezone,
                )
    finally:
        await engine.dispose()
    files = ", ".join(str(path) for path in result.files)
    print(t(lang, "Exported {rows} rows to {files}.", rows=result.rows, files=files))
    return 0
