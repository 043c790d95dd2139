"""Real time-series databases on loopback for the push tests: VictoriaMetrics and
InfluxDB 1.x as plain processes with temporary data folders.

Each starts in well under a second; the fixtures poll the ping endpoint instead of
sleeping; test modules wrap them in module-scoped fixtures, so a module pays for one
start. Where a binary is
missing the tests skip, saying so (CI installs both: see .ci/run).
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

START_TIMEOUT_SEC = 8.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def http(url: str, data: bytes | None = None, timeout: float = 5.0) -> bytes:
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    with urllib.request.urlopen(request, timeout=timeout) as reply:
        body: bytes = reply.read()
        return body


@dataclass
class Server:
    """A running engine: its base URL and its process."""

    name: str
    base: str
    process: subprocess.Popen[bytes]
    log: Path

    def wait_ready(self, ping: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SEC
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                http(self.base + ping, timeout=0.5)
                return
            except OSError:
                time.sleep(0.02)
        self.stop()
        tail = self.log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{self.name} did not start on {self.base}:\n{tail}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (Debian: apt-get install {PACKAGES[name]})")
    return found


PACKAGES = {"victoria-metrics": "victoria-metrics", "influxd": "influxdb"}


@contextmanager
def victoria(folder: Path) -> Iterator[Server]:
    """VictoriaMetrics: a retention long enough for old test data, and deduplication at
    1 ms so that a re-sent point collapses into the one already stored."""
    binary = _binary("victoria-metrics")
    port = free_port()
    log = folder / "log"
    process = subprocess.Popen(
        [
            binary,
            f"-storageDataPath={folder / 'data'}",
            f"-httpListenAddr=127.0.0.1:{port}",
            "-retentionPeriod=100y",
            "-dedup.minScrapeInterval=1ms",
            "-loggerLevel=ERROR",
        ],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    server = Server("victoria-metrics", f"http://127.0.0.1:{port}", process, log)
    try:
        server.wait_ready("/health")
        yield server
    finally:
        server.stop()


@contextmanager
def influx(folder: Path) -> Iterator[Server]:
    """InfluxDB 1.x from the config `influxd config` prints, with its folders moved into
    a temporary directory, its ports onto free loopback ports, and its own monitoring
    and logging off (less to start, less to write)."""
    binary = _binary("influxd")
    port, rpc = free_port(), free_port()
    text = subprocess.run([binary, "config"], capture_output=True, text=True, check=True).stdout
    text = text.replace("/var/lib/influxdb", str(folder))
    text = re.sub(r'^bind-address = ".*"', f'bind-address = "127.0.0.1:{rpc}"', text, flags=re.M)
    text = re.sub(
        r'(\[http\][^\[]*?bind-address = )".*?"', rf'\1"127.0.0.1:{port}"', text, flags=re.S
    )
    text = text.replace("store-enabled = true", "store-enabled = false")
    text = text.replace("reporting-enabled = true", "reporting-enabled = false")
    text = re.sub(
        r"(query-)?log-enabled = true", lambda m: f"{m[1] or ''}log-enabled = false", text
    )
    config = folder / "influxdb.conf"
    config.write_text(text)
    log = folder / "log"
    process = subprocess.Popen(
        [binary, "-config", str(config)], stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    server = Server("influxd", f"http://127.0.0.1:{port}", process, log)
    try:
        server.wait_ready("/ping")
        yield server
    finally:
        server.stop()


def influx_create(server: Server, database: str) -> None:
    query = urllib.parse.urlencode({"q": f'CREATE DATABASE "{database}"'})
    http(f"{server.base}/query?{query}", data=b"")


def influx_points(server: Server, database: str) -> list[dict[str, Any]]:
    """Every point of measurement luxtronik as {column: value}, time in epoch ms."""
    query = urllib.parse.urlencode({"db": database, "epoch": "ms", "q": "SELECT * FROM luxtronik"})
    data = json.loads(http(f"{server.base}/query?{query}"))
    result = data["results"][0]
    if "error" in result:
        raise AssertionError(result["error"])
    points: list[dict[str, Any]] = []
    for series in result.get("series", []):
        columns = series["columns"]
        points.extend(dict(zip(columns, row, strict=True)) for row in series["values"])
    return points


def influx_field_types(server: Server, database: str) -> dict[str, str]:
    """Field key -> type (float, integer, ...) as InfluxDB stored it."""
    query = urllib.parse.urlencode({"db": database, "q": "SHOW FIELD KEYS FROM luxtronik"})
    data = json.loads(http(f"{server.base}/query?{query}"))
    return {key: kind for key, kind in data["results"][0]["series"][0]["values"]}


def victoria_series(server: Server, device: str) -> dict[str, list[tuple[int, float]]]:
    """``{metric name: [(ms, value), ...]}`` of one device, after a forced flush."""
    http(f"{server.base}/internal/force_flush")
    query = urllib.parse.urlencode({"match[]": f'{{device="{device}"}}', "start": "0"})
    text = http(f"{server.base}/api/v1/export?{query}").decode()
    found: dict[str, list[tuple[int, float]]] = {}
    for line in text.splitlines():
        item = json.loads(line)
        pairs = list(zip(item["timestamps"], item["values"], strict=True))
        found.setdefault(item["metric"]["__name__"], []).extend(pairs)
    return found
