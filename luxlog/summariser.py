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

from bisect import bisect_right
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
    NOT_AVAILABLE,
    TEMPERATURES,
    Accumulator,
    CounterSpec,
    Layer,
    MinMeanMax,
    Number,
    PeriodStats,
    Problem,
    Unit,
    duration_text,
    registers_read,
    temperature_converter,
    unit_scale,
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


def _position(column: str) -> int:
    return next(i for i, spec in enumerate(COUNTERS) if spec.column == column)


# Positions in COUNTERS of the counters the energy balance pairs up.
_COMPRESSOR_HOURS = _position("compressor_hours")
_HEATING_HOURS = _position("heating_hours")
_HOT_WATER_HOURS = _position("hot_water_hours")
_HEAT_HEATING = _position("heat_heating_kwh")
_HEAT_HOT_WATER = _position("heat_hot_water_kwh")
_ELECTRICITY_HEATING = _position("electricity_heating_kwh")
_ELECTRICITY_HOT_WATER = _position("electricity_hot_water_kwh")


class _OutdoorByDay:
    """The outdoor temperature of each day, for degree days (nothing else of a day)."""

    def __init__(self, days: Sequence[Period]) -> None:
        self.days = days
        self._starts = [day.start_ms for day in days]
        self._totals = [MinMeanMax() for _ in days]

    def add(self, t: int, outdoor_c: float) -> None:
        i = bisect_right(self._starts, t) - 1
        if i >= 0 and t < self.days[i].end_ms:
            self._totals[i].add(outdoor_c)

    def degree_days(self) -> list[float | None]:
        """Per day, as a day row has them: from the mean rounded to a tenth, rounded."""
        return [_degree_days(total.result()[1]) for total in self._totals]


class Summariser:
    """Feeds samples to the periods of one or more layers and turns sums into rows.

    ``interval_sec`` is the poll interval (expected samples, gaps, how long a sample
    stands for across a gap); ``now_ms`` cuts periods that are not over yet.
    ``degree_days`` are days whose mean outdoor temperature is kept (and nothing else),
    for the degree days of longer periods: a whole layer of day rows cost as much again.
    """

    def __init__(
        self,
        layers: Sequence[Sequence[Period]],
        *,
        calendar: Calendar,
        interval_sec: int,
        now_ms: int | None = None,
        degree_days: Sequence[Period] | None = None,
    ) -> None:
        self.calendar = calendar
        self.interval_ms = interval_sec * 1000
        self.gap_ms = GAP_INTERVALS * self.interval_ms
        self.now_ms = now_ms
        self.layers = [Layer(periods, now_ms) for periods in layers]
        self._units = {spec.column: Unit.of(spec) for spec in COUNTERS}
        # What the per-sample loop needs of each counter, looked up once (a year of
        # statistics is ~1 million samples times eight counters).
        self._counter_plan = [
            (
                position,
                spec,
                spec.kind == "calc",
                spec.index,
                self._units[spec.column].per_raw,
                spec.max_per_hour,
                spec.slack,
            )
            for position, spec in enumerate(COUNTERS)
        ]
        self._per_raw = [self._units[spec.column].per_raw for spec in COUNTERS]
        self._temperature_convert = [temperature_converter(index) for _, index in TEMPERATURES]
        # Raw integer -> converted temperature, per register: a house sees a few hundred
        # distinct tenths of a degree, so a dict lookup replaces most conversions.
        self._temperature_memo: list[dict[int, float | int | None]] = [{} for _ in TEMPERATURES]
        self._temperature_at = [index for _, index in TEMPERATURES]
        self._outdoor = _OutdoorByDay(degree_days) if degree_days is not None else None
        self._watts_per_raw = unit_scale("calc", C_POWER_INPUT)[0]
        # Each counter's last valid sample (time, raw value), by position in COUNTERS.
        self._last_t: list[int | None] = [None] * len(COUNTERS)
        self._last_v: list[int] = [0] * len(COUNTERS)
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
        targets = [target for target in here if target is not None]
        steps = self._counters(sample, t, targets)

        n_calc = len(calc)
        # value_at(), written out: three calls per sample add up over a year.
        mode = calc[C_MODE] if n_calc > C_MODE else None
        mode = None if mode == NOT_AVAILABLE else mode
        valve = calc[C_DEFROST_VALVE] if n_calc > C_DEFROST_VALVE else None
        valve = None if valve == NOT_AVAILABLE else valve
        defrost: bool | None = None
        if mode is not None or valve is not None:
            defrost = mode == MODE_DEFROST or valve == 1
        lock = registers.utility_lock(calc, sample.parameters)
        evu: bool | None = None
        if lock is not None or mode is not None:
            evu = bool(lock) or mode == MODE_EVU
        power = calc[C_POWER_INPUT] if n_calc > C_POWER_INPUT else None
        power = None if power == NOT_AVAILABLE else power
        watts: float | None = None
        if power is not None:
            watts = power * self._watts_per_raw
            if not 0 <= watts <= MAX_POWER_KW * 1000:
                watts = None

        temperatures: list[float | None] = []
        for index, memo, convert in zip(
            self._temperature_at, self._temperature_memo, self._temperature_convert, strict=True
        ):
            if index >= n_calc:
                temperatures.append(None)
                continue
            raw = calc[index]
            if raw in memo:
                converted = memo[raw]
            else:
                converted = memo[raw] = convert(raw)
            temperatures.append(None if converted is None else float(converted))
        if self._outdoor is not None and temperatures[0] is not None:
            self._outdoor.add(t, temperatures[0])
        for target in targets:
            target.samples += 1
            for total, value in zip(target.temperatures, temperatures, strict=True):
                if value is not None:  # MinMeanMax.add, written out: it runs per sample
                    total.count += 1
                    total.total += value
                    if value < total.low:
                        total.low = value
                    if value > total.high:
                        total.high = value
            if defrost is not None:
                target.defrost_known = True
                if defrost and self._prev_defrost is False:
                    target.defrosts += 1
            if evu is not None:
                target.evu_known = True
        self._energy.add(self._energy_step(steps, prev_t, t), targets)
        self._prev_defrost = defrost
        self._prev_t = t
        self._prev_state = (evu, watts, mode)

    def _counters(
        self, sample: Sample, t: int, targets: list[Accumulator]
    ) -> list[tuple[int, int] | None]:
        """Attribute every counter's step; return the valid ones (start, raw growth; in
        :data:`~luxlog.counters.COUNTERS` order, None where not valid) for the energy
        balance.

        The hot loop of every statistic: :meth:`_check` and
        :meth:`~luxlog.counters.Accumulator.add_step` are written out inline for the
        common case (a plausible step inside the period) with the same arithmetic, and
        called as they are for everything else; state is kept in lists by position.
        """
        valid: list[tuple[int, int] | None] = [None] * len(COUNTERS)
        calc, params = sample.calculations, sample.parameters
        n_calc, n_param = len(calc), len(params)
        last_t, last_v = self._last_t, self._last_v
        for position, spec, is_calc, index, per_raw, max_per_hour, slack in self._counter_plan:
            if is_calc:
                if index >= n_calc:
                    continue
                value = calc[index]
            else:
                if index >= n_param:
                    continue
                value = params[index]
            if value == NOT_AVAILABLE:
                continue
            t_prev = last_t[position]
            v_prev = last_v[position]
            last_t[position] = t
            last_v[position] = value
            if t_prev is None:
                continue
            increment = value - v_prev
            if (
                value < v_prev
                or increment * per_raw > max_per_hour * (t - t_prev) / HOUR_MS + slack
            ):
                problem = self._check(spec, t_prev, t, v_prev, value)
            else:
                problem = None
                valid[position] = (t_prev, increment)
            for acc in targets:
                if problem is None and (t_prev >= acc.start or t - t_prev <= BRIDGE_MS):
                    total = acc.counter_sums[position]
                    total.raw += increment
                    total.steps += 1
                else:
                    acc.add_step(spec, t_prev, t, increment, problem)
        return valid

    def _pair(
        self, steps: list[tuple[int, int] | None], heating: int, hot_water: int
    ) -> tuple[int, float, float] | None:
        """Two counters' growth in kWh, when both stepped from the same sample."""
        a, b = steps[heating], steps[hot_water]
        if a is None or b is None or a[0] != b[0]:
            return None
        per_raw = self._per_raw
        return a[0], a[1] * per_raw[heating], b[1] * per_raw[hot_water]

    def _energy_step(self, steps: list[tuple[int, int] | None], prev_t: int | None, t: int) -> Step:
        """What this step says about heat and electricity (see :mod:`luxlog.energy`)."""
        power: tuple[int, float, float, float] | None = None
        _, watts, mode = self._prev_state
        if prev_t is not None and watts is not None and t - prev_t <= self.gap_ms:
            kwh = watts * (t - prev_t) / 3_600_000_000
            if mode == MODE_HEATING:
                power = (prev_t, kwh, 0.0, 0.0)
            elif mode == MODE_HOT_WATER:
                power = (prev_t, 0.0, kwh, 0.0)
            else:
                power = (prev_t, 0.0, 0.0, kwh)
        compressor = steps[_COMPRESSOR_HOURS]
        heating, hot_water = steps[_HEATING_HOURS], steps[_HOT_WATER_HOURS]
        return Step(
            t,
            self._pair(steps, _HEAT_HEATING, _HEAT_HOT_WATER),
            self._pair(steps, _ELECTRICITY_HEATING, _ELECTRICITY_HOT_WATER),
            power,
            float(compressor[1]) if compressor is not None else 0.0,
            (
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
        if prev_t is None or not self._prev_state[0]:
            return  # only the utility lock is spread over time
        if next_t is not None and next_t - prev_t <= self.gap_ms:
            until = next_t
        else:
            until = prev_t + self.interval_ms
        if self.now_ms is not None:
            until = min(until, max(self.now_ms, prev_t))
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

    def day_degree_days(self) -> list[float | None]:
        """Degree days of each of the ``degree_days`` days given (None: unknown)."""
        return [] if self._outdoor is None else self._outdoor.degree_days()

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
        if period.kind == "day":
            row.degree_days = _degree_days(row.outdoor_mean_c)

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


def _degree_days(outdoor_mean_c: Number) -> float | None:
    """A day's heating degree days from its mean outdoor temperature (None: unknown)."""
    if outdoor_mean_c is None:
        return None
    mean = float(outdoor_mean_c)
    return round(DEGREE_DAY_INDOOR_C - mean if mean < DEGREE_DAY_LIMIT_C else 0.0, 1)


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
        [periods], calendar=calendar, interval_sec=interval_sec, now_ms=now_ms, degree_days=days
    )
    summariser.feed(samples)
    rows = summariser.finish()[0]
    per_day = summariser.day_degree_days()
    for row in rows:
        values = [
            value
            for day, value in zip(days, per_day, strict=True)
            if row.start_ms <= day.start_ms < row.end_ms and value is not None
        ]
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
