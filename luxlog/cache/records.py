"""The cache's value types and error translation: what readers get back, no SQL.

Split from the :class:`~luxlog.cache.Cache` facade so that the connection, the writing
and the reading halves share one definition of a chunk row, a frame and a failure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import luxlog.cache.codec as codec
from luxlog.cache.schema import SchemaError
from luxlog.errors import Busy, CacheDamaged, LuxlogError, StorageError

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
