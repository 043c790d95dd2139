"""The reference logger's bare variable names: settings in the container, ignored outside."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from luxlog import bareenv
from luxlog.cli import app
from luxlog.config import load
from luxlog.errors import ConfigError

# The reference logger's .env as its users have it (its documented names).
REFERENCE_ENV = {
    "HOST": "192.168.20.180",
    "PORT": "8888",
    "INTERVAL_SEC": "60",
    "CSV_TIME": "06:30",
    "CACHE_PATH": "/app/logs/cache.db",
    "OUTPUT_DIRS_DAILY": "/app/logs/daily",
    "OUTPUT_DIRS_WEEKLY": "/app/logs/weekly",
}
CONTAINER = {"LUXLOG_CONTAINER": "1", "LUXLOG_DATA_DIR": "/app/logs"}


def test_in_the_container_the_bare_names_become_settings():
    settings = load(None, environ={**CONTAINER, **REFERENCE_ENV}, read_files=False)
    assert settings.host == "192.168.20.180"
    assert settings.port == 8888
    assert settings.interval_sec == 60
    assert settings.csv_time == "06:30"
    # The reference cache stays the reference's: luxlog's own lives in the same folder.
    assert settings.cache_path == Path("/app/logs/luxlog-cache.sqlite3")
    assert settings.output_dirs == (Path("/app/logs/daily"), Path("/app/logs/weekly"))
    assert settings.sources["host"] == "HOST"
    assert settings.sources["output_dirs"] == "OUTPUT_DIRS_DAILY+OUTPUT_DIRS_WEEKLY"
    assert settings.sources["cache_path"] == "CACHE_PATH (its folder)"


def test_luxlog_variables_win_over_bare_names_and_flags_over_both(tmp_path):
    cfg = tmp_path / "luxlog.yaml"
    cfg.write_text("host: from-file\ninterval_sec: 120\n")
    environ = {
        **CONTAINER,
        "HOST": "bare-host",
        "LUXLOG_HOST": "prefixed-host",
        "INTERVAL_SEC": "15",
        "OUTPUT_DIRS": "/a,/b",
    }
    settings = load(cfg, environ=environ, overrides={"port": 9000})
    assert settings.host == "prefixed-host"
    assert settings.interval_sec == 15  # the bare name is an environment variable: beats YAML
    assert settings.output_dirs == (Path("/a"), Path("/b"))
    assert settings.port == 9000
    names = bareenv.resolve(environ)
    assert names.shadowed == ("HOST",)
    note = bareenv.describe(names)
    assert note is not None and "not HOST (the LUXLOG_ variable is set)" in note


def test_outside_the_container_the_bare_names_are_ignored():
    environ = {"HOST": "my-laptop", "PORT": "3000", "LUXLOG_HOST": "192.0.2.1"}
    settings = load(None, environ=environ, read_files=False)
    assert settings.host == "192.0.2.1"
    assert settings.port == 8889
    names = bareenv.resolve(environ)
    assert names.ignored == ("HOST", "PORT") and not names.values
    assert bareenv.describe(names) == (
        "ignored HOST, PORT from the environment: the reference logger's names count only "
        "in luxlog's container (here use LUXLOG_HOST, LUXLOG_PORT)"
    )
    assert bareenv.describe(bareenv.resolve({})) is None
    assert bareenv.describe(bareenv.resolve({"LUXLOG_CONTAINER": "1"})) is None


def test_a_bad_bare_value_is_reported_with_its_name():
    with pytest.raises(ConfigError) as caught:
        load(
            None,
            environ={**CONTAINER, "INTERVAL_SEC": "45", "PORT": "x", "OUTPUT_DIRS": " , "},
            read_files=False,
        )
    problems = caught.value.problems
    assert "port: must be a whole number (got 'x' from PORT)" in problems
    assert any(p.startswith("output_dirs: must name at least one directory") for p in problems)


def test_luxlog_config_says_which_bare_names_were_used_or_ignored(monkeypatch):
    runner = CliRunner()
    for name, value in {**CONTAINER, **REFERENCE_ENV}.items():
        monkeypatch.setenv(name, value)
    result = runner.invoke(app, ["config"])
    assert result.exit_code == 0, result.output
    assert "host\t192.168.20.180\tHOST" in result.output
    lines = [line for line in result.output.splitlines() if "reference logger" in line]
    assert len(lines) == 1 and " WARNING config: " in lines[0], result.output
    assert "HOST as host" in lines[0] and "OUTPUT_DIRS_WEEKLY as output_dirs" in lines[0]

    monkeypatch.delenv("LUXLOG_CONTAINER")
    result = runner.invoke(app, ["config"])
    assert result.exit_code == 0, result.output
    assert "host\t\tdefault" in result.output  # the shell's HOST is not the heat pump
    lines = [line for line in result.output.splitlines() if " WARNING config: " in line]
    assert len(lines) == 1 and "ignored HOST, PORT, INTERVAL_SEC," in lines[0], result.output
