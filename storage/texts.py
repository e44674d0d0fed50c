"""The words exports print, in the reader's language: English msgids marked with `N_` (Babel
extracts them), read from the same gettext catalogs as the bot (locales/), so that a status
reads the same in a chat and on paper."""

from __future__ import annotations

import gettext
import io
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path

from storage.models import ProblemStatus

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DEFAULT_LANGUAGE = "zh_CN"

Translate = Callable[[str], str]


def N_(message: str) -> str:
    """Marks a msgid for extraction; translated where it is shown."""
    return message


# The same msgids as the bot's problem cards.
STATUS_NAMES: Mapping[str, str] = {
    ProblemStatus.OPEN: N_("Open"),
    ProblemStatus.IN_PROGRESS: N_("In progress"),
    ProblemStatus.RECTIFIED: N_("Rectified, awaiting verification"),
    ProblemStatus.VERIFIED: N_("Verified (closed)"),
    ProblemStatus.WITHDRAWN: N_("Withdrawn: raised in error"),
}
# Rectification tiers (整改时限) as the seeds name them: 立行立改, 限时整改, 长期坚持.
DEADLINE_TIER_NAMES: Mapping[str, str] = {
    "immediate": N_("Fix at once"),
    "timed": N_("Fix by a set date"),
    "ongoing": N_("Ongoing, reviewed every period"),
}
# Problem categories are stored in Chinese, as the questionnaire and the lists name them.
CATEGORY_NAMES: Mapping[str, str] = {
    "不愁吃": N_("Food"),
    "不愁穿": N_("Clothing"),
    "义务教育": N_("Compulsory education"),
    "基本医疗": N_("Basic medical care"),
    "住房安全": N_("Safe housing"),
    "饮水安全": N_("Safe drinking water"),
    "收入": N_("Income"),
    "帮扶": N_("Assistance"),
}
YES_NO: Mapping[str, str] = {"yes": N_("Yes"), "no": N_("No")}


def _compiled(po_path: Path) -> gettext.NullTranslations:
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    if not po_path.exists():
        return gettext.NullTranslations()
    with po_path.open("rb") as handle:
        catalog = read_po(handle, locale=po_path.parent.parent.name)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


@cache
def translator(lang: str = DEFAULT_LANGUAGE) -> Translate:
    """The catalog of `lang` (Chinese when unknown), read once."""
    known = lang if (LOCALES_DIR / lang).is_dir() else DEFAULT_LANGUAGE
    catalog = _compiled(LOCALES_DIR / known / "LC_MESSAGES" / "messages.po")
    return catalog.gettext


def page_footer(t: Translate) -> str:
    """The footer of a printed page, in XlsxWriter's codes (&P the page, &N their number)."""
    return t(N_("Page &P of &N"))


def category_name(t: Translate, category: str) -> str:
    msgid = CATEGORY_NAMES.get(category)
    return t(msgid) if msgid else category


def tier_name(t: Translate, tier: str | None) -> str | None:
    """A rectification tier in the reader's language, or None for a problem without one."""
    msgid = DEADLINE_TIER_NAMES.get(tier or "")
    return t(msgid) if msgid else None


def status_name(t: Translate, status: str) -> str:
    msgid = STATUS_NAMES.get(status)
    return t(msgid) if msgid else status
