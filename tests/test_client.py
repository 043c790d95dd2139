"""The heat-pump client and the poll job against the simulator over real loopback TCP."""

from __future__ import annotations

import json
import logging
import time

import pytest
from dumps import DUMPS, vectors

from luxlog.config import load
from luxlog.errors import Busy, HeatPumpError, ProtocolError
from luxlog.heatpump import catalogue, protocol
from luxlog.heatpump.client import get_all_sensors, read_raw, read_with_retries
from luxlog.locks import heatpump_lock_path, hold
from luxlog.poll import failures_path, poll
from luxlog.simulator import Simulator
from luxlog.spool import Spool


def settings_for(tmp_path, simulator, **extra):
    env = {
        "LUXLOG_HOST": "127.0.0.1",
        "LUXLOG_PORT": str(simulator.port),
        "LUXLOG_DATA_DIR": str(tmp_path / "data"),
        "LUXLOG_INTERVAL_SEC": "5",
        "LUXLOG_RETRIES": "0",
    }
    env.update({f"LUXLOG_{k.upper()}": str(v) for k, v in extra.items()})
    return load(None, environ=env)


def spooled(settings):
    spool = Spool(settings.spool_dir)
    if not spool.current.exists():
        return []
    return [json.loads(line) for line in spool.current.read_text().splitlines()]


@pytest.mark.parametrize("dump", DUMPS)
def test_real_captures_round_trip_exactly(dump):
    calcs, params = vectors(dump)
    with Simulator(capture=dump, dynamic=False) as simulator:
        raw = read_raw("127.0.0.1", simulator.port, timeout=3)
    assert list(raw.calculations) == calcs
    assert list(raw.parameters) == params
    assert raw.status == 0
    values = catalogue.values(raw.calculations, raw.parameters)
    assert values["ID_WEB_Temperatur_TVL"] == calcs[10] / 10
    assert simulator.write_attempts == 0


def test_fragmented_replies_are_read_exactly():
    calcs, params = vectors(DUMPS[0])
    with Simulator(dynamic=False, fault="fragmented") as simulator:
        raw = read_raw("127.0.0.1", simulator.port, timeout=8)
    assert list(raw.calculations) == calcs and list(raw.parameters) == params


@pytest.mark.parametrize(
    ("fault", "error", "message"),
    [
        ("refuse", HeatPumpError, "cannot connect"),
        ("close-mid-array", ProtocolError, "connection closed mid-reply"),
        ("hang", HeatPumpError, "no answer while reading parameters"),
        ("short-length", HeatPumpError, "no answer while reading"),
        ("slow", HeatPumpError, "time budget used up|no answer"),
    ],
)
def test_each_fault_is_an_error_within_the_timeout(fault, error, message):
    with Simulator(fault=fault, slow_delay=0.2) as simulator:
        started = time.monotonic()
        with pytest.raises(error, match=message):
            read_raw("127.0.0.1", simulator.port, timeout=0.25)
        assert time.monotonic() - started < 0.25 + 1.0  # the timeout, plus room for load


def test_garbage_is_rejected_never_logged():
    with Simulator(fault="garbage") as simulator:
        messages = set()
        for _ in range(3):  # the simulator rotates through its kinds of garbage
            with pytest.raises(ProtocolError) as caught:
                read_raw("127.0.0.1", simulator.port, timeout=1.0)
            messages.add(str(caught.value).split(": ", 1)[1][:20])
    assert len(messages) >= 2


def test_retries_log_each_attempt_and_stay_in_budget(caplog):
    # A 1 s budget: attempt 1 fails at once, the 1 s back-off is cut to 0.75 s so that a
    # last attempt still fits, and no third attempt starts with under 0.25 s left.
    with Simulator(fault="refuse") as simulator:
        caplog.set_level(logging.WARNING, logger="luxlog")
        started = time.monotonic()
        with pytest.raises(HeatPumpError, match=r"after 2 attempt\(s\)"):
            read_with_retries(
                "127.0.0.1", simulator.port, deadline=started + 1.0, timeout_sec=1, retries=5
            )
        elapsed = time.monotonic() - started
    assert 0.7 < elapsed < 1.0 + 0.5  # generous upper margin for a loaded machine
    attempts = [r.getMessage() for r in caplog.records if "attempt" in r.getMessage()]
    assert [m.split(": ")[1].split(" ")[1] for m in attempts] == ["1/6", "2/6"]
    assert all(f"127.0.0.1:{simulator.port}" in m for m in attempts)


def test_retry_succeeds_after_a_transient_failure(caplog):
    # The first connection gets a reply cut off mid-array; the controller recovers while
    # the client backs off, so the second attempt returns the whole, correct reply.
    calcs, params = vectors(DUMPS[0])
    pauses: list[float] = []
    with Simulator(dynamic=False, fault="close-mid-array") as simulator:

        def recover(seconds: float) -> None:
            pauses.append(seconds)
            simulator.fault = None

        caplog.set_level(logging.WARNING, logger="luxlog")
        raw = read_with_retries(
            "127.0.0.1",
            simulator.port,
            deadline=time.monotonic() + 5,
            timeout_sec=1,
            retries=2,
            sleep=recover,
        )
        connections = simulator.connections
    assert list(raw.calculations) == calcs and list(raw.parameters) == params
    assert pauses == [1.0] and connections == 2
    attempts = [r.getMessage() for r in caplog.records if r.name == "luxlog.heatpump"]
    assert len(attempts) == 1 and "attempt 1/3 failed" in attempts[0], attempts


def test_poll_appends_one_line_and_never_writes(tmp_path):
    with Simulator() as simulator:
        settings = settings_for(tmp_path, simulator)
        first = poll(settings)
        second = poll(settings)
    lines = spooled(settings)
    assert len(lines) == 2
    assert lines[0]["calc"] == list(first.calculations)
    assert lines[1]["host"] == settings.address
    assert second.timestamp_ms >= first.timestamp_ms
    assert simulator.commands[protocol.CMD_WRITE_PARAMETER] == 0
    assert simulator.write_attempts == 0
    assert set(simulator.commands) == {protocol.CMD_PARAMETERS, protocol.CMD_CALCULATIONS}


def test_luxlog_cannot_build_a_write_request():
    with pytest.raises(ValueError, match="only sends read commands"):
        protocol.encode_request(protocol.CMD_WRITE_PARAMETER)


def test_hanging_heat_pump_ends_within_the_interval_with_no_spool_line(tmp_path):
    with Simulator(fault="hang") as simulator:
        settings = settings_for(tmp_path, simulator, retries=3, timeout_sec=60)
        # The poll "started" 4 s ago (interval 5 s): the hang must end inside the last
        # second of the interval, despite 3 retries and a 60 s read timeout.
        started = time.monotonic() - 4
        with pytest.raises(HeatPumpError, match="no valid answer"):
            poll(settings, started=started)
        assert time.monotonic() - started < 5.0
    assert spooled(settings) == []
    failures = [json.loads(x) for x in failures_path(settings).read_text().splitlines()]
    assert len(failures) == 1 and "no valid answer" in failures[0]["error"]


def test_poll_waits_for_the_heat_pump_lock_then_gives_up(tmp_path):
    with Simulator() as simulator:
        settings = settings_for(tmp_path, simulator)
        lock = heatpump_lock_path(settings.data_dir, settings.host, settings.port)
        with hold(lock, timeout=1, what="test"), pytest.raises(Busy, match="in use"):
            poll(settings, started=time.monotonic() - 4)  # 0.5 s of budget left
        assert simulator.connections == 0
    assert spooled(settings) == []
    assert "in use" in failures_path(settings).read_text()


def test_get_all_sensors_returns_numbers_only():
    calcs, _params = vectors(DUMPS[1])
    with Simulator(capture=DUMPS[1], dynamic=False) as simulator:
        values = get_all_sensors("127.0.0.1", simulator.port, timeout=3)
    assert values["ID_WEB_Temperatur_TA"] == calcs[15] / 10 == -4.0
    assert values["ID_WEB_WMZ_Heizung"] == 8772.7
    assert values["ID_WEB_Code_WP_akt"] == 58  # selection as its code
    assert all(isinstance(v, int | float) for v in values.values())
    assert "ID_WEB_Temperatur_TWE" not in values or calcs[19] != -500
    assert len(values) > 1200


def test_simulate_command_serves_until_terminated(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    process = subprocess.Popen(
        [sys.executable, "-m", "luxlog", "simulate", "--port", "0", "--capture", DUMPS[1]],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stderr.readline()
        assert "listening on 127.0.0.1:" in line, line
        port = int(line.rsplit(":", 1)[1].split()[0])
        raw = read_raw("127.0.0.1", port, timeout=3)
        assert len(raw.calculations) == len(vectors(DUMPS[1])[0])
    finally:
        os.kill(process.pid, signal.SIGTERM)
        assert process.wait(timeout=5) == 0
    assert "simulator stopped" in process.stderr.read()
