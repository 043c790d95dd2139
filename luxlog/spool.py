"""The spool: a crash-safe JSON-lines queue between ``poll`` and ``flush``.

Layout of ``spool_dir``::

    current.jsonl            polls append here, one complete line per sample
    segment-<ms>.jsonl       taken by a flush (renamed under the spool lock), then ingested
    quarantine/<name>        lines that did not parse, kept for a human to look at

Line format (version 1), one JSON object per line, UTF-8, ``\\n`` terminated::

    {"v":1,"t":"2026-11-26T18:30:00.123Z","host":"192.168.1.50:8889",
     "calc":[0,0,...],"param":[0,500,...]}

Why it is safe to SIGKILL anything at any instant:

* a sample is appended with a single ``write`` followed by ``fsync``, so a line is either
  complete or torn at the very end of the file;
* a writer that finds a torn tail starts its line with ``\\n``, so the torn bytes become a
  line of their own that readers quarantine, instead of swallowing the next sample;
* a flush renames ``current.jsonl`` to a segment under the spool lock, so it only ever
  ingests what was complete when it started while polls keep appending to a new file;
  a segment is deleted only after the cache committed it, and the cache ignores
  samples it already holds, so a crash in between re-ingests without duplicates.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from luxlog.errors import StorageError
from luxlog.sample import Sample

FORMAT_VERSION = 1
CURRENT_NAME = "current.jsonl"
SEGMENT_PREFIX = "segment-"
QUARANTINE_DIR = "quarantine"


class BadLine(ValueError):
    """A spool line that is not a valid sample (torn, truncated or foreign)."""


def format_timestamp(timestamp_ms: int) -> str:
    """UTC ISO 8601 with milliseconds and a ``Z``: readable and sortable."""
    moment = datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{timestamp_ms % 1000:03d}Z"


def parse_timestamp(text: str) -> int:
    """Inverse of :func:`format_timestamp` (also accepts offsets other than ``Z``)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp without a UTC offset: {text!r}")
    return round(moment.timestamp() * 1000)


def encode_line(sample: Sample) -> bytes:
    """One spool line for ``sample``, newline included."""
    record = {
        "v": FORMAT_VERSION,
        "t": format_timestamp(sample.timestamp_ms),
        "host": sample.host,
        "calc": list(sample.calculations),
        "param": list(sample.parameters),
    }
    return json.dumps(record, separators=(",", ":")).encode("utf-8") + b"\n"


def _int_vector(record: dict[str, object], key: str) -> tuple[int, ...]:
    values = record.get(key)
    if not isinstance(values, list) or not all(
        type(v) is int and -(2**31) <= v < 2**31 for v in values
    ):
        raise BadLine(f"'{key}' is not a list of 32-bit integers")
    return tuple(values)


def decode_line(line: bytes) -> Sample:
    """Parse one complete spool line (without or with its newline); raise ``BadLine``."""
    try:
        record = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadLine(f"not JSON ({exc.__class__.__name__})") from None
    if not isinstance(record, dict):
        raise BadLine("not a JSON object")
    if record.get("v") != FORMAT_VERSION:
        raise BadLine(f"unknown format version {record.get('v')!r}")
    host = record.get("host")
    stamp = record.get("t")
    if not isinstance(host, str) or not isinstance(stamp, str):
        raise BadLine("'host' or 't' missing")
    try:
        timestamp_ms = parse_timestamp(stamp)
    except ValueError:
        raise BadLine(f"bad timestamp {stamp!r}") from None
    return Sample(
        timestamp_ms=timestamp_ms,
        host=host,
        calculations=_int_vector(record, "calc"),
        parameters=_int_vector(record, "param"),
    )


def _fsync_dir(directory: Path) -> None:
    """Make a rename or a new file in ``directory`` survive a power cut."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def append_line(path: Path, line: bytes) -> None:
    """Append one complete line with a single write + fsync; see the module docstring.

    The caller holds the spool lock, so no other writer can interleave with us.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StorageError(f"cannot open spool file {path}: {exc.strerror}") from exc
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line  # a crashed writer left a torn tail: start afresh
        written = os.write(fd, line)
        if written != len(line):
            # A short write (disk full) leaves a torn tail that the next writer and the
            # reader handle; report it instead of pretending the sample was stored.
            raise StorageError(f"spool file {path}: short write ({written}/{len(line)} bytes)")
        os.fsync(fd)
    except OSError as exc:
        raise StorageError(f"cannot write spool file {path}: {exc.strerror}") from exc
    finally:
        os.close(fd)
    if size == 0:
        _fsync_dir(path.parent)


@dataclass
class SegmentRead:
    """What reading one segment found: good samples are yielded, bad lines are counted."""

    path: Path
    samples: int = 0
    bad_lines: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)


class Spool:
    """The spool directory of one installation.

    Appending needs the spool lock; ``take`` needs the spool lock for the rename only;
    reading and deleting segments belong to whoever holds the cache lock (the flusher).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @property
    def current(self) -> Path:
        """The file polls append to."""
        return self.directory / CURRENT_NAME

    @property
    def quarantine_dir(self) -> Path:
        """Where unparseable lines are kept aside."""
        return self.directory / QUARANTINE_DIR

    def append(self, sample: Sample) -> None:
        """Append one sample (caller holds the spool lock)."""
        append_line(self.current, encode_line(sample))

    def segments(self) -> list[Path]:
        """Segments waiting to be ingested, oldest first."""
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob(f"{SEGMENT_PREFIX}*.jsonl"))

    def take(self) -> list[Path]:
        """Rotate ``current.jsonl`` into a new segment; return every pending segment.

        Caller holds the spool lock. Segments left by a flush that died are returned too,
        oldest first, so they are ingested before newer data.
        """
        current = self.current
        if current.exists() and current.stat().st_size > 0:
            stamp = time.time_ns() // 1_000_000
            target = self.directory / f"{SEGMENT_PREFIX}{stamp:015d}.jsonl"
            while target.exists():  # two flushes in the same millisecond
                stamp += 1
                target = self.directory / f"{SEGMENT_PREFIX}{stamp:015d}.jsonl"
            try:
                current.rename(target)
                _fsync_dir(self.directory)
            except OSError as exc:
                raise StorageError(f"cannot rotate spool file {current}: {exc.strerror}") from exc
        return self.segments()

    def read(self, segment: Path, report: SegmentRead | None = None) -> Iterator[Sample]:
        """Yield the valid samples of ``segment``, one line at a time (bounded memory).

        Bad lines, including a torn last line, are copied to the quarantine and listed in
        ``report``. The quarantine file is named after the segment and rewritten whole,
        so reading the same segment twice (after a crash) does not duplicate it.
        """
        report = report if report is not None else SegmentRead(segment)
        bad_raw: list[dict[str, object]] = []
        try:
            with segment.open("rb") as handle:
                for number, raw in enumerate(handle, start=1):
                    reason = None
                    if not raw.endswith(b"\n"):
                        reason = "torn line (no newline at end of file)"
                    elif raw.strip() == b"":
                        continue  # the separator a writer adds after a torn tail
                    else:
                        try:
                            sample = decode_line(raw)
                        except BadLine as exc:
                            reason = str(exc)
                    if reason is not None:
                        report.bad_lines.append((number, reason))
                        bad_raw.append(
                            {
                                "segment": segment.name,
                                "line": number,
                                "reason": reason,
                                "raw": raw.rstrip(b"\n").decode("utf-8", "surrogateescape"),
                            }
                        )
                        continue
                    report.samples += 1
                    yield sample
        except OSError as exc:
            raise StorageError(f"cannot read spool segment {segment}: {exc.strerror}") from exc
        if bad_raw:
            self._quarantine(segment.name, bad_raw)

    def _quarantine(self, name: str, records: list[dict[str, object]]) -> None:
        target = self.quarantine_dir / name
        temp = target.with_suffix(".tmp")
        try:
            self.quarantine_dir.mkdir(parents=True, exist_ok=True)
            with temp.open("w", encoding="utf-8") as handle:
                for record in records:
                    handle.write(json.dumps(record) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            temp.replace(target)
            _fsync_dir(self.quarantine_dir)
        except OSError as exc:
            raise StorageError(f"cannot write quarantine file {target}: {exc.strerror}") from exc

    def remove(self, segment: Path) -> None:
        """Delete a segment once the cache has committed its samples."""
        try:
            segment.unlink(missing_ok=True)
            _fsync_dir(self.directory)
        except OSError as exc:
            raise StorageError(f"cannot delete spool segment {segment}: {exc.strerror}") from exc
