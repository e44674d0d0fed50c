"""Log lines as an operator's tools read them: one JSON object per event, with the update and
chat it concerns. Records pass the redaction filter (bot/redaction.py) first, so a line never
carries a token, an ID number or a phone number."""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

# The update being handled in this task, and its chat: every record logged meanwhile says so.
_CURRENT: contextvars.ContextVar[tuple[int | None, int | None]] = contextvars.ContextVar(
    "hucha_update", default=(None, None)
)


@contextmanager
def about_update(update_id: int | None, chat_id: int | None) -> Iterator[None]:
    """Within this block, log records carry this update id and chat."""
    token = _CURRENT.set((update_id, chat_id))
    try:
        yield
    finally:
        _CURRENT.reset(token)


def current_update() -> int | None:
    """The id of the update being handled, if any."""
    return _CURRENT.get()[0]


class UpdateContext(logging.Filter):
    """Puts the current update id and chat on each record (`update_id`, `chat_id`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        update_id, chat_id = _CURRENT.get()
        if getattr(record, "update_id", None) is None:
            record.update_id = update_id
        if getattr(record, "chat_id", None) is None:
            record.chat_id = chat_id
        return True


class JsonLines(logging.Formatter):
    """One JSON object per record: time (UTC), level, logger, message, update_id, chat_id,
    and the traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "update_id": getattr(record, "update_id", None),
            "chat_id": getattr(record, "chat_id", None),
        }
        if record.exc_info and record.exc_info[0] is not None:
            line["error"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["error"] = record.exc_text
        return json.dumps(line, ensure_ascii=False)


def configure_logging(json_lines: bool, level: int = logging.WARNING) -> None:
    """The root handler on stderr: JSON lines, or plain text for a person at a terminal."""
    handler = logging.StreamHandler()
    handler.addFilter(UpdateContext())
    if json_lines:
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every request URL at INFO, and a Bot API URL carries the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
