"""Self-contained SVG charts for the day report: lines over a day, on/off bands, gaps.

No scripts and no fonts to load: plain SVG text that any browser shows from a NAS share.
Every chart uses the same left margin, so the hours of all charts of a page line up.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from luxlog.periods import HOUR_MS, Calendar, Period

if TYPE_CHECKING:
    pass


@dataclass
class Series:
    """A line: segments of (time ms, value) points, broken where samples are missing."""

    key: str
    label: str
    colour: str
    unit: str
    segments: list[list[tuple[int, float]]] = field(default_factory=list)

    def add(self, t: int, value: float | None, *, joined: bool) -> None:
        """Append a point; ``joined`` False (or a missing value) starts a new segment."""
        if value is None:
            if self.segments and self.segments[-1]:
                self.segments.append([])
            return
        if (not joined or not self.segments) and (not self.segments or self.segments[-1]):
            self.segments.append([])
        self.segments[-1].append((t, value))

    @property
    def values(self) -> list[float]:
        """Every value, for scales and the legend."""
        return [v for segment in self.segments for _, v in segment]

    @property
    def points(self) -> int:
        """Number of points drawn."""
        return sum(len(segment) for segment in self.segments)


@dataclass
class Band:
    """On/off intervals of one state (compressor running, hot water, ...)."""

    key: str
    label: str
    colour: str
    spans: list[tuple[int, int]] = field(default_factory=list)

    def add(self, a: int, b: int) -> None:
        """Add ``[a, b)``, merged with the previous span when they touch."""
        if self.spans and self.spans[-1][1] >= a:
            self.spans[-1] = (self.spans[-1][0], max(b, self.spans[-1][1]))
        else:
            self.spans.append((a, b))

    @property
    def hours(self) -> float:
        """Total time on, in hours."""
        return sum(b - a for a, b in self.spans) / HOUR_MS


# -- SVG -------------------------------------------------------------------------------

_WIDTH = 960
_LEFT = 84  # room for the band names; the same in every chart, so the hours line up
_RIGHT = 16
_TOP = 12
_AXIS = 22  # room for the time labels below a plot


def _nice_step(span: float, count: int) -> float:
    raw = span / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering ``[low, high]``."""
    if high - low < 1e-9:
        low, high = low - 1, high + 1
    step = _nice_step(high - low, count)
    first = math.floor(low / step) * step
    ticks = []
    value = first
    while value < high + step * 0.999:
        ticks.append(round(value, 6))
        value += step
    return ticks


def number_text(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


class _Frame:
    """Maps time and value onto one chart's pixels."""

    def __init__(self, period: Period, height: int, low: float, high: float) -> None:
        self.period = period
        self.height = height
        self.low = low
        self.high = high
        self.plot_width = _WIDTH - _LEFT - _RIGHT
        self.plot_height = height - _TOP - _AXIS

    def x(self, t: int) -> float:
        span = self.period.end_ms - self.period.start_ms
        return _LEFT + self.plot_width * (t - self.period.start_ms) / span

    def y(self, value: float) -> float:
        span = (self.high - self.low) or 1.0
        return _TOP + self.plot_height * (1 - (value - self.low) / span)


def _time_axis(frame: _Frame, calendar: Calendar) -> list[str]:
    """Grid lines and labels every three local hours (DST days keep wall-clock labels)."""
    parts: list[str] = []
    bottom = _TOP + frame.plot_height
    t = frame.period.start_ms
    while t <= frame.period.end_ms:
        local = datetime.fromtimestamp(t / 1000, tz=calendar.zone)
        at_end = t == frame.period.end_ms
        if local.minute == 0 and (local.hour % 3 == 0 or at_end):
            x = frame.x(t)
            label = "24:00" if at_end else f"{local:%H:%M}"
            parts.append(
                f'<line class="grid" x1="{x:.1f}" y1="{_TOP}" x2="{x:.1f}" y2="{bottom}"/>'
            )
            parts.append(
                f'<text class="tick" x="{x:.1f}" y="{bottom + 15}" '
                f'text-anchor="middle">{label}</text>'
            )
        t += HOUR_MS
    return parts


def _value_axis(frame: _Frame, ticks: Sequence[float], unit: str) -> list[str]:
    parts = []
    for value in ticks:
        y = frame.y(value)
        parts.append(
            f'<line class="grid" x1="{_LEFT}" y1="{y:.1f}" x2="{_WIDTH - _RIGHT}" y2="{y:.1f}"/>'
        )
        parts.append(
            f'<text class="tick" x="{_LEFT - 6}" y="{y + 4:.1f}" '
            f'text-anchor="end">{number_text(value)}</text>'
        )
    parts.append(f'<text class="unit" x="4" y="{_TOP + 10}">{html.escape(unit)}</text>')
    return parts


def _gap_shading(frame: _Frame, gaps: Sequence[tuple[int, int]]) -> list[str]:
    parts = []
    for a, b in gaps:
        x1, x2 = frame.x(a), frame.x(b)
        parts.append(
            f'<rect class="gap" data-gap="1" x="{x1:.1f}" y="{_TOP}" '
            f'width="{max(x2 - x1, 1):.1f}" height="{frame.plot_height}">'
            "<title>no samples</title></rect>"
        )
    return parts


def _svg(chart_id: str, title: str, height: int, body: list[str]) -> str:
    return (
        f'<svg id="{chart_id}" class="chart" viewBox="0 0 {_WIDTH} {height}" role="img" '
        f'aria-label="{html.escape(title)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{html.escape(title)}</title>" + "".join(body) + "</svg>"
    )


def _path(frame: _Frame, series: Series) -> str:
    commands: list[str] = []
    for segment in series.segments:
        if not segment:
            continue
        points = [f"{frame.x(t):.1f},{frame.y(v):.1f}" for t, v in segment]
        if len(points) == 1:  # a lone sample: a dot-sized stroke
            points.append(points[0])
        commands.append("M" + points[0] + "L" + " ".join(points[1:]))
    return (
        f'<path class="series" data-series="{series.key}" data-points="{series.points}" '
        f'stroke="{series.colour}" d="{"".join(commands)}"/>'
    )


def line_chart(
    chart_id: str,
    title: str,
    series: Sequence[Series],
    period: Period,
    calendar: Calendar,
    gaps: Sequence[tuple[int, int]],
    *,
    unit: str,
    height: int = 280,
    floor: float | None = None,
) -> str:
    """Lines over the day with a time axis, a value axis and shaded gaps."""
    values = [v for s in series for v in s.values]
    low = min(values, default=0.0)
    high = max(values, default=1.0)
    if floor is not None:
        low = min(low, floor)
    ticks = _ticks(low, high)
    frame = _Frame(period, height, ticks[0], ticks[-1])
    body = _gap_shading(frame, gaps) + _value_axis(frame, ticks, unit) + _time_axis(frame, calendar)
    body += [_path(frame, s) for s in series if s.points]
    if not values:
        body.append(
            f'<text class="empty" x="{_WIDTH / 2}" y="{height / 2}" text-anchor="middle">'
            "no values for this day</text>"
        )
    return _svg(chart_id, title, height, body)


def band_chart(
    chart_id: str,
    title: str,
    bands: Sequence[Band],
    period: Period,
    calendar: Calendar,
    gaps: Sequence[tuple[int, int]],
) -> str:
    """One row per state, filled where it was on."""
    row = 22
    height = _TOP + row * len(bands) + _AXIS
    frame = _Frame(period, height, 0, 1)
    frame.plot_height = row * len(bands)
    body = _gap_shading(frame, gaps) + _time_axis(frame, calendar)
    for i, band in enumerate(bands):
        y = _TOP + i * row
        body.append(
            f'<text class="tick" x="{_LEFT - 6}" y="{y + 15}" '
            f'text-anchor="end">{html.escape(band.label)}</text>'
        )
        rects = "".join(
            f'<rect x="{frame.x(a):.1f}" y="{y + 3}" '
            f'width="{max(frame.x(b) - frame.x(a), 0.5):.1f}" height="{row - 6}"/>'
            for a, b in band.spans
        )
        body.append(
            f'<g class="band" data-series="{band.key}" data-spans="{len(band.spans)}" '
            f'fill="{band.colour}">{rects}</g>'
        )
    return _svg(chart_id, title, height, body)
