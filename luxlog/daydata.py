"""What a day report shows, collected from the day's samples in one streamed pass.

Chart data comes from the same pass that computes the figures (:mod:`luxlog.summariser`),
so the report and the summary CSV agree. Power is what the controller reports: heat
output (calculation 257) and electrical power input (calculation 268) on newer firmware;
otherwise heat output is the heat counters' growth per 15 minutes, and electricity the
energy-input counters' growth when present. Without any of these the chart says so
instead of estimating.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from luxlog import registers
from luxlog.charts import Band, Series
from luxlog.counters import (
    GAP_INTERVALS,
    MAX_POWER_KW,
    MODE_DEFROST,
    MODE_EVU,
    MODE_HEATING,
    MODE_HOT_WATER,
    PeriodStats,
    unit_scale,
)
from luxlog.heatpump import catalogue
from luxlog.periods import HOUR_MS, Calendar, Period
from luxlog.registers import (
    C_COMPRESSOR,
    C_DEFROST_VALVE,
    C_FLOW,
    C_HEAT_HEATING,
    C_HEAT_HOT_WATER,
    C_HEAT_OUTPUT,
    C_HOT_WATER,
    C_MODE,
    C_OUTDOOR,
    C_POWER_INPUT,
    C_RETURN,
    P_ENERGY_HEATING,
    P_ENERGY_HOT_WATER,
)
from luxlog.sample import Sample
from luxlog.summariser import summarise

if TYPE_CHECKING:
    pass

BIN_MS = 15 * 60_000  # power steps: 15-minute averages

# Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
_TEMPERATURE_SERIES = (
    ("outdoor", "Outdoor", C_OUTDOOR, "#0072B2"),
    ("flow", "Flow", C_FLOW, "#D55E00"),
    ("return", "Return", C_RETURN, "#E69F00"),
    ("hot_water", "Hot water", C_HOT_WATER, "#CC79A7"),
)
_BANDS = (
    ("compressor", "Compressor", "#444444"),
    ("heating_mode", "Heating", "#D55E00"),
    ("hot_water_mode", "Hot water", "#CC79A7"),
    ("defrost", "Defrost", "#56B4E9"),
    ("evu_lock", "EVU lock", "#7F7F7F"),
)
_HEAT_COLOUR = "#D55E00"
_ELECTRIC_COLOUR = "#009E73"


# -- data ------------------------------------------------------------------------------


@dataclass
class DayReport:
    """Everything the HTML shows for one local day."""

    period: Period
    stats: PeriodStats
    timezone: str
    temperatures: list[Series]
    bands: list[Band]
    power: list[Series]
    power_note: str
    gaps: list[tuple[int, int]]
    host: str = ""
    firmware: str | None = None
    generated_ms: int = 0

    @property
    def file_name(self) -> str:
        """``YYYY-MM-DD_report.html``, next to the daily CSVs."""
        return f"{self.period.label}_report.html"


class _Bins:
    """Energy per 15-minute bin from counter steps, as average kW over the covered time."""

    def __init__(self, period: Period) -> None:
        self.start = period.start_ms
        count = math.ceil((period.end_ms - period.start_ms) / BIN_MS)
        self.ends = [min(self.start + (i + 1) * BIN_MS, period.end_ms) for i in range(count)]
        self.kwh = [0.0] * count
        self.covered = [0] * count

    def spread(self, a: int, b: int, kwh: float) -> None:
        """Spread ``kwh`` made during ``[a, b)`` evenly over the bins it touches."""
        if b <= a:
            return
        for i in range(max(0, (a - self.start) // BIN_MS), len(self.ends)):
            lo = max(a, self.start + i * BIN_MS)
            hi = min(b, self.ends[i])
            if hi <= lo:
                if self.start + i * BIN_MS >= b:
                    break
                continue
            self.kwh[i] += kwh * (hi - lo) / (b - a)
            self.covered[i] += hi - lo

    def series(self, series: Series) -> Series:
        """Steps: each bin drawn flat across its width; uncovered bins left out."""
        for i, end in enumerate(self.ends):
            begin = self.start + i * BIN_MS
            if self.covered[i] == 0:
                series.add(begin, None, joined=False)
                continue
            kw = round(self.kwh[i] / (self.covered[i] / HOUR_MS), 3)
            series.add(begin, kw, joined=True)
            series.add(end, kw, joined=True)
        return series


class _Collector:
    """Chart data from the day's samples, gathered while the statistics are computed."""

    def __init__(self, period: Period, *, interval_sec: int) -> None:
        self.period = period
        self.interval_ms = interval_sec * 1000
        self.gap_ms = GAP_INTERVALS * self.interval_ms
        self.temperatures = [Series(k, label, c, "°C") for k, label, _, c in _TEMPERATURE_SERIES]
        self._convert = [catalogue.sensor("calc", i) for _, _, i, _ in _TEMPERATURE_SERIES]
        self.bands = [Band(k, label, c) for k, label, c in _BANDS]
        self.heat_output = Series("heat_output", "Heat output", _HEAT_COLOUR, "kW")
        self.electric = Series("electric_power", "Electrical power", _ELECTRIC_COLOUR, "kW")
        self.heat_bins = _Bins(period)
        self.electric_bins = _Bins(period)
        self.saw_heat_output = False
        self.saw_power_input = False
        self.saw_energy_counters = False
        self.host = ""
        self.firmware: str | None = None
        self._prev: Sample | None = None
        self._prev_states: tuple[bool, ...] = ()
        self._heat_scale = unit_scale("calc", C_HEAT_HEATING)[0]
        self._energy_scale = unit_scale("param", P_ENERGY_HEATING)[0]
        self._watts = unit_scale("calc", C_POWER_INPUT)[0]

    def tap(self, samples: Iterable[Sample]) -> Iterator[Sample]:
        """Pass ``samples`` through, observing each."""
        for sample in samples:
            self.observe(sample)
            yield sample

    def observe(self, sample: Sample) -> None:
        t = sample.timestamp_ms
        prev = self._prev
        joined = prev is not None and t - prev.timestamp_ms <= self.gap_ms
        inside = self.period.start_ms <= t < self.period.end_ms
        calc = sample.calculations
        if inside:
            if not self.host:
                self.host = sample.host
                self.firmware = catalogue.firmware(calc)
            for series, sensor, (_, _, index, _) in zip(
                self.temperatures, self._convert, _TEMPERATURE_SERIES, strict=True
            ):
                value = sensor.convert(calc[index]) if sensor and index < len(calc) else None
                series.add(t, None if value is None else float(value), joined=joined)
            heat_w = _raw(calc, C_HEAT_OUTPUT)
            if heat_w is not None and 0 <= heat_w <= MAX_POWER_KW * 1000:
                self.saw_heat_output = True
                self.heat_output.add(t, heat_w / 1000, joined=joined)
            power = _raw(calc, C_POWER_INPUT)
            if power is not None and 0 <= power * self._watts <= MAX_POWER_KW * 1000:
                self.saw_power_input = True
                self.electric.add(t, power * self._watts / 1000, joined=joined)
        if prev is not None:
            self._bands(prev.timestamp_ms, t, joined)
            if joined:
                self._energy(prev, sample)
        self._prev = sample
        self._prev_states = _states(calc, sample.parameters)

    def _bands(self, prev_t: int, t: int, joined: bool) -> None:
        until = t if joined else prev_t + self.interval_ms
        a, b = max(prev_t, self.period.start_ms), min(until, self.period.end_ms)
        if b <= a:
            return
        for band, on in zip(self.bands, self._prev_states, strict=True):
            if on:
                band.add(a, b)

    def _energy(self, prev: Sample, sample: Sample) -> None:
        a, b = prev.timestamp_ms, sample.timestamp_ms
        hours = (b - a) / HOUR_MS
        heat = _growth(prev.calculations, sample.calculations, (C_HEAT_HEATING, C_HEAT_HOT_WATER))
        if heat is not None and heat * self._heat_scale <= MAX_POWER_KW * hours + 0.3:
            self.heat_bins.spread(a, b, heat * self._heat_scale)
        energy = _growth(prev.parameters, sample.parameters, (P_ENERGY_HEATING, P_ENERGY_HOT_WATER))
        if energy is not None:
            self.saw_energy_counters = True
            if energy * self._energy_scale <= MAX_POWER_KW * hours + 0.3:
                self.electric_bins.spread(a, b, energy * self._energy_scale)

    def finish(self) -> tuple[list[Series], str]:
        """Heat and electrical power series, and a sentence saying where they come from."""
        if self._prev is not None:
            self._bands(self._prev.timestamp_ms, self._prev.timestamp_ms, False)
        sources: list[str] = []
        if self.saw_heat_output:
            heat = self.heat_output
            sources.append("heat output as reported by the controller")
        else:
            heat = self.heat_bins.series(Series("heat_output", "Heat output", _HEAT_COLOUR, "kW"))
            sources.append("heat output from the heat counters, 15-minute averages")
        if self.saw_power_input:
            electric: Series | None = self.electric
            sources.append("electrical power as reported by the controller")
        elif self.saw_energy_counters:
            electric = self.electric_bins.series(
                Series("electric_power", "Electrical power", _ELECTRIC_COLOUR, "kW")
            )
            sources.append("electrical power from the energy-input counters, 15-minute averages")
        else:
            electric = None
            sources.append("this controller reports no electrical power or energy")
        series = [heat] if electric is None else [heat, electric]
        return series, "; ".join(sources)


def _raw(vector: tuple[int, ...], index: int) -> int | None:
    if index < len(vector) and vector[index] != catalogue.NOT_AVAILABLE:
        return vector[index]
    return None


def _growth(before: tuple[int, ...], after: tuple[int, ...], indices: Sequence[int]) -> int | None:
    """Summed counter growth between two samples; None if absent or going backwards."""
    total = 0
    for index in indices:
        a, b = _raw(before, index), _raw(after, index)
        if a is None or b is None or b < a:
            return None
        total += b - a
    return total


def _states(calc: tuple[int, ...], params: tuple[int, ...]) -> tuple[bool, ...]:
    """Band states of one sample, in ``_BANDS`` order (EVU lock SmartGrid-aware, as in
    the statistics)."""
    mode = _raw(calc, C_MODE)
    compressor = _raw(calc, C_COMPRESSOR) == 1
    return (
        compressor,
        compressor and mode == MODE_HEATING,
        compressor and mode == MODE_HOT_WATER,
        mode == MODE_DEFROST or _raw(calc, C_DEFROST_VALVE) == 1,
        mode == MODE_EVU or bool(registers.utility_lock(calc, params)),
    )


def collect(
    samples: Iterable[Sample],
    period: Period,
    *,
    calendar: Calendar,
    interval_sec: int,
    now_ms: int | None = None,
    generated_ms: int = 0,
) -> DayReport:
    """The report of ``period`` (a day) from time-ordered samples (from
    :data:`~luxlog.stats.BRIDGE_MS` before it), in one pass."""
    collector = _Collector(period, interval_sec=interval_sec)
    rows = summarise(
        collector.tap(samples),
        [period],
        calendar=calendar,
        interval_sec=interval_sec,
        now_ms=now_ms,
    )
    power, note = collector.finish()
    row = rows[0]
    return DayReport(
        period=period,
        stats=row,
        timezone=str(calendar.zone),
        temperatures=collector.temperatures,
        bands=collector.bands,
        power=power,
        power_note=note,
        gaps=row.gap_spans,
        host=collector.host,
        firmware=collector.firmware,
        generated_ms=generated_ms,
    )


def collect_charts(
    samples: Iterable[Sample], period: Period, *, interval_sec: int
) -> tuple[list[Series], list[Band], list[Series], str]:
    """Only the charts of :func:`collect` (temperatures, bands, power and its note),
    without the statistics: ``luxlog serve`` takes a past day's figures from the month
    summary, and the statistics are half the cost of a day."""
    collector = _Collector(period, interval_sec=interval_sec)
    for sample in samples:
        collector.observe(sample)
    power, note = collector.finish()
    return collector.temperatures, collector.bands, power, note
