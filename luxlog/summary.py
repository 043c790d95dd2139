"""The month summary file (``YYYY-MM_summary.csv``) and the terminal table of ``stats``.

One row per finished local day of the month, in a CSV profile's dialect. The rows come
from :mod:`luxlog.dayfigures` (stored per finished day); the file goes into every output
folder through :mod:`luxlog.outputs`.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from luxlog import clock
from luxlog.counters import COLUMNS, PeriodStats
from luxlog.dayfigures import period_rows
from luxlog.outputs import WriteResult, write_file
from luxlog.periods import Calendar, next_month

if TYPE_CHECKING:
    from luxlog.cache import Cache
    from luxlog.config import Settings

log = logging.getLogger("luxlog.stats")


def summary_file_name(month: date) -> str:
    """``YYYY-MM_summary.csv``: sorts next to the daily CSVs of that month."""
    return f"{month:%Y-%m}_summary.csv"


def summary_csv(rows: Sequence[PeriodStats], profile_name: str) -> bytes:
    """The summary file's bytes in a CSV profile (delimiter, decimal, BOM, CRLF)."""
    from luxlog.csvout import BOM, ENCODING, LINE_END, PROFILES, format_value

    profile = PROFILES[profile_name]
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=profile.delimiter, lineterminator=LINE_END)
    writer.writerow(["date" if name == "period" else name for name in COLUMNS])
    for row in rows:
        cells: list[str] = []
        for value in row.row().values():
            if isinstance(value, str):
                cells.append(value)
            else:
                cells.append(format_value(value, profile.decimal))
        writer.writerow(cells)
    return ((BOM if profile.bom else "") + buffer.getvalue()).encode(ENCODING)


def month_rows(
    cache: Cache, settings: Settings, through: date, *, now_ms: int | None = None
) -> list[PeriodStats]:
    """Day rows of ``through``'s month up to ``through``, from the first cached day on."""
    calendar = Calendar.from_settings(settings)
    now = clock.now_ms() if now_ms is None else now_ms
    first = through.replace(day=1)
    span = cache.time_range()
    if span is None:
        return []
    first = max(first, calendar.local_date(span[0]))
    if first > through or calendar.local_date(span[1]) < first:
        return []  # nothing cached in this month: no file rather than a month of blanks
    periods = calendar.periods("day", first, through)

    return period_rows(cache, periods, calendar=calendar, settings=settings, now_ms=now)


def update_month_summary(
    settings: Settings,
    cache: Cache,
    day: date,
    *,
    now_ms: int | None = None,
    directories: Sequence[Path] | None = None,
) -> WriteResult:
    """Rewrite ``YYYY-MM_summary.csv`` of ``day``'s month with rows up to ``day``.

    Called by ``rollup due`` once per daily roll-up, for the calendar day that ended
    before that roll-up's boundary. The whole month is recomputed (one streamed pass,
    a few seconds for 31 days) rather than appended to: samples flushed late, or a
    fixed counter rule, then show up the next day instead of never.
    """
    rows = month_rows(cache, settings, day, now_ms=now_ms)
    if not rows:
        return WriteResult()
    name = summary_file_name(day)
    content = summary_csv(rows, settings.csv_profile)
    result = write_file(settings, name, content, directories=directories)
    if result.written:
        log.info(
            "updated %s (%d days) in %s",
            name,
            len(rows),
            ", ".join(str(p.parent) for p in result.written),
        )
    return result


def write_month_summaries(
    settings: Settings, first: date, last: date, *, now_ms: int | None = None
) -> list[WriteResult]:
    """``stats --write``: rewrite the month files of ``first..last`` (complete days only).

    Each month is recomputed whole, as :func:`update_month_summary` does, so a partial
    ``--from``/``--to`` range never leaves a month file with days missing.
    """
    from luxlog.cache import Cache

    calendar = Calendar.from_settings(settings)
    now = clock.now_ms() if now_ms is None else now_ms
    yesterday = calendar.local_date(now) - timedelta(days=1)
    results: list[WriteResult] = []
    with Cache.open(settings.cache_path, readonly=True) as cache:
        month = first.replace(day=1)
        while month <= min(last, yesterday):
            through = min(next_month(month) - timedelta(days=1), yesterday)
            results.append(update_month_summary(settings, cache, through, now_ms=now))
            month = next_month(month)
    return results


# -- the terminal table ----------------------------------------------------------------

#: What ``luxlog stats`` shows on a terminal (the CSV and ``--json`` have every column).
TABLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("period", "period"),
    ("hours", "h"),
    ("coverage_pct", "cov %"),
    ("outdoor_min_c", "out min"),
    ("outdoor_mean_c", "out mean"),
    ("outdoor_max_c", "out max"),
    ("compressor_starts", "starts"),
    ("minutes_per_start", "min/start"),
    ("compressor_hours", "comp h"),
    ("heat_heating_kwh", "heat heating kWh"),
    ("heat_hot_water_kwh", "heat hot water kWh"),
    ("electricity_kwh", "elec kWh"),
    ("electricity_source", "elec from"),
    ("cop", "COP"),
    ("cop_hours", "COP h"),
    ("evu_lock_hours", "EVU h"),
    ("defrosts", "defrosts"),
    ("degree_days", "Kd"),
    ("flags", "flags"),
)


# What fits an 80-column terminal: the figures owners ask for first. `stats --wide`
# (and tab-separated output in a pipe) shows every column of TABLE_COLUMNS.
NARROW_COLUMNS: tuple[tuple[str, str], ...] = (
    ("period", "period"),
    ("outdoor_mean_c", "out °C"),
    ("compressor_starts", "starts"),
    ("compressor_hours", "comp h"),
    ("heat_heating_kwh", "heat kWh"),
    ("heat_hot_water_kwh", "hw kWh"),
    ("electricity_kwh", "el kWh"),
    ("cop", "COP"),
    ("flags", "flags"),
)


def table_view(
    rows: Sequence[PeriodStats], *, wide: bool = True
) -> tuple[list[str], list[list[str]]]:
    """Headers and cell texts for the terminal table ('' for unknown values)."""
    columns = TABLE_COLUMNS if wide else NARROW_COLUMNS
    headers = [header for _, header in columns]
    cells: list[list[str]] = []
    for row in rows:
        line: list[str] = []
        for name, _ in columns:
            value = getattr(row, name)
            if isinstance(value, list):
                line.append(", ".join(value))
            elif value is None:
                line.append("")
            else:
                line.append(str(value))
        cells.append(line)
    return headers, cells
