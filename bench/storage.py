"""Storage benchmark: bytes per poll, flush rate and one-day query time, beside naive designs.

Run:  python bench/storage.py            (a day + a 365-day cache, ~70 s on 2 cores)
      python bench/storage.py --days 30  (quicker; the query figure is then from 30 days)
      python bench/storage.py --noise    (temperatures flicker like real sensors do)

The trace is realistic, not a constant vector: the simulator's model of a real capture
(compressor cycles, counters and controller clock advancing, weather, a setpoint change
now and then) polled every 30 s with up to 400 ms of scheduling jitter, all calculations
and all parameters. The day goes the whole way a real day goes: spool lines, then
``luxlog.flush.flush`` into a fresh cache, then VACUUM and the file size. The long cache
for the query figure is filled through ``Cache.add_many`` directly (same encoding, no
JSON), which is what keeps this benchmark to minutes.

Baselines, measured on the same day in the same run:

* one row per value: ``(ts, sensor, value)`` with a primary key on (ts, sensor);
* one JSON row per poll: ``(ts PRIMARY KEY, calc TEXT, param TEXT)``, JSON arrays.

Timed figures are printed, not asserted: tests must not depend on machine speed.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from itertools import groupby
from pathlib import Path
from typing import Any

from luxlog.cache import Cache
from luxlog.config import Settings
from luxlog.flush import flush
from luxlog.sample import Sample
from luxlog.simulator import DEFAULT_CAPTURE, HeatPumpModel, load_capture
from luxlog.spool import Spool

DAY_MS = 86_400_000
INTERVAL_MS = 30_000
POLLS_PER_DAY = DAY_MS // INTERVAL_MS
START_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z
HOST = "192.168.1.50:8889"


NOISY = range(10, 21)  # flow, return, hot gas, outdoor, hot water, source temperatures
NOT_FITTED = -500


def trace(model: HeatPumpModel, day: int, *, seed: int, noise: bool = False) -> list[Sample]:
    """Day ``day`` (0-based) of 30-s polls with deterministic scheduling jitter.

    ``noise`` adds what the model leaves out: real temperature inputs flicker by a
    tenth of a kelvin from one poll to the next (here: -1, 0, 0, +1 raw units).
    """
    jitter = random.Random(seed * 100_003 + day)
    first = START_MS + day * DAY_MS
    samples = []
    for i in range(POLLS_PER_DAY):
        at = first + i * INTERVAL_MS + jitter.randint(0, 400)
        calculations, parameters = model.read(at)
        if noise:
            values = list(calculations)
            for index in NOISY:
                if values[index] != NOT_FITTED:
                    values[index] += jitter.choice((-1, 0, 0, 1))
            calculations = tuple(values)
        samples.append(Sample(at, HOST, calculations, parameters))
    return samples


def fill_days(path: Path, model: HeatPumpModel, days: int, seed: int) -> float:
    """Fill a cache with ``days`` days of :func:`trace` through ``Cache.add_many``;
    return the seconds it took (the long caches of the other benchmarks)."""
    began = time.perf_counter()
    with Cache.open(path) as cache:
        for day in range(days):
            cache.add_many(trace(model, day, seed=seed))
            if sys.stderr.isatty():
                print(f"\r  building {days}-day cache: day {day + 1}", end="", file=sys.stderr)
        cache.checkpoint()
    if sys.stderr.isatty():
        print(file=sys.stderr)
    return time.perf_counter() - began


def kept_cache(work: Path, days: int, capture: str = DEFAULT_CAPTURE, seed: int = 0) -> Path:
    """``work/data``, holding a cache of ``days`` realistic days: built on the first run,
    reused by a later one given the same ``--keep`` folder (a year takes ~1 min)."""
    data = work / "data"
    cache = data / "cache.sqlite3"
    if cache.exists():
        print(f"reusing {cache}")
        return data
    data.mkdir(parents=True, exist_ok=True)
    model = HeatPumpModel(load_capture(capture), seed=seed, start_ms=START_MS)
    print(f"built {days}-day cache in {fill_days(cache, model, days, seed):.0f} s")
    return data


def timed(action: Callable[[], object]) -> tuple[float, object]:
    began = time.perf_counter()
    result = action()
    return time.perf_counter() - began, result


def vacuumed_size(path: Path) -> int:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("VACUUM")
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


# -- the luxlog cache ----------------------------------------------------------------------


def bench_day(work: Path, samples: list[Sample]) -> dict[str, float]:
    data = work / "day"
    settings = Settings(data_dir=data, cache_path=data / "cache.sqlite3", spool_dir=data / "spool")
    spool = Spool(settings.spool_dir)
    for sample in samples:
        spool.append(sample)
    seconds, result = timed(lambda: flush(settings))
    assert getattr(result, "samples_added", None) == len(samples), result
    with Cache.open(settings.cache_path, readonly=True) as cache:
        query_sec, got = timed(lambda: list(cache.query(0, 2**62)))
    assert got == samples, "round trip through spool, flush and query is not exact"
    size = vacuumed_size(settings.cache_path)
    return {
        "bytes_per_poll": size / len(samples),
        "flush_sec": seconds,
        "flush_rate": len(samples) / seconds,
        "query_sec": query_sec,
    }


def bench_long(
    work: Path, model: HeatPumpModel, days: int, *, seed: int, noise: bool
) -> dict[str, float]:
    path = work / "long" / "cache.sqlite3"
    began = time.perf_counter()
    with Cache.open(path) as cache:
        for day in range(days):
            cache.add_many(trace(model, day, seed=seed, noise=noise))
            if sys.stderr.isatty():
                print(f"\r  building {days}-day cache: day {day + 1}", end="", file=sys.stderr)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    build_sec = time.perf_counter() - began
    size = vacuumed_size(path)
    middle = START_MS + (days // 2) * DAY_MS
    runs = []
    with Cache.open(path, readonly=True) as cache:
        for _ in range(5):
            seconds, got = timed(lambda: list(cache.query(middle, middle + DAY_MS)))
            assert isinstance(got, list) and len(got) == POLLS_PER_DAY
            runs.append(seconds)
        stamps_sec, stamps = timed(lambda: cache.timestamps(0, 2**62))
        assert isinstance(stamps, list) and len(stamps) == days * POLLS_PER_DAY
        count_sec, _ = timed(cache.count)
        range_sec, _ = timed(cache.time_range)
        check_sec, problems = timed(cache.integrity_check)
        assert problems == []
    # One more day through spool and flush into the full cache: the nightly case.
    data = work / "long"
    settings = Settings(data_dir=data, cache_path=path, spool_dir=data / "spool")
    spool = Spool(settings.spool_dir)
    for sample in trace(model, days, seed=seed, noise=noise):
        spool.append(sample)
    flush_sec, _ = timed(lambda: flush(settings))
    return {
        "days": days,
        "build_sec": build_sec,
        "bytes_per_poll": size / (days * POLLS_PER_DAY),
        "size_mb": size / 1e6,
        "query_first_sec": runs[0],
        "query_median_sec": statistics.median(runs),
        "timestamps_sec": stamps_sec,
        "count_sec": count_sec,
        "time_range_sec": range_sec,
        "quick_check_sec": check_sec,
        "flush_into_full_sec": flush_sec,
    }


# -- naive baselines -----------------------------------------------------------------------


def _baseline(
    path: Path,
    schema: str,
    insert: str,
    rows: Iterator[tuple[object, ...]],
    query: str,
    decode: Callable[[list[Any]], list[Sample]],
) -> dict[str, float]:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute(schema)
    began = time.perf_counter()
    connection.execute("BEGIN IMMEDIATE")
    connection.executemany(insert, rows)
    connection.execute("COMMIT")
    insert_sec = time.perf_counter() - began
    # Timed up to Sample objects, like Cache.query, so the comparison is fair.
    query_sec, _ = timed(lambda: decode(connection.execute(query, (0, 2**62)).fetchall()))
    connection.close()
    return {"insert_sec": insert_sec, "query_sec": query_sec, "size": vacuumed_size(path)}


def bench_baselines(work: Path, samples: list[Sample]) -> dict[str, dict[str, float]]:
    def per_value() -> Iterator[tuple[object, ...]]:
        for sample in samples:
            for index, value in enumerate(sample.calculations):
                yield (sample.timestamp_ms, index, value)
            for index, value in enumerate(sample.parameters):
                yield (sample.timestamp_ms, split + index, value)

    def per_poll() -> Iterator[tuple[object, ...]]:
        for sample in samples:
            yield (
                sample.timestamp_ms,
                json.dumps(sample.calculations, separators=(",", ":")),
                json.dumps(sample.parameters, separators=(",", ":")),
            )

    split = 100_000  # parameters get their own sensor numbers

    def from_values(rows: list[Any]) -> list[Sample]:
        result = []
        for ts, group in groupby(rows, key=lambda row: row[0]):
            values = [(sensor, value) for _, sensor, value in group]
            result.append(
                Sample(
                    ts,
                    HOST,
                    tuple(v for s, v in values if s < split),
                    tuple(v for s, v in values if s >= split),
                )
            )
        return result

    def from_json(rows: list[Any]) -> list[Sample]:
        return [
            Sample(ts, HOST, tuple(json.loads(calc)), tuple(json.loads(param)))
            for ts, calc, param in rows
        ]

    results = {
        "one row per value": _baseline(
            work / "per-value.sqlite3",
            """CREATE TABLE value (ts INTEGER, sensor INTEGER, value INTEGER,
               PRIMARY KEY (ts, sensor)) WITHOUT ROWID""",
            "INSERT INTO value VALUES (?, ?, ?)",
            per_value(),
            "SELECT * FROM value WHERE ts >= ? AND ts < ? ORDER BY ts, sensor",
            from_values,
        ),
        "one JSON row per poll": _baseline(
            work / "per-poll.sqlite3",
            "CREATE TABLE poll (ts INTEGER PRIMARY KEY, calc TEXT, param TEXT)",
            "INSERT INTO poll VALUES (?, ?, ?)",
            per_poll(),
            "SELECT * FROM poll WHERE ts >= ? AND ts < ? ORDER BY ts",
            from_json,
        ),
    }
    for figures in results.values():
        figures["bytes_per_poll"] = figures.pop("size") / len(samples)
        figures["insert_rate"] = len(samples) / figures["insert_sec"]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365, help="length of the long cache")
    parser.add_argument("--capture", default=DEFAULT_CAPTURE, help="simulator capture")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="leave the files in this directory")
    parser.add_argument(
        "--noise", action="store_true", help="add 0.1 K sensor flicker to the temperatures"
    )
    args = parser.parse_args()

    model = HeatPumpModel(load_capture(args.capture), seed=args.seed, start_ms=START_MS)
    day = trace(model, 0, seed=args.seed, noise=args.noise)
    values = len(day[0].calculations) + len(day[0].parameters)
    print(
        f"trace: {args.capture}, {len(day)} polls/day x {values} values, seed {args.seed}"
        + (", temperature noise" if args.noise else "")
    )

    with tempfile.TemporaryDirectory(prefix="luxlog-bench-") as scratch:
        work = args.keep or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        ours = bench_day(work, day)
        baselines = bench_baselines(work, day)
        long = bench_long(work, model, args.days, seed=args.seed, noise=args.noise)

    print("\none day (2,880 polls), after flush + VACUUM")
    print(f"  {'design':<24}{'bytes/poll':>12}{'year (MB)':>11}{'insert/s':>11}{'query day':>11}")
    rows = [("luxlog chunks", ours["bytes_per_poll"], ours["flush_rate"], ours["query_sec"])]
    rows += [
        (name, f["bytes_per_poll"], f["insert_rate"], f["query_sec"])
        for name, f in baselines.items()
    ]
    for name, per_poll, rate, query in rows:
        year_mb = per_poll * POLLS_PER_DAY * 365 / 1e6
        print(f"  {name:<24}{per_poll:>12,.1f}{year_mb:>11,.1f}{rate:>11,.0f}{query:>10.3f}s")
    print("  (luxlog insert/s is the whole flush: JSON spool lines parsed, encoded, committed;")
    print("   the baselines get ready-made tuples)")
    print(f"  flush of the day: {ours['flush_sec']:.2f} s  (goal <= 2 s)")
    print(f"  bytes per poll:   {ours['bytes_per_poll']:.1f}  (goal <= 40)")

    print(
        f"\n{long['days']}-day cache (filled through Cache.add_many in {long['build_sec']:.0f} s)"
    )
    print(f"  size: {long['size_mb']:.2f} MB = {long['bytes_per_poll']:.1f} bytes/poll")
    print(
        f"  query one day: {long['query_median_sec']:.3f} s median of 5 "
        f"(first {long['query_first_sec']:.3f} s; goal <= 0.5 s)"
    )
    print(f"  timestamps() of everything: {long['timestamps_sec']:.3f} s")
    print(
        f"  count(): {long['count_sec'] * 1000:.1f} ms, time_range(): "
        f"{long['time_range_sec'] * 1000:.1f} ms, quick_check: {long['quick_check_sec']:.3f} s"
    )
    print(f"  flush of one more day into it: {long['flush_into_full_sec']:.2f} s")


if __name__ == "__main__":
    main()
