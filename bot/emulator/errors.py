"""Bot API errors as Telegram words them: an HTTP status and a description.

Every method of the emulator raises `ApiError`; the server turns it into
`{"ok": false, "error_code": ..., "description": ...}`.
"""

from __future__ import annotations


class ApiError(Exception):
    """A refused Bot API request, carrying Telegram's status code and description."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def bad_request(reason: str) -> ApiError:
    """A 400 answer: `Bad Request: <reason>`."""
    return ApiError(400, f"Bad Request: {reason}")


def forbidden(reason: str) -> ApiError:
    """A 403 answer: `Forbidden: <reason>`."""
    return ApiError(403, f"Forbidden: {reason}")


def conflict(reason: str) -> ApiError:
    """A 409 answer: `Conflict: <reason>`."""
    return ApiError(409, f"Conflict: {reason}")


def not_found() -> ApiError:
    """The 404 answer for a method the Bot API does not have."""
    return ApiError(404, "Not Found")


def unauthorized() -> ApiError:
    """The 401 answer for a wrong token."""
    return ApiError(401, "Unauthorized")


def not_implemented() -> ApiError:
    """A real Bot API method this emulator does not answer; loud so that it gets noticed."""
    return bad_request("method not implemented in the emulator")
