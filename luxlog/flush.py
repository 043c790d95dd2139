"""The flush job: spooled samples into the SQLite cache, exactly once, whatever happens.

The order of steps is what makes a SIGKILL at any instant harmless:

1. under the cache lock (for the whole flush: one flusher at a time), take the spool
   lock just long enough to rotate ``current.jsonl`` into a segment, so polls keep
   appending to a fresh file and we only ingest lines that were complete;
2. read each segment line by line and add its samples in bounded batches, each batch
   one committed transaction (memory stays flat for a week-long backlog);
3. after each batch, read back the timestamps it wrote; after the last one, keep the
   segment compressed in ``spool/flushed/`` until a verified backup covers it
   (``luxlog.backup``), and delete it from the spool.

A crash before 3 leaves the segment in place and the next flush reads it again; the
cache ignores timestamps it already holds, so nothing is doubled. A failure of the
cache (disk full, corrupt file, lock) raises before 3, so the spool keeps everything.
Lines that are not valid samples (see ``luxlog.spool``) go to the spool's quarantine
with one warning each; what a file contains never makes a flush fail.

A damaged cache must not swallow samples: SQLite happily commits into a file whose
other pages are garbage, and the segment would then be deleted with its only good copy
elsewhere. So before the first write the flush runs SQLite's ``quick_check`` (page and
b-tree structure of the whole file; ~0.1 s on a year's cache, ``bench/storage.py``) and
refuses with ``CacheDamaged`` (exit 7) and the way out; the read-back checks the hours
it wrote.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from luxlog.backup import retain_segment
from luxlog.cache import RESTORE_HINT, Cache
from luxlog.cache.codec import bucket_of
from luxlog.clock import now_ms as now_ms_clock
from luxlog.config import Settings
from luxlog.disk import watch
from luxlog.errors import CacheDamaged, StorageError
from luxlog.locks import cache_lock_path, hold, spool_lock_path
from luxlog.sample import Sample
from luxlog.spool import SegmentRead, Spool

log = logging.getLogger("luxlog.flush")

# Samples per transaction: about two hours at 30 s, ~12 MB of Python ints. Batches end on
# a chunk (hour) boundary when they can, so each hour is encoded once per flush.
BATCH_SAMPLES = 240
_BATCH_HARD_LIMIT = 4 * BATCH_SAMPLES  # polls faster than 2 per minute: cut mid-hour

Progress = Callable[[int, int], None]


@dataclass
class FlushResult:
    """What one flush did; ``bad_lines`` holds (segment file name, line number, reason).

    ``bad_lines`` lists at most ``spool.REPORTED_BAD_LINES`` per segment; ``bad_count``
    counts every line set aside.
    """

    segments: int = 0
    samples_read: int = 0
    samples_added: int = 0
    duplicates: int = 0
    bad_lines: list[tuple[str, int, str]] = field(default_factory=list)
    bad_count: int = 0


def _count_lines(path: Path) -> int:
    """Lines in a segment, for the progress total (1 MB reads: bounded memory)."""
    lines = 0
    try:
        with path.open("rb") as handle:
            while block := handle.read(1 << 20):
                lines += block.count(b"\n")
    except OSError as exc:
        raise StorageError(f"cannot read spool segment {path}: {exc.strerror}") from exc
    return lines


def _batches(samples: Iterator[Sample]) -> Iterator[list[Sample]]:
    """Cut a segment's samples into transactions of about ``BATCH_SAMPLES``."""
    batch: list[Sample] = []
    for sample in samples:
        if len(batch) >= BATCH_SAMPLES and (
            bucket_of(sample.timestamp_ms) != bucket_of(batch[-1].timestamp_ms)
            or len(batch) >= _BATCH_HARD_LIMIT
        ):
            yield batch
            batch = []
        batch.append(sample)
    if batch:
        yield batch


def check_before_writing(cache: Cache) -> None:
    """Refuse to commit into a damaged file (see the module docstring)."""
    problems = cache.integrity_check(quick=True)
    if problems:
        more = f" and {len(problems) - 1} more" if len(problems) > 1 else ""
        raise CacheDamaged(f"cache {cache.path} is damaged ({problems[0]}{more}); {RESTORE_HINT}")


def _read_back(cache: Cache, stamps: list[int]) -> None:
    """Every timestamp just committed is in the cache, or ``CacheDamaged``.

    Reads only the hours written (their timestamp blobs), so it is cheap; it catches
    a file that accepted a commit it cannot give back.
    """
    if not stamps:
        return
    held = set(cache.timestamps(min(stamps), max(stamps) + 1))
    missing = sum(1 for stamp in stamps if stamp not in held)
    if missing:
        raise CacheDamaged(
            f"cache {cache.path} lost {missing} of {len(stamps)} sample(s) it had just "
            f"committed; {RESTORE_HINT}"
        )


def flush(
    settings: Settings, *, progress: Progress | None = None, now_ms: int | None = None
) -> FlushResult:
    """Move every complete spooled sample into the cache; see the module docstring.

    ``progress(done, total)`` is called in spool lines (one line is one sample).
    ``now_ms`` (default: the wall clock at the start) is the clock no sample may be
    ahead of.
    Raises ``Busy`` (a lock held past ``timeout_sec``) or ``StorageError``; in both
    cases every sample not yet committed is still in the spool.
    """
    watch(settings, "flush")  # disk full: StorageError before any lock, rename or write
    spool = Spool(settings.spool_dir)
    now_ms = now_ms_clock() if now_ms is None else now_ms
    result = FlushResult()
    with hold(cache_lock_path(settings.data_dir), timeout=settings.timeout_sec, what="the cache"):
        with hold(
            spool_lock_path(settings.data_dir), timeout=settings.timeout_sec, what="the spool"
        ):
            segments = spool.take()
        if not segments:
            return result
        sizes = [_count_lines(segment) for segment in segments] if progress else []
        total = sum(sizes)
        lines_before = 0
        with Cache.open(settings.cache_path, busy_timeout_sec=settings.timeout_sec) as cache:
            check_before_writing(cache)
            for number, segment in enumerate(segments):
                report = SegmentRead(segment)
                for batch in _batches(spool.read(segment, report, now_ms=now_ms)):
                    added = cache.add_many(batch)
                    _read_back(cache, [sample.timestamp_ms for sample in batch])
                    result.samples_read += len(batch)
                    result.samples_added += added
                    result.duplicates += len(batch) - added
                    if progress is not None:
                        progress(lines_before + report.samples + report.bad_count, total)
                for line, reason in report.bad_lines:
                    log.warning(
                        "spool %s line %d: %s; moved to %s",
                        segment,
                        line,
                        reason,
                        spool.quarantine_dir / segment.name,
                    )
                    result.bad_lines.append((segment.name, line, reason))
                if report.bad_count > len(report.bad_lines):
                    log.warning(
                        "spool %s: %d more bad line(s) not listed; all are in %s",
                        segment,
                        report.bad_count - len(report.bad_lines),
                        spool.quarantine_dir / segment.name,
                    )
                result.bad_count += report.bad_count
                # Only now: every sample of the segment is committed (or was already).
                retain_segment(settings, segment)
                spool.remove(segment)
                result.segments += 1
                if progress is not None:
                    lines_before += sizes[number]
                    progress(lines_before, total)
    return result
