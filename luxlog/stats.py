"""Statistics per local day, week, month and heating season: the public face.

:func:`compute` reads the rows a command or page asks for; the pieces live one concern per
module and are re-exported here for callers that want one name:

* :mod:`luxlog.periods` - days, weeks, months, seasons as UTC intervals;
* :mod:`luxlog.counters` - the counters, the row's columns, one period's running sums;
* :mod:`luxlog.summariser` - samples to rows (the counter rules are described there);
* :mod:`luxlog.dayfigures` - finished days' rows, stored and reused;
* :mod:`luxlog.summary` - the month summary file and the terminal table.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING

from luxlog import clock
from luxlog.counters import (
    BRIDGE_MS,
    COLUMNS,
    COUNTERS,
    GAP_INTERVALS,
    MODE_DEFROST,
    MODE_EVU,
    MODE_HEATING,
    MODE_HOT_WATER,
    CounterSpec,
    Number,
    PeriodStats,
    registers_read,
    unit_scale,
)
from luxlog.errors import NoData
from luxlog.periods import HOUR_MS, PERIOD_KINDS, Calendar, Period, PeriodKind, default_range
from luxlog.summariser import Summariser, summarise, summarise_cache
from luxlog.summary import (
    NARROW_COLUMNS,
    TABLE_COLUMNS,
    month_rows,
    summary_csv,
    summary_file_name,
    table_view,
    update_month_summary,
    write_month_summaries,
)

if TYPE_CHECKING:
    from luxlog.config import Settings

__all__ = [
    "BRIDGE_MS",
    "COLUMNS",
    "COUNTERS",
    "GAP_INTERVALS",
    "HOUR_MS",
    "MODE_DEFROST",
    "MODE_EVU",
    "MODE_HEATING",
    "MODE_HOT_WATER",
    "NARROW_COLUMNS",
    "PERIOD_KINDS",
    "TABLE_COLUMNS",
    "Calendar",
    "CounterSpec",
    "Number",
    "Period",
    "PeriodKind",
    "PeriodStats",
    "Summariser",
    "compute",
    "default_range",
    "month_rows",
    "registers_read",
    "summarise",
    "summarise_cache",
    "summary_csv",
    "summary_file_name",
    "table_view",
    "unit_scale",
    "update_month_summary",
    "write_month_summaries",
]


def compute(
    settings: Settings,
    *,
    kind: PeriodKind = "day",
    first: date | None = None,
    last: date | None = None,
    now_ms: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[PeriodStats]:
    """Rows of ``kind`` for the days ``first..last`` (whole periods), read from the cache."""
    from luxlog.cache import Cache

    calendar = Calendar.from_settings(settings)
    now = clock.now_ms() if now_ms is None else now_ms
    first, last = default_range(kind, calendar, calendar.local_date(now), first, last)
    periods = [p for p in calendar.periods(kind, first, last) if p.start_ms < now]
    if not periods:
        return []
    if not settings.cache_path.exists():
        raise NoData(
            f"no data yet: the cache {settings.cache_path} is created by the first flush "
            "(every 5 minutes when scheduled; or run `luxlog flush`)"
        )
    from luxlog.dayfigures import period_rows  # days stored by `rollup due`

    with Cache.open(settings.cache_path, readonly=True) as cache:
        return period_rows(
            cache, periods, calendar=calendar, settings=settings, now_ms=now, progress=progress
        )
