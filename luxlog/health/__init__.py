"""Health: a report built from luxlog's files alone, and a verdict with reasons.

``status`` runs as Docker's HEALTHCHECK every few seconds, next to polls and flushes, so
building the report must not disturb them:

* it **never takes a lock** and never writes: the cache is opened read-only (WAL lets it
  read while a flush commits; SQLite may create the empty ``-wal``/``-shm`` companions
  any reader of a WAL database needs), spool files are only read;
* it is **fast** (< 1 s on a 365-day cache): the cache answers from its covering index
  (counts, time range, timestamps) without reading value blobs, the spool is scanned by
  line prefix (``{"v":1,"t":"...``) without parsing samples, at most ``SPOOL_SCAN_BYTES``
  of it, and the failed-poll notes are read from their end back to 24 hours ago;
* it **never fails on a new installation**: every part that does not exist yet is
  reported as such (``None`` / zero), and ``--check`` then says what is missing.

Verdict (``reasons``; healthy when empty), one line per reason:

1. the last successful poll is older than 3 x ``interval_sec`` (or there is none yet);
2. a volume luxlog writes is at or over ``disk_max_percent``;
3. the spool holds a sample older than ``FLUSH_OVERDUE_MS`` (no flush for over an hour);
4. a roll-up is overdue by more than ``ROLLUP_OVERDUE_MS`` after its boundary, or failed
   (within the roll-ups' catch-up window, so an old failure that will never be retried
   does not keep the container unhealthy forever);
5. the cache fails SQLite's quick check or cannot be opened;
6. a sample is dated more than ``FUTURE_TOLERANCE_MS`` ahead of the clock (a clock is
   wrong). Such a sample never counts as the last poll, so a dead heat pump with one
   future-dated sample still shows as silent, and no age is ever negative.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace

from luxlog.backup import summary as backup_summary
from luxlog.config import Settings
from luxlog.disk import Probe, volumes
from luxlog.failures import failures_path, recent_failures
from luxlog.health.gather import _read_cache, longest_gap, rollup_health
from luxlog.health.report import (
    COVERAGE_DAYS,
    FLUSH_OVERDUE_MS,
    GAP_WINDOW_MS,
    JSON_VERSION,
    ROLLUP_OVERDUE_MS,
    STALE_POLLS,
    CacheHealth,
    Gap,
    HealthReport,
    HeatPumpHealth,
    RollupDay,
    RollupHealth,
    RollupKindHealth,
    SpoolHealth,
)
from luxlog.health.spoolscan import _quarantined_lines, _scan_spool
from luxlog.health.verdict import verdict
from luxlog.spool import FUTURE_TOLERANCE_MS, BadLine, Spool, decode_line

__all__ = [
    "COVERAGE_DAYS",
    "FLUSH_OVERDUE_MS",
    "GAP_WINDOW_MS",
    "JSON_VERSION",
    "ROLLUP_OVERDUE_MS",
    "SPOOL_SCAN_BYTES",
    "STALE_POLLS",
    "CacheHealth",
    "Gap",
    "HealthReport",
    "HeatPumpHealth",
    "RollupDay",
    "RollupHealth",
    "RollupKindHealth",
    "SpoolHealth",
    "build_report",
    "longest_gap",
    "rollup_health",
    "verdict",
]

# Budget for reading spool files: 64 MiB is ~2 days of 30-s samples. A bigger backlog
# (no flush for days) is estimated from its size, and already flagged by reason 3.
SPOOL_SCAN_BYTES = 64 * 1024 * 1024


def build_report(settings: Settings, *, now_ms: int, probe: Probe | None = None) -> HealthReport:
    """Read every file status reports on (never writing, never locking) and judge them."""
    since = now_ms - GAP_WINDOW_MS
    spool = Spool(settings.spool_dir)
    scan = _scan_spool(spool, since, now_ms + FUTURE_TOLERANCE_MS, budget=SPOOL_SCAN_BYTES)
    cached = _read_cache(settings, now_ms, since, scan.newest_ms)
    failures, last_failure, last_error = recent_failures(failures_path(settings), since)
    quarantined, quarantine_reason = _quarantined_lines(spool)

    newest = [t for t in (scan.newest_ms, cached.newest_ms) if t is not None]
    future = [t for t in (scan.future_ms, cached.future_ms) if t is not None]
    oldest = [t for t in (scan.oldest_ms, cached.health.oldest_ms) if t is not None]
    calculations = cached.newest_calculations
    host = cached.newest_host
    if calculations is None and scan.newest_line is not None:
        with contextlib.suppress(BadLine):
            sample = decode_line(scan.newest_line)
            calculations, host = sample.calculations, sample.host
    firmware = None
    if calculations is not None:
        from luxlog.heatpump.catalogue import firmware as firmware_of

        firmware = firmware_of(calculations)
    gap = None
    if oldest:
        gap = longest_gap(
            [*cached.stamps, *scan.stamps], start_ms=max(since, min(oldest)), end_ms=now_ms
        )
    report = HealthReport(
        now_ms=now_ms,
        interval_sec=settings.interval_sec,
        disk_max_percent=settings.disk_max_percent,
        heatpump=HeatPumpHealth(
            address=settings.address if settings.host else host,
            last_poll_ms=max(newest, default=None),
            failed_polls_24h=failures,
            last_failure_ms=last_failure,
            last_failure_error=last_error,
            longest_gap=gap,
            firmware=firmware,
            future_sample_ms=max(future, default=None),
        ),
        spool=SpoolHealth(
            path=spool.directory,
            pending_samples=scan.pending,
            pending_exact=scan.exact,
            size_bytes=scan.size_bytes,
            segments=scan.segments,
            oldest_pending_ms=scan.oldest_ms,
            quarantined_lines=quarantined,
            quarantine_newest_reason=quarantine_reason,
        ),
        cache=cached.health,
        rollups=replace(
            rollup_health(
                settings,
                now_ms=now_ms,
                # Unreadable bookkeeping: which roll-ups are done is unknown, so none
                # is called overdue; the error itself is the reason.
                first_ms=None if cached.rollups_error else cached.first_ms,
                records=cached.records,
                last_run_ms=cached.last_run_ms,
            ),
            error=cached.rollups_error,
        ),
        disks=tuple(volumes(settings, ("spool", "cache", "csv"), probe=probe)),
        backups=backup_summary(settings),
    )
    return replace(report, reasons=tuple(verdict(report)))
