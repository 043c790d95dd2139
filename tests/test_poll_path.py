"""The poll path under pressure (issue 12, items 4 and 6): short replies, lock contention
that eats the budget, and signals from the first instant. Real simulator over loopback,
real locks, and real subprocesses for the signals."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers import pump_env, settings_in
from typer.testing import CliRunner

import luxlog.poll
from luxlog.cli import app
from luxlog.errors import Busy, ProtocolError
from luxlog.flush import flush
from luxlog.heatpump.client import read_raw
from luxlog.locks import heatpump_lock_path, hold, spool_lock_path
from luxlog.poll import failures_path, poll
from luxlog.simulator import Simulator, load_capture
from luxlog.spool import Spool

runner = CliRunner()


def short_capture(calculations: int = 20, parameters: int | None = None) -> object:
    capture = load_capture()
    return dataclasses.replace(
        capture,
        calculations=capture.calculations[:calculations],
        parameters=capture.parameters[:parameters],
    )


@pytest.mark.parametrize(
    ("calculations", "parameters", "expected"),
    [(20, None, "only 20 calculations"), (200, 300, "only 300 parameters")],
)
def test_a_well_formed_but_short_reply_is_a_misbehaving_controller(
    tmp_path: Path, calculations: int, parameters: int | None, expected: str
) -> None:
    with Simulator(capture=short_capture(calculations, parameters), dynamic=False) as pump:  # type: ignore[arg-type]
        with pytest.raises(ProtocolError, match=expected):
            read_raw("127.0.0.1", pump.port, timeout=2)
        result = runner.invoke(app, ["poll"], env=pump_env(tmp_path, pump.port))
    assert result.exit_code == 4, result.output
    assert expected in result.stderr
    spool = Spool(tmp_path / "data" / "spool")
    assert not spool.current.exists()  # nothing stored as a sample
    assert expected in failures_path(settings_in(tmp_path)).read_text()


def test_heatpump_lock_won_too_late_is_busy_not_a_heatpump_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "Too late" made 1 s, so a timer that fires late on a loaded machine still lands in
    # the window between "too late to read" and "never got the lock".
    monkeypatch.setattr(luxlog.poll, "MIN_ATTEMPT_SEC", 1.0)
    with Simulator() as pump:
        settings = settings_in(tmp_path, host="127.0.0.1", port=pump.port, interval_sec=5)
        lock = heatpump_lock_path(settings.data_dir, settings.host, settings.port)
        taken, release = threading.Event(), threading.Event()

        def other_poll() -> None:
            with hold(lock, timeout=1, what="test"):
                taken.set()
                release.wait(2)

        holder = threading.Thread(target=other_poll)
        holder.start()
        taken.wait(2)
        # 1.2 s of budget left; the other process lets go after 0.3 s: too late to read.
        started = time.monotonic() - 5 + luxlog.poll.SAFETY_MARGIN_SEC + 1.2
        threading.Timer(0.3, release.set).start()
        with pytest.raises(Busy, match="too little of this poll's interval"):
            poll(settings, started=started)
        holder.join()
        assert time.monotonic() < started + 5
    note = json.loads(failures_path(settings).read_text())
    assert "in use by another luxlog process" in note["error"]


def test_spool_lock_held_too_long_keeps_the_sample_in_a_segment_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(luxlog.poll, "SAFETY_MARGIN_SEC", 0.25)
    with Simulator() as pump:
        settings = settings_in(tmp_path, host="127.0.0.1", port=pump.port, interval_sec=5)
        started = time.monotonic() - 4.35  # 0.4 s left to read, 0.6 s to the next poll
        with hold(spool_lock_path(settings.data_dir), timeout=1, what="a stuck flush"):
            sample = poll(settings, started=started)
            finished = time.monotonic()
    assert finished <= started + 5, finished - started  # never past the interval
    spool = Spool(settings.spool_dir)
    (segment,) = spool.segments()
    assert segment.name.endswith(f"-p{os.getpid()}.jsonl")
    assert not spool.current.exists()
    assert "the sample was written to" in caplog.text
    assert not [p for p in settings.spool_dir.iterdir() if p.name.endswith(".tmp")]
    assert flush(settings).samples_added == 1
    from luxlog.cache import Cache

    with Cache.open(settings.cache_path, readonly=True) as cache:
        assert list(cache.query(0, 2**62)) == [sample]


def _catches(pid: int, signum: int) -> bool:
    """Whether process ``pid`` has installed a handler for ``signum`` (Linux /proc)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    for line in status.splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    return False


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_from_the_first_instant_exits_130_and_writes_nothing_half(
    tmp_path: Path, signum: int
) -> None:
    """Signals at increasing delays from the moment luxlog's code runs: always 130."""
    with Simulator(fault="hang") as pump:  # a poll that would wait for its timeout
        env = {**os.environ, **pump_env(tmp_path, pump.port)}
        delays = iter((0.0, 0.003, 0.01, 0.03))
        deadline = time.monotonic() + 2
        for delay in delays:
            if time.monotonic() > deadline:
                break  # bounded by time, not by count, on a loaded machine
            process = subprocess.Popen(
                [sys.executable, "-m", "luxlog", "poll"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            give_up = time.monotonic() + 5
            # Python handles SIGINT from its start; SIGTERM is caught once luxlog runs.
            # A start slower than that (a loaded machine, coverage) is waited for rather
            # than signalled early: SIGTERM before the handler is the default action.
            while not _catches(process.pid, signal.SIGTERM):
                if time.monotonic() > give_up:
                    process.kill()
                    process.communicate()
                    pytest.fail("luxlog did not install its SIGTERM handler within 5 s")
                time.sleep(0.0005)
            time.sleep(delay)
            process.send_signal(signum)
            _, stderr = process.communicate(timeout=5)
            assert process.returncode == 130, (delay, process.returncode, stderr)
            assert "Traceback" not in stderr, stderr
    current = tmp_path / "data" / "spool" / "current.jsonl"
    assert not current.exists() or current.read_bytes().endswith(b"\n")


def test_the_entry_point_handles_signals_before_importing_anything_of_luxlog(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import luxlog.start

    installed: list[tuple[int, bool]] = []

    class Stop(Exception):
        pass

    def record(signum: int, handler: object) -> None:
        installed.append((signum, "luxlog.launcher" in sys.modules))
        if signum == signal.SIGTERM:
            raise Stop

    monkeypatch.delitem(sys.modules, "luxlog.launcher", raising=False)
    monkeypatch.setattr(signal, "signal", record)
    with pytest.raises(Stop):
        luxlog.start.main()
    assert installed == [(signal.SIGINT, False), (signal.SIGTERM, False)]
    exits: list[int] = []
    monkeypatch.setattr(os, "_exit", exits.append)
    luxlog.start._early(signal.SIGTERM, None)
    assert exits == [130]


def test_a_sample_that_cannot_be_kept_anywhere_is_a_storage_failure_within_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from luxlog.errors import StorageError

    monkeypatch.setattr(luxlog.poll, "SAFETY_MARGIN_SEC", 0.25)
    with Simulator() as pump:
        settings = settings_in(
            tmp_path, host="127.0.0.1", port=pump.port, interval_sec=5, spool_dir=tmp_path / "f"
        )
        (tmp_path / "f").write_text("a file where the spool folder should be")
        started = time.monotonic() - 4.45
        with (
            hold(spool_lock_path(settings.data_dir), timeout=1, what="a stuck flush"),
            pytest.raises(StorageError, match="sample read but not spooled: the spool is in use"),
        ):
            poll(settings, started=started)
        assert time.monotonic() <= started + 5
