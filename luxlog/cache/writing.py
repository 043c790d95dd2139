"""Writing the cache: merging samples into hourly chunks, references, deletion, state.

Every write runs inside :meth:`~luxlog.cache.connection.CacheConnection.atomic`, so a
SIGKILL at any instant leaves the previous committed state.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

import luxlog.cache.codec as codec
from luxlog.cache.reading import CacheReader
from luxlog.cache.records import _CHUNK_COLUMNS, _PENDING_LIMIT, _STALE_REFERENCE_FRACTION, _Chunk
from luxlog.clock import now_ms
from luxlog.errors import StorageError
from luxlog.sample import Sample


class CacheWriter(CacheReader):
    """The writing half of :class:`~luxlog.cache.Cache` (merging needs the decoder)."""

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
                (key, value, now_ms()),
            )

    def forget_state(self, prefix: str, before: str) -> int:
        """Delete the keys ``prefix + x`` with ``x < before`` (string order); how many."""
        with self.atomic(), self._guard():
            cursor = self._connection.execute(
                "DELETE FROM state WHERE key >= ? AND key < ?", (prefix, prefix + before)
            )
        return cursor.rowcount

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
