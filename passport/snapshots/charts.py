"""Server-rendered SVG charts of a battery's BMS history (no JavaScript: the CSP forbids inline script).

Colours and widths are SVG presentation attributes, not `style`, so they pass the CSP's style-src.
Every point carries a `<title>`, which browsers show as a tooltip, and flagged snapshots are ringed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.utils.formats import date_format
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from passport.snapshots.selectors import HistoryPoint

WIDTH = 720
HEIGHT = 240
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 16, 36
FLAG_COLOUR = "#c62828"


@dataclass(frozen=True)
class Series:
    """One line of a chart."""

    label: str
    value: Callable[[HistoryPoint], float]
    colour: str


def _x_scale(points: Sequence[HistoryPoint]) -> Callable[[datetime], float]:
    start, end = points[0].captured_at, points[-1].captured_at
    span = (end - start).total_seconds()
    inner = WIDTH - LEFT - RIGHT
    if span <= 0:
        return lambda moment: LEFT + inner / 2
    return lambda moment: LEFT + inner * (moment - start).total_seconds() / span


def _y_scale(low: float, high: float) -> Callable[[float], float]:
    inner = HEIGHT - TOP - BOTTOM
    span = (high - low) or 1.0
    return lambda value: TOP + inner * (1 - (value - low) / span)


def _nice_ticks(low: float, high: float, count: int = 4) -> list[float]:
    step = (high - low) / count or 1.0
    return [low + step * index for index in range(count + 1)]


def _number(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 100 or float(value).is_integer() else f"{value:.1f}"


def line_chart(
    points: Sequence[HistoryPoint],
    series: Sequence[Series],
    *,
    title: str,
    low: float,
    high: float,
    testid: str,
) -> SafeString:
    """An SVG line chart of `series` over capture time, with axes, a legend and tooltips."""
    if not points:
        return mark_safe("")
    x = _x_scale(points)
    y = _y_scale(low, high)
    parts = [
        f'<svg class="history-chart" data-testid="{escape(testid)}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="100%" role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for tick in _nice_ticks(low, high):
        level = y(tick)
        parts.append(
            f'<line x1="{LEFT}" y1="{level:.1f}" x2="{WIDTH - RIGHT}" y2="{level:.1f}" stroke="#ccc" '
            'stroke-width="0.5"/>'
            f'<text x="{LEFT - 6}" y="{level + 4:.1f}" text-anchor="end" font-size="11" fill="currentColor">'
            f"{escape(_number(tick))}</text>"
        )
    baseline = HEIGHT - BOTTOM
    labelled = [(points[0], "start"), (points[len(points) // 2], "middle"), (points[-1], "end")]
    for point, anchor in labelled if len(points) > 2 else [(points[0], "middle")]:
        parts.append(
            f'<text x="{x(point.captured_at):.1f}" y="{baseline + 16}" text-anchor="{anchor}" font-size="11" '
            f'fill="currentColor">{escape(date_format(point.captured_at, "Y-m-d"))}</text>'
        )
    for index, line in enumerate(series):
        coordinates = " ".join(f"{x(point.captured_at):.1f},{y(line.value(point)):.1f}" for point in points)
        parts.append(
            f'<polyline points="{coordinates}" fill="none" stroke="{line.colour}" stroke-width="1.8" '
            f'data-series="{escape(line.label)}"/>'
        )
        for point in points:
            value = line.value(point)
            flagged = bool(point.flags)
            radius = 4.5 if flagged else 2.4
            colour = FLAG_COLOUR if flagged else line.colour
            tip = f"{date_format(point.captured_at, 'Y-m-d H:i')} · {line.label} {_number(value)}"
            if flagged:
                tip += " · " + ", ".join(flag.rule_id for flag in point.flags)
            marker = ' data-flagged="true"' if flagged else ""
            parts.append(
                f'<circle cx="{x(point.captured_at):.1f}" cy="{y(value):.1f}" r="{radius}" fill="{colour}"'
                f"{marker}><title>{escape(tip)}</title></circle>"
            )
        legend_x = LEFT + 8 + index * 170
        parts.append(
            f'<rect x="{legend_x}" y="{HEIGHT - 12}" width="12" height="4" fill="{line.colour}"/>'
            f'<text x="{legend_x + 16}" y="{HEIGHT - 7}" font-size="11" fill="currentColor">'
            f"{escape(line.label)}</text>"
        )
    if any(point.flags for point in points):
        legend_x = LEFT + 8 + len(series) * 170
        parts.append(
            f'<circle cx="{legend_x + 6}" cy="{HEIGHT - 10}" r="4.5" fill="{FLAG_COLOUR}"/>'
            f'<text x="{legend_x + 16}" y="{HEIGHT - 7}" font-size="11" fill="currentColor">'
            f"{escape(_('flagged'))}</text>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated text is escaped above


def history_charts(points: Sequence[HistoryPoint]) -> dict[str, SafeString]:
    """The SOC/SOH chart and the cycle-count chart of a history."""
    if not points:
        return {}
    top = max(100.0, max(max(point.soh_pct, point.soc_pct) for point in points))
    cycles = [point.cycle_count for point in points]
    cycle_high = max(cycles) or 1
    return {
        "state": line_chart(
            points,
            [
                Series(_("SOH %"), lambda point: point.soh_pct, "#1565c0"),
                Series(_("SOC %"), lambda point: point.soc_pct, "#2e7d32"),
            ],
            title=_("State of health and state of charge over time"),
            low=0.0,
            high=top,
            testid="chart-soc-soh",
        ),
        "cycles": line_chart(
            points,
            [Series(_("Cycle count"), lambda point: float(point.cycle_count), "#6a1b9a")],
            title=_("Cycle count over time"),
            low=0.0,
            high=float(cycle_high) * 1.05,
            testid="chart-cycles",
        ),
    }
