"""Health is honest about time (issue 12, item 3), and status shows the quarantine."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from helpers import settings_in
from test_health import (
    DAY_MS,
    HOUR_MS,
    NOW,
    every_30s,
    fill_cache,
    make_settings,
    report_for,
    write_spool,
)
from test_health import sample as health_sample
from typer.testing import CliRunner

from luxlog.cache import Cache
from luxlog.cli import app
from luxlog.health import verdict
from luxlog.sample import Sample
from luxlog.spool import Spool, encode_line, parse_timestamp

runner = CliRunner()


@pytest.mark.parametrize("where", ["spool", "cache"])
@pytest.mark.parametrize("ahead_ms", [DAY_MS, 74 * 365 * DAY_MS])  # tomorrow, ~2100
def test_a_future_sample_does_not_make_a_dead_heat_pump_look_healthy(
    tmp_path: Path, where: str, ahead_ms: int
) -> None:
    settings = make_settings(tmp_path)
    last_good = NOW - HOUR_MS  # the heat pump died an hour ago
    fill_cache(settings, every_30s(NOW - 3 * HOUR_MS, last_good + 1))
    if where == "spool":
        write_spool(settings.spool_dir / "current.jsonl", [NOW + ahead_ms])
    else:
        fill_cache(settings, [NOW + ahead_ms])
    report = report_for(settings)
    assert report.heatpump.last_poll_ms == last_good
    assert report.heatpump.future_sample_ms == NOW + ahead_ms
    data = report.to_json()
    assert data["heatpump"]["last_poll_age_sec"] == 3600.0
    assert data["heatpump"]["future_sample"] is not None
    reasons = verdict(report)
    assert any(r.startswith("last successful poll 60 min ago") for r in reasons), reasons
    assert any("ahead of this machine's clock" in r for r in reasons), reasons
    assert not report.healthy


def test_ages_are_never_negative_within_the_tolerance(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    write_spool(settings.spool_dir / "current.jsonl", [NOW - 30_000, NOW + 60_000])
    data = report_for(settings).to_json()
    assert data["heatpump"]["last_poll_age_sec"] == 0.0  # a minute ahead: clock skew
    assert data["spool"]["oldest_pending_age_sec"] == 30.0
    assert data["heatpump"]["future_sample"] is None


def test_a_sample_from_year_1_in_an_old_cache_breaks_neither_status_nor_rollups(
    tmp_path: Path,
) -> None:
    """Caches written before the spool checked times may hold one; prune removes it."""
    settings = settings_in(tmp_path)
    now = int(time.time() * 1000)
    calc, param = tuple(range(200)), tuple(range(1100))
    with Cache.open(settings.cache_path) as cache:
        cache.add_many(
            [
                Sample(parse_timestamp("0001-01-01T00:00:00Z"), "h:1", calc, param),
                Sample(now - 60_000, "h:1", calc, param),
            ]
        )
    # Two days of catch-up keep the roll-up short; the overflow came before any of it.
    env = {"LUXLOG_DATA_DIR": str(settings.data_dir), "LUXLOG_CSV_RETENTION_DAYS": "2"}
    status = runner.invoke(app, ["status", "--json"], env=env)
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["cache"]["oldest"] == "0001-01-01T00:00:00.000Z"
    due = runner.invoke(app, ["rollup", "due"], env=env)
    assert due.exit_code == 0, due.output


def test_status_shows_the_quarantine_count_and_the_newest_reason(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    spool = Spool(settings.spool_dir)
    now = int(time.time() * 1000)
    env = {"LUXLOG_DATA_DIR": str(settings.data_dir)}
    spool.append(Sample(now - 60_000, "h:1", tuple(range(200)), tuple(range(1100))))
    with spool.current.open("ab") as handle:
        handle.write(b"[[[[\n")
    assert runner.invoke(app, ["flush"], env=env).exit_code == 0
    with spool.current.open("ab") as handle:
        handle.write(encode_line(health_sample(now + DAY_MS)))
    assert runner.invoke(app, ["flush"], env=env).exit_code == 0
    status = runner.invoke(app, ["status", "--json"], env=env)
    data = json.loads(status.stdout)
    assert data["spool"]["quarantined_lines"] == 2
    assert "ahead of the clock" in data["spool"]["quarantine_newest_reason"]
    text = runner.invoke(app, ["status"], env=env)
    assert "quarantined lines" in text.stdout and "(newest: dated " in text.stdout


def test_poisoned_failure_notes_break_neither_status_nor_prune(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    notes = settings.spool_dir / "poll-failures.jsonl"
    notes.parent.mkdir(parents=True)
    recent = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - 60))
    notes.write_bytes(
        b"[" * 100_000
        + b"\n"
        + b'{"t":"9999-12-31T23:59:59.999-01:00","error":"x"}\n'
        + f'{{"t":"{recent}","host":"h:1","error":"no answer"}}\n'.encode()
    )
    env = {"LUXLOG_DATA_DIR": str(settings.data_dir)}
    status = runner.invoke(app, ["status", "--json"], env=env)
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["heatpump"]["failed_polls_24h"] == 1
    prune = runner.invoke(app, ["prune"], env=env)
    assert prune.exit_code == 0, prune.output
    assert notes.read_bytes().count(b"\n") == 1  # the junk is dropped, the note kept
