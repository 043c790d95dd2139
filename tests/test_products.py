"""The roll-up job over real caches and files: due, catch-up, retries, folders, DST, CLI."""

from __future__ import annotations

import csv
import errno
import json
import logging
import os
import random
import re
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from helpers import settings_in
from typer.testing import CliRunner

from luxlog import products
from luxlog.cache import Cache
from luxlog.cli import app
from luxlog.config import Settings
from luxlog.csvout import format_value
from luxlog.heatpump import catalogue
from luxlog.outputs import AtomicFile, temp_path
from luxlog.sample import Sample
from luxlog.simulator import HeatPumpModel, load_capture
from luxlog.spool import Spool
from luxlog.windows import Schedule

HOST = "192.0.2.1:8889"
CAPTURE = load_capture()
BERLIN = ZoneInfo("Europe/Berlin")
STEP_MS = 300_000  # 5-minute polls keep the files small; coverage uses interval_sec=300


def ms(*args: int) -> int:
    return round(datetime(*args, tzinfo=UTC).timestamp() * 1000)


def settings_for(tmp_path: Path, **changes: object) -> Settings:
    return settings_in(tmp_path, **{"timezone": "Europe/Berlin", "interval_sec": 300, **changes})


def samples_between(start_ms: int, end_ms: int, step_ms: int = STEP_MS) -> list[Sample]:
    model = HeatPumpModel(CAPTURE, seed=7, start_ms=start_ms)
    return [Sample(t, HOST, *model.read(t)) for t in range(start_ms, end_ms, step_ms)]


def fill(settings: Settings, samples: list[Sample]) -> None:
    with Cache.open(settings.cache_path) as cache:
        cache.add_many(samples)


def rows_of(path: Path, delimiter: str = ",") -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle, delimiter=delimiter))


def everything_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def files_in(directory: Path) -> list[str]:
    """The roll-up CSVs (other jobs, such as the monthly summary, may share the folder)."""
    return [n for n in everything_in(directory) if re.fullmatch(r"[-\d]{10}_\w+ly\.csv", n)]


def no_sleep(seconds: float) -> None:
    raise AssertionError(f"unexpected sleep({seconds})")


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture):
    """Records of the 'luxlog' logger (which does not propagate once the CLI set it up)."""
    logger = logging.getLogger("luxlog")
    logger.addHandler(caplog.handler)
    level, propagate = logger.level, logger.propagate
    logger.setLevel(logging.DEBUG)
    logger.propagate = False  # or caplog's root handler sees every record twice
    yield caplog
    logger.removeHandler(caplog.handler)
    logger.setLevel(level)
    logger.propagate = propagate


def messages(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level]


# -- due -----------------------------------------------------------------------------------


def test_due_after_days_of_downtime_writes_exactly_the_missing_files(tmp_path, logs):
    settings = settings_for(tmp_path, interval_sec=900)  # 15-minute polls: a small cache
    before = samples_between(ms(2025, 1, 1), ms(2025, 1, 3, 12), 900_000)
    fill(settings, before)
    first = products.due(settings, now_ms=ms(2025, 1, 3, 8), sleep=no_sleep)
    csv_dir = settings.output_dirs[0]
    assert files_in(csv_dir) == [
        "2025-01-01_daily.csv",
        "2025-01-02_daily.csv",
        "2025-01-03_daily.csv",
    ]
    assert first.count("written") == 3
    # 01:00-07:00 local of a 24-hour window: a quarter, written and marked partial.
    with Cache.open(settings.cache_path, readonly=True) as cache:
        record = products.load_records(cache)["daily"][date(2025, 1, 1)]
    assert (record.status, record.samples, record.coverage, record.partial) == (
        "written",
        24,
        0.25,
        True,
    )

    # Down from Friday noon until Wednesday 10:00 local; polls resume. Some of the newest
    # samples are still in the spool, some of them after the boundary.
    after = samples_between(ms(2025, 1, 8, 9), ms(2025, 1, 9, 6, 30), 900_000)
    fill(settings, [s for s in after if s.timestamp_ms < ms(2025, 1, 9)])
    spool = Spool(settings.spool_dir)
    for sample in after:
        if sample.timestamp_ms >= ms(2025, 1, 9):
            spool.append(sample)
    logs.clear()
    second = products.due(settings, now_ms=ms(2025, 1, 9, 9), sleep=no_sleep)
    assert second.flushed == 26  # 00:00-06:30 UTC, every 15 minutes
    assert [(o.window.kind, o.window.day.day, o.record.status) for o in second.outcomes] == [
        ("daily", 4, "written"),
        ("daily", 5, "empty"),
        ("daily", 6, "empty"),
        ("weekly", 6, "written"),
        ("daily", 7, "empty"),
        ("daily", 8, "empty"),
        ("daily", 9, "written"),
    ]
    assert files_in(csv_dir) == [
        "2025-01-01_daily.csv",
        "2025-01-02_daily.csv",
        "2025-01-03_daily.csv",
        "2025-01-04_daily.csv",
        "2025-01-06_weekly.csv",
        "2025-01-09_daily.csv",
    ]
    assert len(messages(logs, logging.WARNING)) == 4  # one line per empty window
    # The 9 January file ends at 07:00 local: spooled samples before it, none after.
    window = Schedule.create("07:00", "Europe/Berlin").window("daily", date(2025, 1, 9))
    expected = [s for s in after if window.start_ms <= s.timestamp_ms < window.end_ms]
    rows = rows_of(csv_dir / "2025-01-09_daily.csv")
    assert len(rows) == 1 + len(expected)
    assert rows[-1][0] == "2025-01-09T06:45:00+01:00"
    weekly = rows_of(csv_dir / "2025-01-06_weekly.csv")
    assert len(weekly) == 1 + len(before)

    # Nothing left: a third run writes nothing and warns about nothing.
    logs.clear()
    third = products.due(settings, now_ms=ms(2025, 1, 9, 9, 5), sleep=no_sleep)
    assert third.outcomes == []
    assert messages(logs, logging.WARNING) == []
    with Cache.open(settings.cache_path, readonly=True) as cache:
        assert products.last_due(cache) == {
            "at_ms": ms(2025, 1, 9, 9, 5),
            "written": 0,
            "empty": 0,
            "failed": 0,
            "flushed": 0,
        }


def test_catch_up_is_bounded_by_retention(tmp_path):
    settings = settings_for(tmp_path, csv_retention_days=3)
    fill(settings, samples_between(ms(2025, 1, 1), ms(2025, 1, 10), 3_600_000))
    report = products.due(settings, now_ms=ms(2025, 1, 10, 8), sleep=no_sleep)
    assert [o.window.day.day for o in report.outcomes if o.window.kind == "daily"] == [8, 9, 10]


def test_every_sample_lands_in_exactly_one_daily_file_on_dst_days(tmp_path):
    settings = settings_for(tmp_path, interval_sec=1800)
    spring = samples_between(ms(2025, 3, 28), ms(2025, 4, 2), 1_800_000)
    autumn = samples_between(ms(2025, 10, 24), ms(2025, 10, 29), 1_800_000)
    fill(settings, spring + autumn)
    days = [date(2025, 3, d) for d in range(29, 32)] + [date(2025, 10, d) for d in range(25, 28)]
    report = products.write_days(settings, "daily", days, now_ms=ms(2026, 1, 1), sleep=no_sleep)
    assert report.count("written") == 6
    csv_dir = settings.output_dirs[0]
    counts = {}
    seen: list[int] = []
    for day in days:
        rows = rows_of(csv_dir / f"{day}_daily.csv")[1:]
        counts[day.isoformat()] = len(rows)
        stamps = [round(datetime.fromisoformat(r[0]).timestamp() * 1000) for r in rows]
        assert stamps == sorted(stamps)
        seen += stamps
    assert counts == {
        "2025-03-29": 48,
        "2025-03-30": 46,  # 23 hours
        "2025-03-31": 48,
        "2025-10-25": 48,
        "2025-10-26": 50,  # 25 hours
        "2025-10-27": 48,
    }
    assert len(seen) == len(set(seen))
    schedule = Schedule.create("07:00", "Europe/Berlin")
    windows = [schedule.window("daily", d) for d in days]
    covered = {
        s.timestamp_ms
        for s in spring + autumn
        if any(w.start_ms <= s.timestamp_ms < w.end_ms for w in windows)
    }
    assert set(seen) == covered
    long_day = [r[0] for r in rows_of(csv_dir / "2025-10-26_daily.csv")[1:]]
    assert "2025-10-26T02:30:00+02:00" in long_day and "2025-10-26T02:30:00+01:00" in long_day


# -- failures, retries, folders --------------------------------------------------------------


def test_a_failure_is_retried_once_in_the_same_run(tmp_path, logs, monkeypatch):
    settings = settings_for(tmp_path)
    fill(settings, samples_between(ms(2025, 1, 1), ms(2025, 1, 2, 6)))
    real_init = AtomicFile.__init__
    calls = []

    def flaky(self: AtomicFile, target: Path) -> None:
        calls.append(target)
        if len(calls) == 1:
            raise OSError(errno.EIO, "Input/output error")
        real_init(self, target)

    monkeypatch.setattr(AtomicFile, "__init__", flaky)
    report = products.write_days(
        settings, "daily", [date(2025, 1, 2)], now_ms=ms(2025, 2, 1), sleep=no_sleep
    )
    assert report.count("written") == 1 and report.error() is None
    assert len(calls) == 2
    assert any("trying once more" in m for m in messages(logs, logging.WARNING))
    assert len(rows_of(settings.output_dirs[0] / "2025-01-02_daily.csv")) == 1 + 288


def test_one_failing_folder_does_not_stop_the_others_and_is_retried_next_time(
    tmp_path, logs, monkeypatch
):
    local = tmp_path / "data" / "csv"
    nas = tmp_path / "mnt" / "nas" / "heatpump"  # not mounted: must not be created
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where a folder should be")
    settings = settings_for(tmp_path, output_dirs=(local, nas, blocked))
    fill(settings, samples_between(ms(2025, 1, 1), ms(2025, 1, 2, 6)))
    report = products.due(settings, now_ms=ms(2025, 1, 2, 8), sleep=no_sleep)
    assert files_in(local) == ["2025-01-01_daily.csv", "2025-01-02_daily.csv"]
    assert not nas.exists()
    assert [o.record.status for o in report.outcomes] == ["failed", "failed"]
    assert report.outcomes[1].record.failed_dirs == (str(nas), str(blocked))
    error = report.error()
    assert error is not None and "2 roll-up(s) failed" in str(error)
    errors = messages(logs, logging.ERROR)
    assert any(str(nas) in m and "not mounted" in m for m in errors)
    assert any(str(blocked) in m and "not a directory" in m for m in errors)

    # The share comes back; the blocked folder is still broken.
    nas.mkdir(parents=True)
    before = (local / "2025-01-02_daily.csv").stat()
    report = products.due(settings, now_ms=ms(2025, 1, 2, 8, 5), sleep=no_sleep)
    assert files_in(nas) == ["2025-01-01_daily.csv", "2025-01-02_daily.csv"]
    after = (local / "2025-01-02_daily.csv").stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert report.outcomes[1].record.failed_dirs == (str(blocked),)
    assert (nas / "2025-01-02_daily.csv").read_bytes() == (
        local / "2025-01-02_daily.csv"
    ).read_bytes()

    blocked.unlink()
    blocked.mkdir()
    report = products.due(settings, now_ms=ms(2025, 1, 2, 8, 10), sleep=no_sleep)
    assert [o.record.status for o in report.outcomes] == ["written", "written"]
    assert report.outcomes[1].record.samples == 288
    assert products.due(settings, now_ms=ms(2025, 1, 2, 8, 15), sleep=no_sleep).outcomes == []


def test_disk_full_in_one_folder_mid_write(tmp_path, monkeypatch):
    full = tmp_path / "data" / "full"
    settings = settings_for(tmp_path, output_dirs=(tmp_path / "data" / "csv", full))
    fill(settings, samples_between(ms(2025, 1, 1), ms(2025, 1, 2, 6)))
    real_write = AtomicFile.write

    def write(self: AtomicFile, data: bytes) -> None:
        if self.target.parent == full:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(self, data)

    monkeypatch.setattr(AtomicFile, "write", write)
    report = products.write_days(
        settings, "daily", [date(2025, 1, 2)], now_ms=ms(2025, 2, 1), sleep=no_sleep
    )
    record = report.outcomes[0].record
    assert (record.status, record.failed_dirs, record.samples) == ("failed", (str(full),), 288)
    assert record.error == "No space left on device"
    assert everything_in(full) == []  # no temp file left behind either


def test_a_full_volume_fails_its_folder_before_writing(tmp_path, monkeypatch, logs):
    from luxlog import disk

    full = tmp_path / "data" / "full"
    settings = settings_for(tmp_path, output_dirs=(tmp_path / "data" / "csv", full))
    fill(settings, samples_between(ms(2025, 1, 1), ms(2025, 1, 2, 6)))
    real_usage = disk.disk_usage

    def usage(path: Path) -> disk.Usage | None:
        if path == full:
            return disk.Usage("/mnt/full", 10**9, 10**9 - 4096, 4096)
        return real_usage(path)

    monkeypatch.setattr(disk, "disk_usage", usage)
    report = products.write_days(
        settings, "daily", [date(2025, 1, 2)], now_ms=ms(2025, 2, 1), sleep=no_sleep
    )
    record = report.outcomes[0].record
    assert (record.status, record.failed_dirs) == ("failed", (str(full),))
    assert record.error == "disk full (4.1 kB free on /mnt/full)"
    assert everything_in(full) == [] and files_in(settings.output_dirs[0]) == [
        "2025-01-02_daily.csv"
    ]
    assert any("/mnt/full is 100% full" in m for m in messages(logs, logging.WARNING))


def test_empty_window_warns_once_and_is_not_retried(tmp_path, logs):
    settings = settings_for(tmp_path)
    fill(settings, samples_between(ms(2025, 1, 1), ms(2025, 1, 1, 4)))
    report = products.due(settings, now_ms=ms(2025, 1, 3, 8), sleep=no_sleep)
    assert [(o.window.day.day, o.record.status) for o in report.outcomes] == [
        (1, "written"),
        (2, "empty"),
        (3, "empty"),
    ]
    assert files_in(settings.output_dirs[0]) == ["2025-01-01_daily.csv"]
    warnings = messages(logs, logging.WARNING)
    assert len(warnings) == 2 and "no samples between 2025-01-01T07:00+01:00" in warnings[0]
    assert products.due(settings, now_ms=ms(2025, 1, 3, 9), sleep=no_sleep).outcomes == []


def test_rewriting_a_pruned_window_keeps_the_file_and_its_record(tmp_path, logs):
    settings = settings_for(tmp_path)
    fill(settings, samples_between(ms(2025, 1, 1, 6), ms(2025, 1, 2, 6)))
    now = ms(2025, 2, 1)
    products.write_days(settings, "daily", [date(2025, 1, 2)], now_ms=now, sleep=no_sleep)
    target = settings.output_dirs[0] / "2025-01-02_daily.csv"
    content = target.read_bytes()
    with Cache.open(settings.cache_path) as cache:
        cache.delete_before(ms(2025, 1, 3))
    report = products.write_days(settings, "daily", [date(2025, 1, 2)], now_ms=now)
    assert report.outcomes[0].record.status == "written"
    assert target.read_bytes() == content
    assert any("no samples" in m for m in messages(logs, logging.WARNING))


def test_cache_read_error_fails_the_window_and_the_run_goes_on(tmp_path, monkeypatch):
    from luxlog.errors import StorageError

    settings = settings_for(tmp_path)
    fill(settings, samples_between(ms(2025, 1, 1), ms(2025, 1, 3, 6)))
    real_query = Cache.query

    def query(self: Cache, start_ms: int, end_ms: int, **options):
        if start_ms < ms(2025, 1, 1):  # the window ending 1 January only
            raise StorageError("cache is corrupt: chunk 1")
        return real_query(self, start_ms, end_ms)

    monkeypatch.setattr(Cache, "query", query)
    report = products.due(settings, now_ms=ms(2025, 1, 3, 8), sleep=no_sleep)
    assert [o.record.status for o in report.outcomes] == ["failed", "written", "written"]
    assert report.outcomes[0].record.error == "cache is corrupt: chunk 1"


def test_no_cache_yet_is_not_an_error(tmp_path, logs):
    settings = settings_for(tmp_path)
    assert products.due(settings, now_ms=ms(2025, 1, 3, 8), sleep=no_sleep).outcomes == []
    assert not settings.cache_path.exists()
    assert any("no data yet" in m for m in messages(logs, logging.DEBUG))
    report = products.write_days(
        settings, "daily", [date(2025, 1, 2)], now_ms=ms(2025, 1, 3), sleep=no_sleep
    )
    assert report.outcomes == []
    assert any("no data yet" in m for m in messages(logs, logging.WARNING))


def test_due_waits_for_polls_finishing_at_the_boundary(tmp_path):
    settings = settings_for(tmp_path)
    boundary = ms(2025, 1, 2, 6)
    slept: list[float] = []
    products.due(settings, now_ms=boundary + 1_500, sleep=slept.append)
    assert slept == [3.5]
    products.due(settings, now_ms=boundary + products.SETTLE_MS, sleep=no_sleep)


# -- file content -----------------------------------------------------------------------------


def test_firmware_change_mid_window_gives_the_union_of_columns(tmp_path):
    settings = settings_for(tmp_path)
    old = samples_between(ms(2025, 1, 1, 6), ms(2025, 1, 1, 18))
    new = [
        Sample(s.timestamp_ms, s.host, (*s.calculations, 11, 22), s.parameters[:1000])
        for s in samples_between(ms(2025, 1, 1, 18), ms(2025, 1, 2, 6))
    ]
    fill(settings, old + new)
    report = products.write_days(
        settings, "daily", [date(2025, 1, 2)], now_ms=ms(2025, 2, 1), sleep=no_sleep
    )
    assert report.outcomes[0].record.samples == len(old) + len(new)
    rows = rows_of(settings.output_dirs[0] / "2025-01-02_daily.csv")
    header = rows[0]
    assert len(rows) == 1 + len(old) + len(new)
    assert len({len(row) for row in rows}) == 1
    calc_200 = catalogue.sensor("calc", 200)
    param_1085 = catalogue.sensor("param", 1085)
    assert calc_200 is not None and param_1085 is not None
    new_column = header.index(calc_200.name)
    assert header[new_column + 1] == catalogue.sensor("calc", 201).name  # type: ignore[union-attr]
    assert [rows[1][new_column], rows[-1][new_column]] == ["", format_value(calc_200.convert(11))]
    assert header[-1] == param_1085.name
    assert rows[1][-1] != ""  # the old firmware sent all parameters
    assert rows[-1][-1] == ""  # the new one sends fewer


def test_selection_and_profile_from_settings(tmp_path, logs):
    settings = settings_for(
        tmp_path,
        csv_profile="excel-de",
        sensors_include=("ID_WEB_Temperatur_T?L", "ID_WEB_Temperatur_TA", "no_such_*"),
        sensors_exclude=("*_TRL",),
        timezone="UTC",
    )
    fill(settings, samples_between(ms(2025, 1, 1, 6, 50), ms(2025, 1, 1, 7)))
    products.write_days(settings, "daily", [date(2025, 1, 1)], now_ms=ms(2025, 2, 1))
    data = (settings.output_dirs[0] / "2025-01-01_daily.csv").read_bytes()
    lines = data.split(b"\r\n")
    assert lines[0] == b"\xef\xbb\xbftimestamp;ID_WEB_Temperatur_TVL;ID_WEB_Temperatur_TA"
    assert lines[1].startswith(b"2025-01-01 06:50:00;") and lines[1].count(b";") == 2
    assert b"," in lines[1]  # decimal comma
    assert any("'no_such_*' matches no sensor" in m for m in messages(logs, logging.WARNING))


def test_a_selection_decodes_only_its_registers_and_writes_the_same_file(tmp_path, monkeypatch):
    settings = settings_for(
        tmp_path, sensors_include=("ID_WEB_Temperatur_T?L", "param_3*"), timezone="UTC"
    )
    fill(settings, samples_between(ms(2025, 1, 1, 6), ms(2025, 1, 1, 7, 30)))
    asked = []
    real = Cache.query

    def query(self, start_ms, end_ms, *, registers=None):
        asked.append(registers)
        return real(self, start_ms, end_ms, registers=registers)

    monkeypatch.setattr(Cache, "query", query)
    products.write_days(settings, "daily", [date(2025, 1, 1)], now_ms=ms(2025, 2, 1))
    (registers,) = asked
    assert registers.calculations == {10, 11} and 30 in registers.parameters  # TVL, TRL
    whole_rows = settings.data_dir / "whole"
    monkeypatch.setattr(Cache, "query", lambda self, a, b, **_: real(self, a, b))
    products.write_days(
        replace(settings, output_dirs=(whole_rows,)),
        "daily",
        [date(2025, 1, 1)],
        now_ms=ms(2025, 2, 1),
    )
    name = "2025-01-01_daily.csv"
    projected = (settings.output_dirs[0] / name).read_bytes()
    assert projected == (whole_rows / name).read_bytes()
    assert projected.count(b"\n") == 1 + 12  # header and 06:00..06:55 (window ends 07:00)


def test_records_survive_corrupt_or_foreign_state(tmp_path):
    settings = settings_for(tmp_path)
    fill(settings, samples_between(ms(2025, 1, 1), ms(2025, 1, 1, 1)))
    with Cache.open(settings.cache_path) as cache:
        cache.set_state("rollup.daily", "{not json")
        cache.set_state("rollup.weekly", json.dumps({"x": {}, "2025-01-06": {"status": "?"}}))
        cache.set_state("rollup.last_due", "[]")
        assert products.load_records(cache) == {"daily": {}, "weekly": {}}
        assert products.last_due(cache) is None
        cache.set_state("rollup.last_due", "{bad")
        assert products.last_due(cache) is None
    assert products.Record.from_json({"status": "written", "samples": "x"}) is None


def test_old_records_are_dropped(tmp_path):
    settings = settings_for(tmp_path, cache_retention_days=10)
    fill(settings, samples_between(ms(2025, 1, 1), ms(2025, 1, 1, 1)))
    products.write_days(settings, "daily", [date(2025, 1, 1)], now_ms=ms(2025, 1, 5))
    # 19 January: records older than 10 + 7 days (before 2 January) are dropped.
    products.write_days(settings, "daily", [date(2025, 1, 2)], now_ms=ms(2025, 1, 19, 12))
    with Cache.open(settings.cache_path, readonly=True) as cache:
        assert list(products.load_records(cache)["daily"]) == [date(2025, 1, 2)]


def test_resolve_days():
    settings = Settings(timezone="Europe/Berlin")
    now = ms(2025, 1, 15, 12)  # Wednesday
    assert products.resolve_days(settings, "daily", now_ms=now) == [date(2025, 1, 15)]
    assert products.resolve_days(settings, "weekly", now_ms=now) == [date(2025, 1, 13)]
    assert products.resolve_days(
        settings, "daily", first=date(2025, 1, 13), last=date(2025, 1, 14), now_ms=now
    ) == [date(2025, 1, 13), date(2025, 1, 14)]
    assert products.resolve_days(settings, "weekly", first=date(2024, 12, 31), now_ms=now) == [
        date(2025, 1, 6),
        date(2025, 1, 13),
    ]
    with pytest.raises(products.DateError, match="has not passed yet"):
        products.resolve_days(settings, "daily", day=date(2025, 1, 16), now_ms=now)
    with pytest.raises(products.DateError, match="no monday"):
        products.resolve_days(
            settings, "weekly", first=date(2025, 1, 14), last=date(2025, 1, 15), now_ms=now
        )


# -- command line ---------------------------------------------------------------------------

runner = CliRunner()


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "LUXLOG_DATA_DIR": str(tmp_path / "data"),
        "LUXLOG_TIMEZONE": "Europe/Berlin",
        "LUXLOG_INTERVAL_SEC": "300",
        "LUXLOG_TIMEOUT_SEC": "5",
        **extra,
    }


def test_cli_daily_weekly_and_ranges(tmp_path):
    settings = settings_for(tmp_path)
    fill(settings, samples_between(ms(2025, 1, 1), ms(2025, 1, 14), 1_800_000))
    env = cli_env(tmp_path)
    result = runner.invoke(app, ["-v", "rollup", "daily", "--date", "2025-01-05"], env=env)
    assert result.exit_code == 0, result.output
    assert "1 written, 0 empty, 0 failed" in result.stderr
    result = runner.invoke(
        app, ["rollup", "daily", "--from", "2025-01-06", "--to", "2025-01-08"], env=env
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app, ["rollup", "weekly", "--from", "2025-01-01", "--to", "2025-01-13"], env=env
    )
    assert result.exit_code == 0, result.output
    csv_dir = tmp_path / "data" / "csv"
    assert files_in(csv_dir)[:4] == [
        "2025-01-05_daily.csv",
        "2025-01-06_daily.csv",
        "2025-01-06_weekly.csv",
        "2025-01-07_daily.csv",
    ]
    assert "2025-01-13_weekly.csv" in files_in(csv_dir)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["daily", "--date", "2999-01-01"], "has not passed yet"),
        (["daily", "--date", "2025-01-01", "--from", "2025-01-01"], "not both"),
        (["weekly", "--to", "2025-01-01"], "--to needs --from"),
        (["daily", "--date", "01.02.2025"], "Invalid value"),
    ],
)
def test_cli_bad_dates_exit_2(tmp_path, args, message):
    result = runner.invoke(app, ["rollup", *args], env=cli_env(tmp_path))
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_cli_due_exits_7_when_a_folder_fails(tmp_path):
    now = time.time_ns() // 1_000_000
    settings = settings_for(tmp_path)
    fill(settings, samples_between(now - 2 * 86_400_000, now - 3_600_000, 1_800_000))
    nas = tmp_path / "nas"
    env = cli_env(tmp_path, LUXLOG_OUTPUT_DIRS=f"{tmp_path / 'data' / 'csv'},{nas}")
    result = runner.invoke(app, ["rollup", "due"], env=env)
    assert result.exit_code == 7, result.output
    assert f"cannot write to {nas}" in result.stderr
    assert "roll-up(s) failed" in result.stderr
    assert len(files_in(tmp_path / "data" / "csv")) >= 2
    # Without a date: the latest daily window, rewritten in the folders that work.
    result = runner.invoke(app, ["-v", "rollup", "daily"], env=cli_env(tmp_path))
    assert result.exit_code == 0, result.output
    latest = Schedule.create("07:00", "Europe/Berlin").latest_day(time.time_ns() // 1_000_000)
    assert f"wrote {latest}_daily.csv" in result.stderr


def test_cli_due_is_quiet_when_nothing_is_due(tmp_path):
    result = runner.invoke(app, ["rollup", "due"], env=cli_env(tmp_path))
    assert result.exit_code == 0, result.output
    assert result.output == ""


def test_cli_help_has_examples():
    for command in ("daily", "weekly", "due"):
        result = runner.invoke(app, ["rollup", command, "--help"])
        assert result.exit_code == 0 and "Example:" in result.stdout


# -- processes ------------------------------------------------------------------------------


def luxlog(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LUXLOG_")}
    return subprocess.Popen(
        [sys.executable, "-m", "luxlog", *args],
        env={**clean, **cli_env(tmp_path), **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_concurrent_dues_write_each_file_once(tmp_path):
    now = time.time_ns() // 1_000_000
    settings = settings_for(tmp_path)
    fill(settings, samples_between(now - 5 * 86_400_000, now - 3_600_000, 1_800_000))
    children = [luxlog(tmp_path, "-v", "rollup", "due") for _ in range(2)]
    outputs = [child.communicate(timeout=9)[1] for child in children]
    assert [child.returncode for child in children] == [0, 0], outputs
    wrote = [line for text in outputs for line in text.splitlines() if " wrote " in line]
    names = [line.split(" wrote ")[1].split(" ")[0] for line in wrote]
    files = files_in(tmp_path / "data" / "csv")
    assert sorted(names) == files and len(files) >= 5


def test_sigkill_during_a_rollup_leaves_the_old_file_or_the_new_one(tmp_path):
    """A real process killed at random moments mid-write: never a partial CSV."""
    settings = settings_for(tmp_path, interval_sec=30)
    samples = samples_between(ms(2024, 12, 31, 6), ms(2025, 1, 1, 6), 30_000)
    fill(settings, samples)
    target = tmp_path / "data" / "csv" / "2025-01-01_daily.csv"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"old file\r\n")
    rng = random.Random(4)
    caught_mid_write = 0
    for _ in range(3):
        child = luxlog(tmp_path, "rollup", "daily", "--date", "2025-01-01")
        deadline = time.monotonic() + 5
        while not temp_path(target).exists() and child.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.001)
        time.sleep(rng.uniform(0, 0.05))
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
            caught_mid_write += 1
        child.communicate(timeout=5)
        data = target.read_bytes()
        if data != b"old file\r\n":
            assert data.endswith(b"\r\n")
            assert len(data.split(b"\r\n")) == 1 + len(samples) + 1
    assert caught_mid_write >= 2
    done = luxlog(tmp_path, "rollup", "daily", "--date", "2025-01-01")
    assert done.wait(timeout=9) == 0
    rows = rows_of(target)
    assert len(rows) == 1 + len(samples)
    assert rows[-1][0] == "2025-01-01T06:59:30+01:00"
    assert not temp_path(target).exists()
