"""Reference import benchmark: a 30-day reference logger cache into luxlog's cache.

Run:  python bench/reference_import.py             (builds 86,400 rows, ~5 GB, then imports)
      python bench/reference_import.py --days 3    (quicker)
      python bench/reference_import.py --keep DIR  (keep both files; a second run reuses
                                                    the reference cache)

The reference cache is what that logger writes: one ``sensor_data`` row per 30-s poll
with the values decoded by luxtronik 0.3.14 as JSON (tests/reference_db.py), ~57 KB a
row, from the same realistic trace as ``bench/storage.py`` (the simulator's model of a
real capture). What is measured is what a user runs: ``python -m luxlog import
--from-reference`` as a child process, from fork to exit, with its peak resident memory
(``wait4``); then the same command again, which must add nothing. Goal from issue 19:
86,400 rows in <= 60 s. Figures are printed, not asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from storage import POLLS_PER_DAY, trace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import reference_db
from storage import START_MS

from luxlog.cache import Cache
from luxlog.simulator import DEFAULT_CAPTURE, HeatPumpModel, load_capture


def build(path: Path, days: int, capture: str, seed: int) -> int:
    """Write ``days`` of reference rows; returns the row count."""
    model = HeatPumpModel(load_capture(capture), seed=seed, start_ms=START_MS)
    connection = reference_db.create(path)
    connection.execute("PRAGMA journal_mode = OFF")  # a benchmark input, not a cache
    connection.execute("PRAGMA synchronous = OFF")
    # Parameters hardly ever change: their JSON is made once per distinct vector. The
    # text is byte for byte json.dumps of the whole object (default separators).
    parameters_json: dict[tuple[int, ...], str] = {}
    rows = 0
    for day in range(days):
        batch = []
        for sample in trace(model, day, seed=seed):
            calcs = reference_db._section(
                "calculations", reference_db.CALCULATIONS, sample.calculations
            )
            params = parameters_json.get(sample.parameters)
            if params is None:
                params = json.dumps(
                    reference_db._section("parameters", reference_db.PARAMETERS, sample.parameters),
                    default=str,
                )
                parameters_json[sample.parameters] = params
            text = json.dumps(calcs, default=str)[:-1] + ", " + params[1:]
            batch.append((sample.timestamp_ms / 1000, text))
        with connection:
            connection.executemany("INSERT OR REPLACE INTO sensor_data VALUES (?, ?)", batch)
        rows += len(batch)
        if sys.stderr.isatty():
            print(f"\r  building reference cache: day {day + 1}/{days}", end="", file=sys.stderr)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    connection.close()
    return rows


def run(data: Path, source: Path) -> tuple[float, float, str]:
    """(seconds, peak RSS in MB, stderr) of one ``luxlog import`` process."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LUXLOG_")},
        "LUXLOG_DATA_DIR": str(data),
        "LUXLOG_CACHE_RETENTION_DAYS": "3650",
    }
    command = [sys.executable, "-m", "luxlog", "import", "--from-reference", str(source)]
    began = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert child.stderr is not None
    errors = child.stderr.read().decode()
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - began
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"luxlog import exited {os.waitstatus_to_exitcode(status)}:\n{errors}")
    return seconds, usage.ru_maxrss / 1024, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30, help="length of the reference cache")
    parser.add_argument("--capture", default=DEFAULT_CAPTURE, help="simulator capture")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="keep both files in this directory")
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)  # the child's job
    args = parser.parse_args()
    if args.build:
        build(args.build, args.days, args.capture, args.seed)
        return

    with tempfile.TemporaryDirectory(prefix="luxlog-bench-reference-") as scratch:
        work = args.keep or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        source = work / f"reference-{args.days}d.db"
        data = work / "data"
        if source.exists():
            print(f"reusing {source}")
            with sqlite3.connect(source) as connection:
                rows = connection.execute("SELECT count(*) FROM sensor_data").fetchone()[0]
        else:
            # In a child: a big parent would inflate the import's peak RSS (fork copies it).
            began = time.perf_counter()
            builder = [sys.executable, __file__, "--build", str(source), "--days", str(args.days)]
            subprocess.run(
                [*builder, "--capture", args.capture, "--seed", str(args.seed)],
                check=True,
            )
            with sqlite3.connect(source) as connection:
                rows = connection.execute("SELECT count(*) FROM sensor_data").fetchone()[0]
            print(f"  built {rows} rows in {time.perf_counter() - began:.0f} s")
        size = source.stat().st_size
        print(
            f"reference cache: {rows} rows ({args.days} days at 30 s), {size / 1e9:.1f} GB, "
            f"{size / rows / 1e3:.0f} KB a row"
        )
        for old in data.glob("cache.sqlite3*"):
            old.unlink()
        seconds, peak, log = run(data, source)
        with Cache.open(data / "cache.sqlite3", readonly=True) as cache:
            held = cache.count()
            cache_size = cache.size_bytes
        assert held == rows == args.days * POLLS_PER_DAY, (held, rows)
        print(
            f"  import: {seconds:.1f} s ({rows / seconds:.0f} rows/s), {peak:.0f} MB peak; "
            f"luxlog cache {cache_size / 1e6:.0f} MB (goal <= 60 s for 86,400 rows)"
        )
        summary = [line for line in log.splitlines() if " INFO import: imported " in line]
        print("  " + (summary[0].split(": ", 1)[1] if summary else log.strip()[:300]))
        seconds, peak, log = run(data, source)
        print(f"  again: {seconds:.1f} s, {peak:.0f} MB peak (adds nothing)")
        assert " 0 sample(s) added" in log, log


if __name__ == "__main__":
    main()
