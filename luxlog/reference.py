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


# Where the parameters begin in a row's text. Inside a JSON string every '"' is escaped
# ('\\"'), so this comma-space-quote can only be the boundary between two members.
_PARAMETERS_START = ', "parameters.'


class _Broken(ValueError):
    """A row's JSON is not an object of values."""


def _parse(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except (TypeError, ValueError):  # JSONDecodeError and undecodable bytes alike
        raise _Broken("not JSON") from None
    if not isinstance(data, dict):
        raise _Broken("not an object")
    return data


class _Decoder:
    """Turns rows into vectors with as little Python work per row as possible.

    Consecutive polls differ in a few dozen of ~1,300 values, and the parameters (the
    settings: ~80 % of a row's text) mostly not at all. So a row's text is cut where the
    parameters begin, a part whose text equals the previous row's is not parsed again,
    and of the others only values that changed are converted. ``json.loads`` of the
    calculations is then most of the cost (``bench/reference_import.py``).
    """

    def __init__(self, result: ImportResult) -> None:
        self._keys = _Keys()
        self._result = result
        self._texts: list[str] = []  # the previous row's parts
        self._parts: list[tuple[list[str], list[Any]]] = []  # their keys and values
        self._registers: list[_Register | None] = []  # by position over all parts
        self._values: list[Any] = []
        self._vectors: tuple[list[int], list[int]] = ([], [])
        self._nulls: tuple[set[int], set[int]] = (set(), set())
        self._bad: dict[int, str] = {}  # position -> reason, for values stored as missing
        self._shape: list[str] = []
        self._not_stored: list[str] = []  # keys of this shape that name no register
        # What the last _finish found, reused while no value changed that could alter it.
        self._dirty = True
        self._missing: list[str] = []  # keys stored as missing in the current row
        self._ends = (0, 0)

    def row(self, text: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The vectors of one row's ``data_json``; ``_Broken`` when it has none."""
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        if not isinstance(text, str):
            raise _Broken("not text")
        split = text.find(_PARAMETERS_START)
        texts = [text[:split] + "}", "{" + text[split + 2 :]] if split > 0 else [text]
        try:
            parts = self._parts_of(texts)
        except _Broken:
            if len(texts) == 1:
                raise
            texts = [text]  # not json.dumps' layout after all: the whole text decides
            parts = self._parts_of(texts)
        keys: list[str] = []
        for part_keys, _ in parts:
            keys += part_keys
        reshaped = keys != self._shape
        if reshaped:
            self._reshape(keys)
        offset = 0
        for number, (part_keys, values) in enumerate(parts):
            unchanged = (
                not reshaped and number < len(self._texts) and self._texts[number] == texts[number]
            )
            if not unchanged:
                self._convert(offset, values)
            offset += len(part_keys)
        self._texts = texts
        self._parts = parts
        return self._finish()

    def _parts_of(self, texts: list[str]) -> list[tuple[list[str], list[Any]]]:
        parts = []
        for number, text in enumerate(texts):
            if number < len(self._texts) and self._texts[number] == text:
                parts.append(self._parts[number])
            else:
                data = _parse(text)
                parts.append((list(data), list(data.values())))
        return parts

    def _reshape(self, keys: list[str]) -> None:
        self._shape = keys
        self._registers = [self._keys.get(key) for key in keys]
        self._values = [_Fresh] * len(keys)  # nothing equals it: every value converts
        lengths = [0, 0]
        covered: tuple[set[int], set[int]] = (set(), set())
        for register in self._registers:
            if register is not None:
                lengths[register.section] = max(lengths[register.section], register.index + 1)
                covered[register.section].add(register.index)
        self._vectors = ([NOT_AVAILABLE] * lengths[0], [NOT_AVAILABLE] * lengths[1])
        # Indices no key covers count as "trailing null" until a key sets them.
        self._nulls = (
            set(range(lengths[0])) - covered[0],
            set(range(lengths[1])) - covered[1],
        )
        self._bad = {}
        self._dirty = True
        self._not_stored = [
            key for key, register in zip(keys, self._registers, strict=True) if register is None
        ]

    def _convert(self, offset: int, values: list[Any]) -> None:
        """Convert the values of one part (at ``offset``) that changed."""
        registers = self._registers
        previous = self._values[offset : offset + len(values)]
        for position in compress(range(offset, offset + len(values)), map(ne, values, previous)):
            register = registers[position]
            value = values[position - offset]
            self._values[position] = value
            if register is None:
                continue
            vector = self._vectors[register.section]
            nulls = self._nulls[register.section]
            # _finish recomputes only when which keys are missing (or why) changes: the
            # controller clock, stored as text, changes in every row but stays missing.
            was_reason = self._bad.pop(position, None)
            was_null = register.index in nulls
            nulls.discard(register.index)
            try:
                vector[register.index] = to_raw(register.definition, value)
                if was_reason is not None or was_null:
                    self._dirty = True
            except _Unconvertible as exc:
                vector[register.index] = NOT_AVAILABLE
                if value is None:
                    nulls.add(register.index)
                reason = self._bad[position] = str(exc)
                if reason != was_reason or was_null != (value is None):
                    self._dirty = True

    def _finish(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        result = self._result
        if self._dirty:
            self._ends = (self._end(0), self._end(1))
            self._missing = []
            for position, reason in self._bad.items():
                register = self._registers[position]
                assert register is not None
                if register.index < self._ends[register.section]:  # trailing: never sent
                    key = self._shape[position]
                    self._missing.append(key)
                    result.reasons[key] = reason
            self._dirty = False
        result.not_stored.update(self._not_stored)
        result.unconvertible.update(self._missing)
        return tuple(self._vectors[0][: self._ends[0]]), tuple(self._vectors[1][: self._ends[1]])

    def _end(self, section: int) -> int:
        """The vector's length without its trailing nulls (registers never sent)."""
        nulls = self._nulls[section]
        end = len(self._vectors[section])
        while end and end - 1 in nulls:
            end -= 1
        return end


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
            "give the file the reference logger's CACHE_PATH names"
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
            if batch or last != after:  # a run that found nothing new writes nothing
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
        calcs, params = decoder.row(text)
    except _Broken:
        _broken(result, timestamp)
        return None
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
