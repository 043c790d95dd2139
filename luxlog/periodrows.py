"""Rows from sums: what a period's accumulated figures say, as one row of statistics.

Split from :mod:`luxlog.summariser` so that a period's row is made the same way whether
its sums were fed sample by sample (days) or added up from its days
(:mod:`luxlog.daysums`: weeks, months and seasons): coverage, gaps, the counters'
whole-period sanity check, electricity and COP, and every flag and note a row carries.
"""

from __future__ import annotations

from datetime import datetime

from luxlog.counters import (
    BRIDGE_MS,
    COUNTERS,
    DEGREE_DAY_INDOOR_C,
    DEGREE_DAY_LIMIT_C,
    GAP_INTERVALS,
    TEMPERATURES,
    Accumulator,
    CounterSpec,
    Number,
    PeriodStats,
    Unit,
    duration_text,
)
from luxlog.periods import HOUR_MS, Calendar, PeriodKind


class RowMaker:
    """Turns an :class:`~luxlog.counters.Accumulator` into a :class:`PeriodStats` row.

    ``interval_sec`` is the poll interval (expected samples, what counts as a gap).
    """

    def __init__(self, calendar: Calendar, interval_sec: int) -> None:
        self.calendar = calendar
        self.interval_ms = interval_sec * 1000
        self.gap_ms = GAP_INTERVALS * self.interval_ms
        self.units = {spec.column: Unit.of(spec) for spec in COUNTERS}

    def clock(self, at_ms: int, pattern: str = "%Y-%m-%d %H:%M") -> str:
        """Local time; with the zone's abbreviation where the wall clock repeats (the
        hour a fall-back day has twice), so "02:30 CEST" and "02:30 CET" stay apart."""
        moment = datetime.fromtimestamp(at_ms / 1000, tz=self.calendar.zone)
        if moment.replace(fold=1 - moment.fold).utcoffset() != moment.utcoffset():
            pattern += " %Z"
        return moment.strftime(pattern)

    def _span(self, a: int, b: int, kind: PeriodKind) -> str:
        if kind != "day":
            return f"{self.clock(a)}-{self.clock(b)}"
        left = datetime.fromtimestamp(a / 1000, tz=self.calendar.zone)
        right = datetime.fromtimestamp(b / 1000, tz=self.calendar.zone)
        # 24:00 rather than 00:00 for a gap that runs to the end of the day.
        midnight = right.date() > left.date() and right.hour == 0 and right.minute == 0
        end = "24:00" if midnight else self.clock(b, "%H:%M")
        return f"{self.clock(a, '%H:%M')}-{end}"

    def row(self, acc: Accumulator) -> PeriodStats:
        """The row of a period's sums (adds the flags and notes only a whole period has)."""
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
            row.degree_days = degree_days(row.outdoor_mean_c)

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
            unit = self.units[spec.column]
            if total.unattributed:
                lost.append(f"{fmt(total.unattributed * unit.per_raw)} {_label(spec, unit)}")
            if not total.steps:
                continue
            value = total.raw * unit.per_raw
            if value > spec.max_per_hour * hours + spec.slack * 10:
                acc.flag(
                    "implausible-total",
                    f"{spec.what}: {fmt(value)} {unit.name} is impossible in "
                    f"{fmt(hours)} h, left empty",
                )
                continue
            digits = 0 if unit.name == "starts" else 2
            setattr(row, spec.column, round(value, digits) if digits else round(value))
        if acc.unattributed_gap is not None:
            a, b = acc.unattributed_gap
            acc.flag(
                "gap-not-attributed",
                f"no samples from {self.clock(a)} to {self.clock(b)} ({duration_text(b - a)}, "
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
                f"{fmt(energy.stuck_run_s / 3600)} h: not reporting for "
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
                f"({fmt(heat)} kWh heat, {fmt(electricity)} kWh electricity)"
                if total.j_ms
                else "they never overlap: no COP"
            )
            acc.flag(
                "energy-spans-differ",
                f"heat is known for {hours(energy.heat_ms)} h, electricity for "
                f"{hours(total.e_ms)} h: {both}",
            )


def degree_days(outdoor_mean_c: Number) -> float | None:
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


def fmt(value: float) -> str:
    """A number for a note: no float noise, no needless decimals."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text if text != "-0" else "0"
