"""The failed-poll notes: one owner for ``spool/poll-failures.jsonl``.

``poll`` appends a note per failed poll, ``status`` reads the last 24 hours of them and
``prune`` drops old ones; all three go through this module, so the line format (one JSON
object per line: ``t``, ``host``, ``error``) is written and parsed in one place.

On the poll path: imports nothing heavier than the spool's timestamp functions.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from luxlog.config import Settings
from luxlog.spool import format_timestamp, matched_time, parse_timestamp

FAILURES_NAME = "poll-failures.jsonl"

_TAIL_BLOCK = 64 * 1024
_NOTE_TIME = re.compile(rb'"t":"([^"]{10,40})"')


def failures_path(settings: Settings) -> Path:
    """Where failed polls are recorded (read by ``status`` to show gaps)."""
    return settings.spool_dir / FAILURES_NAME


def encode_note(*, when_ms: int, host: str, error: str) -> bytes:
    """One note line, newline included: when a poll failed, against what, and why."""
    line = json.dumps(
        {"t": format_timestamp(when_ms), "host": host, "error": error},
        separators=(",", ":"),
    )
    return line.encode("utf-8") + b"\n"


def _note(line: bytes) -> tuple[int, dict[str, object]] | None:
    """(time, record) of a note line; None for a cut, torn or junk line."""
    try:
        record = json.loads(line)
        return parse_timestamp(str(record["t"])), record
    except (ValueError, KeyError, TypeError, RecursionError):  # junk, even deeply nested
        return None


def note_kept(line: bytes, before_ms: int) -> bool:
    """A note is kept when it is dated at or after ``before_ms``.

    Unparseable lines are dropped: nothing can tell their age and ``status`` skips them.
    """
    found = _note(line)
    return found is not None and found[0] >= before_ms


def _note_time(data: bytes) -> int | None:
    """The time of the note starting ``data``, by its first bytes (no JSON parse)."""
    return matched_time(_NOTE_TIME.search(data, 0, 80))


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


def recent_failures(path: Path, since_ms: int) -> tuple[int, int | None, str | None]:
    """(failed polls since ``since_ms``, time and error of the newest note)."""
    try:
        data = _tail_since(path, since_ms)
    except OSError:
        return 0, None, None
    count = 0
    last_ms: int | None = None
    last_error: str | None = None
    for line in data.split(b"\n"):
        found = _note(line)
        if found is None:
            continue  # the cut first line, a torn last line, or junk
        at, record = found
        if at >= since_ms:
            count += 1
        if last_ms is None or at >= last_ms:
            last_ms = at
            error = record.get("error")
            last_error = error if isinstance(error, str) else None
    return count, last_ms, last_error
