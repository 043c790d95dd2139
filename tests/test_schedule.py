"""The container's crontab: rendered from the settings, read back as supercronic reads it.

``supercronic.py`` (beside this file) models supercronic's line parsing and cronexpr's
``Next()``; these tests check every line and when each job really starts.
"""

from __future__ import annotations

import itertools
import shlex
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import supercronic
from typer.testing import CliRunner

from luxlog import config, schedule
from luxlog.cli import app
from luxlog.errors import ConfigError
from luxlog.launcher import parse_plain_poll

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()
DAY = datetime(2026, 7, 15, tzinfo=UTC)


def settings(**environ: str):
    return config.load(None, environ={"TZ": "UTC", **environ}, read_files=False)


def crontab_for(**environ: str) -> supercronic.Crontab:
    return supercronic.parse(schedule.render(settings(**environ)))


def starts(tab, name, begin, end):
    """All starts of the jobs called ``name`` (poll may take several lines), in order."""
    commands = {"poll": "poll", "flush": "flush", "rollup": "rollup due", "prune": "prune"}
    found = [job for job in tab.jobs if job.command.endswith(" " + commands[name])]
    assert found, f"no {name} job"
    return sorted(t for job in found for t in tab.starts(job, begin, end))


def test_checked_in_crontab_is_luxlog_crontab_for_the_default_config():
    checked_in = (ROOT / "crontab").read_text()
    assert checked_in == schedule.render(settings())
    result = runner.invoke(app, ["crontab"])  # conftest: no LUXLOG_*, TZ=UTC, empty cwd
    assert result.exit_code == 0, result.output
    assert result.stdout == checked_in
    assert "host: not set" in result.stderr  # a reminder, not an error


def test_supercronic_reads_every_line_as_a_seven_field_job():
    tab = supercronic.parse((ROOT / "crontab").read_text())
    assert tab.environ == {"CRON_TZ": "UTC"}
    assert [(job.field_count, job.command) for job in tab.jobs] == [
        (7, "luxlog poll"),
        (7, "luxlog flush"),
        (7, "luxlog rollup due"),
        (7, "luxlog prune"),
    ]
    assert tab.jobs[0].schedule == "*/30 * * * * * *"  # the example, verbatim


def test_default_jobs_start_when_intended():
    tab = crontab_for()
    begin, end = DAY - timedelta(seconds=1), DAY + timedelta(days=1) - timedelta(seconds=1)

    polls = starts(tab, "poll", begin, end)
    assert len(polls) == 2880 and polls[0] == DAY
    assert {(b - a).total_seconds() for a, b in itertools.pairwise(polls)} == {30}
    assert {t.second for t in polls} == {0, 30}

    flushes = starts(tab, "flush", begin, end)
    assert len(flushes) == 288
    assert all(t.minute % 5 == 1 and t.second == 10 for t in flushes)

    rollups = starts(tab, "rollup", begin, end)
    assert len(rollups) == 288
    # Each roll-up follows a flush by two minutes: the windows that closed on the
    # 5-minute mark are in the cache by then.
    assert [r - f for f, r in zip(flushes, rollups, strict=True)] == [timedelta(minutes=2)] * 288

    prunes = starts(tab, "prune", begin, DAY + timedelta(days=7))
    assert [t.strftime("%H:%M:%S") for t in prunes] == ["03:17:10"] * 7


def test_a_window_closing_at_csv_time_is_flushed_then_rolled_up_within_minutes():
    tab = crontab_for(LUXLOG_CSV_TIME="07:00")
    closing = DAY.replace(hour=7)  # the daily window ends at 07:00 UTC here
    last_poll_in_window = max(t for t in starts(tab, "poll", DAY, closing) if t < closing)
    flush = starts(tab, "flush", last_poll_in_window, closing + timedelta(hours=1))[0]
    rollup = starts(tab, "rollup", flush, closing + timedelta(hours=1))[0]
    # A poll never runs past its interval, so its sample is spooled before the flush.
    assert last_poll_in_window + timedelta(seconds=30) <= flush
    assert (flush - closing, rollup - closing) == (timedelta(seconds=70), timedelta(seconds=190))


def test_valid_intervals_are_the_divisors_of_an_hour_that_config_allows():
    assert tuple(n for n in range(5, 3601) if 3600 % n == 0) == schedule.VALID_INTERVALS
    assert len(schedule.VALID_INTERVALS) == 41
    assert {5, 30, 45, 90, 3600} <= set(schedule.VALID_INTERVALS)


@pytest.mark.parametrize("interval", schedule.VALID_INTERVALS)
def test_every_valid_interval_polls_exactly_on_its_grid(interval):
    tab = crontab_for(LUXLOG_INTERVAL_SEC=str(interval))
    begin = DAY + timedelta(seconds=7)  # supercronic may start at any moment
    end = begin + timedelta(hours=3)
    polls = starts(tab, "poll", begin, end)
    assert len(polls) == (3 * 3600) // interval
    assert all(int(t.timestamp()) % interval == 0 for t in polls)
    assert {(b - a).total_seconds() for a, b in itertools.pairwise(polls)} == {interval}
    # One line per minute offset at most, and never more than the polls of a period.
    assert len([j for j in tab.jobs if j.command == "luxlog poll"]) <= 60


def test_an_interval_that_does_not_divide_a_minute_takes_one_line_per_minute_offset():
    assert schedule.poll_schedules(45) == (
        "0,45 */3 * * * * *",
        "30 1-59/3 * * * * *",
        "15 2-59/3 * * * * *",
    )
    assert schedule.poll_schedules(90) == ("0 */3 * * * * *", "30 1-59/3 * * * * *")
    assert schedule.poll_schedules(60) == ("0 * * * * * *",)
    assert schedule.poll_schedules(300) == ("0 */5 * * * * *",)
    assert schedule.poll_schedules(3600) == ("0 0 * * * * *",)


@pytest.mark.parametrize(
    ("interval", "nearest"), [(7, "6 or 8"), (70, "60 or 72"), (3599, "1800 or 3600")]
)
def test_intervals_that_do_not_divide_an_hour_are_refused(interval, nearest):
    with pytest.raises(ConfigError) as caught:
        schedule.render(settings(LUXLOG_INTERVAL_SEC=str(interval)))
    (problem,) = caught.value.problems
    assert problem.startswith("interval_sec: must divide an hour (3600 s)")
    assert f"nearest: {nearest} (got {interval} from LUXLOG_INTERVAL_SEC)" in problem

    result = runner.invoke(app, ["crontab"], env={"LUXLOG_INTERVAL_SEC": str(interval)})
    assert result.exit_code == 3, result.output
    assert "invalid config: interval_sec: must divide an hour" in result.stderr
    assert result.stdout == ""


def test_six_fields_mean_minutes_to_supercronic():
    """The trap the 7-field lines avoid: without a year field, */30 is in minutes."""
    tab = supercronic.parse("*/30 * * * * * luxlog poll\n*/30 * * * * luxlog poll\n")
    assert [job.field_count for job in tab.jobs] == [6, 5]
    for job in tab.jobs:
        assert job.command == "luxlog poll"
        fired = tab.starts(job, DAY, DAY + timedelta(hours=2))
        assert [t.strftime("%H:%M:%S") for t in fired] == [
            "00:30:00",
            "01:00:00",
            "01:30:00",
            "02:00:00",
        ]


def test_cron_tz_in_a_daylight_saving_zone_would_lose_an_hour_of_polls():
    """Why the crontab says CRON_TZ=UTC even when timezone is Europe/Berlin."""
    autumn = datetime(2026, 10, 24, 22, tzinfo=UTC)  # Berlin falls back at 01:00 UTC on the 25th
    naive = supercronic.parse("CRON_TZ=Europe/Berlin\n*/30 * * * * * * luxlog poll\n")
    polls = naive.starts(naive.jobs[0], autumn, autumn + timedelta(hours=5))
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(polls)]
    assert max(gaps) == 3630  # the repeated hour 02:00-03:00 is skipped

    tab = crontab_for(LUXLOG_TIMEZONE="Europe/Berlin")
    assert tab.environ["CRON_TZ"] == "UTC"
    for night in (autumn, datetime(2026, 3, 28, 22, tzinfo=UTC)):
        polls = starts(tab, "poll", night, night + timedelta(hours=5))
        assert {(b - a).total_seconds() for a, b in itertools.pairwise(polls)} == {30}
        assert len(polls) == 600


@pytest.mark.parametrize(
    "zone", ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kathmandu", "Australia/Sydney"]
)
def test_prune_runs_once_a_day_at_a_quiet_local_hour_in_any_zone(zone):
    tab = crontab_for(LUXLOG_TIMEZONE=zone)
    local = ZoneInfo(zone)
    for month in (1, 7):  # winter and summer on either hemisphere
        begin = datetime(2026, month, 1, tzinfo=UTC)
        prunes = starts(tab, "prune", begin, begin + timedelta(days=10))
        assert len(prunes) == 10
        assert {t.astimezone(local).strftime("%M:%S") for t in prunes} == {"17:10"}
        assert {t.astimezone(local).hour for t in prunes} <= {3, 4}  # 03:17 standard time


def test_global_options_reach_every_job_and_poll_keeps_its_fast_path(tmp_path):
    config_file = tmp_path / "my config.yaml"
    config_file.write_text("host: 192.0.2.7\n")
    result = runner.invoke(app, ["--config", str(config_file), "--data-dir", "d", "crontab"])
    assert result.exit_code == 0, result.output
    tab = supercronic.parse(result.stdout)
    expected = ["--config", str(config_file), "--data-dir", str(tmp_path / "d")]
    for job in tab.jobs:
        words = shlex.split(job.command)
        assert words[0] == "luxlog" and words[1:5] == expected
    poll = next(job for job in tab.jobs if job.command.endswith(" poll"))
    parsed = parse_plain_poll(shlex.split(poll.command)[1:])
    assert parsed is not None  # cron's poll skips Typer
    options, overrides = parsed
    assert (options.config, options.data_dir, overrides) == (config_file, tmp_path / "d", {})


def test_check_needs_a_host(tmp_path):
    result = runner.invoke(app, ["crontab", "--check"], env={"LUXLOG_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 3, result.output
    assert "host: not set" in result.stderr
    assert result.stdout == ""


def test_check_creates_nothing_anywhere(tmp_path):
    nas = tmp_path / "mnt" / "nas" / "heatpump"  # an unmounted share
    env = {
        "LUXLOG_HOST": "192.0.2.1",
        "LUXLOG_DATA_DIR": str(tmp_path / "logs"),
        "LUXLOG_OUTPUT_DIRS": f"{tmp_path / 'logs' / 'csv'},{nas}",
    }
    before = sorted(tmp_path.rglob("*"))
    result = runner.invoke(app, ["crontab", "--check"], env=env)
    assert result.exit_code == 0, result.output
    assert sorted(tmp_path.rglob("*")) == before  # not even the data folder
    assert f"output dir {nas} does not exist: mount or create it" in result.stderr
    assert result.stdout == schedule.render(settings(**env))


def test_check_refuses_a_folder_it_cannot_write(tmp_path):
    (tmp_path / "file").write_text("")
    env = {"LUXLOG_HOST": "192.0.2.1", "LUXLOG_DATA_DIR": str(tmp_path / "file" / "logs")}
    result = runner.invoke(app, ["crontab", "--check"], env=env)
    assert result.exit_code == 7, result.output
    assert f"cannot write {tmp_path / 'file' / 'logs'}: Not a directory" in result.stderr
    assert "luxlog runs as uid" in result.stderr
    assert result.stdout == ""
