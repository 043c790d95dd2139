"""The command line: exit codes, messages, help, and what the poll path imports."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import typer
from typer.testing import CliRunner

from luxlog.cli import app
from luxlog.simulator import Simulator

runner = CliRunner()


def invoke(*args, env=None):
    return runner.invoke(app, list(args), env=env)


def test_poll_is_quiet_on_success_and_spools_one_line(env, tmp_path):
    result = invoke("poll", env=env)
    assert result.exit_code == 0, result.output
    assert result.output == ""
    lines = (tmp_path / "data" / "spool" / "current.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["v"] == 1


def test_poll_print_json(env):
    result = invoke("poll", "--print", "--json", env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["firmware"] == "V1.80"
    assert isinstance(data["values"]["ID_WEB_Temperatur_TVL"], float)
    assert data["values"]["ID_WEB_Temperatur_TWE"] is None  # -500: sensor not fitted


def test_poll_print_table_plain_when_not_a_terminal(env):
    result = invoke("poll", "--print", env=env)
    assert result.exit_code == 0, result.output
    assert "ID_WEB_Temperatur_TVL" in result.stdout
    assert "\x1b[" not in result.stdout  # no colour codes in logs or pipes
    assert "no request" in result.stdout  # selection labels shown


def test_poll_host_flag_overrides_environment(env, pump):
    env = {**env, "LUXLOG_HOST": "192.0.2.1"}  # TEST-NET: never reached
    result = invoke("poll", "--host", "127.0.0.1", "--port", str(pump.port), env=env)
    assert result.exit_code == 0, result.output


def test_poll_unreachable_exits_4_and_logs_each_attempt(env):
    with Simulator(fault="refuse") as dead:
        env = {**env, "LUXLOG_PORT": str(dead.port), "LUXLOG_RETRIES": "1"}
        result = invoke("poll", env=env)
    assert result.exit_code == 4, result.output
    lines = result.stderr.strip().splitlines()
    assert "attempt 1/2" in lines[0] and "attempt 2/2" in lines[1]
    assert "ERROR poll: no valid answer" in lines[-1]
    assert lines[0][:4].isdigit() and lines[0][19] == "Z"  # UTC timestamp first


def test_poll_without_host_is_a_config_error(tmp_path):
    result = invoke("poll", env={"LUXLOG_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 3
    assert "host: not set" in result.stderr
    assert not (tmp_path / "spool").exists()


def test_invalid_config_lists_every_problem_and_writes_nothing(tmp_path):
    bad = tmp_path / "luxlog.yaml"
    bad.write_text("port: 99999\ninterval_sec: 1\nhots: x\n")
    result = invoke("--config", str(bad), "poll", env={"LUXLOG_DATA_DIR": str(tmp_path / "d")})
    assert result.exit_code == 3
    errors = [line for line in result.stderr.splitlines() if "invalid config" in line]
    assert len(errors) == 3
    assert not (tmp_path / "d").exists()


def test_unwritable_spool_exits_7(env, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the spool directory should be")
    result = invoke("poll", env={**env, "LUXLOG_SPOOL_DIR": str(blocker / "spool")})
    assert result.exit_code == 7, result.output
    assert "cannot open spool file" in result.stderr


def test_config_command_shows_sources(env):
    result = invoke("config", "--json", env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["port"] == int(env["LUXLOG_PORT"])
    table = invoke("config", env=env)
    assert "LUXLOG_PORT" in table.stdout and "default" in table.stdout


def test_sensors_before_and_after_a_poll(env):
    before = invoke("sensors", "--json", env=env)
    assert before.exit_code == 0, before.output
    listed = json.loads(before.stdout)
    assert len(listed) > 1300 and all(item["latest"] is None for item in listed)
    assert invoke("poll", env=env).exit_code == 0
    after = json.loads(invoke("sensors", "--json", env=env).stdout)
    by_name = {item["name"]: item for item in after}
    assert by_name["ID_WEB_Temperatur_TVL"]["unit"] == "°C"
    assert isinstance(by_name["ID_WEB_Temperatur_TVL"]["latest"], float)
    assert len(after) == 200 - 9 + 1086  # the capture's lengths, version characters folded
    table = invoke("sensors", env=env)
    assert "ID_WEB_Temperatur_TVL" in table.stdout


def test_sensors_reads_the_cache_when_the_spool_is_empty(env):
    assert invoke("poll", env=env).exit_code == 0
    assert invoke("flush", env=env).exit_code == 0
    after = json.loads(invoke("sensors", "--json", env=env).stdout)
    assert any(item["latest"] is not None for item in after)


def test_simulate_rejects_unknown_fault():
    result = invoke("simulate", "--fault", "explode")
    assert result.exit_code == 2
    assert "unknown fault" in result.output


def test_simulate_errors_are_usage_errors_without_traceback(pump):
    taken = invoke("simulate", "--port", str(pump.port))
    assert taken.exit_code == 2, taken.output
    assert f"cannot listen on 127.0.0.1:{pump.port}" in taken.output
    nope = invoke("simulate", "--capture", "nope")
    assert nope.exit_code == 2, nope.output
    assert "unknown capture 'nope'" in nope.output
    assert "Traceback" not in taken.output + nope.output


def test_version_prints_the_installed_version_and_exits_0_without_settings(monkeypatch):
    from importlib.metadata import version

    # Even an invalid setting must not stop it: it reads no configuration.
    monkeypatch.setenv("LUXLOG_INTERVAL_SEC", "abc")
    result = invoke("--version")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"luxlog {version('luxlog')}\n"


def test_every_command_has_help_with_an_example():
    command = typer.main.get_command(app)
    for name, sub in command.commands.items():  # type: ignore[attr-defined]
        assert sub.help and "Example:" in sub.help, f"{name} lacks help with an example"
        result = invoke(name, "--help")
        assert result.exit_code == 0 and "Example" in result.stdout


def test_unexpected_error_is_logged_with_traceback_and_exits_1(env, monkeypatch):
    import luxlog.poll

    def broken(*args, **kwargs):
        secret = "do-not-show"  # noqa: F841 - locals must never be printed
        raise RuntimeError("boom")

    monkeypatch.setattr(luxlog.poll, "poll", broken)
    result = invoke("poll", env=env)
    assert result.exit_code == 1
    assert "unexpected error" in result.stderr and "RuntimeError: boom" in result.stderr
    assert "do-not-show" not in result.stderr


def test_verbose_and_quiet(env, pump):
    verbose = invoke("-v", "poll", env=env)
    assert "DEBUG poll: spooled sample" in verbose.stderr
    with Simulator(fault="refuse") as dead:
        quiet = invoke("-q", "poll", env={**env, "LUXLOG_PORT": str(dead.port)})
    assert quiet.exit_code == 4
    assert "WARNING" not in quiet.stderr and "ERROR" in quiet.stderr


def test_demo_runs_the_whole_pipeline(tmp_path):
    # The library entry with "now" pinned one hour past a roll-up boundary and a poll per
    # 15 simulated minutes: one complete daily window in 26 h, so the test is short yet
    # sees every stage (poll, flush, roll-up, statistics, report, status).
    from datetime import timedelta

    from luxlog import config
    from luxlog.demo import run_demo
    from luxlog.windows import Schedule

    settings = config.load(None, environ={"LUXLOG_DATA_DIR": str(tmp_path)}, read_files=False)
    schedule = Schedule.create(settings.csv_time, settings.timezone)
    real_now = time.time_ns() // 1_000_000
    today = schedule.local_date(real_now)
    boundary = schedule.boundary_ms(today)
    if boundary + 3_600_000 > real_now:
        today -= timedelta(days=1)
        boundary = schedule.boundary_ms(today)
    window_ms = boundary - schedule.boundary_ms(today - timedelta(days=1))
    step_sec = 900
    folder = tmp_path / "demo"
    lines = run_demo(directory=folder, hours=26, now_ms=boundary + 3_600_000, step_sec=step_sec)
    out = "\n".join(lines) + "\n"
    polls = int(out.split("polled ")[1].split()[0])
    assert polls == 26 * 4 + 1, out
    assert f"flushed {polls} samples" in out
    dailies = sorted((folder / "csv").glob("*_daily.csv"))
    complete = [d for d in dailies if d.name == f"{today}_daily.csv"]  # [B(today-1), B(today))
    assert len(complete) == 1, dailies
    rows = complete[0].read_text().splitlines()
    assert rows[0].startswith("timestamp,") and len(rows) == 1 + window_ms // (step_sec * 1000)
    assert "compressor starts" in out and "kWh heat" in out
    reports = sorted((folder / "csv").glob("*_report.html"))
    assert reports and all(f"report:  {r}" in out for r in reports)
    assert "status --check: healthy" in out
    assert f"--data-dir {folder.resolve()} status\n" in out
    assert out.rstrip().endswith(
        f"--data-dir {folder.resolve()} serve  (then open http://127.0.0.1:8088/)"
    )


def test_demo_hours_option(tmp_path):
    result = invoke("demo", "--dir", str(tmp_path / "d"), "--hours", "2")
    assert result.exit_code == 0, result.output
    assert "over 2 h" in result.stdout


def test_demo_unwritable_directory_exits_7(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = invoke("demo", "--dir", str(blocker / "demo"))
    assert result.exit_code == 7
    assert "cannot create demo directory" in result.stderr


def test_poll_path_imports_nothing_heavy(env):
    code = (
        "import sys\n"
        "from luxlog.cli import app\n"
        "try:\n"
        "    app(['poll'], standalone_mode=False)\n"
        "finally:\n"
        "    heavy = ('rich', 'sqlite3', 'yaml', 'luxtronik')\n"
        "    print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "PATH": ""},
        capture_output=True,
        text=True,
        timeout=8,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_python_dash_m_works(env):
    done = subprocess.run(
        [sys.executable, "-m", "luxlog", "--help"], capture_output=True, text=True, timeout=8
    )
    assert done.returncode == 0 and "poll" in done.stdout


def test_version_is_the_installed_distributions():
    from importlib.metadata import version

    result = invoke("--version")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"luxlog {version('luxlog')}\n"


def test_config_names_the_file_and_absolute_paths(tmp_path):
    folder = tmp_path / "user"
    folder.mkdir()
    (folder / "luxlog.yaml").write_text("host: hp\n")
    result = invoke("-c", "user/luxlog.yaml", "config", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["data_dir"] == str(folder / "luxlog-data")
    table = invoke("-c", "user/luxlog.yaml", "config")
    assert str(folder / "luxlog.yaml") in table.stdout


def test_successful_runs_are_silent_under_cron_but_warnings_are_not(env, tmp_path):
    assert invoke("poll", env=env).exit_code == 0
    for args in (["flush"], ["rollup", "due"], ["prune"]):
        result = invoke(*args, env=env)  # stderr is no terminal here, as under cron
        assert (result.exit_code, result.output) == (0, ""), args
    loud = invoke("-v", "flush", env=env)
    assert "INFO flush: flushed 0 sample(s)" in loud.stderr
    bad = invoke("-c", str(tmp_path / "missing.yaml"), "flush", env=env)
    assert bad.exit_code == 3 and "ERROR" in bad.stderr


def test_a_person_at_a_terminal_sees_info():
    import logging

    from luxlog import logs

    logs.setup("x", interactive=True)
    assert logging.getLogger("luxlog").level == logging.INFO
    logs.setup("x", interactive=False)
    assert logging.getLogger("luxlog").level == logging.WARNING


def test_before_the_first_flush_stats_and_report_say_no_data_yet(tmp_path):
    env = {"LUXLOG_DATA_DIR": str(tmp_path / "data")}
    for args in (["stats"], ["stats", "--by", "season"], ["report"]):
        result = invoke(*args, env=env)
        assert result.exit_code == 0, result.output
        assert result.stdout == ""
        assert result.stderr.startswith("no data yet: the cache ")
        assert "luxlog flush" in result.stderr
    assert not (tmp_path / "data").exists()


def test_a_day_without_samples_gets_no_report(env, tmp_path):
    assert invoke("poll", env=env).exit_code == 0
    assert invoke("flush", env=env).exit_code == 0
    result = invoke("report", "--date", "2020-01-01", env=env)
    assert result.exit_code == 0, result.output
    assert result.stderr == "no samples on 2020-01-01: no report written\n"
    assert not list((tmp_path / "data").rglob("*_report.html"))


def test_check_only_commands_create_nothing(tmp_path):
    folder = tmp_path / "u"
    folder.mkdir()
    (folder / "luxlog.yaml").write_text(
        f"host: 192.0.2.5\noutput_dirs: [{tmp_path / 'nas' / 'heatpump'}]\n"
    )
    before = sorted(tmp_path.rglob("*"))
    for args in (
        ["config"],
        ["status"],
        ["status", "--json"],
        ["status", "--check"],
        ["prune", "--dry-run"],
        ["sensors"],
        ["crontab", "--check"],
        ["schedule", "--format", "systemd", "--check"],
        ["schedule", "--format", "cron", "--check"],
    ):
        result = invoke("-c", str(folder / "luxlog.yaml"), *args)
        assert result.exit_code in (0, 6), (args, result.output)
    assert sorted(tmp_path.rglob("*")) == before


def test_status_shows_local_time_beside_utc(env):
    assert invoke("poll", env=env).exit_code == 0
    result = invoke("status", env={**env, "LUXLOG_TIMEZONE": "Europe/Berlin"})
    assert result.exit_code == 0, result.output
    line = next(x for x in result.stdout.splitlines() if "last successful poll" in x)
    match = re.search(r"(\S+ \S+) (CET|CEST) \((\S+Z)\), ", line)
    assert match, line
    utc = datetime.fromisoformat(match[3])
    local = utc.astimezone(ZoneInfo("Europe/Berlin"))
    assert match[1] == local.strftime("%Y-%m-%d %H:%M:%S")


def test_demo_help_says_what_the_demo_simulates():
    from luxlog.demo import DEMO_HOURS

    assert DEMO_HOURS == 72
    assert "three simulated days" in " ".join(invoke("demo", "--help").stdout.split())
