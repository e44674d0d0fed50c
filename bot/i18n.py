"""Translations and locale formatting: gettext catalogs under locales/, read with Babel.

Message ids are English source strings. In code a message is written `t(lang, "…", name=…)`
so that Babel's extractor (keyword `t`, second argument) finds every one of them.
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date as babel_format_date
from babel.dates import format_time as babel_format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

LANGUAGES: tuple[str, ...] = ("zh_CN", "en")
DEFAULT_LANGUAGE = "zh_CN"
LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
BABEL_LOCALES: Mapping[str, str] = {"zh_CN": "zh_Hans_CN", "en": "en"}
DOMAIN = "messages"


def language_of(code: str | None, default: str = DEFAULT_LANGUAGE) -> str:
    """Map a Telegram client's language_code (zh-hans, en-US, …) to one of ours."""
    if not code:
        return default
    code = code.lower()
    if code.startswith("zh"):
        return "zh_CN"
    if code.startswith("en"):
        return "en"
    return default


def _compiled(po_path: Path) -> gettext.GNUTranslations:
    with po_path.open("rb") as fp:
        catalog = read_po(fp, locale=po_path.parent.parent.name)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


class Translator:
    """All catalogs, compiled in memory once at start-up."""

    def __init__(self, locales_dir: Path = LOCALES_DIR) -> None:
        self._catalogs: dict[str, gettext.NullTranslations] = {}
        for lang in LANGUAGES:
            po = locales_dir / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
            self._catalogs[lang] = _compiled(po) if po.exists() else gettext.NullTranslations()

    def __call__(self, lang: str, msgid: str, **params: object) -> str:
        catalog = self._catalogs.get(lang) or self._catalogs[DEFAULT_LANGUAGE]
        text = catalog.gettext(msgid)
        return text.format(**params) if params else text

    def n(self, lang: str, singular: str, plural: str, count: int, **params: object) -> str:
        """A message about `count` things, in the language's plural form ("1 answer",
        "2 answers"; Chinese has one form); `{count}` is filled in."""
        catalog = self._catalogs.get(lang) or self._catalogs[DEFAULT_LANGUAGE]
        return catalog.ngettext(singular, plural, count).format(count=count, **params)


def label(labels: Mapping[str, str], lang: str) -> str:
    """Pick a questionnaire label in the user's language, falling back to Chinese."""
    return labels.get(lang) or labels.get(DEFAULT_LANGUAGE) or next(iter(labels.values()), "")


def locale_of(lang: str) -> Locale:
    return Locale.parse(BABEL_LOCALES.get(lang, "zh_Hans_CN"))


def format_day(day: date, lang: str) -> str:
    return babel_format_date(day, format="medium", locale=locale_of(lang))


def format_moment(moment: datetime, lang: str, zone: str = "Asia/Shanghai") -> str:
    """A moment in the area's zone: the day as `format_day` writes it, then the time
    (2026年11月28日 10:30; Nov 28, 2026, 10:30 AM)."""
    local = moment.astimezone(ZoneInfo(zone))
    if lang.startswith("zh"):
        return f"{format_day(local.date(), lang)} {local:%H:%M}"
    time_text = babel_format_time(local, format="short", locale=locale_of(lang))
    return f"{format_day(local.date(), lang)}, {time_text}"


def format_number(value: float | int | Decimal, lang: str) -> str:
    return format_decimal(value, locale=locale_of(lang))
