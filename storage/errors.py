"""Domain errors raised by storage, each carrying an English gettext msgid the bot translates."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

InvitationFailure = Literal["unknown", "used", "expired", "elsewhere"]


class StorageError(Exception):
    """A request storage refuses. `message_id` is an English msgid with `{name}` placeholders
    filled from `params` after translation; it never carries SQL."""

    def __init__(self, message_id: str, params: Mapping[str, Any] | None = None) -> None:
        super().__init__(message_id)
        self.message_id = message_id
        self.params: dict[str, Any] = dict(params or {})


class InvitationError(StorageError):
    """An invitation (邀请码) that cannot be redeemed; `reason` says why."""

    MESSAGES: Mapping[InvitationFailure, str] = {
        "unknown": "This invitation code is not known. Please check it or ask your office.",
        "used": "This invitation code has been used already. Please ask your office for a new one.",
        "expired": "This invitation code has expired. Please ask your office for a new one.",
        "elsewhere": "This invitation is for an area this bot does not serve.",
    }

    def __init__(self, reason: InvitationFailure, area_code: str | None = None) -> None:
        super().__init__(self.MESSAGES[reason])
        self.reason: InvitationFailure = reason
        # "elsewhere": the invitation's area, whose own bot can take it.
        self.area_code = area_code
