"""The daily report: one self-contained HTML file with charts of a day and its figures.

``luxlog report --date D`` writes ``YYYY-MM-DD_report.html`` into every output folder.
It must open from a NAS share in any browser, years later, offline. So:

* **No script and no external resource at all.** Styles are inline, charts are inline
  SVG that luxlog writes itself, and a Content-Security-Policy of ``default-src 'none'``
  tells the browser to fetch nothing even if a future edit slipped something in.
* **No chart library.** A day is three simple charts (lines over 24 hours, on/off bands,
  15-minute power steps); about 250 lines of Python draw them. A JavaScript library would
  be inlined into every file (100 KB-1 MB) and need a browser that runs it; a Python one
  (matplotlib, pygal) would add tens of MB to a logger that runs on small boxes, for
  output we would still have to post-process to embed. Inline SVG is vector (prints and
  zooms sharp), searchable, and its ``data-series`` attributes make it testable.

Chart data and figures come from :mod:`luxlog.daydata` (one streamed pass, the same
rules as the summary CSV); the charts are drawn by :mod:`luxlog.charts`.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from luxlog import __version__, clock
from luxlog.charts import Band, Series, band_chart, line_chart, number_text
from luxlog.counters import (
    BRIDGE_MS,
    Number,
    PeriodStats,
    registers_read,
)
from luxlog.daydata import DayReport as DayReport
from luxlog.daydata import collect as collect  # report.collect: the data of a page
from luxlog.outputs import WriteResult, write_file
from luxlog.periods import Calendar

if TYPE_CHECKING:
    from luxlog.cache import Cache
    from luxlog.config import Settings

# -- HTML ------------------------------------------------------------------------------

_STYLE = """
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       margin: 0 auto; max-width: 1000px; padding: 16px; color: #1b1b1b; background: #fff; }
h1 { font-size: 1.5em; margin: 0 0 2px; }
h2 { font-size: 1.1em; margin: 28px 0 6px; }
.sub { color: #555; margin: 0 0 16px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(180px, 1fr)); gap: 10px; }
.card { border: 1px solid #ddd; border-radius: 8px; padding: 10px 12px; }
.card .label { color: #555; font-size: .85em; }
.card .value { font-size: 1.35em; font-weight: 600; }
.card .detail { color: #555; font-size: .85em; }
.notes { background: #fff8e1; border: 1px solid #f0d890; border-radius: 8px;
         padding: 8px 14px 8px 30px; }
svg.chart { width: 100%; height: auto; display: block; }
svg .grid { stroke: #e4e4e4; stroke-width: 1; }
svg .tick, svg .unit, svg .empty { font-size: 11px; fill: #555; }
svg .series { fill: none; stroke-width: 1.6; stroke-linejoin: round; stroke-linecap: round; }
svg .gap { fill: #000; fill-opacity: .06; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 18px; margin: 4px 0 0 84px; font-size: .9em; }
.legend .key { display: inline-block; width: 14px; height: 4px; vertical-align: middle;
               margin-right: 6px; }
.legend .band-key { height: 12px; }
.small { color: #555; font-size: .85em; }
table.figures { border-collapse: collapse; font-size: .9em; }
table.figures td { border-bottom: 1px solid #eee; padding: 2px 12px 2px 0; }
footer { margin-top: 30px; color: #777; font-size: .8em; }
@media print { body { max-width: none; } h2 { break-after: avoid; } svg { break-inside: avoid; } }
"""


_MISSING = "\u2013"  # an en dash: "no value"


def _fmt(value: float | int | None, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return _MISSING
    text = f"{value:.{digits}f}" if isinstance(value, float) else str(value)
    return f"{text} {unit}".strip()


def _card(label: str, value: str, detail: str = "") -> str:
    return (
        f'<div class="card"><div class="label">{html.escape(label)}</div>'
        f'<div class="value">{html.escape(value)}</div>'
        f'<div class="detail">{html.escape(detail)}</div></div>'
    )


def _cards(row: PeriodStats) -> str:
    cop = _fmt(row.cop, digits=2) if row.cop is not None else _MISSING
    electricity = (
        _fmt(row.electricity_kwh, "kWh") if row.electricity_kwh is not None else "not reported"
    )
    cards = [
        _card(
            "Coverage",
            _fmt(row.coverage_pct, "%"),
            f"{row.samples} samples, {row.gaps} gap(s), {row.gap_hours:.1f} h",
        ),
        _card(
            "Outdoor",
            _fmt(row.outdoor_mean_c, "°C"),
            f"min {_fmt(row.outdoor_min_c, '°C')}, max {_fmt(row.outdoor_max_c, '°C')}",
        ),
        _card(
            "Compressor starts",
            _fmt(row.compressor_starts),
            f"{_fmt(row.minutes_per_start, 'min')} per start",
        ),
        _card(
            "Compressor hours",
            _fmt(row.compressor_hours, "h", 2),
            f"heating {_fmt(row.heating_hours, 'h', 2)}, "
            f"hot water {_fmt(row.hot_water_hours, 'h', 2)}",
        ),
        _card(
            "Heat produced",
            _fmt(row.heat_kwh, "kWh"),
            f"heating {_fmt(row.heat_heating_kwh, 'kWh')}, hot water "
            f"{_fmt(row.heat_hot_water_kwh, 'kWh')}",
        ),
        _card(
            "Electricity",
            electricity,
            f"from {row.electricity_source}, {_fmt(row.electricity_hours, 'h', 2)}"
            if row.electricity_source != "none"
            else "by this controller",
        ),
        _card("COP", cop, _cop_detail(row)),
        _card("Utility lock (EVU)", _fmt(row.evu_lock_hours, "h", 2), ""),
        _card("Defrosts", _fmt(row.defrosts), ""),
        _card("Degree days", _fmt(row.degree_days), "G20/15"),
    ]
    return '<div class="cards">' + "".join(cards) + "</div>"


def _cop_detail(row: PeriodStats) -> str:
    """Over which hours the COP is: only those where heat and electricity are both known."""
    if row.cop_hours is None:
        return "heat ÷ electricity"
    return (
        f"heat ÷ electricity over the {_fmt(row.cop_hours, 'h', 2)} both are known "
        f"({_fmt(row.cop_heat_kwh, 'kWh')} ÷ {_fmt(row.cop_electricity_kwh, 'kWh')})"
    )


def _legend(series: Sequence[Series]) -> str:
    items = []
    for s in series:
        values = s.values
        detail = (
            f" {number_text(min(values))}…{number_text(max(values))} {s.unit}"
            if values
            else " (no values)"
        )
        items.append(
            f'<span><span class="key" style="background:{s.colour}"></span>'
            f'{html.escape(s.label)}<span class="small">{html.escape(detail)}</span></span>'
        )
    return '<div class="legend">' + "".join(items) + "</div>"


def _band_legend(bands: Sequence[Band], row: PeriodStats) -> str:
    """The bands' keys with their hours - the cards' figures where a card shows one.

    The bands are drawn from the sampled on/off states, which miss what happens between
    two polls; the compressor card counts the controller's own run-time counter. One
    page must not show two numbers for one thing, so the legend takes the card's.
    """
    from_cards: dict[str, Number] = {
        "compressor": row.compressor_hours,
        "evu_lock": row.evu_lock_hours,
    }
    items = []
    for b in bands:
        figure = from_cards.get(b.key)
        hours = _fmt(figure, "h", 2) if figure is not None else f"{b.hours:.2f} h"
        items.append(
            f'<span><span class="key band-key" style="background:{b.colour}"></span>'
            f'{html.escape(b.label)} <span class="small">{html.escape(hours)}</span></span>'
        )
    return '<div class="legend">' + "".join(items) + "</div>"


def _figures_table(row: PeriodStats) -> str:
    cells = []
    for name, value in row.row().items():
        shown = "" if value is None else str(value)
        cells.append(f"<tr><td>{html.escape(name)}</td><td>{html.escape(shown)}</td></tr>")
    return '<table class="figures">' + "".join(cells) + "</table>"


def render_html(report: DayReport, calendar: Calendar) -> str:
    """The whole page as a string (UTF-8 when written)."""
    row = report.stats
    period = report.period
    day = period.first_day
    hours = round(period.hours)
    length = (
        ""
        if hours == 24
        else f" · {hours}-hour day (summer time {'starts' if hours < 24 else 'ends'})"
    )
    who = ", ".join(
        part
        for part in (
            report.host and f"heat pump {report.host}",
            report.firmware and f"firmware {report.firmware}",
            f"time zone {report.timezone}",
        )
        if part
    )
    notes = "".join(f"<li>{html.escape(note)}</li>" for note in row.notes)
    if row.samples == 0:
        notes = "<li>no samples for this day: was luxlog polling?</li>" + notes
    generated = datetime.fromtimestamp(report.generated_ms / 1000, tz=calendar.zone)
    title = f"Heat pump · {day:%A %d %B %Y}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        # Nothing may be fetched: the file must work offline from a NAS share for years.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="luxlog {__version__}">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<header><h1>{html.escape(title)}</h1>",
        f'<p class="sub">{html.escape(who)}{html.escape(length)}</p></header>',
        _cards(row),
    ]
    if notes:
        parts.append(f'<h2>Notes</h2><ul class="notes">{notes}</ul>')
    parts += [
        "<h2>Temperatures</h2>",
        line_chart(
            "chart-temperatures",
            "Temperatures over the day",
            report.temperatures,
            period,
            calendar,
            report.gaps,
            unit="°C",
        ),
        _legend(report.temperatures),
        "<h2>Compressor and operating mode</h2>",
        band_chart(
            "chart-operation",
            "Compressor and operating mode",
            report.bands,
            period,
            calendar,
            report.gaps,
        ),
        _band_legend(report.bands, row),
        "<h2>Power</h2>",
        line_chart(
            "chart-power",
            "Power over the day",
            report.power,
            period,
            calendar,
            report.gaps,
            unit="kW",
            height=220,
            floor=0.0,
        ),
        _legend(report.power),
        f'<p class="small">{html.escape(report.power_note[:1].upper() + report.power_note[1:])}. '
        "Shaded: no samples.</p>",
        "<h2>All figures</h2>",
        "<details><summary>the row of this day in the month summary CSV</summary>",
        _figures_table(row),
        "</details>",
        f"<footer>Written by luxlog {__version__} on {generated:%Y-%m-%d %H:%M %Z}. "
        "Self-contained: no scripts, nothing loaded from the network. Definitions of "
        "every figure: README, “Statistics and reports”.</footer>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


# -- writing ---------------------------------------------------------------------------


def build(
    cache: Cache, settings: Settings, day: date, *, now_ms: int | None = None
) -> tuple[DayReport, Calendar]:
    """The report of local ``day`` from the cache."""
    calendar = Calendar.from_settings(settings)
    now = clock.now_ms() if now_ms is None else now_ms
    period = calendar.period("day", day)
    assert period is not None
    samples = cache.query(
        period.start_ms - BRIDGE_MS, min(period.end_ms, now + 1), registers=registers_read()
    )
    report = collect(
        samples,
        period,
        calendar=calendar,
        interval_sec=settings.interval_sec,
        now_ms=now,
        generated_ms=now,
    )
    return report, calendar


def write_report(
    settings: Settings,
    day: date,
    *,
    now_ms: int | None = None,
    directories: Sequence[Path] | None = None,
) -> WriteResult:
    """Write ``YYYY-MM-DD_report.html`` for ``day`` into every output folder (or only
    ``directories``: a retry)."""
    from luxlog.cache import Cache
    from luxlog.errors import NoData

    if not settings.cache_path.exists():
        raise NoData(
            f"no data yet: the cache {settings.cache_path} is created by the first flush "
            "(every 5 minutes when scheduled; or run `luxlog flush`)"
        )
    with Cache.open(settings.cache_path, readonly=True) as cache:
        calendar = Calendar.from_settings(settings)
        start, end = calendar.midnight_ms(day), calendar.midnight_ms(day + timedelta(days=1))
        if not cache.count(start, end):
            # An empty page looks like a broken heat pump; say it plainly instead.
            raise NoData(f"no samples on {day}: no report written")
        report, calendar = build(cache, settings, day, now_ms=now_ms)
    content = render_html(report, calendar).encode("utf-8")
    return write_file(settings, report.file_name, content, directories=directories)
