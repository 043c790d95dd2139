"""CSV files as spreadsheets want them: profiles, columns, fast row formatting.

Profiles (``csv_profile``):

* ``default``: comma, decimal point, UTF-8 without BOM, timestamps ISO 8601 with the UTC
  offset (``2025-10-26T02:30:00+01:00``), so the repeated hour of a fall-back day is
  unambiguous. What LibreOffice, pandas and an English-locale Excel read as numbers.
* ``excel-de``: semicolon, decimal comma, UTF-8 with BOM (without it Excel guesses a legacy
  code page), local time without offset (``2025-10-26 02:30:00``), which a German Excel
  turns into a date-time cell. The fall-back hour then appears twice, in time order.
* ``excel``: comma, decimal point, UTF-8 with BOM, local time ``2025-10-26 02:30:00``
  (which Excel in an English locale makes a date-time cell; ISO 8601 with an offset it
  keeps as text) and the UTC offset in a column of its own (``utc_offset``,
  ``UTC+01:00``), so the fall-back hour's two halves stay apart. The offset is spelled
  with ``UTC`` in front because a cell starting with ``+`` or ``-`` is read as a formula.

Values come from :meth:`luxlog.heatpump.catalogue.Sensor.convert` only (units, booleans
0/1, selection codes as integers, missing as an empty cell); a float is written as its
``repr``, the shortest text that reads back as the same number, so ``x/10`` never shows
float noise. Lines end in CRLF (RFC 4180; Excel and LibreOffice both expect it).

Speed: a day is ~2,880 rows of ~1,300 values. Consecutive polls differ in a few dozen
values at most, so each row re-formats only the cells whose raw integer changed (found at
C speed with ``map(operator.ne, ...)`` + ``compress``) and reuses the other strings; the
parameters' part of the line is joined again only when a parameter changed.

Atomicity is :mod:`luxlog.outputs`' job: each file is written as ``.<name>.tmp`` in the
target directory, fsynced and renamed over the target; a crash leaves the previous file
(or none) and at most a hidden temp file, which the next write of the same name replaces.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from fnmatch import fnmatchcase
from itertools import compress
from operator import ne
from zoneinfo import ZoneInfo

from luxlog import registers
from luxlog.heatpump.catalogue import Sensor, sensors
from luxlog.sample import Sample

ENCODING = "utf-8"
BOM = "\ufeff"
LINE_END = "\r\n"
_ROWS_PER_CHUNK = 128  # ~1 MB of text per write: few syscalls, bounded memory


@dataclass(frozen=True)
class Profile:
    """How values and timestamps are spelled for one family of spreadsheet programs."""

    name: str
    delimiter: str
    decimal: str
    bom: bool
    utc_offset: bool  # ISO 8601 with offset; else local wall time "YYYY-MM-DD HH:MM:SS"
    offset_column: bool = False  # local wall time, then a "utc_offset" column


OFFSET_HEADER = "utc_offset"


PROFILES: dict[str, Profile] = {
    "default": Profile("default", ",", ".", bom=False, utc_offset=True),
    "excel": Profile("excel", ",", ".", bom=True, utc_offset=False, offset_column=True),
    "excel-de": Profile("excel-de", ";", ",", bom=True, utc_offset=False),
}


@dataclass(frozen=True)
class SensorFilter:
    """``sensors_include`` / ``sensors_exclude``: names or shell-style globs, any case.

    A pattern matches a register by any of its names (:func:`luxlog.registers.aliases`):
    the catalogue name (``ID_WEB_Temperatur_TVL``, ``HEAT_ENERGY_INPUT``), the positional
    alias (``calc_10``, ``param_1136``) and luxtronik's ``Unknown_Parameter_1136``, so a
    pattern written for luxtronik or for an older luxlog keeps selecting the same register.

    With ``include`` empty, every register *with a known meaning* is a column: luxtronik's
    ``Unknown_*`` placeholders (all zero on most controllers) are left out so that a daily
    file reads as a table; ``include: ["*"]`` brings them back (the cache keeps every raw
    value either way). An ``exclude`` pattern always wins.
    """

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def _matches(self, patterns: tuple[str, ...], item: Sensor) -> str | None:
        names = registers.aliases(item.kind, item.index, item.name)
        for pattern in patterns:
            lowered = pattern.lower()
            if any(fnmatchcase(name, lowered) for name in names):
                return pattern
        return None

    def selects(self, item: Sensor) -> bool:
        """True if ``item`` becomes a column."""
        if self.include:
            if self._matches(self.include, item) is None:
                return False
        elif registers.is_unnamed(item.kind, item.index, item.name):
            return False
        return self._matches(self.exclude, item) is None

    def unused(self, candidates: Iterable[Sensor]) -> list[str]:
        """Patterns that match none of ``candidates`` (typos worth a warning)."""
        items = list(candidates)
        return [
            pattern
            for pattern in (*self.include, *self.exclude)
            if not any(self._matches((pattern,), item) for item in items)
        ]


@dataclass(frozen=True)
class Columns:
    """The columns of one file: selected numeric sensors for vectors up to a shape.

    ``calc_pos[i]`` / ``param_pos[j]`` give the cell position of calculation ``i`` /
    parameter ``j`` among the value columns, or -1 when it is not a column.
    """

    n_calc: int
    n_param: int
    sensors: tuple[Sensor, ...]
    calc_pos: tuple[int, ...] = field(repr=False)
    param_pos: tuple[int, ...] = field(repr=False)

    @classmethod
    def build(cls, n_calc: int, n_param: int, selection: SensorFilter) -> Columns:
        """Columns for vectors of ``n_calc`` calculations and ``n_param`` parameters.

        Order is the catalogue's: calculations by index, then parameters by index, so a
        firmware that sends longer vectors only adds columns, never moves them.
        """
        chosen: list[Sensor] = []
        calc_pos = [-1] * n_calc
        param_pos = [-1] * n_param
        for item in sensors(n_calc, n_param):
            if not item.numeric or not selection.selects(item):
                continue
            (calc_pos if item.kind == "calc" else param_pos)[item.index] = len(chosen)
            chosen.append(item)
        return cls(n_calc, n_param, tuple(chosen), tuple(calc_pos), tuple(param_pos))

    @property
    def names(self) -> list[str]:
        """Header cells after ``timestamp``."""
        return [item.name for item in self.sensors]

    @property
    def indices(self) -> tuple[list[int], list[int]]:
        """The calculations and parameters that are columns (what a reader must decode)."""
        return (
            [index for index, position in enumerate(self.calc_pos) if position >= 0],
            [index for index, position in enumerate(self.param_pos) if position >= 0],
        )


class ShapeGrew(Exception):
    """A sample has longer vectors than the columns were built for (a firmware change).

    The caller finds the window's largest shape and renders again; rare by nature.
    """

    def __init__(self, n_calc: int, n_param: int) -> None:
        super().__init__(f"vectors grew to {n_calc} calculations, {n_param} parameters")
        self.n_calc = n_calc
        self.n_param = n_param


def format_value(value: float | int | None, decimal: str = ".") -> str:
    """One converted value as cell text: empty when missing, shortest exact decimal."""
    if value is None:
        return ""
    if isinstance(value, float):
        text = repr(value)
        return text if decimal == "." else text.replace(".", decimal)
    return str(value)


def header_line(columns: Columns, profile: Profile) -> str:
    """The header row (quoted by the csv module should a name ever need it)."""
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=profile.delimiter, lineterminator=LINE_END).writerow(
        ["timestamp", *([OFFSET_HEADER] if profile.offset_column else []), *columns.names]
    )
    return buffer.getvalue()


def format_timestamp(timestamp_ms: int, zone: ZoneInfo, profile: Profile) -> str:
    """Whole seconds in ``zone`` (floored, so a sample never moves across a boundary)."""
    moment = datetime.fromtimestamp(timestamp_ms // 1000, tz=zone)
    if profile.utc_offset:
        return moment.isoformat()
    local = moment.strftime("%Y-%m-%d %H:%M:%S")
    if profile.offset_column:
        offset = moment.isoformat()[19:] or "+00:00"
        return f"{local}{profile.delimiter}UTC{offset}"
    return local


@dataclass
class RenderStats:
    """Filled in while rendering: how many rows were written, and the first/last time."""

    rows: int = 0
    first_ms: int | None = None
    last_ms: int | None = None


class _Segment:
    """The cells of one vector kind (calculations or parameters) and their joined text.

    The text is re-joined only when a value of this kind changed: parameters, ~85 % of the
    columns, change a few times a year, so most rows join only the ~190 calculations.
    """

    def __init__(
        self, columns: Columns, kind: str, positions: tuple[int, ...], offset: int, decimal: str
    ) -> None:
        chosen = [item for item in columns.sensors if item.kind == kind]
        self.cells = [""] * len(chosen)
        self.positions = tuple(p - offset if p >= 0 else -1 for p in positions)
        self.sensors: list[Sensor | None] = [None] * len(positions)
        for item in chosen:
            self.sensors[item.index] = item
        self.decimal = decimal
        self.previous: tuple[int, ...] | None = None
        self.text = ""

    def update(self, values: tuple[int, ...], delimiter: str) -> None:
        """Re-format the cells whose raw value differs from the previous sample's."""
        previous = self.previous
        if values is previous or values == previous:  # the cache shares unchanged rows
            return
        cells, positions, sensors = self.cells, self.positions, self.sensors
        changed: Iterable[int]
        if previous is None or len(previous) != len(values):
            # First row, or the vector length changed: every cell afresh, and blanks for
            # sensors this sample does not have.
            cells[:] = [""] * len(cells)
            changed = range(len(values))
        else:
            changed = compress(range(len(values)), map(ne, values, previous))
        for index in changed:
            position = positions[index]
            if position >= 0:
                item = sensors[index]
                assert item is not None
                cells[position] = format_value(item.convert(values[index]), self.decimal)
        self.previous = values
        self.text = delimiter.join(cells)


def render(
    samples: Iterable[Sample],
    columns: Columns,
    *,
    profile: Profile,
    zone: ZoneInfo,
    stats: RenderStats | None = None,
) -> Iterator[bytes]:
    """The encoded file, BOM and header first, in chunks of about a megabyte.

    Streams: memory holds one chunk of text and one row of cell strings, whatever the
    number of samples. Raises :class:`ShapeGrew` for a sample wider than ``columns``.
    """
    stats = RenderStats() if stats is None else stats
    delimiter = profile.delimiter
    calc = _Segment(columns, "calc", columns.calc_pos, 0, profile.decimal)
    # Columns list every calculation before the first parameter.
    param = _Segment(columns, "param", columns.param_pos, len(calc.cells), profile.decimal)
    shown = [segment for segment in (calc, param) if segment.cells]

    yield ((BOM if profile.bom else "") + header_line(columns, profile)).encode(ENCODING)
    lines: list[str] = []
    for sample in samples:
        if len(sample.calculations) > columns.n_calc or len(sample.parameters) > columns.n_param:
            raise ShapeGrew(
                max(len(sample.calculations), columns.n_calc),
                max(len(sample.parameters), columns.n_param),
            )
        calc.update(sample.calculations, delimiter)
        param.update(sample.parameters, delimiter)
        stamp = format_timestamp(sample.timestamp_ms, zone, profile)
        lines.append(delimiter.join([stamp, *(segment.text for segment in shown)]) + LINE_END)
        if stats.first_ms is None:
            stats.first_ms = sample.timestamp_ms
        stats.last_ms = sample.timestamp_ms
        stats.rows += 1
        if len(lines) >= _ROWS_PER_CHUNK:
            yield "".join(lines).encode(ENCODING)
            lines.clear()
    if lines:
        yield "".join(lines).encode(ENCODING)
