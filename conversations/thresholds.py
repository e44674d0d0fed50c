"""Thresholds (标准) per area and year: the monitoring line (防返贫监测线), water and school-age
limits, read from a data file and looked up as the `param.NAME` values of a check.

A row applies to an area path, "全国" (the whole country), a province ("云南") or a county
within a province ("云南/元谋"), from its year on. For each parameter the value is the
one set by the most recent applicable row (year ≤ the check's year); at equal years the
more specific area wins; with no row the table's default applies. Area names match with
or without their administrative suffix: "云南省/元谋县" finds the rows of "云南/元谋".
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

THRESHOLDS_PATH = Path(__file__).parent / "forms" / "thresholds.toml"
NATIONAL = "全国"
# Longest first, so that "自治区" is removed whole rather than as "区".
_SUFFIXES = (
    "特别行政区",
    "维吾尔自治区",
    "壮族自治区",
    "回族自治区",
    "自治区",
    "自治州",
    "自治县",
    "省",
    "市",
    "州",
    "县",
    "区",
)


class ThresholdError(ValueError):
    """A thresholds file that cannot be used; the message names the file and the row."""


@dataclass(frozen=True)
class ThresholdRow:
    """The parameters an area sets from a year on."""

    area: str
    year: int
    values: Mapping[str, float]


@dataclass(frozen=True)
class ThresholdTable:
    defaults: Mapping[str, float]
    rows: tuple[ThresholdRow, ...]


def load_thresholds(path: str | Path = THRESHOLDS_PATH) -> ThresholdTable:
    """Read a thresholds file (see forms/thresholds.toml)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ThresholdError(f"{path.name}: cannot be read: {error}") from error
    return parse_thresholds(data, path.name)


def parse_thresholds(data: Mapping[str, Any], source: str = "<thresholds>") -> ThresholdTable:
    defaults = _numbers(data.get("defaults", {}), f"{source}: defaults")
    raw_rows = data.get("rows", [])
    if not isinstance(raw_rows, list):
        raise ThresholdError(f"{source}: rows: must be a list of [[rows]]")
    rows = tuple(_row(raw, f"{source}: row {n}") for n, raw in enumerate(raw_rows, start=1))
    return ThresholdTable(defaults=defaults, rows=rows)


def params_for(table: ThresholdTable, province: str | None, year: int) -> dict[str, float]:
    """The parameters for an area ("云南", "云南/元谋", or None for national) in a year."""
    chain = _area_chain(province)
    chosen: dict[str, tuple[int, int, float]] = {}
    for row in table.rows:
        if row.year > year or row.area not in chain:
            continue
        depth = chain.index(row.area)
        for name, value in row.values.items():
            rank = (row.year, depth)
            if name not in chosen or rank >= chosen[name][:2]:
                chosen[name] = (row.year, depth, value)
    params = dict(table.defaults)
    params.update({name: value for name, (_, _, value) in chosen.items()})
    return params


def _area_chain(area: str | None) -> list[str]:
    """The area and the areas containing it, widest first: 全国, 云南, 云南/元谋."""
    chain = [NATIONAL]
    parts = _area_path(area or "").split("/") if area else []
    for end in range(1, len(parts) + 1):
        if parts[end - 1]:
            chain.append("/".join(parts[:end]))
    return chain


def _area_path(area: str) -> str:
    """ "云南省 / 元谋县" → "云南/元谋": parts trimmed, administrative suffixes dropped."""
    return "/".join(_area_name(part) for part in area.split("/") if part.strip())


def _area_name(name: str) -> str:
    name = name.strip()
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return name


def _row(raw: Any, where: str) -> ThresholdRow:
    if not isinstance(raw, Mapping):
        raise ThresholdError(f"{where}: must be a table")
    area, year = raw.get("area"), raw.get("year")
    if not isinstance(area, str) or not area.strip():
        raise ThresholdError(f"{where}: area: missing")
    if not isinstance(year, int) or isinstance(year, bool):
        raise ThresholdError(f"{where}: year: must be a year such as 2024")
    values = {key: value for key, value in raw.items() if key not in ("area", "year")}
    return ThresholdRow(area=_area_path(area), year=year, values=_numbers(values, where))


def _numbers(raw: Any, where: str) -> dict[str, float]:
    if not isinstance(raw, Mapping):
        raise ThresholdError(f"{where}: must be a table of numbers")
    numbers: dict[str, float] = {}
    for name, value in raw.items():
        number_ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not number_ok or not math.isfinite(float(value)):
            raise ThresholdError(f"{where}: '{name}' must be a number")
        numbers[name] = value
    return numbers
