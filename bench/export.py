"""Export and push benchmark: whole `luxlog export` / `luxlog push` processes.

Run:  python bench/export.py                 (builds a 365-day cache, then exports it)
      python bench/export.py --days 30       (quicker)
      python bench/export.py --keep DIR      (keep the cache; a second run reuses it)

Goals from issue 16: ``export --format influx`` and ``--format jsonl`` of a 365-day cache
(all logged sensors) >= 50,000 samples/s with <= 100 MB peak RSS; ``push`` of one day
(2,880 samples) to a local VictoriaMetrics <= 2 s.

Measured as users run them: ``python -m luxlog ...`` child processes, stdout to
/dev/null, timed from fork to exit with peak RSS from ``wait4``. Baselines in the same
run: the straightforward exporter (every value of every sample converted by name with
``catalogue.values`` and written with ``json.dumps`` / an f-string per field), over a
week of the same cache; and, for push, POSTing the day's ``export --format influx``
output in one uncompressed request. Figures are printed, not asserted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rollup import ZONE, measure
from storage import START_MS, kept_cache

from luxlog.simulator import DEFAULT_CAPTURE

NAIVE = """
import json, sys
from pathlib import Path
from luxlog.cache import Cache
from luxlog.heatpump import catalogue
from luxlog.export import FLOAT_TYPES

data, fmt, start, end = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
types = {}
out = sys.stdout
with Cache.open(data / "cache.sqlite3", readonly=True) as cache:
    for sample in cache.query(start, end):
        values = catalogue.values(sample.calculations, sample.parameters)
        if fmt == "jsonl":
            out.write(json.dumps({"ts_ms": sample.timestamp_ms, "values": values}) + "\\n")
            continue
        if not types:
            n = (len(sample.calculations), len(sample.parameters))
            types = {s.name: s.type in FLOAT_TYPES for s in catalogue.sensors(*n)}
        fields = ",".join(
            f"{k}={float(v)!r}" if types[k] else f"{k}={v}i"
            for k, v in values.items() if v is not None
        )
        out.write(f"luxtronik,device=d {fields} {sample.timestamp_ms // 1000}\\n")
"""


def samples_in(data: Path, start_ms: int, end_ms: int) -> int:
    from luxlog.cache import Cache

    with Cache.open(data / "cache.sqlite3", readonly=True) as cache:
        return cache.count(start_ms, end_ms)


def victoria(folder: Path) -> tuple[subprocess.Popen[bytes], str] | None:
    binary = shutil.which("victoria-metrics")
    if binary is None:
        return None
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [
            binary,
            f"-storageDataPath={folder}",
            f"-httpListenAddr=127.0.0.1:{port}",
            "-retentionPeriod=100y",
            "-dedup.minScrapeInterval=1ms",
            "-loggerLevel=ERROR",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(500):
        try:
            urllib.request.urlopen(base + "/health", timeout=0.5).read()
            return process, base
        except OSError:
            time.sleep(0.02)
    process.kill()
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365, help="length of the cache")
    parser.add_argument("--capture", default=DEFAULT_CAPTURE, help="simulator capture")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="keep the cache in this directory")
    parser.add_argument(
        "--formats", default="influx,jsonl,csv", help="export formats to time (comma-separated)"
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the naive exporters")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="luxlog-bench-export-") as scratch:
        work = args.keep or Path(scratch)
        data = kept_cache(work, args.days, args.capture, args.seed)
        total = samples_in(data, 0, 2**62)
        print(f"{total} samples, all sensors, time zone {ZONE}, whole processes")
        for fmt in [f for f in args.formats.split(",") if f]:
            seconds, rss, _ = measure(
                [sys.executable, "-m", "luxlog", "export", "--format", fmt, "-o", "-"],
                data,
                "default",
            )
            goal = "" if fmt == "csv" else " (goal >= 50,000/s, <= 100 MB)"
            print(
                f"  export --format {fmt}: {seconds:.1f} s, {total / seconds:,.0f} samples/s, "
                f"{rss:.0f} MB peak{goal}"
            )
        week_end = START_MS + 7 * 86_400_000
        week = samples_in(data, START_MS, week_end)
        for fmt in () if args.no_baseline else ("influx", "jsonl"):
            command = [sys.executable, "-c", NAIVE, str(data), fmt, str(START_MS), str(week_end)]
            seconds, rss, _ = measure(command, data, "")
            print(
                f"  baseline {fmt}, converted by name per sample (first 7 days): "
                f"{week / seconds:,.0f} samples/s, {rss:.0f} MB peak"
            )

        started = victoria(work / "victoria")
        if started is None:
            print("  push: victoria-metrics not installed or did not start; skipped")
            return
        process, base = started
        try:
            day = datetime.fromtimestamp(START_MS / 1000, tz=UTC).date() + timedelta(days=1)
            one_day = (START_MS + 86_400_000, START_MS + 2 * 86_400_000)
            # Push exactly one day: a copy of the cache with its cursor just before it.
            push_data = work / "push"
            push_data.mkdir(exist_ok=True)
            shutil.copyfile(data / "cache.sqlite3", push_data / "cache.sqlite3")
            from luxlog.cache import Cache
            from luxlog.push import _save_cursor

            url = f"{base}/write"
            with Cache.open(push_data / "cache.sqlite3") as handle:
                _save_cursor(handle, url, one_day[0] - 1)
            _cut_after(push_data / "cache.sqlite3", one_day[1])
            settings_file = work / "push.yaml"
            settings_file.write_text(f"push_url: {url}\n")
            count = samples_in(push_data, one_day[0], one_day[1])
            command = [sys.executable, "-m", "luxlog", "--config", str(settings_file), "push"]
            seconds, rss, _ = measure(command, push_data, "default")
            print(
                f"  push of {day} ({count} samples, all sensors) to local VictoriaMetrics: "
                f"{seconds:.2f} s, {rss:.0f} MB peak (goal <= 2 s)"
            )
            body = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "luxlog",
                    "--data-dir",
                    str(data),
                    "export",
                    "--format",
                    "influx",
                    "--from",
                    str(day),
                    "--to",
                    str(day),
                ],
                capture_output=True,
                check=True,
                env={**os.environ, "LUXLOG_TIMEZONE": "UTC"},
            ).stdout
            began = time.perf_counter()
            request = urllib.request.Request(
                f"{base}/write?precision=s&extra_label=run=baseline", data=body, method="POST"
            )
            urllib.request.urlopen(request, timeout=60).read()
            print(
                f"  baseline: the same day's line protocol ({len(body) / 1e6:.0f} MB) in one "
                f"uncompressed POST: {time.perf_counter() - began:.2f} s"
            )
        finally:
            process.terminate()
            process.wait()


def _cut_after(path: Path, end_ms: int) -> None:
    """Delete the chunks after ``end_ms`` from a benchmark copy (whole hours)."""
    import sqlite3

    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("DELETE FROM chunks WHERE bucket_ms >= ?", (end_ms,))
    connection.close()


if __name__ == "__main__":
    main()
