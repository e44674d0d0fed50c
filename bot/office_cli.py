"""The office commands of `hucha`: `import-roster` and `export`, printing in the user's
language (Chinese unless `--lang en`)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from bot.i18n import Translator
from bot.office_texts import import_report_lines
from bot.services import utc_now
from bot.settings import Settings


async def import_roster_command(
    settings: Settings, file: Path, lang: str, area: str | None = None
) -> int:
    """Import a roster file; print the summary and each refused row. Exit code 1 when rows
    were refused, 2 when the file is missing."""
    from storage import import_roster, make_engine, make_sessionmaker, upgrade

    t = Translator()
    if not await asyncio.to_thread(file.exists):
        print(t(lang, "No such file: {path}", path=str(file)), file=sys.stderr)
        return 2
    await upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine).begin() as s:
            report = await import_roster(s, file, utc_now(), within=area, source_name=file.name)
    finally:
        await engine.dispose()
    for line in import_report_lines(report, lang, t):
        print(line)
    return 0 if not report.errors else 1
