"""Energy, COP and utility lock on every firmware: synthetic days with known truth.

Each day is built from counters advanced by known amounts, so every figure is checked
against what was constructed: a firmware update at noon that brings the energy-input
counters, counters stuck at zero, a power-only controller, SmartGrid utility inputs.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from itertools import pairwise

import pytest
from helpers import settings_in
from typer.testing import CliRunner

from luxlog import registers, report, stats
from luxlog.cache import Cache
from luxlog.cli import app
from luxlog.energy import STUCK_RUN_S
from luxlog.registers import (
    C_COMPRESSOR,
    C_COMPRESSOR_SECONDS,
    C_EVU2_IN,
    C_EVU_IN,
    C_HEAT_HEATING,
    C_HEAT_HOT_WATER,
    C_HEATING_SECONDS,
    C_HOT_WATER_SECONDS,
    C_MODE,
    C_OUTDOOR,
    C_POWER_INPUT,
    P_ENERGY_HEATING,
    P_ENERGY_HOT_WATER,
    P_SMARTGRID,
)
from luxlog.sample import Sample
from luxlog.stats import (
    Calendar,
    PeriodStats,
)

HOST = "192.0.2.1:8889"
MIN = 60_000
HOUR = 3_600_000
UTC_CAL = Calendar("UTC")
DAY = date(2026, 1, 10)
DAY0 = round(datetime(2026, 1, 10, tzinfo=UTC).timestamp() * 1000)
NOON = DAY0 + 12 * HOUR
LAST = DAY0 + 24 * HOUR - 10 * MIN  # the day's last 10-minute sample


def sample(
    t: int,
    *,
    heat: int,
    comp_s: int = 0,
    hw_s: int = 0,
    hw_heat: int = 800,
    mode: int = 5,
    energy: tuple[int, int] | None = None,
    power: int | None = None,
    evu: tuple[int, int] = (1, 0),
    smartgrid: bool = False,
) -> Sample:
    """Raw registers: heat in 0.1 kWh, energy input in 0.01 kWh, power in W.

    The parameter vector is short (as on old firmware) unless energy-input counters or
    SmartGrid are asked for; calculation 268 exists only when ``power`` is given.
    """
    calc = [0] * (C_POWER_INPUT + 1)
    calc[C_OUTDOOR], calc[C_MODE] = 50, mode
    calc[C_HEAT_HEATING], calc[C_HEAT_HOT_WATER] = heat, hw_heat
    calc[C_COMPRESSOR_SECONDS] = 50_000 + comp_s + hw_s
    calc[C_HEATING_SECONDS], calc[C_HOT_WATER_SECONDS] = 40_000 + comp_s, 10_000 + hw_s
    calc[C_COMPRESSOR] = 1 if mode in (0, 1) else 0
    calc[C_EVU_IN], calc[C_EVU2_IN] = evu
    if power is None:
        calc = calc[:C_POWER_INPUT]
    else:
        calc[C_POWER_INPUT] = power
    params = [0] * 10
    if energy is not None or smartgrid:
        params = [0] * (P_ENERGY_HOT_WATER + 1)
        params[P_SMARTGRID] = 1 if smartgrid else 0
        if energy is not None:
            params[P_ENERGY_HEATING], params[P_ENERGY_HOT_WATER] = energy
        else:
            params[P_ENERGY_HEATING] = params[P_ENERGY_HOT_WATER] = 2147483647
    return Sample(t, HOST, tuple(calc), tuple(params))


def linear(t: int, knots: list[tuple[int, int]]) -> int:
    """Piecewise-linear integer counter through ``(time, value)`` knots."""
    for (t0, v0), (t1, v1) in pairwise(knots):
        if t <= t1:
            return v0 + (v1 - v0) * (max(t, t0) - t0) // (t1 - t0)
    return knots[-1][1]


def day(build: Callable[[int], Sample], step: int = 10 * MIN) -> list[Sample]:
    return [build(t) for t in range(DAY0, DAY0 + 24 * HOUR, step)]


def summarise(samples: list[Sample], kind: stats.PeriodKind = "day") -> PeriodStats:
    (row,) = stats.summarise(
        samples, UTC_CAL.periods(kind, DAY, DAY), calendar=UTC_CAL, interval_sec=600
    )
    return row


# -- 1. energy-input counters appear at noon (firmware update) ---------------------------

# Heat: 23.9 kWh until noon, 20.1 kWh after; electricity 6.2 kWh, counted from noon only.
HEAT_KNOTS = [(DAY0, 10_000), (NOON, 10_239), (LAST, 10_440)]
ENERGY_KNOTS = [(NOON, 50_000), (LAST, 50_620)]


def firmware_update_at_noon(t: int) -> Sample:
    energy = (linear(t, ENERGY_KNOTS), 7_000) if t >= NOON else None
    return sample(t, heat=linear(t, HEAT_KNOTS), energy=energy)


def test_counters_that_appear_at_noon_give_the_cop_of_the_afternoon_and_a_flag():
    for kind in ("day", "week", "month", "season"):
        row = summarise(day(firmware_update_at_noon), kind)  # type: ignore[arg-type]
        assert row.heat_kwh == 44.0, kind  # heat: the whole day
        assert (row.electricity_kwh, row.electricity_source) == (6.2, "counters")
        assert row.electricity_hours == 11.83  # 12:00..23:50, the steps the counters made
        # Never 44.0 / 6.2 = 7.1: the COP is over the hours both are known.
        assert (row.cop, row.cop_heat_kwh, row.cop_electricity_kwh) == (3.24, 20.1, 6.2)
        assert (row.cop_hours, row.cop_heating) == (11.83, 3.24)
        assert "energy-spans-differ" in row.flags and "electricity-partial" in row.flags
        assert any("heat is known for 23.83 h, electricity for 11.83 h" in n for n in row.notes)


def test_the_same_day_with_counters_all_day_has_no_flag():
    def full(t: int) -> Sample:
        knots = [(DAY0, 49_000), (NOON, 50_000), (LAST, 50_620)]
        return sample(t, heat=linear(t, HEAT_KNOTS), energy=(linear(t, knots), 7_000))

    row = summarise(day(full))
    assert (row.heat_kwh, row.electricity_kwh, row.cop, row.cop_hours) == (44.0, 16.2, 2.72, 23.83)
    assert row.flags == []


# -- 2. counters stuck at zero while the compressor runs ---------------------------------

RUN_START, RUN_END = DAY0 + 6 * HOUR, DAY0 + 6 * HOUR + 438 * MIN  # 7.3 h heating


def running(t: int) -> tuple[int, int, int]:
    """(compressor seconds, heat in 0.1 kWh at 6 kW, mode) at ``t``."""
    run_s = (min(max(t, RUN_START), RUN_END) - RUN_START) // 1000
    return run_s, 5_000 + run_s // 60, 0 if RUN_START <= t < RUN_END else 5


def stuck(t: int, *, power: bool) -> Sample:
    run_s, heat, mode = running(t)
    watts = (2000 if mode == 0 else 0) if power else None
    return sample(t, heat=heat, comp_s=run_s, mode=mode, energy=(0, 0), power=watts)


def test_counters_stuck_at_zero_are_not_reporting_and_flagged():
    row = summarise(day(lambda t: stuck(t, power=False), step=6 * MIN))
    assert (row.compressor_hours, row.heat_kwh) == (7.3, 43.8)
    assert row.electricity_kwh is None and row.cop is None  # not "0.0 kWh (counters)"
    assert row.electricity_source == "none"
    assert "counters-stuck" in row.flags
    assert any("compressor ran 7.3 h" in note and "nowhere" in note for note in row.notes)


def test_stuck_counters_fall_back_to_the_power_readings():
    row = summarise(day(lambda t: stuck(t, power=True), step=6 * MIN))
    # 2 kW for 7.3 h; 6 kW of heat for 7.3 h.
    assert (row.electricity_kwh, row.electricity_source, row.heat_kwh) == (14.6, "power", 43.8)
    assert (row.cop, row.cop_heating, row.cop_hours) == (3.0, 3.0, 23.9)
    assert "counters-stuck" in row.flags and "energy-spans-differ" not in row.flags


def test_a_power_only_controller():
    def power_only(t: int) -> Sample:
        run_s, heat, mode = running(t)
        return sample(t, heat=heat, comp_s=run_s, mode=mode, power=2000 if mode == 0 else 0)

    row = summarise(day(power_only, step=6 * MIN))
    assert (row.electricity_kwh, row.electricity_source, row.cop) == (14.6, "power", 3.0)
    assert row.flags == []


def test_counters_that_stop_in_the_afternoon_switch_to_power_for_that_span():
    """Live until 12:00 (2.0 kWh), stuck after while the compressor runs 14:00-16:00."""
    run2 = DAY0 + 14 * HOUR

    def build(t: int) -> Sample:
        run_s, heat, mode = running(t)
        late_s = (min(max(t, run2), run2 + 2 * HOUR) - run2) // 1000
        late = 0 if run2 <= t < run2 + 2 * HOUR else mode
        counters = linear(min(t, NOON), [(DAY0, 1_000), (NOON, 1_200)])
        watts = 2000 if late == 0 and t >= run2 else 0
        return sample(
            t,
            heat=heat + late_s // 60,
            comp_s=run_s + late_s,
            mode=late,
            energy=(counters, 0),
            power=watts,
        )

    row = summarise(day(build, step=6 * MIN))
    assert row.electricity_source == "counters+power"
    assert row.electricity_kwh == 2.0 + 4.0  # counters until noon, 2 kW x 2 h after
    assert "counters-stuck" in row.flags
    assert STUCK_RUN_S <= 2 * 3600


def test_a_dead_hot_water_counter_is_found_although_the_heating_counter_advances():
    """Heating (1.5 kW in, 6 kW out) and 20-minute hot-water runs (2.5 kW in, 5 kW out)
    take turns; the hot-water energy counter never moves. From the step after its first
    run (07:00) it is set aside with its partner and the power readings take over."""
    schedule = [  # minutes of the day, mode
        (360, 420, 0),
        (420, 440, 1),
        (440, 480, 0),
        (480, 500, 1),
        (500, 540, 0),
        (540, 560, 1),
    ]

    def run(t: int, mode: int) -> int:
        minute = (t - DAY0) / MIN
        return sum(
            round((min(minute, b) - a) * 60) for a, b, m in schedule if m == mode and minute > a
        )

    def build(t: int) -> Sample:
        minute = (t - DAY0) / MIN
        mode = next((m for a, b, m in schedule if a <= minute < b), 5)
        heating_s, hw_s = run(t, 0), run(t, 1)
        return sample(
            t,
            heat=5_000 + heating_s // 60,
            hw_heat=800 + hw_s * 5 // 360,
            comp_s=heating_s,
            hw_s=hw_s,
            mode=mode,
            energy=(20_000 + heating_s // 24, 9_000),
            power={0: 1500, 1: 2500}.get(mode, 0),
        )

    row = summarise(day(build, step=5 * MIN))
    assert (row.heat_heating_kwh, row.heat_hot_water_kwh) == (14.0, 5.0)
    assert row.electricity_source == "counters+power"
    # Counters until 07:00 (1.5 kWh), power after: 80 min x 1.5 kW, 60 min x 2.5 kW.
    assert (row.electricity_heating_kwh, row.electricity_hot_water_kwh) == (3.5, 2.5)
    assert (row.electricity_kwh, row.cop, row.cop_heating, row.cop_hot_water) == (
        6.0,
        3.17,
        4.0,
        2.0,
    )
    assert "counters-stuck" in row.flags


# -- 3. SmartGrid: two utility inputs, four states ----------------------------------------


@pytest.mark.parametrize(
    ("evu", "evu2", "state", "lock"),
    [
        (1, 0, "locked", True),
        (0, 0, "reduced", False),
        (0, 1, "normal", False),
        (1, 1, "increased", False),
    ],
)
def test_smartgrid_states(evu, evu2, state, lock):
    on = sample(DAY0, heat=0, evu=(evu, evu2), smartgrid=True)
    assert registers.smartgrid_state(on.calculations, on.parameters) == state
    assert registers.utility_lock(on.calculations, on.parameters) is lock
    off = sample(DAY0, heat=0, evu=(evu, evu2))
    assert registers.smartgrid_state(off.calculations, off.parameters) is None
    assert registers.utility_lock(off.calculations, off.parameters) is (evu == 0)


def smartgrid_day(t: int) -> Sample:
    """Normal (EVU 0, EVU2 1) all day but a 2-hour lock (EVU 1, EVU2 0) 17:00-19:00, in
    which the controller shows operating mode 3 (EVU)."""
    locked = DAY0 + 17 * HOUR <= t < DAY0 + 19 * HOUR
    return sample(
        t, heat=1000, mode=3 if locked else 5, evu=(1, 0) if locked else (0, 1), smartgrid=True
    )


def test_a_smartgrid_day_has_its_two_hours_of_lock():
    row = summarise(day(smartgrid_day))
    assert row.evu_lock_hours == 2.0  # reading EVU alone gave 24.0
    collected = report.collect(
        day(smartgrid_day), UTC_CAL.periods("day", DAY, DAY)[0], calendar=UTC_CAL, interval_sec=600
    )
    assert collected.stats.evu_lock_hours == 2.0
    band = next(b for b in collected.bands if b.key == "evu_lock")
    assert band.hours == 2.0


# -- the same truth in stats --json, the month summary and the report -----------------------


def test_json_month_summary_and_report_agree(tmp_path):
    settings = settings_in(tmp_path, timezone="UTC", interval_sec=600)
    with Cache.open(settings.cache_path) as cache:
        cache.add_many(day(firmware_update_at_noon))
    env = {
        "LUXLOG_DATA_DIR": str(tmp_path / "data"),
        "LUXLOG_TIMEZONE": "UTC",
        "LUXLOG_INTERVAL_SEC": "600",
    }
    result = CliRunner().invoke(
        app, ["stats", "--from", "2026-01-10", "--to", "2026-01-10", "--json"], env=env
    )
    assert result.exit_code == 0, result.output
    (data,) = json.loads(result.stdout)
    assert (data["cop"], data["cop_hours"], data["electricity_source"]) == (3.24, 11.83, "counters")
    assert "energy-spans-differ" in data["flags"]

    now = DAY0 + 48 * HOUR
    with Cache.open(settings.cache_path, readonly=True) as cache:
        written = stats.update_month_summary(settings, cache, DAY, now_ms=now)
    (path,) = written.written
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    tenth = next(r for r in rows if r["date"] == "2026-01-10")
    assert (tenth["cop"], tenth["cop_hours"], tenth["electricity_kwh"]) == ("3.24", "11.83", "6.2")
    assert "energy-spans-differ" in tenth["flags"]

    period = UTC_CAL.periods("day", DAY, DAY)[0]
    collected = report.collect(
        day(firmware_update_at_noon), period, calendar=UTC_CAL, interval_sec=600
    )
    html = report.render_html(collected, UTC_CAL)
    assert "3.24" in html and "over the 11.83 h both are known" in html
    assert "energy-spans-differ" in html or "heat is known for 23.83 h" in html


def test_one_register_one_name_one_scale_in_stats_csv_and_sensors_json(tmp_path):
    """Parameter 1136 was ``param_1136`` = 543197 in the CSV and 5431.97 kWh in stats."""
    settings = settings_in(tmp_path, timezone="UTC", interval_sec=600)
    first = sample(DAY0, heat=1000, energy=(543_197, 7_000))
    second = sample(DAY0 + 10 * MIN, heat=1001, energy=(543_207, 7_000))
    with Cache.open(settings.cache_path) as cache:
        cache.add_many([first, second])
    env = {"LUXLOG_DATA_DIR": str(tmp_path / "data"), "LUXLOG_TIMEZONE": "UTC"}
    result = CliRunner().invoke(app, ["sensors", "--json"], env=env)
    assert result.exit_code == 0, result.output
    by_name = {entry["name"]: entry for entry in json.loads(result.stdout)}
    assert "param_1136" not in by_name and "Unknown_Parameter_1136" not in by_name
    energy = by_name["HEAT_ENERGY_INPUT"]
    assert (energy["index"], energy["unit"], energy["latest"]) == (1136, "kWh", 5432.07)
    assert stats.unit_scale("param", P_ENERGY_HEATING) == (0.01, "kWh")
    (row,) = stats.summarise(
        [first, second], UTC_CAL.periods("day", DAY, DAY), calendar=UTC_CAL, interval_sec=600
    )
    assert row.electricity_heating_kwh == 0.1  # 10 counts of 0.01 kWh


# -- 7. a week added up from its days keeps a long gap across midnight ----------------------


def test_a_week_built_from_stored_days_keeps_the_energy_of_a_long_gap_across_midnight():
    # Two days, no samples from 20:00 to 02:00 (6 h, longer than the bridge): the step
    # across midnight is no day's, but the week holds the sample it started from. The week
    # is built from its days' sums, read back from JSON as stored day figures are.
    from luxlog import daysums
    from luxlog.summariser import day_figures

    end = DAY0 + 48 * HOUR - 10 * MIN
    heat_knots, energy_knots = [(DAY0, 10_000), (end, 10_480)], [(DAY0, 50_000), (end, 51_200)]

    def build(t: int) -> Sample:
        heat = linear(t, heat_knots)
        return sample(
            t, heat=heat, comp_s=(heat - 10_000) * 60, energy=(linear(t, energy_knots), 7_000)
        )

    samples = [
        build(t)
        for t in range(DAY0, DAY0 + 48 * HOUR, 10 * MIN)
        if not DAY0 + 20 * HOUR < t < DAY0 + 26 * HOUR
    ]
    (week_period,) = UTC_CAL.periods("week", DAY, DAY)
    (week,) = stats.summarise(samples, [week_period], calendar=UTC_CAL, interval_sec=600)
    days = daysums.days_of([week_period], UTC_CAL)
    figures = day_figures(samples, days, calendar=UTC_CAL, interval_sec=600)
    stored = [json.loads(json.dumps(partial)) for _, partial in figures]
    composed = daysums.compose(
        [week_period], stored, calendar=UTC_CAL, interval_sec=600, now_ms=None
    )
    assert composed == [week]

    first, last = samples[0], samples[-1]
    heat = (linear(last.timestamp_ms, heat_knots) - 10_000) / 10
    electricity = (linear(last.timestamp_ms, energy_knots) - 50_000) / 100
    assert (week.heat_kwh, week.electricity_kwh) == (heat, electricity)
    assert week.cop == round(heat / electricity, 2) and "gap-not-attributed" not in week.flags
    saturday, sunday = (row for row, _ in figures if row.samples)
    assert "gap-not-attributed" in sunday.flags
    in_days = saturday.electricity_kwh + sunday.electricity_kwh
    assert electricity - in_days > 1.0  # the 6 h step: ~1.5 kWh that no day holds
    assert week.electricity_hours == round((last.timestamp_ms - first.timestamp_ms) / HOUR, 2)
