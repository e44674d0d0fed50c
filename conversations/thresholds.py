"""Thresholds (标准) per area and year: the income line (防返贫监测线), water and school-age
limits, read from a data file and looked up as the `param.NAME` values of a check.

Income lines are their own table: each names the line it is (a province's monitoring line,
a city's exit standard), its source, and the years it applies to. A province and year with
no line of its own is reported by `missing_income_lines`; a check there compares income
with no line rather than with another place's or year's.

A row applies to an area path, "全国" (the whole country), a province ("云南") or a county
within a province ("云南/元谋"), from its year on. For each parameter the value is the
one set by the most recent applicable row (year ≤ the check's year); at equal years the
more specific area wins; with no row the table's default applies. Area names match with
or without their administrative suffix: "云南省/元谋县" finds the rows of "云南/元谋".
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

THRESHOLDS_PATH = Path(__file__).parent / "forms" / "thresholds.toml"
NATIONAL = "全国"
MONITORING_LINE = "monitoring_line"  # the income line's yuan, a parameter of every check
MONITORING_LINE_YEAR = "monitoring_line_year"  # the year the line was set for
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
class IncomeLine:
    """An income line (收入标准): yuan per person per year, for an area from `year` to
    `until` (inclusive), with its name in each language and where it comes from."""

    area: str
    year: int
    until: int
    line: float
    name: Mapping[str, str]
    source: str


@dataclass(frozen=True)
class MissingLine:
    """A province and year with no income line of its own."""

    province: str
    year: int


@dataclass(frozen=True)
class ThresholdTable:
    defaults: Mapping[str, float]
    rows: tuple[ThresholdRow, ...]
    income_lines: tuple[IncomeLine, ...] = ()


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
    raw_lines = data.get("income_lines", [])
    if not isinstance(raw_lines, list):
        raise ThresholdError(f"{source}: income_lines: must be a list of [[income_lines]]")
    lines = tuple(
        _income_line(raw, f"{source}: income line {n}") for n, raw in enumerate(raw_lines, 1)
    )
    return ThresholdTable(defaults=defaults, rows=rows, income_lines=lines)


def income_line_for(table: ThresholdTable, area: str | None, year: int) -> IncomeLine | None:
    """The income line that applies to an area in a year: the most specific area's, then
    the latest; None when no line covers that year."""
    chain = _area_chain(area)
    applying = [
        line
        for line in table.income_lines
        if line.area in chain and line.year <= year <= line.until
    ]
    if not applying:
        return None
    return max(applying, key=lambda line: (chain.index(line.area), line.year))


def missing_income_lines(
    table: ThresholdTable, provinces: Iterable[str | None], year: int
) -> list[MissingLine]:
    """The provinces (areas as stored: "江苏", "云南/元谋") that have no income line for
    `year`, in order, each once. An area without a province is reported as "全国"."""
    missing: list[MissingLine] = []
    seen: set[str] = set()
    for province in provinces:
        name = _area_path(province or "") or NATIONAL
        if name in seen:
            continue
        seen.add(name)
        if income_line_for(table, None if name == NATIONAL else name, year) is None:
            missing.append(MissingLine(name, year))
    return missing


def params_for(table: ThresholdTable, province: str | None, year: int) -> dict[str, float | None]:
    """The parameters for an area ("云南", "云南/元谋", or None for national) in a year;
    `monitoring_line` is the area's income line for the year, or None when it has none."""
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
    params: dict[str, float | None] = dict(table.defaults)
    params.update({name: value for name, (_, _, value) in chosen.items()})
    line = income_line_for(table, province, year)
    params[MONITORING_LINE] = line.line if line is not None else None
    params[MONITORING_LINE_YEAR] = line.year if line is not None else None
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


def _income_line(raw: Any, where: str) -> IncomeLine:
    if not isinstance(raw, Mapping):
        raise ThresholdError(f"{where}: must be a table")
    area, year = raw.get("area"), raw.get("year")
    if not isinstance(area, str) or not area.strip():
        raise ThresholdError(f"{where}: area: missing")
    if not isinstance(year, int) or isinstance(year, bool):
        raise ThresholdError(f"{where}: year: must be a year such as 2024")
    until = raw.get("until", year)
    if not isinstance(until, int) or isinstance(until, bool) or until < year:
        raise ThresholdError(f"{where}: until: must be a year not before {year}")
    line = raw.get("line")
    if not isinstance(line, int | float) or isinstance(line, bool) or not line > 0:
        raise ThresholdError(f"{where}: line: must be a number of yuan")
    name = raw.get("name")
    if not isinstance(name, Mapping) or not all(
        isinstance(text, str) and text.strip() for text in name.values()
    ):
        raise ThresholdError(f"{where}: name: must be a table of texts per language")
    source = raw.get("source")
    if not isinstance(source, str) or not source.strip():
        raise ThresholdError(f"{where}: source: say where the line comes from")
    unknown = set(raw) - {"area", "year", "until", "line", "name", "source"}
    if unknown:
        raise ThresholdError(f"{where}: unknown key '{sorted(unknown)[0]}'")
    return IncomeLine(_area_path(area), year, until, float(line), dict(name), source.strip())


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
