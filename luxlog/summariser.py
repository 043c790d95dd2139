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

The module is pure apart from :func:`summarise_cache`: samples
come in as an iterator (the cache streams one hour at a time) and each period keeps only
running sums, so a season (~700,000 samples) needs no more memory than a day.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from luxlog import registers
from luxlog.counters import (
    BRIDGE_MS,
    COUNTERS,
    DEGREE_DAY_INDOOR_C,
    DEGREE_DAY_LIMIT_C,
    GAP_INTERVALS,
    MAX_POWER_KW,
    MODE_DEFROST,
    MODE_EVU,
    MODE_HEATING,
    MODE_HOT_WATER,
    TEMPERATURES,
    Accumulator,
    CounterSpec,
    Layer,
    Number,
    PeriodStats,
    Problem,
    Unit,
    duration_text,
    registers_read,
    temperature_converter,
    unit_scale,
    value_at,
)
from luxlog.energy import Step, Tracker
from luxlog.periods import HOUR_MS, Calendar, Period, PeriodKind
from luxlog.registers import (  # the shared register table
    C_DEFROST_VALVE,
    C_MODE,
    C_POWER_INPUT,
)
from luxlog.sample import Sample

if TYPE_CHECKING:
    from luxlog.cache import Cache
    from luxlog.config import Settings


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
        self.layers = [Layer(periods, now_ms) for periods in layers]
        self._units = {spec.column: Unit.of(spec) for spec in COUNTERS}
        self._temperature_convert = [temperature_converter(index) for _, index in TEMPERATURES]
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

        mode = value_at(calc, C_MODE)
        valve = value_at(calc, C_DEFROST_VALVE)
        defrost: bool | None = None
        if mode is not None or valve is not None:
            defrost = mode == MODE_DEFROST or valve == 1
        lock = registers.utility_lock(calc, sample.parameters)
        evu: bool | None = None
        if lock is not None or mode is not None:
            evu = bool(lock) or mode == MODE_EVU
        power = value_at(calc, C_POWER_INPUT)
        watts: float | None = None
        if power is not None:
            watts = power * self._watts_per_raw
            if not 0 <= watts <= MAX_POWER_KW * 1000:
                watts = None

        temperatures = [
            convert(calc[index]) if index < len(calc) else None
            for convert, (_, index) in zip(self._temperature_convert, TEMPERATURES, strict=True)
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
        self, sample: Sample, t: int, here: list[Accumulator | None]
    ) -> dict[str, tuple[int, int]]:
        """Attribute every counter's step; return the valid ones (column -> start, raw
        growth) for the energy balance."""
        valid: dict[str, tuple[int, int]] = {}
        for spec in COUNTERS:
            vector = sample.calculations if spec.kind == "calc" else sample.parameters
            value = value_at(vector, spec.index)
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
    ) -> Problem | None:
        unit = self._units[spec.column]
        if value < v_prev:
            return Problem(
                "counter-reset",
                f"{spec.what} counter went back from {_fmt(v_prev * unit.per_raw)} to "
                f"{_fmt(value * unit.per_raw)} {unit.name} at {self._clock(t)} (controller "
                "reset or replaced?): that step is left out",
            )
        increment = (value - v_prev) * unit.per_raw
        limit = spec.max_per_hour * (t - t_prev) / HOUR_MS + spec.slack
        if increment > limit:
            return Problem(
                "counter-jump",
                f"{spec.what} counter jumped by {_fmt(increment)} {unit.name} in "
                f"{duration_text(t - t_prev)} at {self._clock(t)}, more than possible: "
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

    def _row(self, acc: Accumulator) -> PeriodStats:
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

        for (name, _), total in zip(TEMPERATURES, acc.temperatures, strict=True):
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

    def _counter_columns(self, acc: Accumulator, row: PeriodStats) -> None:
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
                f"no samples from {self._clock(a)} to {self._clock(b)} ({duration_text(b - a)}, "
                f"more than {BRIDGE_MS // HOUR_MS} h across the start): what the counters "
                f"grew then ({', '.join(lost)}) is not attributed to this {acc.period.kind}",
            )
        starts = row.compressor_starts
        if starts and row.compressor_hours is not None:
            row.minutes_per_start = round(float(row.compressor_hours) * 60 / float(starts), 1)
        if row.heat_heating_kwh is not None and row.heat_hot_water_kwh is not None:
            row.heat_kwh = round(float(row.heat_heating_kwh) + float(row.heat_hot_water_kwh), 2)

    def _electricity(self, acc: Accumulator, row: PeriodStats) -> None:
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


def _label(spec: CounterSpec, unit: Unit) -> str:
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
