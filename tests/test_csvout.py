"""CSV profiles, columns and atomic files: exact bytes, csv-module parsing, failing targets."""

from __future__ import annotations

import csv
import errno
import io
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from luxlog import outputs
from luxlog.csvout import (
    PROFILES,
    Columns,
    RenderStats,
    SensorFilter,
    ShapeGrew,
    format_value,
    render,
)
from luxlog.heatpump import catalogue
from luxlog.outputs import AtomicFile, temp_path, write_all
from luxlog.sample import Sample
from luxlog.simulator import HeatPumpModel, load_capture

BERLIN = ZoneInfo("Europe/Berlin")
HOST = "192.0.2.1:8889"
CAPTURE = load_capture()
FALL_BACK_FIRST = 1_761_438_600_000  # 2025-10-26 00:30 UTC = 02:30 summer time
FALL_BACK_SECOND = FALL_BACK_FIRST + 3_600_000  # 02:30 again, winter time


def ms(*args: int) -> int:
    return round(datetime(*args, tzinfo=UTC).timestamp() * 1000)


def sample_with(at_ms: int, calc: dict[int, int], param: dict[int, int] | None = None) -> Sample:
    calculations = list(CAPTURE.calculations)
    parameters = list(CAPTURE.parameters)
    for index, value in calc.items():
        calculations[index] = value
    for index, value in (param or {}).items():
        parameters[index] = value
    return Sample(at_ms, HOST, tuple(calculations), tuple(parameters))


def text_of(samples, columns, profile="default", zone=BERLIN, stats=None) -> bytes:
    return b"".join(render(samples, columns, profile=PROFILES[profile], zone=zone, stats=stats))


SELECTED = SensorFilter(
    include=(
        "ID_WEB_Temperatur_TVL",  # Celsius: /10
        "id_web_temperatur_ta",  # any case
        "ID_WEB_Temperatur_TWE",  # -500: sensor not fitted -> empty
        "ID_WEB_VD1out",  # Bool
        "ID_WEB_WP_BZ_akt",  # selection code
        "ID_WEB_WMZ_Heizung",  # Energy, here 2147483647: not available -> empty
        "ID_WEB_LIN_HD",  # Pressure: /100
        "param_3",  # ID_Ba_Hz_akt, by position
    )
)
VALUES = {10: 342, 15: -52, 19: -500, 44: 1, 80: 5, 151: 2147483647, 180: 1234}


def test_excel_de_row_byte_for_byte():
    columns = Columns.build(len(CAPTURE.calculations), len(CAPTURE.parameters), SELECTED)
    data = text_of([sample_with(FALL_BACK_FIRST, VALUES, {3: 4})], columns, "excel-de")
    assert data == (
        b"\xef\xbb\xbftimestamp;ID_WEB_Temperatur_TVL;ID_WEB_Temperatur_TA;"
        b"ID_WEB_Temperatur_TWE;ID_WEB_VD1out;ID_WEB_WP_BZ_akt;ID_WEB_WMZ_Heizung;"
        b"ID_WEB_LIN_HD;ID_Ba_Hz_akt\r\n"
        b"2025-10-26 02:30:00;34,2;-5,2;;1;5;;12,34;4\r\n"
    )


def test_excel_rows_byte_for_byte_keep_the_repeated_hour_apart():
    columns = Columns.build(len(CAPTURE.calculations), len(CAPTURE.parameters), SELECTED)
    samples = [
        sample_with(FALL_BACK_FIRST, VALUES, {3: 4}),
        sample_with(FALL_BACK_SECOND, {**VALUES, 10: 449}, {3: 4}),
    ]
    data = text_of(samples, columns, "excel")
    assert data == (
        b"\xef\xbb\xbftimestamp,utc_offset,ID_WEB_Temperatur_TVL,ID_WEB_Temperatur_TA,"
        b"ID_WEB_Temperatur_TWE,ID_WEB_VD1out,ID_WEB_WP_BZ_akt,ID_WEB_WMZ_Heizung,"
        b"ID_WEB_LIN_HD,ID_Ba_Hz_akt\r\n"
        b"2025-10-26 02:30:00,UTC+02:00,34.2,-5.2,,1,5,,12.34,4\r\n"
        b"2025-10-26 02:30:00,UTC+01:00,44.9,-5.2,,1,5,,12.34,4\r\n"
    )
    utc = text_of([sample_with(FALL_BACK_FIRST, VALUES, {})], columns, "excel", ZoneInfo("UTC"))
    assert b"\r\n2025-10-26 00:30:00,UTC+00:00," in utc


def test_default_row_byte_for_byte_and_dst_offsets():
    columns = Columns.build(len(CAPTURE.calculations), len(CAPTURE.parameters), SELECTED)
    samples = [
        sample_with(FALL_BACK_FIRST + 999, VALUES, {3: 4}),  # milliseconds are floored
        sample_with(FALL_BACK_SECOND, {**VALUES, 10: 449, 44: 0}, {3: 4}),
    ]
    lines = text_of(samples, columns).split(b"\r\n")
    assert lines[1] == b"2025-10-26T02:30:00+02:00,34.2,-5.2,,1,5,,12.34,4"
    assert lines[2] == b"2025-10-26T02:30:00+01:00,44.9,-5.2,,0,5,,12.34,4"
    assert lines[3] == b""


def test_every_cell_matches_the_catalogue_over_a_day_of_changing_samples():
    """The fast path (changed cells only) must equal converting every value every row."""
    start = ms(2025, 1, 1)
    model = HeatPumpModel(CAPTURE, seed=3, start_ms=start)
    samples = [Sample(t, HOST, *model.read(t)) for t in range(start, start + 86_400_000, 900_000)]
    everything = SensorFilter(include=("*",))
    columns = Columns.build(len(CAPTURE.calculations), len(CAPTURE.parameters), everything)
    stats = RenderStats()
    data = text_of(samples, columns, stats=stats)
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    header = rows[0]
    assert header[0] == "timestamp"
    numeric = [s for s in catalogue.sensors(200, 1086) if s.numeric]
    assert header[1:] == [s.name for s in numeric]
    assert len(rows) == 1 + len(samples) == 1 + stats.rows
    assert (stats.first_ms, stats.last_ms) == (samples[0].timestamp_ms, samples[-1].timestamp_ms)
    for sample, row in zip(samples, rows[1:], strict=True):
        expected = catalogue.values(sample.calculations, sample.parameters)
        assert row[1:] == [format_value(expected[name]) for name in header[1:]]
        moment = datetime.fromisoformat(row[0])
        assert moment.utcoffset() is not None
        assert round(moment.timestamp() * 1000) == sample.timestamp_ms // 1000 * 1000
    changing = header.index("ID_WEB_Temperatur_TVL")
    assert len({row[changing] for row in rows[1:]}) > 10  # the trace really moves


def test_excel_de_parses_with_the_csv_module_and_numbers_read_back():
    start = ms(2025, 1, 1)
    model = HeatPumpModel(CAPTURE, seed=1, start_ms=start)
    samples = [Sample(t, HOST, *model.read(t)) for t in range(start, start + 3_600_000, 300_000)]
    columns = Columns.build(200, 1086, SensorFilter(include=("ID_WEB_Temperatur_*",)))
    data = text_of(samples, columns, "excel-de")
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert all(name.startswith("ID_WEB_Temperatur_") for name in rows[0][1:])
    for sample, row in zip(samples, rows[1:], strict=True):
        local = datetime.fromtimestamp(sample.timestamp_ms // 1000, tz=BERLIN)
        assert row[0] == local.strftime("%Y-%m-%d %H:%M:%S")
        expected = catalogue.values(sample.calculations, sample.parameters)
        for name, cell in zip(rows[0][1:], row[1:], strict=True):
            value = expected[name]
            assert (float(cell.replace(",", ".")) if cell else None) == value


def test_shorter_vectors_leave_empty_cells_and_longer_ones_raise():
    columns = Columns.build(200, 1086, SensorFilter(include=("ID_WEB_Temperatur_TVL", "calc_150")))
    short = Sample(ms(2025, 1, 1), HOST, CAPTURE.calculations[:100], CAPTURE.parameters)
    full = sample_with(ms(2025, 1, 1, 0, 1), {150: 7})
    lines = text_of([full, short, full], columns, zone=ZoneInfo("UTC")).split(b"\r\n")
    assert lines[0] == b"timestamp,ID_WEB_Temperatur_TVL,ID_WEB_WebsrvProgrammWerteBeobarten"
    assert lines[1].endswith(b",34.2,7")
    assert lines[2] == b"2025-01-01T00:00:00+00:00,34.2,"
    assert lines[3].endswith(b",34.2,7")
    wide = Sample(ms(2025, 1, 1), HOST, (*CAPTURE.calculations, 1, 2), CAPTURE.parameters)
    with pytest.raises(ShapeGrew) as grew:
        text_of([full, wide], columns)
    assert (grew.value.n_calc, grew.value.n_param) == (202, 1086)


def test_no_columns_left_gives_timestamps_only():
    columns = Columns.build(200, 1086, SensorFilter(include=("nothing-like-this",)))
    data = text_of([sample_with(ms(2025, 1, 1), {})], columns, zone=ZoneInfo("UTC"))
    assert data == b"timestamp\r\n2025-01-01T00:00:00+00:00\r\n"


def test_sensor_filter_globs_aliases_and_exclusions():
    tvl = catalogue.sensor("calc", 10)
    tbw = catalogue.sensor("calc", 17)
    starts = catalogue.sensor("calc", 57)
    assert tvl is not None and tbw is not None and starts is not None
    everything = SensorFilter()
    assert everything.selects(tvl) and everything.selects(starts)
    temps = SensorFilter(include=("ID_WEB_TEMPERATUR_*",), exclude=("*_tbw", "calc_99"))
    assert temps.selects(tvl) and not temps.selects(tbw) and not temps.selects(starts)
    assert SensorFilter(include=("calc_57",)).selects(starts)
    assert SensorFilter(exclude=("calc_1?",)).selects(tvl) is False
    assert temps.unused([tvl, tbw]) == ["calc_99"]


def test_unnamed_registers_are_left_out_by_default_and_star_brings_them_back():
    named = [s for s in catalogue.sensors(275, 1152) if s.numeric]
    default = Columns.build(275, 1152, SensorFilter())
    assert "Unknown_Calculation_0" not in default.names  # luxtronik's placeholder
    assert not any(name.startswith("Unknown_") for name in default.names)
    assert "ID_Einst_SmartGrid" in default.names  # a name without a type is still a name
    assert {"HEAT_ENERGY_INPUT", "DHW_ENERGY_INPUT", "CURRENT_POWER_CONSUMPTION"} <= set(
        default.names
    )
    everything = Columns.build(275, 1152, SensorFilter(include=("*",)))
    assert everything.names == [s.name for s in named]
    assert "Unknown_Parameter_1140" in everything.names
    # An explicit pattern selects an unnamed register as well.
    assert Columns.build(275, 1152, SensorFilter(include=("calc_0",))).names == [
        "Unknown_Calculation_0"
    ]


def test_luxtronik_names_are_aliases_and_one_register_has_one_scale():
    energy = catalogue.sensor("param", 1136)
    assert energy is not None and energy.name == "HEAT_ENERGY_INPUT"
    for pattern in ("Unknown_Parameter_1136", "param_1136", "heat_energy_input", "*_1136"):
        selection = SensorFilter(include=(pattern,))
        assert selection.selects(energy), pattern
        assert selection.unused([energy]) == []
    assert SensorFilter(include=("Unknown_Parameter_9999",)).unused([energy]) == [
        "Unknown_Parameter_9999"
    ]
    params = [0] * 1138
    params[1136] = 543197
    sample = Sample(ms(2025, 1, 1), HOST, tuple(CAPTURE.calculations), tuple(params))
    columns = Columns.build(len(sample.calculations), 1138, SensorFilter(include=("param_1136",)))
    lines = text_of([sample], columns, zone=ZoneInfo("UTC")).split(b"\r\n")
    # The statistics read the same register in kWh: so does the CSV.
    assert lines[0] == b"timestamp,HEAT_ENERGY_INPUT"
    assert lines[1] == b"2025-01-01T00:00:00+00:00,5431.97"


def test_format_value():
    assert format_value(None) == ""
    assert format_value(0.1 + 0.2) == "0.30000000000000004"  # repr is exact, never rounded
    assert format_value(449 / 10) == "44.9"
    assert format_value(-5 / 10, ",") == "-0,5"
    assert format_value(7) == "7"


# -- atomic writes -------------------------------------------------------------------------


def test_atomic_file_replaces_only_on_commit(tmp_path: Path):
    target = tmp_path / "x.csv"
    target.write_bytes(b"old")
    handle = AtomicFile(target)
    handle.write(b"new, ")
    handle.write(b"complete")
    assert target.read_bytes() == b"old"
    assert temp_path(target).read_bytes() == b"new, complete"
    handle.commit()
    assert target.read_bytes() == b"new, complete"
    assert not temp_path(target).exists()
    aborted = AtomicFile(target)
    aborted.write(b"half")
    aborted.abort()
    aborted.abort()  # idempotent
    assert target.read_bytes() == b"new, complete"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.csv"]


def test_write_all_keeps_going_when_one_target_fails(tmp_path: Path, monkeypatch):
    good = tmp_path / "good"
    full = tmp_path / "full"
    good.mkdir()
    full.mkdir()
    missing = tmp_path / "unmounted" / "share"
    real_write = AtomicFile.write

    def write(self: AtomicFile, data: bytes) -> None:
        if self.target.parent == full:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(self, data)

    monkeypatch.setattr(AtomicFile, "write", write)
    chunks = [b"a,b\r\n", b"1,2\r\n"]
    failed = write_all([good / "f.csv", full / "f.csv", missing / "f.csv"], chunks)
    assert set(failed) == {full / "f.csv", missing / "f.csv"}
    assert failed[full / "f.csv"].errno == errno.ENOSPC
    assert (good / "f.csv").read_bytes() == b"a,b\r\n1,2\r\n"
    assert list(full.iterdir()) == []  # the temp file was removed


def test_write_all_stops_producing_when_every_target_failed(tmp_path: Path):
    produced = []

    def chunks():
        for i in range(5):
            produced.append(i)
            yield b"x"

    failed = write_all([tmp_path / "missing" / "f.csv"], chunks())
    assert list(failed) == [tmp_path / "missing" / "f.csv"]
    assert produced == []


def test_write_all_error_in_the_content_leaves_old_files_and_no_temp(tmp_path: Path):
    target = tmp_path / "f.csv"
    target.write_bytes(b"old")

    def chunks():
        yield b"partial"
        raise RuntimeError("cache went away")

    with pytest.raises(RuntimeError):
        write_all([target], chunks())
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.csv"]


def test_commit_failure_is_reported_per_target(tmp_path: Path, monkeypatch):
    def broken_replace(self: Path, target: Path) -> Path:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(Path, "replace", broken_replace)
    failed = write_all([tmp_path / "f.csv"], [b"x"])
    assert failed[tmp_path / "f.csv"].errno == errno.EROFS
    assert list(tmp_path.iterdir()) == []


def test_directory_fsync_failure_is_tolerated(tmp_path: Path, monkeypatch):
    real_fsync = outputs.os.fsync

    def fsync(fd: int) -> None:
        if Path(f"/proc/self/fd/{fd}").resolve() == tmp_path.resolve():
            raise OSError(errno.EINVAL, "Invalid argument")  # some NAS file systems
        real_fsync(fd)

    monkeypatch.setattr(outputs.os, "fsync", fsync)
    assert write_all([tmp_path / "f.csv"], [b"x"]) == {}
    assert (tmp_path / "f.csv").read_bytes() == b"x"
