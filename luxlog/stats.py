"""Statistics per local day, week, month and heating season, from the controller's counters.

What owners ask of a heat pump: how often did the compressor start, how long did it run,
how much heat went into heating and hot water, what electricity did that take, how cold
was it. The Luxtronik answers most of it with its own lifetime counters (starts, seconds
run, heat quantity), so luxlog takes *differences of counters* rather than adding up
30-second samples: a missed poll then loses nothing.

Counters, exactly (see also the README, "Statistics and reports"):

* A **step** is the change of one counter between two consecutive samples in which it is
  valid. A step belongs to the period holding its *later* sample: that is where the
  counter was seen to grow. Steps inside a period always count, however long the gap
  between their samples, so gaps inside a day never lose energy.
* A step that **crosses the start** of a period counts for that period when it spans at
  most :data:`BRIDGE_MS` (3 h): a short outage around midnight is attributed to the day
  on which polling resumed. A longer one is not attributed to any period of that kind
  (we cannot know on which side of the boundary the heat was made); the row says how much
  that was. A week or season contains most such gaps, so its own figure keeps them.
* A step that **decreases** (controller reset or replaced, counter wrapped) or grows more
  than physically possible in its elapsed time (more than one start a minute, more
  seconds than elapsed, more than 30 kW of heat or electricity; plus a little slack for
  the counters' resolution) is left out, and the row is flagged and says why. The next
  step continues from the new value, so one glitch costs one step, not the day.
* Finally a period's total is checked against its length (plus the bridge): a value
  that is still impossible is blanked and flagged rather than shown.

Electricity and COP follow :mod:`luxlog.energy`: step by step, only where heat and
electricity are both known, with stuck energy-input counters replaced by power readings.
The utility lock is read SmartGrid-aware (:func:`luxlog.registers.utility_lock`).

Everything else is per sample: temperatures min/mean/max (plain mean of the samples),
time-weighted states (a sample stands for the time until the next one, or one poll
interval across a gap), defrost starts (transitions into defrost), and gaps (no sample
for more than :data:`GAP_INTERVALS` poll intervals).

The module is pure apart from :func:`compute` and the summary writer at the end: samples
come in as an iterator (the cache streams one hour at a time) and each period keeps only
running sums, so a season (~700,000 samples) needs no more memory than a day.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from luxlog import registers
from luxlog.energy import Account, Step, Tracker
from luxlog.errors import NoData
from luxlog.heatpump import catalogue
from luxlog.registers import (  # the shared register table
    C_COMPRESSOR,
    C_COMPRESSOR_SECONDS,
    C_COMPRESSOR_STARTS,
    C_DEFROST_VALVE,
    C_EVU2_IN,
    C_EVU_IN,
    C_FLOW,
    C_HEAT_HEATING,
    C_HEAT_HOT_WATER,
    C_HEAT_OUTPUT,
    C_HEATING_SECONDS,
    C_HOT_WATER,
    C_HOT_WATER_SECONDS,
    C_MODE,
    C_OUTDOOR,
    C_POWER_INPUT,
    C_RETURN,
    P_ENERGY_HEATING,
    P_ENERGY_HOT_WATER,
    P_SMARTGRID,
)
from luxlog.sample import Sample
from luxlog.windows import Schedule

if TYPE_CHECKING:
    from luxlog.cache import Cache, Registers
    from luxlog.config import Settings

log = logging.getLogger("luxlog.stats")

PeriodKind = Literal["day", "week", "month", "season"]
PERIOD_KINDS: tuple[PeriodKind, ...] = ("day", "week", "month", "season")

HOUR_MS = 3_600_000
#: A step across a period's start counts for that period if it spans at most this long.
BRIDGE_MS = 3 * HOUR_MS
#: No sample for more than this many poll intervals is a gap (one missed poll is not).
GAP_INTERVALS = 3
#: Heating degree days G20/15 (VDI 3807 / VDI 4710): a day whose mean outdoor temperature
#: is below the heating limit of 15 °C adds 20 °C minus that mean.
DEGREE_DAY_INDOOR_C = 20.0
DEGREE_DAY_LIMIT_C = 15.0
#: More than this is not a domestic heat pump (heat or electricity, kW).
MAX_POWER_KW = 30.0

# Calculation and parameter indices: luxlog.registers (one table for all modules).

MODE_HEATING = 0
MODE_HOT_WATER = 1
MODE_EVU = 3
MODE_DEFROST = 4

_NOT_AVAILABLE = catalogue.NOT_AVAILABLE


def unit_scale(kind: catalogue.Kind, index: int) -> tuple[float, str]:
    """(units per raw integer, unit) for a counter or power value.

    The catalogue is the one place that knows units; its conversion is linear for every
    counter type, so converting a large raw number and dividing gives the factor without
    float noise. Indices beyond luxtronik 0.3.14 get their type from
    :mod:`luxlog.registers`, so CSV, statistics and report share one scale.
    """
    sensor = catalogue.sensor(kind, index)
    if sensor is not None and sensor.type != "Unknown":
        probe = 1_000_000
        converted = sensor.convert(probe)
        return (float(converted) / probe if converted is not None else 1.0), sensor.unit
    return 1.0, ""


def _temperature(index: int) -> Callable[[int], float | int | None]:
    sensor = catalogue.sensor("calc", index)
    assert sensor is not None
    return sensor.convert


# -- periods ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Local calendar days ``first_day..last_day`` as ``[start_ms, end_ms)`` in UTC."""

    kind: PeriodKind
    label: str  # 2026-03-29, 2026-W13, 2026-03, 2025/26
    first_day: date
    last_day: date
    start_ms: int
    end_ms: int

    @property
    def hours(self) -> float:
        """Length in hours: 23 or 25 for a day on which DST starts or ends."""
        return (self.end_ms - self.start_ms) / HOUR_MS

    def days(self) -> Iterator[date]:
        """Every calendar day of the period."""
        day = self.first_day
        while day <= self.last_day:
            yield day
            day += timedelta(days=1)


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


class Calendar:
    """Local days, ISO weeks, months and heating seasons in one time zone.

    Midnight comes from the roll-up's :class:`~luxlog.windows.Schedule` with a boundary
    of 00:00, so statistics and roll-ups share one definition of a local day's instant
    (DST included). A heating season runs from the first of ``season_start_month`` to
    the end of ``season_end_month`` (default September to May, "2025/26"); days outside
    it (the summer) belong to no season.
    """

    def __init__(
        self, timezone: str, season_start_month: int = 9, season_end_month: int = 5
    ) -> None:
        self._schedule = Schedule.create("00:00", timezone)
        self.zone: ZoneInfo = self._schedule.zone
        self.season_start_month = season_start_month
        self.season_end_month = season_end_month

    @classmethod
    def from_settings(cls, settings: Settings) -> Calendar:
        """The calendar for these settings."""
        return cls(settings.timezone, settings.season_start_month, settings.season_end_month)

    def midnight_ms(self, day: date) -> int:
        """The instant local ``day`` begins (UTC epoch ms)."""
        return self._schedule.boundary_ms(day)

    def local_date(self, at_ms: int) -> date:
        """The local calendar date at ``at_ms``."""
        return self._schedule.local_date(at_ms)

    def _make(self, kind: PeriodKind, label: str, first: date, last: date) -> Period:
        end = self.midnight_ms(last + timedelta(days=1))
        return Period(kind, label, first, last, self.midnight_ms(first), end)

    def _season_months(self) -> int:
        return (self.season_end_month - self.season_start_month) % 12 + 1

    def in_season(self, day: date) -> bool:
        """True if ``day`` belongs to a heating season."""
        return (day.month - self.season_start_month) % 12 < self._season_months()

    def period(self, kind: PeriodKind, day: date) -> Period | None:
        """The period of ``kind`` that holds ``day`` (None: a summer day, for seasons)."""
        if kind == "day":
            return self._make("day", day.isoformat(), day, day)
        if kind == "week":
            first = day - timedelta(days=day.weekday())
            year, week, _ = day.isocalendar()
            return self._make("week", f"{year}-W{week:02d}", first, first + timedelta(days=6))
        if kind == "month":
            first = day.replace(day=1)
            return self._make("month", f"{first:%Y-%m}", first, _next_month(first) - timedelta(1))
        if not self.in_season(day):
            return None
        year = day.year if day.month >= self.season_start_month else day.year - 1
        first = date(year, self.season_start_month, 1)
        end = first
        for _ in range(self._season_months()):
            end = _next_month(end)
        last = end - timedelta(days=1)
        label = f"{year}" if last.year == year else f"{year}/{last.year % 100:02d}"
        return self._make("season", label, first, last)

    def periods(self, kind: PeriodKind, first: date, last: date) -> list[Period]:
        """Every whole period of ``kind`` that overlaps the days ``first..last``."""
        result: list[Period] = []
        day = first
        while day <= last:
            found = self.period(kind, day)
            if found is None:  # summer: skip to the next season's first day
                day = _next_month(day)
                continue
            result.append(found)
            day = found.last_day + timedelta(days=1)
        return result


# -- counters --------------------------------------------------------------------------


@dataclass(frozen=True)
class CounterSpec:
    """One lifetime counter, the column its difference fills, and what is plausible."""

    column: str
    kind: catalogue.Kind
    index: int
    what: str  # for notes: "compressor starts"
    max_per_hour: float  # in the output unit
    slack: float  # per step, in the output unit: counter resolution and lumpy updates
    output_divisor: float = 1.0  # seconds -> hours
    unit: str = ""  # the output unit's name when the catalogue's does not read well


COUNTERS: tuple[CounterSpec, ...] = (
    CounterSpec(
        "compressor_starts", "calc", C_COMPRESSOR_STARTS, "compressor starts", 60, 2, unit="starts"
    ),
    CounterSpec(
        "compressor_hours", "calc", C_COMPRESSOR_SECONDS, "compressor run time", 1, 0.1, 3600
    ),
    CounterSpec("heating_hours", "calc", C_HEATING_SECONDS, "heating run time", 1, 0.1, 3600),
    CounterSpec("hot_water_hours", "calc", C_HOT_WATER_SECONDS, "hot-water run time", 1, 0.1, 3600),
    CounterSpec("heat_heating_kwh", "calc", C_HEAT_HEATING, "heat for heating", 30, 0.3),
    CounterSpec("heat_hot_water_kwh", "calc", C_HEAT_HOT_WATER, "heat for hot water", 30, 0.3),
    CounterSpec(
        "electricity_heating_kwh", "param", P_ENERGY_HEATING, "electricity for heating", 30, 0.3
    ),
    CounterSpec(
        "electricity_hot_water_kwh",
        "param",
        P_ENERGY_HOT_WATER,
        "electricity for hot water",
        30,
        0.3,
    ),
)


@dataclass(frozen=True)
class _Unit:
    """Output units per raw integer of a counter (catalogue scale / output divisor)."""

    per_raw: float
    name: str

    @classmethod
    def of(cls, spec: CounterSpec) -> _Unit:
        scale, unit = unit_scale(spec.kind, spec.index)
        if spec.output_divisor != 1.0:
            return cls(scale / spec.output_divisor, spec.unit or "h")
        return cls(scale, spec.unit or unit)


@dataclass
class _CounterSum:
    raw: int = 0
    steps: int = 0  # steps attributed (incl. excluded anomalies): 0 means "unknown"
    unattributed: int = 0


# -- results ---------------------------------------------------------------------------

Number = float | int | None


@dataclass
class PeriodStats:
    """One row: a day, week, month or season. ``None`` means unknown (an empty cell)."""

    period: str
    kind: PeriodKind
    hours: float
    samples: int = 0
    coverage_pct: float = 0.0
    gaps: int = 0
    gap_hours: float = 0.0
    outdoor_min_c: Number = None
    outdoor_mean_c: Number = None
    outdoor_max_c: Number = None
    flow_min_c: Number = None
    flow_mean_c: Number = None
    flow_max_c: Number = None
    return_min_c: Number = None
    return_mean_c: Number = None
    return_max_c: Number = None
    hot_water_min_c: Number = None
    hot_water_mean_c: Number = None
    hot_water_max_c: Number = None
    compressor_starts: Number = None
    compressor_hours: Number = None
    minutes_per_start: Number = None
    heating_hours: Number = None
    hot_water_hours: Number = None
    heat_heating_kwh: Number = None
    heat_hot_water_kwh: Number = None
    heat_kwh: Number = None
    electricity_heating_kwh: Number = None
    electricity_hot_water_kwh: Number = None
    electricity_kwh: Number = None
    electricity_source: str = "none"
    electricity_hours: Number = None
    cop_hours: Number = None
    cop_heat_kwh: Number = None
    cop_electricity_kwh: Number = None
    cop: Number = None
    cop_heating: Number = None
    cop_hot_water: Number = None
    evu_lock_hours: Number = None
    defrosts: Number = None
    degree_days: Number = None
    flags: list[str] = field(default_factory=list)
    gap_list: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    start_ms: int = 0
    end_ms: int = 0
    gap_spans: list[tuple[int, int]] = field(default_factory=list)  # for charts

    def row(self) -> dict[str, Any]:
        """Column -> value in :data:`COLUMNS` order (lists joined for a CSV cell)."""
        result: dict[str, Any] = {}
        for name in COLUMNS:
            value = getattr(self, name)
            result[name] = "; ".join(value) if isinstance(value, list) else value
        return result

    def to_json(self) -> dict[str, Any]:
        """Plain values for ``--json`` (lists kept as lists)."""
        data = {name: getattr(self, name) for name in COLUMNS}
        data["kind"] = self.kind
        return data


#: CSV columns in order; their definitions are in the README ("Statistics and reports").
COLUMNS: tuple[str, ...] = tuple(
    f.name for f in fields(PeriodStats) if f.name not in ("kind", "start_ms", "end_ms", "gap_spans")
)


# -- accumulating one period -----------------------------------------------------------

_TEMPERATURES: tuple[tuple[str, int], ...] = (
    ("outdoor", C_OUTDOOR),
    ("flow", C_FLOW),
    ("return", C_RETURN),
    ("hot_water", C_HOT_WATER),
)
_MAX_NOTES = 6


class _MinMeanMax:
    __slots__ = ("count", "high", "low", "total")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.low = math.inf
        self.high = -math.inf

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.low = min(self.low, value)
        self.high = max(self.high, value)

    def result(self) -> tuple[Number, Number, Number]:
        if not self.count:
            return None, None, None
        return self.low, round(self.total / self.count, 1), self.high


@dataclass
class _Problem:
    code: str  # flag
    text: str  # note


class _Accumulator:
    """Running sums for one period; see the module docstring for the rules."""

    def __init__(self, period: Period, *, now_ms: int | None) -> None:
        self.period = period
        self.start = period.start_ms
        self.end = period.end_ms
        self.effective_end = self.end if now_ms is None else min(self.end, now_ms)
        self.samples = 0
        self.temperatures = [_MinMeanMax() for _ in _TEMPERATURES]
        self.counters = {spec.column: _CounterSum() for spec in COUNTERS}
        self.unattributed_gap: tuple[int, int] | None = None
        self.evu_ms = 0
        self.evu_known = False
        self.defrosts = 0
        self.defrost_known = False
        self.energy = Account()
        self.gaps: list[tuple[int, int]] = []
        self.gap_ms = 0
        self.flags: dict[str, None] = {}
        self.notes: list[str] = []
        self.extra_notes = 0

    def flag(self, code: str, note: str | None = None, *, first: bool = False) -> None:
        self.flags[code] = None
        if note is not None:
            if first:
                self.notes.insert(0, note)
            elif len(self.notes) < _MAX_NOTES:
                self.notes.append(note)
            else:
                self.extra_notes += 1

    def add_gap(self, a: int, b: int) -> None:
        a, b = max(a, self.start), min(b, self.effective_end)
        if b > a:
            if self.gaps and self.gaps[-1][1] == a:  # the same gap, resumed
                self.gaps[-1] = (self.gaps[-1][0], b)
            else:
                self.gaps.append((a, b))
            self.gap_ms += b - a

    def add_step(
        self, spec: CounterSpec, t_prev: int, t: int, increment: int, problem: _Problem | None
    ) -> None:
        total = self.counters[spec.column]
        if problem is not None:
            total.steps += 1
            self.flag(problem.code, problem.text)
            return
        if t_prev < self.start and t - t_prev > BRIDGE_MS:
            total.unattributed += increment
            self.unattributed_gap = (t_prev, t)
            return
        total.raw += increment
        total.steps += 1


class _Layer:
    """Accumulators for sorted, non-overlapping periods, found by time."""

    def __init__(self, periods: Sequence[Period], now_ms: int | None) -> None:
        self.accumulators = [_Accumulator(p, now_ms=now_ms) for p in periods]
        self._starts = [p.start_ms for p in periods]

    def at(self, t: int) -> _Accumulator | None:
        i = bisect_right(self._starts, t) - 1
        if i >= 0 and t < self.accumulators[i].end:
            return self.accumulators[i]
        return None

    def overlapping(self, a: int, b: int) -> Iterator[_Accumulator]:
        i = max(bisect_right(self._starts, a) - 1, 0)
        accumulators = self.accumulators
        while i < len(accumulators) and accumulators[i].start < b:
            if accumulators[i].end > a:
                yield accumulators[i]
            i += 1


def _value(vector: tuple[int, ...], index: int) -> int | None:
    if index < len(vector):
        raw = vector[index]
        if raw != _NOT_AVAILABLE:
            return raw
    return None


def _duration(ms: int) -> str:
    if ms < 120_000:
        return f"{ms // 1000} s"
    if ms < 2 * HOUR_MS:
        return f"{ms / 60_000:.0f} min"
    return f"{ms / HOUR_MS:.1f} h"


class Summariser:
    """Feeds samples to the periods of one or more layers and turns sums into rows.

    ``interval_sec`` is the poll interval (expected samples, gaps, how long a sample
    stands for across a gap); ``now_ms`` cuts periods that are not over yet.
    """

    def __init__(
        self,
        layers: Sequence[Sequence[Period]],
        *,
        calendar: Calendar,
        interval_sec: int,
        now_ms: int | None = None,
    ) -> None:
        self.calendar = calendar
        self.interval_ms = interval_sec * 1000
        self.gap_ms = GAP_INTERVALS * self.interval_ms
        self.now_ms = now_ms
        self.layers = [_Layer(periods, now_ms) for periods in layers]
        self._units = {spec.column: _Unit.of(spec) for spec in COUNTERS}
        self._temperature_convert = [_temperature(index) for _, index in _TEMPERATURES]
        self._watts_per_raw = unit_scale("calc", C_POWER_INPUT)[0]
        self._last_valid: dict[str, tuple[int, int]] = {}
        self._prev_t: int | None = None
        self._prev_state: tuple[bool | None, float | None, int | None] = (None, None, None)
        self._prev_defrost: bool | None = None
        self._energy = Tracker()

    # -- feeding ---------------------------------------------------------------------

    def feed(self, samples: Iterable[Sample]) -> None:
        """Process ``samples`` (time order; samples up to :data:`BRIDGE_MS` before the
        first period only prime the counters)."""
        for sample in samples:
            self.add(sample)

    def add(self, sample: Sample) -> None:
        """Process one sample (later than every sample before it)."""
        t = sample.timestamp_ms
        prev_t = self._prev_t
        if prev_t is not None and t <= prev_t:
            return  # out of order or duplicate: the cache never yields these
        calc = sample.calculations
        self._close_interval(t)
        if prev_t is None:
            # Everything before the first sample we see is a gap where periods need one.
            for layer in self.layers:
                for acc in layer.overlapping(-(2**62), t):
                    if t - acc.start > self.gap_ms:
                        acc.add_gap(acc.start, t)
        elif t - prev_t > self.gap_ms:
            for layer in self.layers:
                for acc in layer.overlapping(prev_t, t):
                    acc.add_gap(prev_t, t)

        here = [layer.at(t) for layer in self.layers]
        steps = self._counters(sample, t, here)

        mode = _value(calc, C_MODE)
        valve = _value(calc, C_DEFROST_VALVE)
        defrost: bool | None = None
        if mode is not None or valve is not None:
            defrost = mode == MODE_DEFROST or valve == 1
        lock = registers.utility_lock(calc, sample.parameters)
        evu: bool | None = None
        if lock is not None or mode is not None:
            evu = bool(lock) or mode == MODE_EVU
        power = _value(calc, C_POWER_INPUT)
        watts: float | None = None
        if power is not None:
            watts = power * self._watts_per_raw
            if not 0 <= watts <= MAX_POWER_KW * 1000:
                watts = None

        temperatures = [
            convert(calc[index]) if index < len(calc) else None
            for convert, (_, index) in zip(self._temperature_convert, _TEMPERATURES, strict=True)
        ]
        for target in here:
            if target is None:
                continue
            target.samples += 1
            for total, value in zip(target.temperatures, temperatures, strict=True):
                if value is not None:
                    total.add(float(value))
            if defrost is not None:
                target.defrost_known = True
                if defrost and self._prev_defrost is False:
                    target.defrosts += 1
            if evu is not None:
                target.evu_known = True
        self._energy.add(self._energy_step(steps, prev_t, t), here)
        self._prev_defrost = defrost
        self._prev_t = t
        self._prev_state = (evu, watts, mode)

    def _counters(
        self, sample: Sample, t: int, here: list[_Accumulator | None]
    ) -> dict[str, tuple[int, int]]:
        """Attribute every counter's step; return the valid ones (column -> start, raw
        growth) for the energy balance."""
        valid: dict[str, tuple[int, int]] = {}
        for spec in COUNTERS:
            vector = sample.calculations if spec.kind == "calc" else sample.parameters
            value = _value(vector, spec.index)
            if value is None:
                continue
            last = self._last_valid.get(spec.column)
            self._last_valid[spec.column] = (t, value)
            if last is None:
                continue
            t_prev, v_prev = last
            increment = value - v_prev
            problem = self._check(spec, t_prev, t, v_prev, value)
            if problem is None:
                valid[spec.column] = (t_prev, increment)
            for acc in here:
                if acc is not None:
                    acc.add_step(spec, t_prev, t, increment, problem)
        return valid

    def _pair(
        self, steps: dict[str, tuple[int, int]], heating: str, hot_water: str
    ) -> tuple[int, float, float] | None:
        """Two counters' growth in kWh, when both stepped from the same sample."""
        a, b = steps.get(heating), steps.get(hot_water)
        if a is None or b is None or a[0] != b[0]:
            return None
        return a[0], a[1] * self._units[heating].per_raw, b[1] * self._units[hot_water].per_raw

    def _energy_step(self, steps: dict[str, tuple[int, int]], prev_t: int | None, t: int) -> Step:
        """What this step says about heat and electricity (see :mod:`luxlog.energy`)."""
        power: tuple[int, float, float, float] | None = None
        _, watts, mode = self._prev_state
        if prev_t is not None and watts is not None and t - prev_t <= self.gap_ms:
            kwh = watts * (t - prev_t) / 3_600_000_000
            slot = 0 if mode == MODE_HEATING else 1 if mode == MODE_HOT_WATER else 2
            parts = [0.0, 0.0, 0.0]
            parts[slot] = kwh
            power = (prev_t, parts[0], parts[1], parts[2])
        compressor = steps.get("compressor_hours")
        heating, hot_water = steps.get("heating_hours"), steps.get("hot_water_hours")
        return Step(
            end=t,
            heat=self._pair(steps, "heat_heating_kwh", "heat_hot_water_kwh"),
            counters=self._pair(steps, "electricity_heating_kwh", "electricity_hot_water_kwh"),
            power=power,
            compressor_s=float(compressor[1]) if compressor is not None else 0.0,
            run_s=(
                float(heating[1]) if heating is not None else 0.0,
                float(hot_water[1]) if hot_water is not None else 0.0,
            ),
        )

    def _check(
        self, spec: CounterSpec, t_prev: int, t: int, v_prev: int, value: int
    ) -> _Problem | None:
        unit = self._units[spec.column]
        if value < v_prev:
            return _Problem(
                "counter-reset",
                f"{spec.what} counter went back from {_fmt(v_prev * unit.per_raw)} to "
                f"{_fmt(value * unit.per_raw)} {unit.name} at {self._clock(t)} (controller "
                "reset or replaced?): that step is left out",
            )
        increment = (value - v_prev) * unit.per_raw
        limit = spec.max_per_hour * (t - t_prev) / HOUR_MS + spec.slack
        if increment > limit:
            return _Problem(
                "counter-jump",
                f"{spec.what} counter jumped by {_fmt(increment)} {unit.name} in "
                f"{_duration(t - t_prev)} at {self._clock(t)}, more than possible: "
                "that step is left out",
            )
        return None

    def _close_interval(self, next_t: int | None) -> None:
        """Spread the previous sample's state over the time it stands for."""
        prev_t = self._prev_t
        if prev_t is None:
            return
        if next_t is not None and next_t - prev_t <= self.gap_ms:
            until = next_t
        else:
            until = prev_t + self.interval_ms
        if self.now_ms is not None:
            until = min(until, max(self.now_ms, prev_t))
        if not self._prev_state[0]:
            return
        for layer in self.layers:
            for acc in layer.overlapping(prev_t, until):
                acc.evu_ms += min(until, acc.end) - max(prev_t, acc.start)

    # -- results ---------------------------------------------------------------------

    def finish(self) -> list[list[PeriodStats]]:
        """Rows for every layer, in period order."""
        self._close_interval(None)
        self._energy.finish()
        last = self._prev_t
        for layer in self.layers:
            for acc in layer.accumulators:
                if last is None:
                    acc.add_gap(acc.start, acc.effective_end)
                elif acc.effective_end - max(last, acc.start) > self.gap_ms:
                    acc.add_gap(max(last, acc.start), acc.effective_end)
        return [[self._row(acc) for acc in layer.accumulators] for layer in self.layers]

    def _clock(self, at_ms: int, pattern: str = "%Y-%m-%d %H:%M") -> str:
        """Local time; with the zone's abbreviation where the wall clock repeats (the
        hour a fall-back day has twice), so "02:30 CEST" and "02:30 CET" stay apart."""
        moment = datetime.fromtimestamp(at_ms / 1000, tz=self.calendar.zone)
        if moment.replace(fold=1 - moment.fold).utcoffset() != moment.utcoffset():
            pattern += " %Z"
        return moment.strftime(pattern)

    def _span(self, a: int, b: int, kind: PeriodKind) -> str:
        if kind != "day":
            return f"{self._clock(a)}-{self._clock(b)}"
        left = datetime.fromtimestamp(a / 1000, tz=self.calendar.zone)
        right = datetime.fromtimestamp(b / 1000, tz=self.calendar.zone)
        # 24:00 rather than 00:00 for a gap that runs to the end of the day.
        midnight = right.date() > left.date() and right.hour == 0 and right.minute == 0
        end = "24:00" if midnight else self._clock(b, "%H:%M")
        return f"{self._clock(a, '%H:%M')}-{end}"

    def _row(self, acc: _Accumulator) -> PeriodStats:
        period = acc.period
        row = PeriodStats(
            period.label,
            period.kind,
            round(period.hours, 2),
            acc.samples,
            start_ms=period.start_ms,
            end_ms=period.end_ms,
        )
        elapsed = acc.effective_end - acc.start
        expected = elapsed / self.interval_ms if elapsed > 0 else 0
        row.coverage_pct = round(min(100.0, 100.0 * acc.samples / expected), 1) if expected else 0.0
        row.gaps = len(acc.gaps)
        row.gap_hours = round(acc.gap_ms / HOUR_MS, 2)
        row.gap_spans = list(acc.gaps)
        row.gap_list = [self._span(a, b, period.kind) for a, b in acc.gaps[:10]]
        if len(acc.gaps) > 10:
            row.gap_list.append(f"+{len(acc.gaps) - 10} more")
        if period.kind == "day" and round(period.hours) != 24:
            word = "starts" if period.hours < 24 else "ends"
            acc.flag(
                f"dst-{round(period.hours)}h",
                f"{round(period.hours)}-hour day (summer time {word})",
                first=True,
            )
        if acc.effective_end < acc.end:
            acc.flag("partial", "period not over yet: figures so far", first=True)
        if acc.samples == 0:
            acc.flag("no-data")

        for (name, _), total in zip(_TEMPERATURES, acc.temperatures, strict=True):
            low, mean, high = total.result()
            setattr(row, f"{name}_min_c", low)
            setattr(row, f"{name}_mean_c", mean)
            setattr(row, f"{name}_max_c", high)
        if period.kind == "day" and row.outdoor_mean_c is not None:
            mean = float(row.outdoor_mean_c)
            excess = DEGREE_DAY_INDOOR_C - mean if mean < DEGREE_DAY_LIMIT_C else 0.0
            row.degree_days = round(excess, 1)

        self._counter_columns(acc, row)
        self._electricity(acc, row)
        row.evu_lock_hours = round(acc.evu_ms / HOUR_MS, 2) if acc.evu_known else None
        row.defrosts = acc.defrosts if acc.defrost_known else None

        if acc.extra_notes:
            acc.notes.append(f"and {acc.extra_notes} more like these")
        row.flags = list(acc.flags)
        row.notes = acc.notes
        return row

    def _counter_columns(self, acc: _Accumulator, row: PeriodStats) -> None:
        """Counter differences, the bridge note and the whole-period sanity check."""
        # The most a counter can grow in this period: its length plus a bridged gap.
        hours = (acc.effective_end - acc.start + BRIDGE_MS) / HOUR_MS
        lost: list[str] = []
        for spec in COUNTERS:
            total = acc.counters[spec.column]
            unit = self._units[spec.column]
            if total.unattributed:
                lost.append(f"{_fmt(total.unattributed * unit.per_raw)} {_label(spec, unit)}")
            if not total.steps:
                continue
            value = total.raw * unit.per_raw
            if value > spec.max_per_hour * hours + spec.slack * 10:
                acc.flag(
                    "implausible-total",
                    f"{spec.what}: {_fmt(value)} {unit.name} is impossible in "
                    f"{_fmt(hours)} h, left empty",
                )
                continue
            digits = 0 if unit.name == "starts" else 2
            setattr(row, spec.column, round(value, digits) if digits else round(value))
        if acc.unattributed_gap is not None:
            a, b = acc.unattributed_gap
            acc.flag(
                "gap-not-attributed",
                f"no samples from {self._clock(a)} to {self._clock(b)} ({_duration(b - a)}, "
                f"more than {BRIDGE_MS // HOUR_MS} h across the start): what the counters "
                f"grew then ({', '.join(lost)}) is not attributed to this {acc.period.kind}",
            )
        starts = row.compressor_starts
        if starts and row.compressor_hours is not None:
            row.minutes_per_start = round(float(row.compressor_hours) * 60 / float(starts), 1)
        if row.heat_heating_kwh is not None and row.heat_hot_water_kwh is not None:
            row.heat_kwh = round(float(row.heat_heating_kwh) + float(row.heat_hot_water_kwh), 2)

    def _electricity(self, acc: _Accumulator, row: PeriodStats) -> None:
        """Electricity from live energy-input counters, else from power readings, else
        nothing (never estimated); the COP only over the hours where heat and electricity
        are both known (:mod:`luxlog.energy`)."""
        energy = acc.energy
        total = energy.total()
        row.electricity_source = energy.source_name()
        row.electricity_heating_kwh = row.electricity_hot_water_kwh = None
        hours = _hours
        if energy.stuck_ms:
            fallback = "power readings" if "power" in row.electricity_source else "nowhere"
            acc.flag(
                "counters-stuck",
                f"energy-input counters did not advance while the compressor ran "
                f"{_fmt(energy.stuck_run_s / 3600)} h: not reporting for "
                f"{hours(energy.stuck_ms)} h, electricity then from {fallback}",
            )
        if total.e_ms:
            row.electricity_heating_kwh = round(total.e_heating, 2)
            row.electricity_hot_water_kwh = round(total.e_hot_water, 2)
            row.electricity_kwh = round(total.e_heating + total.e_hot_water + total.e_other, 2)
            row.electricity_hours = hours(total.e_ms)
            missing = (acc.effective_end - acc.start) - total.e_ms
            if missing > self.gap_ms:
                acc.flag(
                    "electricity-partial",
                    f"electricity is known for {hours(total.e_ms)} h of the period "
                    f"(from {row.electricity_source})",
                )
        electricity = total.j_e_heating + total.j_e_hot_water + total.j_e_other
        heat = total.j_heat_heating + total.j_heat_hot_water
        if total.j_ms:
            row.cop_hours = hours(total.j_ms)
            row.cop_heat_kwh = round(heat, 2)
            row.cop_electricity_kwh = round(electricity, 2)
            row.cop = _ratio(heat, electricity)
            row.cop_heating = _ratio(total.j_heat_heating, total.j_e_heating)
            row.cop_hot_water = _ratio(total.j_heat_hot_water, total.j_e_hot_water)
        if (
            energy.heat_ms
            and total.e_ms
            and (energy.heat_ms - total.j_ms > self.gap_ms or total.e_ms - total.j_ms > self.gap_ms)
        ):
            both = (
                f"the COP is over the {hours(total.j_ms)} h both are known "
                f"({_fmt(heat)} kWh heat, {_fmt(electricity)} kWh electricity)"
                if total.j_ms
                else "they never overlap: no COP"
            )
            acc.flag(
                "energy-spans-differ",
                f"heat is known for {hours(energy.heat_ms)} h, electricity for "
                f"{hours(total.e_ms)} h: {both}",
            )


def _hours(ms: int) -> float:
    return round(ms / HOUR_MS, 2)


def _label(spec: CounterSpec, unit: _Unit) -> str:
    return unit.name if unit.name == "starts" else f"{unit.name} {spec.what}"


def _ratio(numerator: Number, denominator: Number) -> Number:
    if numerator is None or denominator is None or float(denominator) <= 0:
        return None
    return round(float(numerator) / float(denominator), 2)


def _fmt(value: float) -> str:
    """A number for a note: no float noise, no needless decimals."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text if text != "-0" else "0"


def summarise(
    samples: Iterable[Sample],
    periods: Sequence[Period],
    *,
    calendar: Calendar,
    interval_sec: int,
    now_ms: int | None = None,
) -> list[PeriodStats]:
    """One row per period from a time-ordered stream of samples.

    Feed samples from :data:`BRIDGE_MS` before the first period on, so its first step
    can be bridged. Weeks, months and seasons get their degree days from the days they
    contain, which are summarised in the same pass.
    """
    if not periods:
        return []
    if periods[0].kind == "day":
        summariser = Summariser(
            [periods], calendar=calendar, interval_sec=interval_sec, now_ms=now_ms
        )
        summariser.feed(samples)
        return summariser.finish()[0]
    days = [
        day_period
        for period in periods
        for day in period.days()
        if (day_period := calendar.period("day", day)) is not None
    ]
    summariser = Summariser(
        [periods, days], calendar=calendar, interval_sec=interval_sec, now_ms=now_ms
    )
    summariser.feed(samples)
    rows, day_rows = summariser.finish()
    by_start = {row.start_ms: row for row in day_rows}
    for row in rows:
        values: list[float] = []
        for day in days:
            degree_days = by_start[day.start_ms].degree_days
            if row.start_ms <= day.start_ms < row.end_ms and degree_days is not None:
                values.append(float(degree_days))
        row.degree_days = round(sum(values), 1) if values else None
    return rows


# -- reading the cache -----------------------------------------------------------------


def _now_ms() -> int:
    import time

    return time.time_ns() // 1_000_000


def default_range(
    kind: PeriodKind, calendar: Calendar, today: date, first: date | None, last: date | None
) -> tuple[date, date]:
    """``--from``/``--to`` defaults: the last 14 days, 8 weeks, 12 months or 2 seasons."""
    last = min(last or today, today)
    if first is not None:
        return first, last
    if kind == "day":
        return last - timedelta(days=13), last
    if kind == "week":
        return last - timedelta(weeks=7), last
    if kind == "month":
        index = last.year * 12 + last.month - 1 - 11
        return date(index // 12, index % 12 + 1, 1), last
    # Two seasons: the one holding (or last before) ``last``, and the one before it.
    year = last.year if last.month >= calendar.season_start_month else last.year - 1
    return date(year - 1, calendar.season_start_month, 1), last


def compute(
    settings: Settings,
    *,
    kind: PeriodKind = "day",
    first: date | None = None,
    last: date | None = None,
    now_ms: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[PeriodStats]:
    """Rows of ``kind`` for the days ``first..last`` (whole periods), read from the cache."""
    from luxlog.cache import Cache

    calendar = Calendar.from_settings(settings)
    now = _now_ms() if now_ms is None else now_ms
    first, last = default_range(kind, calendar, calendar.local_date(now), first, last)
    periods = [p for p in calendar.periods(kind, first, last) if p.start_ms < now]
    if not periods:
        return []
    if not settings.cache_path.exists():
        raise NoData(
            f"no data yet: the cache {settings.cache_path} is created by the first flush "
            "(every 5 minutes when scheduled; or run `luxlog flush`)"
        )
    with Cache.open(settings.cache_path, readonly=True) as cache:
        if kind == "day":
            from luxlog.dayfigures import day_rows  # finished days stored by `rollup due`

            return day_rows(
                cache,
                periods,
                calendar=calendar,
                settings=settings,
                now_ms=now,
                progress=progress,
            )
        return summarise_cache(
            cache, periods, calendar=calendar, settings=settings, now_ms=now, progress=progress
        )


def registers_read() -> Registers:
    """Every register the statistics and the day report read, and no other.

    The cache then decodes ~25 of ~1,300 columns (issue 17). A register used here but
    missing from this list reads as ``cache.UNREAD``: absurd figures, caught by the tests.
    """
    from luxlog.cache import Registers

    calculations = {
        C_FLOW,
        C_RETURN,
        C_OUTDOOR,
        C_HOT_WATER,
        C_EVU_IN,
        C_EVU2_IN,
        C_DEFROST_VALVE,
        C_COMPRESSOR,
        C_MODE,
        C_HEAT_OUTPUT,
        C_POWER_INPUT,
        *range(catalogue.VERSION_FIRST, catalogue.VERSION_LAST + 1),
    }
    parameters = {P_SMARTGRID}
    for spec in COUNTERS:
        (calculations if spec.kind == "calc" else parameters).add(spec.index)
    return Registers.of(calculations, parameters)


def summarise_cache(
    cache: Cache,
    periods: Sequence[Period],
    *,
    calendar: Calendar,
    settings: Settings,
    now_ms: int,
    progress: Callable[[int, int], None] | None = None,
) -> list[PeriodStats]:
    """:func:`summarise` over the cache's samples for ``periods`` (streamed)."""
    start = periods[0].start_ms - BRIDGE_MS
    end = min(periods[-1].end_ms, now_ms + 1)
    samples: Iterable[Sample] = cache.query(start, end, registers=registers_read())
    if progress is not None:
        samples = _counting(samples, cache.count(start, end), progress)
    return summarise(
        samples, periods, calendar=calendar, interval_sec=settings.interval_sec, now_ms=now_ms
    )


def _counting(
    samples: Iterable[Sample], total: int, progress: Callable[[int, int], None]
) -> Iterator[Sample]:
    done = 0
    for sample in samples:
        yield sample
        done += 1
        if done % 2880 == 0:
            progress(done, total)
    progress(done, total)


# -- the month summary file ------------------------------------------------------------


def summary_file_name(month: date) -> str:
    """``YYYY-MM_summary.csv``: sorts next to the daily CSVs of that month."""
    return f"{month:%Y-%m}_summary.csv"


def summary_csv(rows: Sequence[PeriodStats], profile_name: str) -> bytes:
    """The summary file's bytes in a CSV profile (delimiter, decimal, BOM, CRLF)."""
    from luxlog.csvout import BOM, ENCODING, LINE_END, PROFILES, format_value

    profile = PROFILES[profile_name]
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=profile.delimiter, lineterminator=LINE_END)
    writer.writerow(["date" if name == "period" else name for name in COLUMNS])
    for row in rows:
        cells: list[str] = []
        for value in row.row().values():
            if isinstance(value, str):
                cells.append(value)
            else:
                cells.append(format_value(value, profile.decimal))
        writer.writerow(cells)
    return ((BOM if profile.bom else "") + buffer.getvalue()).encode(ENCODING)


def ready_dirs(settings: Settings) -> tuple[list[Path], dict[Path, str]]:
    """Output folders that can take a file now, and why the others cannot.

    Same policy as the roll-up CSVs: a folder inside ``data_dir`` is created when
    missing, any other (a NAS mount point) must exist already.
    """
    ready: list[Path] = []
    failed: dict[Path, str] = {}
    data_dir = settings.data_dir.absolute()
    for directory in settings.output_dirs:
        try:
            if not directory.is_dir():
                if directory.exists() or not directory.absolute().is_relative_to(data_dir):
                    raise FileNotFoundError(
                        2, "does not exist or is not a directory (not mounted?)"
                    )
                directory.mkdir(parents=True, exist_ok=True)
            ready.append(directory)
        except OSError as exc:
            failed[directory] = exc.strerror or str(exc)
    return ready, failed


@dataclass
class WriteResult:
    """Files written and folders that failed (folder -> reason)."""

    written: list[Path] = field(default_factory=list)
    failed: dict[Path, str] = field(default_factory=dict)


def write_file(settings: Settings, name: str, content: bytes) -> WriteResult:
    """Write ``content`` as ``name`` into every output folder, atomically; never raises
    for one bad folder (the others still get the file)."""
    from luxlog.csvout import write_all

    result = WriteResult()
    directories, result.failed = ready_dirs(settings)
    targets = [directory / name for directory in directories]
    failures = write_all(targets, [content])
    for target in targets:
        if target in failures:
            error = failures[target]
            result.failed[target.parent] = error.strerror or str(error)
        else:
            result.written.append(target)
    for directory, reason in result.failed.items():
        log.warning("%s: cannot write to %s: %s", name, directory, reason)
    return result


def month_rows(
    cache: Cache, settings: Settings, through: date, *, now_ms: int | None = None
) -> list[PeriodStats]:
    """Day rows of ``through``'s month up to ``through``, from the first cached day on."""
    calendar = Calendar.from_settings(settings)
    now = _now_ms() if now_ms is None else now_ms
    first = through.replace(day=1)
    span = cache.time_range()
    if span is None:
        return []
    first = max(first, calendar.local_date(span[0]))
    if first > through or calendar.local_date(span[1]) < first:
        return []  # nothing cached in this month: no file rather than a month of blanks
    periods = calendar.periods("day", first, through)
    from luxlog.dayfigures import day_rows  # stored per finished day (issue 17)

    return day_rows(cache, periods, calendar=calendar, settings=settings, now_ms=now)


def update_month_summary(
    settings: Settings, cache: Cache, day: date, *, now_ms: int | None = None
) -> WriteResult:
    """Rewrite ``YYYY-MM_summary.csv`` of ``day``'s month with rows up to ``day``.

    Called by ``rollup due`` once per daily roll-up, for the calendar day that ended
    before that roll-up's boundary. The whole month is recomputed (one streamed pass,
    a few seconds for 31 days) rather than appended to: samples flushed late, or a
    fixed counter rule, then show up the next day instead of never.
    """
    rows = month_rows(cache, settings, day, now_ms=now_ms)
    if not rows:
        return WriteResult()
    name = summary_file_name(day)
    result = write_file(settings, name, summary_csv(rows, settings.csv_profile))
    if result.written:
        log.info(
            "updated %s (%d days) in %s",
            name,
            len(rows),
            ", ".join(str(p.parent) for p in result.written),
        )
    return result


def write_month_summaries(
    settings: Settings, first: date, last: date, *, now_ms: int | None = None
) -> list[WriteResult]:
    """``stats --write``: rewrite the month files of ``first..last`` (complete days only).

    Each month is recomputed whole, as :func:`update_month_summary` does, so a partial
    ``--from``/``--to`` range never leaves a month file with days missing.
    """
    from luxlog.cache import Cache

    calendar = Calendar.from_settings(settings)
    now = _now_ms() if now_ms is None else now_ms
    yesterday = calendar.local_date(now) - timedelta(days=1)
    results: list[WriteResult] = []
    with Cache.open(settings.cache_path, readonly=True) as cache:
        month = first.replace(day=1)
        while month <= min(last, yesterday):
            through = min(_next_month(month) - timedelta(days=1), yesterday)
            results.append(update_month_summary(settings, cache, through, now_ms=now))
            month = _next_month(month)
    return results


# -- the terminal table ----------------------------------------------------------------

#: What ``luxlog stats`` shows on a terminal (the CSV and ``--json`` have every column).
TABLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("period", "period"),
    ("hours", "h"),
    ("coverage_pct", "cov %"),
    ("outdoor_min_c", "out min"),
    ("outdoor_mean_c", "out mean"),
    ("outdoor_max_c", "out max"),
    ("compressor_starts", "starts"),
    ("minutes_per_start", "min/start"),
    ("compressor_hours", "comp h"),
    ("heat_heating_kwh", "heat heating kWh"),
    ("heat_hot_water_kwh", "heat hot water kWh"),
    ("electricity_kwh", "elec kWh"),
    ("electricity_source", "elec from"),
    ("cop", "COP"),
    ("cop_hours", "COP h"),
    ("evu_lock_hours", "EVU h"),
    ("defrosts", "defrosts"),
    ("degree_days", "Kd"),
    ("flags", "flags"),
)


# What fits an 80-column terminal: the figures owners ask for first. `stats --wide`
# (and tab-separated output in a pipe) shows every column of TABLE_COLUMNS.
NARROW_COLUMNS: tuple[tuple[str, str], ...] = (
    ("period", "period"),
    ("outdoor_mean_c", "out °C"),
    ("compressor_starts", "starts"),
    ("compressor_hours", "comp h"),
    ("heat_heating_kwh", "heat kWh"),
    ("heat_hot_water_kwh", "hw kWh"),
    ("electricity_kwh", "el kWh"),
    ("cop", "COP"),
    ("flags", "flags"),
)


def table_view(
    rows: Sequence[PeriodStats], *, wide: bool = True
) -> tuple[list[str], list[list[str]]]:
    """Headers and cell texts for the terminal table ('' for unknown values)."""
    columns = TABLE_COLUMNS if wide else NARROW_COLUMNS
    headers = [header for _, header in columns]
    cells: list[list[str]] = []
    for row in rows:
        line: list[str] = []
        for name, _ in columns:
            value = getattr(row, name)
            if isinstance(value, list):
                line.append(", ".join(value))
            elif value is None:
                line.append("")
            else:
                line.append(str(value))
        cells.append(line)
    return headers, cells


def after_daily_rollup(settings: Settings, cache: Cache, rollup_day: date) -> WriteResult:
    """``rollup due``'s hook: refresh the month summary once the daily roll-up of
    ``rollup_day`` is done.

    That roll-up ends at ``csv_time`` on ``rollup_day``, so the calendar day before it
    is over and gets its row. Held under the roll-up lock (two runs must not write the
    same temp file), and never fatal: a summary that cannot be written is logged and the
    next day's run writes the month again.
    """
    from luxlog.errors import LuxlogError
    from luxlog.locks import hold, rollup_lock_path

    day = rollup_day - timedelta(days=1)
    try:
        with hold(
            rollup_lock_path(settings.data_dir), timeout=settings.timeout_sec, what="the roll-ups"
        ):
            result = update_month_summary(settings, cache, day)
            _write_day_report(settings, cache, day)
            return result
    except LuxlogError as exc:
        log.warning("%s not updated: %s", summary_file_name(day), exc)
        return WriteResult()


def _write_day_report(settings: Settings, cache: Cache, day: date) -> None:
    """The day's HTML report next to its CSVs, when the day has samples; never fatal."""
    from luxlog.errors import LuxlogError
    from luxlog.report import write_report

    calendar = Calendar.from_settings(settings)
    if not cache.count(calendar.midnight_ms(day), calendar.midnight_ms(day + timedelta(days=1))):
        return
    try:
        result = write_report(settings, day)
    except LuxlogError as exc:
        log.warning("report of %s not written: %s", day, exc)
        return
    for folder, reason in result.failed.items():
        log.warning("report of %s not written to %s: %s", day, folder, reason)
