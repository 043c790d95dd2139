"""Disk watch: how full the volumes luxlog writes to are, and a guard for "actually full".

Every command checks the volumes it writes (``JOBS`` below says which): at or above
``disk_max_percent`` it logs one warning per volume, naming the volume (its mount
point), its usage and what luxlog keeps there. ``poll`` only warns, since a spool line is
a few kilobytes and losing a sample is worse than using them. ``flush`` and roll-ups
also refuse to start when a volume they write has less than ``MIN_FREE_BYTES`` free
(plus what the caller says it needs), raising ``StorageError("disk full: ...")`` before
anything is touched, so no half-written file appears and the spool keeps every sample.

This module runs on the poll path every 30 seconds: it imports nothing beyond the
standard library basics and, when nothing is wrong, costs one ``statvfs`` and a handful
of ``stat`` calls per volume (well under a millisecond). What luxlog holds on a volume is
only measured when a warning is about to be logged.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from luxlog.errors import StorageError
from luxlog.logs import get_logger

# typing itself is not imported at run time: it costs ~3 ms of every cron poll.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from luxlog.config import Settings

log = get_logger("luxlog.disk")  # imports logging only to emit (poll path)

# What a flush needs at least: SQLite's write-ahead log grows to its auto-checkpoint of
# 1,000 pages (4 MiB) before it is reused, plus room for the pages of one batch and the
# quarantine. Below this the write would fail half-way with SQLITE_FULL anyway.
MIN_FREE_BYTES = 8 * 1024 * 1024

# Purposes a path can serve; ``csv`` stands for every output dir.
PURPOSES = ("spool", "cache", "csv")

# job -> (volumes it writes and warns about, volumes that must not be actually full).
# ``poll`` writes one spool line: it warns but always tries, because a few kilobytes
# usually still fit and a lost sample cannot be re-read later. A roll-up guards each
# output folder on its own (one full NAS must not stop the other folders) and the cache
# through its flush, so it only warns here.
JOBS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "poll": (("spool",), ()),
    "flush": (("spool", "cache"), ("cache",)),
    "rollup": (("cache", "csv"), ()),
    "prune": (("spool", "cache", "csv"), ()),
}


@dataclass(frozen=True)
class Usage:
    """Usage of one file system, as ``df`` reports it."""

    volume: str  # the mount point (or another name a test chooses): identifies the volume
    total_bytes: int
    used_bytes: int
    free_bytes: int  # available to an unprivileged process (root's reserve excluded)

    @property
    def percent(self) -> float:
        """Used share of what a process can use, like ``df``'s Use% (reserve excluded)."""
        usable = self.used_bytes + self.free_bytes
        return 100.0 * self.used_bytes / usable if usable > 0 else 0.0


Probe = Callable[[Path], Usage | None]


def _existing(path: Path) -> Path:
    """``path`` or its nearest existing ancestor: directories appear on first write."""
    current = path.absolute()
    while not current.exists() and current != current.parent:
        current = current.parent
    return current


def _mount_point(path: Path, device: int) -> Path:
    """Walk up while the device stays the same: the top directory is the mount point."""
    current = path
    while current != current.parent:
        try:
            if current.parent.stat().st_dev != device:
                break
        except OSError:
            break
        current = current.parent
    return current


def disk_usage(path: Path) -> Usage | None:
    """Usage of the volume holding ``path`` (or where it will be created); None if unknown.

    Failing to look is never an error here: the write that follows reports a missing or
    unwritable directory far more precisely.
    """
    try:
        existing = _existing(path)
        stats = os.statvfs(existing)
        device = existing.stat().st_dev
    except OSError:
        return None
    block = stats.f_frsize or stats.f_bsize
    return Usage(
        volume=str(_mount_point(existing, device)),
        total_bytes=stats.f_blocks * block,
        used_bytes=(stats.f_blocks - stats.f_bfree) * block,
        free_bytes=stats.f_bavail * block,
    )


@dataclass(frozen=True)
class Volume:
    """One volume luxlog writes to, and what it keeps there."""

    usage: Usage
    holds: tuple[tuple[str, Path], ...]  # (purpose, path), e.g. ("cache", cache.sqlite3)
    threshold_percent: int

    @property
    def over(self) -> bool:
        """At or above ``disk_max_percent``."""
        return self.usage.percent >= self.threshold_percent


def paths_for(settings: Settings, purposes: Iterable[str]) -> list[tuple[str, Path]]:
    """The (purpose, path) pairs of ``purposes``: spool dir, cache file, each output dir."""
    chosen = set(purposes)
    unknown = chosen - set(PURPOSES)
    if unknown:
        raise ValueError(f"unknown disk purposes: {sorted(unknown)}")
    pairs: list[tuple[str, Path]] = []
    if "spool" in chosen:
        pairs.append(("spool", settings.spool_dir))
    if "cache" in chosen:
        pairs.append(("cache", settings.cache_path))
    if "csv" in chosen:
        pairs.extend(("csv", directory) for directory in settings.output_dirs)
    return pairs


def volumes(
    settings: Settings, purposes: Iterable[str], *, probe: Probe | None = None
) -> list[Volume]:
    """The volumes behind ``purposes``, paths sharing a volume grouped together.

    ``probe`` defaults to :func:`disk_usage` looked up at call time, so tests can replace
    the module attribute for commands they run through the CLI.
    """
    look = probe if probe is not None else disk_usage
    found: dict[str, tuple[Usage, list[tuple[str, Path]]]] = {}
    for purpose, path in paths_for(settings, purposes):
        usage = look(path)
        if usage is None:
            continue
        entry = found.setdefault(usage.volume, (usage, []))
        entry[1].append((purpose, path))
    return [
        Volume(usage, tuple(holds), settings.disk_max_percent) for usage, holds in found.values()
    ]


def _tree_bytes(path: Path) -> int:
    """Bytes in a file, or in a directory's files one level deep (spool, csv): cheap."""
    try:
        if path.is_file():
            total = path.stat().st_size
            for suffix in ("-wal", "-shm"):  # SQLite's companions count as the cache
                sibling = path.with_name(path.name + suffix)
                if sibling.is_file():
                    total += sibling.stat().st_size
            return total
        total = 0
        with os.scandir(path) as entries:
            for entry in entries:
                if entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
        return total
    except OSError:
        return 0


def format_bytes(count: float) -> str:
    """``1.2 MB``-style sizes (decimal units, as ``df -H`` and file managers show)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(count) < 1000 or unit == "TB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


def describe_holdings(volume: Volume) -> str:
    """``spool luxlog-data/spool (12.0 kB), cache luxlog-data/cache.sqlite3 (9.1 MB)``."""
    return ", ".join(
        f"{purpose} {path} ({format_bytes(_tree_bytes(path))})" for purpose, path in volume.holds
    )


def check_volumes(
    settings: Settings,
    purposes: Iterable[str],
    *,
    require_free_on: Iterable[str] = (),
    need_bytes: int = 0,
    probe: Probe | None = None,
) -> list[Volume]:
    """Warn about every volume of ``purposes`` at or over the threshold; guard writes.

    A volume that serves one of ``require_free_on`` must have ``MIN_FREE_BYTES +
    need_bytes`` available, else ``StorageError("disk full: ...")`` is raised after the
    warnings, before the caller writes anything. Returns the volumes looked at.
    """
    found = volumes(settings, purposes, probe=probe)
    guarded = set(require_free_on)
    for volume in found:
        usage = volume.usage
        if volume.over:
            log.warning(
                "disk %s is %.0f%% full (threshold %d%%, %s free); luxlog keeps here: %s",
                usage.volume,
                usage.percent,
                volume.threshold_percent,
                format_bytes(usage.free_bytes),
                describe_holdings(volume),
            )
    for volume in found:
        usage = volume.usage
        needed = MIN_FREE_BYTES + need_bytes
        serves = [path for purpose, path in volume.holds if purpose in guarded]
        if serves and usage.free_bytes < needed:
            raise StorageError(
                f"disk full: {usage.volume} has {format_bytes(usage.free_bytes)} free, "
                f"{format_bytes(needed)} needed to write {', '.join(map(str, serves))}; "
                "free some space (`luxlog prune`, or a smaller csv_retention_days), "
                "nothing was written and the spool keeps every sample"
            )
    return found


def watch(
    settings: Settings, job: str, *, need_bytes: int = 0, probe: Probe | None = None
) -> Sequence[Volume]:
    """The disk check of one job (``poll``, ``flush``, ``rollup``, ``prune``): see ``JOBS``.

    One line at the start of each job; raises ``StorageError`` when the job would write
    to a volume that is actually full.
    """
    warn_on, guard_on = JOBS[job]
    return check_volumes(
        settings, warn_on, require_free_on=guard_on, need_bytes=need_bytes, probe=probe
    )
