"""Cache backups, and the flushed spool segments that bridge the time since the last one.

Why both: a backup alone loses what was flushed after it, and a damaged cache may have
swallowed exactly that. So a flush does not delete a segment once its samples are
committed; it keeps it, gzip-compressed, in ``spool/flushed/``. A backup lists those
files *before* it starts copying, and deletes exactly them once the copy is verified: a
segment is only listed after its samples were committed, so the copy holds all of them.
Newest good backup + every retained segment is therefore always a superset of what any
poll reported as spooled and any flush reported as committed.

Layout under ``data_dir``::

    backups/cache-<UTC yyyymmddTHHMMSSmmmZ>.sqlite3   verified copies, newest ``backup_keep``
    backups/.cache-<...>.sqlite3.tmp                   a copy in progress (or killed)
    spool/flushed/segment-<ms>.jsonl.gz                flushed, not yet covered by a backup

How a backup is made (``backup``): SQLite's online backup API in a single step, which in
WAL mode is one read snapshot, so it needs no ``cache.lock`` and flushes carry on
meanwhile; the copy is switched to a rollback journal (a backup is one file), fsynced,
then checked in full (SQLite's ``integrity_check`` and every chunk decoded) before it
is renamed into place. A SIGKILL at any instant leaves at most a ``.tmp`` file, removed
by the next backup, and never deletes a segment whose samples are not in a verified
backup. ``rollup due`` makes one when the newest is a day old (``backup_if_due``).
"""

from __future__ import annotations

import gzip
import logging
import os
import re
import time
import zlib
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from luxlog.config import Settings
from luxlog.durable import fsync_path
from luxlog.errors import CacheDamaged, StorageError
from luxlog.locks import backup_lock_path, hold
from luxlog.sample import Sample
from luxlog.spool import BadLine, decode_line

log = logging.getLogger("luxlog.backup")

DAY_MS = 86_400_000
BACKUP_DIR = "backups"
RETAINED_DIR = "flushed"
_NAME = re.compile(r"cache-(\d{8}T\d{9})Z\.sqlite3")
_STAMP = "%Y%m%dT%H%M%S"


def backups_dir(settings: Settings) -> Path:
    """Where verified backups of the cache live."""
    return settings.data_dir / BACKUP_DIR


def retained_dir(settings: Settings) -> Path:
    """Where flushed spool segments wait, compressed, for a backup to cover them."""
    return settings.spool_dir / RETAINED_DIR


# -- retained segments -------------------------------------------------------------------


def retain_segment(settings: Settings, segment: Path) -> Path:
    """Keep a flushed segment as ``spool/flushed/<name>.gz`` (whole or not at all).

    Called after the segment's samples are committed and before it is deleted; a crash
    in between re-ingests the segment (the cache ignores duplicates) and rewrites this
    file under the same name.
    """
    directory = retained_dir(settings)
    target = directory / f"{segment.name}.gz"
    temp = directory / f".{target.name}.tmp"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with segment.open("rb") as source, temp.open("wb") as raw:
            # Level 6: a simulated day of spool lines compresses 65:1 (10.8 MB to
            # 170 kB), and a week-long backlog still compresses in seconds.
            with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as packed:
                while block := source.read(1 << 20):
                    packed.write(block)
            raw.flush()
            os.fsync(raw.fileno())
        temp.replace(target)
        fsync_path(directory)
    except OSError as exc:
        with suppress(OSError):
            temp.unlink()
        raise StorageError(f"cannot keep flushed segment in {directory}: {exc.strerror}") from exc
    return target


def retained_segments(settings: Settings) -> list[Path]:
    """Flushed segments not yet covered by a verified backup, oldest first."""
    directory = retained_dir(settings)
    if not directory.is_dir():
        return []
    return sorted(directory.glob("segment-*.jsonl.gz"))


@dataclass
class RetainedRead:
    """What reading retained segments found."""

    files: int = 0
    samples: int = 0
    bad_lines: int = 0
    unreadable: list[str] = field(default_factory=list)  # "name: reason"


def read_retained(path: Path, report: RetainedRead) -> Iterator[Sample]:
    """The samples of one retained segment; a damaged tail ends it, with a note."""
    report.files += 1
    before = report.samples
    try:
        with gzip.open(path, "rb") as handle:
            for raw in handle:
                if not raw.endswith(b"\n") or not raw.strip():
                    continue  # torn tail or separator: the flush quarantined it already
                try:
                    sample = decode_line(raw)
                except BadLine:
                    report.bad_lines += 1
                    continue
                report.samples += 1
                yield sample
    except (OSError, EOFError, zlib.error) as exc:
        report.unreadable.append(f"{path.name}: {exc}")
        log.warning(
            "retained segment %s is damaged after %d sample(s): %s",
            path,
            report.samples - before,
            exc,
        )


# -- backups -----------------------------------------------------------------------------


@dataclass(frozen=True)
class BackupFile:
    """One verified backup: its path, when it was taken and its size."""

    path: Path
    at_ms: int
    size: int


def backup_name(at_ms: int) -> str:
    """File name of a backup taken at ``at_ms`` (sorts by time)."""
    moment = datetime.fromtimestamp(at_ms / 1000, tz=UTC)
    return f"cache-{moment.strftime(_STAMP)}{at_ms % 1000:03d}Z.sqlite3"


def _taken_at(name: str) -> int | None:
    match = _NAME.fullmatch(name)
    if match is None:
        return None
    try:
        moment = datetime.strptime(match[1][:15], _STAMP).replace(tzinfo=UTC)
    except ValueError:
        return None
    return int(moment.timestamp()) * 1000 + int(match[1][15:])


def list_backups(settings: Settings) -> list[BackupFile]:
    """Backups under ``data_dir/backups``, newest first (temp files are not backups)."""
    found: list[BackupFile] = []
    try:
        with os.scandir(backups_dir(settings)) as entries:
            for entry in entries:
                at_ms = _taken_at(entry.name)
                if at_ms is not None and entry.is_file(follow_symlinks=False):
                    found.append(BackupFile(Path(entry.path), at_ms, entry.stat().st_size))
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise StorageError(f"cannot list backups in {backups_dir(settings)}: {exc}") from exc
    found.sort(key=lambda item: item.at_ms, reverse=True)
    return found


@dataclass
class BackupResult:
    """What one backup did."""

    path: Path
    samples: int
    size: int
    seconds: float
    segments_covered: int
    rotated: list[Path] = field(default_factory=list)


def verify(path: Path) -> list[str]:
    """Problems of a cache or backup file (empty: healthy); see ``salvage.verify_file``."""
    from luxlog.cache.salvage import verify_file

    return verify_file(path)


def copy_file(source: Path, target: Path) -> None:
    """Online backup of ``source`` into a new file ``target`` (one WAL read snapshot)."""
    import sqlite3

    target.unlink(missing_ok=True)
    src = sqlite3.connect(f"file:{quote(str(source.absolute()))}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(target, isolation_level=None)
        try:
            src.backup(dst)  # pages=-1: everything in one step, one snapshot
            # A backup is one self-contained file, not a WAL pair.
            dst.execute("PRAGMA journal_mode = DELETE").fetchall()
        finally:
            dst.close()
    finally:
        src.close()
    with target.open("rb") as handle:
        os.fsync(handle.fileno())


def _remove_temps(directory: Path) -> None:
    """What a killed backup left: hidden ``.tmp`` files (and their journals)."""
    for leftover in directory.glob(".cache-*.tmp*"):
        with suppress(OSError):
            leftover.unlink()


def rotate(settings: Settings, *, dry_run: bool = False, protect: Path | None = None) -> list[Path]:
    """Delete all but the newest ``backup_keep`` backups; return what went (would go).

    ``protect`` is the backup just made: after the clock went back, its name sorts
    before older backups, and it must survive its own rotation all the same.
    """
    found = [item for item in list_backups(settings) if item.path != protect]
    keep = settings.backup_keep - (1 if protect is not None else 0)
    expired = [item.path for item in found[keep:]]
    if not dry_run:
        for path in expired:
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                raise StorageError(f"cannot delete old backup {path}: {exc.strerror}") from exc
    return expired


def backup(settings: Settings, *, now_ms: int) -> BackupResult:
    """Take, verify and rotate one backup; see the module docstring.

    Raises ``CacheDamaged`` when the copy fails verification (the cache itself is then
    damaged: older backups and every retained segment are kept), ``StorageError`` when
    a file cannot be written, ``Busy`` when another backup or a restore runs.
    """
    source = settings.cache_path
    if not source.is_file():
        raise StorageError(f"cache {source} does not exist yet: nothing to back up")
    directory = backups_dir(settings)
    began = time.perf_counter()
    with hold(backup_lock_path(settings.data_dir), timeout=settings.timeout_sec, what="backups"):
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create backup folder {directory}: {exc.strerror}") from exc
        _remove_temps(directory)
        # Listed before the snapshot: each of these was committed before it was kept.
        covered = retained_segments(settings)
        name = backup_name(now_ms)
        temp = directory / f".{name}.tmp"
        try:
            try:
                copy_file(source, temp)
            except OSError as exc:
                raise StorageError(f"cannot write backup {temp}: {exc.strerror}") from exc
            except Exception as exc:  # sqlite3.Error
                text = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
                name = getattr(exc, "sqlite_errorname", "") or ""
                if not name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
                    # Disk full, read-only folder, I/O error: the copy failed, not the cache.
                    raise StorageError(f"cannot write backup {temp}: {text}") from exc
                raise CacheDamaged(
                    f"cache {source} cannot be backed up ({text}); "
                    "run `luxlog cache check`, then `luxlog cache restore`"
                ) from exc
            problems = verify(temp)
            if problems:
                raise CacheDamaged(
                    f"backup of cache {source} failed verification ({problems[0]}); the "
                    "cache is damaged: older backups and flushed segments are kept; "
                    "run `luxlog cache restore`"
                )
            from luxlog.cache import Cache

            with Cache.open(temp, readonly=True) as copy:
                samples = copy.stats().samples
            target = directory / name
            temp.replace(target)
            fsync_path(directory)
        except BaseException:
            with suppress(OSError):
                temp.unlink()
            raise
        for segment in covered:
            try:
                segment.unlink(missing_ok=True)
            except OSError as exc:
                log.warning("cannot delete covered segment %s: %s", segment, exc.strerror)
        if covered:
            with suppress(OSError):
                fsync_path(covered[0].parent)
        size = target.stat().st_size
        rotated = rotate(settings, protect=target)
    seconds = time.perf_counter() - began
    log.info(
        "backup %s: %d sample(s), %d bytes in %.1f s; %d flushed segment(s) covered, "
        "%d old backup(s) removed",
        target,
        samples,
        size,
        seconds,
        len(covered),
        len(rotated),
    )
    return BackupResult(target, samples, size, seconds, len(covered), rotated)


def summary(settings: Settings) -> dict[str, object]:
    """Backups and kept segments for ``status --json`` (listings only: a few ``stat``).

    A folder that cannot be listed shows up as ``error`` rather than failing ``status``.
    """
    from luxlog.spool import format_timestamp

    try:
        found = list_backups(settings)
    except StorageError as exc:
        return {"path": str(backups_dir(settings)), "error": str(exc)}
    kept = retained_segments(settings)
    kept_bytes = 0
    for path in kept:
        with suppress(OSError):
            kept_bytes += path.stat().st_size
    return {
        "path": str(backups_dir(settings)),
        "count": len(found),
        "keep": settings.backup_keep,
        "newest": format_timestamp(found[0].at_ms) if found else None,
        "bytes": sum(item.size for item in found),
        "flushed_segments_kept": len(kept),
        "flushed_segments_bytes": kept_bytes,
        "error": None,
    }


def is_due(settings: Settings, *, now_ms: int) -> bool:
    """A cache exists and the newest backup is a day old (or from the future)."""
    if not settings.cache_path.is_file():
        return False
    newest = next(iter(list_backups(settings)), None)
    # A backup "from the future" means the clock was wrong when it was named: take a
    # fresh one rather than trusting it to be recent.
    return newest is None or not (now_ms - DAY_MS < newest.at_ms <= now_ms + 60_000)


def backup_if_due(settings: Settings, *, now_ms: int) -> BackupResult | None:
    """``backup`` when ``is_due``; what ``rollup due`` calls on every run."""
    if not is_due(settings, now_ms=now_ms):
        return None
    return backup(settings, now_ms=now_ms)
