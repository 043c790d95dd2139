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

from luxlog.cache.records import (
    DEFAULT_BUSY_TIMEOUT_SEC,
    RESTORE_HINT,
    UNREAD,
    CacheStats,
    Frame,
    Registers,
    sqlite_problems,
)
from luxlog.cache.writing import CacheWriter

__all__ = [
    "DEFAULT_BUSY_TIMEOUT_SEC",
    "RESTORE_HINT",
    "UNREAD",
    "Cache",
    "CacheStats",
    "Frame",
    "Registers",
    "sqlite_problems",
]


class Cache(CacheWriter):
    """An open cache file. Use :meth:`open`; every method may raise ``StorageError``.

    Writers must hold ``locks.cache_lock_path``: SQLite would serialise them anyway,
    but the file lock also covers the spool segments a flush ingests.

    Built in layers, one module each: :mod:`.connection` (open, migrate, transactions),
    :mod:`.reading` and :mod:`.writing`; this class only names the whole.
    """
