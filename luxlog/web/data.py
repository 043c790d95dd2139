"""What the web pages show, as plain JSON-ready dicts: the library behind ``/api/v1``.

No Starlette here: scripts and the benchmark call these functions directly, and the
routes in :mod:`luxlog.web.app` only parse the URL and serialise the result.

Shapes are *columnar* (one array per quantity, times in seconds since the epoch, ``null``
where unknown) because that is what uPlot draws without copying, and what a script
turns into a table in one line. Every read of the cache is read-only and projected onto
the registers it needs (``Cache.query(..., registers=...)``).

The Period view reads its daily figures from the month summaries that ``rollup due``
already writes (``YYYY-MM_summary.csv``), not from a year of samples: a season then
costs a dozen small CSV files instead of ~1,000,000 decoded samples. Only days no summary
holds yet (usually today) are computed from the cache.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from luxlog import registers, stats
from luxlog.errors import LuxlogError
from luxlog.heatpump import catalogue

if TYPE_CHECKING:
    from luxlog.cache import Cache
    from luxlog.charts import Series
    from luxlog.config import Settings
    from luxlog.sample import Sample

API_VERSION = 1
MAX_WIDTH = 4000  # pixels: a wider request is clamped (min/max keeps 2 points a pixel)
DEFAULT_WIDTH = 1000
C_RETURN_TARGET = registers.C_RETURN_SET  # the Luxtronik's heating curve targets return
CURVE_BIN_C = 0.5  # outdoor temperature bins of the heating curve
CURVE_MAX_DAYS = 62
PERIOD_DAY_FIELDS = (
    "period",
    "coverage_pct",
    "gap_hours",
    "gaps",
    "outdoor_mean_c",
    "heat_kwh",
    "electricity_kwh",
    "cop",
    "cop_heat_kwh",
    "cop_electricity_kwh",
    "compressor_starts",
    "minutes_per_start",
    "compressor_hours",
    "heating_hours",
    "hot_water_hours",
    "defrosts",
    "flags",
)
_SUMMED = (
    "heat_kwh",
    "electricity_kwh",
    "compressor_starts",
    "compressor_hours",
    "heating_hours",
    "hot_water_hours",
    "defrosts",
    "gap_hours",
    "gaps",
)


class NotFound(LuxlogError):
    """A page, day or file that does not exist (HTTP 404)."""


class BadRequest(LuxlogError):
    """A malformed parameter (HTTP 400)."""


@contextmanager
def open_cache(settings: Settings) -> Iterator[Cache]:
    """The cache, read-only, even on a read-only volume.

    There (compose service `web`) SQLite cannot create the WAL's -shm file and refuses
    to open; "immutable" then reads the file as it is, without locks. A flush committing
    mid-request can make that one request fail (503); the page's next refresh is fine.
    """
    from luxlog.cache import Cache

    path = settings.cache_path
    immutable = not os.access(path.parent, os.W_OK) and not Path(f"{path}-shm").exists()
    with Cache.open(path, readonly=True, busy_timeout_sec=5, immutable=immutable) as cache:
        yield cache


def _sec(ms: int) -> float:
    """Seconds (uPlot's unit), as an integer when whole: shorter JSON."""
    return ms // 1000 if ms % 1000 == 0 else ms / 1000


def parse_day(text: str) -> date:
    """``YYYY-MM-DD`` or a ``BadRequest`` saying so."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"not a date: {text!r} (expected YYYY-MM-DD)") from None


def clamp_width(width: int | None) -> int:
    """The chart width in pixels the decimation aims at."""
    if width is None:
        return DEFAULT_WIDTH
    return max(100, min(MAX_WIDTH, width))


# -- decimation ------------------------------------------------------------------------


def decimate(
    points: Sequence[tuple[int, float]], start_ms: int, end_ms: int, width: int
) -> list[tuple[int, float]]:
    """At most two points a pixel: each pixel's minimum and maximum, in time order.

    Min/max rather than averaging keeps the spikes an owner looks for (a defrost, a
    hot-water run) while a day of 10-second samples shrinks to the chart's width.
    """
    if len(points) <= 2 * width:
        return list(points)
    span = max(1, end_ms - start_ms)
    out: list[tuple[int, float]] = []
    bucket = -1
    low: tuple[int, float] | None = None
    high: tuple[int, float] | None = None

    def emit() -> None:
        if low is None or high is None:
            return
        if low is high:
            out.append(low)
        else:
            out.extend(sorted((low, high)))

    for point in points:
        index = (point[0] - start_ms) * width // span
        if index != bucket:
            emit()
            bucket, low, high = index, point, point
            continue
        if low is None or point[1] < low[1]:
            low = point
        if high is None or point[1] > high[1]:
            high = point
    emit()
    return out


def series_columns(series: Series, start_ms: int, end_ms: int, width: int) -> dict[str, Any]:
    """One series as ``{t: [...], v: [...]}``, a ``null`` between segments (gaps)."""
    times: list[float] = []
    values: list[float | None] = []
    for segment in series.segments:
        if not segment:
            continue
        if times:
            times.append(_sec(segment[0][0] - 1))
            values.append(None)
        for t, v in decimate(segment, start_ms, end_ms, width):
            times.append(_sec(t))
            values.append(v)
    return {
        "key": series.key,
        "label": series.label,
        "unit": series.unit,
        "colour": series.colour,
        "t": times,
        "v": values,
    }


# -- pages -----------------------------------------------------------------------------


def day_view(
    cache: Cache, settings: Settings, day: date, *, now_ms: int, width: int | None = None
) -> dict[str, Any]:
    """The Day page: temperatures, state bands, power, the day's figures.

    A finished day's figures come from its month summary (a stored product); only a day
    without one (today, or before the first roll-up) runs the statistics over its samples.
    """
    from luxlog.daydata import collect_charts

    calendar = stats.Calendar.from_settings(settings)
    period = calendar.period("day", day)
    if period is None or period.start_ms > now_ms:
        raise NotFound(f"{day} has not begun yet")
    stored = _summary_rows(settings, day.replace(day=1)).get(day.isoformat())
    end_ms = min(period.end_ms, now_ms + 1)
    registers = stats.registers_read()
    samples = cache.query(period.start_ms - stats.BRIDGE_MS, end_ms, registers=registers)
    gaps = _GapFinder(period.start_ms, end_ms, settings.interval_sec)
    if stored is None:
        from luxlog.daydata import collect

        report = collect(
            gaps.watch(samples),
            period,
            calendar=calendar,
            interval_sec=settings.interval_sec,
            now_ms=now_ms,
        )
        temperatures, bands, power, note = (
            report.temperatures,
            report.bands,
            report.power,
            report.power_note,
        )
        figures = _row_fields(report.stats)
    else:
        temperatures, bands, power, note = collect_charts(
            gaps.watch(samples), period, interval_sec=settings.interval_sec
        )
        figures = stored
    pixels = clamp_width(width)
    return {
        "api": API_VERSION,
        "day": day.isoformat(),
        "timezone": str(calendar.zone),
        "start": _sec(period.start_ms),
        "end": _sec(period.end_ms),
        "previous": (day - timedelta(days=1)).isoformat(),
        "next": (day + timedelta(days=1)).isoformat() if period.end_ms <= now_ms else None,
        "temperatures": [
            series_columns(s, period.start_ms, period.end_ms, pixels) for s in temperatures
        ],
        "power": [series_columns(s, period.start_ms, period.end_ms, pixels) for s in power],
        "power_note": note,
        "bands": [
            {
                "key": band.key,
                "label": band.label,
                "colour": band.colour,
                "spans": [[_sec(a), _sec(b)] for a, b in band.spans],
            }
            for band in bands
        ],
        "gaps": [[_sec(a), _sec(b)] for a, b in gaps.spans],
        "figures": figures,
        "figures_from": "statistics" if stored is None else "summary",
    }


class _GapFinder:
    """Spans inside ``[start, end)`` without a sample for more than
    :data:`~luxlog.stats.GAP_INTERVALS` poll intervals (the statistics' rule)."""

    def __init__(self, start_ms: int, end_ms: int, interval_sec: int) -> None:
        self.start, self.end = start_ms, end_ms
        self.limit = stats.GAP_INTERVALS * interval_sec * 1000
        self.spans: list[tuple[int, int]] = []

    def watch(self, samples: Iterable[Sample]) -> Iterator[Sample]:
        previous = self.start
        for sample in samples:
            t = sample.timestamp_ms
            if t >= self.start:
                if t - previous > self.limit:
                    self.spans.append((previous, t))
                previous = t
            yield sample
        if self.end - previous > self.limit:
            self.spans.append((previous, self.end))


def _summary_rows(settings: Settings, month: date) -> dict[str, dict[str, Any]]:
    """Day rows of a month summary in the first output folder that has one, by date."""
    from luxlog.csvout import PROFILES

    profile = PROFILES[settings.csv_profile]
    name = stats.summary_file_name(month)
    for folder in settings.output_dirs:
        try:
            text = (folder / name).read_text(encoding="utf-8-sig")
        except OSError:
            continue
        rows: dict[str, dict[str, Any]] = {}
        for record in csv.DictReader(io.StringIO(text), delimiter=profile.delimiter):
            row: dict[str, Any] = {}
            for field in PERIOD_DAY_FIELDS:
                cell = record.get("date" if field == "period" else field, "") or ""
                row[field] = _cell(field, cell, profile.decimal)
            rows[row["period"]] = row
        return rows
    return {}


def _cell(field: str, cell: str, decimal: str) -> Any:
    if field == "period":
        return cell
    if field == "flags":
        return [flag.strip() for flag in cell.split(";") if flag.strip()]
    if cell == "":
        return None
    try:
        number = float(cell.replace(decimal, ".") if decimal != "." else cell)
    except ValueError:
        return None
    return int(number) if number.is_integer() and field in ("gaps", "compressor_starts") else number


def _row_fields(row: stats.PeriodStats) -> dict[str, Any]:
    return {name: getattr(row, name) for name in PERIOD_DAY_FIELDS}


def period_view(
    cache: Cache | None, settings: Settings, kind: stats.PeriodKind, day: date, *, now_ms: int
) -> dict[str, Any]:
    """The Period page: one row per day of the week/month/season holding ``day``."""
    calendar = stats.Calendar.from_settings(settings)
    period = calendar.period(kind, day)
    if period is None:
        raise NotFound(f"{day} is outside the heating season (months {_season(settings)})")
    if period.start_ms > now_ms:
        raise NotFound(f"the {kind} of {day} has not begun yet")
    days = [d for d in period.days() if calendar.midnight_ms(d) <= now_ms]
    rows: dict[str, dict[str, Any]] = {}
    months = sorted({d.replace(day=1) for d in days})
    for month in months:
        rows.update(_summary_rows(settings, month))
    missing = [d for d in days if d.isoformat() not in rows]
    source = "summaries"
    if missing and cache is not None:
        source = "summaries+cache" if len(missing) < len(days) else "cache"
        periods = [p for d in missing if (p := calendar.period("day", d)) is not None]
        for row in _compute_days(cache, settings, calendar, periods, now_ms=now_ms):
            rows[row.period] = _row_fields(row)
    ordered = [rows.get(d.isoformat()) or _empty_row(d) for d in days]
    columns: dict[str, list[Any]] = {
        name: [row[name] for row in ordered] for name in PERIOD_DAY_FIELDS
    }
    columns["t"] = [_sec(calendar.midnight_ms(d)) for d in days]
    return {
        "api": API_VERSION,
        "kind": kind,
        "label": period.label,
        "start": _sec(period.start_ms),
        "end": _sec(period.end_ms),
        "previous": _neighbour(calendar, kind, period.start_ms, -1),
        "next": _neighbour(calendar, kind, period.end_ms, +1, now_ms=now_ms),
        "source": source,
        "days": columns,
        "totals": _totals(ordered),
    }


def _season(settings: Settings) -> str:
    return f"{settings.season_start_month}-{settings.season_end_month}"


def _neighbour(
    calendar: stats.Calendar,
    kind: stats.PeriodKind,
    edge_ms: int,
    direction: int,
    *,
    now_ms: int | None = None,
) -> str | None:
    """A day in the previous/next period of ``kind`` (seasons skip the summer)."""
    day = calendar.local_date(edge_ms - 1 if direction < 0 else edge_ms)
    for _ in range(400):
        if calendar.period(kind, day) is not None:
            if now_ms is not None and calendar.midnight_ms(day) > now_ms:
                return None
            return day.isoformat()
        day += timedelta(days=direction)
    return None


def _empty_row(day: date) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(PERIOD_DAY_FIELDS)
    row["period"], row["flags"], row["coverage_pct"] = day.isoformat(), [], 0.0
    return row


def _totals(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Sums over the days; the COP over the hours where heat and electricity were both
    known, as each day's COP is (its ``cop_heat_kwh`` and ``cop_electricity_kwh``): a
    day's whole heat over electricity known for half of it would inflate it."""
    totals: dict[str, Any] = {}
    rows = list(rows)
    for name in _SUMMED:
        known = [float(row[name]) for row in rows if row[name] is not None]
        totals[name] = round(sum(known), 2) if known else None
    pairs = [
        (float(row["cop_heat_kwh"]), float(row["cop_electricity_kwh"]))
        for row in rows
        if row["cop_heat_kwh"] is not None and row["cop_electricity_kwh"]
    ]
    electricity = sum(e for _, e in pairs)
    totals["cop"] = round(sum(h for h, _ in pairs) / electricity, 2) if electricity > 0 else None
    starts, hours = totals["compressor_starts"], totals["compressor_hours"]
    totals["minutes_per_start"] = round(hours * 60 / starts, 1) if starts and hours else None
    coverage = [float(row["coverage_pct"] or 0) for row in rows]
    totals["coverage_pct"] = round(sum(coverage) / len(coverage), 1) if coverage else None
    return totals


def _compute_days(
    cache: Cache,
    settings: Settings,
    calendar: stats.Calendar,
    periods: Sequence[stats.Period],
    *,
    now_ms: int,
) -> list[stats.PeriodStats]:
    """Day rows from the cache: the day figures `rollup due` stored where they are still
    valid (months whose summary file was pruned read them instead of a season of
    samples), the rest computed, one contiguous run of days per pass. A page never
    writes: nothing is stored."""
    from luxlog.dayfigures import period_rows

    return period_rows(
        cache, periods, calendar=calendar, settings=settings, now_ms=now_ms, store=False
    )


def curve_view(
    cache: Cache, settings: Settings, last: date, *, days: int, now_ms: int
) -> dict[str, Any]:
    """The heating curve: return target, return and flow against outdoor temperature.

    The Luxtronik 2 regulates the *return* temperature along its heating curve, so its
    target is a return target; the flow is shown beside it because that is what owners
    read off the pipes. Only samples in heating mode count, binned by 0.5 °C outdoors.
    """
    from luxlog.cache import Registers

    if not 1 <= days <= CURVE_MAX_DAYS:
        raise BadRequest(f"days must be 1..{CURVE_MAX_DAYS} (got {days})")
    calendar = stats.Calendar.from_settings(settings)
    end_ms = min(calendar.midnight_ms(last + timedelta(days=1)), now_ms + 1)
    start_ms = calendar.midnight_ms(last - timedelta(days=days - 1))
    wanted = (registers.C_OUTDOOR, registers.C_FLOW, registers.C_RETURN, C_RETURN_TARGET)
    converters = [catalogue.sensor("calc", index) for index in wanted]
    bins: dict[int, list[float]] = {}
    needed = Registers.of((*wanted, registers.C_MODE, registers.C_COMPRESSOR))
    for sample in cache.query(start_ms, end_ms, registers=needed):
        calc = sample.calculations
        if len(calc) <= max(wanted) or calc[registers.C_MODE] != stats.MODE_HEATING:
            continue
        values: list[float] = []
        for index, sensor in zip(wanted, converters, strict=True):
            value = sensor.convert(calc[index]) if sensor is not None else None
            if not isinstance(value, int | float) or calc[index] == catalogue.NOT_AVAILABLE:
                break
            values.append(float(value))
        else:
            key = math.floor(values[0] / CURVE_BIN_C)
            acc = bins.setdefault(key, [0.0, 0.0, 0.0, 0.0])
            acc[0] += 1
            for i in (1, 2, 3):
                acc[i] += values[i]
    keys = sorted(bins)
    return {
        "api": API_VERSION,
        "first": (last - timedelta(days=days - 1)).isoformat(),
        "last": last.isoformat(),
        "outdoor_c": [round((k + 0.5) * CURVE_BIN_C, 2) for k in keys],
        "samples": [int(bins[k][0]) for k in keys],
        "flow_c": [round(bins[k][1] / bins[k][0], 1) for k in keys],
        "return_c": [round(bins[k][2] / bins[k][0], 1) for k in keys],
        "return_target_c": [round(bins[k][3] / bins[k][0], 1) for k in keys],
    }


def now_view(settings: Settings, *, now_ms: int) -> dict[str, Any]:
    """The Now page: the newest cached sample's key values, and the health verdict."""
    from luxlog.cache import Registers
    from luxlog.health import build_report

    health = build_report(settings, now_ms=now_ms)
    result: dict[str, Any] = {
        "api": API_VERSION,
        "now": _sec(now_ms),
        "healthy": health.healthy,
        "reasons": list(health.reasons),
        "last_poll": None,
        "sample_time": None,
        "age_sec": None,
        "values": {},
    }
    last_poll = health.heatpump.last_poll_ms
    if last_poll is not None:
        result["last_poll"] = _sec(last_poll)
        result["age_sec"] = round((now_ms - last_poll) / 1000)
    wanted = {
        "mode": registers.C_MODE,
        "flow_c": registers.C_FLOW,
        "return_c": registers.C_RETURN,
        "return_target_c": C_RETURN_TARGET,
        "outdoor_c": registers.C_OUTDOOR,
        "hot_water_c": registers.C_HOT_WATER,
        "compressor": registers.C_COMPRESSOR,
    }
    if not settings.cache_path.is_file():
        return result
    with open_cache(settings) as cache:
        span = cache.time_range()
        if span is None:
            return result
        samples = list(cache.query(span[1], span[1] + 1, registers=Registers.of(wanted.values())))
    if not samples:
        return result
    sample = samples[-1]
    result["sample_time"] = _sec(sample.timestamp_ms)
    if result["age_sec"] is None:
        result["age_sec"] = round((now_ms - sample.timestamp_ms) / 1000)
    for key, index in wanted.items():
        sensor = catalogue.sensor("calc", index)
        calc = sample.calculations
        if sensor is None or index >= len(calc) or calc[index] == catalogue.NOT_AVAILABLE:
            result["values"][key] = None
        elif key == "mode":
            result["values"][key] = sensor.label(calc[index]) or str(calc[index])
        else:
            result["values"][key] = sensor.convert(calc[index])
    return result
