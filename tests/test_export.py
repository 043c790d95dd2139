"""`luxlog export`: JSON Lines, CSV and line protocol from a real cache, in-process."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from helpers import settings_in
from typer.testing import CliRunner

from luxlog.cache import Cache, Frame
from luxlog.cli import app
from luxlog.config import Settings
from luxlog.csvout import SensorFilter, format_value
from luxlog.export import (
    FLOAT_TYPES,
    day_range,
    escape_key,
    influx_frames,
    influx_lines,
    jsonl_frames,
    jsonl_lines,
    series_prefix,
)
from luxlog.heatpump import catalogue
from luxlog.sample import Sample
from luxlog.simulator import HeatPumpModel, load_capture

ZONE = "Europe/Berlin"
START = int(datetime(2026, 3, 28, 22, 0, tzinfo=UTC).timestamp() * 1000)  # 23:00 local
HOST = "192.0.2.7:8889"


def polls(count: int, *, start_ms: int = START, interval_ms: int = 30_000) -> list[Sample]:
    model = HeatPumpModel(load_capture("coolchip-2017-V1.80-L1A"), seed=1, start_ms=start_ms)
    out = []
    for i in range(count):
        at = start_ms + i * interval_ms + 250
        calculations, parameters = model.read(at)
        out.append(Sample(at, HOST, calculations, parameters))
    return out


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return settings_in(tmp_path, timezone=ZONE, host="192.0.2.7", device="house 1,a=b")


@pytest.fixture
def cached(settings: Settings) -> list[Sample]:
    samples = polls(240)  # 2 h: 23:00 on the 28th to 01:00 on the 29th, local
    with Cache.open(settings.cache_path) as cache:
        cache.add_many(samples)
    return samples


def invoke(settings: Settings, *args: str) -> tuple[int, str]:
    runner = CliRunner()
    env = {"LUXLOG_TIMEZONE": ZONE, "LUXLOG_HOST": "192.0.2.7", "LUXLOG_DEVICE": "house 1,a=b"}
    result = runner.invoke(app, ["--data-dir", str(settings.data_dir), "export", *args], env=env)
    return result.exit_code, result.output


def test_jsonl_has_every_sample_with_offset_time_and_converted_values(
    settings: Settings, cached: list[Sample]
) -> None:
    code, output = invoke(settings, "--format", "jsonl", "--sensors", "ID_WEB_Temperatur_*")
    assert code == 0, output
    assert output.endswith("\n") and not output.startswith("\ufeff")
    lines = output.split("\n")[:-1]
    assert len(lines) == len(cached)
    first = json.loads(lines[0])
    assert first["time"] == "2026-03-28T23:00:00+01:00"
    assert first["ts_ms"] == cached[0].timestamp_ms
    assert first["device"] == "house 1,a=b"
    expected = catalogue.values(cached[0].calculations, cached[0].parameters)
    values = first["values"]
    assert set(values) == {n for n in expected if n.startswith("ID_WEB_Temperatur_")}
    assert values == {name: expected[name] for name in values}
    assert "NaN" not in output
    last = json.loads(lines[-1])
    assert last["values"] == {
        name: catalogue.values(cached[-1].calculations, cached[-1].parameters)[name]
        for name in values
    }


def test_jsonl_missing_is_null_and_raw_vectors_on_request(settings: Settings) -> None:
    sample = polls(1)[0]
    calcs = list(sample.calculations)
    calcs[10] = -500  # ID_WEB_Temperatur_TVL not fitted
    odd = Sample(sample.timestamp_ms, HOST, tuple(calcs), sample.parameters)
    lines = list(
        jsonl_lines(
            [odd],
            selection=SensorFilter(("ID_WEB_Temperatur_TVL",)),
            zone=datetime.now().astimezone().tzinfo,  # type: ignore[arg-type]
            device="d",
            raw=True,
        )
    )
    data = json.loads(lines[0])
    assert data["values"] == {"ID_WEB_Temperatur_TVL": None}
    assert data["raw"] == {"calculations": calcs, "parameters": list(sample.parameters)}


def test_dates_are_whole_local_days(settings: Settings, cached: list[Sample]) -> None:
    code, output = invoke(settings, "--from", "2026-03-29", "--to", "2026-03-29")
    assert code == 0, output
    times = [json.loads(line)["time"] for line in output.splitlines()]
    assert times[0] == "2026-03-29T00:00:00+01:00"  # midnight in Berlin, not UTC
    assert len(times) == 120
    start, end = day_range(settings_zone(), date(2026, 3, 29), date(2026, 3, 29))
    assert end - start == 23 * 3600 * 1000  # the spring-forward day has 23 hours


def settings_zone():  # type: ignore[no-untyped-def]
    from zoneinfo import ZoneInfo

    return ZoneInfo(ZONE)


def test_influx_lines_are_typed_by_sensor_escaped_and_in_seconds(
    settings: Settings, cached: list[Sample]
) -> None:
    code, output = invoke(settings, "--format", "influx", "--to", "2026-03-28")
    assert code == 0, output
    lines = output.splitlines()
    assert len(lines) == 120
    prefix = "luxtronik,device=house\\ 1\\,a\\=b "
    assert all(line.startswith(prefix) for line in lines)
    head, fields, stamp = lines[0][len(prefix) - 1 :].split(" ")
    assert head == ""
    assert int(stamp) == cached[0].timestamp_ms // 1000
    parsed = dict(field.split("=", 1) for field in fields.split(","))
    shape = (len(cached[0].calculations), len(cached[0].parameters))
    types = {s.name: s.type for s in catalogue.sensors(*shape)}
    for name, text in parsed.items():
        if types.get(name) in FLOAT_TYPES:
            assert re.fullmatch(r"-?\d+\.\d+", text), (name, text)
        else:
            assert re.fullmatch(r"-?\d+i", text), (name, text)
    assert parsed["ID_WEB_Temperatur_TVL"].count(".") == 1
    assert parsed["ID_WEB_VD1out"] in ("0i", "1i")  # a boolean


def test_influx_whole_number_temperature_stays_float_and_missing_is_left_out() -> None:
    sample = polls(1)[0]
    calcs = list(sample.calculations)
    calcs[10], calcs[11] = 350, -500
    whole = Sample(sample.timestamp_ms, HOST, tuple(calcs), ())
    pick = SensorFilter(("ID_WEB_Temperatur_TVL", "ID_WEB_Temperatur_TRL"))
    (_, line), *_ = influx_lines([whole], selection=pick, device="d", site="x y")
    stamp = whole.timestamp_ms // 1000
    assert line == f"luxtronik,device=d,site=x\\ y ID_WEB_Temperatur_TVL=35.0 {stamp}\n"
    only_missing = Sample(whole.timestamp_ms, HOST, tuple(calcs), ())
    assert list(
        influx_lines([only_missing], selection=SensorFilter(("ID_WEB_Temperatur_TRL",)), device="d")
    ) == [(whole.timestamp_ms, "")]


def test_escaping_per_the_line_protocol_reference() -> None:
    assert escape_key("a b,c=d") == "a\\ b\\,c\\=d"
    assert series_prefix("x", "") == "luxtronik,device=x "


def test_csv_export_uses_the_rollup_columns_and_profile(
    settings: Settings, cached: list[Sample]
) -> None:
    target = settings.data_dir / "out.csv"
    code, output = invoke(
        settings, "--format", "csv", "--sensors", "ID_WEB_Temperatur_TVL", "-o", str(target)
    )
    assert code == 0, output
    text = target.read_bytes().decode("utf-8")
    rows = text.split("\r\n")
    assert rows[0] == "timestamp,ID_WEB_Temperatur_TVL"
    assert rows[1].startswith("2026-03-28T23:00:00+01:00,")
    assert len(rows) == len(cached) + 2  # header, rows, and the empty string after CRLF
    flow = catalogue.sensor("calc", 10)  # ID_WEB_Temperatur_TVL, decoded alone
    assert flow is not None
    assert [row.split(",")[1] for row in rows[1:-1]] == [
        format_value(flow.convert(sample.calculations[10])) for sample in cached
    ]
    assert not list(settings.data_dir.glob(".*.tmp"))


def test_bad_input_is_one_line_and_an_exit_code(settings: Settings, cached: list[Sample]) -> None:
    code, output = invoke(settings, "--from", "2026-03-29", "--to", "2026-03-28")
    assert code == 2 and "before" in output
    code, output = invoke(settings, "--format", "xml")
    assert code == 2 and "jsonl, csv or influx" in output
    code, output = invoke(settings, "-o", str(settings.data_dir / "missing" / "x.jsonl"))
    assert code == 7 and "cannot write" in output


def test_no_cache_is_a_storage_error(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    code, output = invoke(settings)
    assert code == 7 and "does not exist" in output


def test_firmware_change_inside_a_range_widens_the_csv_columns(settings: Settings) -> None:
    short = polls(3)
    longer = [
        Sample(s.timestamp_ms + 3_600_000, HOST, (*s.calculations, 7), s.parameters) for s in short
    ]
    with Cache.open(settings.cache_path) as cache:
        cache.add_many(short + longer)
    added = catalogue.sensor("calc", len(short[0].calculations))
    assert added is not None
    code, output = invoke(settings, "--format", "csv", "--sensors", added.name)
    assert code == 0, output
    rows = output.splitlines()
    assert rows[0] == f"timestamp,{added.name}"
    assert rows[1].endswith(",") and rows[-1].endswith(f",{added.convert(7)}")
    code, output = invoke(settings, "--format", "jsonl", "--sensors", added.name)
    values = [json.loads(line)["values"] for line in output.splitlines()]
    assert values[0] == {} and values[-1] == {added.name: added.convert(7)}


def rebuilt(frames: list[Frame]) -> list[Sample]:
    """Samples from frames: the key frame with each moving value put back."""
    out = []
    for frame in frames:
        for position, stamp in enumerate(frame.timestamps):
            vector = list(frame.key)
            for index, values in frame.changing.items():
                vector[index] = values[position]
            n = frame.n_calc
            out.append(Sample(stamp, frame.host, tuple(vector[:n]), tuple(vector[n:])))
    return out


def test_frames_hold_exactly_the_samples_query_returns(settings: Settings) -> None:
    samples = polls(300)  # 2.5 hours: three chunks
    other = [
        Sample(s.timestamp_ms + 7, "198.51.100.1:8889", s.calculations, s.parameters)
        for s in samples[130:133]
    ]  # a second controller inside one hour: that hour merges two chunks
    with Cache.open(settings.cache_path) as cache:
        cache.add_many(samples + other)
        for start, end in [
            (0, 2**62),
            (samples[5].timestamp_ms, samples[250].timestamp_ms),  # cuts two chunks
            (samples[131].timestamp_ms, samples[132].timestamp_ms + 1),
            (samples[-1].timestamp_ms + 1, 2**62),  # nothing
        ]:
            frames = list(cache.frames(start, end))
            assert rebuilt(frames) == list(cache.query(start, end))
            assert all(frame.timestamps for frame in frames)


def test_sample_and_frame_encoders_agree_on_a_cut_range(settings: Settings) -> None:
    samples = polls(200)
    with Cache.open(settings.cache_path) as cache:
        cache.add_many(samples)
        start, end = samples[17].timestamp_ms, samples[190].timestamp_ms
        zone = settings_zone()
        every = SensorFilter()
        from_frames = list(
            jsonl_frames(cache.frames(start, end), selection=every, zone=zone, device="d")
        )
        from_samples = list(
            jsonl_lines(cache.query(start, end), selection=every, zone=zone, device="d")
        )
        assert [json.loads(line) for line in from_frames] == [
            json.loads(line) for line in from_samples
        ]
        lines = [
            line for _, line in influx_frames(cache.frames(start, end), selection=every, device="d")
        ]
        assert sorted(lines[40].split(" ")[1].split(",")) == sorted(
            next(iter(influx_lines([samples[57]], selection=every, device="d")))[1]
            .split(" ")[1]
            .split(",")
        )
