"""``luxlog cache check`` and ``luxlog cache restore``: the way out of a damaged cache.

Restore builds a new cache beside the old one from three sources, each of which may be
missing or partly unreadable:

1. the newest backup that passes ``salvage.verify_file`` (older ones if it does not),
   copied whole;
2. every retained flushed segment (``spool/flushed/*.gz``: flushed since that backup);
3. every chunk still readable in the other backups, in the damaged file, and in files
   an earlier restore set aside (``cache.sqlite3.damaged-*``), so a restore killed
   half-way loses nothing. Hours already held cost a timestamp check each; hours not
   held are copied as encoded (checksums verified), so even a year salvaged from the
   damaged file alone takes seconds.

The cache ignores a timestamp it already holds, so overlaps between the sources are
harmless, and every sample a poll spooled and a flush committed is present exactly once
afterwards, wherever the damage is: 1 + 2 hold everything ever flushed, and 3 adds what
predates the first backup. Samples still in the spool are flushed afterwards, as always.

SIGKILL at any instant: the new file is ``.cache.sqlite3.restoring`` until it is
complete, checked and fsynced; then the damaged file is renamed aside (never deleted:
the user decides when it goes) and the new one renamed into place. Killed between the
two renames, the next flush would start an empty cache, and the next restore salvages
the set-aside file and the backups again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from luxlog import backup
from luxlog.config import Settings
from luxlog.durable import fsync_path
from luxlog.errors import CacheDamaged, StorageError
from luxlog.locks import backup_lock_path, cache_lock_path, hold
from luxlog.sample import Sample

log = logging.getLogger("luxlog.restore")

# Samples per transaction while rebuilding: few commits (each is an fsync), bounded memory.
_BATCH = 2_880
_CHUNKS_PER_COMMIT = 48
_WAL_FILES = ("-wal", "-shm", "-journal")


@dataclass
class CheckReport:
    """What ``cache check`` found."""

    path: Path
    exists: bool
    problems: list[str]
    quick: bool
    samples: int | None
    backups: list[backup.BackupFile]
    retained: int
    retained_bytes: int
    seconds: float

    @property
    def healthy(self) -> bool:
        """No problem found (a missing cache is not damage: the first flush creates it)."""
        return not self.problems

    def to_json(self) -> dict[str, object]:
        """Plain values for ``--json``."""
        newest = self.backups[0] if self.backups else None
        return {
            "path": str(self.path),
            "exists": self.exists,
            "healthy": self.healthy,
            "check": "quick" if self.quick else "full",
            "problems": self.problems,
            "samples": self.samples,
            "backups": len(self.backups),
            "newest_backup": str(newest.path) if newest else None,
            "backup_bytes": sum(item.size for item in self.backups),
            "flushed_segments_kept": self.retained,
            "flushed_segments_bytes": self.retained_bytes,
            "seconds": round(self.seconds, 3),
        }


def _retained_size(paths: list[Path]) -> int:
    total = 0
    for path in paths:
        with suppress(OSError):
            total += path.stat().st_size
    return total


def check(settings: Settings, *, quick: bool = False) -> CheckReport:
    """Check the cache without changing it (no lock: a read-only snapshot).

    ``quick``: SQLite's ``quick_check`` only (what every flush runs); otherwise the full
    ``salvage.verify_file``.
    """
    from luxlog.cache import Cache
    from luxlog.cache.salvage import verify_file

    began = time.perf_counter()
    path = settings.cache_path
    problems: list[str] = []
    samples: int | None = None
    if path.is_file():
        try:
            with Cache.open(path, readonly=True) as cache:
                problems = cache.integrity_check(quick=True) if quick else []
                if not problems:
                    samples = cache.stats().samples
        except StorageError as exc:
            problems = [str(exc)]
        if not quick and not problems:
            problems = verify_file(path)
    retained = backup.retained_segments(settings)
    return CheckReport(
        path=path,
        exists=path.is_file(),
        problems=problems,
        quick=quick,
        samples=samples,
        backups=backup.list_backups(settings),
        retained=len(retained),
        retained_bytes=_retained_size(retained),
        seconds=time.perf_counter() - began,
    )


@dataclass
class RestoreResult:
    """What a restore used and produced."""

    path: Path
    backup: Path | None
    backups_rejected: list[str] = field(default_factory=list)  # "name: first problem"
    segments: int = 0
    segment_samples: int = 0
    salvaged_chunks: int = 0
    lost_chunks: list[str] = field(default_factory=list)
    salvaged_samples: int = 0
    samples: int = 0
    set_aside: Path | None = None
    seconds: float = 0.0


def _batched(samples: Iterator[Sample]) -> Iterator[list[Sample]]:
    batch: list[Sample] = []
    for sample in samples:
        batch.append(sample)
        if len(batch) >= _BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _remove_with_journals(path: Path) -> None:
    for suffix in ("", *_WAL_FILES):
        with suppress(FileNotFoundError):
            path.with_name(path.name + suffix).unlink()


def _damaged_copies(cache_path: Path) -> list[Path]:
    """Files an earlier restore set aside (their WAL files are not separate sources)."""
    found = cache_path.parent.glob(f"{cache_path.name}.damaged-*")
    return sorted(p for p in found if not p.name.endswith(_WAL_FILES))


def _set_aside(cache_path: Path, now_ms: int) -> Path | None:
    """Rename the damaged file (and its write-ahead log) out of the way; never delete."""
    if not cache_path.exists():
        return None
    target = cache_path.with_name(f"{cache_path.name}.damaged-{now_ms}")
    while target.exists():
        now_ms += 1
        target = cache_path.with_name(f"{cache_path.name}.damaged-{now_ms}")
    wal = cache_path.with_name(cache_path.name + "-wal")
    if wal.exists():
        wal.rename(target.with_name(target.name + "-wal"))
    cache_path.rename(target)
    with suppress(FileNotFoundError):
        cache_path.with_name(cache_path.name + "-shm").unlink()
    return target


def restore(settings: Settings, *, now_ms: int) -> RestoreResult:
    """Rebuild the cache from backups, retained segments and the damaged file.

    Holds ``cache.lock`` (no flush meanwhile; polls carry on into the spool) and
    ``backup.lock``. Raises ``CacheDamaged`` if even the rebuilt file fails its check,
    in which case nothing was renamed.
    """
    from luxlog.cache import Cache
    from luxlog.cache.salvage import SalvageReport, salvage

    began = time.perf_counter()
    path = settings.cache_path
    timeout = settings.timeout_sec
    with (
        hold(cache_lock_path(settings.data_dir), timeout=timeout, what="the cache"),
        hold(backup_lock_path(settings.data_dir), timeout=timeout, what="backups"),
    ):
        temp = path.with_name(f".{path.name}.restoring")
        result = RestoreResult(path=path, backup=None)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _remove_with_journals(temp)
            for candidate in backup.list_backups(settings):
                problems = backup.verify(candidate.path)
                if not problems:
                    backup.copy_file(candidate.path, temp)
                    result.backup = candidate.path
                    break
                result.backups_rejected.append(f"{candidate.path.name}: {problems[0]}")
                log.warning(
                    "backup %s is damaged (%s): trying an older one", candidate.path, problems[0]
                )
        except OSError as exc:
            raise StorageError(f"cannot prepare {temp}: {exc.strerror}") from exc

        with Cache.open(temp, busy_timeout_sec=timeout) as new:
            read = backup.RetainedRead()
            for segment in backup.retained_segments(settings):
                for batch in _batched(backup.read_retained(segment, read)):
                    new.add_many(batch)
            result.segments, result.segment_samples = read.files, read.samples

            def held(stamps: list[int]) -> bool:
                present = set(new.timestamps(stamps[0], stamps[-1] + 1))
                return all(stamp in present for stamp in stamps)

            # The other backups too: cheap (their hours are mostly held already, which
            # costs a timestamp check each), and after the clock went back the newest
            # name is not the newest content.
            others = [b.path for b in backup.list_backups(settings) if b.path != result.backup]
            current = [path] if path.exists() else []
            sources = [*others, *current, *_damaged_copies(path)]
            for source in sources:
                report = SalvageReport(source)
                pending = 0
                chunks = salvage(source, report, held=held)
                while True:
                    # Group commits: one fsync per ~two days of chunks, not per hour.
                    with new.atomic():
                        for chunk in chunks:
                            if not new.add_encoded(
                                chunk.host,
                                chunk.n_calc,
                                chunk.n_param,
                                chunk.stamps,
                                chunk.reference,
                                chunk.times,
                                chunk.data,
                            ):
                                new.add_many(chunk.samples())  # merge into an hour held
                            pending += 1
                            if pending % _CHUNKS_PER_COMMIT == 0:
                                break
                        else:
                            break
                if report.error is not None:
                    log.warning("nothing readable in %s: %s", source, report.error)
                new.merge_state(report.state)
                result.salvaged_chunks += report.recovered
                result.salvaged_samples += report.samples
                result.lost_chunks += [f"{source.name} {item}" for item in report.lost]
            new.checkpoint()
            problems = new.integrity_check(quick=True)
            if problems:
                raise CacheDamaged(
                    f"the rebuilt cache {temp} fails its check ({problems[0]}); nothing was "
                    "replaced (is the disk failing?)"
                )
            result.samples = new.stats().samples
        try:
            fsync_path(temp)
            result.set_aside = _set_aside(path, now_ms)
            temp.replace(path)
            fsync_path(path.parent)
        except OSError as exc:
            raise StorageError(f"cannot put the rebuilt cache in place: {exc.strerror}") from exc
    result.seconds = time.perf_counter() - began
    for item in result.lost_chunks[:5]:
        log.info("unreadable in the damaged file (covered by backup or segments?): %s", item)
    log.info(
        "restored %s: %d sample(s) from backup %s, %d retained segment(s) (%d samples), "
        "%d chunk(s) salvaged (%d samples handed on), %d chunk(s) unreadable; old file kept as %s "
        "(%.1f s)",
        path,
        result.samples,
        result.backup.name if result.backup else "(none)",
        result.segments,
        result.segment_samples,
        result.salvaged_chunks,
        result.salvaged_samples,
        len(result.lost_chunks),
        result.set_aside,
        result.seconds,
    )
    return result
