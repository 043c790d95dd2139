"""The simulator against real sockets: byte-exact replays, the day model, every fault."""

from __future__ import annotations

import _thread
import itertools
import logging
import random
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from luxlog.heatpump.protocol import encode_request
from luxlog.simulator import (
    CAPTURES,
    DYNAMIC_CALCULATIONS,
    FAULT_MODES,
    NOT_FITTED,
    Capture,
    HeatPumpModel,
    Simulator,
    load_capture,
)

DATA = Path(__file__).parent / "data"
COOLCHIP = "coolchip-2017-V1.80-L1A"
BOUNI = "bouni-2016-V3.78-MSW6"
START_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z: midwinter, the pump works hard
DAY_MS = 86_400_000

Serve = Callable[..., Simulator]

# --------------------------------------------------------------------------- helpers


def txt_raw(dump: str) -> dict[str, list[int]]:
    """The raw int32 column of a capture's .txt, per section (P, C, V)."""
    tables: dict[str, list[int]] = {"P": [], "C": [], "V": []}
    for line in (DATA / f"{dump}.txt").read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        section, index, raw = line.split("\t")[:3]
        assert int(index) == len(tables[section])
        tables[section].append(int(raw))
    return tables


def bin_reply(command: int) -> bytes:
    return (DATA / COOLCHIP / f"{command}.bin").read_bytes()


def recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError(f"EOF after {len(data)} of {size} bytes")
        data += chunk
    return data


def read_reply(sock: socket.socket, command: int) -> bytes:
    """One whole reply, header included, trusting the header's length."""
    head = recv_exact(sock, 12 if command == 3004 else 8)
    length = struct.unpack(">i", head[-4:])[0]
    return head + recv_exact(sock, length * (1 if command == 3005 else 4))


def recv_until_eof(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def connect(sim: Simulator, timeout: float = 3.0) -> socket.socket:
    return socket.create_connection(sim.address, timeout=timeout)


def wait_for(condition: Callable[[], bool], timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start simulators on free loopback ports; all are stopped after the test."""
    started: list[Simulator] = []

    def make(**options: object) -> Simulator:
        sim = Simulator(**options).start()  # type: ignore[arg-type]
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


def day_of_reads(
    model: HeatPumpModel, start_ms: int = START_MS, days: float = 1, step_ms: int = 30_000
) -> list[tuple[int, tuple[int, ...], tuple[int, ...]]]:
    return [(at, *model.read(at)) for at in range(start_ms, start_ms + int(days * DAY_MS), step_ms)]


# --------------------------------------------------------------------------- captures


def test_coolchip_capture_is_the_wire_bytes_and_matches_the_txt() -> None:
    capture = load_capture(COOLCHIP)
    raw = txt_raw(COOLCHIP)
    assert list(capture.parameters) == raw["P"]
    assert list(capture.calculations) == raw["C"]
    assert list(capture.visibilities) == raw["V"]
    # And independently of the JSON: the .bin values decode to the same numbers.
    body = bin_reply(3004)[12:]
    assert struct.unpack(f">{len(body) // 4}i", body) == capture.calculations
    assert (capture.name, capture.firmware, capture.status) == (COOLCHIP, "V1.80", 0)
    assert capture.source.startswith("https://github.com/coolchip/luxtronik2")
    assert (len(capture.parameters), len(capture.calculations)) == (1086, 200)


def test_bouni_capture_matches_the_txt_raw_column() -> None:
    capture = load_capture(BOUNI)
    raw = txt_raw(BOUNI)
    assert list(capture.parameters) == raw["P"]
    assert list(capture.calculations) == raw["C"]
    assert list(capture.visibilities) == raw["V"]
    assert (capture.firmware, capture.status) == ("V3.78", 0)
    assert capture.calculations[15] == -40  # signed: -4.0 degC
    assert set(CAPTURES) == {COOLCHIP, BOUNI}


def test_unknown_capture_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match=COOLCHIP):
        load_capture("nope")


# --------------------------------------------------------------------------- model


def test_model_starts_as_the_capture() -> None:
    for name in CAPTURES:
        capture = load_capture(name)
        at = capture.calculations[134] * 1000
        calculations, parameters = HeatPumpModel(capture, start_ms=at).read(at)
        assert calculations == capture.calculations
        assert parameters == capture.parameters


def test_model_is_a_pure_function_of_seed_and_time() -> None:
    capture = load_capture(COOLCHIP)
    times = [START_MS + i * 997_000 for i in range(300)]  # ~3.5 days
    forwards = HeatPumpModel(capture, seed=7, start_ms=START_MS)
    expected = {at: forwards.read(at) for at in times}
    shuffled = list(times)
    random.Random(1).shuffle(shuffled)
    backwards = HeatPumpModel(capture, seed=7, start_ms=START_MS)
    assert {at: backwards.read(at) for at in reversed(times)} == expected
    again = HeatPumpModel(capture, seed=7, start_ms=START_MS)
    assert {at: again.read(at) for at in shuffled} == expected
    assert all(forwards.read(at) == expected[at] for at in shuffled)  # re-reading too
    other = HeatPumpModel(capture, seed=8, start_ms=START_MS)
    assert any(other.read(at) != expected[at] for at in times)


@pytest.mark.parametrize("name", CAPTURES)
def test_a_simulated_day_is_plausible(name: str) -> None:
    capture = load_capture(name)
    base = capture.calculations
    reads = day_of_reads(HeatPumpModel(capture, seed=3, start_ms=START_MS))

    for at, calculations, parameters in reads:
        assert len(calculations) == len(base)
        assert len(parameters) == len(capture.parameters)
        assert calculations[134] == at // 1000
        for index in range(len(base)):
            if index not in DYNAMIC_CALCULATIONS:
                assert calculations[index] == base[index], index
        running = calculations[44] == 1
        assert running == (calculations[117] == 0)  # status line 1: running / idle
        assert calculations[80] in ((0, 1) if running else (5,))
        assert calculations[119] == {0: 0, 1: 5, 5: 1}[calculations[80]]
        assert calculations[38] == (1 if calculations[80] == 1 else base[38])
        assert calculations[18] == parameters[2]
        for index in (10, 11, 12, 14, 17):  # flow, return, set return, hot gas, hot water
            assert 150 <= calculations[index] <= 950, (index, calculations[index])
        assert calculations[10] >= calculations[11]  # flow never colder than return
        assert abs(calculations[15] - base[15]) <= 200  # within 20 K of the capture
        for index in (19, 20):
            if base[index] == NOT_FITTED:
                assert calculations[index] == NOT_FITTED

    first, last = reads[0][1], reads[-1][1]
    counters = (56, 57, 63, 64, 65, 151, 152, 154)
    for (_, before, _), (_, after, _) in itertools.pairwise(reads):
        for index in counters:
            assert after[index] >= before[index], index
        assert abs(after[15] - before[15]) <= 4  # outdoor: 0.1-0.4 K steps, never jumps

    compressor = [c[44] for _, c, _ in reads]
    starts = sum(1 for a, b in itertools.pairwise(compressor) if (a, b) == (0, 1))
    assert 8 <= starts <= 30
    assert last[57] - first[57] == starts
    running_polls = sum(compressor)
    run_seconds = last[56] - first[56]
    assert abs(run_seconds - 30 * running_polls) <= 30 * starts
    assert last[63] - first[63] == run_seconds
    assert (last[64] - first[64]) + (last[65] - first[65]) == run_seconds
    assert last[151] > first[151]
    assert last[154] - first[154] == (last[151] - first[151]) + (last[152] - first[152])
    # Outdoor temperature follows the day: the afternoon is warmer than the small hours.
    by_hour = {(at // 3_600_000) % 24: c[15] for at, c, _ in reads}
    assert by_hour[15] > by_hour[3]


def test_hot_water_runs_heat_the_tank() -> None:
    model = HeatPumpModel(load_capture(BOUNI), seed=0, start_ms=START_MS)
    reads = day_of_reads(model, days=2)
    hot_water = [c for _, c, _ in reads if c[80] == 1]
    assert hot_water, "no hot-water run in two days"
    tank = [c[17] for _, c, _ in reads]
    assert min(tank) >= 380 and max(tank) <= 560


def test_parameters_change_rarely_and_only_the_hot_water_setpoint() -> None:
    capture = load_capture(COOLCHIP)
    model = HeatPumpModel(capture, seed=0, start_ms=START_MS)
    changes: list[int] = []
    previous = capture.parameters
    for at in range(START_MS, START_MS + 90 * DAY_MS, 600_000):
        parameters = model.parameters_at(at)
        if parameters != previous:
            changed = [
                i for i, (a, b) in enumerate(zip(parameters, previous, strict=True)) if a != b
            ]
            assert changed == [2]
            assert 400 <= parameters[2] <= 600
            changes.append(at)
        previous = parameters
    assert 3 <= len(changes) <= 30
    assert all(b - a >= DAY_MS for a, b in itertools.pairwise(changes))
    assert model.read(changes[0])[1] is model.parameters_at(changes[0])  # shared, not rebuilt


def test_before_the_start_counters_stay_at_the_capture() -> None:
    capture = load_capture(COOLCHIP)
    model = HeatPumpModel(capture, start_ms=START_MS)
    calculations, _ = model.read(START_MS - DAY_MS)
    assert calculations[56] == capture.calculations[56]
    assert calculations[134] == (START_MS - DAY_MS) // 1000


def test_model_refuses_a_capture_too_short_to_animate() -> None:
    capture = load_capture(COOLCHIP)
    short = Capture("short", "V0", "", capture.parameters, capture.calculations[:100], (), 0)
    with pytest.raises(ValueError, match="too short"):
        HeatPumpModel(short, start_ms=START_MS)


# --------------------------------------------------------------------------- serving


def test_static_replies_are_byte_identical_to_the_capture(serve: Serve) -> None:
    sim = serve(dynamic=False)
    with connect(sim) as sock:
        for command in (3003, 3004, 3005, 3004):  # many requests on one connection
            sock.sendall(encode_request(command))
            assert read_reply(sock, command) == bin_reply(command)
    assert wait_for(lambda: sim.active == 0)
    assert sim.connections == 1
    assert sim.commands == Counter({3004: 2, 3003: 1, 3005: 1})
    assert sim.write_attempts == 0


def test_a_capture_object_can_be_served(serve: Serve) -> None:
    sim = serve(capture=load_capture(BOUNI), dynamic=False)
    with connect(sim) as sock:
        sock.sendall(encode_request(3004))
        reply = read_reply(sock, 3004)
    assert struct.unpack(">iii", reply[:12]) == (3004, 0, 232)


def test_dynamic_replies_come_from_the_model_at_the_clock(serve: Serve) -> None:
    now = [START_MS]
    sim = serve(clock_ms=lambda: now[0], seed=5)
    assert sim.model is not None
    with connect(sim) as sock:
        for _ in range(2):
            now[0] += 3_600_000
            expected_calculations, expected_parameters = sim.model.read(now[0])
            sock.sendall(encode_request(3004))
            reply = read_reply(sock, 3004)
            assert struct.unpack(f">{len(reply) // 4 - 3}i", reply[12:]) == expected_calculations
            sock.sendall(encode_request(3003))
            reply = read_reply(sock, 3003)
            assert struct.unpack(f">{len(reply) // 4 - 2}i", reply[8:]) == expected_parameters


def test_dynamic_mode_runs_on_the_wall_clock(serve: Serve) -> None:
    sim = serve()
    with connect(sim) as sock:
        sock.sendall(encode_request(3004))
        reply = read_reply(sock, 3004)
    clock = struct.unpack(">i", reply[12 + 4 * 134 : 12 + 4 * 135])[0]
    assert abs(clock - time.time()) < 5


def test_the_real_luxtronik_library_reads_the_simulator(serve: Serve) -> None:
    luxtronik = pytest.importorskip("luxtronik")
    sim = serve(dynamic=False)
    pump = luxtronik.Luxtronik("127.0.0.1", sim.port)
    assert pump.calculations.get("ID_WEB_Temperatur_TVL").value == 34.2
    assert pump.calculations.get("ID_WEB_SoftStand").value == "V1.80"
    assert sim.commands == Counter({3003: 1, 3004: 1, 3005: 1})


def test_write_attempts_are_acknowledged_counted_and_ignored(serve: Serve) -> None:
    sim = serve(dynamic=False)
    with connect(sim) as sock:
        sock.sendall(struct.pack(">iii", 3002, 2, 650))  # as luxtronik writes a parameter
        assert recv_exact(sock, 8) == struct.pack(">ii", 3002, 650)
        sock.sendall(encode_request(3003))
        assert read_reply(sock, 3003) == bin_reply(3003)  # nothing changed
    assert sim.write_attempts == 1
    assert sim.commands[3002] == 1


def test_an_unknown_command_closes_the_connection(serve: Serve) -> None:
    sim = serve(dynamic=False)
    with connect(sim) as sock:
        sock.sendall(struct.pack(">ii", 4711, 0))
        assert recv_until_eof(sock) == b""
    assert sim.commands == Counter({4711: 1})


def test_busy_counts_overlapping_exchanges_not_lingering_sockets(serve: Serve) -> None:
    sim = serve(dynamic=False)
    for _ in range(3):  # one client after another, each hanging up after its reply
        with connect(sim) as sock:
            sock.sendall(encode_request(3005))
            assert read_reply(sock, 3005) == bin_reply(3005)
    assert sim.max_busy == 1
    # Two clients taking turns request by request: their exchanges overlap.
    with connect(sim) as first, connect(sim) as second:
        for _ in range(2):
            first.sendall(encode_request(3005))
            second.sendall(encode_request(3005))
            assert read_reply(first, 3005) == read_reply(second, 3005) == bin_reply(3005)
    assert sim.max_busy == 2


def test_stats_count_connections_and_concurrency(serve: Serve) -> None:
    sim = serve(dynamic=False)
    sockets = [connect(sim) for _ in range(3)]
    try:
        for sock in sockets:
            sock.sendall(encode_request(3005))
        for sock in sockets:
            assert read_reply(sock, 3005) == bin_reply(3005)
        assert sim.active == 3
    finally:
        for sock in sockets:
            sock.close()
    assert wait_for(lambda: sim.active == 0)
    with connect(sim) as sock:
        sock.sendall(encode_request(3005))
        read_reply(sock, 3005)
    assert sim.connections == 4
    assert sim.max_concurrent == 3
    assert sim.commands == Counter({3005: 4})


def test_one_debug_line_per_connection(serve: Serve, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="luxlog.simulator")
    sim = serve(dynamic=False)
    for _ in range(2):
        with connect(sim) as sock:
            sock.sendall(encode_request(3005))
            read_reply(sock, 3005)
    assert wait_for(lambda: sim.active == 0)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("connection")]
    assert len(lines) == 2 and "[3005]" in lines[0]


def test_stop_frees_the_port_and_closes_clients(serve: Serve) -> None:
    sim = serve(fault="hang")
    port = sim.port
    client = connect(sim)
    client.sendall(encode_request(3003))
    assert wait_for(lambda: sim.commands[3003] == 1)
    started = time.monotonic()
    sim.stop()
    assert time.monotonic() - started < 1.0
    assert recv_until_eof(client) == b""  # the hung connection is closed, not abandoned
    client.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    again = serve(port=port, dynamic=False)  # the same port can be served again at once
    assert again.port == port
    with connect(again) as sock:
        sock.sendall(encode_request(3005))
        assert read_reply(sock, 3005) == bin_reply(3005)
    again.stop()
    with socket.socket() as plain:  # nothing of ours listens there any more
        # REUSEADDR only forgives the closed connections' TIME_WAIT, not a live listener.
        plain.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        plain.bind(("127.0.0.1", port))
        plain.listen()


def test_context_manager_and_double_start() -> None:
    with Simulator(dynamic=False) as sim:
        assert sim.port > 0
        with pytest.raises(RuntimeError):
            sim.start()
        with connect(sim) as sock:
            sock.sendall(encode_request(3005))
            read_reply(sock, 3005)
    sim.stop()  # idempotent


def test_serve_forever_serves_until_stopped_from_another_thread() -> None:
    sim = Simulator(dynamic=False).start()
    replies: list[bytes | BaseException] = []

    def client_then_stop() -> None:
        try:
            with connect(sim) as sock:
                sock.sendall(encode_request(3005))
                replies.append(read_reply(sock, 3005))
        except BaseException as exc:  # reported by the assertion below
            replies.append(exc)
        finally:
            sim.stop()

    worker = threading.Thread(target=client_then_stop)
    worker.start()
    sim.serve_forever()  # returns only once the client has been answered and stop() ran
    worker.join(timeout=5)
    assert replies == [bin_reply(3005)]
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(sim.address, timeout=1).close()


def test_serve_forever_after_a_stop_from_another_thread_returns_at_once() -> None:
    # The order a busy machine can produce: the other thread stops the simulator before
    # this one reaches serve_forever(). It must not start serving again.
    sim = Simulator(dynamic=False).start()
    stopper = threading.Thread(target=sim.stop)
    stopper.start()
    stopper.join(timeout=5)
    began = time.monotonic()
    sim.serve_forever()
    assert time.monotonic() - began < 1
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(sim.address, timeout=1).close()


def test_serve_forever_stops_on_ctrl_c() -> None:
    # A shell starting us in the background sets SIGINT to "ignore", which would make
    # interrupt_main() a no-op; the CLI runs with Python's default handler.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        sim = Simulator(dynamic=False).start()  # so Ctrl-C can only land in the wait loop
        timer = threading.Timer(0.2, _thread.interrupt_main)
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            sim.serve_forever()
        timer.join()
    finally:
        signal.signal(signal.SIGINT, previous)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(sim.address, timeout=1).close()


# --------------------------------------------------------------------------- faults


def test_unknown_fault_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="unknown fault 'flaky'") as error:
        Simulator(fault="flaky")
    assert all(mode in str(error.value) for mode in FAULT_MODES)


def test_fault_hang_answers_nothing_and_keeps_the_socket_open(serve: Serve) -> None:
    sim = serve(fault="hang", dynamic=False)
    with connect(sim, timeout=0.1) as sock:  # a timeout never fires early: no flake
        sock.sendall(encode_request(3003))
        with pytest.raises(TimeoutError):
            sock.recv(1)
        sock.sendall(struct.pack(">iii", 3002, 2, 650))
        with pytest.raises(TimeoutError):
            sock.recv(1)
    assert sim.commands == Counter({3003: 1, 3002: 1})


def test_fault_refuse_fails_connect_at_once(serve: Serve) -> None:
    sim = serve(fault="refuse")
    started = time.monotonic()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(sim.address, timeout=3).close()
    assert time.monotonic() - started < 1.0
    assert sim.connections == 0


@pytest.mark.parametrize("command", [3003, 3004, 3005])
def test_fault_close_mid_array_tears_a_value_then_eof(serve: Serve, command: int) -> None:
    sim = serve(fault="close-mid-array", dynamic=False)
    with connect(sim) as sock:
        sock.sendall(encode_request(command))
        data = recv_until_eof(sock)
    full = bin_reply(command)
    head = 12 if command == 3004 else 8
    assert full.startswith(data) and head < len(data) < len(full)
    if command != 3005:
        assert (len(data) - head) % 4 != 0  # the last value is torn


def test_fault_fragmented_defeats_one_recv_per_value(serve: Serve) -> None:
    sim = serve(fault="fragmented", dynamic=False)
    with connect(sim) as sock:
        sock.sendall(encode_request(3004))
        pieces = [sock.recv(4) for _ in range(3 + 200)]  # the luxtronik 0.3.14 way
        assert any(len(piece) < 4 for piece in pieces)
        rest = bin_reply(3004)[len(b"".join(pieces)) :]
        assert b"".join(pieces) + recv_exact(sock, len(rest)) == bin_reply(3004)
        sock.sendall(encode_request(3003))
        assert read_reply(sock, 3003) == bin_reply(3003)  # exact reads get it right


def test_fault_slow_trickles_the_right_bytes(serve: Serve) -> None:
    sim = serve(fault="slow", dynamic=False, slow_delay=0.02)
    with connect(sim, timeout=1) as sock:
        started = time.monotonic()
        sock.sendall(encode_request(3004))
        assert read_reply(sock, 3004) == bin_reply(3004)
        elapsed = time.monotonic() - started
    chunks = -(-812 // 64)
    assert elapsed >= chunks * 0.02 * 0.9


def test_fault_slow_beats_a_short_overall_budget(serve: Serve) -> None:
    sim = serve(fault="slow", dynamic=False, slow_delay=0.05)
    with connect(sim, timeout=0.5) as sock:
        sock.sendall(encode_request(3003))
        deadline = time.monotonic() + 0.2
        received = b""
        while time.monotonic() < deadline:
            received += sock.recv(4096)  # each piece arrives well within the timeout
        assert 0 < len(received) < len(bin_reply(3003))


def test_fault_garbage_rotates_three_kinds_of_nonsense(serve: Serve) -> None:
    sim = serve(fault="garbage", dynamic=False)
    full = bin_reply(3003)
    with connect(sim) as sock:  # connection 0: wrong echo, huge length, random bytes
        sock.sendall(encode_request(3003))
        wrong_echo = recv_exact(sock, len(full))
        assert struct.unpack(">i", wrong_echo[:4])[0] in (3004, 3005)
        assert wrong_echo[4:] == full[4:]
        sock.sendall(encode_request(3003))
        huge = recv_exact(sock, len(full))
        assert struct.unpack(">ii", huge[:8]) == (3003, 0x7FFFFFFF)
        assert huge[8:] == full[8:]
        sock.sendall(encode_request(3003))
        noise = recv_exact(sock, 64)
        assert struct.unpack(">i", noise[:4])[0] != 3003
    with connect(sim) as sock:  # connection 1 starts one step further along
        sock.sendall(encode_request(3004))
        head = recv_exact(sock, 12)
        assert struct.unpack(">iii", head) == (3004, 0, 0x7FFFFFFF)


def test_fault_short_length_announces_more_than_it_sends(serve: Serve) -> None:
    sim = serve(fault="short-length", dynamic=False)
    full = bin_reply(3004)
    with connect(sim, timeout=0.1) as sock:
        sock.sendall(encode_request(3004))
        head = recv_exact(sock, 12)
        assert struct.unpack(">iii", head) == (3004, 0, 300)
        assert recv_exact(sock, len(full) - 12) == full[12:]
        with pytest.raises(TimeoutError):
            sock.recv(1)  # open and idle: the missing 100 values never come
        sock.sendall(encode_request(3005))
        with pytest.raises(TimeoutError):
            sock.recv(1)


def test_importing_the_simulator_stays_light() -> None:
    code = (
        "import sys, luxlog.simulator; "
        "heavy = {'rich', 'typer', 'click', 'yaml', 'luxtronik', 'sqlite3'} & set(sys.modules); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent.parent)
