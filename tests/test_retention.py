"""Retention: exactly the expired luxlog files go, the bytes add up, nothing else is touched."""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from helpers import settings_in
from typer.testing import CliRunner

from luxlog import retention
from luxlog.cache import Cache
from luxlog.cli import app
from luxlog.config import Settings
from luxlog.errors import Busy
from luxlog.locks import cache_lock_path, hold
from luxlog.retention import Listing, local_date, plan, prune, roll_up_date, scan
from luxlog.sample import Sample
from luxlog.spool import format_timestamp

DAY_MS = 86_400_000
# 2026-02-01T12:00:00Z
NOW = int(datetime(2026, 2, 1, 12, tzinfo=UTC).timestamp() * 1000)
runner = CliRunner()


def make_settings(root: Path, **changes: object) -> Settings:
    values: dict[str, object] = {"output_dirs": (root / "data" / "csv", root / "nas")}
    values.update(timezone="Europe/Berlin", timeout_sec=1)
    return settings_in(root, **{**values, **changes})


def write(path: Path, size: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    return path


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    """Every entry under ``root`` (symlinks not followed): kind and size."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            kind = "link" if path.is_symlink() else "dir" if path.is_dir() else "file"
            size = path.lstat().st_size if kind == "file" else 0
            found[str(path.relative_to(root))] = (kind, size)
    return found


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("2026-01-01_daily.csv", date(2026, 1, 1)),
        ("2026-01-05_weekly.csv", date(2026, 1, 5)),
        (".2026-01-01_daily.csv.tmp", date(2026, 1, 1)),  # a killed roll-up's temp file
        ("2026-01-01_daily.csv.tmp", None),
        (".2026-01-01_daily.csv", None),
        ("2026-02-30_daily.csv", None),
        ("2026-01-01_daily.CSV", None),
        ("x2026-01-01_daily.csv", None),
        ("2026-01-01_daily.csv.bak", None),
        ("2026-01-01_monthly.csv", None),
        ("2026-01-01_report.html", date(2026, 1, 1)),  # the daily report, same rule
        (".2026-01-01_report.html.tmp", date(2026, 1, 1)),
        ("2026-01_summary.csv", None),  # monthly summaries are kept
        ("2026-01-01_report.htm", None),
        ("2026-1-1_daily.csv", None),
        ("notes.txt", None),
    ],
)
def test_only_luxlog_names_carry_a_date(name, expected):
    assert roll_up_date(name) == expected


def test_plan_boundary_is_retention_days_before_the_local_date(tmp_path):
    settings = make_settings(tmp_path)
    listing = Listing(
        tmp_path,
        tuple(
            retention.CsvFile(tmp_path / f"{day}_daily.csv", day, 10)
            for day in [date(2025, 12, 31), date(2026, 1, 1), date(2026, 1, 2), date(2026, 2, 1)]
        ),
    )
    decided = plan(settings, [listing], now_ms=NOW)
    assert decided.keep_csv_from == date(2026, 1, 2)
    (entry,) = decided.dirs
    assert [f.day for f in entry.expired] == [date(2025, 12, 31), date(2026, 1, 1)]
    assert entry.kept == 2
    assert decided.cache_before_ms == NOW - 365 * DAY_MS
    assert decided.failures_before_ms == NOW - 30 * DAY_MS


def test_plan_uses_the_configured_time_zone_for_today(tmp_path):
    # 23:30 UTC on 31 January is already 1 February in Berlin.
    late = int(datetime(2026, 1, 31, 23, 30, tzinfo=UTC).timestamp() * 1000)
    assert local_date(late, "Europe/Berlin") == date(2026, 2, 1)
    assert local_date(late, "UTC") == date(2026, 1, 31)
    berlin = plan(make_settings(tmp_path), [], now_ms=late)
    utc = plan(make_settings(tmp_path, timezone="UTC"), [], now_ms=late)
    assert (berlin.keep_csv_from, utc.keep_csv_from) == (date(2026, 1, 2), date(2026, 1, 1))


@pytest.fixture
def installation(tmp_path):
    """Two output dirs full of luxlog files around the boundary, and things not ours."""
    settings = make_settings(tmp_path)
    csv, nas = settings.output_dirs
    expired = [
        write(csv / "2025-12-31_daily.csv", 1000),
        write(csv / "2026-01-01_daily.csv", 2345),
        write(csv / "2025-12-29_weekly.csv", 7000),
        write(csv / ".2025-12-30_daily.csv.tmp", 50),
        write(nas / "2026-01-01_daily.csv", 2345),
        write(nas / "2026-01-01_report.html", 500),
    ]
    kept = [
        write(csv / "2026-01-02_daily.csv", 1111),
        write(csv / "2026-02-01_daily.csv", 1111),
        write(csv / "2026-01-05_weekly.csv", 1111),
        write(nas / "2026-01-02_daily.csv", 1111),
    ]
    outside = write(tmp_path / "elsewhere" / "2020-01-01_daily.csv", 99)
    foreign = [
        write(csv / "notes.txt", 10),
        write(csv / "2020-01_summary.csv", 10),
        write(csv / "2020-01-01_daily.csv.bak", 10),
        write(csv / "2020-01-01_daily.xlsx", 10),
        write(csv / "archive" / "2020-01-01_daily.csv", 10),  # subfolders are not entered
        write(csv / "2020-01-03_daily.csv" / "inside.csv", 10),  # a folder with our name
    ]
    (csv / "2020-01-02_daily.csv").symlink_to(outside)  # a symlink with our name
    (csv / "2020-01-04_weekly.csv").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (csv / "2020-01-05_daily.csv").symlink_to(tmp_path / "dangling")
    return settings, expired, kept, foreign, outside


def test_prune_deletes_exactly_the_expired_luxlog_files(installation, tmp_path, caplog):
    settings, expired, kept, foreign, outside = installation
    before = snapshot(tmp_path)
    caplog.set_level("INFO", logger="luxlog")
    result = prune(settings, now_ms=NOW)
    after = snapshot(tmp_path)
    gone = {key for key in before if key not in after}
    assert gone == {str(path.relative_to(tmp_path)) for path in expired}
    assert all(after[key] == before[key] for key in after)  # nothing else changed at all
    assert all(path.exists() for path in [*kept, *foreign, outside])
    csv, nas = result.dirs
    assert (len(csv.deleted), csv.freed_bytes, csv.kept) == (4, 1000 + 2345 + 7000 + 50, 3)
    assert (len(nas.deleted), nas.freed_bytes, nas.kept) == (2, 2345 + 500, 1)
    assert result.problems == []
    messages = [r.getMessage() for r in caplog.records]
    assert (
        f"output dir {csv.directory}: deleted 4 roll-up file(s) dated before 2026-01-02, "
        "freed 10395 bytes (10.4 kB); 3 kept"
    ) in messages


def test_dry_run_deletes_nothing_and_reports_the_same(installation, tmp_path):
    settings, expired, *_ = installation
    before = snapshot(tmp_path)
    dry = prune(settings, now_ms=NOW, dry_run=True)
    assert snapshot(tmp_path) == before
    real = prune(settings, now_ms=NOW)
    assert [[f.path for f in d.deleted] for d in dry.dirs] == [
        [f.path for f in d.deleted] for d in real.dirs
    ]
    assert [d.freed_bytes for d in dry.dirs] == [d.freed_bytes for d in real.dirs]
    assert sorted(f.path for d in real.dirs for f in d.deleted) == sorted(expired)


def test_second_prune_finds_nothing(installation):
    settings, *_ = installation
    prune(settings, now_ms=NOW)
    again = prune(settings, now_ms=NOW)
    assert [d.deleted for d in again.dirs] == [[], []]


def test_missing_and_unreadable_dirs_are_reported_and_others_pruned(tmp_path, caplog):
    blocker = write(tmp_path / "blocker", 5)  # a file where a folder should be
    good = tmp_path / "good"
    old = write(good / "2020-01-01_daily.csv", 100)
    settings = make_settings(tmp_path, output_dirs=(tmp_path / "missing", blocker, good))
    caplog.set_level("INFO", logger="luxlog")
    result = prune(settings, now_ms=NOW)
    missing, unreadable, pruned = result.dirs
    assert missing.missing and not missing.problems
    assert unreadable.problems and "cannot read output dir" in unreadable.problems[0]
    assert result.problems == unreadable.problems
    assert not old.exists() and pruned.freed_bytes == 100
    assert blocker.read_bytes() == b"xxxxx"
    assert any("does not exist: nothing to prune" in r.getMessage() for r in caplog.records)


def test_scan_reports_an_unreadable_dir(tmp_path, monkeypatch):
    def refuse(path: object) -> object:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "scandir", refuse)
    assert scan(tmp_path) == Listing(tmp_path, error="Permission denied")


def test_a_file_that_cannot_be_deleted_is_a_problem_the_rest_still_go(tmp_path, monkeypatch):
    settings = make_settings(tmp_path)
    stuck = write(settings.output_dirs[0] / "2020-01-01_daily.csv", 10)
    other = write(settings.output_dirs[0] / "2020-01-02_daily.csv", 20)
    real_unlink = Path.unlink

    def unlink(self: Path, missing_ok: bool = False) -> None:
        if self == stuck:
            raise PermissionError(13, "Operation not permitted")
        real_unlink(self, missing_ok)

    monkeypatch.setattr(Path, "unlink", unlink)
    result = prune(settings, now_ms=NOW)
    assert result.problems == [f"cannot delete {stuck}: Operation not permitted"]
    assert stuck.exists() and not other.exists()
    assert result.dirs[0].freed_bytes == 20


def test_a_file_replaced_by_a_symlink_after_listing_is_left_alone(tmp_path):
    settings = make_settings(tmp_path)
    path = write(settings.output_dirs[0] / "2020-01-01_daily.csv", 10)
    listings = [scan(d) for d in settings.output_dirs]
    target = write(tmp_path / "precious", 7)
    path.unlink()
    path.symlink_to(target)
    result = retention.apply(settings, plan(settings, listings, now_ms=NOW))
    assert path.is_symlink() and target.exists()
    assert result.problems == []


def test_a_file_deleted_meanwhile_is_not_a_problem(tmp_path):
    settings = make_settings(tmp_path)
    path = write(settings.output_dirs[0] / "2020-01-01_daily.csv", 10)
    listings = [scan(d) for d in settings.output_dirs]
    path.unlink()
    assert retention.apply(settings, plan(settings, listings, now_ms=NOW)).problems == []


# -- the cache ---------------------------------------------------------------------------


def fill_cache(settings: Settings, days: int) -> list[int]:
    """One sample every 6 hours for ``days`` days before NOW."""
    stamps = [NOW - days * DAY_MS + i * DAY_MS // 4 for i in range(days * 4)]
    with Cache.open(settings.cache_path) as cache:
        cache.add_many(Sample(t, "h:1", (t % 1000, 5), (1, 2, 3)) for t in stamps)
    return stamps


def test_cache_samples_older_than_retention_are_trimmed(tmp_path):
    settings = make_settings(tmp_path, cache_retention_days=20)
    stamps = fill_cache(settings, 30)
    cut = NOW - 20 * DAY_MS
    expected = sum(1 for t in stamps if t < cut)
    dry = prune(settings, now_ms=NOW, dry_run=True)
    assert dry.cache_samples == expected
    # The dry run estimates the space a third of the samples frees: a third of the file.
    estimate = dry.cache_bytes_before - dry.cache_bytes_after
    assert estimate == dry.cache_bytes_before * expected // len(stamps) > 0
    with Cache.open(settings.cache_path, readonly=True) as cache:
        assert cache.count() == len(stamps)
    days = [datetime.fromtimestamp((NOW - n * DAY_MS) / 1000, tz=UTC).date() for n in range(30)]
    with Cache.open(settings.cache_path) as cache:  # day figures stored by `rollup due`
        for day in days:
            cache.set_state(f"figures:day:{day}", "{}")
        cache.set_state("rollup.daily", "{}")
    result = prune(settings, now_ms=NOW)
    assert result.cache_samples == expected
    with Cache.open(settings.cache_path, readonly=True) as cache:
        assert cache.count() == len(stamps) - expected
        assert cache.time_range()[0] >= cut
        kept = {day for day in days if cache.get_state(f"figures:day:{day}")}
        assert cache.get_state("rollup.daily") == "{}"  # other state untouched
    # The figures of days dated two days or more before the cut are gone, the rest kept.
    cut_day = datetime.fromtimestamp(cut / 1000, tz=UTC).date()
    assert kept == {day for day in days if day >= cut_day - timedelta(days=2)}
    assert len(kept) < len(days)


def test_prune_never_creates_a_cache(tmp_path):
    settings = make_settings(tmp_path)
    result = prune(settings, now_ms=NOW)
    assert result.cache_samples is None
    assert not settings.cache_path.exists()
    assert not (tmp_path / "data").exists()


def test_cache_trim_waits_for_the_cache_lock(tmp_path):
    settings = make_settings(tmp_path)
    fill_cache(settings, 2)
    old = write(settings.output_dirs[0] / "2020-01-01_daily.csv", 10)
    with (
        hold(cache_lock_path(settings.data_dir), timeout=1, what="test"),
        pytest.raises(Busy, match="the cache is in use"),
    ):
        prune(settings, now_ms=NOW)
    assert not old.exists()  # roll-ups were pruned before the cache was tried


# -- failed-poll notes ---------------------------------------------------------------------


def note(at_ms: int, error: str = "no answer") -> bytes:
    return (
        json.dumps({"t": format_timestamp(at_ms), "host": "h:1", "error": error}).encode() + b"\n"
    )


def test_failure_notes_older_than_csv_retention_are_dropped(tmp_path):
    settings = make_settings(tmp_path)
    path = settings.spool_dir / "poll-failures.jsonl"
    old = [note(NOW - 40 * DAY_MS), note(NOW - 30 * DAY_MS - 1)]
    recent = [note(NOW - 30 * DAY_MS), note(NOW - DAY_MS)]
    path.parent.mkdir(parents=True)
    path.write_bytes(b"".join([*old[:1], b"junk\n", *old[1:], *recent]) + b'{"t":"torn')
    dry = prune(settings, now_ms=NOW, dry_run=True)
    assert (dry.failures_dropped, dry.failures_kept) == (3, 2)
    assert path.read_bytes().startswith(old[0])
    result = prune(settings, now_ms=NOW)
    assert (result.failures_dropped, result.failures_kept) == (3, 2)
    assert path.read_bytes() == b"".join(recent) + b'{"t":"torn'  # torn tail kept for polls
    assert not list(path.parent.glob(".*.tmp"))
    assert prune(settings, now_ms=NOW).failures_dropped == 0


def test_failure_notes_appended_during_the_rewrite_are_kept(tmp_path, monkeypatch):
    settings = make_settings(tmp_path)
    path = settings.spool_dir / "poll-failures.jsonl"
    path.parent.mkdir(parents=True)
    path.write_bytes(note(NOW - 40 * DAY_MS) + note(NOW - DAY_MS))
    late = note(NOW)
    real_hold = retention.hold

    @contextmanager
    def hold_after_a_poll(*args, **kwargs):
        with path.open("ab") as handle:  # a poll got the lock first and appended
            handle.write(late)
        with real_hold(*args, **kwargs):
            yield

    monkeypatch.setattr(retention, "hold", hold_after_a_poll)
    prune(settings, now_ms=NOW)
    assert path.read_bytes() == note(NOW - DAY_MS) + late


def test_failure_notes_replaced_during_the_rewrite_are_read_again(tmp_path, monkeypatch):
    settings = make_settings(tmp_path)
    path = settings.spool_dir / "poll-failures.jsonl"
    path.parent.mkdir(parents=True)
    path.write_bytes(note(NOW - 40 * DAY_MS) + note(NOW - DAY_MS))
    real_hold = retention.hold

    @contextmanager
    def hold_after_another_prune(*args, **kwargs):
        replacement = path.with_name("other")
        replacement.write_bytes(note(NOW - 50 * DAY_MS) + note(NOW - 2 * DAY_MS))
        replacement.replace(path)
        with real_hold(*args, **kwargs):
            yield

    monkeypatch.setattr(retention, "hold", hold_after_another_prune)
    result = prune(settings, now_ms=NOW)
    assert path.read_bytes() == note(NOW - 2 * DAY_MS)
    assert (result.failures_dropped, result.failures_kept) == (1, 1)


def test_unreadable_failure_notes_are_a_problem_not_a_crash(tmp_path):
    settings = make_settings(tmp_path)
    (settings.spool_dir / "poll-failures.jsonl").mkdir(parents=True)  # a folder: unreadable
    result = prune(settings, now_ms=NOW)
    assert len(result.problems) == 1 and "cannot read" in result.problems[0]


def test_failure_rewrite_error_is_reported_and_leaves_no_temp(tmp_path, monkeypatch):
    settings = make_settings(tmp_path)
    path = settings.spool_dir / "poll-failures.jsonl"
    path.parent.mkdir(parents=True)
    path.write_bytes(note(NOW - 40 * DAY_MS) + note(NOW - DAY_MS))

    def fail(self: Path, target: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "replace", fail)
    result = prune(settings, now_ms=NOW)
    assert result.problems == [f"cannot rewrite {path}: No space left on device"]
    assert path.read_bytes() == note(NOW - 40 * DAY_MS) + note(NOW - DAY_MS)
    assert not list(path.parent.glob(".*.tmp"))


# -- the command -------------------------------------------------------------------------


def today() -> date:
    return datetime.now(UTC).date()


def test_cli_dry_run_lists_and_keeps(tmp_path):
    old = write(tmp_path / "data" / "csv" / f"{today() - timedelta(days=31)}_daily.csv", 10)
    fresh = write(tmp_path / "data" / "csv" / f"{today() - timedelta(days=30)}_daily.csv", 10)
    env = {"LUXLOG_DATA_DIR": str(tmp_path / "data")}
    result = runner.invoke(app, ["-v", "prune", "--dry-run"], env=env)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [str(old)]
    assert (
        "would delete 1 roll-up file(s)" in result.stderr and "would free 10 bytes" in result.stderr
    )
    assert old.exists() and fresh.exists()
    quiet = runner.invoke(app, ["prune", "--dry-run"], env=env)  # as cron runs it
    assert (quiet.exit_code, quiet.stderr) == (0, "")
    result = runner.invoke(app, ["-v", "prune"], env=env)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "deleted 1 roll-up file(s)" in result.stderr and "freed 10 bytes (10 B)" in result.stderr
    assert not old.exists() and fresh.exists()


def test_cli_exits_7_when_an_output_dir_cannot_be_read(tmp_path):
    write(tmp_path / "blocker", 1)
    good = tmp_path / "good"
    old = write(good / f"{today() - timedelta(days=40)}_weekly.csv", 10)
    env = {
        "LUXLOG_DATA_DIR": str(tmp_path / "data"),
        "LUXLOG_OUTPUT_DIRS": f"{tmp_path / 'blocker'},{good}",
    }
    result = runner.invoke(app, ["prune"], env=env)
    assert result.exit_code == 7, result.output
    assert "cannot read output dir" in result.stderr
    assert "prune left 1 problem(s)" in result.stderr
    assert not old.exists()


def test_a_retention_of_0_keeps_csvs_and_samples_forever(tmp_path):
    settings = make_settings(tmp_path, csv_retention_days=0, cache_retention_days=0)
    ancient = write(tmp_path / "data" / "csv" / "2001-01-01_daily.csv", 10)
    stamps = [NOW - day * DAY_MS for day in range(4000, 0, -30)]  # eleven years, monthly
    with Cache.open(settings.cache_path) as cache:
        cache.add_many(Sample(t, "h:1", (1, 5), (1, 2, 3)) for t in stamps)
    old_note = note(NOW - 400 * DAY_MS)
    failures = settings.spool_dir / "poll-failures.jsonl"
    write(failures, 0).write_bytes(old_note + note(NOW - DAY_MS))
    result = prune(settings, now_ms=NOW)
    assert result.problems == [] and result.cache_samples == 0
    assert ancient.exists()
    with Cache.open(settings.cache_path, readonly=True) as cache:
        assert cache.count() == len(stamps)
    # Failure notes are small but not free: kept a year when CSVs are kept forever.
    assert failures.read_bytes() == note(NOW - DAY_MS)


def test_due_catches_up_without_limit_when_kept_forever(tmp_path):
    from luxlog.products import lookback_days

    assert lookback_days(make_settings(tmp_path, csv_retention_days=0)) == 365
    forever = make_settings(tmp_path, csv_retention_days=0, cache_retention_days=0)
    assert lookback_days(forever) > 100 * 365
