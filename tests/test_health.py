"""Health report: facts from files only, each --check reason on its own, never a write."""

from __future__ import annotations

import json
import os
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from luxlog import health
from luxlog import products as rollups
from luxlog.cache import Cache
from luxlog.config import Settings
from luxlog.disk import Usage
from luxlog.errors import StorageError
from luxlog.health import Gap, build_report, longest_gap
from luxlog.locks import cache_lock_path, hold, spool_lock_path
from luxlog.sample import Sample
from luxlog.simulator import HeatPumpModel, load_capture
from luxlog.spool import encode_line, format_timestamp
from luxlog.windows import KINDS

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
NOW = int(datetime(2026, 2, 4, 12, tzinfo=UTC).timestamp() * 1000)  # a Wednesday, 12:00Z
HOST = "192.168.1.50:8889"
_MODEL = HeatPumpModel(load_capture(), seed=3, start_ms=NOW)
CALC, PARAM = _MODEL.read(NOW)


def make_settings(root: Path, **changes: object) -> Settings:
    data = root / "data"
    values: dict[str, object] = {
        "host": "192.168.1.50",
        "data_dir": data,
        "cache_path": data / "cache.sqlite3",
        "spool_dir": data / "spool",
        "output_dirs": (data / "csv",),
        "timezone": "UTC",
        "csv_time": "07:00",
        "interval_sec": 30,
    }
    values.update(changes)
    return Settings(**values)  # type: ignore[arg-type]


def sample(at_ms: int) -> Sample:
    return Sample(at_ms, HOST, CALC, PARAM)


def every_30s(start_ms: int, end_ms: int) -> list[int]:
    return list(range(start_ms, end_ms, 30_000))


def write_spool(path: Path, stamps: list[int], tail: bytes = b"") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(encode_line(sample(t)) for t in stamps) + tail)


def fill_cache(settings: Settings, stamps: list[int]) -> None:
    with Cache.open(settings.cache_path) as cache:
        cache.add_many(sample(t) for t in stamps)


def mark_rollups(settings: Settings, *, now_ms: int = NOW, status: str = "written") -> None:
    """Record every window ``rollup due`` would write as done, as the roll-up job does."""
    schedule = rollups.schedule_for(settings)
    with Cache.open(settings.cache_path) as cache:
        span = cache.time_range()
        assert span is not None
        windows = schedule.pending(
            now_ms=now_ms,
            first_ms=span[0],
            lookback_days=rollups.lookback_days(settings),
            done=set(),
        )
        for kind in KINDS:
            records = {
                w.day.isoformat(): rollups.Record(
                    status, 2870, 0.9965, (), "", w.end_ms + 60_000
                ).to_json()
                for w in windows
                if w.kind == kind
            }
            cache.set_state(rollups.STATE_KEYS[kind], json.dumps(records))
        cache.set_state(rollups.LAST_DUE_KEY, json.dumps({"at_ms": NOW - 5 * HOUR_MS}))


def set_record(settings: Settings, kind: str, day: str, record: rollups.Record | None) -> None:
    with Cache.open(settings.cache_path) as cache:
        records = json.loads(cache.get_state(rollups.STATE_KEYS[kind]) or "{}")
        if record is None:
            records.pop(day)
        else:
            records[day] = record.to_json()
        cache.set_state(rollups.STATE_KEYS[kind], json.dumps(records))


def roomy(path: Path) -> Usage:
    return Usage("/", 100_000_000_000, 40_000_000_000, 60_000_000_000)


@pytest.fixture(scope="module")
def healthy_template(tmp_path_factory):
    """Built once per module: 8,640 samples cost ~0.4 s to encode, a copy milliseconds."""
    root = tmp_path_factory.mktemp("healthy")
    settings = make_settings(root)
    fill_cache(settings, every_30s(NOW - 3 * DAY_MS, NOW - 120_000))
    write_spool(settings.spool_dir / "current.jsonl", every_30s(NOW - 120_000, NOW - 10_000))
    mark_rollups(settings)
    return root / "data"


@pytest.fixture
def healthy(tmp_path, healthy_template):
    """Three days at 30 s in the cache, the last two minutes in the spool, roll-ups done:
    real files, each test with a copy of its own."""
    shutil.copytree(healthy_template, tmp_path / "data")
    return make_settings(tmp_path)


def report_for(settings: Settings, **kwargs):
    kwargs.setdefault("now_ms", NOW)
    kwargs.setdefault("probe", roomy)
    return build_report(settings, **kwargs)


def test_healthy_installation(healthy):
    report = report_for(healthy)
    assert report.reasons == ()
    assert report.healthy and not report.empty
    pump = report.heatpump
    assert pump.address == "192.168.1.50:8889"
    assert pump.last_poll_ms == every_30s(NOW - 120_000, NOW - 10_000)[-1]
    assert pump.firmware == "V1.80"
    assert pump.failed_polls_24h == 0
    assert pump.longest_gap is not None and pump.longest_gap.seconds == 30  # polls every 30 s
    assert report.spool.pending_samples == 4 and report.spool.pending_exact
    assert report.spool.oldest_pending_ms == NOW - 120_000
    cache = report.cache
    assert cache.samples == 3 * 2880 - 4 and cache.integrity == "ok"
    assert cache.schema_version is not None and cache.bytes_per_poll
    daily, weekly = report.rollups.kinds
    assert daily.last_written is not None and daily.last_written.isoformat() == "2026-02-04"
    assert daily.next_due_ms == NOW + 19 * HOUR_MS  # tomorrow 07:00
    assert weekly.next_due_ms == NOW + 5 * DAY_MS - 5 * HOUR_MS  # Monday 07:00
    assert [c.coverage for c in report.rollups.coverage[:3]] == [0.9965, 0.9965, 0.9965]
    assert report.rollups.coverage[-1].status is None  # before the first sample


def test_new_installation_says_so_and_creates_nothing(tmp_path):
    settings = make_settings(tmp_path)
    report = report_for(settings)
    assert report.empty
    assert report.reasons == (
        "no successful poll yet: neither the spool nor the cache holds a sample",
    )
    data = report.to_json()
    assert data["cache"]["exists"] is False and data["cache"]["integrity"] == "no cache"
    assert data["heatpump"]["last_poll"] is None and data["heatpump"]["longest_gap_24h"] is None
    assert data["rollups"]["last_run"] is None
    assert data["rollups"]["daily"]["last_written"] is None
    assert data["rollups"]["daily"]["next_due"] == "2026-02-05T07:00:00.000Z"
    assert list(tmp_path.iterdir()) == []  # nothing created, not even data_dir


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(path.relative_to(root)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_status_changes_no_file_and_takes_no_lock(healthy, tmp_path):
    health_dir = healthy.data_dir
    (healthy.spool_dir / "poll-failures.jsonl").write_bytes(b"")
    with (
        hold(cache_lock_path(health_dir), timeout=1, what="test"),
        hold(spool_lock_path(health_dir), timeout=1, what="test"),
    ):
        before = snapshot(health_dir)
        began = time.perf_counter()
        report = report_for(healthy)
        assert time.perf_counter() - began < 1.0
    assert report.healthy
    after = snapshot(health_dir)
    # SQLite's reader companions may appear next to the cache; they hold no data.
    companions = {"cache.sqlite3-wal", "cache.sqlite3-shm"}
    assert {k: v for k, v in after.items() if k not in companions} == {
        k: v for k, v in before.items() if k not in companions
    }


# -- each --check reason on its own --------------------------------------------------------


def test_reason_stale_poll(healthy):
    report = report_for(healthy, now_ms=NOW + 70_000)
    (reason,) = report.reasons
    assert reason == (
        "last successful poll 100 s ago (2026-02-04T11:59:30.000Z), "
        "more than 3 x interval_sec (90 s)"
    )
    assert report_for(healthy, now_ms=NOW + 60_000).healthy  # 90 s: still fine


def test_reason_disk_over_threshold(healthy):
    def full(path: Path) -> Usage:
        return Usage("/mnt/data", 100, 90, 10)

    (reason,) = report_for(healthy, probe=full).reasons
    assert reason.startswith("disk /mnt/data is 90% full (threshold 90%); it holds spool ")
    assert "cache " in reason and "csv " in reason


def test_reason_spool_not_flushed(healthy):
    write_spool(healthy.spool_dir / "segment-000000000000001.jsonl", [NOW - HOUR_MS - 1000])
    report = report_for(healthy)
    (reason,) = report.reasons
    assert reason.startswith("spool not flushed for over an hour: oldest pending sample is from")
    assert report.spool.segments == 1 and report.spool.pending_samples == 5


def test_spool_an_hour_old_is_still_fine(healthy):
    write_spool(healthy.spool_dir / "segment-000000000000001.jsonl", [NOW - HOUR_MS])
    assert report_for(healthy).healthy


def test_reason_rollup_overdue(healthy):
    set_record(healthy, "daily", "2026-02-04", None)  # due at 07:00 today, 5 h ago
    report = report_for(healthy)
    (reason,) = report.reasons
    assert reason.startswith("roll-up 2026-02-04_daily.csv overdue: due at 2026-02-04T07:00")
    assert report.to_json()["rollups"]["daily"]["next_due"] == "2026-02-04T07:00:00.000Z"


def test_rollup_due_within_the_hour_is_not_overdue(healthy):
    set_record(healthy, "daily", "2026-02-04", None)
    early = report_for(healthy, now_ms=NOW - 4 * HOUR_MS - 60_000)  # 07:59, due 07:00
    assert not any("roll-up" in reason for reason in early.reasons)
    assert early.rollups.kinds[0].next_due_ms == NOW - 5 * HOUR_MS


def test_reason_rollup_failed(healthy):
    failed = rollups.Record("failed", 0, 0.0, ("/nas",), "No space left on device", NOW - HOUR_MS)
    set_record(healthy, "weekly", "2026-02-02", failed)
    report = report_for(healthy)
    (reason,) = report.reasons  # failed, not also "overdue"
    assert reason == (
        "roll-up 2026-02-02_weekly.csv failed at 2026-02-04T11:00:00.000Z: No space left on device"
    )


def test_several_overdue_and_failed_are_one_line_each(healthy):
    set_record(healthy, "daily", "2026-02-03", None)
    set_record(healthy, "daily", "2026-02-04", None)
    for day in ("2026-02-01", "2026-02-02"):
        set_record(healthy, "daily", day, rollups.Record("failed", error="boom", at_ms=NOW))
    reasons = report_for(healthy).reasons
    assert len(reasons) == 2
    assert reasons[0].startswith("roll-up 2026-02-03_daily.csv and 1 more overdue")
    assert reasons[1].endswith("boom (1 more failed)")


def test_reason_cache_integrity(healthy, monkeypatch):
    monkeypatch.setattr(Cache, "integrity_check", lambda self, quick=True: ["row 3 missing"])
    report = report_for(healthy)
    (reason,) = report.reasons
    assert reason == f"cache {healthy.cache_path} failed its integrity check: row 3 missing"
    assert report.to_json()["cache"]["integrity"] == "failed"


def test_reason_cache_unreadable(tmp_path):
    settings = make_settings(tmp_path)
    write_spool(settings.spool_dir / "current.jsonl", [NOW - 10_000])
    settings.cache_path.write_bytes(b"this is not a database at all" * 200)
    report = report_for(settings)
    (reason,) = report.reasons
    assert reason.startswith("cache unreadable: cache ")
    data = report.to_json()["cache"]
    assert data["integrity"] == "unreadable" and data["problems"] and data["size_bytes"] == 5800


def test_reason_rollup_bookkeeping_unreadable(healthy, monkeypatch):
    def broken(cache: Cache) -> None:
        raise StorageError("cache is corrupt: state")

    monkeypatch.setattr(rollups, "load_records", broken)
    (reason,) = report_for(healthy).reasons
    assert reason == "roll-up bookkeeping unreadable: cache is corrupt: state"


# -- the facts ---------------------------------------------------------------------------


def test_longest_gap_counts_the_edges_and_ignores_outside_samples():
    assert longest_gap([], start_ms=0, end_ms=100) == Gap(0, 100)
    assert longest_gap([10, 20, 90], start_ms=0, end_ms=100) == Gap(20, 90)
    assert longest_gap([-50, 5, 10, 200], start_ms=0, end_ms=100) == Gap(10, 100)
    assert longest_gap([50, 50], start_ms=0, end_ms=60) == Gap(0, 50)
    assert longest_gap([1], start_ms=5, end_ms=5) is None
    assert Gap(0, 1500).seconds == 1.5


def test_gap_merges_cache_and_spool(tmp_path):
    settings = make_settings(tmp_path)
    hole_start, hole_end = NOW - 3 * HOUR_MS, NOW - 3 * HOUR_MS + 600_000
    fill_cache(settings, every_30s(NOW - 2 * DAY_MS, hole_start + 1))
    write_spool(
        settings.spool_dir / "segment-000000000000002.jsonl", every_30s(hole_end, NOW - HOUR_MS)
    )
    write_spool(settings.spool_dir / "current.jsonl", every_30s(NOW - HOUR_MS, NOW))
    gap = report_for(settings).heatpump.longest_gap
    assert gap == Gap(hole_start, hole_end)


def test_gap_of_a_young_installation_starts_at_its_first_sample(tmp_path):
    settings = make_settings(tmp_path)
    write_spool(settings.spool_dir / "current.jsonl", every_30s(NOW - 600_000, NOW - 60_000))
    assert report_for(settings).heatpump.longest_gap == Gap(NOW - 90_000, NOW)


def test_failed_polls_in_the_last_24_hours(tmp_path):
    settings = make_settings(tmp_path)
    path = settings.spool_dir / "poll-failures.jsonl"
    path.parent.mkdir(parents=True)

    def note(at_ms: int, error: str) -> str:
        return json.dumps({"t": format_timestamp(at_ms), "host": HOST, "error": error}) + "\n"

    old = "".join(note(NOW - 3 * DAY_MS + i * 1000, "old") for i in range(3000))  # ~300 kB
    recent = note(NOW - 23 * HOUR_MS, "refused") + "junk\n" + note(NOW - HOUR_MS, "timed out")
    path.write_text(old + note(NOW - 25 * HOUR_MS, "old") + recent + '{"t":"torn')
    pump = report_for(settings).heatpump
    assert pump.failed_polls_24h == 2
    assert pump.last_failure_ms == NOW - HOUR_MS and pump.last_failure_error == "timed out"
    assert report_for(settings).to_json()["heatpump"]["last_failure"] == {
        "at": "2026-02-04T11:00:00.000Z",
        "error": "timed out",
    }


def test_failures_file_unreadable_counts_nothing(tmp_path):
    settings = make_settings(tmp_path)
    (settings.spool_dir / "poll-failures.jsonl").mkdir(parents=True)
    assert report_for(settings).heatpump.failed_polls_24h == 0


def test_spool_counts_torn_and_quarantined_lines(tmp_path):
    settings = make_settings(tmp_path)
    write_spool(settings.spool_dir / "current.jsonl", every_30s(NOW - 300_000, NOW), b'{"v":1,"t')
    quarantine = settings.spool_dir / "quarantine"
    quarantine.mkdir()
    (quarantine / "segment-1.jsonl").write_text('{"line":1}\n{"line":2}\n')
    (quarantine / "segment-2.jsonl").write_text('{"line":3}\n')
    (quarantine / "segment-3.tmp").write_text("half\n")
    spool = report_for(settings).spool
    assert spool.pending_samples == 10  # the torn tail is not a sample
    assert spool.quarantined_lines == 3
    assert spool.size_bytes == (settings.spool_dir / "current.jsonl").stat().st_size


def test_a_huge_backlog_is_estimated_not_read(tmp_path, monkeypatch):
    settings = make_settings(tmp_path)
    first = every_30s(NOW - 2 * HOUR_MS, NOW - HOUR_MS)
    write_spool(settings.spool_dir / "segment-000000000000001.jsonl", first)
    write_spool(
        settings.spool_dir / "segment-000000000000002.jsonl",
        every_30s(NOW - HOUR_MS, NOW - 1800_000),
    )
    write_spool(settings.spool_dir / "current.jsonl", every_30s(NOW - 1800_000, NOW))
    line = len(encode_line(sample(NOW)))
    monkeypatch.setattr(health, "SPOOL_SCAN_BYTES", 80 * line)
    spool = report_for(settings).spool
    assert not spool.pending_exact
    assert abs(spool.pending_samples - 240) < 24
    assert spool.oldest_pending_ms == first[0]  # still exact: read from the head


def test_firmware_and_address_from_the_cache_when_the_spool_is_empty(tmp_path):
    settings = make_settings(tmp_path, host="")
    fill_cache(settings, every_30s(NOW - HOUR_MS, NOW - 1000))
    pump = report_for(settings).heatpump
    assert pump.firmware == "V1.80" and pump.address == HOST


def test_json_shape_is_stable(healthy):
    data = report_for(healthy).to_json()
    assert set(data) == {
        "version", "generated", "healthy", "empty", "reasons",
        "heatpump", "spool", "cache", "rollups", "disks", "backups",
    }  # fmt: skip
    assert data["version"] == 1
    assert set(data["heatpump"]) == {
        "address", "last_poll", "last_poll_age_sec", "stale_after_sec", "failed_polls_24h",
        "last_failure", "longest_gap_24h", "firmware", "future_sample",
    }  # fmt: skip
    assert set(data["heatpump"]["longest_gap_24h"]) == {"seconds", "start", "end"}
    assert set(data["spool"]) == {
        "path", "pending_samples", "pending_exact", "bytes", "segments", "oldest_pending",
        "oldest_pending_age_sec", "quarantined_lines", "quarantine_newest_reason",
    }  # fmt: skip
    assert set(data["cache"]) == {
        "path", "exists", "size_bytes", "samples", "oldest", "newest", "bytes_per_poll",
        "schema_version", "integrity", "problems",
    }  # fmt: skip
    assert set(data["rollups"]) == {"last_run", "error", "daily", "weekly", "coverage"}
    for kind in ("daily", "weekly"):
        assert set(data["rollups"][kind]) == {
            "last_written", "last_file", "written_at", "next_due", "overdue", "failed",
        }  # fmt: skip
    assert data["rollups"]["daily"]["last_file"] == "2026-02-04_daily.csv"
    assert set(data["rollups"]["coverage"][0]) == {"day", "status", "percent", "partial"}
    assert data["rollups"]["coverage"][0]["partial"] is False
    assert data["rollups"]["coverage"][0]["percent"] == 99.7
    (disk,) = data["disks"]
    assert set(disk) == {
        "volume", "percent", "threshold_percent", "over", "total_bytes", "used_bytes",
        "free_bytes", "holds",
    }  # fmt: skip
    assert disk["percent"] == 40.0 and disk["over"] is False
    assert [h["purpose"] for h in disk["holds"]] == ["spool", "cache", "csv"]
    assert json.loads(json.dumps(data)) == data  # plain JSON types only


def test_status_counts_three_days_of_samples(tmp_path):
    # Its speed on a 365-day cache is measured by bench/status.py, not asserted here.
    settings = make_settings(tmp_path)
    fill_cache(settings, every_30s(NOW - 3 * DAY_MS, NOW - 60_000))
    report = report_for(settings)
    assert report.cache.samples == 3 * 2880 - 2


def test_readonly_cache_open_error_is_not_a_crash(tmp_path, monkeypatch):
    settings = make_settings(tmp_path)
    fill_cache(settings, [NOW - 1000])
    os.chmod(settings.cache_path, 0o644)
    monkeypatch.setattr(Cache, "stats", lambda self: (_ for _ in ()).throw(StorageError("boom")))
    report = report_for(settings)
    assert report.cache.error == "boom"
    assert "cache unreadable: boom" in report.reasons
