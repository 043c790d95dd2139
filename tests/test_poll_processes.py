"""Real `luxlog poll` processes: killed at random moments, terminated, run side by side."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

from luxlog.simulator import Simulator
from luxlog.spool import SegmentRead, Spool


def environment(tmp_path, port, **extra):
    env = {
        **os.environ,
        "LUXLOG_HOST": "127.0.0.1",
        "LUXLOG_PORT": str(port),
        "LUXLOG_DATA_DIR": str(tmp_path / "data"),
        "LUXLOG_INTERVAL_SEC": "5",
        "LUXLOG_RETRIES": "0",
    }
    env.update(extra)
    return env


def start_poll(env):
    return subprocess.Popen(
        [sys.executable, "-m", "luxlog", "poll"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def read_everything(spool_dir):
    spool = Spool(spool_dir)
    samples, bad = [], []
    for segment in spool.take():
        report = SegmentRead(segment)
        samples.extend(spool.read(segment, report))
        bad.extend(report.bad_lines)
    return samples, bad


def test_sigkill_at_random_moments_never_breaks_the_spool(tmp_path):
    # Bounded by time, not by a count: a slow machine kills fewer polls, never times out.
    rng = random.Random(7)
    with Simulator(fault="fragmented") as simulator:  # slow enough to be killed mid-read
        env = environment(tmp_path, simulator.port)
        rounds = completed = 0
        stop_at = time.monotonic() + 0.7
        while rounds < 3 or time.monotonic() < stop_at:
            process = start_poll(env)
            time.sleep(rng.uniform(0.05, 0.3))
            process.kill()
            rounds += 1
            if process.wait() == 0:
                completed += 1
    with Simulator() as healthy:  # the next poll, against a prompt controller, succeeds
        final = start_poll(environment(tmp_path, healthy.port))
        assert final.wait(timeout=8) == 0, final.stderr.read()  # type: ignore[union-attr]
    samples, bad = read_everything(tmp_path / "data" / "spool")
    # Every complete line is a sample; at most the killed writers' torn lines are bad.
    assert len(samples) >= completed + 1
    assert len(bad) <= rounds - completed
    stamps = [s.timestamp_ms for s in samples]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)


def test_a_torn_line_left_by_a_killed_poll_is_handled_by_the_next_poll(tmp_path):
    spool_dir = tmp_path / "data" / "spool"
    spool_dir.mkdir(parents=True)
    (spool_dir / "current.jsonl").write_bytes(b'{"v":1,"t":"2026-11-26T18:30:00.000Z","calc":[1,2')
    with Simulator() as simulator:
        done = start_poll(environment(tmp_path, simulator.port))
        assert done.wait(timeout=8) == 0
    samples, bad = read_everything(spool_dir)
    assert len(samples) == 1 and [n for n, _ in bad] == [1]


def test_sigterm_abandons_the_sample_cleanly(tmp_path):
    with Simulator(fault="hang") as simulator:
        process = start_poll(environment(tmp_path, simulator.port))
        deadline = time.monotonic() + 5
        while simulator.connections == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=5)
        stderr = process.stderr.read().decode()  # type: ignore[union-attr]
    assert code == 130, stderr
    assert "stopped by SIGTERM" in stderr
    assert not (tmp_path / "data" / "spool" / "current.jsonl").exists()


def test_overlapping_polls_never_talk_to_the_heat_pump_at_once(tmp_path):
    with Simulator(fault="slow", slow_delay=0.002) as simulator:
        env = environment(tmp_path, simulator.port)
        processes = [start_poll(env) for _ in range(3)]
        codes = [p.wait(timeout=9) for p in processes]
        assert simulator.connections == 3
        assert simulator.max_busy == 1  # one exchange at a time (the lock is handed on)
    assert codes == [0, 0, 0]
    samples, bad = read_everything(tmp_path / "data" / "spool")
    assert len(samples) == 3 and bad == []


def test_every_fault_mode_exits_with_the_right_code_and_notes_the_failure(tmp_path):
    # One real `luxlog poll` process per fault mode, all at once (each has its own
    # simulator and data folder). A 1 s read timeout ends the broken ones quickly; that
    # the interval bounds a poll whatever the timeout is tested in-process (test_client).
    from contextlib import ExitStack

    from luxlog.simulator import FAULT_MODES

    with ExitStack() as stack:
        runs = {}
        for fault in FAULT_MODES:
            pump = stack.enter_context(Simulator(fault=fault, slow_delay=0.5))
            folder = tmp_path / fault
            # A correct but fragmented reply gets the default timeout: it must succeed.
            timeout = {} if fault == "fragmented" else {"LUXLOG_TIMEOUT_SEC": "1"}
            started = time.monotonic()
            process = start_poll(environment(folder, pump.port, **timeout))
            runs[fault] = (process, started, folder)
        results = {}
        for fault, (process, started, folder) in runs.items():
            code = process.wait(timeout=8)
            results[fault] = (code, time.monotonic() - started, folder)
    for fault, (code, elapsed, folder) in results.items():
        spool = folder / "data" / "spool" / "current.jsonl"
        lines = spool.read_text().count("\n") if spool.exists() else 0
        if fault == "fragmented":  # slow to arrive but correct: a valid sample
            assert (code, lines) == (0, 1), fault
        else:
            assert (code, lines) == (4, 0), fault
            assert (folder / "data" / "spool" / "poll-failures.jsonl").exists(), fault
        assert elapsed < 6.0, (fault, elapsed)  # interval_sec 5, plus process start-up
