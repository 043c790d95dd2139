"""Gathering health facts from the cache and the roll-ups' bookkeeping, read-only.

The cache is opened read-only with a short timeout (WAL lets it read while a flush
commits); an unreadable part becomes a reported fact, never a crash.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING

from luxlog.config import Settings
from luxlog.errors import LuxlogError
from luxlog.health.report import (
    COVERAGE_DAYS,
    DAY_MS,
    ROLLUP_OVERDUE_MS,
    CacheHealth,
    Gap,
    RollupDay,
    RollupHealth,
    RollupKindHealth,
)
from luxlog.spool import FUTURE_TOLERANCE_MS

if TYPE_CHECKING:
    from luxlog.cache import Cache
    from luxlog.products import Record

_CACHE_TIMEOUT_SEC = 2.0  # readers never wait for WAL writers; this is for a checkpoint


# -- gaps ------------------------------------------------------------------------------


def longest_gap(stamps: Iterable[int], *, start_ms: int, end_ms: int) -> Gap | None:
    """The longest stretch of ``[start_ms, end_ms]`` without a sample, edges included.

    The stretch from the window start to the first sample counts, and so does the one
    from the last sample to ``end_ms`` (now): a heat pump that stopped answering shows
    as a gap that grows. Samples outside the window are ignored. Pure.
    """
    if end_ms <= start_ms:
        return None
    best = Gap(start_ms, start_ms)
    previous = start_ms
    for stamp in sorted(set(stamps)):
        if stamp < start_ms or stamp > end_ms:
            continue
        if stamp - previous > best.end_ms - best.start_ms:
            best = Gap(previous, stamp)
        previous = stamp
    if end_ms - previous > best.end_ms - best.start_ms:
        best = Gap(previous, end_ms)
    return best


# -- the cache and roll-ups ------------------------------------------------------------


@dataclass
class _CacheRead:
    health: CacheHealth
    stamps: list[int] = field(default_factory=list)
    newest_calculations: tuple[int, ...] | None = None
    newest_host: str | None = None
    newest_ms: int | None = None  # not ahead of the clock
    future_ms: int | None = None  # the newest time, when ahead of the clock
    first_ms: int | None = None
    records: dict[str, dict[date, Record]] = field(default_factory=dict)
    last_run_ms: int | None = None
    rollups_error: str | None = None


def rollup_health(
    settings: Settings,
    *,
    now_ms: int,
    first_ms: int | None,
    records: Mapping[str, Mapping[date, Record]],
    last_run_ms: int | None,
) -> RollupHealth:
    """Roll-up facts from the bookkeeping ``luxlog.products`` keeps (pure).

    A window is overdue when its boundary passed more than ``ROLLUP_OVERDUE_MS`` ago and
    it is neither written nor recorded empty; only windows ``rollup due`` would still
    write count (after the first cached sample, within its catch-up period), so an
    installation without data or an old failure nobody retries never counts.
    """
    from luxlog import products as rollups
    from luxlog.windows import KINDS

    schedule = rollups.schedule_for(settings)
    lookback = rollups.lookback_days(settings)
    first_day = schedule.day_of(now_ms - lookback * DAY_MS)
    empty: dict[date, Record] = {}
    done = {
        (kind, day) for kind in KINDS for day, rec in records.get(kind, empty).items() if rec.done
    }
    due_now = schedule.pending(now_ms=now_ms, first_ms=first_ms, lookback_days=lookback, done=done)
    kinds = []
    for kind in KINDS:
        mine = records.get(kind, empty)
        written = [day for day, rec in mine.items() if rec.status == "written"]
        last_written = max(written, default=None)
        failed = sorted(
            (
                (day, rec.error, rec.at_ms)
                for day, rec in mine.items()
                if rec.status == "failed" and day >= first_day
            ),
            reverse=True,
        )
        failed_days = {day for day, _, _ in failed}
        waiting = [w for w in due_now if w.kind == kind]
        overdue = tuple(
            (w.day, w.end_ms)
            for w in waiting
            if w.end_ms + ROLLUP_OVERDUE_MS < now_ms and w.day not in failed_days
        )
        if waiting:
            next_due = waiting[0].end_ms  # due already (not yet written)
        else:
            day = schedule.day_of(now_ms)
            if kind == "weekly":
                day += timedelta(days=(schedule.weekly_day - day.weekday()) % 7)
            next_due = schedule.boundary_ms(day)
        kinds.append(
            RollupKindHealth(
                kind=kind,
                last_written=last_written,
                last_written_at_ms=mine[last_written].at_ms if last_written else None,
                next_due_ms=next_due,
                overdue=overdue,
                failed=tuple(failed),
            )
        )
    products = []
    for product in ("summary", "report"):  # made after each daily CSV: due when it is
        mine = records.get(product, empty)
        if mine:
            written = [day for day, rec in mine.items() if rec.status == "written"]
            last = max(written, default=None)
            failed = [(d, r.error, r.at_ms) for d, r in mine.items() if r.status == "failed"]
            products.append(
                RollupKindHealth(
                    kind=product,
                    last_written=last,
                    last_written_at_ms=mine[last].at_ms if last else None,
                    next_due_ms=kinds[0].next_due_ms,
                    overdue=(),
                    failed=tuple(sorted((f for f in failed if f[0] >= first_day), reverse=True)),
                )
            )
    latest = schedule.latest_day(now_ms)
    coverage = []
    for back in range(COVERAGE_DAYS):
        day = latest - timedelta(days=back)
        record = records.get("daily", empty).get(day)
        coverage.append(
            RollupDay(
                day,
                record.status if record else None,
                record.coverage if record and record.status != "failed" else None,
                record.partial if record else False,
            )
        )
    return RollupHealth(
        last_run_ms=last_run_ms,
        kinds=tuple(kinds),
        coverage=tuple(coverage),
        products=tuple(products),
    )


def _newest_until(cache: Cache, limit_ms: int, oldest_ms: int) -> int | None:
    """The newest sample time not after ``limit_ms``, looking back week by week.

    Only used when the cache holds a sample from the future (a wrong clock, or a cache
    from before the spool checked times); eight weeks back bound the work.
    """
    end = limit_ms + 1
    for _ in range(8):
        start = end - 7 * DAY_MS
        stamps = cache.timestamps(start, end)
        if stamps:
            return stamps[-1]
        if start <= oldest_ms:
            break
        end = start
    return None


def _read_cache(
    settings: Settings, now_ms: int, since_ms: int, newer_than: int | None
) -> _CacheRead:
    """Everything status needs from the cache, in one read-only connection."""
    path = settings.cache_path
    if not path.is_file():
        return _CacheRead(CacheHealth(path, exists=False))
    from luxlog import products as rollups
    from luxlog.bookkeeping import load_day_records
    from luxlog.cache import Cache

    try:
        with Cache.open(path, readonly=True, busy_timeout_sec=_CACHE_TIMEOUT_SEC) as cache:
            stats = cache.stats()
            span = cache.time_range()
            version = cache.schema_version()
            problems = tuple(cache.integrity_check(quick=True))
            health = CacheHealth(
                path,
                exists=True,
                size_bytes=stats.size_bytes,
                samples=stats.samples,
                oldest_ms=span[0] if span else None,
                newest_ms=span[1] if span else None,
                schema_version=version,
                integrity_problems=problems,
            )
            read = _CacheRead(health, stamps=cache.timestamps(since_ms, now_ms + 1))
            limit = now_ms + FUTURE_TOLERANCE_MS
            if span is not None and span[1] > limit:
                read.future_ms = span[1]
                valid = _newest_until(cache, limit, span[0])
                span = None if valid is None else (span[0], valid)
            read.newest_ms = span[1] if span else None
            if span is not None and (newer_than is None or span[1] > newer_than):
                newest = next(iter(cache.query(span[1], span[1] + 1)), None)
                if newest is not None:
                    read.newest_calculations = newest.calculations
                    read.newest_host = newest.host
            read.first_ms = span[0] if span else None
            try:
                read.records = {str(k): v for k, v in rollups.load_records(cache).items()}
                read.records.update(load_day_records(cache))
                last = rollups.last_due(cache)
                at = last.get("at_ms") if last else None
                read.last_run_ms = at if isinstance(at, int) else None
            except LuxlogError as exc:
                read.rollups_error = str(exc)
            return read
    except LuxlogError as exc:
        size = 0
        with contextlib.suppress(OSError):
            size = path.stat().st_size
        return _CacheRead(CacheHealth(path, exists=True, size_bytes=size, error=str(exc)))
