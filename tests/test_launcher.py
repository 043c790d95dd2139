"""The Typer-free fast path for the cron form of `luxlog poll`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from luxlog.launcher import GlobalOptions, main, parse_plain_poll
from luxlog.simulator import Simulator


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["poll"], (GlobalOptions(), {})),
        (["-q", "poll", "--host", "h"], (GlobalOptions(quiet=True), {"host": "h"})),
        (
            ["-c", "x.yaml", "--data-dir=/d", "-v", "poll", "--port=1", "--host=h"],
            (
                GlobalOptions(config=Path("x.yaml"), data_dir=Path("/d"), verbose=True),
                {"port": "1", "host": "h"},
            ),
        ),
    ],
)
def test_cron_forms_take_the_fast_path(argv, expected):
    assert parse_plain_poll(argv) == expected


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["flush"],
        ["poll", "--print"],
        ["poll", "--json"],
        ["poll", "--help"],
        ["--help"],
        ["poll", "--host"],
        ["--config"],
        ["--bogus", "poll"],
        ["poll", "extra"],
    ],
)
def test_everything_else_goes_to_typer(argv):
    assert parse_plain_poll(argv) is None


def run(argv, env):
    code = (
        "import sys\n"
        "from luxlog.launcher import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "finally:\n"
        "    print(sorted(m for m in ('typer', 'click', 'rich', 'sqlite3', 'yaml', "
        "'filelock', 'logging', 'zoneinfo', 'typing') if m in sys.modules))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=8
    )


def test_fast_path_polls_without_typer_and_matches_exit_codes(tmp_path):
    env = {
        **os.environ,
        "LUXLOG_DATA_DIR": str(tmp_path),
        "LUXLOG_INTERVAL_SEC": "5",
        "LUXLOG_RETRIES": "0",
    }
    with Simulator() as pump:
        ok = run(["poll", "--host", "127.0.0.1", "--port", str(pump.port)], env)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "[]"
    line = json.loads((tmp_path / "spool" / "current.jsonl").read_text())
    assert line["host"] == f"127.0.0.1:{pump.port}"

    with Simulator(fault="refuse") as dead:
        failed = run(["poll", "--host=127.0.0.1", f"--port={dead.port}"], env)
    assert failed.returncode == 4
    assert "ERROR poll: no valid answer" in failed.stderr
    # Something to say: logging is set up then, and the warnings come first, as logged.
    assert failed.stdout.strip() == "['logging']"
    assert failed.stderr.index("WARNING poll:") < failed.stderr.index("ERROR poll:")

    bad = run(["poll", "--port", "0"], env)
    assert bad.returncode == 3
    assert "invalid config: port: must be 1..65535 (got '0' from --port)" in bad.stderr
    assert "host: " not in bad.stderr.split("port:")[0]


def test_fast_path_reports_bugs_like_the_typer_path(tmp_path, monkeypatch, capsys):
    import luxlog.poll

    monkeypatch.setattr(luxlog.poll, "poll", lambda *a, **k: 1 / 0)
    monkeypatch.setenv("LUXLOG_HOST", "127.0.0.1")
    monkeypatch.setenv("LUXLOG_DATA_DIR", str(tmp_path))
    with pytest.raises(SystemExit) as caught:
        main(["poll"])
    assert caught.value.code == 1
    assert "ZeroDivisionError" in capsys.readouterr().err


def test_other_commands_go_through_typer(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LUXLOG_DATA_DIR", str(tmp_path))
    with pytest.raises(SystemExit) as caught:
        main(["config", "--json"])
    assert caught.value.code == 0
    assert json.loads(capsys.readouterr().out)["data_dir"] == str(tmp_path)


@pytest.mark.parametrize("argv", [["poll", "--host", "h"], ["poll", "--print", "--host", "h"]])
def test_the_start_instant_reaches_the_poll_on_both_paths(argv, monkeypatch):
    """The poll budget counts start-up: main's instant is passed along, not kept globally."""
    import luxlog.poll

    seen: list[float | None] = []

    def record(settings, *, started=None, **_):
        seen.append(started)
        raise SystemExit(0)

    monkeypatch.setattr(luxlog.poll, "poll", record)
    with pytest.raises(SystemExit):
        main(argv, started=123.5)
    assert seen == [123.5]
