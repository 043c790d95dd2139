"""Scanning the spool for ``status``: pending samples, their times, quarantined lines.

Read by line prefix, never parsed in full, and at most a byte budget of it, so a
Docker HEALTHCHECK every few seconds stays cheap next to polls and flushes.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from luxlog.spool import Spool, peek_time, quarantine_reason

_TAIL_BLOCK = 64 * 1024
_QUARANTINE_TAIL_BYTES = 4 * 1024 * 1024


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
        found = peek_time(head, start)
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
        stamp = peek_time(data, start)
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


def _scan_spool(
    spool: Spool, since_ms: int, limit_ms: int | None = None, *, budget: int
) -> _SpoolScan:
    """Pending samples, their age and the timestamps since ``since_ms``, newest file first.

    At most ``budget`` bytes are read; older files are estimated from their size.

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
            reason = quarantine_reason(last)
    return total, reason
