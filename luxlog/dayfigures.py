"""Day figures computed once per finished day and reused, until that day's data changes.

Why: the month summary is rewritten after every daily roll-up, and ``stats`` over a
year would otherwise re-read and re-summarise every sample of every day each time. A
finished day's row (:class:`~luxlog.counters.PeriodStats`) and its sums (a partial,
from which weeks, months and seasons are added up: :mod:`luxlog.daysums`) are stored in
the cache's ``state`` table next to a *fingerprint* of what they were computed from:

* how many samples lie in the day's window widened by :data:`~luxlog.counters.BRIDGE_MS`
  on both sides (steps across midnight and gaps at either end depend on neighbours),
  and the newest of them: a late flush or a prune changes one or the other;
* the settings the figures depend on (interval, time zone, season months) and
  :data:`FIGURES_VERSION`, bumped whenever the statistics' rules change.

A stored row whose fingerprint no longer matches is recomputed, so storage can only
save time, never serve figures that the current data and rules would not give. A day
is stored only once ``now`` is past its widened window: before that, its closing gap
still depends on the clock. The fingerprint reads the chunk index and timestamp blobs
only, never the values, so checking a year of days costs milliseconds per day.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from luxlog.counters import BRIDGE_MS, PeriodStats
from luxlog.daysums import Partial, compose, days_of
from luxlog.periods import Calendar, Period
from luxlog.summariser import cache_samples, day_figures

if TYPE_CHECKING:
    from luxlog.cache import Cache
    from luxlog.config import Settings

log = logging.getLogger("luxlog.dayfigures")

#: Bump when a rule in ``luxlog.stats`` or ``luxlog.energy`` changes a day's figures.
#: 2: the day's sums (partial) are stored with its row.
FIGURES_VERSION = 2
_KEY_PREFIX = "figures:day:"


def _key(period: Period) -> str:
    return f"{_KEY_PREFIX}{period.label}"


def fingerprint(cache: Cache, period: Period, settings: Settings) -> str:
    """What a day's figures depend on, as one comparable string."""
    start, end = period.start_ms - BRIDGE_MS, period.end_ms + BRIDGE_MS
    stamps = cache.timestamps(start, end)
    return json.dumps(
        [
            FIGURES_VERSION,
            settings.interval_sec,
            settings.timezone,
            settings.season_start_month,
            settings.season_end_month,
            len(stamps),
            stamps[-1] if stamps else None,
        ],
        separators=(",", ":"),
    )


def forget_before(cache: Cache, before_ms: int) -> int:
    """Drop the stored figures of days that ended before ``before_ms`` (their samples
    were pruned); how many. Kept otherwise, they would pile up for as long as luxlog
    runs. A day is forgotten only once its UTC date is two days before the cut, so no
    time zone keeps figures of a day that still has samples out of reach."""
    cut = datetime.fromtimestamp(before_ms / 1000, tz=UTC).date() - timedelta(days=2)
    return cache.forget_state(_KEY_PREFIX, cut.isoformat())


def _encode(row: PeriodStats, partial: Partial, mark: str) -> str:
    return json.dumps(
        {"fingerprint": mark, "row": asdict(row), "sums": partial}, separators=(",", ":")
    )


def _decode(text: str | None, mark: str) -> tuple[PeriodStats, Partial] | None:
    """The stored row and sums if computed from what ``mark`` describes, else None."""
    if text is None:
        return None
    try:
        data: dict[str, Any] = json.loads(text)
        if data.get("fingerprint") != mark:
            return None
        fields = dict(data["row"])
        fields["gap_spans"] = [tuple(span) for span in fields.get("gap_spans", [])]
        partial = data["sums"]
        if not isinstance(partial, dict):
            return None
        return PeriodStats(**fields), partial
    except (ValueError, TypeError, KeyError):
        return None  # written by another version, or damaged: recompute


def _figures(
    cache: Cache,
    days: Sequence[Period],
    *,
    calendar: Calendar,
    settings: Settings,
    now_ms: int,
    store: bool,
    progress: Callable[[int, int], None] | None,
) -> list[tuple[PeriodStats, Partial]]:
    """Each day's row and sums: stored ones reused, the rest computed.

    Days to compute are summarised in contiguous runs (one streamed pass each); the
    finished ones are stored when ``store`` is true: in ``cache`` if it is writable,
    else by :func:`_store_aside`. ``progress`` is called per run with (samples done,
    samples in the run).
    """
    figures: list[tuple[PeriodStats, Partial] | None] = []
    marks: list[str] = []
    for period in days:
        mark = fingerprint(cache, period, settings)
        marks.append(mark)
        figures.append(_decode(cache.get_state(_key(period)), mark))
    reused = sum(1 for found in figures if found is not None)
    finished: list[tuple[str, str]] = []  # computed figures of finished days, to store
    index = 0
    while index < len(days):
        if figures[index] is not None:
            index += 1
            continue
        end = index
        while end < len(days) and figures[end] is None:
            end += 1
        run = days[index:end]
        computed = day_figures(
            cache_samples(cache, run, now_ms=now_ms, progress=progress),
            run,
            calendar=calendar,
            interval_sec=settings.interval_sec,
            now_ms=now_ms,
        )
        for offset, (row, partial) in enumerate(computed):
            figures[index + offset] = (row, partial)
            period = days[index + offset]
            if store and now_ms >= period.end_ms + BRIDGE_MS:
                finished.append((_key(period), _encode(row, partial, marks[index + offset])))
        index = end
    log.debug("day figures: %d day(s), %d reused from the cache", len(days), reused)
    if finished and not cache.readonly:
        with cache.atomic():  # one commit for all, not one per day
            for key, value in finished:
                cache.set_state(key, value)
    elif finished:
        _store_aside(settings, finished)
    return [found for found in figures if found is not None]


def _store_aside(settings: Settings, entries: list[tuple[str, str]]) -> None:
    """Store figures computed over a read-only cache, if the cache can be written now.

    Why: ``stats`` reads the cache without its lock, so that it never holds up a flush;
    without this, the days it computed after an import or an upgrade would be computed
    again on every run until ``rollup due`` happened to store them (it stores only the
    days of the current month). Never waits for the lock and never fails the command:
    figures are a saving, not data.
    """
    import sqlite3

    from luxlog.cache import Cache
    from luxlog.errors import LuxlogError
    from luxlog.flush import check_before_writing
    from luxlog.locks import cache_lock_path, hold

    try:
        with (
            hold(cache_lock_path(settings.data_dir), timeout=0.0, what="the cache"),
            Cache.open(settings.cache_path, busy_timeout_sec=1) as cache,
        ):
            check_before_writing(cache)  # write nothing into a damaged file
            with cache.atomic():
                for key, value in entries:
                    cache.set_state(key, value)
    except (LuxlogError, OSError, sqlite3.Error) as exc:
        log.debug("day figures not stored (%s): computed again next time", exc)
        return
    log.debug("day figures: stored %d day(s) computed over a read-only cache", len(entries))


def period_rows(
    cache: Cache,
    periods: Sequence[Period],
    *,
    calendar: Calendar,
    settings: Settings,
    now_ms: int,
    store: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> list[PeriodStats]:
    """Rows for ``periods`` (in order, one kind): days from their stored figures, weeks,
    months and seasons added up from their days' stored sums. Days not stored yet are
    computed, and stored when finished and ``store`` is true and the cache writable."""
    days = periods if periods and periods[0].kind == "day" else days_of(periods, calendar)
    figures = _figures(
        cache,
        days,
        calendar=calendar,
        settings=settings,
        now_ms=now_ms,
        store=store,
        progress=progress,
    )
    if days is periods:
        return [row for row, _ in figures]
    partials = [partial for _, partial in figures]
    return compose(
        periods, partials, calendar=calendar, interval_sec=settings.interval_sec, now_ms=now_ms
    )
