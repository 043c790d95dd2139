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
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from luxlog.backup import summary as backup_summary
from luxlog.config import Settings
from luxlog.disk import Probe, Volume, volumes
from luxlog.errors import LuxlogError
from luxlog.poll import failures_path
from luxlog.render import format_duration
from luxlog.spool import (
    FUTURE_TOLERANCE_MS,
    BadLine,
    Spool,
    decode_line,
    format_timestamp,
    parse_timestamp,
)

if TYPE_CHECKING:
    from luxlog.cache import Cache
    from luxlog.products import Record

JSON_VERSION = 1
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
STALE_POLLS = 3  # intervals without a sample before the heat pump counts as silent
FLUSH_OVERDUE_MS = HOUR_MS
ROLLUP_OVERDUE_MS = HOUR_MS
GAP_WINDOW_MS = DAY_MS
COVERAGE_DAYS = 7
# Budget for reading spool files: 64 MiB is ~2 days of 30-s samples. A bigger backlog
# (no flush for days) is estimated from its size, and already flagged by reason 3.
SPOOL_SCAN_BYTES = 64 * 1024 * 1024
_TAIL_BLOCK = 64 * 1024
_QUARANTINE_TAIL_BYTES = 4 * 1024 * 1024
_CACHE_TIMEOUT_SEC = 2.0  # readers never wait for WAL writers; this is for a checkpoint

# Spool lines start like this (encode_line writes "v" then "t"): enough for a timestamp.
_LINE_TIME = re.compile(rb'\{"v":1,"t":"([^"]{10,40})"')


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


# -- the spool -------------------------------------------------------------------------


@dataclass
class _SpoolScan:
    """What scanning the spool files found (timestamps only inside the gap window)."""

    pending: int = 0
    exact: bool = True
    size_bytes: int = 0
    segments: int = 0
    oldest_ms: int | None = None
    newest_ms: int | None = None  # not after ``limit_ms``
    newest_line: bytes | None = None
    future_ms: int | None = None  # the newest time after ``limit_ms``
    limit_ms: int | None = None  # later than this is ahead of the clock
    stamps: list[int] = field(default_factory=list)


def _time_in(match: re.Match[bytes] | None) -> int | None:
    """The epoch ms of a matched ``"t":"..."`` value; None for torn or foreign text."""
    if match is None:
        return None
    try:
        return parse_timestamp(match[1].decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        return None


def _stamp(data: bytes, start: int = 0) -> int | None:
    """The ``t`` of a spool line starting at ``start``; None for torn or foreign lines."""
    return _time_in(_LINE_TIME.match(data, start, start + 80))


def _read_tail(path: Path, size: int, limit: int) -> tuple[bytes, bool]:
    """The last ``limit`` bytes of ``path`` from a line start, and whether that is all."""
    with path.open("rb") as handle:
        if size <= limit:
            return handle.read(), True
        handle.seek(size - limit)
        data = handle.read()
    return data[data.find(b"\n") + 1 :], False


def _first_stamp(path: Path) -> int | None:
    """Timestamp of the first complete sample line of a spool file."""
    with path.open("rb") as handle:
        head = handle.read(_TAIL_BLOCK)
    start = 0
    while (end := head.find(b"\n", start)) >= 0:
        found = _stamp(head, start)
        if found is not None:
            return found
        start = end + 1
    return None


def _scan_file(scan: _SpoolScan, data: bytes, since_ms: int) -> int:
    """Add one file's lines to ``scan``; return how many sample lines it holds.

    Walks line starts with ``bytes.find`` and matches only each line's first bytes, so a
    10 kB sample costs one short regex match, not a JSON parse.
    """
    count = 0
    start = 0
    while (end := data.find(b"\n", start)) >= 0:  # no newline after: torn, not counted
        stamp = _stamp(data, start)
        if stamp is not None:
            count += 1
            if stamp >= since_ms:
                scan.stamps.append(stamp)
            if scan.limit_ms is not None and stamp > scan.limit_ms:
                scan.future_ms = max(stamp, scan.future_ms or stamp)
            elif scan.newest_ms is None or stamp > scan.newest_ms:
                scan.newest_ms = stamp
                scan.newest_line = data[start:end]
        start = end + 1
    return count


def _scan_spool(spool: Spool, since_ms: int, limit_ms: int | None = None) -> _SpoolScan:
    """Pending samples, their age and the timestamps since ``since_ms``, newest file first.

    Samples after ``limit_ms`` (ahead of the clock) are counted but never the newest.
    """
    scan = _SpoolScan(limit_ms=limit_ms)
    sizes: list[tuple[Path, int]] = []
    for path in [*spool.segments(), spool.current]:
        try:
            size = path.stat().st_size
        except OSError:
            continue
        if size:
            sizes.append((path, size))
    scan.segments = sum(1 for path, _ in sizes if path != spool.current)
    scan.size_bytes = sum(size for _, size in sizes)
    budget = SPOOL_SCAN_BYTES
    read_bytes = read_lines = unread_bytes = 0
    for path, size in reversed(sizes):
        if budget <= 0:
            unread_bytes += size
            continue
        try:
            data, whole = _read_tail(path, size, budget)
        except OSError:
            continue
        budget -= len(data)
        found = _scan_file(scan, data, since_ms)
        scan.pending += found
        read_bytes += len(data)
        read_lines += found
        if not whole:
            unread_bytes += size - len(data)
    if unread_bytes:
        # Older than what was read: estimated from the average line length seen.
        scan.exact = False
        scan.pending += round(unread_bytes * read_lines / read_bytes) if read_bytes else 0
    if sizes:
        with contextlib.suppress(OSError):
            scan.oldest_ms = _first_stamp(sizes[0][0])
    return scan


def _count_lines(path: str) -> int:
    with open(path, "rb") as handle:  # noqa: PTH123 (a scandir path)
        return sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))


def _quarantined_lines(spool: Spool) -> tuple[int, str | None]:
    """Lines set aside by flushes (one quarantine file per spool segment), and the reason
    of the newest: the last line of the most recently written file."""
    import json

    total = 0
    newest: tuple[float, str] | None = None
    try:
        with os.scandir(spool.quarantine_dir) as entries:
            for entry in entries:
                if entry.is_file(follow_symlinks=False) and not entry.name.endswith(".tmp"):
                    total += _count_lines(entry.path)
                    written = entry.stat(follow_symlinks=False).st_mtime
                    if newest is None or (written, entry.path) > newest:
                        newest = (written, entry.path)
    except OSError:
        pass
    reason = None
    if newest is not None:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            # A quarantined line can be long (an escaped binary line of ~250 kB is 1.5 MB).
            path = Path(newest[1])
            data = _read_tail(path, path.stat().st_size, _QUARANTINE_TAIL_BYTES)[0]
            last = data.rstrip(b"\n").rsplit(b"\n", 1)[-1]
            found = json.loads(last).get("reason")
            reason = found if isinstance(found, str) else None
    return total, reason


# -- failed polls ----------------------------------------------------------------------


def _note_time(data: bytes) -> int | None:
    return _time_in(_NOTE_TIME.search(data, 0, 80))


_NOTE_TIME = re.compile(rb'"t":"([^"]{10,40})"')


def _tail_since(path: Path, since_ms: int) -> bytes:
    """The end of an append-only notes file, back to a line older than ``since_ms``.

    Notes are appended in time order, so reading stops at the first block whose first
    complete line is already too old: 24 hours are read, not the whole month.
    """
    blocks: list[bytes] = []
    with path.open("rb") as handle:
        position = handle.seek(0, os.SEEK_END)
        while position > 0:
            step = min(_TAIL_BLOCK, position)
            position -= step
            handle.seek(position)
            block = handle.read(step)
            blocks.append(block)
            newline = block.find(b"\n")
            if position > 0 and newline >= 0:
                stamp = _note_time(block[newline + 1 :])
                if stamp is not None and stamp < since_ms:
                    break
    return b"".join(reversed(blocks))


def _recent_failures(path: Path, since_ms: int) -> tuple[int, int | None, str | None]:
    """(failed polls since ``since_ms``, time and error of the newest note)."""
    import json

    try:
        data = _tail_since(path, since_ms)
    except OSError:
        return 0, None, None
    count = 0
    last_ms: int | None = None
    last_error: str | None = None
    for line in data.split(b"\n"):
        try:
            record = json.loads(line)
            at = parse_timestamp(str(record["t"]))
        except (ValueError, KeyError, TypeError, RecursionError):
            continue  # the cut first line, a torn last line, or junk (even deeply nested)
        if at >= since_ms:
            count += 1
        if last_ms is None or at >= last_ms:
            last_ms = at
            error = record.get("error")
            last_error = error if isinstance(error, str) else None
    return count, last_ms, last_error


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
    """Roll-up facts from the bookkeeping ``luxlog.rollups`` keeps (pure).

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


# -- verdict and report ----------------------------------------------------------------


def _duration(ms: float) -> str:
    """A span in milliseconds as a reason line says it (``12 min``)."""
    return format_duration(ms / 1000)


def verdict(report: HealthReport) -> list[str]:
    """Why ``report`` is unhealthy, one line per reason (empty: healthy). Pure."""
    now = report.now_ms
    reasons: list[str] = []
    last = report.heatpump.last_poll_ms
    stale_ms = STALE_POLLS * report.interval_sec * 1000
    if last is None:
        reasons.append("no successful poll yet: neither the spool nor the cache holds a sample")
    elif now - last > stale_ms:
        reasons.append(
            f"last successful poll {_duration(now - last)} ago ({format_timestamp(last)}), "
            f"more than {STALE_POLLS} x interval_sec ({stale_ms // 1000} s)"
        )
    for volume in report.disks:
        if volume.over:
            holds = ", ".join(f"{purpose} {path}" for purpose, path in volume.holds)
            reasons.append(
                f"disk {volume.usage.volume} is {volume.usage.percent:.0f}% full "
                f"(threshold {volume.threshold_percent}%); it holds {holds}"
            )
    oldest = report.spool.oldest_pending_ms
    if oldest is not None and now - oldest > FLUSH_OVERDUE_MS:
        reasons.append(
            f"spool not flushed for over an hour: oldest pending sample is from "
            f"{format_timestamp(oldest)} ({_duration(now - oldest)} ago); is `luxlog flush` "
            "scheduled?"
        )
    for kind in (*report.rollups.kinds, *report.rollups.products):
        if kind.overdue:
            day, due = kind.overdue[0]
            more = f" and {len(kind.overdue) - 1} more" if len(kind.overdue) > 1 else ""
            reasons.append(
                f"roll-up {kind.file_name(day)}{more} overdue: due at {format_timestamp(due)} "
                f"({_duration(now - due)} ago); is `luxlog rollup due` scheduled?"
            )
        if kind.failed:
            day, error, at = kind.failed[0]
            more = f" ({len(kind.failed) - 1} more failed)" if len(kind.failed) > 1 else ""
            reasons.append(
                f"roll-up {kind.file_name(day)} failed at {format_timestamp(at)}: {error}{more}"
            )
    future = report.heatpump.future_sample_ms
    if future is not None:
        reasons.append(
            f"a sample is dated {format_timestamp(future)}, {_duration(future - now)} ahead of "
            "this machine's clock: a clock is wrong (check NTP on this machine and the "
            "poller); it does not count as a recent poll"
        )
    if report.rollups.error is not None:
        reasons.append(f"roll-up bookkeeping unreadable: {report.rollups.error}")
    cache = report.cache
    if cache.error is not None:
        reasons.append(f"cache unreadable: {cache.error}")
    elif cache.integrity_problems:
        reasons.append(
            f"cache {cache.path} failed its integrity check: {cache.integrity_problems[0]}"
        )
    return reasons


def build_report(settings: Settings, *, now_ms: int, probe: Probe | None = None) -> HealthReport:
    """Read every file status reports on (never writing, never locking) and judge them."""
    since = now_ms - GAP_WINDOW_MS
    spool = Spool(settings.spool_dir)
    scan = _scan_spool(spool, since, now_ms + FUTURE_TOLERANCE_MS)
    cached = _read_cache(settings, now_ms, since, scan.newest_ms)
    failures, last_failure, last_error = _recent_failures(failures_path(settings), since)
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
