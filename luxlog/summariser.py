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
from typing import TYPE_CHECKING

from luxlog import registers
from luxlog.counters import (
    BRIDGE_MS,
    COUNTERS,
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
    PeriodStats,
    Problem,
    duration_text,
    registers_read,
    temperature_converter,
    unit_scale,
)
from luxlog.daysums import Partial, compose, days_of, to_partial
from luxlog.energy import Step, Tracker
from luxlog.periodrows import RowMaker, fmt
from luxlog.periods import HOUR_MS, Calendar, Period
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


def _most(spec: CounterSpec, per_raw: float) -> int:
    """The largest raw growth ``n`` with ``n * per_raw <= slack``, as floats compare."""
    if per_raw <= 0:
        return 0  # no shortcut: every step gets the full check
    n = int(spec.slack / per_raw)
    while (n + 1) * per_raw <= spec.slack:
        n += 1
    while n > 0 and n * per_raw > spec.slack:
        n -= 1
    return n


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
        self.rows = RowMaker(calendar, interval_sec)
        self._units = self.rows.units  # one table of output units for sums and rows
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
                _most(spec, self._units[spec.column].per_raw),
            )
            for position, spec in enumerate(COUNTERS)
        ]
        self._per_raw = [self._units[spec.column].per_raw for spec in COUNTERS]
        self._temperature_convert = [temperature_converter(index) for _, index in TEMPERATURES]
        # Raw integer -> temperature (float, or None: not fitted), per register: a house
        # sees a few hundred distinct tenths of a degree, so a dict lookup replaces most
        # conversions.
        self._temperature_plan: list[tuple[int, dict[int, float | None]]] = [
            (index, {}) for _, index in TEMPERATURES
        ]
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

        try:  # the common case: every temperature sent, and its value seen before
            temperatures = [memo[calc[index]] for index, memo in self._temperature_plan]
        except (KeyError, IndexError):
            temperatures = self._temperatures(calc)
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

    def _temperatures(self, calc: tuple[int, ...]) -> list[float | None]:
        """The temperatures of ``calc``, converting (and remembering) new raw values."""
        result: list[float | None] = []
        for (index, memo), convert in zip(
            self._temperature_plan, self._temperature_convert, strict=True
        ):
            if index >= len(calc):
                result.append(None)  # not sent by this firmware
                continue
            raw = calc[index]
            if raw not in memo:
                converted = convert(raw)
                memo[raw] = None if converted is None else float(converted)
            result.append(memo[raw])
        return result

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
        plan = self._counter_plan
        for position, spec, is_calc, index, per_raw, max_per_hour, slack, most in plan:
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
            # ``increment > most`` first: an integer test that settles almost every step
            # (growth within the slack can never exceed a limit of slack + rate * time).
            if value < v_prev or (
                increment > most
                and increment * per_raw > max_per_hour * (t - t_prev) / HOUR_MS + slack
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
                f"{spec.what} counter went back from {fmt(v_prev * unit.per_raw)} to "
                f"{fmt(value * unit.per_raw)} {unit.name} at {self.rows.clock(t)} (controller "
                "reset or replaced?): that step is left out",
            )
        increment = (value - v_prev) * unit.per_raw
        limit = spec.max_per_hour * (t - t_prev) / HOUR_MS + spec.slack
        if increment > limit:
            return Problem(
                "counter-jump",
                f"{spec.what} counter jumped by {fmt(increment)} {unit.name} in "
                f"{duration_text(t - t_prev)} at {self.rows.clock(t)}, more than possible: "
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

    def finish_sums(self) -> list[list[Accumulator]]:
        """Close the sums at the end of the data: every layer's accumulators, in order."""
        self._close_interval(None)
        self._energy.finish()
        last = self._prev_t
        for layer in self.layers:
            for acc in layer.accumulators:
                if last is None:
                    acc.add_gap(acc.start, acc.effective_end)
                elif acc.effective_end - max(last, acc.start) > self.gap_ms:
                    acc.add_gap(max(last, acc.start), acc.effective_end)
        return [layer.accumulators for layer in self.layers]

    def finish(self) -> list[list[PeriodStats]]:
        """Rows for every layer, in period order."""
        return [[self.rows.row(acc) for acc in layer] for layer in self.finish_sums()]


def day_figures(
    samples: Iterable[Sample],
    days: Sequence[Period],
    *,
    calendar: Calendar,
    interval_sec: int,
    now_ms: int | None = None,
) -> list[tuple[PeriodStats, Partial]]:
    """Each day's row and its sums as a partial (:mod:`luxlog.daysums`), in one pass.

    Feed samples from :data:`BRIDGE_MS` before the first day on, so its first step can
    be bridged.
    """
    summariser = Summariser([days], calendar=calendar, interval_sec=interval_sec, now_ms=now_ms)
    summariser.feed(samples)
    (sums,) = summariser.finish_sums()
    result: list[tuple[PeriodStats, Partial]] = []
    for acc in sums:
        partial = to_partial(acc)  # before the row adds its whole-day flags and notes
        result.append((summariser.rows.row(acc), partial))
    return result


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
    can be bridged. Weeks, months and seasons are added up from their days
    (:mod:`luxlog.daysums`), as they are from stored day figures.
    """
    if not periods:
        return []
    if periods[0].kind == "day":
        summariser = Summariser(
            [periods], calendar=calendar, interval_sec=interval_sec, now_ms=now_ms
        )
        summariser.feed(samples)
        return summariser.finish()[0]
    days = days_of(periods, calendar)
    figures = day_figures(
        samples, days, calendar=calendar, interval_sec=interval_sec, now_ms=now_ms
    )
    partials = [partial for _, partial in figures]
    return compose(periods, partials, calendar=calendar, interval_sec=interval_sec, now_ms=now_ms)


def cache_samples(
    cache: Cache,
    periods: Sequence[Period],
    *,
    now_ms: int,
    progress: Callable[[int, int], None] | None = None,
) -> Iterable[Sample]:
    """The samples statistics need for ``periods``, projected and streamed."""
    start = periods[0].start_ms - BRIDGE_MS
    end = min(periods[-1].end_ms, now_ms + 1)
    samples: Iterable[Sample] = cache.query(start, end, registers=registers_read())
    if progress is not None:
        samples = _counting(samples, cache.count(start, end), progress)
    return samples


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
    return summarise(
        cache_samples(cache, periods, now_ms=now_ms, progress=progress),
        periods,
        calendar=calendar,
        interval_sec=settings.interval_sec,
        now_ms=now_ms,
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
