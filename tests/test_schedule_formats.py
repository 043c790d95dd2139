"""The schedule on a plain Linux host: classic cron and systemd timers from the one job table.

The crontab is read back by croniter (not a hand parser), the units by systemd's own
``systemd-analyze``; the cron form of every job is run from ``/`` and from ``$HOME``.
"""

from __future__ import annotations

import itertools
import os
import re
import shlex
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from croniter import croniter
from typer.testing import CliRunner

from luxlog import config, schedule
from luxlog.cli import app
from luxlog.launcher import main

runner = CliRunner()
START = datetime(2026, 7, 15, 6, 0, tzinfo=UTC)
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")


def settings(tmp_path: Path, text: str = "host: 192.0.2.7\n", **environ: str) -> config.Settings:
    folder = tmp_path / "luxlog-user"
    folder.mkdir(exist_ok=True)
    (folder / "luxlog.yaml").write_text(text)
    return config.load(folder / "luxlog.yaml", environ={"TZ": "UTC", **environ})


def cron_lines(text: str) -> list[tuple[str, int, list[str]]]:
    """(5 fields, seconds slept, argv) per job line; asserts the shape cron needs."""
    result = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        words = line.split(None, 5)
        fields, command = " ".join(words[:5]), words[5]
        assert croniter.is_valid(fields), line  # five fields, as a classic crontab takes
        slept = 0
        match = re.fullmatch(r"sleep (\d+); (.*)", command)
        if match:
            slept, command = int(match[1]), match[2]
        result.append((fields, slept, shlex.split(command)))
    return result


def fire_times(text: str, command: str, hours: int = 3) -> list[datetime]:
    """When cron starts each line whose luxlog command is ``command``, plus its sleep."""
    times = []
    for fields, slept, argv in cron_lines(text):
        if argv[-len(command.split()) :] != command.split():
            continue
        it = croniter(fields, START - timedelta(seconds=1))
        while (when := it.get_next(datetime)) < START + timedelta(hours=hours):
            times.append(when + timedelta(seconds=slept))
    return sorted(times)


@pytest.mark.parametrize("interval", [5, 30, 45, 60, 90, 300, 3600])
def test_crontab_lines_are_five_fields_and_keep_the_poll_grid_exact(tmp_path, interval):
    text = schedule.render_cron(
        settings(tmp_path, f"host: h\ninterval_sec: {interval}\n"), executable=["/x/luxlog"]
    )
    polls = fire_times(text, "poll")
    assert len(polls) == 3 * 3600 // interval
    assert {(b - a).total_seconds() for a, b in itertools.pairwise(polls)} <= {interval}
    assert all(int(t.timestamp()) % interval == 0 for t in polls)


def test_thirty_second_polls_fire_at_00_and_30(tmp_path):
    text = schedule.render_cron(settings(tmp_path), executable=["/x/luxlog"])
    polls = fire_times(text, "poll", hours=1)
    assert len(polls) == 120 and {t.second for t in polls} == {0, 30}
    assert [line for line in text.splitlines() if line.endswith(" poll")] == [
        f"* * * * * /x/luxlog --config {tmp_path}/luxlog-user/luxlog.yaml poll",
        f"* * * * * sleep 30; /x/luxlog --config {tmp_path}/luxlog-user/luxlog.yaml poll",
    ]
    flushes = fire_times(text, "flush", hours=1)
    assert [t.strftime("%M:%S") for t in flushes[:2]] == ["01:10", "06:10"]
    prunes = fire_times(text, "prune", hours=24)
    assert [t.strftime("%H:%M:%S") for t in prunes] == ["03:17:10"]  # cron's local time


def test_every_format_has_the_same_jobs(tmp_path):
    values = settings(tmp_path, "host: h\ninterval_sec: 45\n")
    table = schedule.jobs(values)
    cron = cron_lines(schedule.render_cron(values, executable=["/x/luxlog"]))
    commands = {tuple(argv[argv.index("/x/luxlog") + 3 :]) for _, _, argv in cron}
    assert commands == {job.args for job in table}
    units = schedule.render_systemd(values, executable=["/x/luxlog"])
    timers = [unit.name for unit in units if unit.name.endswith(".timer")]
    assert timers == [f"luxlog-{name}.timer" for name in dict.fromkeys(j.name for j in table)]
    poll_timer = next(unit.text for unit in units if unit.name == "luxlog-poll.timer")
    assert re.findall(r"OnCalendar=(.*)", poll_timer) == [
        "*-*-* *:00/3:00,45 UTC",
        "*-*-* *:01/3:30 UTC",
        "*-*-* *:02/3:15 UTC",
    ]
    assert "Persistent=false" in poll_timer and "AccuracySec=1s" in poll_timer
    prune_timer = next(unit.text for unit in units if unit.name == "luxlog-prune.timer")
    assert "OnCalendar=*-*-* 03:17:10 UTC" in prune_timer and "Persistent=true" in prune_timer


def test_settings_from_the_environment_and_flags_travel_with_the_jobs(tmp_path):
    values = config.load(
        None,
        environ={"LUXLOG_HOST": "192.0.2.9", "LUXLOG_SENSORS_INCLUDE": "a*, b"},
        overrides={"data_dir": Path("rel")},
    )
    options, environ = schedule.host_arguments(values)
    assert options == ("--data-dir", str(tmp_path / "rel"))
    assert environ == {"LUXLOG_HOST": "192.0.2.9", "LUXLOG_SENSORS_INCLUDE": "a*,b"}
    text = schedule.render_cron(values, executable=["/x/luxlog"])
    assert "LUXLOG_HOST=192.0.2.9 LUXLOG_SENSORS_INCLUDE='a*,b' /x/luxlog --data-dir" in text
    service = schedule.render_systemd(values, executable=["/x/100%/luxlog"])[0].text
    assert 'Environment="LUXLOG_HOST=192.0.2.9"' not in service  # quoted only when needed
    assert "Environment=LUXLOG_HOST=192.0.2.9" in service
    assert "ExecStart=/x/100%%/luxlog --data-dir" in service  # % is a systemd specifier


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze not installed")
def test_rendered_units_pass_systemd_analyze_verify(tmp_path):
    folder = tmp_path / "units"
    folder.mkdir()
    values = settings(tmp_path, "host: h\ninterval_sec: 45\n", LUXLOG_TIMEZONE="Europe/Berlin")
    result = runner.invoke(
        app,
        ["-c", str(values.config_file), "schedule", "--format", "systemd", "--output", str(folder)],
    )
    assert result.exit_code == 0, result.output
    written = sorted(folder.iterdir())
    assert len(written) == 8 and result.stdout.split() == [
        str(p) for p in sorted(written, key=lambda p: result.stdout.index(p.name))
    ]
    checked = subprocess.run(
        [str(SYSTEMD_ANALYZE), "verify", "--man=no", *map(str, written)],
        capture_output=True,
        text=True,
        timeout=9,
    )
    # verify only warns about a bad OnCalendar= line: a clean stderr is the real test.
    assert (checked.returncode, checked.stderr) == (0, ""), checked.stderr
    calendars = re.findall(r"OnCalendar=(.*)", (folder / "luxlog-poll.timer").read_text())
    shown = subprocess.run(
        [str(SYSTEMD_ANALYZE), "calendar", "--iterations=4", *calendars],
        capture_output=True,
        text=True,
        timeout=9,
        env={**os.environ, "LC_ALL": "C"},
    )
    elapses = sorted(
        datetime.strptime(m, "%Y-%m-%d %H:%M:%S")
        for m in re.findall(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", shown.stdout)
    )
    assert len(elapses) >= 8, shown.stdout
    assert all(int(t.replace(tzinfo=UTC).timestamp()) % 45 == 0 for t in elapses)


def test_cron_jobs_find_one_data_folder_from_root_and_from_home(tmp_path, monkeypatch, pump):
    """The issue's Debian user: one config file, jobs started by cron in / and in $HOME."""
    folder = tmp_path / "luxlog-user"
    folder.mkdir()
    (folder / "luxlog.yaml").write_text(f"host: 127.0.0.1\nport: {pump.port}\ntimeout_sec: 5\n")
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.chdir(folder)  # the user renders it where the config is (found implicitly)
    result = runner.invoke(app, ["schedule", "--format", "cron"])
    assert result.exit_code == 0, result.output
    lines = cron_lines(result.stdout)
    commands = {tuple(argv) for _, _, argv in lines}
    assert len(commands) == 4  # poll, flush, rollup due, prune
    for argv in commands:
        assert Path(argv[0]).is_absolute() and os.access(argv[0], os.X_OK)
        assert argv[1:3] == ("--config", str(folder / "luxlog.yaml"))
    for cwd in (Path("/"), home):
        monkeypatch.chdir(cwd)
        monkeypatch.setenv("HOME", str(home))
        monkeypatch.delenv("XDG_DATA_HOME", raising=False)  # cron's environment has none
        for argv in sorted(commands, key=lambda a: a[-1] != "poll"):  # poll first
            with pytest.raises(SystemExit) as exited:
                main(list(argv[1:]))
            assert exited.value.code == 0, (cwd, argv)
    assert not (home / "luxlog-data").exists() and not Path("/luxlog-data").exists()
    assert not (home / ".local").exists()
    data = folder / "luxlog-data"
    assert (data / "cache.sqlite3").is_file()
    assert sorted(p.name for p in folder.iterdir()) == ["luxlog-data", "luxlog.yaml"]


def test_one_cron_line_runs_under_a_real_shell_from_root(tmp_path, pump):
    text = schedule.render_cron(settings(tmp_path, f"host: 127.0.0.1\nport: {pump.port}\n"))
    poll = next(line for line in text.splitlines() if line.endswith(" poll"))
    command = poll.split(None, 5)[5]
    assert not command.startswith("sleep")
    done = subprocess.run(
        ["/bin/sh", "-c", command],
        cwd="/",
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "SHELL": "/bin/sh"},
        capture_output=True,
        text=True,
        timeout=9,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")  # quiet under cron
    assert (tmp_path / "luxlog-user" / "luxlog-data" / "spool" / "current.jsonl").is_file()


def fake_tool(tmp_path: Path, name: str, script: str) -> Path:
    """A stand-in for crontab/systemctl on PATH that keeps what it was given in files."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    tool = bin_dir / name
    tool.write_text("#!/bin/sh\n" + script)
    tool.chmod(0o755)
    return bin_dir


def test_install_cron_replaces_its_block_and_keeps_other_lines(tmp_path, monkeypatch):
    store = tmp_path / "crontab.txt"
    store.write_text("MAILTO=me\n0 1 * * * backup\n")
    bin_dir = fake_tool(
        tmp_path,
        "crontab",
        f'if [ "$1" = -l ]; then cat {store}; else cat > {store}; fi\n',
    )
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    config_file = settings(tmp_path).config_file
    for _ in range(2):  # a second install replaces, never duplicates
        result = runner.invoke(
            app, ["-c", str(config_file), "schedule", "--format", "cron", "--install"]
        )
        assert result.exit_code == 0, result.output
    text = store.read_text()
    assert text.startswith("MAILTO=me\n0 1 * * * backup\n\n# >>> luxlog")
    assert text.count(schedule.BEGIN_MARK) == 1 and text.endswith(schedule.END_MARK + "\n")
    block = text[text.index(schedule.BEGIN_MARK) :]
    assert len(fire_times(block, "poll", hours=1)) == 120


def test_install_cron_without_cron_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(schedule.InstallError, match="apt-get install cron"):
        schedule.install_cron("x\n")
    bin_dir = fake_tool(tmp_path, "crontab", "exit 1\n")
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(schedule.InstallError, match="crontab - failed"):
        schedule.install_cron("x\n")


def test_install_systemd_user_units_and_start_the_timers(tmp_path, monkeypatch):
    calls = tmp_path / "calls.txt"
    bin_dir = fake_tool(tmp_path, "systemctl", f'echo "$@" >> {calls}\n')
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    config_file = settings(tmp_path).config_file
    result = runner.invoke(
        app, ["-c", str(config_file), "schedule", "--format", "systemd", "--install"]
    )
    assert result.exit_code == 0, result.output
    unit_dir = tmp_path / "cfg" / "systemd" / "user"
    assert len(list(unit_dir.glob("luxlog-*.timer"))) == 4
    assert "User=" not in (unit_dir / "luxlog-poll.service").read_text()
    assert calls.read_text().splitlines() == [
        "--user daemon-reload",
        "--user enable --now luxlog-poll.timer luxlog-flush.timer luxlog-rollup.timer "
        "luxlog-prune.timer",
    ]
    assert "loginctl enable-linger" in result.stderr
    failing = fake_tool(tmp_path, "systemctl", "echo 'Failed to connect to bus' >&2; exit 1\n")
    monkeypatch.setenv("PATH", f"{failing}:{os.environ['PATH']}")
    result = runner.invoke(
        app, ["-c", str(config_file), "schedule", "--format", "systemd", "--install"]
    )
    assert result.exit_code == 7, result.output
    assert "systemctl --user daemon-reload failed: Failed to connect to bus" in result.stderr


def test_system_units_run_as_the_user_who_renders_them(tmp_path):
    units = schedule.render_systemd(settings(tmp_path), executable=["/x"], user="pi")
    assert "User=pi" in units[0].text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "anacron"], "--format must be one of supercronic, cron, systemd"),
        (["--format", "cron", "--output", "x"], "--output is for --format systemd"),
        (["--format", "cron", "--system"], "--system is for --format systemd"),
        (["--format", "supercronic", "--install"], "--install works with"),
    ],
)
def test_schedule_usage_errors(args, message):
    result = runner.invoke(app, ["schedule", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_supercronic_format_is_luxlog_crontab():
    assert runner.invoke(app, ["schedule", "--format", "supercronic"]).stdout == (
        runner.invoke(app, ["crontab"]).stdout
    )
    printed = runner.invoke(app, ["schedule", "--format", "systemd"])
    assert printed.exit_code == 0 and "# ==> luxlog-prune.timer <==" in printed.stdout


def test_a_closed_pipe_ends_quietly(tmp_path):
    """`luxlog sensors | head -1`: exit 0, no BrokenPipeError traceback."""
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "luxlog", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "LUXLOG_HOST": "192.0.2.1"},
        )
        for args in (["sensors"], ["crontab"])
    ]
    for child in children:
        assert child.stdout is not None and child.stderr is not None
        child.stdout.readline()
        child.stdout.close()  # what `head -1` does after its line
        assert child.wait(timeout=9) == 0
        assert b"Traceback" not in child.stderr.read()
