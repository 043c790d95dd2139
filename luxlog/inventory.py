"""Finding the newest sample wherever it currently is: spool first, then the cache.

Used by commands that show "latest value" (``sensors``); reads only, takes no lock.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from luxlog.config import Settings
from luxlog.sample import Sample
from luxlog.spool import BadLine, Spool, decode_line

if TYPE_CHECKING:
    from luxlog.heatpump.catalogue import Sensor, Value

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


def sensor_values(settings: Settings) -> tuple[bool, list[tuple[Sensor, Value]]]:
    """Every sensor luxlog logs with its latest value, and whether a sample was found.

    Without a sample the lists are luxtronik's known tables and every value is None, so
    ``sensors`` shows what will be logged before the first poll.
    """
    from luxlog.heatpump import catalogue

    latest = latest_sample(settings)
    calcs = latest.calculations if latest else ()
    params = latest.parameters if latest else ()
    n_calc, n_param = (len(calcs), len(params)) if latest else catalogue.known_lengths()
    entries: list[tuple[Sensor, Value]] = []
    for item in catalogue.sensors(n_calc, n_param):
        raw_vector = calcs if item.kind == "calc" else params
        value = item.convert(raw_vector[item.index]) if latest and item.numeric else None
        entries.append((item, value))
    return latest is not None, entries
