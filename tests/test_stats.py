"""Statistics: hand-computed days, counter anomalies, DST days, real captures, CSV, CLI."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from helpers import settings_in
from typer.testing import CliRunner

from luxlog import stats
from luxlog.cache import Cache
from luxlog.cli import app
from luxlog.config import Settings
from luxlog.registers import (
    C_COMPRESSOR,
    C_COMPRESSOR_SECONDS,
    C_COMPRESSOR_STARTS,
    C_EVU_IN,
    C_FLOW,
    C_HEAT_HEATING,
    C_HEAT_HOT_WATER,
    C_HEATING_SECONDS,
    C_HOT_WATER,
    C_HOT_WATER_SECONDS,
    C_MODE,
    C_OUTDOOR,
    C_POWER_INPUT,
    C_RETURN,
    P_ENERGY_HEATING,
    P_ENERGY_HOT_WATER,
)
from luxlog.sample import Sample
from luxlog.simulator import HeatPumpModel, load_capture
from luxlog.stats import (
    Calendar,
    PeriodStats,
)

HOST = "192.0.2.1:8889"
MIN = 60_000
HOUR = 3_600_000
UTC_CAL = Calendar("UTC")
BERLIN = Calendar("Europe/Berlin")


def ms(*args: int) -> int:
    return round(datetime(*args, tzinfo=UTC).timestamp() * 1000)


DAY0 = ms(2026, 1, 10)  # a Saturday, 00:00 UTC


def make(
    t: int,
    *,
    starts: int = 1000,
    comp_s: int = 50_000,
    heating_s: int = 40_000,
    hot_water_s: int = 10_000,
    heat: int = 5000,
    hot_water_heat: int = 800,
    outdoor: int = 50,
    flow: int = 350,
    ret: int = 300,
    tank: int = 480,
    mode: int = 5,
    evu_in: int = 1,
    compressor: int = 0,
    power: int | None = None,
    energy: tuple[int, int] | None = None,
) -> Sample:
    """A sample with chosen raw values (0.1 °C, seconds, 0.1 kWh) and zeros elsewhere."""
    calc = [0] * (C_POWER_INPUT + 1 if power is not None else 160)
    calc[C_OUTDOOR], calc[C_FLOW], calc[C_RETURN], calc[C_HOT_WATER] = outdoor, flow, ret, tank
    calc[C_COMPRESSOR_STARTS], calc[C_COMPRESSOR_SECONDS] = starts, comp_s
    calc[C_HEATING_SECONDS], calc[C_HOT_WATER_SECONDS] = heating_s, hot_water_s
    calc[C_HEAT_HEATING], calc[C_HEAT_HOT_WATER] = heat, hot_water_heat
    calc[C_MODE], calc[C_EVU_IN], calc[C_COMPRESSOR] = mode, evu_in, compressor
    params = [0] * 10
    if power is not None:
        calc[C_POWER_INPUT] = power
    if energy is not None:
        params = [0] * (P_ENERGY_HOT_WATER + 1)
        params[P_ENERGY_HEATING], params[P_ENERGY_HOT_WATER] = energy
    return Sample(t, HOST, tuple(calc), tuple(params))


def clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def day_timeline(t: int, day0: int = DAY0) -> dict[str, int]:
    """The hand-made day: heating run 06:00-07:00 (6 kW), hot water 18:00-18:30 (5 kW).

    Counters move continuously with the runs, so whatever the sampling, the day's
    figures are: 2 starts, 1.5 compressor hours (1.0 heating, 0.5 hot water), 6.0 kWh
    for heating, 2.5 kWh for hot water. Outdoor 0.0 °C until noon, 10.0 °C after.
    """
    hour, minute = divmod((t - day0) // MIN, 60)
    heating_run = clamp(t - (day0 + 6 * HOUR), 0, HOUR) / 1000
    hot_water_run = clamp(t - (day0 + 18 * HOUR), 0, HOUR / 2) / 1000
    return {
        "starts": 1000 + (t >= day0 + 6 * HOUR) + (t >= day0 + 18 * HOUR),
        "comp_s": 50_000 + int(heating_run + hot_water_run),
        "heating_s": 40_000 + int(heating_run),
        "hot_water_s": 10_000 + int(hot_water_run),
        "heat": 5000 + int(heating_run * 6 / 360),  # 6 kW: 0.1 kWh per 60 s
        "hot_water_heat": 800 + int(hot_water_run * 5 / 360),
        "outdoor": 0 if t < day0 + 12 * HOUR else 100,
        "mode": 0 if 6 <= hour < 7 else 1 if hour == 18 and minute < 30 else 5,
    }


def series(
    start: int,
    end: int,
    step: int = 10 * MIN,
    *,
    skip: Callable[[int], bool] = lambda t: False,
    timeline: Callable[[int], dict[str, int]] = day_timeline,
    **fixed: object,
) -> list[Sample]:
    return [
        make(t, **{**timeline(t), **fixed})  # type: ignore[arg-type]
        for t in range(start, end, step)
        if not skip(t)
    ]


def summarise(
    samples: Iterable[Sample],
    first: date,
    last: date | None = None,
    *,
    kind: stats.PeriodKind = "day",
    calendar: Calendar = UTC_CAL,
    interval_sec: int = 600,
    now_ms: int | None = None,
) -> list[PeriodStats]:
    periods = calendar.periods(kind, first, last or first)
    return stats.summarise(
        samples, periods, calendar=calendar, interval_sec=interval_sec, now_ms=now_ms
    )


# -- hand-computed days ------------------------------------------------------------------


def test_a_hand_made_day():
    (row,) = summarise(series(DAY0 - HOUR, DAY0 + 24 * HOUR), date(2026, 1, 10))
    assert row.period == "2026-01-10" and row.hours == 24.0
    assert (row.samples, row.coverage_pct, row.gaps, row.gap_hours) == (144, 100.0, 0, 0.0)
    assert (row.compressor_starts, row.compressor_hours) == (2, 1.5)
    assert (row.heating_hours, row.hot_water_hours) == (1.0, 0.5)
    assert (row.heat_heating_kwh, row.heat_hot_water_kwh, row.heat_kwh) == (6.0, 2.5, 8.5)
    assert row.minutes_per_start == 45.0
    assert (row.outdoor_min_c, row.outdoor_mean_c, row.outdoor_max_c) == (0.0, 5.0, 10.0)
    assert (row.flow_min_c, row.flow_mean_c, row.flow_max_c) == (35.0, 35.0, 35.0)
    assert (row.return_mean_c, row.hot_water_mean_c) == (30.0, 48.0)
    assert row.degree_days == 15.0  # G20/15: 20 - 5.0
    assert (row.evu_lock_hours, row.defrosts) == (0.0, 0)
    assert row.electricity_kwh is None and row.cop is None and row.electricity_source == "none"
    assert row.flags == [] and row.notes == []


def test_energy_across_a_gap_inside_the_day_is_not_lost():
    def gap(t: int) -> bool:
        return DAY0 + 5 * HOUR <= t < DAY0 + 8 * HOUR  # the heating run is inside it

    (row,) = summarise(series(DAY0 - HOUR, DAY0 + 24 * HOUR, skip=gap), date(2026, 1, 10))
    assert (row.compressor_starts, row.compressor_hours, row.heat_heating_kwh) == (2, 1.5, 6.0)
    assert row.samples == 126 and row.coverage_pct == 87.5
    assert (row.gaps, row.gap_list, row.gap_hours) == (1, ["04:50-08:00"], 3.17)
    assert row.flags == []


def test_a_short_gap_across_midnight_goes_to_the_day_polling_resumed():
    # Last sample 23:00, next 01:00 (2 h <= 3 h bridge); a start happened at 23:30.
    def timeline(t: int) -> dict[str, int]:
        return {"starts": 1000 + (t >= DAY0 + 23 * HOUR + 30 * MIN)}

    def gap(t: int) -> bool:

        return DAY0 + 23 * HOUR < t < DAY0 + 25 * HOUR

    samples = series(DAY0, DAY0 + 48 * HOUR, skip=gap, timeline=timeline)
    first, second = summarise(samples, date(2026, 1, 10), date(2026, 1, 11))
    assert (first.compressor_starts, second.compressor_starts) == (0, 1)
    assert first.gap_list == ["23:00-24:00"] and second.gap_list == ["00:00-01:00"]
    assert "gap-not-attributed" not in first.flags + second.flags


def test_a_long_gap_across_midnight_is_reported_not_attributed():
    # Last sample 20:00, next 02:00 (6 h > 3 h): 3 starts and 1.2 kWh happened in it.
    def timeline(t: int) -> dict[str, int]:
        late = t > DAY0 + 20 * HOUR
        return {"starts": 1000 + 3 * late, "heat": 5000 + 12 * late}

    def gap(t: int) -> bool:

        return DAY0 + 20 * HOUR < t < DAY0 + 26 * HOUR

    samples = series(DAY0, DAY0 + 48 * HOUR, skip=gap, timeline=timeline)
    first, second = summarise(samples, date(2026, 1, 10), date(2026, 1, 11))
    assert (first.compressor_starts, second.compressor_starts) == (0, 0)
    assert (first.heat_heating_kwh, second.heat_heating_kwh) == (0.0, 0.0)
    assert second.flags == ["gap-not-attributed"]
    assert "2026-01-10 20:00 to 2026-01-11 02:00 (6.0 h" in second.notes[0]
    assert "3 starts" in second.notes[0] and "1.2 kWh heat for heating" in second.notes[0]
    # The week holds the whole gap, so its own figure keeps them.
    (week,) = summarise(samples, date(2026, 1, 10), date(2026, 1, 11), kind="week")
    assert (week.period, week.compressor_starts, week.heat_heating_kwh) == ("2026-W02", 3, 1.2)


def test_a_counter_reset_leaves_out_one_step_and_says_so():
    # Heat counter: +1.0 kWh until 12:00, then the controller restarts it from 0 and it
    # grows another 0.5 kWh: the day made 1.5 kWh, never a negative number.
    def timeline(t: int) -> dict[str, int]:
        if t < DAY0 + 12 * HOUR:
            return {"heat": 5000 + 10 * (t >= DAY0 + 6 * HOUR)}
        return {"heat": 0 + 5 * (t >= DAY0 + 15 * HOUR)}

    (row,) = summarise(series(DAY0, DAY0 + 24 * HOUR, timeline=timeline), date(2026, 1, 10))
    assert row.heat_heating_kwh == 1.5
    assert row.flags == ["counter-reset"]
    assert row.notes == [
        "heat for heating counter went back from 501 to 0 kWh at 2026-01-10 12:00 "
        "(controller reset or replaced?): that step is left out"
    ]


def test_implausible_jumps_are_left_out():
    # +500 starts in ten minutes, and the heat counter read x10 once (firmware quirk).
    def timeline(t: int) -> dict[str, int]:
        starts = 1000 + (t >= DAY0 + 6 * HOUR) + 500 * (t >= DAY0 + 9 * HOUR)
        heat = 5000 + 10 * (t >= DAY0 + 7 * HOUR)
        if t == DAY0 + 10 * HOUR:
            heat = 50_100
        return {"starts": starts, "heat": heat}

    (row,) = summarise(series(DAY0, DAY0 + 24 * HOUR, timeline=timeline), date(2026, 1, 10))
    assert row.compressor_starts == 1
    # The x10 reading costs its two steps (up: jump, down: reset), nothing else.
    assert row.heat_heating_kwh == 1.0
    assert row.flags == ["counter-jump", "counter-reset"]
    assert row.notes[0] == (
        "compressor starts counter jumped by 500 starts in 10 min at 2026-01-10 09:00, "
        "more than possible: that step is left out"
    )
    assert "heat for heating counter jumped by 4509 kWh" in row.notes[1]


def test_a_total_impossible_for_the_day_is_blanked():
    # 12 starts every 10 minutes passes each step's check (one a minute plus slack) but
    # 1,728 starts in a day cannot be real.
    (row,) = summarise(
        series(DAY0, DAY0 + 24 * HOUR, timeline=lambda t: {"starts": (t - DAY0) // MIN * 6 // 5}),
        date(2026, 1, 10),
    )
    assert row.compressor_starts is None
    assert "implausible-total" in row.flags
    assert row.notes[0].startswith("compressor starts: 1716 starts is impossible in 27 h")


def test_many_problems_are_summarised_in_a_few_notes():
    def timeline(t: int) -> dict[str, int]:
        return {"starts": 1000 - (t - DAY0) // HOUR}  # going back every hour

    (row,) = summarise(series(DAY0, DAY0 + 24 * HOUR, timeline=timeline), date(2026, 1, 10))
    assert row.compressor_starts == 0 and row.flags == ["counter-reset"]
    assert len(row.notes) == 7 and row.notes[-1] == "and 17 more like these"


def test_missing_values_are_skipped_not_zero():
    samples = series(DAY0, DAY0 + 24 * HOUR)
    na = 2147483647
    broken = []
    for sample in samples:
        calc = list(sample.calculations)
        if DAY0 + 10 * HOUR <= sample.timestamp_ms < DAY0 + 11 * HOUR:
            calc[C_HEAT_HEATING] = na  # not available: no step, no reset
            calc[C_OUTDOOR] = -500  # sensor not fitted
        broken.append(Sample(sample.timestamp_ms, HOST, tuple(calc), sample.parameters))
    (row,) = summarise(broken, date(2026, 1, 10))
    assert row.heat_heating_kwh == 6.0 and row.flags == []
    assert row.outdoor_min_c == 0.0  # -50.0 never counted


def test_a_day_without_samples_and_one_not_over_yet():
    samples = series(DAY0 - HOUR, DAY0 + 8 * HOUR)
    first, second = summarise(samples, date(2026, 1, 10), date(2026, 1, 11), now_ms=DAY0 + 8 * HOUR)
    assert first.flags == ["partial"] and first.notes == ["period not over yet: figures so far"]
    assert first.coverage_pct == 100.0 and first.compressor_starts == 1
    assert first.heat_heating_kwh == 6.0
    assert second.flags == ["partial", "no-data"] and second.samples == 0
    assert second.compressor_starts is None and second.outdoor_mean_c is None
    (only,) = summarise([], date(2026, 1, 10))
    assert only.flags == ["no-data"] and only.gap_list == ["00:00-24:00"]
    assert only.gap_hours == 24.0 and only.degree_days is None


def test_a_day_that_starts_after_the_first_poll_ever():
    # Logging began at 09:00: the day counts from its first sample on.
    (row,) = summarise(series(DAY0 + 9 * HOUR, DAY0 + 24 * HOUR), date(2026, 1, 10))
    assert row.compressor_starts == 1 and row.hot_water_hours == 0.5
    assert row.heating_hours == 0.0 and row.gap_list == ["00:00-09:00"]
    assert row.coverage_pct == 62.5


def test_utility_lock_defrosts_and_degree_days():
    def timeline(t: int) -> dict[str, int]:
        hour = (t - DAY0) // HOUR
        return {
            "evu_in": 0 if 11 <= hour < 13 else 1,  # 2 h lock input
            "mode": 3 if hour == 13 else 4 if hour in (2, 5) else 5,  # +1 h EVU; 2 defrosts
            "outdoor": 120,  # 12.0 °C: 8 degree days
        }

    (row,) = summarise(series(DAY0, DAY0 + 24 * HOUR, timeline=timeline), date(2026, 1, 10))
    assert (row.evu_lock_hours, row.defrosts, row.degree_days) == (3.0, 2, 8.0)
    (warm,) = summarise(series(DAY0, DAY0 + 24 * HOUR, outdoor=150), date(2026, 1, 10))
    assert warm.degree_days == 0.0  # at the heating limit: no heating day


def test_electricity_from_energy_input_counters_and_cop():
    def timeline(t: int) -> dict[str, int]:
        values = day_timeline(t)
        # 0.01 kWh: 1.5 kWh for the heating run, 1.0 kWh for hot water.
        heating = 150 * clamp(t - (DAY0 + 6 * HOUR), 0, HOUR) // HOUR
        hot_water = 100 * clamp(t - (DAY0 + 18 * HOUR), 0, HOUR // 2) // (HOUR // 2)
        values["energy"] = (20_000 + int(heating), 9_000 + int(hot_water))  # type: ignore[assignment]
        return values

    (row,) = summarise(series(DAY0, DAY0 + 24 * HOUR, timeline=timeline), date(2026, 1, 10))
    assert row.electricity_source == "counters"
    assert (row.electricity_heating_kwh, row.electricity_hot_water_kwh) == (1.5, 1.0)
    assert (row.electricity_kwh, row.cop, row.cop_heating, row.cop_hot_water) == (
        2.5,
        3.4,
        4.0,
        2.5,
    )


def test_electricity_from_power_readings():
    def timeline(t: int) -> dict[str, int]:
        values = day_timeline(t)
        values["power"] = {0: 2000, 1: 1000}.get(values["mode"], 0)
        return values

    (row,) = summarise(series(DAY0, DAY0 + 24 * HOUR, timeline=timeline), date(2026, 1, 10))
    assert row.electricity_source == "power"
    assert (row.electricity_heating_kwh, row.electricity_hot_water_kwh) == (2.0, 0.5)
    assert (row.electricity_kwh, row.cop) == (2.5, 3.4)

    def gap(t: int) -> bool:
        return DAY0 + 20 * HOUR <= t < DAY0 + 22 * HOUR

    (row,) = summarise(
        series(DAY0, DAY0 + 24 * HOUR, timeline=timeline, skip=gap), date(2026, 1, 10)
    )
    assert "electricity-partial" in row.flags


# -- DST, calendars, periods -------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "hours", "flag", "word"),
    [(date(2026, 3, 29), 23, "dst-23h", "starts"), (date(2026, 10, 25), 25, "dst-25h", "ends")],
)
def test_dst_days_in_berlin(day, hours, flag, word):
    period = BERLIN.period("day", day)
    assert period is not None and period.hours == hours

    # One start on every UTC hour, the compressor half of the time: whatever the clocks do,
    # a 23-hour day has 23 starts and 11.5 h, a 25-hour day 25 and 12.5 h.
    def timeline(t: int) -> dict[str, int]:
        return {"starts": t // HOUR, "comp_s": (t // 1000) // 2}

    samples = series(period.start_ms - HOUR, period.end_ms + HOUR, 5 * MIN, timeline=timeline)
    (row,) = summarise(samples, day, calendar=BERLIN, interval_sec=300)
    assert (row.hours, row.samples, row.coverage_pct) == (hours, hours * 12, 100.0)
    assert (row.compressor_starts, row.compressor_hours) == (hours, hours / 2)
    assert row.flags == [flag] and row.notes == [f"{hours}-hour day (summer time {word})"]


def test_dst_gap_list_uses_local_wall_clock():
    period = BERLIN.period("day", date(2026, 10, 25))
    assert period is not None

    def gap(t: int) -> bool:
        return period.start_ms + 2 * HOUR < t < period.start_ms + 4 * HOUR

    samples = series(period.start_ms, period.end_ms, 5 * MIN, skip=gap)
    (row,) = summarise(samples, date(2026, 10, 25), calendar=BERLIN, interval_sec=300)
    # 02:00 summer time to 03:00 winter time: the zone says which 02:00 it is.
    assert row.gap_list == ["02:00 CEST-03:00"] and row.gap_hours == 2.0


def test_calendar_periods():
    calendar = Calendar("Europe/Berlin")
    week = calendar.period("week", date(2026, 3, 29))
    assert week is not None and (week.label, week.first_day, week.hours) == (
        "2026-W13",
        date(2026, 3, 23),
        167.0,
    )
    month = calendar.period("month", date(2026, 12, 5))
    assert month is not None and (month.label, month.last_day) == ("2026-12", date(2026, 12, 31))
    season = calendar.period("season", date(2026, 2, 1))
    assert season is not None
    assert (season.label, season.first_day, season.last_day) == (
        "2025/26",
        date(2025, 9, 1),
        date(2026, 5, 31),
    )
    assert calendar.period("season", date(2026, 7, 1)) is None
    assert [p.label for p in calendar.periods("season", date(2025, 5, 1), date(2026, 10, 1))] == [
        "2024/25",
        "2025/26",
        "2026/27",
    ]
    assert calendar.periods("season", date(2026, 6, 1), date(2026, 8, 31)) == []
    year = Calendar("UTC", season_start_month=1, season_end_month=12)
    whole = year.period("season", date(2026, 7, 1))
    assert whole is not None and (whole.label, whole.hours) == ("2026", 365 * 24.0)
    assert len(list(whole.days())) == 365


def test_weeks_months_and_seasons_add_up_their_days():
    samples = series(DAY0, DAY0 + 24 * HOUR)  # only the 10th has data
    (week,) = summarise(samples, date(2026, 1, 10), kind="week")
    (month,) = summarise(samples, date(2026, 1, 10), kind="month")
    (season,) = summarise(samples, date(2026, 1, 10), kind="season")
    for row in (week, month, season):
        assert (row.compressor_starts, row.heat_kwh, row.degree_days) == (2, 8.5, 15.0)
    assert (week.period, month.period, season.period) == ("2026-W02", "2026-01", "2025/26")
    assert week.hours == 168.0 and week.coverage_pct == round(100 * 144 / 1008, 1)
    assert week.gaps == 2  # Monday..Friday, and Sunday


def test_default_ranges():
    today = date(2026, 3, 15)
    assert stats.default_range("day", BERLIN, today, None, None) == (date(2026, 3, 2), today)
    assert stats.default_range("week", BERLIN, today, None, None)[0] == date(2026, 1, 25)
    assert stats.default_range("month", BERLIN, today, None, None)[0] == date(2025, 4, 1)
    # Two seasons, as help and README say: 2024/25 and the current 2025/26.
    first, last = stats.default_range("season", BERLIN, today, None, None)
    assert first == date(2024, 9, 1)
    assert [p.label for p in BERLIN.periods("season", first, last)] == ["2024/25", "2025/26"]
    summer = date(2026, 7, 1)  # between seasons: the last two
    first, last = stats.default_range("season", BERLIN, summer, None, None)
    assert [p.label for p in BERLIN.periods("season", first, last)] == ["2024/25", "2025/26"]
    # --to beyond today is cut to today; an explicit --from wins.
    assert stats.default_range("day", BERLIN, today, date(2026, 1, 1), date(2027, 1, 1)) == (
        date(2026, 1, 1),
        today,
    )


def test_units_come_from_the_catalogue_or_the_documented_extensions():
    assert stats.unit_scale("calc", C_HEAT_HEATING) == (0.1, "kWh")
    assert stats.unit_scale("calc", C_COMPRESSOR_SECONDS) == (1.0, "s")
    assert stats.unit_scale("calc", C_COMPRESSOR_STARTS) == (1.0, "pulses")
    assert stats.unit_scale("param", P_ENERGY_HEATING) == (0.01, "kWh")
    assert stats.unit_scale("calc", C_POWER_INPUT) == (1.0, "W")
    assert stats.unit_scale("calc", 999) == (1.0, "")


# -- real captures through a real cache ----------------------------------------------------


def settings_for(tmp_path: Path, **changes: object) -> Settings:
    return settings_in(tmp_path, **{"timezone": "Europe/Berlin", "interval_sec": 30, **changes})


def simulate(settings: Settings, capture: str, start: int, end: int, step: int = 30_000) -> list:
    model = HeatPumpModel(load_capture(capture), seed=11, start_ms=start)
    samples = [Sample(t, HOST, *model.read(t)) for t in range(start, end, step)]
    with Cache.open(settings.cache_path) as cache:
        cache.add_many(samples)
    return samples


@pytest.mark.parametrize(
    ("capture", "starts0", "heat0"),
    [("bouni-2016-V3.78-MSW6", 2029, 87727), ("coolchip-2017-V1.80-L1A", 9869, 0)],
)
def test_a_simulated_day_of_each_real_capture(tmp_path, capture, starts0, heat0):
    settings = settings_for(tmp_path)
    period = BERLIN.period("day", date(2026, 1, 20))
    assert period is not None
    samples = simulate(settings, capture, period.start_ms - HOUR, period.end_ms + HOUR)
    # The capture's own counters are where the simulated history begins.
    assert samples[0].calculations[C_COMPRESSOR_STARTS] == starts0
    assert samples[0].calculations[C_HEAT_HEATING] == heat0

    (row,) = stats.compute(
        settings, first=date(2026, 1, 20), last=date(2026, 1, 20), now_ms=period.end_ms + HOUR
    )
    before = [s for s in samples if s.timestamp_ms < period.start_ms][-1].calculations
    last = [s for s in samples if s.timestamp_ms < period.end_ms][-1].calculations
    inside = [s.calculations for s in samples if period.start_ms <= s.timestamp_ms < period.end_ms]
    assert row.samples == 2880 and row.coverage_pct == 100.0 and row.flags == []
    assert row.compressor_starts == last[C_COMPRESSOR_STARTS] - before[C_COMPRESSOR_STARTS]
    # Independently: rising edges of the compressor output.
    edges = sum(1 for a, b in zip([before, *inside], inside, strict=False) if not a[44] and b[44])
    assert row.compressor_starts == edges > 5
    assert row.compressor_hours == round(
        (last[C_COMPRESSOR_SECONDS] - before[C_COMPRESSOR_SECONDS]) / 3600, 2
    )
    assert row.heat_heating_kwh == round((last[C_HEAT_HEATING] - before[C_HEAT_HEATING]) / 10, 2)
    heat_hot_water = (last[C_HEAT_HOT_WATER] - before[C_HEAT_HOT_WATER]) / 10
    assert row.heat_hot_water_kwh == round(heat_hot_water, 2)
    outdoor = [c[C_OUTDOOR] / 10 for c in inside]
    assert (row.outdoor_min_c, row.outdoor_max_c) == (min(outdoor), max(outdoor))
    assert row.outdoor_mean_c == round(sum(outdoor) / len(outdoor), 1)
    # The simulator makes 6 kW for heating: heat / heating hours says so.
    assert row.heat_heating_kwh / row.heating_hours == pytest.approx(6.0, abs=0.2)
    assert row.electricity_kwh is None and row.cop is None  # neither capture reports it
    assert row.evu_lock_hours == 0.0  # EVUin 1 in both captures: no lock


def test_compute_by_week_and_progress(tmp_path):
    settings = settings_for(tmp_path, interval_sec=300)
    start = BERLIN.midnight_ms(date(2026, 3, 28))
    simulate(settings, "bouni-2016-V3.78-MSW6", start, start + 3 * 24 * HOUR, 300_000)
    seen: list[tuple[int, int]] = []
    (week,) = stats.compute(  # first: its days are computed (and stored) with progress
        settings,
        kind="week",
        first=date(2026, 3, 28),
        last=date(2026, 3, 28),
        now_ms=start + 4 * 24 * HOUR,
        progress=lambda done, total: seen.append((done, total)),
    )
    days = stats.compute(
        settings,
        first=date(2026, 3, 28),
        last=date(2026, 3, 30),
        now_ms=start + 4 * 24 * HOUR,
    )
    assert [d.hours for d in days] == [24.0, 23.0, 24.0]
    assert week.compressor_starts == sum(d.compressor_starts for d in days[:2])
    assert week.degree_days == round(sum(d.degree_days for d in days[:2]), 1)
    assert seen[-1][0] == seen[-1][1] > 0
    assert stats.compute(settings, first=date(2030, 1, 1), now_ms=start) == []


# -- the month summary file ----------------------------------------------------------------


def test_month_summary_in_both_profiles(tmp_path):
    settings = settings_for(tmp_path, interval_sec=300, output_dirs=(tmp_path / "data" / "a",))
    start = BERLIN.midnight_ms(date(2026, 3, 28))
    simulate(settings, "coolchip-2017-V1.80-L1A", start, start + 2 * 24 * HOUR, 300_000)
    now = start + 3 * 24 * HOUR
    with Cache.open(settings.cache_path, readonly=True) as cache:
        result = stats.update_month_summary(settings, cache, date(2026, 3, 29), now_ms=now)
    (path,) = result.written
    assert path == tmp_path / "data" / "a" / "2026-03_summary.csv"
    raw = path.read_bytes()
    assert raw.count(b"\r\n") == 3 and not raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode())))
    assert [r["date"] for r in rows] == ["2026-03-28", "2026-03-29"]  # from the first sample
    assert rows[1]["hours"] == "23.0" and rows[1]["flags"] == "dst-23h"
    assert list(rows[0]) == ["date", *stats.COLUMNS[1:]]

    german = Settings(**{**settings.__dict__, "csv_profile": "excel-de"})
    with Cache.open(settings.cache_path, readonly=True) as cache:
        stats.update_month_summary(german, cache, date(2026, 3, 29), now_ms=now)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8-sig")
    rows_de = list(csv.DictReader(io.StringIO(text), delimiter=";"))
    assert rows_de[1]["hours"] == "23,0"
    assert rows_de[1]["outdoor_mean_c"] == rows[1]["outdoor_mean_c"].replace(".", ",")


def test_month_summary_skips_months_without_data_and_bad_folders(tmp_path, caplog):
    outside = tmp_path / "not-mounted"
    settings = settings_for(
        tmp_path, interval_sec=300, output_dirs=(tmp_path / "data" / "csv", outside)
    )
    start = BERLIN.midnight_ms(date(2026, 3, 30))
    simulate(settings, "coolchip-2017-V1.80-L1A", start, start + 24 * HOUR, 300_000)
    with Cache.open(settings.cache_path, readonly=True) as cache:
        result = stats.update_month_summary(settings, cache, date(2026, 3, 30))
        assert [p.name for p in result.written] == ["2026-03_summary.csv"]
        assert list(result.failed) == [outside]
        assert "not mounted" in caplog.text
        assert stats.update_month_summary(settings, cache, date(2026, 5, 3)).written == []
        assert stats.update_month_summary(settings, cache, date(2026, 2, 3)).written == []
    results = stats.write_month_summaries(
        settings, date(2026, 2, 1), date(2026, 5, 1), now_ms=start + 40 * 24 * HOUR
    )
    assert [r.written[0].name for r in results if r.written] == ["2026-03_summary.csv"]
    assert not outside.exists()


def test_empty_cache_writes_nothing(tmp_path):
    settings = settings_for(tmp_path)
    with Cache.open(settings.cache_path) as cache:
        assert stats.update_month_summary(settings, cache, date(2026, 3, 1)).written == []


# -- command line ---------------------------------------------------------------------------

runner = CliRunner()


def env_for(tmp_path: Path) -> dict[str, str]:
    return {
        "LUXLOG_DATA_DIR": str(tmp_path / "data"),
        "LUXLOG_TIMEZONE": "Europe/Berlin",
        "LUXLOG_INTERVAL_SEC": "300",
    }


def test_cli_stats(tmp_path):
    settings = settings_for(tmp_path, interval_sec=300)
    start = BERLIN.midnight_ms(date(2026, 3, 28))
    simulate(settings, "bouni-2016-V3.78-MSW6", start, start + 2 * 24 * HOUR, 300_000)
    env = env_for(tmp_path)
    result = runner.invoke(
        app, ["stats", "--from", "2026-03-28", "--to", "2026-03-29", "--json"], env=env
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [d["period"] for d in data] == ["2026-03-28", "2026-03-29"]
    assert data[1]["flags"] == ["dst-23h"] and data[1]["compressor_starts"] > 0

    result = runner.invoke(
        app, ["stats", "--by", "month", "--from", "2026-03-28", "--to", "2026-03-29"], env=env
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "# heat pump per month (Europe/Berlin)"
    assert lines[1].startswith("period\th\tcov %") and lines[2].startswith("2026-03\t743.0")

    result = runner.invoke(
        app, ["stats", "--from", "2026-03-01", "--to", "2026-03-29", "--write"], env=env
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "data" / "csv" / "2026-03_summary.csv").is_file()

    result = runner.invoke(app, ["stats", "--by", "fortnight"], env=env)
    assert result.exit_code == 2 and "--by must be one of day, week" in result.output


def test_cli_stats_write_fails_with_7_for_an_unmounted_folder(tmp_path):
    settings = settings_for(tmp_path, interval_sec=300)
    start = BERLIN.midnight_ms(date(2026, 3, 28))
    simulate(settings, "bouni-2016-V3.78-MSW6", start, start + 24 * HOUR, 300_000)
    env = {**env_for(tmp_path), "LUXLOG_OUTPUT_DIRS": str(tmp_path / "nas")}
    result = runner.invoke(
        app, ["stats", "--from", "2026-03-28", "--to", "2026-03-28", "--write"], env=env
    )
    assert result.exit_code == 7, result.output


def test_cli_stats_without_a_cache_says_no_data_yet(tmp_path):
    result = runner.invoke(app, ["stats"], env=env_for(tmp_path))
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("no data yet") and result.stdout == ""


def test_cli_help_has_examples():
    for command in ("stats", "report"):
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0 and "Example: luxlog " + command in result.output


def test_settings_for_seasons(tmp_path):
    from luxlog.config import load

    settings = load(None, {"LUXLOG_SEASON_START_MONTH": "10", "LUXLOG_SEASON_END_MONTH": "4"})
    calendar = Calendar.from_settings(settings)
    season = calendar.period("season", date(2026, 1, 1))
    assert season is not None and (season.first_day, season.last_day) == (
        date(2025, 10, 1),
        date(2026, 4, 30),
    )
    from luxlog.errors import ConfigError

    with pytest.raises(ConfigError, match=r"season_start_month: must be 1\.\.12"):
        load(None, {"LUXLOG_SEASON_START_MONTH": "13"})


# -- rollup due keeps the month summary current ------------------------------------------


def test_rollup_due_updates_the_month_summary_once_per_day(tmp_path, monkeypatch):
    from luxlog import products
    from luxlog import summary as summary_module

    settings = settings_for(tmp_path, interval_sec=900, timeout_sec=5)  # few samples, same logic
    calls: list[date] = []
    update = stats.update_month_summary

    def counting(settings, cache, day, **kwargs):
        calls.append(day)
        return update(settings, cache, day, **kwargs)

    monkeypatch.setattr(summary_module, "update_month_summary", counting)

    def no_sleep(seconds: float) -> None:
        raise AssertionError("no sleep expected")

    start = BERLIN.midnight_ms(date(2026, 3, 27))
    model = HeatPumpModel(load_capture("bouni-2016-V3.78-MSW6"), seed=2, start_ms=start)

    def fill(first: int, end: int) -> None:
        with Cache.open(settings.cache_path) as cache:
            cache.add_many(Sample(t, HOST, *model.read(t)) for t in range(first, end, 900_000))

    fill(start, BERLIN.midnight_ms(date(2026, 3, 30)) + 6 * HOUR)
    now = BERLIN.midnight_ms(date(2026, 3, 30)) + 8 * HOUR
    products.due(settings, now_ms=now, sleep=no_sleep)
    # Daily roll-ups ending 27..30 March at 07:00; each completes the calendar day before.
    assert calls == [date(2026, 3, 26), date(2026, 3, 27), date(2026, 3, 28), date(2026, 3, 29)]
    summary = tmp_path / "data" / "csv" / "2026-03_summary.csv"
    rows = list(csv.DictReader(io.StringIO(summary.read_text())))
    assert [(r["date"], r["hours"], r["coverage_pct"]) for r in rows] == [
        ("2026-03-27", "24.0", "100.0"),
        ("2026-03-28", "24.0", "100.0"),
        ("2026-03-29", "23.0", "100.0"),
    ]
    first_version = summary.read_bytes()
    # Each day with samples also gets its report next to the CSVs (26 March had none).
    reports = sorted(p.name for p in (tmp_path / "data" / "csv").glob("*_report.html"))
    assert reports == [f"2026-03-{d}_report.html" for d in (27, 28, 29)]

    products.due(settings, now_ms=now + HOUR, sleep=no_sleep)  # nothing due: no rewrite
    assert len(calls) == 4 and summary.read_bytes() == first_version

    fill(BERLIN.midnight_ms(date(2026, 3, 30)) + 6 * HOUR, now + 23 * HOUR)
    products.due(settings, now_ms=now + 24 * HOUR, sleep=no_sleep)
    assert calls[4:] == [date(2026, 3, 30)]
    rows = list(csv.DictReader(io.StringIO(summary.read_text())))
    assert [r["date"] for r in rows][-1] == "2026-03-30" and len(rows) == 4
    assert rows[-1]["coverage_pct"] == "100.0"


def test_a_summary_that_cannot_be_written_never_fails_the_rollup(tmp_path, monkeypatch, caplog):
    from luxlog import products, summary
    from luxlog.errors import StorageError

    settings = settings_for(tmp_path, interval_sec=300, timeout_sec=5)
    simulate(settings, "coolchip-2017-V1.80-L1A", DAY0, DAY0 + 24 * HOUR, 300_000)

    def broken(*args, **kwargs):
        raise StorageError("cache data/cache.sqlite3 is corrupt")

    monkeypatch.setattr(summary, "update_month_summary", broken)
    with Cache.open(settings.cache_path) as cache:
        result = products.after_daily_rollup(settings, cache, date(2026, 1, 11))
    assert result.written == [] and "2026-01_summary.csv not updated: cache" in caplog.text


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_default_table_fits_80_columns_and_wide_shows_all(tmp_path, monkeypatch):
    from luxlog import render

    monkeypatch.setenv("COLUMNS", "80")
    settings = settings_for(tmp_path, interval_sec=300)
    start = BERLIN.midnight_ms(date(2026, 3, 28))
    simulate(settings, "bouni-2016-V3.78-MSW6", start, start + 2 * 24 * HOUR, 300_000)
    rows = stats.compute(
        settings, first=date(2026, 3, 27), last=date(2026, 3, 30), now_ms=start + 3 * 24 * HOUR
    )
    headers, cells = stats.table_view(rows, wide=False)
    screen = _Terminal()
    render.table("heat pump per day (Europe/Berlin)", headers, cells, stream=screen, compact=True)
    text = re.sub(r"\x1b\[[0-9;]*m", "", screen.getvalue())  # colour codes take no room
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in text and "2026-03-29" in text  # no cell cut short
    assert any("dst-23h" in line for line in lines)
    wide_headers, _ = stats.table_view(rows)
    assert wide_headers == [header for _, header in stats.TABLE_COLUMNS]
    assert len(wide_headers) > len(headers)


def test_the_slack_shortcut_never_skips_a_step_the_full_check_would_refuse():
    # The summariser settles a step growing at most `most` raw units without the float
    # limit; that is exact only if `most` units are within the slack and one more is not.
    from luxlog.counters import COUNTERS, Unit
    from luxlog.summariser import _most

    for spec in COUNTERS:
        per_raw = Unit.of(spec).per_raw
        most = _most(spec, per_raw)
        assert most * per_raw <= spec.slack < (most + 1) * per_raw, spec.column
    assert _most(COUNTERS[0], 0.0) == 0
