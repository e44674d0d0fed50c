"""What the `hucha` command says when something fails: one or two sentences in the user's
language instead of a traceback, for bad arguments, files, the database and the Bot API."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from conversations.messages import N_
from storage.errors import StorageError

Translate = Callable[..., str]


class CliError(Exception):
    """A failure the user can fix, as a msgid with `{name}` placeholders."""

    def __init__(self, message_id: str, **params: Any) -> None:
        super().__init__(message_id)
        self.message_id = message_id
        self.params = params

    @classmethod
    def from_argparse(cls, message: str, prog: str) -> CliError:
        """argparse's English complaint, read back into one of ours."""
        for pattern, message_id in _ARGPARSE:
            match = pattern.search(message)
            if match:
                return cls(message_id, command=prog, **match.groupdict())
        return cls(N_("{command}: {detail}. See {command} --help."), command=prog, detail=message)


_ARGPARSE: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"the following arguments are required: (?P<names>.+)"),
        N_("{command}: missing {names}. See {command} --help."),
    ),
    (
        re.compile(
            r"argument (?P<name>\S+): invalid choice: '?(?P<value>[^' ]*)'? "
            r"\(choose from (?P<choices>.+)\)"
        ),
        N_("{command}: {value} is not a choice of {name}; use one of {choices}."),
    ),
    (
        re.compile(r"argument (?P<name>\S+): invalid \w+ value: '?(?P<value>[^']*)'?"),
        N_("{command}: {name} does not take {value}. See {command} --help."),
    ),
    (
        re.compile(r"argument (?P<name>\S+): expected one argument"),
        N_("{command}: {name} needs a value. See {command} --help."),
    ),
    (
        re.compile(r"unrecognized arguments: (?P<names>.+)"),
        N_("{command}: unknown {names}. See {command} --help."),
    ),
)


def language_from_argv(argv: Sequence[str], default: str) -> str:
    """The --lang of a command line not parsed yet (its own errors are in that language)."""
    for index, argument in enumerate(argv):
        if argument == "--lang" and index + 1 < len(argv):
            value = argv[index + 1]
        elif argument.startswith("--lang="):
            value = argument.partition("=")[2]
        else:
            continue
        if value in ("zh_CN", "en"):
            return value
    return default


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0][:200] if text else type(error).__name__


def explain(error: BaseException, lang: str, t: Translate, settings: Any = None) -> list[str]:
    """One or two sentences saying what went wrong and what to do about it."""
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError
    from telegram.error import InvalidToken, NetworkError, TelegramError

    if isinstance(error, CliError):
        return [t(lang, error.message_id, **error.params)]
    if isinstance(error, StorageError):
        return [t(lang, error.message_id, **error.params)]
    if isinstance(error, InvalidToken):
        return [t(lang, "The Bot API refused the token: check HUCHA_TELEGRAM_TOKEN or --token.")]
    if isinstance(error, NetworkError):
        api = getattr(settings, "api_url", "") or ""
        return [
            t(lang, "The Bot API at {url} cannot be reached.", url=api),
            t(lang, "Check the network, --api-url and --proxy."),
        ]
    if isinstance(error, TelegramError):
        return [t(lang, "The Bot API refused the request: {reason}", reason=_first_line(error))]
    if isinstance(error, OSError) and error.filename:
        return [
            t(
                lang,
                "Cannot use the file {path}: {reason}.",
                path=str(error.filename),
                reason=error.strerror or type(error).__name__,
            )
        ]
    if isinstance(error, DBAPIError | OSError | SQLAlchemyError) or _from_database(error):
        return [
            t(lang, "The database cannot be reached: {reason}", reason=_first_line(error)),
            t(lang, "Check DATABASE_URL (or --database-url) and that the database exists."),
        ]
    return [
        t(lang, "Something went wrong ({kind}).", kind=type(error).__name__),
        t(lang, "Run the command again with --debug to see the details."),
    ]


def _from_database(error: BaseException) -> bool:
    module = type(error).__module__
    return module.startswith(("asyncpg", "sqlite3", "aiosqlite"))
