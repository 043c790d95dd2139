"""Reading the cache: samples, projected columns, frames, counts and checks.

A projected query decodes only the registers asked for (:class:`Registers`); the rest
read as :data:`UNREAD`, absurd on purpose.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Sequence
from contextlib import suppress
from itertools import repeat

import luxlog.cache.codec as codec
from luxlog.cache.connection import CacheConnection
from luxlog.cache.records import (
    _CHUNK_COLUMNS,
    _NO_END,
    _NO_START,
    UNREAD,
    CacheStats,
    Frame,
    Registers,
    _Chunk,
    sqlite_problems,
)
from luxlog.cache.schema import current_version
from luxlog.errors import StorageError
from luxlog.sample import Sample


def _hours(chunks: list[_Chunk]) -> Iterator[tuple[int, int]]:
    """``(start, end)`` slices of ``chunks`` (in time order) that share a clock hour.

    An hour is one chunk, rarely more (a host or firmware change within it); readers
    merge those by timestamp. Different hours never overlap.
    """
    index = 0
    while index < len(chunks):
        end = index + 1
        bucket = codec.bucket_of(chunks[index].first_ms)
        while end < len(chunks) and codec.bucket_of(chunks[end].first_ms) == bucket:
            end += 1
        yield index, end
        index = end


def _vectors(
    width: int, at: Sequence[int], columns: Sequence[Sequence[int]], count: int
) -> Iterable[tuple[int, ...]]:
    """``count`` vectors of ``width`` values: ``columns`` at positions ``at``, the rest
    :data:`UNREAD`.

    Why it is shaped like this: building ~1,400-value tuples per sample was most of the
    cost of reading a year for statistics. Columns constant within the chunk (firmware
    version, most parameters, a pump that is off) go into the chunk's blank vector once;
    the moving ones are scattered by ``map`` (C, not a Python loop); and while the
    projected values repeat, the previous tuple is handed out again (tuples are
    immutable, so sharing one is safe).
    """
    blank = [UNREAD] * width
    moving_at: list[int] = []
    moving: list[Sequence[int]] = []
    for index, column in zip(at, columns, strict=True):
        if not column:
            continue  # an empty chunk: there are no vectors to build
        if column.count(column[0]) == len(column):
            blank[index] = column[0]  # constant within the chunk: set once
        else:
            moving_at.append(index)
            moving.append(column)
    if not moving:
        return repeat(tuple(blank), count)
    vectors: list[tuple[int, ...]] = []
    previous: tuple[int, ...] | None = None
    vector: tuple[int, ...] = ()
    for values in zip(*moving, strict=True):
        if values != previous:
            row = blank.copy()
            any(map(row.__setitem__, moving_at, values))  # the scatter, in C
            vector = tuple(row)
            previous = values
        vectors.append(vector)
    return vectors


class CacheReader(CacheConnection):
    """The reading half of :class:`~luxlog.cache.Cache`; changes nothing in the file."""

    def get_state(self, key: str) -> str | None:
        """The value stored under ``key``, or None."""
        with self._guard():
            row = self._connection.execute(
                "SELECT value FROM state WHERE key = ?", (key,)
            ).fetchone()
        return None if row is None else str(row[0])

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
        calculations, parameters = codec.decode_split(row[0], chunk.count, width, reference, n_calc)
        yield from [
            Sample(timestamp_ms, host, calc, param)
            for timestamp_ms, calc, param in zip(
                chunk.timestamps(), calculations, parameters, strict=True
            )
            if start_ms <= timestamp_ms < end_ms
        ]

    def _projected(
        self,
        blob: bytes,
        chunk: _Chunk,
        reference: Sequence[int],
        registers: Registers,
        start_ms: int,
        end_ms: int,
    ) -> Iterator[Sample]:
        """The chunk's samples with only ``registers`` decoded (see :class:`Registers`).

        Per sample this is the hot loop of every statistic over a year (~1 million
        samples), so the work is arranged to stay in C (:func:`_vectors`).
        """
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
        host = self._host(chunk.host_id)
        calc_vectors = _vectors(n_calc, calc_at, columns[: len(calc_at)], chunk.count)
        param_vectors = _vectors(n_param, param_at, columns[len(calc_at) :], chunk.count)
        # A list comprehension, not a generator: one frame switch less per sample.
        return iter(
            [
                Sample(timestamp_ms, host, calculations, parameters)
                for timestamp_ms, calculations, parameters in zip(
                    chunk.timestamps(), calc_vectors, param_vectors, strict=True
                )
                if start_ms <= timestamp_ms < end_ms
            ]
        )

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
        for index, end in _hours(chunks):
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

    def frames(self, start_ms: int, end_ms: int) -> Iterator[Frame]:
        """Samples with ``start_ms <= timestamp_ms < end_ms`` as column-wise frames, in
        time order, streamed like :meth:`query` (one hour in memory).

        Exports format a value that does not change within a frame once; building a
        tuple of ~1,300 values per sample would cost more than the export itself.
        """
        with self._guard():
            chunks = self._chunks(start_ms, end_ms)
        for index, end in _hours(chunks):
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
