"""What never reaches a log: the bot token, ID numbers (身份证号) and phone numbers.

`Redaction` is a logging filter that rewrites a record in place (message, arguments, the
formatted traceback and any extra string field), so that every handler and formatter behind
it, plain text or JSON, sees only the redacted text. `install_redaction()` puts it on every
handler at process start and applies it to every record a logger makes afterwards, so a
handler added later is covered too; an exception nobody catches is logged the same way.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from collections.abc import Iterable
from typing import Any

TOKEN_MASK = "[token]"
ID_MASK = "[id number]"
PHONE_MASK = "[phone]"

# A bot token is "<bot id>:<35 characters>"; in a URL the colon may be percent-encoded.
_TOKEN = re.compile(r"\d{5,}(?::|%3[Aa])[A-Za-z0-9_-]{30,}")
# 身份证号: 18 characters (the last may be X), or the old 15 digits; not inside a longer number.
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(?:\d{17}[\dXx]|\d{15})(?![0-9A-Za-z])")
# Mobile numbers (1xx xxxx xxxx, spaces or dashes allowed, +86 optional) and landlines (0xx-…).
_PHONE = re.compile(
    r"(?<![\d+])(?:(?:\+|00)86[- ]?)?(?:1[3-9]\d[- ]?\d{4}[- ]?\d{4}|0\d{2,3}-\d{7,8})(?!\d)"
)

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "redacted"}


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` without the given secrets, tokens, ID numbers and phone numbers."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, TOKEN_MASK)
    text = _TOKEN.sub(TOKEN_MASK, text)
    text = _ID_NUMBER.sub(ID_MASK, text)
    return _PHONE.sub(PHONE_MASK, text)


class Redaction(logging.Filter):
    """Rewrites each record once so that no handler can print a secret; never drops one."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = tuple(secret for secret in secrets if secret)

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not hide the record
            message = f"{record.msg!r} {record.args!r}"
        record.msg = redact(message, self.secrets)
        record.args = None
        if record.exc_info and record.exc_info[0] is not None:
            text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            record.exc_text = redact(text, self.secrets)
            # A formatter would format the live exception again, secrets and all.
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.secrets)
        for name, value in list(record.__dict__.items()):
            if name not in _STANDARD and isinstance(value, str):
                setattr(record, name, redact(value, self.secrets))
        record.redacted = True
        return True


_installed: Redaction | None = None
_original_make_record = logging.Logger.makeRecord


def _make_redacted_record(self: logging.Logger, *args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _original_make_record(self, *args, **kwargs)
    if _installed is not None:
        # After `extra=` fields are set, which a record factory would not see.
        _installed.filter(record)
    return record


def install_redaction(secrets: Iterable[str] = ()) -> Redaction:
    """Redact every record from now on, whatever handler or formatter emits it.

    Call it at process start, after the handlers are configured; calling it again (with the
    token once it is known) adds secrets to the same filter.
    """
    global _installed
    if _installed is None:
        _installed = Redaction(secrets)
        logging.Logger.makeRecord = _make_redacted_record  # type: ignore[method-assign]
    else:
        _installed.secrets = tuple(dict.fromkeys([*_installed.secrets, *(s for s in secrets if s)]))
    for handler in _all_handlers():
        if _installed not in handler.filters:
            handler.addFilter(_installed)
    sys.excepthook = _log_uncaught
    return _installed


def _log_uncaught(kind: type[BaseException], error: BaseException, tb: Any) -> None:
    """An exception nobody caught goes through logging (and so through the redaction)
    instead of straight to stderr, where it would print a token it carries."""
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, error, tb)
        return
    logging.getLogger("hucha").critical("stopped by an error", exc_info=(kind, error, tb))


def uninstall_redaction() -> None:
    """Undo `install_redaction()` (tests)."""
    global _installed
    if _installed is None:
        return
    for handler in _all_handlers():
        handler.removeFilter(_installed)
    logging.Logger.makeRecord = _original_make_record  # type: ignore[method-assign]
    sys.excepthook = sys.__excepthook__
    _installed = None


def _all_handlers() -> list[logging.Handler]:
    loggers: list[logging.Logger] = [logging.getLogger()]
    loggers += [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    return [handler for logger in loggers for handler in logger.handlers]
