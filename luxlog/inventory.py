"""Finding the newest sample wherever it currently is: spool first, then the cache.

Used by commands that show "latest value" (``sensors``); reads only, takes no lock.
"""

from __future__ import annotations

import os
from pathlib import Path

from luxlog.config import Settings
from luxlog.sample import Sample
from luxlog.spool import BadLine, Spool, decode_line

_TAIL_BYTES = 256 * 1024  # a sample line is ~10 KB; newer firmware up to ~15 KB


def last_complete_sample(path: Path) -> Sample | None:
    """The last valid line of a spool file, reading only its tail."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(size - _TAIL_BYTES, 0))
            tail = handle.read()
    except OSError:
        return None
    lines = tail.split(b"\n")
    # The part after the last newline is torn or empty; the first part may be cut.
    for line in reversed(lines[1:-1] if size > _TAIL_BYTES else lines[:-1]):
        try:
            return decode_line(line)
        except BadLine:
            continue
    return None


def latest_sample(settings: Settings) -> Sample | None:
    """The newest sample in the spool, else in the cache, else ``None``."""
    spool = Spool(settings.spool_dir)
    for path in [spool.current, *reversed(spool.segments())]:
        found = last_complete_sample(path)
        if found is not None:
            return found
    if not settings.cache_path.exists():
        return None
    from luxlog.cache import Cache

    with Cache.open(settings.cache_path, readonly=True) as cache:
        span = cache.time_range()
        if span is None:
            return None
        return next(iter(cache.query(span[1], span[1] + 1)), None)
