"""The health report's shape: what ``status`` found, and its JSON for machines.

Plain dataclasses and their JSON (``JSON_VERSION``); gathering them from the files is
:mod:`luxlog.health.gather`, judging them :mod:`luxlog.health.verdict`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from luxlog.disk import Volume
from luxlog.spool import format_timestamp

JSON_VERSION = 1
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
STALE_POLLS = 3  # intervals without a sample before the heat pump counts as silent
FLUSH_OVERDUE_MS = HOUR_MS
ROLLUP_OVERDUE_MS = HOUR_MS
GAP_WINDOW_MS = DAY_MS
COVERAGE_DAYS = 7


def _iso(at_ms: int | None) -> str | None:
    return None if at_ms is None else format_timestamp(at_ms)


def _age(now_ms: int, at_ms: int | None) -> float | None:
    # Never negative: a time ahead of the clock is reported as a reason of its own.
    return None if at_ms is None else max(round((now_ms - at_ms) / 1000, 3), 0.0)


# -- the report ------------------------------------------------------------------------


@dataclass(frozen=True)
class Gap:
    """The longest stretch without a sample in a window (edges included)."""

    start_ms: int
    end_ms: int

    @property
    def seconds(self) -> float:
        """Length of the gap."""
        return (self.end_ms - self.start_ms) / 1000


@dataclass(frozen=True)
class HeatPumpHealth:
    """What the samples and failure notes say about the heat pump."""

    address: str | None
    last_poll_ms: int | None
    failed_polls_24h: int
    last_failure_ms: int | None
    last_failure_error: str | None
    longest_gap: Gap | None
    firmware: str | None
    future_sample_ms: int | None = None  # newest sample dated ahead of the clock, if any


@dataclass(frozen=True)
class SpoolHealth:
    """Samples waiting for a flush, and lines set aside."""

    path: Path
    pending_samples: int
    pending_exact: bool  # False when the backlog was too big to read and was estimated
    size_bytes: int
    segments: int
    oldest_pending_ms: int | None
    quarantined_lines: int
    quarantine_newest_reason: str | None = None  # of the newest quarantined line


@dataclass(frozen=True)
class CacheHealth:
    """The SQLite cache, read-only."""

    path: Path
    exists: bool
    size_bytes: int = 0
    samples: int = 0
    oldest_ms: int | None = None
    newest_ms: int | None = None
    schema_version: int | None = None
    integrity_problems: tuple[str, ...] = ()
    error: str | None = None  # could not be opened or read

    @property
    def bytes_per_poll(self) -> float | None:
        """File size per sample held: the storage cost of one poll."""
        return round(self.size_bytes / self.samples, 1) if self.samples else None

    @property
    def integrity(self) -> str:
        """``ok``, ``failed``, ``unreadable`` or ``no cache``."""
        if not self.exists:
            return "no cache"
        if self.error is not None:
            return "unreadable"
        return "failed" if self.integrity_problems else "ok"


@dataclass(frozen=True)
class RollupDay:
    """One daily window's record: how much of it the CSV covers."""

    day: date
    status: str | None  # written / empty / failed, None: no record
    coverage: float | None
    partial: bool = False  # written, but below rollups.COMPLETE_COVERAGE of its samples


@dataclass(frozen=True)
class RollupKindHealth:
    """Daily or weekly roll-ups."""

    kind: str
    last_written: date | None
    last_written_at_ms: int | None
    next_due_ms: int
    overdue: tuple[tuple[date, int], ...]  # (window end date, boundary ms), oldest first
    failed: tuple[tuple[date, str, int], ...]  # (date, error, when ms), newest first

    def file_name(self, day: date) -> str:
        """The CSV name for ``day`` (``YYYY-MM-DD_daily.csv``), or a day product's file."""
        if self.kind not in ("daily", "weekly"):
            from luxlog.dayproducts import file_name

            return file_name(self.kind, day)
        return f"{day.isoformat()}_{self.kind}.csv"


@dataclass(frozen=True)
class RollupHealth:
    """Roll-up bookkeeping from the cache's state table."""

    last_run_ms: int | None
    kinds: tuple[RollupKindHealth, ...] = ()
    coverage: tuple[RollupDay, ...] = ()  # newest first
    error: str | None = None  # bookkeeping could not be read
    products: tuple[RollupKindHealth, ...] = ()  # month summary, day report (once recorded)


@dataclass(frozen=True)
class HealthReport:
    """Everything ``status`` shows; built by :func:`build_report`, changed by nothing."""

    now_ms: int
    interval_sec: int
    disk_max_percent: int
    heatpump: HeatPumpHealth
    spool: SpoolHealth
    cache: CacheHealth
    rollups: RollupHealth
    disks: tuple[Volume, ...]
    reasons: tuple[str, ...] = field(default=())
    backups: dict[str, Any] = field(default_factory=dict)  # ``backup.summary``

    @property
    def healthy(self) -> bool:
        """No reason to complain."""
        return not self.reasons

    @property
    def empty(self) -> bool:
        """A new installation: no sample anywhere, nothing pending, no failure noted."""
        return (
            self.heatpump.last_poll_ms is None
            and self.heatpump.failed_polls_24h == 0
            and not self.cache.exists
        )

    def to_json(self) -> dict[str, Any]:
        """The documented ``status --json`` shape (README, "Health and status")."""
        now = self.now_ms
        pump = self.heatpump
        gap = pump.longest_gap
        cache = self.cache
        spool = self.spool
        return {
            "version": JSON_VERSION,
            "generated": _iso(now),
            "healthy": self.healthy,
            "empty": self.empty,
            "reasons": list(self.reasons),
            "heatpump": {
                "address": pump.address,
                "last_poll": _iso(pump.last_poll_ms),
                "last_poll_age_sec": _age(now, pump.last_poll_ms),
                "stale_after_sec": STALE_POLLS * self.interval_sec,
                "failed_polls_24h": pump.failed_polls_24h,
                "last_failure": None
                if pump.last_failure_ms is None
                else {"at": _iso(pump.last_failure_ms), "error": pump.last_failure_error},
                "longest_gap_24h": None
                if gap is None
                else {
                    "seconds": gap.seconds,
                    "start": _iso(gap.start_ms),
                    "end": _iso(gap.end_ms),
                },
                "firmware": pump.firmware,
                "future_sample": _iso(pump.future_sample_ms),
            },
            "spool": {
                "path": str(spool.path),
                "pending_samples": spool.pending_samples,
                "pending_exact": spool.pending_exact,
                "bytes": spool.size_bytes,
                "segments": spool.segments,
                "oldest_pending": _iso(spool.oldest_pending_ms),
                "oldest_pending_age_sec": _age(now, spool.oldest_pending_ms),
                "quarantined_lines": spool.quarantined_lines,
                "quarantine_newest_reason": spool.quarantine_newest_reason,
            },
            "cache": {
                "path": str(cache.path),
                "exists": cache.exists,
                "size_bytes": cache.size_bytes,
                "samples": cache.samples,
                "oldest": _iso(cache.oldest_ms),
                "newest": _iso(cache.newest_ms),
                "bytes_per_poll": cache.bytes_per_poll,
                "schema_version": cache.schema_version,
                "integrity": cache.integrity,
                "problems": list(cache.integrity_problems) + ([cache.error] if cache.error else []),
            },
            "rollups": {
                "last_run": _iso(self.rollups.last_run_ms),
                "error": self.rollups.error,
                **{
                    kind.kind: {
                        "last_written": kind.last_written.isoformat()
                        if kind.last_written
                        else None,
                        "last_file": kind.file_name(kind.last_written)
                        if kind.last_written
                        else None,
                        "written_at": _iso(kind.last_written_at_ms),
                        "next_due": _iso(kind.next_due_ms),
                        "overdue": [
                            {"file": kind.file_name(day), "due": _iso(due)}
                            for day, due in kind.overdue
                        ],
                        "failed": [
                            {"file": kind.file_name(day), "error": error, "at": _iso(at)}
                            for day, error, at in kind.failed
                        ],
                    }
                    for kind in (*self.rollups.kinds, *self.rollups.products)
                },
                "coverage": [
                    {
                        "day": item.day.isoformat(),
                        "status": item.status,
                        "percent": None if item.coverage is None else round(item.coverage * 100, 1),
                        "partial": item.partial,
                    }
                    for item in self.rollups.coverage
                ],
            },
            "backups": self.backups,
            "disks": [
                {
                    "volume": volume.usage.volume,
                    "percent": round(volume.usage.percent, 1),
                    "threshold_percent": volume.threshold_percent,
                    "over": volume.over,
                    "total_bytes": volume.usage.total_bytes,
                    "used_bytes": volume.usage.used_bytes,
                    "free_bytes": volume.usage.free_bytes,
                    "holds": [{"purpose": p, "path": str(path)} for p, path in volume.holds],
                }
                for volume in self.disks
            ],
        }
