"""The parameters of one Bot API request, read the way Telegram reads them.

Values come from a query string, a form, a multipart body (strings, some holding JSON, plus
uploaded files) or a JSON object (native values). `Params` hides the difference.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from bot.emulator.errors import bad_request

ATTACH_PREFIX = "attach://"


@dataclass(frozen=True)
class Upload:
    """A file sent in a multipart body."""

    filename: str
    content: bytes
    content_type: str


class Params:
    """Typed access to request parameters; an empty value counts as absent, as in Telegram."""

    def __init__(self, values: Mapping[str, object], uploads: Mapping[str, Upload]) -> None:
        self._values = values
        self._uploads = uploads

    def has(self, name: str) -> bool:
        """Whether the parameter was given with a non-empty value (or as an uploaded file)."""
        value = self._values.get(name)
        return name in self._uploads or (value is not None and value != "")

    def raw(self, name: str) -> object | None:
        """The value as received, or None when absent or empty."""
        value = self._values.get(name)
        return None if value == "" else value

    def string(self, name: str) -> str | None:
        """The value as a string (numbers given in JSON bodies are turned into text)."""
        value = self.raw(name)
        if value is None:
            return None
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        raise bad_request(f'field "{name}" must be of type String')

    def integer(self, name: str) -> int | None:
        """The value as an integer, refusing text that is not one."""
        value = self.raw(name)
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise bad_request(f"invalid {name} specified")

    def number(self, name: str) -> float | None:
        """The value as a float."""
        value = self.raw(name)
        if value is None:
            return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise bad_request(f"invalid {name} specified")

    def flag(self, name: str) -> bool:
        """The value as a boolean: true, "true" and "1" are true, anything else false."""
        value = self.raw(name)
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return value != 0
        if isinstance(value, str):
            return value.strip().lower() in ("true", "1")
        return False

    def json(self, name: str, what: str) -> object | None:
        """A JSON-serialized parameter, decoded; `what` names it in the error message."""
        value = self.raw(name)
        if not isinstance(value, str):
            return value
        try:
            decoded: object = json.loads(value)
        except ValueError:
            raise bad_request(f"can't parse {what} JSON object") from None
        return decoded

    def upload(self, name: str) -> Upload | str | None:
        """An uploaded file, or the string naming an existing file (file_id or URL)."""
        if name in self._uploads:
            return self._uploads[name]
        value = self.string(name)
        if value is not None and value.startswith(ATTACH_PREFIX):
            return self._uploads.get(value.removeprefix(ATTACH_PREFIX))
        return value
