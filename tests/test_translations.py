"""Every message the bot or the engine can say exists in Chinese and English."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
# Domain errors carry their message id as their first argument; the bot translates it.
KEYWORDS = {
    "t": (2,),
    "n": (2, 3),
    "N_": None,
    "_": None,
    "StorageError": None,
    "ProblemError": None,
    "CaseError": None,
    "CliError": None,
}
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def source_messages() -> set[str]:
    found: set[str] = set()
    for folder in ("bot", "conversations", "rosterfiles", "services", "storage", "web"):
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / folder, method_map=[("**.py", "python")], keywords=KEYWORDS
        ):
            found.add(message if isinstance(message, str) else message[0])
    # The dashboard's templates say `_("…")`.
    for _file, _line, message, _comments, _context in extract_from_dir(
        ROOT / "web" / "templates",
        method_map=[("**.html", "jinja2")],
        keywords={"_": None},
        options_map={"**.html": {"trimmed": "false"}},
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def catalog(lang: str) -> dict[str, str]:
    with (ROOT / "locales" / lang / "LC_MESSAGES" / "messages.po").open("rb") as fp:
        po = read_po(fp)
    # A plural entry is keyed by its singular and carries all its forms.
    return {
        str(m.id[0] if isinstance(m.id, tuple) else m.id): " ".join(
            m.string if isinstance(m.string, tuple) else [m.string]
        )
        for m in po
        if m.id
    }


def test_source_has_messages() -> None:
    assert len(source_messages()) > 50


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_every_message_is_translated(lang: str) -> None:
    translations = catalog(lang)
    missing = sorted(m for m in source_messages() if not translations.get(m))
    assert not missing, f"{lang} lacks translations for: {missing}"


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_translations_keep_placeholders(lang: str) -> None:
    for msgid, msgstr in catalog(lang).items():
        assert set(PLACEHOLDER.findall(msgid)) == set(PLACEHOLDER.findall(msgstr)), msgid
