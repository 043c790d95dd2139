"""Benchmark: `luxlog status` on a 365-day installation; the goal is <= 1 s.

Run:  python bench/status.py                 (builds a 365-day cache: ~1 min on 2 cores)
      python bench/status.py --keep DIR      (build once into DIR, reuse it next time)
      python bench/status.py --days 30       (quicker)

The installation is realistic: a cache filled with the simulator's model of a real capture
polled every 30 s (the same trace as ``bench/storage.py``), roll-up records for every
window, a spool holding the last 10 minutes, and a month of failed-poll notes. Timed:

* ``build_report`` in-process (what the command spends on the files), with the quick
  integrity check, the part that grows with the cache, on its own;
* the whole process ``python -m luxlog status --check`` (what a Docker HEALTHCHECK costs),
  beside the same command on an empty installation: the baseline that is start-up only.

Figures are printed, not asserted: tests must not depend on machine speed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from storage import DAY_MS, START_MS, trace

from luxlog import products
from luxlog.cache import Cache
from luxlog.config import Settings
from luxlog.health import build_report
from luxlog.simulator import DEFAULT_CAPTURE, HeatPumpModel, load_capture
from luxlog.spool import encode_line, format_timestamp
from luxlog.windows import KINDS

HOST_ENV = {"LUXLOG_HOST": "192.168.1.50", "LUXLOG_TIMEZONE": "UTC"}


def settings_for(root: Path) -> Settings:
    return Settings(
        host="192.168.1.50",
        data_dir=root,
        cache_path=root / "cache.sqlite3",
        spool_dir=root / "spool",
        output_dirs=(root / "csv",),
        timezone="UTC",
    )


def build(root: Path, days: int) -> int:
    """Fill ``root`` with ``days`` of data; return the "now" the data ends at."""
    settings = settings_for(root)
    now = START_MS + days * DAY_MS
    marker = root / "built.json"
    if marker.exists() and json.loads(marker.read_text()) == {"days": days}:
        return now
    model = HeatPumpModel(load_capture(DEFAULT_CAPTURE), seed=0, start_ms=START_MS)
    began = time.perf_counter()
    with Cache.open(settings.cache_path) as cache:
        for day in range(days):
            cache.add_many(trace(model, day, seed=0))
            if sys.stderr.isatty():
                print(f"\r  building {days}-day cache: day {day + 1}", end="", file=sys.stderr)
        schedule = products.schedule_for(settings)
        windows = schedule.pending(
            now_ms=now,
            first_ms=START_MS,
            lookback_days=products.lookback_days(settings),
            done=set(),
        )
        for kind in KINDS:
            records = {
                w.day.isoformat(): products.Record("written", 2880, 1.0, (), "", w.end_ms).to_json()
                for w in windows
                if w.kind == kind
            }
            cache.set_state(products.STATE_KEYS[kind], json.dumps(records))
        cache.checkpoint()
    if sys.stderr.isatty():
        print(file=sys.stderr)
    # The last 10 minutes still in the spool, a failed poll every ~6 h for a month.
    settings.spool_dir.mkdir(parents=True, exist_ok=True)
    pending = trace(model, days, seed=0)[:20]
    (settings.spool_dir / "current.jsonl").write_bytes(b"".join(map(encode_line, pending)))
    notes = [
        json.dumps({"t": format_timestamp(now - i * 21_600_000), "host": "x", "error": "timeout"})
        for i in range(120, 0, -1)
    ]
    (settings.spool_dir / "poll-failures.jsonl").write_text("\n".join(notes) + "\n")
    marker.write_text(json.dumps({"days": days}))
    print(f"  built in {time.perf_counter() - began:.0f} s", file=sys.stderr)
    return now


def process_seconds(root: Path, runs: int) -> float:
    env = {**os.environ, **HOST_ENV, "LUXLOG_DATA_DIR": str(root)}
    env.pop("LUXLOG_CONFIG", None)
    times = []
    for _ in range(runs + 1):  # the first run warms the OS page cache
        began = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "luxlog", "status", "--check"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        times.append(time.perf_counter() - began)
    return statistics.median(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="build into (and reuse) this directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp) / "full"
        root.mkdir(parents=True, exist_ok=True)
        now = build(root, args.days)
        settings = settings_for(root)
        # In-process, at the time the data ends (the wall clock would see a dead pump).
        runs = []
        for _ in range(args.runs + 1):
            began = time.perf_counter()
            report = build_report(settings, now_ms=now)
            runs.append(time.perf_counter() - began)
        with Cache.open(settings.cache_path, readonly=True) as cache:
            began = time.perf_counter()
            cache.integrity_check(quick=True)
            quick = time.perf_counter() - began
        ours = process_seconds(root, args.runs)
        empty = process_seconds(Path(tmp) / "empty", args.runs)
    data = report.to_json()
    print(
        f"status on a {args.days}-day installation ({report.cache.samples:,} samples, "
        f"{report.cache.size_bytes / 1e6:.1f} MB cache), median of {args.runs} runs:"
    )
    print(
        f"  build_report in-process      : {statistics.median(runs[1:]) * 1000:7.1f} ms"
        f"  (first run {runs[0] * 1000:.1f} ms; quick_check alone {quick * 1000:.1f} ms)"
    )
    print(f"  `luxlog status --check`      : {ours * 1000:7.1f} ms  (goal <= 1000 ms)")
    print(f"  same on an empty installation: {empty * 1000:7.1f} ms  (start-up only: baseline)")
    print(
        f"  verdict: {'healthy' if report.healthy else 'unhealthy'}; reasons: "
        f"{data['reasons'] or 'none'}"
    )


if __name__ == "__main__":
    main()
