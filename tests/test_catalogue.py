"""The sensor catalogue against the real captures' luxtronik 0.3.14 decodings."""

from __future__ import annotations

import ast

import pytest
from dumps import DUMPS, rows, vectors

from luxlog.heatpump import catalogue

SELECTIONS = {
    "HeatingMode",
    "HotWaterMode",
    "HeatpumpCode",
    "BivalenceLevel",
    "OperationMode",
    "SwitchoffFile",
    "MainMenuStatusLine1",
    "MainMenuStatusLine2",
    "MainMenuStatusLine3",
    "SecOperationMode",
    "CoolingMode",
    "PoolMode",
    "MixedCircuitMode",
    "SolarMode",
    "VentilationMode",
}


@pytest.mark.parametrize("dump", DUMPS)
def test_every_value_matches_luxtronik_with_luxlogs_rules(dump):
    checked = 0
    for row in rows(dump):
        if row.section == "V" or row.name.startswith("(part of"):
            continue
        kind = "calc" if row.section == "C" else "param"
        item = catalogue.sensor(kind, row.index)
        assert item is not None
        assert item.name == row.name
        assert item.type == row.type
        ours = item.convert(row.raw)
        if row.type in {"IPAddress", "Version"}:
            assert not item.numeric
        elif row.type == "Timestamp":
            assert ours == row.raw  # numbers, not datetimes
        elif row.type in SELECTIONS:
            theirs = ast.literal_eval(row.value)
            assert ours == row.raw and item.label(row.raw) == theirs
        elif row.type == "Bool":
            assert ours == (1 if row.value == "True" else 0)
        elif row.raw == -500 and row.type == "Celsius":
            assert ours is None  # sensor not fitted, not -50.0 degC
        else:
            assert ours == ast.literal_eval(row.value)
            assert repr(ours) == row.value  # no float noise: 34.2, not 34.200000000000003
        checked += 1
    assert checked > 1200


def test_not_available_marker_is_missing_for_every_type():
    for kind, index in (("calc", 10), ("calc", 56), ("param", 0), ("calc", 29)):
        item = catalogue.sensor(kind, index)
        assert item is not None and item.convert(2147483647) is None


def test_pressure_and_float_noise():
    item = catalogue.sensor("calc", 180)
    assert item is not None and item.type == "Pressure"
    assert item.convert(1296) == 12.96 and repr(item.convert(449)) == "4.49"
    celsius = catalogue.sensor("calc", 10)
    assert celsius is not None and repr(celsius.convert(449)) == "44.9"


def test_indices_beyond_luxtronik_get_stable_names():
    calcs, params = catalogue.known_lengths()
    assert (calcs, params) == (260, 1126)
    extra_calc = catalogue.sensor("calc", 270)
    extra_param = catalogue.sensor("param", 1140)
    # luxtronik's own name for an index it has no definition for.
    assert extra_calc is not None and extra_calc.name == "Unknown_Calculation_270"
    assert extra_param is not None and extra_param.name == "Unknown_Parameter_1140"
    assert extra_calc.convert(-500) == -500  # unknown type: raw integer kept


def test_indices_a_public_decoder_defines_get_its_name_unit_and_scale():
    energy = catalogue.sensor("param", 1136)
    hot_water = catalogue.sensor("param", 1137)
    power = catalogue.sensor("calc", 268)
    assert energy is not None and (energy.name, energy.unit) == ("HEAT_ENERGY_INPUT", "kWh")
    assert energy.convert(543197) == 5431.97  # 0.01 kWh, as the statistics read it
    assert hot_water is not None and hot_water.name == "DHW_ENERGY_INPUT"
    assert power is not None and (power.name, power.unit, power.convert(1830)) == (
        "CURRENT_POWER_CONSUMPTION",
        "W",
        1830,
    )


def test_values_of_a_longer_firmware_vector():
    calcs, params = vectors("bouni-2016-V3.78-MSW6")
    longer = calcs + [0] * (275 - len(calcs))
    longer[270] = 1234
    result = catalogue.values(longer, params)
    assert result["Unknown_Calculation_270"] == 1234
    assert result["ID_WEB_Temperatur_TA"] == -4.0
    assert "ID_WEB_SoftStand" not in result and "ID_WEB_AdresseIP_akt" not in result
    beyond = [n for n in result if n.startswith("Unknown_Calculation_2") and int(n[20:]) >= 260]
    assert len(beyond) == 275 - 260 - 1  # 268 has a name: CURRENT_POWER_CONSUMPTION
    assert result["CURRENT_POWER_CONSUMPTION"] == 0


def test_firmware_string():
    for dump, expected in zip(DUMPS, ("V1.80", "V3.78"), strict=True):
        calcs, _ = vectors(dump)
        assert catalogue.firmware(calcs) == expected
    assert catalogue.firmware([0] * 50) is None


def test_sensor_listing_skips_version_characters_and_labels_selections():
    listed = list(catalogue.sensors(100, 3))
    assert [s.index for s in listed if s.kind == "calc"] == [*range(0, 82), *range(91, 100)]
    mode = catalogue.sensor("calc", 80)
    assert mode is not None and mode.is_selection and mode.label(5) == "no request"
    assert mode.label(99) is None and catalogue.sensor("calc", 10).label(1) is None
    assert catalogue.sensor("calc", 10).unit == "°C"
