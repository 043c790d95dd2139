"""The cache connection: opening, migrating, transactions, and the shared row lookups.

Writers and readers (:mod:`.writing`, :mod:`.reading`) build on this; ``sqlite3`` is
imported lazily, as everywhere in the cache (see the package docstring).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Self
from urllib.parse import quote

import luxlog.cache.codec as codec
from luxlog.cache.records import DEFAULT_BUSY_TIMEOUT_SEC, _translate
from luxlog.cache.schema import (
    LATEST_VERSION,
    SchemaError,
    check_known,
    current_version,
    initialise_file,
    migrate,
)
from luxlog.errors import StorageError

if TYPE_CHECKING:
    import sqlite3


class CacheConnection:
    """An open cache file; the transaction and translation rules every operation shares."""

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

    @classmethod
    @contextmanager
    def open(
        cls,
        path: Path,
        *,
        readonly: bool = False,
        busy_timeout_sec: float = DEFAULT_BUSY_TIMEOUT_SEC,
        immutable: bool = False,
    ) -> Iterator[Self]:
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
