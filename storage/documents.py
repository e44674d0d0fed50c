"""Turning answers and details into JSON documents that both SQLite and PostgreSQL store."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any


def json_value(value: Any) -> Any:
    """`value` with dates as ISO strings, decimals as numbers, tuples and sets as lists and
    dataclasses (a location, say) as objects."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {str(key): json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(item) for item in value]
    if isinstance(value, set | frozenset):
        return [json_value(item) for item in sorted(value, key=str)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return json_value(dataclasses.asdict(value))
    raise TypeError(f"cannot store {type(value).__name__} in a JSON document")


def json_document(value: Mapping[str, Any]) -> dict[str, Any]:
    """A mapping made storable as a JSON column value."""
    return {str(key): json_value(item) for key, item in value.items()}
