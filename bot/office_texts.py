"""What offices read about their imports and exports, in their language: the roster import
summary with each refused row, shared by the bot (/import) and the CLI (`hucha import-roster`)."""

from __future__ import annotations

from collections.abc import Callable

from conversations.thresholds import MissingLine
from storage.rosters import ImportReport, RowError

Translate = Callable[..., str]

# How many refused rows a chat message lists; the rest are counted.
ROWS_SHOWN_IN_CHAT = 30


def row_error_text(error: RowError, lang: str, t: Translate) -> str:
    """One refused row: where it is and why, in the user's language."""
    reason = t(lang, error.reason_message_id, **dict(error.params))
    if error.line == 0:
        return reason
    if error.column:
        return t(
            lang,
            "Line {line}, column {column}: {reason}",
            line=error.line,
            column=error.column,
            reason=reason,
        )
    return t(lang, "Line {line}: {reason}", line=error.line, reason=reason)


def import_summary(report: ImportReport, lang: str, t: Translate) -> str:
    """The counts of a roster import in one sentence."""
    return t(
        lang,
        "Households added: {added}, updated: {updated}, unchanged: {unchanged}. "
        "Members added: {members_added}, updated: {members_updated}, removed: "
        "{members_removed}. Rows refused: {rejected}.",
        added=report.added_households,
        updated=report.updated_households,
        unchanged=report.unchanged,
        members_added=report.members_added,
        members_updated=report.members_updated,
        members_removed=report.members_removed,
        rejected=report.rejected_rows,
    )


def missing_line_texts(missing: list[MissingLine], lang: str, t: Translate) -> list[str]:
    """One warning per province and year without an income line."""
    return [
        t(
            lang,
            "⚠️ No income line for {province} in {year}: checks there compare income with "
            "no line. Add it to thresholds.toml.",
            province=t(lang, "the whole country") if line.province == "全国" else line.province,
            year=line.year,
        )
        for line in missing
    ]


def import_report_lines(
    report: ImportReport,
    lang: str,
    t: Translate,
    limit: int | None = None,
    missing_lines: list[MissingLine] | None = None,
) -> list[str]:
    """The summary, the villages the roster added and the provinces without an income line,
    then one line per refused row (at most `limit`, then how many more)."""
    lines = [import_summary(report, lang, t)]
    if report.villages_added:
        lines.append(
            t(lang, "Villages added: {villages}.", villages=", ".join(report.villages_added))
        )
    lines.extend(missing_line_texts(missing_lines or [], lang, t))
    errors = report.errors if limit is None else report.errors[:limit]
    lines.extend(row_error_text(error, lang, t) for error in errors)
    if limit is not None and len(report.errors) > limit:
        lines.append(t(lang, "… and {count} more.", count=len(report.errors) - limit))
    return lines
