"""Config files and variables from the real world (issue 12, item 5): exit 3 with one
clear line each, within a second and in bounded memory, through the real commands."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from luxlog import schedule
from luxlog.cli import app
from luxlog.config import Settings
from luxlog.errors import ConfigError
from luxlog.launcher import main

runner = CliRunner()

BILLION_LAUGHS = """\
host: 192.168.1.50
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
sensors_include: [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""

FILES: dict[str, tuple[bytes, str]] = {
    "latin-1": (
        "# Wärmepumpe im Keller\nhost: 192.168.1.50\n".encode("latin-1"),
        "line 1: not UTF-8 (byte 0xe4); save it as UTF-8",
    ),
    "billion laughs": (
        BILLION_LAUGHS.encode(),
        "line 2: YAML anchors and aliases (&name, *name) are not supported",
    ),
    "a single alias": (
        b"host: &h 192.168.1.50\ncsv_time: *h\n",
        "anchors and aliases",
    ),
    "unconvertible integer": (
        b"port: " + b"9" * 5000 + b"\n",
        "a number with more digits than any setting takes",
    ),
    "huge integer": (
        b"interval_sec: " + b"9" * 4000 + b"\n",
        "interval_sec: must be 5..3600 (got a number with more than 19 digits from",
    ),
    "newline in a path": (
        b'data_dir: "/data\\n* * * * * * * rm -rf /"\n',
        "data_dir: must be a file system path without control characters",
    ),
    "a megabyte": (
        b"# " + b"x" * (1 << 20) + b"\n",
        "larger than 1024 KiB",
    ),
}


def one_problem(output: str) -> str:
    lines = [line for line in output.splitlines() if "invalid config" in line]
    assert len(lines) == 1, output
    assert "Traceback" not in output and len(lines[0]) < 300, output
    return lines[0]


@pytest.mark.parametrize("case", list(FILES))
def test_hostile_config_files_exit_3_with_one_line_fast(tmp_path: Path, case: str) -> None:
    data, expected = FILES[case]
    path = tmp_path / "luxlog.yaml"
    path.write_bytes(data)
    begun = time.monotonic()
    result = runner.invoke(app, ["--config", str(path), "config"])
    assert time.monotonic() - begun < 1.0
    assert result.exit_code == 3, result.output
    assert expected in one_problem(result.stderr)


def test_the_fast_poll_path_refuses_them_the_same_way(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "luxlog.yaml"
    path.write_bytes(FILES["billion laughs"][0])
    with pytest.raises(SystemExit) as caught:
        main(["--config", str(path), "poll"])
    assert caught.value.code == 3
    assert "anchors and aliases" in one_problem(capsys.readouterr().err)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("LUXLOG_PORT", "9" * 5000, "port: must be 1..65535 (got '99999999999999999999"),
        ("LUXLOG_RETRIES", "-" + "1" * 100, "retries: must be 0..10"),
        # A cut-off before year 1 broke prune and status with an OverflowError:
        ("LUXLOG_CACHE_RETENTION_DAYS", "99999999999", "must be 0..36500"),
        ("LUXLOG_CSV_RETENTION_DAYS", "3000000", "must be 0..36500"),
        ("LUXLOG_DATA_DIR", "/data\n* * * * * * * touch /pwned", "without control characters"),
        ("LUXLOG_OUTPUT_DIRS", "/a,/b\tc", "without control characters"),
    ],
)
def test_hostile_environment_values_exit_3(
    tmp_path: Path, name: str, value: str, expected: str
) -> None:
    result = runner.invoke(app, ["config"], env={name: value})
    assert result.exit_code == 3, result.output
    assert expected in one_problem(result.stderr)


@pytest.mark.parametrize("flag", ["--config", "--data-dir"])
def test_a_newline_in_a_path_flag_never_reaches_the_crontab(tmp_path: Path, flag: str) -> None:
    evil = f"{tmp_path}/x\n* * * * * * * touch /pwned"
    result = runner.invoke(app, [flag, evil, "crontab"], env={"LUXLOG_HOST": "h"})
    assert result.exit_code == 3, result.output
    assert "control characters" in one_problem(result.stderr)
    assert "pwned" not in result.stdout


def test_the_crontab_renderer_refuses_control_characters_itself() -> None:
    with pytest.raises(ConfigError, match="control characters"):
        schedule.render(Settings(host="h"), global_args=["--config", "/a\n* * * * * * * x"])


def test_the_longest_retention_works_with_every_command_that_uses_it(tmp_path: Path) -> None:
    env = {
        "LUXLOG_DATA_DIR": str(tmp_path / "data"),
        "LUXLOG_CACHE_RETENTION_DAYS": "36500",
        "LUXLOG_CSV_RETENTION_DAYS": "36500",
    }
    for command in (["prune"], ["status"]):
        result = runner.invoke(app, command, env=env)
        assert result.exit_code == 0, (command, result.output)
