"""Named file locks: the only way luxlog processes coordinate.

Which lock guards what (all files live in ``<data_dir>/locks``):

* ``heatpump-<host>-<port>.lock`` - talking to one controller. Controllers misbehave when
  several clients poll at once, so every luxlog process that opens a connection holds it.
* ``spool.lock`` - appending to ``spool/current.jsonl`` and rotating it into a segment.
  Held for milliseconds, so a poll never waits long behind a flush.
* ``cache.lock`` - writing the SQLite cache and the spool segments it ingests (flush,
  roll-up bookkeeping, prune). Readers (``status``) never take it.
* ``rollup.lock`` - writing one roll-up CSV and its record, so two ``rollup`` runs never
  write the same file at once. Held for one file (seconds); taken before ``cache.lock``,
  never after it.
* ``backup.lock`` - writing, rotating or restoring cache backups and the flushed spool
  segments they cover. A backup reads the cache without ``cache.lock`` (one WAL read
  snapshot), so a flush never waits for it; ``cache restore`` takes both, this one
  second.

The locks are ``flock`` based (via ``filelock``): the kernel drops them when a process
dies, so a SIGKILLed job can never leave a stale lock behind. ``poll`` takes the same
locks with :func:`hold_fast` (``fcntl.flock`` directly, the very call filelock makes on
Linux, so the two exclude each other): importing filelock costs ~18 ms, a fifth of a
whole poll, every 30 s on small machines.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from luxlog.errors import Busy, StorageError

_POLL_SEC = 0.02  # how often a waiting hold_fast retries (filelock: 0.05 s)


def lock_dir(data_dir: Path) -> Path:
    """Where the lock files of one installation live."""
    return data_dir / "locks"


def heatpump_lock_path(data_dir: Path, host: str, port: int) -> Path:
    """Lock file for one controller; the host is sanitised into a file name."""
    safe_host = re.sub(r"[^A-Za-z0-9.-]", "_", host)
    return lock_dir(data_dir) / f"heatpump-{safe_host}-{port}.lock"


def spool_lock_path(data_dir: Path) -> Path:
    """Lock file guarding the active spool file."""
    return lock_dir(data_dir) / "spool.lock"


def cache_lock_path(data_dir: Path) -> Path:
    """Lock file guarding writes to the cache and the ingest of spool segments."""
    return lock_dir(data_dir) / "cache.lock"


def rollup_lock_path(data_dir: Path) -> Path:
    """Lock file guarding the writing of roll-up CSVs and their records in the cache."""
    return lock_dir(data_dir) / "rollup.lock"


def backup_lock_path(data_dir: Path) -> Path:
    """Lock file guarding the backups folder and the flushed segments it covers."""
    return lock_dir(data_dir) / "backup.lock"


@contextmanager
def hold(path: Path, *, timeout: float, what: str) -> Iterator[None]:
    """Hold the lock at ``path`` or raise ``Busy`` after ``timeout`` seconds.

    ``filelock`` is imported here rather than at module level because it costs ~30 ms
    of import time and only the code paths that actually lock should pay for it.
    """
    from filelock import FileLock, Timeout

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create lock directory {path.parent}: {exc.strerror}") from exc
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=max(timeout, 0.0))
    except Timeout:
        raise Busy(
            f"{what} is in use by another luxlog process (waited {timeout:.1f}s for {path})"
        ) from None
    except OSError as exc:
        raise StorageError(f"cannot open lock file {path}: {exc.strerror}") from exc
    try:
        yield
    finally:
        lock.release()


@contextmanager
def hold_fast(path: Path, *, timeout: float, what: str) -> Iterator[None]:
    """:func:`hold` for the poll path: the same lock files, without importing filelock.

    Opens the file as filelock does (create, read-write) and takes an exclusive,
    non-blocking ``flock``, retrying until ``timeout``. Where ``fcntl`` does not exist
    (not a POSIX system), falls back to :func:`hold`.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        with hold(path, timeout=timeout, what=what):
            yield
        return
    import os
    import time

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StorageError(f"cannot open lock file {path}: {exc.strerror}") from exc
    try:
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Busy(
                        f"{what} is in use by another luxlog process "
                        f"(waited {timeout:.1f}s for {path})"
                    ) from None
                time.sleep(min(_POLL_SEC, left))
            except OSError as exc:
                raise StorageError(f"cannot lock {path}: {exc.strerror}") from exc
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
