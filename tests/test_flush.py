"""luxlog flush: every sample exactly once, whatever is killed when; failures keep the spool.

The crash tests run the real command (``python -m luxlog flush``) in subprocesses and
SIGKILL it, while another process keeps appending like polls do.
"""

from __future__ import annotations

import logging
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from dumps import DUMPS, vectors
from helpers import settings_in

from luxlog.cache import Cache
from luxlog.config import Settings
from luxlog.errors import Busy, StorageError
from luxlog.flush import flush
from luxlog.locks import cache_lock_path, hold
from luxlog.sample import Sample
from luxlog.simulator import HeatPumpModel, load_capture
from luxlog.spool import Spool, decode_line, encode_line

START = 1_764_115_200_000  # 2025-11-26T00:00:00Z
HOST = "192.168.1.50:8889"


def make_settings(root: Path, *, timeout_sec: int = 5) -> Settings:
    return settings_in(root, timeout_sec=timeout_sec)


def trace(count: int, *, start_ms: int = START, seed: int = 0) -> list[Sample]:
    """Polls every 30 s from the simulator's model of a real capture."""
    model = HeatPumpModel(load_capture(), seed=seed, start_ms=start_ms)
    samples = []
    for i in range(count):
        calculations, parameters = model.read(start_ms + i * 30_000)
        samples.append(Sample(start_ms + i * 30_000, HOST, calculations, parameters))
    return samples


def spool(settings: Settings, samples: list[Sample]) -> None:
    target = Spool(settings.spool_dir)
    for sample in samples:
        target.append(sample)


def spool_at_once(settings: Settings, samples: list[Sample]) -> None:
    """The same lines polls append one by one, written in one go (without an fsync each)."""
    target = Spool(settings.spool_dir)
    target.directory.mkdir(parents=True, exist_ok=True)
    with target.current.open("ab") as handle:
        handle.write(b"".join(map(encode_line, samples)))


def spooled(settings: Settings) -> list[Sample]:
    """Every parseable sample still in the spool (current file and segments)."""
    found = []
    for path in sorted(settings.spool_dir.glob("*.jsonl")):
        for line in path.read_bytes().splitlines():
            if line.strip():
                found.append(decode_line(line))
    return sorted(found, key=lambda s: s.timestamp_ms)


def cached(settings: Settings) -> list[Sample]:
    with Cache.open(settings.cache_path, readonly=True) as cache:
        return list(cache.query(-(2**62), 2**62))


def run_flush(settings: Settings, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "luxlog", "flush"],
        env=flush_env(settings),
        capture_output=True,
        text=True,
        timeout=8,
        check=False,
        **kwargs,
    )


def flush_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUXLOG_")}
    env["LUXLOG_DATA_DIR"] = str(settings.data_dir)
    env["LUXLOG_TIMEOUT_SEC"] = str(settings.timeout_sec)
    return env


# -- the normal case -------------------------------------------------------------------


def test_nothing_to_flush_creates_nothing(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    result = flush(settings)
    assert (result.segments, result.samples_read, result.bad_lines) == (0, 0, [])
    assert not settings.cache_path.exists()


@pytest.mark.parametrize("dump", DUMPS)
def test_real_captures_round_trip_through_spool_and_flush(tmp_path: Path, dump: str) -> None:
    calculations, parameters = vectors(dump)
    samples = [
        Sample(START + i * 30_000, HOST, tuple(v + i for v in calculations), tuple(parameters))
        for i in range(5)
    ]
    settings = make_settings(tmp_path)
    spool(settings, samples)
    result = flush(settings)
    assert (result.segments, result.samples_read, result.samples_added) == (1, 5, 5)
    assert cached(settings) == samples
    assert Spool(settings.spool_dir).segments() == []


def test_flush_twice_and_a_segment_left_behind_by_a_crash(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    samples = trace(300)
    spool_at_once(settings, samples)
    # Rotate by hand and keep a copy: the state a flush killed between COMMIT and the
    # deletion of the segment leaves behind.
    (segment,) = Spool(settings.spool_dir).take()
    copy = tmp_path / "copy.jsonl"
    shutil.copy(segment, copy)
    first = flush(settings)
    assert (first.samples_added, first.duplicates) == (300, 0)
    assert flush(settings).samples_read == 0
    shutil.copy(copy, segment)
    again = flush(settings)
    assert (again.samples_read, again.samples_added, again.duplicates) == (300, 0, 300)
    assert cached(settings) == samples


def test_progress_reports_lines_up_to_the_total(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    spool_at_once(settings, trace(700))
    Spool(settings.spool_dir).take()
    spool(settings, trace(10, start_ms=START + 86_400_000))
    calls: list[tuple[int, int]] = []
    flush(settings, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (710, 710)
    assert all(total == 710 for _, total in calls)
    dones = [done for done, _ in calls]
    assert dones == sorted(dones) and len(calls) >= 4  # several batches, two segments


MEASURED_FLUSH = """
import resource
from luxlog.config import load
from luxlog.flush import flush
settings = load()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result = flush(settings)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(result.samples_added, (after - before) * 1024)
"""


def test_backlog_in_bounded_memory(tmp_path: Path) -> None:
    # Growth of the peak resident size over the flush, in a fresh child process (so the
    # test's own memory does not count; tracemalloc would be precise but ten times slower).
    settings = make_settings(tmp_path)
    spool_at_once(settings, trace(1440))
    done = subprocess.run(
        [sys.executable, "-c", MEASURED_FLUSH],
        env=flush_env(settings),
        capture_output=True,
        text=True,
        timeout=8,
        check=True,
    )
    added, growth = map(int, done.stdout.split())
    assert added == 1440
    # Measured on x86_64: ~16 MB with batches (one batch of vectors plus SQLite's page
    # cache), ~40 MB when a day's 1,440 samples are held at once.
    assert growth < 28_000_000, growth


# -- bad lines -------------------------------------------------------------------------


def test_bad_lines_are_quarantined_and_the_rest_ingested(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path)
    samples = trace(6)
    spool(settings, samples[:2])
    current = Spool(settings.spool_dir).current
    with current.open("ab") as handle:
        handle.write(b'{"hello": "a foreign line"}\n')
        handle.write(b"\xff\xfe not even utf-8\n")
    spool(settings, samples[2:4])
    with current.open("ab") as handle:
        handle.write(b'{"v":1,"t":"2025-11-26T00:03:00.000Z","host":"x","calc":[1,2')  # torn
    spool(settings, samples[4:])  # the writer ends the torn line before its own
    with current.open("ab") as handle:
        handle.write(b'{"v":1,"t":"2025-11-26T00:05:00.000Z"')  # torn at the very end

    with caplog.at_level(logging.WARNING, logger="luxlog.flush"):
        result = flush(settings)

    assert result.samples_added == 6
    assert cached(settings) == samples
    assert [(line, reason.split(" ")[0]) for _, line, reason in result.bad_lines] == [
        (3, "unknown"),  # valid JSON, but not a spool record
        (4, "not"),  # not JSON at all
        (7, "not"),  # torn, then completed by the next writer's newline
        (10, "torn"),  # torn and still the last line
    ]
    (segment_name,) = {name for name, _, _ in result.bad_lines}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 4
    assert all(segment_name in w and "quarantine" in w for w in warnings)
    assert "line 10: torn line" in warnings[3]
    quarantined = (Spool(settings.spool_dir).quarantine_dir / segment_name).read_text()
    assert len(quarantined.splitlines()) == 4 and "a foreign line" in quarantined


def test_bad_lines_exit_zero_from_the_command(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    spool(settings, trace(3))
    with Spool(settings.spool_dir).current.open("ab") as handle:
        handle.write(b"garbage\n")
    completed = run_flush(settings)
    assert completed.returncode == 0, completed.stderr
    assert "line 4: not JSON" in completed.stderr and "WARNING" in completed.stderr
    assert len(cached(settings)) == 3


# -- failures keep the spool -----------------------------------------------------------


def test_corrupt_cache_exits_7_and_keeps_the_spool(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    samples = trace(50)
    spool(settings, samples)
    settings.cache_path.write_bytes(b"definitely not a database " * 200)
    completed = run_flush(settings)
    assert completed.returncode == 7, completed.stderr
    errors = [line for line in completed.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and str(settings.cache_path) in errors[0] and "corrupt" in errors[0]
    assert spooled(settings) == samples
    # Once the file is moved aside, the next flush catches up with everything.
    settings.cache_path.rename(tmp_path / "corrupt.sqlite3")
    assert run_flush(settings).returncode == 0
    assert cached(settings) == samples and spooled(settings) == []


def test_cache_directory_that_cannot_exist_exits_7(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    samples = trace(5)
    spool(settings, samples)
    blocker = tmp_path / "file"
    blocker.write_text("a file where a directory should be")
    env = flush_env(settings) | {"LUXLOG_CACHE_PATH": str(blocker / "cache.sqlite3")}
    completed = subprocess.run(
        [sys.executable, "-m", "luxlog", "flush"],
        env=env,
        capture_output=True,
        text=True,
        timeout=8,
        check=False,
    )
    assert completed.returncode == 7, completed.stderr
    assert "cannot create directory" in completed.stderr
    assert spooled(settings) == samples


def _limit_file_size(limit: int) -> None:
    # In the child only: writes beyond `limit` bytes fail with EFBIG, as on a full disk.
    # (Python ignores SIGXFSZ, so the write returns an error instead of killing us.)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_disk_full_mid_flush_exits_7_and_the_next_flush_catches_up(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    history = trace(120, start_ms=START - 86_400_000)
    spool_at_once(settings, history)
    flush(settings)
    samples = trace(720)  # three batches: the limit is hit after the first commits
    spool_at_once(settings, samples)
    limit = settings.cache_path.stat().st_size + 8192
    completed = run_flush(settings, preexec_fn=lambda: _limit_file_size(limit))
    assert completed.returncode == 7, completed.stderr
    assert str(settings.cache_path) in completed.stderr
    # Some batches may have committed before the disk "filled up"; the spool still has
    # all of them, and the next flush adds each sample exactly once.
    assert spooled(settings) == samples
    assert run_flush(settings).returncode == 0
    assert cached(settings) == history + samples


def test_cache_lock_held_past_timeout_exits_5_without_touching_the_spool(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, timeout_sec=1)
    samples = trace(5)
    spool(settings, samples)
    with hold(cache_lock_path(settings.data_dir), timeout=1, what="the cache"):
        process = subprocess.Popen(
            [sys.executable, "-m", "luxlog", "flush"],
            env=flush_env(settings),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        with pytest.raises(Busy):
            flush(settings)  # a second lock holder in this process is refused too
        code = process.wait(timeout=8)  # both waited their 1 s at the same time
        stderr = process.stderr.read()  # type: ignore[union-attr]
    assert code == 5, stderr
    assert "the cache is in use" in stderr
    assert Spool(settings.spool_dir).current.exists()  # not even rotated
    assert spooled(settings) == samples


def test_storage_error_in_process_leaves_segment(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    spool(settings, trace(5))
    settings.cache_path.mkdir(parents=True)  # a directory where the file should be
    with pytest.raises(StorageError, match="cannot be opened"):
        flush(settings)
    assert len(Spool(settings.spool_dir).segments()) == 1


# -- concurrency and crashes -----------------------------------------------------------


def test_concurrent_flushes_never_double(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, timeout_sec=1)
    samples = trace(1500)
    spool_at_once(settings, samples)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "luxlog", "flush"],
            env=flush_env(settings),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(3)
    ]
    codes = [proc.wait(timeout=8) for proc in procs]
    # Each one either waited its turn (0) or gave up after timeout_sec (5).
    assert set(codes) <= {0, 5} and 0 in codes, codes
    assert run_flush(settings).returncode == 0
    assert cached(settings) == samples


APPENDER = """
import sys, time
from pathlib import Path
from luxlog.locks import hold, spool_lock_path
from luxlog.sample import Sample
from luxlog.simulator import HeatPumpModel, load_capture
from luxlog.spool import Spool

data, count, start = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
model = HeatPumpModel(load_capture(), seed=0, start_ms=start)
spool = Spool(data / "spool")
for i in range(count):
    at = start + i * 30_000
    calculations, parameters = model.read(at)
    with hold(spool_lock_path(data), timeout=30, what="the spool"):
        spool.append(Sample(at, sys.argv[4], calculations, parameters))
    time.sleep(0.002)
"""


def test_sigkilled_flushes_while_polls_append_lose_and_double_nothing(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, timeout_sec=30)
    rng = random.Random(20261126)
    # A backlog, so that the first flushes are killed in the middle of real work: before
    # the first commit, between batches (segment still there) and after the last.
    backlog = trace(600, start_ms=START - 600 * 30_000)
    spool_at_once(settings, backlog)
    appended = 150
    appender = subprocess.Popen(
        [sys.executable, "-c", APPENDER, str(settings.data_dir), str(appended), str(START), HOST]
    )
    # Bounded by time, not by a count that assumes a machine's speed: at least four
    # rounds, then as many as fit in about a second while the appender runs.
    kills = rounds = 0
    deadline = time.monotonic() + 1.0
    try:
        while rounds < 4 or (time.monotonic() < deadline and appender.poll() is None):
            rounds += 1
            proc = subprocess.Popen(
                [sys.executable, "-m", "luxlog", "flush"],
                env=flush_env(settings),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            # Odd rounds kill during start-up or the first batch, so some kills land
            # however fast the machine is; even rounds later, often after a commit.
            time.sleep(rng.uniform(0.02, 0.15) if rounds % 2 else rng.uniform(0.1, 0.5))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            assert proc.wait(timeout=5) in (0, -signal.SIGKILL)
        assert appender.wait(timeout=8) == 0
    finally:
        if appender.poll() is None:
            appender.kill()
    final = run_flush(settings)
    assert final.returncode == 0, final.stderr
    assert kills >= 2, (kills, rounds)
    assert cached(settings) == backlog + trace(appended)
    assert spooled(settings) == []
    quarantine = Spool(settings.spool_dir).quarantine_dir
    assert not quarantine.exists() or not any(quarantine.iterdir())
