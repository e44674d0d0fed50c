"""Charts drawn on the server as SVG markup (no chart library in the browser): problems by
category and status as stacked bars, and the last periods' progress as columns."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

from services.overview import CategoryLine, PeriodPoint
from storage.models import ProblemStatus

STATUS_ORDER = tuple(ProblemStatus)
STATUS_COLOURS: dict[str, str] = {
    ProblemStatus.OPEN: "#d9534f",
    ProblemStatus.IN_PROGRESS: "#f0ad4e",
    ProblemStatus.RECTIFIED: "#5bc0de",
    ProblemStatus.VERIFIED: "#5cb85c",
    ProblemStatus.WITHDRAWN: "#aaaaaa",
}


def _text(x: float, y: float, text: str, anchor: str = "start", size: int = 12) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
        f'fill="#333">{escape(text)}</text>'
    )


def category_chart(
    lines: Sequence[CategoryLine], status_label: Callable[[str], str], title: str
) -> str:
    """Horizontal stacked bars, one per category, coloured by status, with a legend."""
    width, label_w, bar_h, gap = 640, 110, 20, 8
    top = 30
    height = top + len(lines) * (bar_h + gap) + 40
    most = max((line.total for line in lines), default=0) or 1
    span = width - label_w - 60
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}" class="chart">',
        _text(0, 16, title, size=14),
    ]
    for index, line in enumerate(lines):
        y = top + index * (bar_h + gap)
        parts.append(_text(label_w - 6, y + bar_h - 5, line.category, "end"))
        x = float(label_w)
        for status in STATUS_ORDER:
            count = line.counts.get(status, 0)
            if not count:
                continue
            w = span * count / most
            parts.append(
                f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" '
                f'fill="{STATUS_COLOURS[status]}"><title>{escape(status_label(status))}: '
                f"{count}</title></rect>"
            )
            x += w
        parts.append(_text(x + 4, y + bar_h - 5, str(line.total)))
    legend_y = top + len(lines) * (bar_h + gap) + 14
    x = float(label_w)
    for status in STATUS_ORDER[:4]:
        parts.append(
            f'<rect x="{x:.1f}" y="{legend_y}" width="12" height="12" '
            f'fill="{STATUS_COLOURS[status]}"/>'
        )
        name = status_label(status)
        parts.append(_text(x + 16, legend_y + 11, name))
        x += 28 + 13 * len(name) if not name.isascii() else 28 + 7 * len(name)
    parts.append("</svg>")
    return "".join(parts)


def progress_chart(
    points: Sequence[PeriodPoint], label: Callable[[PeriodPoint], str], title: str
) -> str:
    """Columns of the share of households with a home visit in each period."""
    width, height, left, bottom, top = 640, 220, 36, 40, 30
    plot_h = height - top - bottom
    n = max(len(points), 1)
    slot = (width - left - 10) / n
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}" class="chart">',
        _text(0, 16, title, size=14),
    ]
    for pct in (0, 50, 100):
        y = top + plot_h * (1 - pct / 100)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" stroke="#ddd"/>'
        )
        parts.append(_text(left - 4, y + 4, f"{pct}%", "end", 10))
    for index, point in enumerate(points):
        share = point.checked / point.households if point.households else 0.0
        share = min(share, 1.0)
        h = plot_h * share
        x = left + index * slot + slot * 0.15
        y = top + plot_h - h
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" '
            f'fill="#337ab7"><title>{escape(label(point))}: {point.checked}/'
            f"{point.households}</title></rect>"
        )
        parts.append(_text(x + slot * 0.35, height - bottom + 14, label(point), "middle", 10))
        parts.append(_text(x + slot * 0.35, y - 3, f"{round(share * 100)}", "middle", 10))
    parts.append("</svg>")
    return "".join(parts)
