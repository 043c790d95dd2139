"""Retention: what expires (a pure plan, given "now") and removing it (apply, I/O).

Three things grow without bound and are trimmed here, each by its own rule (and cache
backups beyond ``backup_keep`` go, see ``luxlog.backup``):

* **Roll-up CSVs** (and daily reports) in every output dir: a file is luxlog's only when
  its name is exactly ``YYYY-MM-DD_daily.csv``, ``YYYY-MM-DD_weekly.csv`` or
  ``YYYY-MM-DD_report.html`` with a real calendar date (or the hidden
  ``.<that name>.tmp`` a killed writer leaves), it is a regular file (not a symlink, not
  a folder), and it sits directly in the output dir. Monthly summaries
  (``YYYY-MM_summary.csv``, one a month) are the long-term record and are kept. The
  date in the name decides, not the mtime (copying a folder or touching a file must not
  change what is kept): a file dated D is kept while ``D >= today - csv_retention_days``,
  today being the local date in ``timezone``. With 30 days, ``2026-01-01_daily.csv`` is
  deleted from 2026-02-01 on. Nothing else in an output dir, and nothing outside it, is
  ever touched.
* **Cache samples** older than ``now - cache_retention_days`` (exact, in UTC): deleted
  under the cache lock by ``Cache.delete_before``, whose incremental vacuum hands the
  freed pages back to the file system a little at every prune.
* **Failed-poll notes** (``spool/poll-failures.jsonl``): lines older than
  ``csv_retention_days`` are dropped, so a gap in any CSV that still exists can still be
  explained, while the file stays small (a dead heat pump adds ~2,900 lines a day).
  The file is rewritten atomically (temp + fsync + rename) under the spool lock, which
  is held only for the final tail read and rename, so a poll never waits on it.

``plan`` is pure (listings in, decisions out); ``apply`` performs a plan; ``prune`` is
both, for the command line.
"""

from __future__ import annotations

import logging
import os
import re
import stat
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from luxlog.config import Settings
from luxlog.disk import format_bytes
from luxlog.errors import LuxlogError, StorageError
from luxlog.failures import failures_path, note_kept
from luxlog.locks import cache_lock_path, hold, spool_lock_path
from luxlog.spool import format_timestamp

log = logging.getLogger("luxlog.prune")

DAY_MS = 86_400_000

# luxlog's own dated names (``rollup.Window.file_name``, ``report.Report.file_name``,
# ``csvout.temp_path``); the optional leading dot and trailing ``.tmp`` come together.
_CSV_NAME = re.compile(
    r"(?P<temp>\.)?(?P<day>\d{4}-\d{2}-\d{2})_(?:daily\.csv|weekly\.csv|report\.html)"
    r"(?(temp)\.tmp|)"
)


def roll_up_date(name: str) -> date | None:
    """The date in a luxlog roll-up file name, or None for any other name."""
    match = _CSV_NAME.fullmatch(name)
    if match is None:
        return None
    try:
        return date.fromisoformat(match["day"])
    except ValueError:  # 2026-02-30: shaped like ours, but no roll-up has that name
        return None


# -- listings (I/O) --------------------------------------------------------------------


@dataclass(frozen=True)
class CsvFile:
    """A roll-up file luxlog wrote: its path, the date in its name and its size."""

    path: Path
    day: date
    size: int


@dataclass(frozen=True)
class Listing:
    """luxlog's roll-ups found directly in one output dir, or why it could not be read."""

    directory: Path
    files: tuple[CsvFile, ...] = ()
    missing: bool = False
    error: str | None = None


def scan(directory: Path) -> Listing:
    """List the roll-up files in ``directory`` (one level, regular files only)."""
    files: list[CsvFile] = []
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                day = roll_up_date(entry.name)
                # follow_symlinks=False: a symlink is never ours, whatever its name.
                if day is None or not entry.is_file(follow_symlinks=False):
                    continue
                size = entry.stat(follow_symlinks=False).st_size
                files.append(CsvFile(Path(entry.path), day, size))
    except FileNotFoundError:
        return Listing(directory, missing=True)
    except OSError as exc:
        return Listing(directory, error=exc.strerror or str(exc))
    files.sort(key=lambda item: (item.day, item.path.name))
    return Listing(directory, tuple(files))


# -- the plan (pure) -------------------------------------------------------------------


@dataclass(frozen=True)
class DirPlan:
    """What happens in one output dir."""

    listing: Listing
    expired: tuple[CsvFile, ...]
    kept: int


@dataclass(frozen=True)
class Plan:
    """Every decision of one prune, made from listings and ``now`` alone."""

    now_ms: int
    keep_csv_from: date  # roll-ups dated before this expire
    cache_before_ms: int  # samples older than this expire
    failures_before_ms: int  # failed-poll notes older than this expire
    dirs: tuple[DirPlan, ...]


def local_date(now_ms: int, timezone: str) -> date:
    """Today in ``timezone`` at ``now_ms``: roll-up names carry local dates."""
    return datetime.fromtimestamp(now_ms / 1000, tz=ZoneInfo(timezone)).date()


KEEP_FOREVER = 0  # a retention of 0 days keeps everything
# Failed-poll notes follow csv_retention_days (they explain gaps in the CSVs still
# there); with CSVs kept forever they are kept this long, as a heat pump switched off
# for a summer would otherwise grow the file without end.
FAILURES_DAYS_WHEN_FOREVER = 365


def plan(settings: Settings, listings: list[Listing], *, now_ms: int) -> Plan:
    """Decide what expires; see the module docstring for each rule."""
    csv_days = settings.csv_retention_days
    keep_from = (
        date.min
        if csv_days == KEEP_FOREVER
        else local_date(now_ms, settings.timezone) - timedelta(days=csv_days)
    )
    dirs = []
    for listing in listings:
        expired = tuple(item for item in listing.files if item.day < keep_from)
        dirs.append(DirPlan(listing, expired, len(listing.files) - len(expired)))
    return Plan(
        now_ms=now_ms,
        keep_csv_from=keep_from,
        cache_before_ms=(
            0  # no sample is older than 1970
            if settings.cache_retention_days == KEEP_FOREVER
            else now_ms - settings.cache_retention_days * DAY_MS
        ),
        failures_before_ms=now_ms - (csv_days or FAILURES_DAYS_WHEN_FOREVER) * DAY_MS,
        dirs=tuple(dirs),
    )


# -- applying it (I/O) -----------------------------------------------------------------


@dataclass
class DirResult:
    """What was (or, in a dry run, would be) deleted in one output dir."""

    directory: Path
    deleted: list[CsvFile] = field(default_factory=list)
    freed_bytes: int = 0
    kept: int = 0
    missing: bool = False
    problems: list[str] = field(default_factory=list)


@dataclass
class PruneResult:
    """The outcome of one prune; ``problems`` non-empty means exit 7 after the rest ran."""

    dry_run: bool
    plan: Plan
    dirs: list[DirResult] = field(default_factory=list)
    cache_samples: int | None = None  # dropped (would drop); None: no cache yet
    cache_bytes_before: int = 0
    cache_bytes_after: int = 0
    failures_dropped: int = 0
    failures_kept: int = 0
    backups_removed: list[Path] = field(default_factory=list)  # beyond backup_keep
    problems: list[str] = field(default_factory=list)


def _delete(item: CsvFile) -> str | None:
    """Delete one expired roll-up; a problem message, or None (deleted or already gone)."""
    try:
        # Checked again right before unlinking: the file may have become a symlink or a
        # folder since the listing, and those are never ours.
        if not stat.S_ISREG(os.lstat(item.path).st_mode):
            return None
        item.path.unlink()
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot delete {item.path}: {exc.strerror or exc}"
    return None


def _prune_dir(entry: DirPlan, keep_from: date, *, dry_run: bool) -> DirResult:
    listing = entry.listing
    result = DirResult(listing.directory, kept=entry.kept, missing=listing.missing)
    if listing.missing:
        # Not a failure: the first roll-up creates it. A NAS that is not mounted shows
        # up in the roll-up's exit code instead - so no warning (a cron mail a day).
        log.info("output dir %s does not exist: nothing to prune there", listing.directory)
        return result
    if listing.error is not None:
        result.problems.append(f"cannot read output dir {listing.directory}: {listing.error}")
        log.error("%s", result.problems[-1])
        return result
    for item in entry.expired:
        if dry_run:
            log.info("would delete %s (dated %s, %d bytes)", item.path, item.day, item.size)
        else:
            problem = _delete(item)
            if problem is not None:
                result.problems.append(problem)
                log.error("%s", problem)
                continue
            log.debug("deleted %s (dated %s, %d bytes)", item.path, item.day, item.size)
        result.deleted.append(item)
        result.freed_bytes += item.size
    log.info(
        "output dir %s: %s %d roll-up file(s) dated before %s, %s %d bytes (%s); %d kept",
        listing.directory,
        "would delete" if dry_run else "deleted",
        len(result.deleted),
        keep_from,
        "would free" if dry_run else "freed",
        result.freed_bytes,
        format_bytes(result.freed_bytes),
        result.kept,
    )
    return result


def _split_lines(data: bytes) -> tuple[list[bytes], bytes]:
    """Complete lines (newline kept) and the torn remainder after the last newline."""
    end = data.rfind(b"\n") + 1
    return data[:end].splitlines(keepends=True), data[end:]


def _trim_failures(settings: Settings, before_ms: int, *, dry_run: bool) -> tuple[int, int]:
    """Drop failure notes older than ``before_ms``; return (dropped, kept)."""
    path = failures_path(settings)
    try:
        with path.open("rb") as handle:
            data = handle.read()
            identity = os.fstat(handle.fileno())
    except FileNotFoundError:
        return 0, 0
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    lines, _ = _split_lines(data)
    kept = [line for line in lines if note_kept(line, before_ms)]
    dropped = len(lines) - len(kept)
    if dry_run or dropped == 0:
        return dropped, len(kept)
    read_up_to = len(data) - len(_split_lines(data)[1])
    temp = path.with_name(f".{path.name}.tmp")
    # Only the tail read and the rename happen under the lock: polls append to this
    # file under the same lock and must not wait for a whole rewrite.
    with hold(spool_lock_path(settings.data_dir), timeout=settings.timeout_sec, what="the spool"):
        try:
            now = path.stat()
            if (now.st_ino, now.st_dev) != (identity.st_ino, identity.st_dev) or (
                now.st_size < read_up_to
            ):
                # Replaced or truncated meanwhile (another prune): start from what is there.
                data = path.read_bytes()
                lines, tail = _split_lines(data)
                kept = [line for line in lines if note_kept(line, before_ms)]
                dropped = len(lines) - len(kept)
            else:
                with path.open("rb") as handle:
                    handle.seek(read_up_to)
                    tail = handle.read()  # appended since (and any torn remainder)
            with temp.open("wb") as handle:
                handle.write(b"".join(kept) + tail)
                handle.flush()
                os.fsync(handle.fileno())
            temp.replace(path)
            directory = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise StorageError(f"cannot rewrite {path}: {exc.strerror or exc}") from exc
    return dropped, len(kept)


def _trim_cache(settings: Settings, before_ms: int, result: PruneResult) -> None:
    """Delete cache samples older than ``before_ms`` (dry run: count them)."""
    from luxlog.cache import Cache  # sqlite3 only when pruning actually runs
    from luxlog.dayfigures import forget_before
    from luxlog.flush import check_before_writing

    path = settings.cache_path
    if not path.is_file():  # never create a cache just to find it empty
        return
    if result.dry_run:
        with Cache.open(path, readonly=True, busy_timeout_sec=settings.timeout_sec) as cache:
            result.cache_samples = cache.count(None, before_ms)
            total = cache.count()
            result.cache_bytes_before = cache.size_bytes
            # An estimate (samples compress alike): a dry run cannot measure what the
            # deletion and the page reclaim would free without doing them.
            freed = result.cache_bytes_before * result.cache_samples // total if total else 0
            result.cache_bytes_after = result.cache_bytes_before - freed
        return
    with (
        hold(cache_lock_path(settings.data_dir), timeout=settings.timeout_sec, what="the cache"),
        Cache.open(path, busy_timeout_sec=settings.timeout_sec) as cache,
    ):
        # Deleting from a damaged file would only spread the damage; restore first.
        check_before_writing(cache)
        result.cache_bytes_before = cache.size_bytes
        # On its own, not inside atomic(): only then does it reclaim the freed pages.
        result.cache_samples = cache.delete_before(before_ms, reclaim=True)
        forget_before(cache, before_ms)  # and the stored figures of the days pruned
        if result.cache_samples:
            cache.checkpoint()  # the file shrinks when the log is copied back
        result.cache_bytes_after = cache.size_bytes


def _trim_backups(settings: Settings, result: PruneResult) -> None:
    """Backups beyond ``backup_keep`` (normally rotated by each backup; this applies a
    lowered setting). Flushed segments are never pruned: each is the only copy of its
    samples outside the cache until a backup covers it."""
    from luxlog import backup

    try:
        result.backups_removed = backup.rotate(settings, dry_run=result.dry_run)
    except LuxlogError as exc:
        result.problems.append(str(exc))
        log.error("%s", exc)
        return
    for path in result.backups_removed:
        log.info("%s old backup %s", "would delete" if result.dry_run else "deleted", path)
    kept = backup.retained_segments(settings)
    if len(kept) > 2 * 24 * 12:  # two days of 5-minute flushes: no backup for that long
        log.warning(
            "%d flushed spool segments wait in %s for a backup; is `luxlog rollup due` "
            "scheduled (it takes the daily backup)?",
            len(kept),
            backup.retained_dir(settings),
        )


def apply(settings: Settings, decided: Plan, *, dry_run: bool = False) -> PruneResult:
    """Carry out ``decided``: roll-ups first (frees the most, needs no lock), then the
    failure notes, then the cache. A problem in one output dir never stops the others;
    problems are collected in the result (``LuxlogError``s from the cache propagate).
    """
    result = PruneResult(dry_run=dry_run, plan=decided)
    for entry in decided.dirs:
        outcome = _prune_dir(entry, decided.keep_csv_from, dry_run=dry_run)
        result.dirs.append(outcome)
        result.problems.extend(outcome.problems)
    try:
        result.failures_dropped, result.failures_kept = _trim_failures(
            settings, decided.failures_before_ms, dry_run=dry_run
        )
    except LuxlogError as exc:
        result.problems.append(str(exc))
        log.error("%s", exc)
    else:
        if result.failures_dropped or result.failures_kept:
            log.info(
                "failed-poll notes: %s %d dated before %s, %d kept",
                "would drop" if dry_run else "dropped",
                result.failures_dropped,
                format_timestamp(decided.failures_before_ms),
                result.failures_kept,
            )
    _trim_backups(settings, result)
    _trim_cache(settings, decided.cache_before_ms, result)
    if result.cache_samples is None:
        log.info("cache %s does not exist yet: nothing to trim", settings.cache_path)
    else:
        log.info(
            "cache %s: %s %d sample(s) dated before %s; %d bytes before, %s%d after",
            settings.cache_path,
            "would drop" if dry_run else "dropped",
            result.cache_samples,
            format_timestamp(decided.cache_before_ms),
            result.cache_bytes_before,
            "about " if dry_run else "",
            result.cache_bytes_after,
        )
    return result


def prune(settings: Settings, *, now_ms: int, dry_run: bool = False) -> PruneResult:
    """Plan and apply retention for every output dir, the failure notes and the cache."""
    listings = [scan(directory) for directory in settings.output_dirs]
    return apply(settings, plan(settings, listings, now_ms=now_ms), dry_run=dry_run)
