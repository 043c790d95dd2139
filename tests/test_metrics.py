"""`luxlog metrics --textfile`: a node-exporter textfile from real spool and cache files."""

from __future__ import annotations

import os
from pathlib import Path

from helpers import settings_in
from typer.testing import CliRunner

from luxlog.cache import Cache
from luxlog.cli import app
from luxlog.metrics import escape_label, metric_name
from luxlog.sample import Sample
from luxlog.simulator import HeatPumpModel, load_capture
from luxlog.spool import Spool, encode_line

START = 1_767_225_600_000


def sample(at: int) -> Sample:
    model = HeatPumpModel(load_capture("coolchip-2017-V1.80-L1A"), seed=2, start_ms=START)
    calculations, parameters = model.read(at)
    return Sample(at, "192.0.2.1:8889", calculations, parameters)


def run(tmp_path: Path, *args: str, **env: str) -> tuple[int, str]:
    environ = {
        "LUXLOG_DATA_DIR": str(tmp_path / "data"),
        "LUXLOG_DEVICE": 'house "7"',
        "LUXLOG_SITE": "north",
        "LUXLOG_SENSORS_INCLUDE": "ID_WEB_Temperatur_TVL,ID_WEB_VD1out",
        **env,
    }
    result = CliRunner().invoke(app, ["metrics", *args], env=environ)
    return result.exit_code, result.output


def parse(text: str) -> dict[str, str]:
    """``name{labels}`` -> value, comments left out."""
    return dict(
        line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#")
    )


def test_latest_values_and_health_are_written_atomically(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    newest = sample(START + 60_000)
    with Cache.open(settings.cache_path) as cache:
        cache.add_many([sample(START)])
    spool = Spool(settings.spool_dir)
    settings.spool_dir.mkdir(parents=True)
    spool.current.write_bytes(encode_line(newest))
    (settings.spool_dir / "quarantine").mkdir()
    folder = tmp_path / "textfile"
    folder.mkdir()
    (folder / "other.prom").write_text("x 1\n")

    code, output = run(tmp_path, "--textfile", str(folder))
    assert code == 0, output
    assert sorted(os.listdir(folder)) == ["luxlog.prom", "other.prom"]  # no temp left
    text = (folder / "luxlog.prom").read_text()
    values = parse(text)
    labels = 'device="house \\"7\\"",site="north"'
    assert values[f"luxtronik_ID_WEB_Temperatur_TVL{{{labels}}}"] == repr(
        newest.calculations[10] / 10
    )
    assert values[f"luxtronik_ID_WEB_VD1out{{{labels}}}"] in ("0", "1")
    assert values[f"luxlog_last_success_timestamp_seconds{{{labels}}}"] == repr(
        newest.timestamp_ms / 1000
    )
    assert values[f"luxlog_spool_backlog_samples{{{labels}}}"] == "1"
    assert values[f"luxlog_quarantined_lines{{{labels}}}"] == "0"
    assert values[f"luxlog_failed_polls_24h{{{labels}}}"] == "0"
    assert f"luxlog_healthy{{{labels}}}" in values
    assert "# TYPE luxlog_spool_backlog_samples gauge" in text
    assert not any(name.startswith("luxlog_push") for name in values)


def test_push_backlog_appears_with_a_push_target(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    with Cache.open(settings.cache_path) as cache:
        cache.add_many([sample(START), sample(START + 30_000)])
    folder = tmp_path / "textfile"
    folder.mkdir()
    code, output = run(
        tmp_path, "--textfile", str(folder), LUXLOG_PUSH_URL="http://127.0.0.1:9/write"
    )
    assert code == 0, output
    values = parse((folder / "luxlog.prom").read_text())
    assert values['luxlog_push_backlog_samples{device="house \\"7\\"",site="north"}'] == "2"


def test_a_missing_folder_is_a_storage_error_and_nothing_else_is_needed(tmp_path: Path) -> None:
    code, output = run(tmp_path, "--textfile", str(tmp_path / "nope"))
    assert code == 7 and "not a directory" in output
    folder = tmp_path / "empty"
    folder.mkdir()
    code, output = run(tmp_path, "--textfile", str(folder))  # a new installation
    assert code == 0, output
    assert "luxlog_spool_backlog_samples" in (folder / "luxlog.prom").read_text()


def test_names_and_labels_follow_the_exposition_format() -> None:
    assert metric_name("ID_WEB_Temperatur_TVL") == "luxtronik_ID_WEB_Temperatur_TVL"
    assert metric_name("a-b.c") == "luxtronik_a_b_c"
    assert escape_label('a\\b"c\nd') == 'a\\\\b\\"c\\nd'
