"""Exports of cached samples: JSON Lines, CSV and InfluxDB line protocol, streamed.

Every format is a generator of encoded chunks (about a megabyte each), so memory holds
one chunk and one hour of decoded samples whatever the range: a year of 30-s polls is a
million samples and tens of gigabytes of text.

Values are the CSV's (``Sensor.convert``: units, booleans 0/1, selection codes, missing
as ``None``) for the sensors ``sensors_include`` / ``sensors_exclude`` (or ``--sensors``)
select. As in :mod:`luxlog.csvout`, consecutive polls differ in a few dozen of ~1,300
values, so each sample re-formats only the cells whose raw integer changed and reuses
the joined text of the rest; this is what makes a year exportable in seconds.

JSON Lines
    ``{"time": "2026-03-29T07:00:00+02:00", "ts_ms": 1774760400000, "device": "...",
    "values": {"ID_WEB_Temperatur_TVL": 35.2, ...}}`` - UTF-8 without BOM, ``\\n`` after
    every line, time in ``timezone`` with its offset (whole seconds, like the CSV) and as
    epoch milliseconds (exact). Missing is ``null``; ``NaN`` cannot occur (values are
    integers or integers divided by 10 or 100). ``raw=True`` adds the controller's
    integer vectors as ``"raw": {"calculations": [...], "parameters": [...]}``.

Line protocol
    ``luxtronik,device=D[,site=S] field=value,... <epoch seconds>``. A field's type is a
    function of its sensor's type, never of a value: scaled types (temperatures, kWh,
    hours, bar, ...) are always floats (``35.0``, never ``35``), everything else always
    an integer with ``i`` (booleans ``1i``/``0i``), because InfluxDB refuses a point whose
    field changes type and a dashboard would break on the first whole-number reading.
    Missing values are left out (the protocol has no null). Timestamps are seconds: the
    write URL needs ``precision=s`` (``luxlog push`` adds it), and a re-sent sample lands
    on the same series and second, so it overwrites itself instead of doubling.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import compress
from operator import ne
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

from luxlog.csvout import Columns, SensorFilter
from luxlog.heatpump.catalogue import Sensor

if TYPE_CHECKING:
    from luxlog.cache import Cache, Frame
    from luxlog.config import Settings
    from luxlog.sample import Sample

Format = Literal["jsonl", "csv", "influx"]
FORMATS: tuple[Format, ...] = ("jsonl", "csv", "influx")
MEASUREMENT = "luxtronik"
_CHUNK_BYTES = 1 << 20
_MEMO_CELLS = 4096  # formatted cells remembered per moving column

# Sensor types whose values are scaled (raw / 10 or / 100): floats in every format.
FLOAT_TYPES = frozenset({"Celsius", "Kelvin", "Percent", "Energy", "Voltage", "Hours", "Pressure"})


class ExportError(ValueError):
    """Bad export arguments (a range that ends before it starts); a usage error."""


def device_name(settings: Settings) -> str:
    """The ``device`` tag: the ``device`` setting, else the heat pump's host."""
    return settings.device or settings.host or "heatpump"


def is_float(item: Sensor) -> bool:
    """True when ``item``'s values are floats (line protocol type is fixed per sensor)."""
    return item.type in FLOAT_TYPES


# -- escaping (https://docs.influxdata.com/influxdb/v1/write_protocols/line_protocol_reference/)


def escape_key(text: str) -> str:
    """A tag key, tag value or field key: comma, equals sign and space get a backslash.

    A backslash before anything else is literal, so it stays as it is; config refuses a
    tag value that ends in one (it would escape the separator after it).
    """
    return text.replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def escape_measurement(text: str) -> str:
    """A measurement name: comma and space get a backslash."""
    return text.replace(",", "\\,").replace(" ", "\\ ")


def series_prefix(device: str, site: str = "") -> str:
    """``luxtronik,device=D,site=S `` - the part before the fields (tags sorted by key,
    which InfluxDB recommends for speed); an empty ``site`` is left out."""
    tags = f",device={escape_key(device)}" if device else ""
    if site:
        tags += f",site={escape_key(site)}"
    return escape_measurement(MEASUREMENT) + tags + " "


# -- cell formatting -----------------------------------------------------------------------

CellFormat = Callable[[Sensor], Callable[[int], str]]


def json_cell(item: Sensor) -> Callable[[int], str]:
    """A formatter of ``item``'s cells: ``"name":value``, ``null`` for a missing value."""
    label = json.dumps(item.name) + ":"
    convert = item.convert

    def cell(raw: int) -> str:
        value = convert(raw)
        if value is None:
            return label + "null"
        return label + (repr(value) if isinstance(value, float) else str(value))

    return cell


def influx_cell(item: Sensor) -> Callable[[int], str]:
    """A formatter of ``item``'s fields: ``name=value`` typed by sensor type, ``""`` (left
    out) for a missing value."""
    label = escape_key(item.name) + "="
    convert = item.convert
    floats = is_float(item)

    def cell(raw: int) -> str:
        value = convert(raw)
        if value is None:
            return ""
        if floats:
            return f"{label}{float(value)!r}"
        return f"{label}{int(value)}i"

    return cell


class _FrameEncoder:
    """The fields text of each sample of a frame, for one format.

    A value that does not change within a frame (most of them) is formatted once per
    frame - and only when it differs from the previous frame's - so the work per sample
    is the few values that move, plus joining two strings.
    """

    def __init__(self, selection: SensorFilter, fmt: CellFormat, *, skip_empty: bool) -> None:
        self.selection = selection
        self.fmt = fmt
        self.skip_empty = skip_empty
        self.shape: tuple[int, int] | None = None
        # (index in the frame's key, that sensor's cell formatter), in column order
        self.chosen: list[tuple[int, Callable[[int], str]]] = []
        self.position: list[int] = []  # key index -> position in chosen, or -1
        self.cells: list[str] = []  # the key frame's cells, by position in chosen
        self.key: list[int] = []  # the previous frame's key
        self.memos: dict[int, dict[int, str]] = {}  # key index -> raw -> cell

    def _steady(self, key: list[int], changing: dict[int, list[int]]) -> str:
        """The joined cells of the values that do not move in this frame.

        Only key values that differ from the previous frame's are formatted again
        (found at C speed); the join picks the cells with ``compress``.
        """
        cells, position, chosen = self.cells, self.position, self.chosen
        if len(self.key) == len(key):
            differ: Iterable[int] = compress(range(len(key)), map(ne, key, self.key))
        else:
            differ = range(len(key))
        for index in differ:
            at = position[index]
            if at >= 0:
                cells[at] = chosen[at][1](key[index])
        self.key = list(key)
        mask = list(map(bool, cells))
        for index in changing:
            at = position[index]
            if at >= 0:
                mask[at] = False
        return ",".join(compress(cells, mask))

    def parts(self, frame: Frame) -> tuple[str, Iterator[str]]:
        """``frame``'s steady cells joined, and per sample its moving cells joined.

        A sample's fields are the two joined with a comma (either may be empty).
        """
        shape = (frame.n_calc, len(frame.key) - frame.n_calc)
        if shape != self.shape:
            # A firmware update changed the vector lengths: new columns from here on.
            columns = Columns.build(shape[0], shape[1], self.selection)
            self.chosen = [
                (item.index if item.kind == "calc" else shape[0] + item.index, self.fmt(item))
                for item in columns.sensors
            ]
            self.position = [-1] * sum(shape)
            for at, (index, _) in enumerate(self.chosen):
                self.position[index] = at
            self.cells = [""] * len(self.chosen)
            self.key = []
            self.memos.clear()
            self.shape = shape
        changing = frame.changing
        steady = self._steady(frame.key, changing)
        moving: list[list[str]] = []
        for index in sorted(changing):  # key order is column order
            at = self.position[index]
            if at < 0:
                continue
            format_cell = self.chosen[at][1]
            # Moving values repeat (a temperature wobbling by a tenth, a state flipping
            # back): each column remembers its cells, up to a bound (counters never repeat).
            memo = self.memos.setdefault(index, {})
            cells: list[str] = []
            for raw in changing[index]:
                text = memo.get(raw)
                if text is None:
                    text = format_cell(raw)
                    if len(memo) < _MEMO_CELLS:
                        memo[raw] = text
                cells.append(text)
            moving.append(cells)
        if not moving:
            return steady, iter([""] * len(frame.timestamps))
        if self.skip_empty:
            return steady, (",".join(filter(None, cells)) for cells in zip(*moving, strict=True))
        return steady, (",".join(cells) for cells in zip(*moving, strict=True))


def frames_of(samples: Iterable[Sample]) -> Iterator[Frame]:
    """One frame per sample: the frame encoders for callers that hold samples."""
    from luxlog.cache import Frame

    for sample in samples:
        yield Frame(
            sample.host,
            len(sample.calculations),
            [sample.timestamp_ms],
            [*sample.calculations, *sample.parameters],
            {},
        )


@dataclass
class Counter:
    """Filled in while exporting: samples and lines written, first and last time."""

    samples: int = 0
    lines: int = 0
    first_ms: int | None = None
    last_ms: int | None = None


# A sample's line as (timestamp ms, head, steady cells, tail): bytes that the writer joins
# straight into its ~1 MB chunks. The steady part (~30 KB with every sensor) is encoded
# once per frame and shared by its samples, so a line is copied only once, into its chunk.
Pieces = tuple[int, bytes, bytes, bytes]
_NO_LINE = (b"", b"", b"")


def _chunks(pieces: Iterable[Pieces]) -> Iterator[bytes]:
    """Join lines' pieces into ~1 MB chunks (few writes, bounded memory)."""
    buffer: list[bytes] = []
    size = 0
    for _, head, steady, tail in pieces:
        buffer += (head, steady, tail)
        size += len(head) + len(steady) + len(tail)
        if size >= _CHUNK_BYTES:
            yield b"".join(buffer)
            buffer.clear()
            size = 0
    if buffer:
        yield b"".join(buffer)


def count_samples(samples: Iterable[Sample], counter: Counter) -> Iterator[Sample]:
    """Pass ``samples`` through, counting them and noting the first and last time."""
    for sample in samples:
        if counter.first_ms is None:
            counter.first_ms = sample.timestamp_ms
        counter.last_ms = sample.timestamp_ms
        counter.samples += 1
        yield sample


def count_frames(frames: Iterable[Frame], counter: Counter) -> Iterator[Frame]:
    """Pass ``frames`` through, counting their samples and noting first and last time."""
    for frame in frames:
        if counter.first_ms is None:
            counter.first_ms = frame.timestamps[0]
        counter.last_ms = frame.timestamps[-1]
        counter.samples += len(frame.timestamps)
        yield frame


def jsonl_pieces(
    frames: Iterable[Frame],
    *,
    selection: SensorFilter,
    zone: ZoneInfo,
    device: str,
    raw: bool = False,
) -> Iterator[Pieces]:
    """One JSON object per sample, each ending in ``\\n``, as :data:`Pieces`."""
    encoder = _FrameEncoder(selection, json_cell, skip_empty=False)
    device_text = json.dumps(device, ensure_ascii=False)
    for frame in frames:
        steady, movings = encoder.parts(frame)
        steady_bytes = steady.encode("utf-8")
        extras: Iterable[str] = _raw_vectors(frame) if raw else [""] * len(frame.timestamps)
        for timestamp_ms, moving, extra in zip(frame.timestamps, movings, extras, strict=True):
            stamp = datetime.fromtimestamp(timestamp_ms // 1000, tz=zone).isoformat()
            head = f'{{"time":"{stamp}","ts_ms":{timestamp_ms},"device":{device_text},"values":{{'
            comma = "," if steady and moving else ""
            tail = f"{comma}{moving}}}{extra}}}\n"
            yield timestamp_ms, head.encode("utf-8"), steady_bytes, tail.encode("utf-8")


def jsonl_frames(
    frames: Iterable[Frame],
    *,
    selection: SensorFilter,
    zone: ZoneInfo,
    device: str,
    raw: bool = False,
) -> Iterator[str]:
    """One JSON object per sample, each ending in ``\\n``."""
    for _, *parts in jsonl_pieces(frames, selection=selection, zone=zone, device=device, raw=raw):
        yield b"".join(parts).decode("utf-8")


def _raw_vectors(frame: Frame) -> Iterator[str]:
    """``,"raw":{...}`` per sample of ``frame`` (the ``raw`` option; slower by nature)."""
    vector = list(frame.key)
    n_calc = frame.n_calc
    for position in range(len(frame.timestamps)):
        for index, values in frame.changing.items():
            vector[index] = values[position]
        calcs = ",".join(map(str, vector[:n_calc]))
        params = ",".join(map(str, vector[n_calc:]))
        yield f',"raw":{{"calculations":[{calcs}],"parameters":[{params}]}}'


def jsonl_lines(
    samples: Iterable[Sample],
    *,
    selection: SensorFilter,
    zone: ZoneInfo,
    device: str,
    raw: bool = False,
) -> Iterator[str]:
    """:func:`jsonl_frames` for samples."""
    return jsonl_frames(frames_of(samples), selection=selection, zone=zone, device=device, raw=raw)


def influx_pieces(
    frames: Iterable[Frame], *, selection: SensorFilter, device: str, site: str = ""
) -> Iterator[Pieces]:
    """One line per sample as :data:`Pieces`; a sample without any value has empty
    pieces (the protocol needs at least one field), so callers still see its time."""
    encoder = _FrameEncoder(selection, influx_cell, skip_empty=True)
    prefix = series_prefix(device, site).encode("utf-8")
    for frame in frames:
        steady, movings = encoder.parts(frame)
        steady_bytes = steady.encode("utf-8")
        for timestamp_ms, moving in zip(frame.timestamps, movings, strict=True):
            if not steady and not moving:
                yield timestamp_ms, *_NO_LINE
                continue
            comma = "," if steady and moving else ""
            tail = f"{comma}{moving} {timestamp_ms // 1000}\n".encode()
            yield timestamp_ms, prefix, steady_bytes, tail


def influx_frames(
    frames: Iterable[Frame], *, selection: SensorFilter, device: str, site: str = ""
) -> Iterator[tuple[int, str]]:
    """``(timestamp_ms, line)`` per sample; ``line`` is empty for a sample without any
    value (the protocol needs at least one field)."""
    for timestamp_ms, *parts in influx_pieces(
        frames, selection=selection, device=device, site=site
    ):
        yield timestamp_ms, b"".join(parts).decode("utf-8")


def influx_lines(
    samples: Iterable[Sample], *, selection: SensorFilter, device: str, site: str = ""
) -> Iterator[tuple[int, str]]:
    """:func:`influx_frames` for samples."""
    return influx_frames(frames_of(samples), selection=selection, device=device, site=site)


# -- ranges and the whole export -----------------------------------------------------------


def day_range(zone: ZoneInfo, first: date | None, last: date | None) -> tuple[int, int]:
    """``[start_ms, end_ms)`` from local midnight of ``first`` to the midnight after
    ``last`` in ``zone`` (DST-aware); an open end is unbounded."""
    if first is not None and last is not None and last < first:
        raise ExportError(f"--to {last} is before --from {first}")

    def midnight(day: date) -> int:
        return int(datetime.combine(day, time(0), zone).timestamp() * 1000)

    start = midnight(first) if first is not None else -(2**62)
    end = midnight(last + timedelta(days=1)) if last is not None else 2**62
    return start, end


def selection_for(settings: Settings, patterns: tuple[str, ...] = ()) -> SensorFilter:
    """``--sensors`` patterns replace ``sensors_include``; ``sensors_exclude`` still holds."""
    return SensorFilter(patterns or settings.sensors_include, settings.sensors_exclude)


def render(
    cache: Cache,
    settings: Settings,
    fmt: Format,
    *,
    start_ms: int,
    end_ms: int,
    selection: SensorFilter,
    raw: bool = False,
    profile: str | None = None,
    counter: Counter | None = None,
) -> Iterator[bytes]:
    """The export of ``[start_ms, end_ms)`` as encoded chunks, streamed from ``cache``."""
    counter = Counter() if counter is None else counter
    zone = ZoneInfo(settings.timezone)
    device = device_name(settings)
    if fmt == "csv":
        from luxlog.cache import Registers
        from luxlog.csvout import PROFILES
        from luxlog.csvout import render as render_csv

        # The roll-up's columns, for the widest vectors in the range, so a firmware
        # update inside it adds columns instead of failing half-way through a stream.
        columns = Columns.build(*cache.shape(start_ms, end_ms), selection)
        chosen = PROFILES[profile or settings.csv_profile]
        # A selection decodes only its registers (a roll-up does the same).
        registers = Registers.of(*columns.indices) if selection.include else None
        samples = count_samples(cache.query(start_ms, end_ms, registers=registers), counter)
        yield from render_csv(samples, columns, profile=chosen, zone=zone)
        counter.lines = counter.samples
        return
    frames = count_frames(cache.frames(start_ms, end_ms), counter)
    pieces: Iterator[Pieces]
    if fmt == "jsonl":
        pieces = jsonl_pieces(frames, selection=selection, zone=zone, device=device, raw=raw)
    else:
        pieces = influx_pieces(frames, selection=selection, device=device, site=settings.site)

    def counted(source: Iterator[Pieces]) -> Iterator[Pieces]:
        for piece in source:
            if piece[1]:
                counter.lines += 1
                yield piece

    yield from _chunks(counted(pieces))


def run_export(
    settings: Settings,
    fmt: Format,
    *,
    first: date | None,
    last: date | None,
    patterns: tuple[str, ...] = (),
    output: str = "-",
    raw: bool = False,
) -> Counter:
    """``luxlog export``: the range to ``output`` (a file written atomically, or ``-``).

    A file appears whole or not at all; stdout is written as the chunks come, so a pipe
    sees the first lines at once.
    """
    import sys
    from pathlib import Path

    from luxlog.cache import Cache
    from luxlog.errors import StorageError

    if not settings.cache_path.exists():
        raise StorageError(f"cache {settings.cache_path} does not exist (run `luxlog flush` first)")
    start_ms, end_ms = day_range(ZoneInfo(settings.timezone), first, last)
    counter = Counter()
    with Cache.open(settings.cache_path, readonly=True) as cache:
        chunks = render(
            cache,
            settings,
            fmt,
            start_ms=start_ms,
            end_ms=end_ms,
            selection=selection_for(settings, patterns),
            raw=raw,
            counter=counter,
        )
        if output == "-":
            stream = sys.stdout.buffer
            try:
                for chunk in chunks:
                    stream.write(chunk)
                stream.flush()
            except BrokenPipeError:
                # `luxlog export | head`: the reader has all it wanted.
                import os

                os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
            return counter
        from luxlog.outputs import AtomicFile

        target = Path(output)
        try:
            handle = AtomicFile(target)
        except OSError as exc:
            raise StorageError(f"export: cannot write {target}: {exc.strerror or exc}") from exc
        try:
            for chunk in chunks:
                handle.write(chunk)
            handle.commit()
        except OSError as exc:
            handle.abort()
            raise StorageError(f"export: cannot write {target}: {exc.strerror or exc}") from exc
        except BaseException:
            handle.abort()
            raise
    return counter
