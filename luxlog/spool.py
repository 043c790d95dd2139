"""The spool: a crash-safe JSON-lines queue between ``poll`` and ``flush``.

Layout of ``spool_dir``::

    current.jsonl            polls append here, one complete line per sample
    segment-<ms>.jsonl       taken by a flush (renamed under the spool lock), then ingested
    segment-<ms>-p<pid>.jsonl  one sample a poll could not append in time (no lock needed:
                             written whole under a temporary name, then renamed)
    quarantine/<name>        lines that are not valid samples, each with its reason

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

What counts as a valid sample (anything else is quarantined with its reason, never raised,
so one poisoned line can never stop the lines after it):

* the line is at most ``MAX_LINE_BYTES`` long (checked before parsing: a line of millions
  of values must not reach the JSON parser or the cache);
* it parses, whatever the parser raises on the way (``RecursionError`` for thousands of
  nested brackets, ``ValueError`` for integers with thousands of digits, ...);
* its vectors hold 32-bit integers, no more than the wire limit
  (``protocol.MAX_VALUES``) and no fewer than the floors ``MIN_CALCULATIONS`` and
  ``MIN_PARAMETERS`` (see ``luxlog.heatpump.protocol``);
* its time is not before ``EARLIEST_MS`` (2000-01-01) and not more than
  ``FUTURE_TOLERANCE_MS`` ahead of the flush's clock.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from luxlog.clock import now_ms as now_ms_clock
from luxlog.durable import fsync_path
from luxlog.errors import StorageError
from luxlog.heatpump.protocol import MAX_VALUES, MIN_CALCULATIONS, MIN_PARAMETERS
from luxlog.sample import Sample

# typing itself is not imported at run time: it costs ~3 ms of every cron poll.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO, TextIO

FORMAT_VERSION = 1
CURRENT_NAME = "current.jsonl"
SEGMENT_PREFIX = "segment-"
QUARANTINE_DIR = "quarantine"

# No Luxtronik 2 existed before 2000; a time before it is a broken clock or a forged line,
# and far-past times overflow the date arithmetic of roll-ups and status.
EARLIEST_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
# A sample stamped ahead of the clock that reads the spool is a clock that jumped back
# (or forward, then back); a few minutes absorb NTP steps between poller and flusher.
FUTURE_TOLERANCE_MS = 5 * 60_000
# Longest line a valid sample can have: 2 x MAX_VALUES values of at most 11 characters
# ("-2147483648") plus a comma each, and room for the rest of the record. A real line is
# ~10 kB, so this rejects absurd lines long before memory is at risk.
MAX_LINE_BYTES = 2 * MAX_VALUES * 12 + 4096
_FIRST_MS = -62_135_596_800_000  # 0001-01-01T00:00:00.000Z
_LAST_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
REPORTED_BAD_LINES = 100  # per segment, in SegmentRead.bad_lines (and log warnings)
MAX_HOST_CHARS = 300  # a DNS name is at most 253 characters, plus ":port"
# How much of an over-long line the quarantine keeps: enough to see what it was.
_KEPT_PREFIX_BYTES = 4096


class BadLine(ValueError):
    """A spool line that is not a valid sample (torn, truncated or foreign)."""


def format_timestamp(timestamp_ms: int) -> str:
    """UTC ISO 8601 with milliseconds and a ``Z``: readable and sortable."""
    moment = datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC)
    # The year by hand: strftime's %Y drops leading zeros on glibc (year 1 -> "1").
    return (
        f"{moment.year:04d}" + moment.strftime("-%m-%dT%H:%M:%S.") + f"{timestamp_ms % 1000:03d}Z"
    )


def parse_timestamp(text: str) -> int:
    """Inverse of :func:`format_timestamp` (also accepts offsets other than ``Z``)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp without a UTC offset: {text!r}")
    result = round(moment.timestamp() * 1000)
    # An offset can move a time past year 1 or 9999 in UTC, which no date can show.
    if not _FIRST_MS <= result <= _LAST_MS:
        raise ValueError(f"timestamp outside the years 1..9999 in UTC: {text!r}")
    return result


# encode_line writes "v" then "t" first, so a line's time is in its first 80 bytes.
_LINE_TIME = re.compile(rb'\{"v":%d,"t":"([^"]{10,40})"' % FORMAT_VERSION)


def peek_time(data: bytes, start: int = 0) -> int | None:
    """The ``t`` of the spool line starting at ``data[start]``, from its first bytes only.

    For readers that count and date lines without decoding samples (``status`` scans
    megabytes of spool every few seconds); None for a torn or foreign line.
    """
    return matched_time(_LINE_TIME.match(data, start, start + 80))


def matched_time(match: re.Match[bytes] | None) -> int | None:
    """The timestamp a ``"t":"..."`` pattern captured as its group 1, or None."""
    if match is None:
        return None
    try:
        return parse_timestamp(match[1].decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        return None


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
    if not isinstance(values, list):
        raise BadLine(f"'{key}' is not a list of 32-bit integers")
    if len(values) > MAX_VALUES:
        raise BadLine(f"'{key}' has {len(values)} values, more than the wire limit {MAX_VALUES}")
    # C-level checks (a set of types, min and max) instead of a generator over ~1,300
    # values: this runs for every line a flush reads.
    if values and (
        set(map(type, values)) != {int} or min(values) < -(2**31) or max(values) >= 2**31
    ):
        raise BadLine(f"'{key}' is not a list of 32-bit integers")
    return tuple(values)


def decode_line(line: bytes) -> Sample:
    """Parse one complete spool line (without or with its newline); raise ``BadLine``.

    This checks the format only; :func:`check_plausible` judges the content.
    """
    if len(line) > MAX_LINE_BYTES + 1:
        raise BadLine(f"line of {len(line)} bytes, longer than any valid sample")
    try:
        record = json.loads(line)
    except Exception as exc:
        # RecursionError (deep nesting), ValueError (huge integers), MemoryError, ...
        raise BadLine(f"not JSON ({exc.__class__.__name__})") from None
    if not isinstance(record, dict):
        raise BadLine("not a JSON object")
    if record.get("v") != FORMAT_VERSION:
        raise BadLine(f"unknown format version {record.get('v')!r}")
    host = record.get("host")
    stamp = record.get("t")
    if not isinstance(host, str) or not isinstance(stamp, str):
        raise BadLine("'host' or 't' missing")
    # The host goes into SQLite and CSVs: a lone surrogate cannot be encoded there, and
    # a control character would break a CSV row; a real "host:port" is short and plain.
    if len(host) > MAX_HOST_CHARS or not host.isprintable():
        raise BadLine(f"'host' is not a host:port ({host[:40]!r})")
    try:
        timestamp_ms = parse_timestamp(stamp[:40])
    except (ValueError, OverflowError):
        raise BadLine(f"bad timestamp {stamp[:40]!r}") from None
    return Sample(
        timestamp_ms=timestamp_ms,
        host=host,
        calculations=_int_vector(record, "calc"),
        parameters=_int_vector(record, "param"),
    )


def check_plausible(sample: Sample, *, now_ms: int) -> None:
    """Raise ``BadLine`` unless ``sample`` could have come from a real poll by ``now_ms``.

    The floors reject a reply that a misbehaving controller cut short (such a sample
    looks valid but has no firmware string and misleads every statistic); the time range
    keeps a broken clock from hiding a dead heat pump or breaking date arithmetic.
    """
    if len(sample.calculations) < MIN_CALCULATIONS:
        raise BadLine(
            f"only {len(sample.calculations)} calculations, fewer than any real controller "
            f"sends (at least {MIN_CALCULATIONS})"
        )
    if len(sample.parameters) < MIN_PARAMETERS:
        raise BadLine(
            f"only {len(sample.parameters)} parameters, fewer than any real controller "
            f"sends (at least {MIN_PARAMETERS})"
        )
    if sample.timestamp_ms < EARLIEST_MS:
        raise BadLine(f"dated {format_timestamp(sample.timestamp_ms)}, before 2000")
    if sample.timestamp_ms > now_ms + FUTURE_TOLERANCE_MS:
        raise BadLine(
            f"dated {format_timestamp(sample.timestamp_ms)}, more than "
            f"{FUTURE_TOLERANCE_MS // 60_000} minutes ahead of the clock "
            f"({format_timestamp(now_ms)})"
        )


def _lines(handle: BinaryIO) -> Iterator[tuple[bytes, int]]:
    """(line, full length) pairs; a line over ``MAX_LINE_BYTES`` is cut to a prefix.

    ``readline`` with a limit keeps memory bounded whatever a file holds: the rest of an
    over-long line is skipped in blocks, only its length is counted.
    """
    while raw := handle.readline(MAX_LINE_BYTES + 1):
        length = len(raw)
        if length > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            prefix = raw[:_KEPT_PREFIX_BYTES]
            while block := handle.readline(1 << 16):
                length += len(block)
                if block.endswith(b"\n"):
                    break
            yield prefix, length
            continue
        yield raw, length


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
        fsync_path(path.parent)


@dataclass
class SegmentRead:
    """What reading one segment found: good samples are yielded, bad lines are counted."""

    path: Path
    samples: int = 0
    # (line number, reason) of the first ``REPORTED_BAD_LINES``; ``bad_count`` counts all,
    # so a segment of millions of junk lines costs no memory (the quarantine has them).
    bad_lines: list[tuple[int, str]] = field(default_factory=list)
    bad_count: int = 0


def quarantine_reason(record: bytes) -> str | None:
    """The reason of one quarantine record (a line of a quarantine file); None if none."""
    try:
        found = json.loads(record).get("reason")
    except (ValueError, AttributeError, RecursionError):
        return None
    return found if isinstance(found, str) else None


class _QuarantineFile:
    """The quarantine file of one segment, written as bad lines come (bounded memory).

    Records go to a temporary file that replaces the target only when the whole segment
    was read, so a crash mid-read leaves the previous version (or none), never half.
    """

    def __init__(self, target: Path) -> None:
        self.target = target
        self.temp = target.with_suffix(".tmp")
        self.handle: TextIO | None = None

    def add(self, record: dict[str, object]) -> None:
        try:
            if self.handle is None:
                self.target.parent.mkdir(parents=True, exist_ok=True)
                self.handle = self.temp.open("w", encoding="utf-8")
            self.handle.write(json.dumps(record) + "\n")
        except OSError as exc:
            raise StorageError(
                f"cannot write quarantine file {self.target}: {exc.strerror}"
            ) from exc

    def __enter__(self) -> _QuarantineFile:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        handle, self.handle = self.handle, None
        if handle is None:
            return
        try:
            if kind is not None:  # the read failed or was abandoned: no half file
                handle.close()
                self.temp.unlink(missing_ok=True)
                return
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
            self.temp.replace(self.target)
            fsync_path(self.target.parent)
        except OSError as exc:
            raise StorageError(
                f"cannot write quarantine file {self.target}: {exc.strerror}"
            ) from exc


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

    def append_alone(self, sample: Sample) -> Path:
        """Write ``sample`` as a one-line segment of its own, without the spool lock.

        For a poll that holds a sample but cannot get the lock in time: the file is
        written under a name flushes ignore, fsynced, then renamed into a segment name,
        so a flush sees it whole or not at all. Returns the segment's path.
        """
        stamp = now_ms_clock()
        name = f"{SEGMENT_PREFIX}{stamp:015d}-p{os.getpid()}"
        temp = self.directory / f".{name}.tmp"
        target = self.directory / f"{name}.jsonl"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with temp.open("wb") as handle:
                handle.write(encode_line(sample))
                handle.flush()
                os.fsync(handle.fileno())
            temp.replace(target)
            fsync_path(self.directory)
        except OSError as exc:
            with contextlib.suppress(OSError):
                temp.unlink(missing_ok=True)
            raise StorageError(f"cannot write spool file {target}: {exc.strerror}") from exc
        return target

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
            stamp = now_ms_clock()
            target = self.directory / f"{SEGMENT_PREFIX}{stamp:015d}.jsonl"
            while target.exists():  # two flushes in the same millisecond
                stamp += 1
                target = self.directory / f"{SEGMENT_PREFIX}{stamp:015d}.jsonl"
            try:
                current.rename(target)
                fsync_path(self.directory)
            except OSError as exc:
                raise StorageError(f"cannot rotate spool file {current}: {exc.strerror}") from exc
        return self.segments()

    def read(
        self, segment: Path, report: SegmentRead | None = None, *, now_ms: int | None = None
    ) -> Iterator[Sample]:
        """Yield the valid samples of ``segment``, one line at a time (bounded memory).

        Bad lines (see the module docstring), including a torn last line, are copied to
        the quarantine and listed in ``report``; nothing a line contains makes this
        raise. ``now_ms`` is the clock that samples may not be ahead of (default: the
        wall clock now). The quarantine file is named after the segment and rewritten
        whole, so reading the same segment twice (after a crash) does not duplicate it.
        """
        report = report if report is not None else SegmentRead(segment)
        now_ms = now_ms_clock() if now_ms is None else now_ms
        quarantine = _QuarantineFile(self.quarantine_dir / segment.name)
        try:
            with segment.open("rb") as handle, quarantine:
                for number, (raw, length) in enumerate(_lines(handle), start=1):
                    reason = None
                    if length > MAX_LINE_BYTES:
                        reason = (
                            f"line of {length} bytes, longer than any valid sample "
                            f"(kept its first {len(raw)} bytes)"
                        )
                    elif not raw.endswith(b"\n"):
                        reason = "torn line (no newline at end of file)"
                    elif raw.strip() == b"":
                        continue  # the separator a writer adds after a torn tail
                    else:
                        try:
                            sample = decode_line(raw)
                            check_plausible(sample, now_ms=now_ms)
                        except BadLine as exc:
                            reason = str(exc)
                    if reason is not None:
                        report.bad_count += 1
                        if len(report.bad_lines) < REPORTED_BAD_LINES:
                            report.bad_lines.append((number, reason))
                        quarantine.add(
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

    def remove(self, segment: Path) -> None:
        """Delete a segment once the cache has committed its samples."""
        try:
            segment.unlink(missing_ok=True)
            fsync_path(self.directory)
        except OSError as exc:
            raise StorageError(f"cannot delete spool segment {segment}: {exc.strerror}") from exc
