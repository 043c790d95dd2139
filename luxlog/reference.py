"""Import the reference logger's history: its decoded JSON rows back into raw integers.

The reference logger keeps one row per poll in ``sensor_data(timestamp REAL PRIMARY KEY,
data_json TEXT)``: an object of values as luxtronik 0.3.14 decoded them, keyed
``calculations.<name>`` / ``parameters.<name>`` (``calculations.<index>`` where
luxtronik has no name; some versions wrote ``calculations.calculations.<index>``).
luxlog stores what the controller sent, so each value goes back through luxtronik's own
type definition (``to_heatpump``, the inverse of its scaling) and is kept only when
``from_heatpump`` of the result gives the stored value again, exactly:

* °C, kWh, hours, ... (``value / 10`` and the like) and plain integers come back
  exactly: those divisions are injective on 32-bit integers. luxtronik's own inverse
  truncates (``int(21.3 * 10)`` is 212), so the neighbours of its answer are tried too;
* booleans become 0/1 (luxtronik's ``to_heatpump``; the controller sends 0/1);
* selection labels ("Off", "Party") become their code when the label is unique;
* everything else - firmware and IP address text, timestamps written as text, ``null``
  (a code luxtronik did not know), numbers of the wrong kind - is *not* guessed: the
  register is stored as missing (the controller's own 2147483647) and the summary names
  each key with the number of rows. Indices no key covers (the firmware characters
  82..89) are missing too.

Trailing ``null`` values are registers luxtronik's tables list but the controller did
not send; they are cut off, so vectors keep the controller's length.

Bounded memory and resumable: rows are read in small pages by timestamp and committed
in batches of about two hours, each batch with a bookmark (the last timestamp read) in
the cache's ``state`` table, in the same transaction. After a kill the next run starts
after the bookmark; the cache ignores timestamps it already holds, so even without the
bookmark (a copied file, a new cache) nothing is doubled.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import compress
from operator import ne
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from luxlog.cache import Cache
from luxlog.cache.codec import bucket_of
from luxlog.config import Settings
from luxlog.errors import StorageError
from luxlog.heatpump.catalogue import NOT_AVAILABLE
from luxlog.locks import cache_lock_path, hold
from luxlog.sample import Sample

if TYPE_CHECKING:
    import sqlite3

log = logging.getLogger("luxlog.reference")

Progress = Callable[[int, int], None]

TABLE = "sensor_data"
STATE_PREFIX = "reference-import:"
DEFAULT_HOST = "reference-logger"  # when no host is configured: which pump is unknown
PAGE_ROWS = 100  # rows per SELECT: one page of JSON (~60 KB a row) in memory at a time
BATCH_SAMPLES = 240  # samples per transaction: two hours at 30 s, like a flush
_BATCH_HARD_LIMIT = 4 * BATCH_SAMPLES
_INT32 = range(-(2**31), 2**31)
_SECTIONS = {"calculations": 0, "parameters": 1}
_NOT_STORED = "visibilities"  # luxlog does not poll them (command 3005)


@dataclass
class ImportResult:
    """What one import run did; ``unconvertible`` and ``not_stored`` count rows per key."""

    source: Path
    rows: int = 0  # rows read in this run
    added: int = 0
    duplicates: int = 0  # rows whose timestamp the cache already held
    earlier: int = 0  # rows an earlier run imported (before the bookmark: not read)
    broken: int = 0  # rows whose JSON is broken or holds no values
    first_broken: list[float] = field(default_factory=list)  # their timestamps (a few)
    unconvertible: Counter[str] = field(default_factory=Counter)
    reasons: dict[str, str] = field(default_factory=dict)  # key -> why not converted
    not_stored: Counter[str] = field(default_factory=Counter)

    def summary(self, limit: int = 8) -> list[str]:
        """Lines for the log: totals, then the keys stored as missing, by name (all of
        them), and the first ``limit`` keys luxlog does not store (visibilities: many)."""
        lines = [
            f"imported {self.source}: {self.rows} row(s) read, {self.added} sample(s) "
            f"added, {self.duplicates} already cached, {self.earlier} imported by an "
            f"earlier run, {self.broken} broken row(s) skipped"
        ]
        if self.broken:
            lines.append(
                "broken rows (timestamps): "
                + ", ".join(repr(t) for t in self.first_broken)
                + (" ..." if self.broken > len(self.first_broken) else "")
            )
        if self.unconvertible:
            # Every one by name: these are the registers a user may miss in the history.
            named = [
                f"{key} ({self.reasons.get(key, '?')}, {rows} row(s))"
                for key, rows in sorted(self.unconvertible.items())
            ]
            lines.append(
                f"{len(named)} value(s) could not be turned back into the controller's "
                f"integers exactly and are stored as missing: {', '.join(named)}"
            )
        if self.not_stored:
            keys = sorted(self.not_stored)
            more = f" and {len(keys) - limit} more" if len(keys) > limit else ""
            lines.append(
                f"{len(keys)} key(s) luxlog does not store were skipped: "
                f"{', '.join(keys[:limit])}{more}"
            )
        return lines


class _Unconvertible(ValueError):
    """A value that has no exact raw integer; the message is the reason."""


@dataclass(frozen=True, slots=True)
class _Register:
    section: int  # 0 calculations, 1 parameters
    index: int
    definition: Any  # a luxtronik 0.3.14 datatype instance (read only)


def _luxtronik_tables() -> tuple[dict[int, Any], dict[int, Any]]:
    from luxtronik.calculations import Calculations
    from luxtronik.parameters import Parameters

    # luxtronik mutates these class-level tables while parsing; copies, and only read.
    return dict(Calculations.calculations), dict(Parameters.parameters)


class _Keys:
    """JSON key -> register, from luxtronik's names (the last index wins for a name,
    as in the reference logger's dict); numeric keys name an index directly."""

    def __init__(self) -> None:
        from luxtronik.datatypes import Unknown

        self._unknown = Unknown
        self._tables = _luxtronik_tables()
        self._by_key: dict[str, _Register | None] = {}
        for section_name, section in _SECTIONS.items():
            for index, definition in self._tables[section].items():
                name = str(definition.name)
                if name.startswith("Unknown"):
                    continue  # the reference logger keyed these by index
                self._by_key[f"{section_name}.{name}"] = _Register(section, index, definition)

    def get(self, key: str) -> _Register | None:
        if key in self._by_key:
            return self._by_key[key]
        found = None
        section_name, _, rest = key.partition(".")
        section = _SECTIONS.get(section_name)
        if rest.startswith(section_name + "."):  # calculations.calculations.12
            rest = rest[len(section_name) + 1 :]
        if section is not None and rest.isascii() and rest.isdigit():
            index = int(rest)
            definition = self._tables[section].get(index)
            if definition is None:
                definition = self._unknown(f"{section_name}.{index}")
            found = _Register(section, index, definition)
        self._by_key[key] = found
        return found


def _unique_code(definition: Any, label: str) -> int:
    codes = [code for code, text in getattr(definition, "codes", {}).items() if text == label]
    if len(codes) != 1:
        raise _Unconvertible("text" if not codes else "ambiguous label")
    return int(codes[0])


def to_raw(definition: Any, value: Any) -> int:
    """The controller's integer for a luxtronik-decoded ``value``; ``_Unconvertible``
    when there is no exact one (see the module docstring)."""
    from luxtronik.datatypes import Bool, SelectionBase

    if value is None:
        raise _Unconvertible("null")
    if isinstance(value, str):
        if isinstance(definition, SelectionBase):
            return _unique_code(definition, value)
        raise _Unconvertible("text")
    if isinstance(definition, SelectionBase):
        raise _Unconvertible("number for a selection")
    if isinstance(value, bool) and not isinstance(definition, Bool):
        raise _Unconvertible("true/false for a number")
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise _Unconvertible(type(value).__name__)
    try:
        guess = definition.to_heatpump(value)
        base = int(guess) if isinstance(guess, int | float) else None
    except (TypeError, ValueError, OverflowError, OSError):
        base = None
    if base is None:
        raise _Unconvertible(f"no inverse for {type(definition).__name__}")
    for raw in (base, base + 1, base - 1):
        try:
            back = definition.from_heatpump(raw)
        except (TypeError, ValueError, OverflowError, OSError):
            continue
        if raw in _INT32 and back == value and not isinstance(back, str):
            return raw
    raise _Unconvertible(f"not a {type(definition).__name__} value")


class _Decoder:
    """Turns parsed rows into vectors, converting only values that changed since the
    previous row: consecutive polls differ in a few dozen of ~1,300 values, and this
    keeps a 30-day import to seconds of Python work beside ``json.loads``."""

    def __init__(self, result: ImportResult) -> None:
        self._keys = _Keys()
        self._result = result
        self._shape: list[str] = []
        self._registers: list[_Register | None] = []
        self._values: list[Any] = []
        self._vectors: tuple[list[int], list[int]] = ([], [])
        self._nulls: tuple[set[int], set[int]] = (set(), set())
        self._bad: dict[int, str] = {}  # key position -> reason, for values stored as missing
        self._not_stored: list[str] = []  # keys of this shape that name no register

    def _reshape(self, keys: list[str]) -> None:
        self._shape = keys
        self._registers = [self._keys.get(key) for key in keys]
        self._values = [_Fresh] * len(keys)  # nothing equals it: every value converts
        lengths = [0, 0]
        for register in self._registers:
            if register is not None:
                lengths[register.section] = max(lengths[register.section], register.index + 1)
        self._vectors = ([NOT_AVAILABLE] * lengths[0], [NOT_AVAILABLE] * lengths[1])
        # Indices no key covers count as "trailing null" until a key sets them.
        covered: tuple[set[int], set[int]] = (set(), set())
        for register in self._registers:
            if register is not None:
                covered[register.section].add(register.index)
        self._nulls = (
            set(range(lengths[0])) - covered[0],
            set(range(lengths[1])) - covered[1],
        )
        self._bad = {}
        self._not_stored = [
            key for key, register in zip(keys, self._registers, strict=True) if register is None
        ]

    def vectors(self, data: dict[str, Any]) -> tuple[tuple[int, ...], tuple[int, ...]]:
        keys = list(data)
        values = list(data.values())
        if keys != self._shape:
            self._reshape(keys)
        registers = self._registers
        for position in compress(range(len(values)), map(ne, values, self._values)):
            register = registers[position]
            if register is None:
                continue
            value = values[position]
            vector = self._vectors[register.section]
            nulls = self._nulls[register.section]
            self._bad.pop(position, None)
            nulls.discard(register.index)
            try:
                vector[register.index] = to_raw(register.definition, value)
            except _Unconvertible as exc:
                vector[register.index] = NOT_AVAILABLE
                if value is None:
                    nulls.add(register.index)
                self._bad[position] = str(exc)
        self._values = values
        result = self._result
        result.not_stored.update(self._not_stored)
        calcs = self._trimmed(0)
        params = self._trimmed(1)
        for position, reason in self._bad.items():
            register = registers[position]
            assert register is not None
            length = len(calcs) if register.section == 0 else len(params)
            if register.index < length:  # a trailing null was never sent: not counted
                key = keys[position]
                result.unconvertible[key] += 1
                result.reasons[key] = reason
        return calcs, params

    def _trimmed(self, section: int) -> tuple[int, ...]:
        vector = self._vectors[section]
        nulls = self._nulls[section]
        end = len(vector)
        while end and end - 1 in nulls:
            end -= 1
        return tuple(vector[:end])


class _FreshType:
    """A value no JSON value equals: marks a shape's values as not yet converted."""

    def __eq__(self, other: object) -> bool:
        return False

    def __ne__(self, other: object) -> bool:
        return True

    __hash__ = object.__hash__


_Fresh = _FreshType()


def _open_source(path: Path) -> sqlite3.Connection:
    """The reference cache, read-only; ``StorageError`` when it is not one."""
    import sqlite3

    if not path.is_file():
        raise StorageError(f"reference cache {path} does not exist")
    try:
        connection = sqlite3.connect(f"file:{quote(str(path.absolute()))}?mode=ro", uri=True)
        row = connection.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (TABLE,)
        ).fetchone()
    except sqlite3.Error as exc:
        raise StorageError(f"reference cache {path} cannot be read: {exc}") from exc
    if row is None:
        connection.close()
        raise StorageError(
            f"{path} is not the reference logger's cache (it has no table {TABLE}); "
            "give the file its CACHE_PATH names"
        )
    return connection


def _rows(
    connection: sqlite3.Connection, after: float, result: ImportResult, progress: Progress | None
) -> Iterator[tuple[float, Any]]:
    """(timestamp, data_json) after ``after``, in time order, a page at a time."""
    import sqlite3

    try:
        total = connection.execute(
            f"SELECT count(*) FROM {TABLE} WHERE timestamp > ?", (after,)
        ).fetchone()[0]
        while True:
            page = connection.execute(
                f"SELECT timestamp, data_json FROM {TABLE} WHERE timestamp > ? "
                "ORDER BY timestamp LIMIT ?",
                (after, PAGE_ROWS),
            ).fetchall()
            if not page:
                return
            yield from page
            after = page[-1][0]
            if progress is not None:
                progress(result.rows, total)
    except sqlite3.Error as exc:
        raise StorageError(f"reference cache {result.source} cannot be read: {exc}") from exc


def _is_time(timestamp: Any) -> bool:
    return isinstance(timestamp, int | float) and math.isfinite(timestamp)


def _broken(result: ImportResult, timestamp: Any) -> None:
    result.broken += 1
    if len(result.first_broken) < 5:
        result.first_broken.append(timestamp)


def import_reference(
    settings: Settings, source: Path, *, progress: Progress | None = None
) -> ImportResult:
    """Add the reference cache's samples at ``source`` to luxlog's cache; see module doc.

    ``progress(rows_read, rows_to_read)``. Raises ``StorageError`` (not a reference
    cache, luxlog's cache unwritable) or ``Busy`` (the cache lock held past timeout_sec);
    whatever was committed before stays, and a re-run continues from there.
    """
    from luxlog.disk import watch

    watch(settings, "flush")  # the same writes as a flush: the cache's volume
    result = ImportResult(source=source)
    bookmark = STATE_PREFIX + str(source.resolve())
    host = settings.address if settings.host else DEFAULT_HOST
    decoder = _Decoder(result)
    connection = _open_source(source)
    lock = cache_lock_path(settings.data_dir)
    try:
        with (
            hold(lock, timeout=settings.timeout_sec, what="the cache"),
            Cache.open(settings.cache_path, busy_timeout_sec=settings.timeout_sec) as cache,
        ):
            text = cache.get_state(bookmark)
            after = float(text) if text is not None else -math.inf
            if text is not None:
                result.earlier = connection.execute(
                    f"SELECT count(*) FROM {TABLE} WHERE timestamp <= ?", (after,)
                ).fetchone()[0]
        # The lock is taken per batch below, so a cron flush waits seconds, not minutes.
        with Cache.open(settings.cache_path, busy_timeout_sec=settings.timeout_sec) as cache:
            batch: list[Sample] = []
            last = after
            for timestamp, text_json in _rows(connection, after, result, progress):
                result.rows += 1
                sample = _sample(decoder, timestamp, text_json, host, result)
                if sample is not None:
                    if len(batch) >= BATCH_SAMPLES and (
                        bucket_of(sample.timestamp_ms) != bucket_of(batch[-1].timestamp_ms)
                        or len(batch) >= _BATCH_HARD_LIMIT
                    ):
                        _commit(cache, lock, settings, batch, bookmark, last, result)
                        batch = []
                    batch.append(sample)
                if _is_time(timestamp):  # text in a REAL column sorts after every number
                    last = timestamp
            _commit(cache, lock, settings, batch, bookmark, last, result)
    finally:
        connection.close()
    return result


def _sample(
    decoder: _Decoder, timestamp: Any, text: Any, host: str, result: ImportResult
) -> Sample | None:
    """One row as a sample, or ``None`` (counted) when it is broken."""
    if not _is_time(timestamp):
        _broken(result, timestamp)
        return None
    try:
        data = json.loads(text)
    except (TypeError, ValueError):  # JSONDecodeError and undecodable bytes alike
        _broken(result, timestamp)
        return None
    if not isinstance(data, dict):
        _broken(result, timestamp)
        return None
    calcs, params = decoder.vectors(data)
    if not calcs and not params:
        _broken(result, timestamp)
        return None
    return Sample(round(timestamp * 1000), host, calcs, params)


def _commit(
    cache: Cache,
    lock: Path,
    settings: Settings,
    batch: list[Sample],
    bookmark: str,
    last: float,
    result: ImportResult,
) -> None:
    """One transaction: the batch and the bookmark after it, together or not at all."""
    if last == -math.inf:
        return
    with hold(lock, timeout=settings.timeout_sec, what="the cache"), cache.atomic():
        added = cache.add_many(batch) if batch else 0
        cache.set_state(bookmark, repr(last))
    result.added += added
    result.duplicates += len(batch) - added
