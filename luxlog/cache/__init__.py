"""The SQLite cache: every sample ever flushed, compact, lossless and crash-safe.

Storage layout (see ``schema.py`` for the tables and ``codec.py`` for the blobs): samples
are grouped into one row per clock hour (a *chunk*) holding the timestamps and the raw
integers, delta-encoded against a shared reference vector and compressed: 7-12 bytes a
poll in the file (``bench/storage.py``). The newest hour is simply re-encoded whenever
a flush adds to it (the "open chunk"), inside the same transaction, so readers never
see a half-updated hour and a SIGKILL at any instant leaves the previous committed state.

Why SQLite rather than our own files: WAL gives concurrent readers (``status``) while a
flush writes, transactions give all-or-nothing batches, and ``integrity_check`` tells a
corrupt file from a healthy one.

``sqlite3`` is imported lazily (inside functions): ``luxlog poll`` runs every 30 seconds
on small machines and must not pay for it, and importing this package is part of
importing ``luxlog.flush``.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from luxlog.cache import codec
from luxlog.cache.schema import (
    LATEST_VERSION,
    SchemaError,
    check_known,
    current_version,
    initialise_file,
    migrate,
)
from luxlog.errors import Busy, CacheDamaged, LuxlogError, StorageError
from luxlog.sample import Sample

if TYPE_CHECKING:
    import sqlite3

__all__ = ["DEFAULT_BUSY_TIMEOUT_SEC", "UNREAD", "Cache", "CacheStats", "Registers"]

DEFAULT_BUSY_TIMEOUT_SEC = 30.0

# add_many writes what it has gathered once this many samples are pending: ~1,300 Python
# ints a sample is ~50 KB, so this bounds a batch at ~25 MB whatever the input size.
_PENDING_LIMIT = 480

# A key frame is stored as its difference to a reference vector. Temperatures and
# counters always differ (~50-100 columns); when far more differ, the settings or the
# firmware changed and a fresh reference keeps key frames small.
_STALE_REFERENCE_FRACTION = 8

_NO_START = -(2**62)
_NO_END = 2**62

#: What a register that a projected query did not ask for reads as. No controller can
#: send it (wire values are int32), so a reader that forgot to ask for a register gets
#: absurd figures in its tests instead of quietly plausible ones.
UNREAD = -(2**62)


@dataclass(frozen=True, slots=True)
class Registers:
    """The registers a reader needs: a query decodes only these columns.

    Samples keep their full width (so index arithmetic and length checks of a firmware's
    vectors are unchanged); every other position reads :data:`UNREAD`.
    """

    calculations: frozenset[int] = frozenset()
    parameters: frozenset[int] = frozenset()

    @classmethod
    def of(cls, calculations: Iterable[int] = (), parameters: Iterable[int] = ()) -> Registers:
        """From any iterables of indices."""
        return cls(frozenset(calculations), frozenset(parameters))


# What every "damaged cache" message ends with: the user's next step, in one line.
RESTORE_HINT = (
    "nothing more is written into it and the spool keeps every new sample: "
    "run `luxlog cache restore` (see README, When things go wrong)"
)

_CHUNK_COLUMNS = "id, first_ms, last_ms, count, host_id, n_calc, n_param, ref_id, codec, times"


@dataclass(frozen=True)
class CacheStats:
    """Storage figures for ``status`` and the benchmark."""

    samples: int
    chunks: int
    references: int
    size_bytes: int


@dataclass(frozen=True)
class Frame:
    """Samples of one host and vector shape, column-wise (see :meth:`Cache.frames`).

    ``key`` holds every value of the first sample (calculations, then parameters);
    ``changing`` maps the index of each value that changes among these samples to its
    value per sample. Every other value is ``key``'s for all ``timestamps``.
    """

    host: str
    n_calc: int
    timestamps: list[int]
    key: list[int]
    changing: dict[int, list[int]]


@dataclass(frozen=True)
class _Chunk:
    """One ``chunks`` row without its value blob."""

    id: int
    first_ms: int
    last_ms: int
    count: int
    host_id: int
    n_calc: int
    n_param: int
    ref_id: int
    codec: int
    times: bytes

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> _Chunk:
        return cls(*row[:10])

    @property
    def key(self) -> tuple[int, int, int]:
        """Samples that share a chunk share host and vector shape."""
        return (self.host_id, self.n_calc, self.n_param)

    def timestamps(self) -> list[int]:
        return codec.decode_times(self.first_ms, self.count, self.times)


def _translate(path: Path, exc: BaseException, busy_timeout_sec: float) -> LuxlogError:
    """One-line domain error for a failure on the cache file."""
    text = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
    if isinstance(exc, SchemaError):
        return StorageError(f"cache {path}: {text}")
    if isinstance(exc, codec.CodecError):
        return CacheDamaged(f"cache {path} is corrupt: {text}; {RESTORE_HINT}")
    if isinstance(exc, OSError):
        return StorageError(f"cache {path}: {exc.strerror or text}")
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "database is locked" in text:
        return Busy(
            f"cache {path} is locked by another process (waited {busy_timeout_sec:.0f}s): {text}"
        )
    if name.startswith("SQLITE_READONLY"):
        return StorageError(f"cache {path} is not writable: {text}")
    if name == "SQLITE_FULL":
        return StorageError(f"cache {path} cannot grow (disk full?): {text}")
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
        return CacheDamaged(
            f"cache {path} is corrupt or not a luxlog cache: {text}; {RESTORE_HINT}"
        )
    if name.startswith("SQLITE_CANTOPEN"):
        return StorageError(f"cache {path} cannot be opened: {text}")
    if name.startswith("SQLITE_IOERR"):
        return StorageError(f"cache {path}: I/O error (disk full or failing?): {text}")
    return StorageError(f"cache {path}: {text}")


def sqlite_problems(rows: Sequence[Any]) -> list[str]:
    """The rows of ``integrity_check``/``quick_check`` as one problem per line.

    SQLite may pack many problems into one row, separated by newlines and headed by
    ``*** in database main ***``; messages to users must be single lines.
    """
    return [
        line.strip()
        for row in rows
        if row[0] != "ok"
        for line in str(row[0]).splitlines()
        if line.strip() and not line.startswith("***")
    ]


class Cache:
    """An open cache file. Use :meth:`open`; every method may raise ``StorageError``.

    Writers must hold ``locks.cache_lock_path``: SQLite would serialise them anyway,
    but the file lock also covers the spool segments a flush ingests.
    """

    def __init__(
        self,
        connection: sqlite3.Connection,
        path: Path,
        *,
        readonly: bool = False,
        busy_timeout_sec: float = DEFAULT_BUSY_TIMEOUT_SEC,
    ) -> None:
        self._connection = connection
        self.path = path
        self.readonly = readonly
        self._busy_timeout_sec = busy_timeout_sec
        self._in_transaction = False
        # Immutable rows cached by id. Cleared on rollback: an id handed out inside a
        # transaction that did not commit may later name a different row.
        self._references: dict[int, tuple[int, ...]] = {}
        self._hosts: dict[int, str] = {}
        self._host_ids: dict[str, int] = {}

    # -- opening and transactions ---------------------------------------------------

    @classmethod
    @contextmanager
    def open(
        cls,
        path: Path,
        *,
        readonly: bool = False,
        busy_timeout_sec: float = DEFAULT_BUSY_TIMEOUT_SEC,
        immutable: bool = False,
    ) -> Iterator[Cache]:
        """Open (and, when writable, create and migrate) the cache at ``path``.

        Read-only opens never create or change anything, so ``status`` can look at a
        cache while a flush writes to it.
        """
        import sqlite3

        if readonly:
            if not path.is_file():
                raise StorageError(f"cache {path} does not exist (run `luxlog flush` first)")
            target = f"file:{quote(str(path.absolute()))}?mode=ro"
            if immutable:
                # A read-only mount without the WAL's -shm file: SQLite cannot open the
                # file otherwise. Reads then skip locking; see luxlog.web.app.
                target += "&immutable=1"
        else:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StorageError(
                    f"cache {path}: cannot create directory {path.parent}: {exc.strerror}"
                ) from exc
            target = str(path)
        try:
            connection = sqlite3.connect(
                target,
                timeout=busy_timeout_sec,
                isolation_level=None,  # we issue BEGIN IMMEDIATE / COMMIT ourselves
                uri=readonly,
            )
        except sqlite3.Error as exc:
            raise _translate(path, exc, busy_timeout_sec) from exc
        try:
            cache = cls(connection, path, readonly=readonly, busy_timeout_sec=busy_timeout_sec)
            with cache._guard():
                cache._prepare()
            yield cache
        finally:
            connection.close()

    def _prepare(self) -> None:
        connection = self._connection
        if self.readonly:
            version = current_version(connection)
            check_known(version)
            if version == 0:
                raise SchemaError("empty (no flush has written to it yet)")
            if version != LATEST_VERSION:
                raise SchemaError(
                    f"schema version {version} needs an upgrade to {LATEST_VERSION}; "
                    "run `luxlog flush` once"
                )
            return
        migrate_needed = current_version(connection) < LATEST_VERSION
        initialise_file(connection)  # before WAL, or the page size cannot change
        # WAL: readers (status) never block the flush and vice versa.
        connection.execute("PRAGMA journal_mode = WAL").fetchall()
        # FULL, not NORMAL: flush deletes a spool segment right after COMMIT returns, so
        # the commit must be on disk by then, power cut or not.
        connection.execute("PRAGMA synchronous = FULL")
        if migrate_needed:
            migrate(connection)
        check_known(current_version(connection))

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Turn sqlite3/codec/OS failures into one-line ``StorageError`` / ``Busy``."""
        import sqlite3

        try:
            yield
        except (sqlite3.Error, codec.CodecError, SchemaError, OSError) as exc:
            raise _translate(self.path, exc, self._busy_timeout_sec) from exc

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """One ``BEGIN IMMEDIATE`` ... ``COMMIT`` transaction; rolled back on any error.

        Nested use joins the outer transaction (an error anywhere rolls back all of it).
        IMMEDIATE takes the write lock up front, so a transaction never fails half-way
        because another writer got in first.
        """
        if self.readonly:
            raise StorageError(f"cache {self.path} is open read-only")
        if self._in_transaction:
            yield
            return
        with self._guard():
            self._connection.execute("BEGIN IMMEDIATE")
        self._in_transaction = True
        try:
            yield
            with self._guard():
                self._connection.execute("COMMIT")
        except BaseException:
            self._forget()
            if self._connection.in_transaction:
                with suppress(Exception):
                    self._connection.execute("ROLLBACK")
            raise
        finally:
            self._in_transaction = False

    def _forget(self) -> None:
        self._references.clear()
        self._hosts.clear()
        self._host_ids.clear()

    # -- writing -------------------------------------------------------------------

    def add(self, timestamp_ms: int, sample: Sample) -> bool:
        """Store ``sample`` at ``timestamp_ms``; False if that timestamp is already held."""
        if sample.timestamp_ms != timestamp_ms:
            sample = replace(sample, timestamp_ms=timestamp_ms)
        return self.add_many([sample]) == 1

    def add_many(self, samples: Iterable[Sample]) -> int:
        """Store samples in one transaction; return how many were new.

        A sample whose timestamp is already stored (or repeats within ``samples``) is
        ignored: that is what makes re-running a crashed flush harmless. Any order is
        accepted; time-ordered input is the fast case.
        """
        added = 0
        with self.atomic(), self._guard():
            pending: dict[int, list[Sample]] = {}
            size = 0
            for sample in samples:
                pending.setdefault(codec.bucket_of(sample.timestamp_ms), []).append(sample)
                size += 1
                if size >= _PENDING_LIMIT:
                    added += sum(self._merge_bucket(b, s) for b, s in pending.items())
                    pending.clear()
                    size = 0
            added += sum(self._merge_bucket(b, s) for b, s in pending.items())
        return added

    def _merge_bucket(self, bucket_ms: int, samples: list[Sample]) -> int:
        """Merge ``samples`` (all in the chunk hour ``bucket_ms``) into stored chunks."""
        chunks = [
            _Chunk.from_row(row)
            for row in self._connection.execute(
                f"SELECT {_CHUNK_COLUMNS} FROM chunks WHERE bucket_ms = ?", (bucket_ms,)
            )
        ]
        seen: set[int] = set()
        for chunk in chunks:
            seen.update(chunk.timestamps())
        fresh: dict[tuple[int, int, int], list[Sample]] = {}
        for sample in samples:
            if sample.timestamp_ms in seen:
                continue
            seen.add(sample.timestamp_ms)
            key = (
                self._host_id(sample.host),
                len(sample.calculations),
                len(sample.parameters),
            )
            fresh.setdefault(key, []).append(sample)
        added = 0
        for key, group in fresh.items():
            existing = next((chunk for chunk in chunks if chunk.key == key), None)
            if existing is not None:
                group.extend(self._decode(existing))
            group.sort(key=lambda sample: sample.timestamp_ms)
            self._write_chunk(bucket_ms, key, group, existing)
            added += len(group) - (existing.count if existing is not None else 0)
        return added

    def _write_chunk(
        self,
        bucket_ms: int,
        key: tuple[int, int, int],
        samples: list[Sample],
        existing: _Chunk | None,
    ) -> None:
        host_id, n_calc, n_param = key
        rows = [sample.calculations + sample.parameters for sample in samples]
        ref_id, reference = self._reference_for(n_calc, n_param, rows[0])
        times = codec.encode_times([sample.timestamp_ms for sample in samples])
        data = codec.encode_values(rows, reference)
        values = (
            samples[0].timestamp_ms,
            samples[-1].timestamp_ms,
            len(samples),
            ref_id,
            codec.CODEC_VERSION,
            times,
            data,
        )
        if existing is not None:
            self._connection.execute(
                """UPDATE chunks SET first_ms = ?, last_ms = ?, count = ?, ref_id = ?,
                   codec = ?, times = ?, data = ? WHERE id = ?""",
                (*values, existing.id),
            )
        else:
            self._connection.execute(
                """INSERT INTO chunks (bucket_ms, host_id, n_calc, n_param, first_ms,
                   last_ms, count, ref_id, codec, times, data)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (bucket_ms, host_id, n_calc, n_param, *values),
            )

    def _host_id(self, host: str) -> int:
        found = self._host_ids.get(host)
        if found is None:
            self._connection.execute("INSERT OR IGNORE INTO hosts (host) VALUES (?)", (host,))
            row = self._connection.execute(
                "SELECT id FROM hosts WHERE host = ?", (host,)
            ).fetchone()
            found = self._host_ids[host] = int(row[0])
            self._hosts[found] = host
        return found

    def _host(self, host_id: int) -> str:
        found = self._hosts.get(host_id)
        if found is None:
            row = self._connection.execute(
                "SELECT host FROM hosts WHERE id = ?", (host_id,)
            ).fetchone()
            if row is None:
                raise codec.CodecError(f"chunk refers to unknown host {host_id}")
            found = self._hosts[host_id] = str(row[0])
        return found

    def _reference(self, ref_id: int) -> tuple[int, ...]:
        found = self._references.get(ref_id)
        if found is None:
            row = self._connection.execute(
                "SELECT data FROM refs WHERE id = ?", (ref_id,)
            ).fetchone()
            if row is None:
                raise codec.CodecError(f"chunk refers to unknown reference {ref_id}")
            found = self._references[ref_id] = codec.decode_reference(row[0])
        return found

    def _reference_for(
        self, n_calc: int, n_param: int, key_frame: Sequence[int]
    ) -> tuple[int, tuple[int, ...]]:
        """The reference to encode a chunk against; a new one if none fits well.

        References are never deleted: they are few (one per firmware or big settings
        change) and keeping them means an id can never be reused for other content.
        """
        row = self._connection.execute(
            "SELECT max(id) FROM refs WHERE n_calc = ? AND n_param = ?", (n_calc, n_param)
        ).fetchone()
        if row[0] is not None:
            reference = self._reference(int(row[0]))
            limit = len(key_frame) // _STALE_REFERENCE_FRACTION
            if codec.differing(key_frame, reference) <= limit:
                return int(row[0]), reference
        cursor = self._connection.execute(
            "INSERT INTO refs (n_calc, n_param, data) VALUES (?, ?, ?)",
            (n_calc, n_param, codec.encode_reference(key_frame)),
        )
        ref_id = int(cursor.lastrowid or 0)
        self._references[ref_id] = tuple(key_frame)
        return ref_id, self._references[ref_id]

    def add_encoded(
        self,
        host: str,
        n_calc: int,
        n_param: int,
        stamps: Sequence[int],
        reference: tuple[int, ...],
        times: bytes,
        data: bytes,
    ) -> bool:
        """Insert a chunk as encoded elsewhere (restore) if its hour holds nothing yet.

        Returns False, changing nothing, when the hour already has a chunk: the caller
        then decodes and merges with ``add_many``. Copying the blobs as they are is what
        lets a restore salvage a year in seconds instead of decoding and re-encoding
        every value; the caller has verified them (``codec.check_values``).
        """
        bucket_ms = codec.bucket_of(stamps[0])
        with self.atomic(), self._guard():
            taken = self._connection.execute(
                "SELECT 1 FROM chunks WHERE bucket_ms = ? LIMIT 1", (bucket_ms,)
            ).fetchone()
            if taken is not None:
                return False
            ref_id = self._reference_id(n_calc, n_param, reference)
            self._connection.execute(
                """INSERT INTO chunks (bucket_ms, host_id, n_calc, n_param, first_ms,
                   last_ms, count, ref_id, codec, times, data)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    bucket_ms,
                    self._host_id(host),
                    n_calc,
                    n_param,
                    stamps[0],
                    stamps[-1],
                    len(stamps),
                    ref_id,
                    codec.CODEC_VERSION,
                    times,
                    data,
                ),
            )
        return True

    def _reference_id(self, n_calc: int, n_param: int, reference: tuple[int, ...]) -> int:
        """The id of a stored reference equal to ``reference``, stored now if none is."""
        for row in self._connection.execute(
            "SELECT id FROM refs WHERE n_calc = ? AND n_param = ? ORDER BY id DESC",
            (n_calc, n_param),
        ).fetchall():
            if self._reference(int(row[0])) == reference:
                return int(row[0])
        cursor = self._connection.execute(
            "INSERT INTO refs (n_calc, n_param, data) VALUES (?, ?, ?)",
            (n_calc, n_param, codec.encode_reference(reference)),
        )
        ref_id = int(cursor.lastrowid or 0)
        self._references[ref_id] = reference
        return ref_id

    def delete_before(self, timestamp_ms: int, *, reclaim: bool = True) -> int:
        """Drop samples older than ``timestamp_ms``; return how many were dropped.

        Whole chunks are deleted; only the one hour that straddles the cut is
        re-encoded. With ``reclaim`` the freed pages are handed back to the file system
        (incremental vacuum: moves only as many pages as were freed, never the file).
        """
        with self.atomic(), self._guard():
            connection = self._connection
            row = connection.execute(
                """SELECT coalesce(sum(count), 0) FROM chunks
                   WHERE bucket_ms <= ? AND last_ms < ?""",
                (timestamp_ms, timestamp_ms),
            ).fetchone()
            dropped = int(row[0])
            connection.execute(
                "DELETE FROM chunks WHERE bucket_ms <= ? AND last_ms < ?",
                (timestamp_ms, timestamp_ms),
            )
            straddling = [
                _Chunk.from_row(row)
                for row in connection.execute(
                    f"""SELECT {_CHUNK_COLUMNS} FROM chunks
                        WHERE bucket_ms <= ? AND first_ms < ? AND last_ms >= ?""",
                    (timestamp_ms, timestamp_ms, timestamp_ms),
                ).fetchall()
            ]
            for chunk in straddling:
                kept = [s for s in self._decode(chunk) if s.timestamp_ms >= timestamp_ms]
                dropped += chunk.count - len(kept)
                bucket_ms = codec.bucket_of(kept[0].timestamp_ms)
                self._write_chunk(bucket_ms, chunk.key, kept, chunk)
        if reclaim and dropped and not self._in_transaction:
            self.reclaim_space()
        return dropped

    def reclaim_space(self) -> None:
        """Hand free pages back to the file system (moves only as many pages as are free).

        ``executescript`` because it steps the pragma to completion: ``execute`` steps
        it once, which frees a single page.
        """
        if self.readonly:
            raise StorageError(f"cache {self.path} is open read-only")
        if self._in_transaction:
            raise RuntimeError("reclaim_space() cannot run inside atomic()")
        with self._guard():
            self._connection.executescript("PRAGMA incremental_vacuum;")

    def set_state(self, key: str, value: str) -> None:
        """Remember ``value`` under ``key`` (roll-up bookkeeping and the like)."""
        with self.atomic(), self._guard():
            self._connection.execute(
                """INSERT INTO state (key, value, updated_ms) VALUES (?, ?, ?)
                   ON CONFLICT (key) DO UPDATE SET value = excluded.value,
                   updated_ms = excluded.updated_ms""",
                (key, value, time.time_ns() // 1_000_000),
            )

    def merge_state(self, rows: Iterable[tuple[str, str, int]]) -> None:
        """Take ``(key, value, updated_ms)`` rows where they are newer than ours (restore)."""
        with self.atomic(), self._guard():
            self._connection.executemany(
                """INSERT INTO state (key, value, updated_ms) VALUES (?, ?, ?)
                   ON CONFLICT (key) DO UPDATE SET value = excluded.value,
                   updated_ms = excluded.updated_ms
                   WHERE excluded.updated_ms > state.updated_ms""",
                list(rows),
            )

    def get_state(self, key: str) -> str | None:
        """The value stored under ``key``, or None."""
        with self._guard():
            row = self._connection.execute(
                "SELECT value FROM state WHERE key = ?", (key,)
            ).fetchone()
        return None if row is None else str(row[0])

    def checkpoint(self) -> None:
        """Copy the write-ahead log into the database file and truncate the log."""
        with self._guard():
            self._connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def vacuum(self) -> None:
        """Rewrite the file compactly (the benchmark's size figure; slow on big files)."""
        if self.readonly:
            raise StorageError(f"cache {self.path} is open read-only")
        with self._guard():
            self._connection.execute("VACUUM")
        self.checkpoint()

    # -- reading -------------------------------------------------------------------

    def _decode(self, chunk: _Chunk, registers: Registers | None = None) -> list[Sample]:
        """Every sample of ``chunk`` (reads its value blob)."""
        return list(self._samples(chunk, _NO_START, _NO_END, registers))

    def _samples(
        self, chunk: _Chunk, start_ms: int, end_ms: int, registers: Registers | None = None
    ) -> Iterator[Sample]:
        row = self._connection.execute(
            "SELECT data FROM chunks WHERE id = ?", (chunk.id,)
        ).fetchone()
        if row is None:  # pruned by another process between our two reads
            return
        if chunk.codec != codec.CODEC_VERSION:
            raise codec.CodecError(f"chunk {chunk.id} uses unknown codec {chunk.codec}")
        n_calc = chunk.n_calc
        width = n_calc + chunk.n_param
        host = self._host(chunk.host_id)
        reference = self._reference(chunk.ref_id)
        if len(reference) != width:
            raise codec.CodecError(f"chunk {chunk.id} and its reference differ in shape")
        if registers is not None:
            yield from self._projected(row[0], chunk, reference, registers, start_ms, end_ms)
            return
        values = codec.decode_values(row[0], chunk.count, width, reference)
        for timestamp_ms, vector in zip(chunk.timestamps(), values, strict=True):
            if start_ms <= timestamp_ms < end_ms:
                yield Sample(timestamp_ms, host, vector[:n_calc], vector[n_calc:])

    def _projected(
        self,
        blob: bytes,
        chunk: _Chunk,
        reference: Sequence[int],
        registers: Registers,
        start_ms: int,
        end_ms: int,
    ) -> Iterator[Sample]:
        """The chunk's samples with only ``registers`` decoded (see :class:`Registers`)."""
        n_calc, n_param = chunk.n_calc, chunk.n_param
        calc_at = sorted(i for i in registers.calculations if 0 <= i < n_calc)
        param_at = sorted(i for i in registers.parameters if 0 <= i < n_param)
        columns = codec.decode_columns(
            blob,
            chunk.count,
            n_calc + n_param,
            reference,
            [*calc_at, *(n_calc + i for i in param_at)],
        )
        calc_columns = list(zip(calc_at, columns[: len(calc_at)], strict=True))
        param_columns = list(zip(param_at, columns[len(calc_at) :], strict=True))
        blank_calc, blank_param = [UNREAD] * n_calc, [UNREAD] * n_param
        host = self._host(chunk.host_id)
        for position, timestamp_ms in enumerate(chunk.timestamps()):
            if not start_ms <= timestamp_ms < end_ms:
                continue
            calculations, parameters = blank_calc.copy(), blank_param.copy()
            for index, column in calc_columns:
                calculations[index] = column[position]
            for index, column in param_columns:
                parameters[index] = column[position]
            yield Sample(timestamp_ms, host, tuple(calculations), tuple(parameters))

    def _chunks(self, start_ms: int, end_ms: int) -> list[_Chunk]:
        """Chunks that may hold samples in ``[start_ms, end_ms)``, in time order."""
        return [
            _Chunk.from_row(row)
            for row in self._connection.execute(
                f"""SELECT {_CHUNK_COLUMNS} FROM chunks
                    WHERE bucket_ms >= ? AND bucket_ms < ? AND last_ms >= ? AND first_ms < ?
                    ORDER BY bucket_ms, first_ms""",
                (codec.bucket_of(start_ms), end_ms, start_ms, end_ms),
            ).fetchall()
        ]

    def query(
        self, start_ms: int, end_ms: int, *, registers: Registers | None = None
    ) -> Iterator[Sample]:
        """Samples with ``start_ms <= timestamp_ms < end_ms``, in time order, streamed.

        Memory stays at one hour of samples whatever the window. The chunk list is
        read up front and each hour fetched on demand, so no statement stays open
        between two samples and the caller may write (``set_state``) while iterating.
        With ``registers``, only those are decoded (several times faster for a few).
        """
        with self._guard():
            chunks = self._chunks(start_ms, end_ms)
        return self._stream(chunks, start_ms, end_ms, registers)

    def _stream(
        self,
        chunks: list[_Chunk],
        start_ms: int,
        end_ms: int,
        registers: Registers | None = None,
    ) -> Iterator[Sample]:
        index = 0
        while index < len(chunks):
            # Chunks of one hour (rarely more than one: a host or firmware change) are
            # merged by timestamp; different hours never overlap.
            end = index + 1
            bucket = codec.bucket_of(chunks[index].first_ms)
            while end < len(chunks) and codec.bucket_of(chunks[end].first_ms) == bucket:
                end += 1
            with self._guard():
                if end - index == 1:
                    hour = list(self._samples(chunks[index], start_ms, end_ms, registers))
                else:
                    hour = list(
                        heapq.merge(
                            *(self._decode(chunk, registers) for chunk in chunks[index:end]),
                            key=lambda sample: sample.timestamp_ms,
                        )
                    )
                    hour = [s for s in hour if start_ms <= s.timestamp_ms < end_ms]
            yield from hour
            index = end

    def frames(self, start_ms: int, end_ms: int) -> Iterator[Frame]:
        """Samples with ``start_ms <= timestamp_ms < end_ms`` as column-wise frames, in
        time order, streamed like :meth:`query` (one hour in memory).

        Exports format a value that does not change within a frame once; building a
        tuple of ~1,300 values per sample would cost more than the export itself.
        """
        with self._guard():
            chunks = self._chunks(start_ms, end_ms)
        index = 0
        while index < len(chunks):
            end = index + 1
            bucket = codec.bucket_of(chunks[index].first_ms)
            while end < len(chunks) and codec.bucket_of(chunks[end].first_ms) == bucket:
                end += 1
            with self._guard():
                if end - index == 1:
                    frame = self._frame(chunks[index], start_ms, end_ms)
                    frames = [] if frame is None else [frame]
                else:
                    # Two hosts or shapes in one hour (rare): one frame per sample.
                    hour = [
                        s
                        for s in heapq.merge(
                            *(self._decode(chunk) for chunk in chunks[index:end]),
                            key=lambda sample: sample.timestamp_ms,
                        )
                        if start_ms <= s.timestamp_ms < end_ms
                    ]
                    frames = [
                        Frame(
                            s.host,
                            len(s.calculations),
                            [s.timestamp_ms],
                            [*s.calculations, *s.parameters],
                            {},
                        )
                        for s in hour
                    ]
            yield from frames
            index = end

    def _frame(self, chunk: _Chunk, start_ms: int, end_ms: int) -> Frame | None:
        row = self._connection.execute(
            "SELECT data FROM chunks WHERE id = ?", (chunk.id,)
        ).fetchone()
        if row is None:  # pruned by another process between our two reads
            return None
        if chunk.codec != codec.CODEC_VERSION:
            raise codec.CodecError(f"chunk {chunk.id} uses unknown codec {chunk.codec}")
        width = chunk.n_calc + chunk.n_param
        reference = self._reference(chunk.ref_id)
        if len(reference) != width:
            raise codec.CodecError(f"chunk {chunk.id} and its reference differ in shape")
        key, changing = codec.decode_frame(row[0], chunk.count, width, reference)
        stamps = chunk.timestamps()
        first = 0
        while first < len(stamps) and stamps[first] < start_ms:
            first += 1
        last = len(stamps)
        while last > first and stamps[last - 1] >= end_ms:
            last -= 1
        if first == last:
            return None
        if first or last < len(stamps):
            # Cut to the window; the key frame becomes the first sample kept.
            changing = {j: values[first:last] for j, values in changing.items()}
            for j, values in changing.items():
                key[j] = values[0]
            stamps = stamps[first:last]
        return Frame(self._host(chunk.host_id), chunk.n_calc, stamps, key, changing)

    def timestamps(self, start_ms: int, end_ms: int) -> list[int]:
        """Timestamps in ``[start_ms, end_ms)``, sorted; never reads the value blobs."""
        with self._guard():
            stamps: list[int] = []
            for chunk in self._chunks(start_ms, end_ms):
                stamps.extend(t for t in chunk.timestamps() if start_ms <= t < end_ms)
        stamps.sort()  # chunks of one hour from different hosts interleave
        return stamps

    def count(self, start_ms: int | None = None, end_ms: int | None = None) -> int:
        """Number of samples, in ``[start_ms, end_ms)`` when given."""
        start = _NO_START if start_ms is None else start_ms
        end = _NO_END if end_ms is None else end_ms
        with self._guard():
            # Chunks wholly inside the window count from the index alone.
            row = self._connection.execute(
                """SELECT coalesce(sum(count), 0) FROM chunks
                   WHERE bucket_ms >= ? AND bucket_ms < ? AND first_ms >= ? AND last_ms < ?""",
                (codec.bucket_of(start), end, start, end),
            ).fetchone()
            total = int(row[0])
            if start_ms is None and end_ms is None:
                return total
            for chunk in self._chunks(start, end):
                if chunk.first_ms < start or chunk.last_ms >= end:
                    total += sum(1 for t in chunk.timestamps() if start <= t < end)
        return total

    def time_range(self) -> tuple[int, int] | None:
        """(first, last) timestamp held, or None when the cache is empty."""
        with self._guard():
            first = self._connection.execute(
                """SELECT min(first_ms) FROM chunks
                   WHERE bucket_ms = (SELECT min(bucket_ms) FROM chunks)"""
            ).fetchone()[0]
            last = self._connection.execute(
                """SELECT max(last_ms) FROM chunks
                   WHERE bucket_ms = (SELECT max(bucket_ms) FROM chunks)"""
            ).fetchone()[0]
        return None if first is None else (int(first), int(last))

    def sensors_present(self) -> tuple[int, int]:
        """Longest calculations and parameters vectors stored: (0, 0) when empty."""
        with self._guard():
            row = self._connection.execute(
                "SELECT coalesce(max(n_calc), 0), coalesce(max(n_param), 0) FROM chunks"
            ).fetchone()
        return int(row[0]), int(row[1])

    def shape(self, start_ms: int, end_ms: int) -> tuple[int, int]:
        """Longest (calculations, parameters) vectors of chunks overlapping the window.

        From the chunk index alone, so a stream's columns are known before it starts.
        """
        with self._guard():
            chunks = self._chunks(start_ms, end_ms)
        return (
            max((c.n_calc for c in chunks), default=0),
            max((c.n_param for c in chunks), default=0),
        )

    def schema_version(self) -> int:
        """Highest migration applied to this file."""
        with self._guard():
            return current_version(self._connection)

    @property
    def size_bytes(self) -> int:
        """Bytes on disk: the database file plus its write-ahead log."""
        total = 0
        for suffix in ("", "-wal"):
            with suppress(FileNotFoundError):
                total += self.path.with_name(self.path.name + suffix).stat().st_size
        return total

    def stats(self) -> CacheStats:
        """Samples, chunks and references held, and the size on disk."""
        with self._guard():
            samples, chunks = self._connection.execute(
                "SELECT coalesce(sum(count), 0), count(*) FROM chunks"
            ).fetchone()
            references = self._connection.execute("SELECT count(*) FROM refs").fetchone()[0]
        return CacheStats(int(samples), int(chunks), int(references), self.size_bytes)

    def integrity_check(self, quick: bool = True) -> list[str]:
        """Problems found (empty list: healthy).

        ``quick`` runs SQLite's ``quick_check`` (seconds even for a year). Without it,
        the full ``integrity_check`` runs and every chunk is decoded and compared with
        its row, which finds corruption that SQLite's page checks cannot see.
        """
        pragma = "quick_check" if quick else "integrity_check"
        with self._guard():
            problems = sqlite_problems(self._connection.execute(f"PRAGMA {pragma}").fetchall())
        if quick or problems:
            return problems
        with self._guard():
            chunks = self._chunks(_NO_START, _NO_END)
        for chunk in chunks:
            try:
                with self._guard():
                    stamps = chunk.timestamps()
                    decoded = sum(1 for _ in self._samples(chunk, _NO_START, _NO_END))
                if decoded != chunk.count or stamps[0] != chunk.first_ms:
                    problems.append(f"chunk {chunk.id}: row and blobs disagree")
            except StorageError as exc:
                problems.append(f"chunk {chunk.id}: {exc}")
        return problems
