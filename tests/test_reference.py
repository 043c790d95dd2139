"""`luxlog import --from-reference`: the reference logger's history, back to raw integers.

The reference caches are built from the real captures with luxtronik 0.3.14's own
decoding (tests/reference_db.py), animated by the simulator's model so that values
change from row to row as on a real heat pump.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import reference_db
from helpers import settings_in
from typer.testing import CliRunner

from luxlog import reference
from luxlog.cache import Cache
from luxlog.cli import app
from luxlog.heatpump.catalogue import NOT_AVAILABLE
from luxlog.simulator import HeatPumpModel, load_capture

START = 1_735_689_600.0  # 2025-01-01T00:00:00Z, seconds (the reference stores REAL seconds)
CAPTURES = ("coolchip-2017-V1.80-L1A", "bouni-2016-V3.78-MSW6")


def polls(capture: str, count: int, *, every: float = 30.0) -> list[tuple[float, tuple, tuple]]:
    """(timestamp s, calculations, parameters) of ``count`` polls of a real capture."""
    model = HeatPumpModel(load_capture(capture), seed=7, start_ms=int(START * 1000))
    out = []
    for i in range(count):
        at = START + i * every + (i % 7) * 0.0137  # sub-second jitter, as datetime.now()
        calcs, params = model.read(round(at * 1000))
        out.append((at, calcs, params))
    return out


def build(path: Path, rows: list[tuple[float, tuple, tuple]]) -> None:
    reference_db.write(path, ((at, reference_db.row_json(c, p)) for at, c, p in rows))


def cached(settings) -> list:
    with Cache.open(settings.cache_path, readonly=True) as cache:
        return list(cache.query(0, 2**62))


@pytest.mark.parametrize("capture", CAPTURES)
def test_every_numeric_register_comes_back_as_the_raw_integer(tmp_path, capture):
    rows = polls(capture, 40)
    source = tmp_path / "cache.db"
    build(source, rows)
    settings = settings_in(tmp_path, host="192.0.2.7")
    seen: list[tuple[int, int]] = []
    result = reference.import_reference(
        settings, source, progress=lambda done, total: seen.append((done, total))
    )
    assert (result.rows, result.added, result.duplicates, result.broken) == (40, 40, 0, 0)
    assert seen[-1] == (40, 40)
    samples = cached(settings)
    assert [s.timestamp_ms for s in samples] == [round(at * 1000) for at, _, _ in rows]
    assert {s.host for s in samples} == {"192.0.2.7:8889"}
    changed = 0
    for (_, calcs, params), sample, previous in zip(rows, samples, [None, *rows], strict=False):
        assert len(sample.calculations) == len(calcs) and len(sample.parameters) == len(params)
        decoded = reference_db.decoded(calcs, params)
        for section, raw, got in (
            ("calculations", calcs, sample.calculations),
            ("parameters", params, sample.parameters),
        ):
            table = (
                reference_db.CALCULATIONS if section == "calculations" else reference_db.PARAMETERS
            )
            for index, value in enumerate(raw):
                definition = table.get(index)
                name = (
                    definition.name
                    if definition is not None and not definition.name.startswith("Unknown")
                    else str(index)
                )
                key = f"{section}.{name}"
                stored = decoded.get(key)
                if isinstance(stored, bool | int | float) and decoded.get(key) is not None:
                    assert got[index] == value, (key, index, stored)  # every numeric register
                elif got[index] != value:
                    # Not guessed: stored as missing, and named in the summary.
                    assert got[index] == NOT_AVAILABLE, (key, got[index])
                    assert key in result.unconvertible or index in range(82, 91), key
        if previous is not None and previous[1] != calcs:
            changed += 1
    assert changed > 20  # the rows really differ: the change tracking was exercised
    assert result.unconvertible["calculations.ID_WEB_SoftStand"] == 40
    assert result.reasons["calculations.ID_WEB_AdresseIP_akt"] == "text"
    text = "\n".join(result.summary())
    assert "calculations.ID_WEB_SoftStand (text, 40 row(s))" in text


def test_a_second_import_adds_nothing_even_without_its_bookmark(tmp_path):
    source = tmp_path / "cache.db"
    build(source, polls(CAPTURES[0], 30))
    settings = settings_in(tmp_path)
    first = reference.import_reference(settings, source)
    assert first.added == 30
    again = reference.import_reference(settings, source)
    assert (again.rows, again.added, again.earlier) == (0, 0, 30)
    # The same file under another name has no bookmark: read again, nothing doubled.
    copy = tmp_path / "copy.db"
    copy.write_bytes(source.read_bytes())
    third = reference.import_reference(settings, copy)
    assert (third.rows, third.added, third.duplicates) == (30, 0, 30)
    samples = cached(settings)
    assert len(samples) == 30 and {s.host for s in samples} == {reference.DEFAULT_HOST}
    # Rows the reference logger wrote after the import come in with the next run.
    build(source, polls(CAPTURES[0], 33)[30:])
    later = reference.import_reference(settings, source)
    assert (later.rows, later.added, later.earlier) == (3, 3, 30)


def test_broken_rows_are_skipped_and_counted_and_odd_keys_handled(tmp_path):
    rows = polls(CAPTURES[0], 6)
    source = tmp_path / "cache.db"
    build(source, rows)
    _, calcs, params = rows[0]
    quirky = reference_db.decoded(calcs, params)
    # Some versions of the reference logger: visibilities, and unknown registers keyed
    # `calculations.calculations.<i>`.
    quirky["calculations.calculations.0"] = quirky.pop("calculations.0")
    quirky["visibilities.ID_Visi_NieAnzeigen"] = False
    quirky["parameters.Nonsense"] = 3
    connection = reference_db.create(source)
    with connection:
        connection.executemany(
            "INSERT INTO sensor_data VALUES (?, ?)",
            [
                (START + 1000, "{not json"),
                (START + 1030, "[1, 2]"),
                (START + 1060, "{}"),
                (START + 1090, json.dumps(quirky, default=str)),
                (START + 1120, '{"calculations.ID_WEB_Temperatur_TVL": oops, "parameters.X": 1}'),
                # Another writer's layout (no spaces): parsed whole, same values.
                (START + 1150, json.dumps(quirky, default=str, separators=(",", ":"))),
                (START + 1180, json.dumps(quirky, default=str).encode()),  # stored as a BLOB
                ("yesterday", json.dumps(quirky, default=str)),  # text in the REAL column
                (START + 1210, 42),
            ],
        )
    connection.close()
    settings = settings_in(tmp_path)
    result = reference.import_reference(settings, source)
    assert (result.rows, result.added, result.broken) == (15, 9, 6)
    assert result.first_broken == [START + t for t in (1000, 1030, 1060, 1120, 1210)]
    assert result.not_stored == {"visibilities.ID_Visi_NieAnzeigen": 3, "parameters.Nonsense": 3}
    quirk, compact, blob = cached(settings)[-3:]
    assert blob.calculations == quirk.calculations and blob.parameters == params
    assert quirk.timestamp_ms == round((START + 1090) * 1000)
    assert compact.timestamp_ms == round((START + 1150) * 1000)
    assert quirk.calculations[0] == calcs[0] and quirk.parameters == params
    assert compact.calculations == quirk.calculations and compact.parameters == params
    text = "\n".join(result.summary())
    assert "6 broken row(s) skipped" in text and "visibilities.ID_Visi_NieAnzeigen" in text


def test_to_raw_inverts_luxtronik_exactly_or_refuses():
    from luxtronik.datatypes import Bool, Celsius, HeatingMode, Pressure, Timestamp, Unknown

    pressure = Pressure("p")
    assert pressure.to_heatpump(-20.4) == -2039  # luxtronik's own inverse truncates
    assert reference.to_raw(pressure, -20.4) == -2040
    assert reference.to_raw(Celsius("t"), 21.3) == 213
    assert reference.to_raw(Bool("b"), True) == 1
    assert reference.to_raw(Unknown("u"), -7) == -7
    assert reference.to_raw(HeatingMode("m"), "Party") == 2
    for definition, value, reason in (
        (Unknown("u"), 1.5, "not a Unknown value"),
        (Celsius("t"), True, "true/false for a number"),
        (Celsius("t"), float("inf"), "float"),
        (HeatingMode("m"), 2, "number for a selection"),
        (HeatingMode("m"), "Sauna", "text"),
        (Timestamp("s"), 1_700_000_000, "no inverse for Timestamp"),
        (Unknown("u"), 2**31, "not a Unknown value"),
        (Unknown("u"), [1], "list"),
    ):
        with pytest.raises(ValueError, match=reason):
            reference.to_raw(definition, value)


def test_cli_imports_and_reports_bad_sources_in_one_line(tmp_path):
    source = tmp_path / "cache.db"
    build(source, polls(CAPTURES[0], 5))
    runner = CliRunner()
    data = str(tmp_path / "data")
    result = runner.invoke(app, ["--data-dir", data, "import", "--from-reference", str(source)])
    assert result.exit_code == 0, result.output
    assert "5 row(s) read, 5 sample(s) added" in result.output
    assert "stored as missing: calculations.ID_WEB_Add_Broadcast (text, 5 row(s))," in result.output
    assert "calculations.ID_WEB_AdresseIP_akt (text, 5 row(s))" in result.output

    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    missing = tmp_path / "missing.db"
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database, but long enough to look like one" * 100)
    for path, message in (
        (other, "is not the reference logger's cache (it has no table sensor_data)"),
        (missing, "does not exist"),
        (garbage, "cannot be read: file is not a database"),
    ):
        result = runner.invoke(app, ["--data-dir", data, "import", "--from-reference", str(path)])
        assert result.exit_code == 7, result.output
        assert message in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["import", "--help"])
    assert result.exit_code == 0 and "--from-reference" in result.output


CHILD = """
import os, signal, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from helpers import settings_in
from luxlog import reference
# Small transactions, so the kill lands after some commits and amid the next batch.
reference.PAGE_ROWS = 5
reference.BATCH_SAMPLES = reference._BATCH_HARD_LIMIT = 10

def progress(done, total):
    if done >= 25:
        os.kill(os.getpid(), signal.SIGKILL)

reference.import_reference(settings_in(Path({root!r})), Path({source!r}), progress=progress)
"""


def test_a_sigkilled_import_rerun_holds_every_row_once(tmp_path):
    rows = polls(CAPTURES[1], 40)
    source = tmp_path / "cache.db"
    build(source, rows)
    tests = str(Path(__file__).parent)
    script = CHILD.format(tests=tests, root=str(tmp_path), source=str(source))
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=9)
    assert child.returncode == -signal.SIGKILL, child.stderr
    settings = settings_in(tmp_path)
    partial = cached(settings)
    assert 0 < len(partial) < 40  # killed mid-way: some batches committed, not all
    result = reference.import_reference(settings, source)
    assert result.earlier == len(partial) and result.added == 40 - len(partial)
    stamps = [s.timestamp_ms for s in cached(settings)]
    assert stamps == sorted(set(stamps)) == [round(at * 1000) for at, _, _ in rows]
    assert os.path.exists(settings.cache_path)


def test_change_tracking_gives_what_a_fresh_decode_of_each_row_gives():
    """Rows decoded in a stream (only changed parts and values converted) equal each row
    decoded on its own: settings changing and back, a code luxtronik does not know, a
    register appearing, the controller's layout without spaces."""
    from dumps import vectors

    calcs, params = (list(v) for v in vectors(CAPTURES[0]))
    texts = []
    for step in range(8):
        c, p = list(calcs), list(params)
        if step in (2, 3):
            p[2] += 10  # hot water setpoint changed, then back
        if step == 3:
            c[80] = 99  # operating mode luxtronik has no label for: null
        if step >= 5:
            c.append(7)  # a newer firmware sends one more calculation
        c[10] += step  # flow temperature moves every poll
        row = reference_db.decoded(c, p)
        if step >= 5:  # a key appears: a new shape, while the parameters' text stays
            row = {"calculations.300": 5, **row}
        separators = (",", ":") if step == 6 else (", ", ": ")
        texts.append(json.dumps(row, default=str, separators=separators))
    streamed = reference._Decoder(reference.ImportResult(Path("x")))
    for text in texts:
        alone = reference._Decoder(reference.ImportResult(Path("y"))).row(text)
        assert streamed.row(text) == alone
    assert alone[0][10] == calcs[10] + 7 and len(alone[0]) == 301 and alone[0][300] == 5
    assert alone[0][len(calcs)] == 7 and alone[1] == tuple(params)
    assert reference._Decoder(reference.ImportResult(Path("z"))).row(texts[3])[0][80] == (
        NOT_AVAILABLE
    )
