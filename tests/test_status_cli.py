"""`luxlog status`: the overview, --json, --check exit codes, and what people see."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from luxlog import disk, render
from luxlog.cli import app
from luxlog.disk import Usage
from luxlog.simulator import Simulator

runner = CliRunner()


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def invoke(*args: str, env: dict[str, str]):
    return runner.invoke(app, list(args), env=env)


def test_new_installation_is_described_plainly_and_nothing_is_created(tmp_path):
    env = {"LUXLOG_DATA_DIR": str(tmp_path / "data")}
    result = invoke("status", env=env)
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "new installation: nothing polled or cached yet" in text
    assert "no cache yet (run `luxlog flush`)" in text
    assert "no roll-ups yet" in text
    assert "last successful poll  none yet" in text
    assert "not configured (set host)" in text
    assert "\x1b[" not in text  # plain under cron and pipes
    assert list(tmp_path.iterdir()) == []


def test_check_on_a_new_installation_is_unhealthy_with_the_reason(tmp_path):
    env = {"LUXLOG_DATA_DIR": str(tmp_path / "data")}
    result = invoke("status", "--check", env=env)
    assert result.exit_code == 6, result.output
    assert result.stdout == (
        "unhealthy: no successful poll yet: neither the spool nor the cache holds a sample\n"
    )
    assert "ERROR status: 1 health problem(s)" in result.stderr


def test_after_polls_and_a_flush_it_is_healthy(env):
    for _ in range(2):
        assert invoke("poll", env=env).exit_code == 0
    assert invoke("flush", env=env).exit_code == 0
    assert invoke("poll", env=env).exit_code == 0
    result = invoke("status", "--check", env=env)
    assert result.exit_code == 0, result.output
    assert result.stdout == "healthy\n"
    overview = invoke("status", env=env)
    assert overview.exit_code == 0, overview.output
    for expected in ("heat pump", "firmware              V1.80", "pending samples    1"):
        assert expected in overview.stdout
    assert "samples            2" in overview.stdout
    assert "integrity (quick)  ok" in overview.stdout


def test_json_is_the_documented_shape(env):
    assert invoke("poll", env=env).exit_code == 0
    result = invoke("status", "--json", env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["version"] == 1 and data["healthy"] is True
    assert data["heatpump"]["address"] == f"127.0.0.1:{env['LUXLOG_PORT']}"
    assert data["spool"]["pending_samples"] == 1
    assert data["cache"]["exists"] is False
    assert data["heatpump"]["stale_after_sec"] == 15


def test_json_with_check_prints_json_and_exits_6(tmp_path):
    env = {"LUXLOG_DATA_DIR": str(tmp_path / "data")}
    result = invoke("status", "--json", "--check", env=env)
    assert result.exit_code == 6, result.output
    assert json.loads(result.stdout)["reasons"] == [
        "no successful poll yet: neither the spool nor the cache holds a sample"
    ]


def test_full_disk_makes_check_fail_with_the_volume_named(env, tmp_path, monkeypatch):
    assert invoke("poll", env=env).exit_code == 0

    def nearly_full(path: Path) -> Usage:
        return Usage("/srv/luxlog", 1000, 950, 50)

    monkeypatch.setattr(disk, "disk_usage", nearly_full)
    result = invoke("status", "--check", env=env)
    assert result.exit_code == 6, result.output
    (line,) = result.stdout.splitlines()
    assert line.startswith("unhealthy: disk /srv/luxlog is 95% full (threshold 90%); it holds")
    overview = invoke("status", env=env)
    assert "95.0% of 1.0 kB used (threshold 90%, OVER); spool, cache, csv" in overview.stdout


def test_failed_polls_show_in_the_overview(env):
    with Simulator(fault="refuse") as dead:
        failing = {**env, "LUXLOG_PORT": str(dead.port)}
        assert invoke("poll", env=failing).exit_code == 4
    data = json.loads(invoke("status", "--json", env=env).stdout)
    assert data["heatpump"]["failed_polls_24h"] == 1
    assert "no valid answer" in data["heatpump"]["last_failure"]["error"]
    overview = invoke("status", env=env).stdout
    assert "failed polls (24 h)   1" in overview


def test_rich_overview_on_a_terminal(env):
    assert invoke("poll", env=env).exit_code == 0
    data = json.loads(invoke("status", "--json", env=env).stdout)
    out = Terminal()
    render.status(data, stream=out)
    text = out.getvalue()
    for title in ("heat pump", "spool", "cache", "roll-ups", "disks", "health"):
        assert title in text
    assert "healthy" in text and "\t" not in text


def test_overview_of_written_and_failed_rollups():
    data = {
        "healthy": False,
        "empty": False,
        "reasons": ["roll-up 2026-02-02_weekly.csv failed at ...: boom"],
        "heatpump": {
            "address": "h:1",
            "last_poll": "2026-02-04T11:59:30.000Z",
            "last_poll_age_sec": 30.0,
            "failed_polls_24h": 0,
            "last_failure": None,
            "longest_gap_24h": {"seconds": 7200.0, "start": "a", "end": "b"},
            "firmware": None,
        },
        "spool": {
            "path": "s",
            "pending_samples": 5,
            "pending_exact": False,
            "bytes": 12_000,
            "segments": 2,
            "oldest_pending": None,
            "oldest_pending_age_sec": None,
            "quarantined_lines": 0,
        },
        "cache": {
            "path": "c",
            "exists": True,
            "size_bytes": 10,
            "samples": 0,
            "oldest": None,
            "newest": None,
            "bytes_per_poll": None,
            "schema_version": None,
            "integrity": "unreadable",
            "problems": ["not a database"],
        },
        "rollups": {
            "last_run": "2026-02-04T07:00:05.000Z",
            "error": "bad state",
            "daily": {
                "last_written": "2026-02-04",
                "last_file": "2026-02-04_daily.csv",
                "written_at": "2026-02-04T07:00:05.000Z",
                "next_due": "2026-02-05T07:00:00.000Z",
                "overdue": [{"file": "2026-02-03_daily.csv", "due": "x"}],
                "failed": [],
            },
            "weekly": {
                "last_written": None,
                "last_file": None,
                "written_at": None,
                "next_due": "2026-02-09T07:00:00.000Z",
                "overdue": [],
                "failed": [{"file": "2026-02-02_weekly.csv", "error": "boom", "at": "y"}],
            },
            "coverage": [
                {"day": "2026-02-04", "status": "written", "percent": 99.7, "partial": False},
                {"day": "2026-02-03", "status": "written", "percent": 50.0, "partial": True},
                {"day": "2026-02-02", "status": "failed", "percent": None},
                {"day": "2026-02-01", "status": None, "percent": None},
            ],
        },
        "disks": [],
    }
    rows = dict((title, dict(items)) for title, items in render.status_sections(data))
    assert rows["heat pump"]["longest gap (24 h)"] == "2.0 h from a to b"
    assert rows["heat pump"]["firmware"] == "not seen yet"
    assert rows["spool"]["pending samples"] == "5 (estimated)"
    assert rows["spool"]["pending size"] == "12.0 kB (2 segment(s) not yet flushed)"
    assert rows["cache"]["integrity (quick)"] == "unreadable; not a database"
    assert rows["roll-ups"]["last daily"] == (
        "2026-02-04_daily.csv (written 2026-02-04T07:00:05.000Z)"
    )
    assert rows["roll-ups"]["daily overdue"] == "2026-02-03_daily.csv"
    assert rows["roll-ups"]["weekly failed"] == "2026-02-02_weekly.csv: boom"
    assert rows["roll-ups"]["last weekly"] == "none written yet"
    assert rows["roll-ups"]["error"] == "bad state"
    assert rows["roll-ups"]["coverage (daily)"] == (
        "2026-02-04 99.7%, 2026-02-03 50.0% (partial), 2026-02-02 failed"
    )
    assert rows["disks"] == {"": "no volume could be measured"}
    assert rows["health"]["verdict"] == "UNHEALTHY"
    assert rows["roll-ups"]["last run"] == "2026-02-04T07:00:05.000Z"
    data["rollups"]["last_run"] = None  # files written by hand, never by `rollup due`
    rows = dict((title, dict(items)) for title, items in render.status_sections(data))
    assert rows["roll-ups"]["last run"] == "no `rollup due` run recorded"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, ""),
        (5.4, "5 s ago"),
        (600, "10 min ago"),
        (3 * 3600, "3.0 h ago"),
        (3 * 86400, "3.0 days ago"),
        (-30, "30 s ahead (clock skew?)"),
    ],
)
def test_format_age(seconds, text):
    assert render.format_age(seconds) == text


def test_status_help_has_an_example():
    result = runner.invoke(app, ["status", "--help"])
    assert result.exit_code == 0 and "Example: luxlog status --check" in result.stdout
