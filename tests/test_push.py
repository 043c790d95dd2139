"""`luxlog push` into real engines (VictoriaMetrics, InfluxDB 1.x) and a real HTTP server
that fails on purpose; the cursor in a real SQLite cache; SIGKILL in a real process."""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import pytest
import tsdb
from helpers import settings_in
from tsdb import (
    Server,
    free_port,
    influx_create,
    influx_field_types,
    influx_points,
    victoria_series,
)
from typer.testing import CliRunner

from luxlog.cache import Cache
from luxlog.cli import app
from luxlog.config import Settings
from luxlog.export import jsonl_lines, selection_for
from luxlog.push import PushError, push, push_status, read_cursor, redact
from luxlog.sample import Sample
from luxlog.simulator import HeatPumpModel, load_capture

START = 1_767_225_600_000  # 2026-01-01T00:00:00Z: in the past, so every engine takes it
HOST = "192.0.2.9:8889"
# A float (temperature), an integer with a unit (seconds), a boolean, a selection code,
# and a counter (kWh, float): every line protocol type luxlog writes.
SENSORS = (
    "ID_WEB_Temperatur_TVL",
    "ID_WEB_Temperatur_TA",
    "ID_WEB_Time_VDStd_akt",
    "ID_WEB_VD1out",
    "ID_WEB_WP_BZ_akt",
    "ID_WEB_WMZ_Heizung",
    "ID_WEB_Zaehler_BetrZeitVD1",
)
WEEK = 7 * 96  # seven days of 15-minute polls (small data: the shape matters, not the size)


def polls(count: int, *, start_ms: int = START, every_ms: int = 900_000) -> list[Sample]:
    model = HeatPumpModel(load_capture("coolchip-2017-V1.80-L1A"), seed=3, start_ms=start_ms)
    out = []
    for i in range(count):
        at = start_ms + i * every_ms + 137
        calculations, parameters = model.read(at)
        out.append(Sample(at, HOST, calculations, parameters))
    return out


@pytest.fixture(scope="module")
def victoria(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One VictoriaMetrics for the module; each test writes its own `device`."""
    with tsdb.victoria(tmp_path_factory.mktemp("victoria")) as server:
        yield server


@pytest.fixture(scope="module")
def influx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One InfluxDB 1.x for the module."""
    with tsdb.influx(tmp_path_factory.mktemp("influx")) as server:
        yield server


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Sample], Path]:
    """A week of samples and a cache file holding them, built once per module."""
    samples = polls(WEEK)
    path = tmp_path_factory.mktemp("week") / "cache.sqlite3"
    with Cache.open(path) as cache:
        cache.add_many(samples)
        cache.checkpoint()
    return samples, path


def fill(settings: Settings, samples: list[Sample]) -> None:
    with Cache.open(settings.cache_path) as cache:
        cache.add_many(samples)


def copy_week(settings: Settings, week: tuple[list[Sample], Path]) -> list[Sample]:
    settings.cache_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(week[1], settings.cache_path)
    return week[0]


def make(tmp_path: Path, url: str, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "push_url": url,
        "sensors_include": SENSORS,
        "device": tmp_path.name,  # one series set per test in a shared engine
        "timezone": "Europe/Berlin",
        "retries": 1,
        "push_budget_sec": 5,
    }
    values.update(changes)
    return settings_in(tmp_path, **values)


def expected_values(settings: Settings, samples: list[Sample]) -> dict[int, dict[str, Any]]:
    """What `export --format jsonl` says, by epoch ms floored to the second."""
    out: dict[int, dict[str, Any]] = {}
    for line in jsonl_lines(
        samples,
        selection=selection_for(settings),
        zone=ZoneInfo(settings.timezone),
        device=settings.device,
    ):
        data = json.loads(line)
        out[data["ts_ms"] // 1000 * 1000] = data["values"]
    return out


def assert_victoria_holds(server: Server, settings: Settings, samples: list[Sample]) -> None:
    """Every sample's every field exactly once, equal to the JSON Lines export."""
    wanted = expected_values(settings, samples)
    series = victoria_series(server, settings.device)
    names = {name for values in wanted.values() for name in values}
    assert set(series) == {f"luxtronik_{name}" for name in names}
    for name in names:
        points = series[f"luxtronik_{name}"]
        stamps = [t for t, _ in points]
        assert len(stamps) == len(set(stamps)), f"{name}: duplicate points"
        expected = {t: v[name] for t, v in wanted.items() if v[name] is not None}
        assert dict(points) == {t: float(v) for t, v in expected.items()}, name


def test_a_week_into_victoriametrics_equals_the_jsonl_export(
    tmp_path: Path, victoria: Server, week: tuple[list[Sample], Path]
) -> None:
    settings = make(tmp_path, f"{victoria.base}/write", site="lab")
    samples = copy_week(settings, week)
    result = push(settings, batch_bytes=64_000)
    assert result.samples == WEEK and result.batches > 1
    # Again: nothing new, nothing sent, nothing doubled.
    again = push(settings)
    assert again.samples == 0 and again.batches == 0
    assert_victoria_holds(victoria, settings, samples)


def test_a_week_into_influxdb_equals_the_jsonl_export(
    tmp_path: Path, influx: Server, week: tuple[list[Sample], Path]
) -> None:
    influx_create(influx, "heat")
    settings = make(tmp_path, f"{influx.base}/write?db=heat")
    samples = copy_week(settings, week)
    push(settings, batch_bytes=64_000)
    # A crash after the write but before the cursor moved: the same batch again.
    with Cache.open(settings.cache_path) as cache:
        cache.set_state(next(iter(_cursor_keys(cache))), json.dumps({"last_ms": START}))
    push(settings)
    points = [p for p in influx_points(influx, "heat") if p["device"] == settings.device]
    wanted = expected_values(settings, samples)
    assert len(points) == len(wanted)  # one point per sample: the re-sent ones overwrote
    for point in points:
        values = wanted[point["time"]]
        assert {k: point[k] for k in values} == values
    types = influx_field_types(influx, "heat")
    assert types["ID_WEB_Temperatur_TVL"] == "float"
    assert types["ID_WEB_WMZ_Heizung"] == "float"  # a kWh counter
    assert types["ID_WEB_VD1out"] == "integer"  # a boolean
    assert types["ID_WEB_Zaehler_BetrZeitVD1"] == "integer"  # seconds


def _cursor_keys(cache: Cache) -> list[str]:
    rows = cache._connection.execute("SELECT key FROM state WHERE key LIKE 'push.cursor.%'")
    return [str(row[0]) for row in rows]


def test_sigkill_at_random_instants_leaves_no_gap_and_no_duplicate(
    tmp_path: Path, victoria: Server, week: tuple[list[Sample], Path]
) -> None:
    settings = make(tmp_path, f"{victoria.base}/write")
    samples = copy_week(settings, week)
    env = {
        **os.environ,
        "LUXLOG_DATA_DIR": str(settings.data_dir),
        "LUXLOG_PUSH_URL": settings.push_url,
        "LUXLOG_SENSORS_INCLUDE": ",".join(SENSORS),
        "LUXLOG_DEVICE": settings.device,
    }
    # One line per batch (~670 requests, each with its cursor update: seconds of work),
    # so each process is killed somewhere in the middle of it: before, during or after a
    # request, or while the cursor is written.
    script = (
        "import sys; from luxlog import config; from luxlog.push import push; "
        "print('go', flush=True); push(config.load(), batch_bytes=1)"
    )
    chance = random.Random(16)
    kills = 0
    deadline = time.monotonic() + 0.6  # bounded by time: a slow machine kills fewer
    while time.monotonic() < deadline:
        child = subprocess.Popen(
            [sys.executable, "-c", script], env=env, cwd=tmp_path, stdout=subprocess.PIPE
        )
        assert child.stdout is not None and child.stdout.readline() == b"go\n"
        time.sleep(chance.uniform(0.0, 0.3))
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        kills += child.returncode == -signal.SIGKILL
    assert kills >= 1
    with Cache.open(settings.cache_path) as cache:
        cursor = read_cursor(cache, settings.push_url)
    assert cursor is None or cursor < samples[-1].timestamp_ms  # really cut short
    push(settings)
    assert_victoria_holds(victoria, settings, samples)


class _Target(BaseHTTPRequestHandler):
    """A write endpoint whose answer the test sets; it records what it accepted."""

    status = 500
    ok_first = 0  # answer 204 to this many requests first
    accepted: ClassVar[list[str]] = []
    seen_headers: ClassVar[list[dict[str, str]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).seen_headers.append(dict(self.headers))
        status = self.status
        if len(self.seen_headers) <= self.ok_first:
            status = 204
        if status < 300:
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            type(self).accepted.extend(body.decode().splitlines())
        self.send_response(status)
        message = b'{"error":"database is on fire"}'
        self.send_header("Content-Length", str(len(message)))
        self.end_headers()
        self.wfile.write(message)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def target(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[ThreadingHTTPServer, type[_Target]]]:
    monkeypatch.setattr("luxlog.push.FIRST_BACKOFF_SEC", 0.01)  # the policy, not the wait
    handler = type("Target", (_Target,), {"status": 500, "accepted": [], "seen_headers": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server, handler
    server.shutdown()
    server.server_close()


def run_push(settings: Settings) -> tuple[int, str]:
    env = {
        "LUXLOG_DATA_DIR": str(settings.data_dir),
        "LUXLOG_PUSH_URL": settings.push_url,
        "LUXLOG_PUSH_TOKEN": settings.push_token,
        "LUXLOG_PUSH_BUDGET_SEC": str(settings.push_budget_sec),
        "LUXLOG_RETRIES": str(settings.retries),
        "LUXLOG_SENSORS_INCLUDE": ",".join(SENSORS),
    }
    result = CliRunner().invoke(app, ["push"], env=env)
    return result.exit_code, result.output


def test_down_then_500_then_up_cursor_waits_and_the_next_run_catches_up(
    tmp_path: Path, target: tuple[ThreadingHTTPServer, type[_Target]]
) -> None:
    server, handler = target
    port = server.server_address[1]
    samples = polls(30)
    settings = make(
        tmp_path, f"http://127.0.0.1:{port}/write?db=heat&u=me&p=secret", push_token="t0ken"
    )
    fill(settings, samples)

    server.shutdown()  # down: nothing listens for a moment
    server.server_close()
    down = make(tmp_path, f"http://127.0.0.1:{free_port()}/write?db=heat", retries=0)
    code, output = run_push(down)
    assert code == 8, output
    assert "cannot connect" in output and "cursor unchanged" in output

    # Up, but answering 500: retried, then given up; the error is noted for status.
    server2 = ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server2.serve_forever, args=(0.05,), daemon=True).start()
    try:
        code, output = run_push(settings)
        assert code == 8, output
        assert "HTTP 500: database is on fire" in output and "30 sample(s) wait" in output
        assert "secret" not in output and "t0ken" not in output
        assert len(handler.seen_headers) == 2  # one retry
        assert handler.seen_headers[0]["Authorization"] == "Token t0ken"
        state = push_status(settings)
        assert state is not None and state.cursor_ms is None and state.backlog == 30
        assert state.last_error is not None and "500" in state.last_error

        handler.status = 204
        code, output = run_push(settings)
        assert code == 0, output
        assert len(handler.accepted) == 30
        state = push_status(settings)
        assert state is not None and state.backlog == 0 and state.last_error is None
        assert state.cursor_ms == samples[-1].timestamp_ms
    finally:
        server2.shutdown()
        server2.server_close()


def test_a_refused_batch_is_not_retried(
    tmp_path: Path, target: tuple[ThreadingHTTPServer, type[_Target]]
) -> None:
    server, handler = target
    handler.status = 400
    settings = make(tmp_path, f"http://127.0.0.1:{server.server_address[1]}/write", retries=3)
    fill(settings, polls(3))
    with pytest.raises(PushError, match="HTTP 400"):
        push(settings)
    assert len(handler.seen_headers) == 1


def test_status_shows_backlog_and_last_error(
    tmp_path: Path, target: tuple[ThreadingHTTPServer, type[_Target]]
) -> None:
    server, _ = target
    settings = make(tmp_path, f"http://127.0.0.1:{server.server_address[1]}/write", retries=0)
    fill(settings, polls(5))
    run_push(settings)
    env = {"LUXLOG_DATA_DIR": str(settings.data_dir), "LUXLOG_PUSH_URL": settings.push_url}
    result = CliRunner().invoke(app, ["status", "--json"], env=env)
    data = json.loads(result.output)
    assert data["push"]["backlog_samples"] == 5
    assert "HTTP 500" in data["push"]["last_error"]["error"]
    text = CliRunner().invoke(app, ["status"], env=env).output
    assert "backlog" in text and "5 sample(s)" in text


def test_no_push_url_is_a_config_error(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    code, output = run_push(settings)
    assert code == 3 and "push_url" in output


def test_urls_are_shown_without_credentials() -> None:
    shown = redact("https://me:pw@nas:8086/write?db=heat&u=me&p=pw&token=x")
    assert shown == "https://nas:8086/write?db=heat&u=%2A%2A%2A&p=%2A%2A%2A&token=%2A%2A%2A"


def test_gzip_over_a_network_not_to_this_machine(tmp_path: Path) -> None:
    from luxlog.push import _Sender

    remote = _Sender(make(tmp_path, "https://nas.example:8086/write?db=h"))
    assert remote.gzip and remote.headers["Content-Encoding"] == "gzip"
    assert remote.context is not None  # TLS verified with the system's CAs
    for local in ("http://127.0.0.1:8428/write", "http://localhost:8428/write", "http://[::1]:1/w"):
        sender = _Sender(make(tmp_path, local))
        assert not sender.gzip and "Content-Encoding" not in sender.headers


def test_a_failure_after_confirmed_batches_keeps_their_cursor(
    tmp_path: Path, target: tuple[ThreadingHTTPServer, type[_Target]]
) -> None:
    server, handler = target
    handler.ok_first = 2
    settings = make(tmp_path, f"http://127.0.0.1:{server.server_address[1]}/write", retries=0)
    samples = polls(20)
    fill(settings, samples)
    with pytest.raises(PushError, match="cursor unchanged"):
        push(settings, batch_bytes=1)  # one line per batch
    state = push_status(settings)
    assert state is not None and state.cursor_ms == samples[1].timestamp_ms
    assert state.backlog == 18 and len(handler.accepted) == 2
    handler.status = 204
    push(settings, batch_bytes=1)
    stamps = [int(line.rsplit(" ", 1)[1]) for line in handler.accepted]
    assert stamps == [s.timestamp_ms // 1000 for s in samples]  # each once, in order
