"""The counters statistics take differences of, what is plausible, and one period's sums.

The rules themselves (steps, the bridge, anomalies) are described in :mod:`luxlog.summariser`;
this module holds the tables (counters, temperatures, the row's columns) and the running
sums of one period, so that the summariser, the day report and the web pages share them.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from luxlog.energy import Account
from luxlog.heatpump import catalogue
from luxlog.periods import HOUR_MS, Period, PeriodKind
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

if TYPE_CHECKING:
    from luxlog.cache import Registers

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

NOT_AVAILABLE = catalogue.NOT_AVAILABLE


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


def temperature_converter(index: int) -> Callable[[int], float | int | None]:
    sensor = catalogue.sensor("calc", index)
    assert sensor is not None
    return sensor.convert


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
class Unit:
    """Output units per raw integer of a counter (catalogue scale / output divisor)."""

    per_raw: float
    name: str

    @classmethod
    def of(cls, spec: CounterSpec) -> Unit:
        scale, unit = unit_scale(spec.kind, spec.index)
        if spec.output_divisor != 1.0:
            return cls(scale / spec.output_divisor, spec.unit or "h")
        return cls(scale, spec.unit or unit)


@dataclass
class CounterSum:
    raw: int = 0
    steps: int = 0  # steps attributed (incl. excluded anomalies): 0 means "unknown"
    unattributed: int = 0
    # Where the step across the period's start that was too long to bridge started: a
    # longer period that holds that time takes the step (luxlog.daysums).
    unattributed_from: int | None = None


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

TEMPERATURES: tuple[tuple[str, int], ...] = (
    ("outdoor", C_OUTDOOR),
    ("flow", C_FLOW),
    ("return", C_RETURN),
    ("hot_water", C_HOT_WATER),
)
MAX_NOTES = 6


class MinMeanMax:
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
class Problem:
    code: str  # flag
    text: str  # note


class Accumulator:
    """Running sums for one period; see the module docstring for the rules."""

    def __init__(self, period: Period, *, now_ms: int | None) -> None:
        self.period = period
        self.start = period.start_ms
        self.end = period.end_ms
        self.effective_end = self.end if now_ms is None else min(self.end, now_ms)
        self.samples = 0
        self.temperatures = [MinMeanMax() for _ in TEMPERATURES]
        self.counters = {spec.column: CounterSum() for spec in COUNTERS}
        self.counter_sums = list(self.counters.values())  # the same, by position
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
            elif len(self.notes) < MAX_NOTES:
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
        self, spec: CounterSpec, t_prev: int, t: int, increment: int, problem: Problem | None
    ) -> None:
        total = self.counters[spec.column]
        if problem is not None:
            total.steps += 1
            self.flag(problem.code, problem.text)
            return
        if t_prev < self.start and t - t_prev > BRIDGE_MS:
            total.unattributed += increment
            total.unattributed_from = t_prev
            self.unattributed_gap = (t_prev, t)
            return
        total.raw += increment
        total.steps += 1


class Layer:
    """Accumulators for sorted, non-overlapping periods, found by time."""

    def __init__(self, periods: Sequence[Period], now_ms: int | None) -> None:
        self.accumulators = [Accumulator(p, now_ms=now_ms) for p in periods]
        self._starts = [p.start_ms for p in periods]
        self._last: Accumulator | None = None  # samples come in time order: mostly this

    def at(self, t: int) -> Accumulator | None:
        last = self._last
        if last is not None and last.start <= t < last.end:
            return last
        i = bisect_right(self._starts, t) - 1
        if i >= 0 and t < self.accumulators[i].end:
            self._last = self.accumulators[i]
            return self._last
        return None

    def overlapping(self, a: int, b: int) -> Iterator[Accumulator]:
        i = max(bisect_right(self._starts, a) - 1, 0)
        accumulators = self.accumulators
        while i < len(accumulators) and accumulators[i].start < b:
            if accumulators[i].end > a:
                yield accumulators[i]
            i += 1


def value_at(vector: tuple[int, ...], index: int) -> int | None:
    if index < len(vector):
        raw = vector[index]
        if raw != NOT_AVAILABLE:
            return raw
    return None


def duration_text(ms: int) -> str:
    if ms < 120_000:
        return f"{ms // 1000} s"
    if ms < 2 * HOUR_MS:
        return f"{ms / 60_000:.0f} min"
    return f"{ms / HOUR_MS:.1f} h"


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
