"""The cache schema as code: ordered, numbered migrations recorded in the database.

A migration is applied in its own ``BEGIN IMMEDIATE`` transaction together with the row
that records it, so a crash leaves the file either before or after that migration, and
two processes opening a new file at once serialise on the write lock and the second
finds the work done. Later issues append ``Migration(N + 1, ...)`` to ``MIGRATIONS``;
a migration, once released, is never edited.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from luxlog.clock import now_ms as now_ms_clock

if TYPE_CHECKING:
    import sqlite3

# "LUXL": lets a tool (and `luxlog status`) tell a luxlog cache from another SQLite file.
APPLICATION_ID = 0x4C55584C


@dataclass(frozen=True)
class Migration:
    """One schema step: SQL statements, or a function for steps that move data."""

    version: int
    name: str
    statements: tuple[str, ...] = ()
    function: Callable[[sqlite3.Connection], None] | None = None

    def apply(self, connection: sqlite3.Connection) -> None:
        """Run the step inside the caller's transaction."""
        for statement in self.statements:
            connection.execute(statement)
        if self.function is not None:
            self.function(connection)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "chunked samples",
        (
            # Who was polled; chunks refer to it by a small integer.
            "CREATE TABLE hosts (id INTEGER PRIMARY KEY, host TEXT NOT NULL UNIQUE)",
            # Reference vectors that key frames are stored against (see codec.py): one
            # per firmware shape, plus a new one when settings have drifted far.
            """CREATE TABLE refs (
                id INTEGER PRIMARY KEY,
                n_calc INTEGER NOT NULL,
                n_param INTEGER NOT NULL,
                data BLOB NOT NULL
            )""",
            # One row per (hour, host, vector shape); normally one per hour. Blobs last,
            # so the small columns sit at the start of the row.
            """CREATE TABLE chunks (
                id INTEGER PRIMARY KEY,
                bucket_ms INTEGER NOT NULL,
                first_ms INTEGER NOT NULL,
                last_ms INTEGER NOT NULL,
                count INTEGER NOT NULL CHECK (count > 0),
                host_id INTEGER NOT NULL REFERENCES hosts (id),
                n_calc INTEGER NOT NULL,
                n_param INTEGER NOT NULL,
                ref_id INTEGER NOT NULL REFERENCES refs (id),
                codec INTEGER NOT NULL,
                times BLOB NOT NULL,
                data BLOB NOT NULL
            )""",
            # Covering index: time range, counts, shapes and the chunk list of a query
            # are answered from it without reading a single blob.
            """CREATE INDEX chunks_by_time ON chunks
                (bucket_ms, first_ms, last_ms, count, host_id, n_calc, n_param)""",
        ),
    ),
    Migration(
        2,
        "state",
        (
            # Small key/value bookkeeping for later stages (roll-ups remember what they
            # wrote here), so they need no table of their own.
            """CREATE TABLE state (
                key TEXT PRIMARY KEY,
                value TEXT NOT NULL,
                updated_ms INTEGER NOT NULL
            )""",
        ),
    ),
)

LATEST_VERSION = MIGRATIONS[-1].version


class SchemaError(Exception):
    """The file is not a luxlog cache, or a newer luxlog wrote it."""


def _has_table(connection: sqlite3.Connection, name: str) -> bool:
    row = connection.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
    ).fetchone()
    return row is not None


def current_version(connection: sqlite3.Connection) -> int:
    """Highest applied migration; 0 for an empty file; ``SchemaError`` if foreign."""
    if not _has_table(connection, "schema_migrations"):
        other = connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' LIMIT 1"
        ).fetchone()
        if other is not None:
            raise SchemaError(f"not a luxlog cache (it has a table {other[0]!r})")
        return 0
    row = connection.execute("SELECT max(version) FROM schema_migrations").fetchone()
    return int(row[0] or 0)


def check_known(version: int) -> None:
    """Refuse files written by a newer luxlog: guessing at their layout could lose data."""
    if version > LATEST_VERSION:
        raise SchemaError(
            f"schema version {version} is newer than this luxlog understands "
            f"({LATEST_VERSION}); upgrade luxlog"
        )


# Small pages for a file of small blobs: a chunk row (0.5-3 KB) that overflows fills whole
# overflow pages and leaves only its short head on the leaf page, whereas with 4 KB pages
# each row sits alone on a mostly empty page. Measured on a simulated day: 4 KB pages 47,
# 1 KB pages 10, 512-byte pages 7 bytes a poll.
PAGE_SIZE = 512


def initialise_file(connection: sqlite3.Connection) -> None:
    """Physical settings of a new file; a no-op once the first table exists.

    Both can only be chosen before that (the page size also only before WAL is on).
    Incremental auto-vacuum lets ``prune`` hand freed pages back to the file system
    without rewriting the whole file.
    """
    if connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0:
        connection.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        connection.execute("PRAGMA auto_vacuum = INCREMENTAL")


def migrate(connection: sqlite3.Connection, *, target: int = LATEST_VERSION) -> list[int]:
    """Apply pending migrations up to ``target``; return the versions applied.

    ``connection`` must be in autocommit mode (``isolation_level=None``): each step
    opens its own ``BEGIN IMMEDIATE`` transaction.
    """
    applied: list[int] = []
    initialise_file(connection)
    for migration in MIGRATIONS:
        if migration.version > target:
            break
        connection.execute("BEGIN IMMEDIATE")
        try:
            # Re-read under the write lock: another process may have just migrated.
            version = current_version(connection)
            check_known(version)
            if version >= migration.version:
                connection.execute("ROLLBACK")
                continue
            if version == 0:
                connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                connection.execute(
                    """CREATE TABLE schema_migrations (
                        version INTEGER PRIMARY KEY,
                        name TEXT NOT NULL,
                        applied_ms INTEGER NOT NULL
                    )"""
                )
            migration.apply(connection)
            connection.execute(
                "INSERT INTO schema_migrations (version, name, applied_ms) VALUES (?, ?, ?)",
                (migration.version, migration.name, now_ms_clock()),
            )
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        applied.append(migration.version)
    return applied
