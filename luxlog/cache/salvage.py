"""Checking a cache file in full, and reading what is still readable in a damaged one.

Both work on a plain read-only SQLite connection rather than through ``Cache``: a
damaged file may fail ``Cache.open`` itself (its schema rows can be the damaged part),
and salvage must survive every single failing read and carry on with the next chunk.

How salvage finds the chunks when the table's b-tree is broken: a chunk's ``id`` is its
rowid, handed out in increasing order (one an hour), and three independent paths lead
to rowids: a forward scan of the table, a backward scan (which starts at the other end,
so it gets past damage at the front), and the covering index ``chunks_by_time`` (a
different b-tree, which stores the rowid of every chunk). Whatever they miss is then
probed one rowid at a time, up to ``_PROBE_BEYOND`` past the highest id seen: a point
lookup only touches the pages on its own path, so it succeeds wherever that path is
intact. Each chunk is then read on its own; the zlib checksums in its blobs tell an
intact chunk from a damaged one, so a chunk is either recovered exactly or reported
lost, never half-read.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from luxlog.cache import codec, sqlite_problems
from luxlog.sample import Sample

# A chunk is one clock hour: even one poll a second is 3,600 samples, and the wire
# client caps a reply at 10,000 values. Anything beyond is damage, not data, and would
# only make a decoder allocate gigabytes.
_MAX_CHUNK_SAMPLES = 100_000
_MAX_WIDTH = 100_000
_PROBE_BEYOND = 4096
_MAX_PROBLEMS = 20

_ROW = "first_ms, last_ms, count, host_id, n_calc, n_param, ref_id, codec, times"
_SKIPPED = (sqlite3.DatabaseError, codec.CodecError, ValueError, TypeError, OverflowError)


def _open(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(
        f"file:{quote(str(path.absolute()))}?mode=ro", uri=True, isolation_level=None
    )


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__


def verify_file(path: Path) -> list[str]:
    """Problems of a cache (or backup) file; empty when every byte that matters checks out.

    SQLite's ``integrity_check`` (pages, b-trees, records, indexes), then every chunk's
    timestamps decoded and its value blob's checksum, header and length checked against
    its row, its host and its reference (``codec.check_values``). About a second for a
    year's cache, where decoding every value would take half a minute.
    """
    try:
        connection = _open(path)
    except sqlite3.Error as exc:
        return [f"cannot open {path}: {_reason(exc)}"]
    problems: list[str] = []
    try:
        problems = sqlite_problems(connection.execute("PRAGMA integrity_check").fetchall())
        if problems:
            return problems[:_MAX_PROBLEMS]
        hosts = {int(row[0]) for row in connection.execute("SELECT id FROM hosts")}
        widths = {
            int(row[0]): len(codec.decode_reference(row[1]))
            for row in connection.execute("SELECT id, data FROM refs")
        }
        for row in connection.execute(f"SELECT id, {_ROW}, data FROM chunks"):
            chunk_id, first_ms, last_ms, count, host_id, n_calc, n_param, ref_id = row[:8]
            try:
                stamps = codec.decode_times(first_ms, count, row[9])
                if stamps[-1] != last_ms:
                    raise codec.CodecError("last timestamp differs from its row")
                if host_id not in hosts or widths.get(ref_id) != n_calc + n_param:
                    raise codec.CodecError("unknown host or reference of the wrong shape")
                codec.check_values(row[10], count, n_calc + n_param)
            except codec.CodecError as exc:
                problems.append(f"chunk {chunk_id}: {exc}")
                if len(problems) >= _MAX_PROBLEMS:
                    break
    except sqlite3.Error as exc:
        problems.append(_reason(exc))
    except codec.CodecError as exc:
        problems.append(f"reference: {exc}")
    finally:
        connection.close()
    return problems


@dataclass
class SalvageReport:
    """What salvaging one file found."""

    path: Path
    chunks: int = 0  # chunk rows whose timestamps could be read
    recovered: int = 0  # of those: decoded, or every sample already held elsewhere
    samples: int = 0  # samples in the chunks handed on
    lost: list[str] = field(default_factory=list)  # "chunk 12: reason"
    state: list[tuple[str, str, int]] = field(default_factory=list)  # readable state rows
    error: str | None = None  # the file as a whole could not be read


def _row_ids(connection: sqlite3.Connection, table: str, index: str | None) -> list[int]:
    """Every rowid of ``table`` that any path still leads to (see the module docstring)."""
    found: set[int] = set()
    queries = [
        f"SELECT rowid FROM {table} NOT INDEXED",
        f"SELECT rowid FROM {table} NOT INDEXED ORDER BY rowid DESC",
    ]
    if index is not None:
        queries.append(f"SELECT rowid FROM {table} INDEXED BY {index}")
    for query in queries:
        try:
            for row in connection.execute(query):
                found.add(int(row[0]))
        except sqlite3.DatabaseError:
            pass  # keep what the scan yielded before the damage
    top = max(found, default=0)
    rowid, misses = 1, 0
    while rowid <= top or misses < _PROBE_BEYOND:
        if rowid not in found:
            try:
                row = connection.execute(
                    f"SELECT rowid FROM {table} NOT INDEXED WHERE rowid = ?", (rowid,)
                ).fetchone()
            except sqlite3.DatabaseError:
                row = None
            if row is not None:
                found.add(rowid)
                misses = 0
            elif rowid > top:
                misses += 1
        rowid += 1
    return sorted(found)


class _Lookups:
    """Hosts and references of the damaged file, each read once (or found unreadable)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection
        self._hosts: dict[int, str] = {}
        self._refs: dict[int, tuple[int, ...]] = {}

    def host(self, host_id: int) -> str:
        if host_id not in self._hosts:
            row = self._connection.execute(
                "SELECT host FROM hosts WHERE id = ?", (host_id,)
            ).fetchone()
            if row is None or not isinstance(row[0], str):
                raise codec.CodecError(f"host {host_id} is unreadable")
            self._hosts[host_id] = row[0]
        return self._hosts[host_id]

    def reference(self, ref_id: int) -> tuple[int, ...]:
        if ref_id not in self._refs:
            row = self._connection.execute(
                "SELECT data FROM refs WHERE id = ?", (ref_id,)
            ).fetchone()
            if row is None or not isinstance(row[0], bytes):
                raise codec.CodecError(f"reference {ref_id} is unreadable")
            self._refs[ref_id] = codec.decode_reference(row[0])
        return self._refs[ref_id]


HeldCheck = Callable[[list[int]], bool]


@dataclass(frozen=True)
class SalvagedChunk:
    """One intact chunk: its encoded blobs (checksums verified) and what decodes them."""

    host: str
    n_calc: int
    n_param: int
    stamps: list[int]
    reference: tuple[int, ...]
    times: bytes
    data: bytes

    def samples(self) -> list[Sample]:
        """Decode the values (the costly part: restore avoids it where it can)."""
        vectors = codec.decode_values(
            self.data, len(self.stamps), self.n_calc + self.n_param, self.reference
        )
        n_calc = self.n_calc
        return [
            Sample(stamp, self.host, vector[:n_calc], vector[n_calc:])
            for stamp, vector in zip(self.stamps, vectors, strict=True)
        ]


def _chunk(
    connection: sqlite3.Connection, chunk_id: int, lookups: _Lookups, held: HeldCheck | None
) -> SalvagedChunk | bool:
    """One intact chunk; True when ``held`` says all its samples are held, False if absent."""
    row = connection.execute(f"SELECT {_ROW} FROM chunks WHERE id = ?", (chunk_id,)).fetchone()
    if row is None:
        return False
    first_ms, last_ms, count, host_id, n_calc, n_param, ref_id, version, times = row
    width = n_calc + n_param
    if not (0 < count <= _MAX_CHUNK_SAMPLES and 0 <= min(n_calc, n_param) <= width <= _MAX_WIDTH):
        raise codec.CodecError(f"implausible row (count {count}, shape {n_calc}+{n_param})")
    if version != codec.CODEC_VERSION:
        raise codec.CodecError(f"unknown codec {version}")
    stamps = codec.decode_times(first_ms, count, times)
    if stamps[-1] != last_ms or codec.bucket_of(first_ms) != codec.bucket_of(last_ms):
        raise codec.CodecError("timestamps disagree with their row")
    if held is not None and held(stamps):
        return True
    host = lookups.host(host_id)
    reference = lookups.reference(ref_id)
    if len(reference) != width:
        raise codec.CodecError("reference of the wrong shape")
    data = connection.execute("SELECT data FROM chunks WHERE id = ?", (chunk_id,)).fetchone()
    if data is None or not isinstance(data[0], bytes):
        raise codec.CodecError("value blob is unreadable")
    codec.check_values(data[0], count, width)
    return SalvagedChunk(host, n_calc, n_param, stamps, reference, times, data[0])


def salvage(
    path: Path, report: SalvageReport, *, held: HeldCheck | None = None
) -> Iterator[SalvagedChunk]:
    """Yield every intact chunk of ``path``, one at a time.

    ``held(timestamps)`` may say that every sample of a chunk is already held elsewhere
    (restore passes "already in the rebuilt cache"): such chunks are counted as
    recovered without decoding their values, which keeps a restore from a recent backup
    fast. Damaged chunks are listed in ``report.lost``; readable ``state`` rows are
    collected in ``report.state`` once the chunks are done.
    """
    try:
        connection = _open(path)
    except sqlite3.Error as exc:
        report.error = _reason(exc)
        return
    try:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    except sqlite3.DatabaseError as exc:
        # The schema itself is unreadable (a destroyed header or first page).
        report.error = _reason(exc)
        connection.close()
        return
    if "chunks" not in tables:
        report.error = "no chunks table (not a luxlog cache, or its schema page is damaged)"
        connection.close()
        return
    try:
        lookups = _Lookups(connection)
        for chunk_id in _row_ids(connection, "chunks", "chunks_by_time"):
            try:
                found = _chunk(connection, chunk_id, lookups, held)
            except _SKIPPED as exc:
                report.chunks += 1
                report.lost.append(f"chunk {chunk_id}: {_reason(exc)}")
                continue
            if found is False:
                continue
            report.chunks += 1
            report.recovered += 1
            if isinstance(found, SalvagedChunk):
                report.samples += len(found.stamps)
                yield found
        for key_id in _row_ids(connection, "state", None) if "state" in tables else []:
            try:
                row = connection.execute(
                    "SELECT key, value, updated_ms FROM state WHERE rowid = ?", (key_id,)
                ).fetchone()
            except sqlite3.DatabaseError:
                continue
            if row is not None and isinstance(row[0], str) and isinstance(row[1], str):
                report.state.append((row[0], row[1], int(row[2] or 0)))
    except sqlite3.DatabaseError as exc:
        # Nothing at all readable (a destroyed header): salvage yields nothing more.
        report.error = _reason(exc)
    finally:
        connection.close()
