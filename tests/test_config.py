"""Configuration: precedence, validation of every field, messages that name the source."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from luxlog.config import Settings, find_config_file, load, machine_timezone
from luxlog.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_any_source(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load(None, environ={"TZ": "Europe/Berlin"})
    assert settings.port == 8889
    assert settings.interval_sec == 30
    assert settings.timeout_sec == 60
    assert settings.retries == 3
    assert settings.csv_time == "07:00"
    assert settings.timezone == "Europe/Berlin"
    assert settings.csv_retention_days == 30
    assert settings.cache_retention_days == 365
    assert settings.disk_max_percent == 90
    data = Path.home() / ".local/share/luxlog"  # no file: the per-user data folder
    assert settings.data_dir == data
    assert settings.cache_path == data / "cache.sqlite3"
    assert settings.spool_dir == data / "spool"
    assert settings.output_dirs == (data / "csv",)
    assert settings.sources["port"] == "default"


def test_without_a_file_data_goes_to_the_xdg_data_folder(tmp_path):
    settings = load(None, environ={"XDG_DATA_HOME": str(tmp_path / "xdg")})
    assert settings.data_dir == tmp_path / "xdg" / "luxlog"
    assert settings.config_file is None
    # A relative XDG_DATA_HOME is invalid by the spec and ignored.
    relative = load(None, environ={"XDG_DATA_HOME": "rel", "HOME": str(tmp_path)})
    assert relative.data_dir == tmp_path / ".local/share/luxlog"


def test_user_data_dir_on_other_platforms(tmp_path):
    from luxlog.config import user_data_dir

    home = {"HOME": str(tmp_path)}
    assert user_data_dir(home, "darwin") == tmp_path / "Library/Application Support/luxlog"
    assert user_data_dir(home, "win32") == tmp_path / "AppData/Local/luxlog"
    local = {**home, "LOCALAPPDATA": str(tmp_path / "L")}
    assert user_data_dir(local, "win32") == tmp_path / "L" / "luxlog"


def test_data_never_depends_on_the_working_directory(tmp_path, monkeypatch):
    folder = tmp_path / "luxlog-user"
    folder.mkdir()
    cfg = write(folder / "luxlog.yaml", "host: hp\noutput_dirs: [csv, /mnt/nas/heatpump]\n")
    seen = set()
    for cwd in (tmp_path, folder, Path("/")):
        monkeypatch.chdir(cwd)
        settings = load(Path(os.path.relpath(cfg, cwd)), environ={})
        assert settings.config_file == cfg
        seen.add((settings.data_dir, settings.cache_path, settings.spool_dir))
        assert settings.output_dirs == (folder / "csv", Path("/mnt/nas/heatpump"))
    assert seen == {
        (folder / "luxlog-data", folder / "luxlog-data/cache.sqlite3", folder / "luxlog-data/spool")
    }
    # Implicitly found ./luxlog.yaml: the same folder, and the file is named absolutely.
    monkeypatch.chdir(folder)
    implicit = load(None, environ={})
    assert implicit.config_file == cfg and implicit.data_dir == folder / "luxlog-data"


def test_relative_paths_from_env_and_flags_become_absolute_once(tmp_path):
    settings = load(None, environ={"LUXLOG_DATA_DIR": "./data"})
    assert settings.data_dir == tmp_path / "data"
    assert settings.spool_dir == tmp_path / "data" / "spool"
    flagged = load(None, environ={}, overrides={"output_dirs": ("out",)})
    assert flagged.output_dirs == (tmp_path / "out",)


def test_precedence_defaults_file_env_flags(tmp_path):
    cfg = write(
        tmp_path / "luxlog.yaml", "host: from-file\nport: 1000\ninterval_sec: 60\nretries: 1\n"
    )
    env = {"LUXLOG_PORT": "2000", "LUXLOG_INTERVAL_SEC": "45"}
    settings = load(cfg, environ=env, overrides={"interval_sec": 15, "host": None})
    assert settings.host == "from-file"  # file beats default; a None flag is "not given"
    assert settings.retries == 1
    assert settings.port == 2000  # env beats file
    assert settings.interval_sec == 15  # flag beats env
    assert settings.sources == {
        **settings.sources,
        "host": str(cfg),
        "port": "LUXLOG_PORT",
        "interval_sec": "--interval-sec",
    }


def test_config_file_lookup_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert find_config_file(None, {}) is None
    write(tmp_path / "luxlog.yaml", "host: local\n")
    assert find_config_file(None, {}) == Path("luxlog.yaml")
    other = write(tmp_path / "other.yaml", "host: other\n")
    assert find_config_file(None, {"LUXLOG_CONFIG": str(other)}) == other
    assert load(None, environ={"LUXLOG_CONFIG": str(other)}).host == "other"
    explicit = write(tmp_path / "explicit.yaml", "host: explicit\n")
    assert load(explicit, environ={"LUXLOG_CONFIG": str(other)}).host == "explicit"
    assert load(None, environ={}).host == "local"


def test_paths_in_file_are_relative_to_the_file(tmp_path):
    folder = tmp_path / "etc"
    folder.mkdir()
    cfg = write(folder / "luxlog.yaml", "data_dir: data\noutput_dirs: [csv, /abs/csv]\n")
    settings = load(cfg, environ={})
    assert settings.data_dir == folder / "data"
    assert settings.cache_path == folder / "data" / "cache.sqlite3"
    assert settings.spool_dir == folder / "data" / "spool"
    assert settings.output_dirs == (folder / "csv", Path("/abs/csv"))


def test_env_lists_and_paths(tmp_path):
    settings = load(
        None,
        environ={
            "LUXLOG_OUTPUT_DIRS": "/a, /b,",
            "LUXLOG_DATA_DIR": "/data",
            "LUXLOG_CACHE_PATH": "/c/cache.db",
        },
    )
    assert settings.output_dirs == (Path("/a"), Path("/b"))
    assert settings.cache_path == Path("/c/cache.db")
    assert settings.spool_dir == Path("/data/spool")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("port", "0", "port: must be 1..65535"),
        ("port", "65536", "port: must be 1..65535"),
        ("port", "http", "port: must be a whole number"),
        ("interval_sec", "4", "interval_sec: must be 5..3600"),
        ("interval_sec", "3601", "interval_sec: must be 5..3600"),
        ("interval_sec", "abc", "interval_sec: must be a whole number"),
        ("timeout_sec", "0", "timeout_sec: must be 1..3600"),
        ("retries", "-1", "retries: must be 0..10"),
        ("csv_time", "7", "csv_time: must be a time of day HH:MM"),
        ("csv_time", "24:00", "csv_time: must be a time of day HH:MM"),
        ("csv_time", "07:60", "csv_time: must be a time of day HH:MM"),
        ("timezone", "Mars/Olympus", "timezone: unknown time zone"),
        # Files beside the zones that are not zones, and a path out of the zone folder.
        ("timezone", "zone.tab", "timezone: unknown time zone"),
        ("timezone", "Europe/../../../etc/passwd", "timezone: unknown time zone"),
        ("csv_retention_days", "-1", "csv_retention_days: must be 0..36500"),
        ("cache_retention_days", "36501", "cache_retention_days: must be 0..36500"),
        ("disk_max_percent", "100", "disk_max_percent: must be 1..99"),
        ("disk_max_percent", "0", "disk_max_percent: must be 1..99"),
        ("host", "http://x/y", "host: must be a host name or IP address"),
        ("output_dirs", ",", "output_dirs: must name at least one directory"),
        ("cache_path", " ", "cache_path: must be a file system path"),
        ("weekly_day", "someday", "weekly_day: must be a day of the week"),
        ("csv_profile", "excel-fr", "csv_profile: must be one of default, excel, excel-de"),
    ],
)
def test_each_invalid_value_names_field_value_and_source(field, value, message):
    var = "LUXLOG_" + field.upper()
    with pytest.raises(ConfigError) as caught:
        load(None, environ={var: value})
    assert len(caught.value.problems) == 1
    problem = caught.value.problems[0]
    assert problem.startswith(message), problem
    assert f"(got {value!r} from {var})" in problem


def test_rollup_settings_from_file_and_environment(tmp_path):
    defaults = load(None, environ={})
    assert (defaults.weekly_day, defaults.csv_profile) == ("monday", "default")
    assert (defaults.sensors_include, defaults.sensors_exclude) == ((), ())
    cfg = write(
        tmp_path / "luxlog.yaml",
        "weekly_day: Sun\ncsv_profile: Excel-DE\nsensors_include: [ID_WEB_Temperatur_*, calc_44]\n",
    )
    settings = load(cfg, environ={"LUXLOG_SENSORS_EXCLUDE": "*_TBW, param_*,"})
    assert (settings.weekly_day, settings.csv_profile) == ("sunday", "excel-de")
    assert settings.sensors_include == ("ID_WEB_Temperatur_*", "calc_44")
    assert settings.sensors_exclude == ("*_TBW", "param_*")
    assert settings.as_dict()["sensors_exclude"] == ["*_TBW", "param_*"]
    bad = write(tmp_path / "bad.yaml", "sensors_include: 5\nsensors_exclude: [1, 2]\n")
    with pytest.raises(ConfigError) as caught:
        load(bad, environ={})
    fields_named = [p.split(":")[0] for p in caught.value.problems]
    assert fields_named == ["sensors_include", "sensors_exclude"]


def test_every_problem_reported_at_once_with_file_and_did_you_mean(tmp_path):
    cfg = write(tmp_path / "bad.yaml", "hots: x\nport: true\ninterval_sec: 2\ncsv_time: 7h\n")
    with pytest.raises(ConfigError) as caught:
        load(cfg, environ={"LUXLOG_RETRIESS": "3", "LUXLOG_DISK_MAX_PERCENT": "150"})
    problems = caught.value.problems
    assert f"hots: unknown setting in {cfg} (did you mean 'host'?)" in problems
    assert (
        "LUXLOG_RETRIESS: unknown setting in the environment (did you mean 'LUXLOG_RETRIES'?)"
        in problems
    )
    assert f"port: must be a whole number (got True from {cfg})" in problems
    assert f"interval_sec: must be 5..3600 (got 2 from {cfg})" in problems
    assert any(p.startswith("csv_time:") and str(cfg) in p for p in problems)
    assert any(p.startswith("disk_max_percent: must be 1..99") for p in problems)
    assert len(problems) == 6


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("host: [unclosed\n", "not valid YAML"),
        ("- a\n- b\n", "must be a mapping"),
    ],
)
def test_broken_yaml_files(tmp_path, text, message):
    cfg = write(tmp_path / "luxlog.yaml", text)
    with pytest.raises(ConfigError) as caught:
        load(cfg, environ={})
    assert message in caught.value.problems[0]
    assert str(cfg) in caught.value.problems[0]


def test_missing_config_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load(tmp_path / "nope.yaml", environ={})
    assert "cannot read it" in caught.value.problems[0]


def test_empty_file_means_defaults(tmp_path):
    cfg = write(tmp_path / "luxlog.yaml", "# nothing\n")
    assert load(cfg, environ={"TZ": "UTC"}).port == 8889


def test_missing_output_dir_is_not_a_config_error(tmp_path):
    settings = load(None, environ={"LUXLOG_OUTPUT_DIRS": str(tmp_path / "not" / "mounted")})
    assert settings.output_dirs == (tmp_path / "not" / "mounted",)


def test_host_required_only_where_needed():
    settings = load(None, environ={})
    with pytest.raises(ConfigError, match="host: not set"):
        settings.require_host()
    load(None, environ={"LUXLOG_HOST": "10.0.0.5"}).require_host()


def test_checked_in_example_is_valid_and_lists_every_field():
    example = Path(__file__).parent.parent / "luxlog.yaml"
    settings = load(example, environ={})
    text = example.read_text(encoding="utf-8")
    for name in Settings().as_dict():
        assert f"{name}:" in text, f"luxlog.yaml does not document {name}"
    assert settings.port == 8889


def test_machine_timezone_sources(tmp_path):
    assert machine_timezone({"TZ": "Europe/Berlin"}) == "Europe/Berlin"
    assert machine_timezone({"TZ": ":UTC"}) == "UTC"
    assert isinstance(machine_timezone({}), str)


def test_an_unquoted_time_in_yaml_says_to_quote_it(tmp_path):
    cfg = write(tmp_path / "luxlog.yaml", "csv_time: 6:30\n")
    with pytest.raises(ConfigError) as caught:
        load(cfg, environ={})
    assert caught.value.problems == [
        'csv_time: must be a time of day HH:MM in quotes: write csv_time: "06:30" (unquoted, '
        f"YAML reads H:MM as a number) (got 390 from {cfg})"
    ]
    assert load(write(cfg, 'csv_time: "6:30"\n'), environ={}).csv_time == "06:30"
