"""Column projection: reading a few registers of a long history against reading whole rows.

Run:  python bench/projection.py            (30 days of 30-s polls, ~1 minute on 2 cores)
      python bench/projection.py --days 365 (a year: the figure issue 17 is about)

Statistics, reports and exports need ~15 of the ~1,300 registers a controller sends.
The baseline is the same query without ``registers`` (every value decoded), in the same
run on the same cache; both are checked to agree on the projected registers. Timed
figures are printed, not asserted: tests must not depend on machine speed.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from storage import DAY_MS, START_MS, fill_days

from luxlog.cache import Cache, Registers
from luxlog.simulator import DEFAULT_CAPTURE, HeatPumpModel, load_capture

# What the day statistics read: temperatures, states, counters, heat quantities.
STATS_REGISTERS = Registers.of([10, 11, 12, 15, 17, 44, 56, 57, 80, 81, 151, 152, 154, 155], [3])


def fill(path: Path, days: int) -> None:
    fill_days(
        path, HeatPumpModel(load_capture(DEFAULT_CAPTURE), seed=1, start_ms=START_MS), days, 1
    )


def timed(run: Callable[[], int], repeat: int) -> tuple[float, int]:
    times, count = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        count = run()
        times.append(time.perf_counter() - started)
    return statistics.median(times), count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cache.sqlite3"
        started = time.perf_counter()
        fill(path, args.days)
        print(f"filled {args.days} days in {time.perf_counter() - started:.1f} s")
        end = START_MS + args.days * DAY_MS
        with Cache.open(path, readonly=True) as cache:

            def full() -> int:
                return sum(1 for _ in cache.query(START_MS, end))

            def projected() -> int:
                return sum(1 for _ in cache.query(START_MS, end, registers=STATS_REGISTERS))

            sample_full = next(iter(cache.query(START_MS + DAY_MS, end)))
            sample_projected = next(
                iter(cache.query(START_MS + DAY_MS, end, registers=STATS_REGISTERS))
            )
            assert all(
                sample_full.calculations[i] == sample_projected.calculations[i]
                for i in STATS_REGISTERS.calculations
            )
            base, count = timed(full, args.repeat)
            fast, _ = timed(projected, args.repeat)
    print(f"{'read':<34} {'s':>8} {'µs/sample':>10}")
    print(f"{'whole rows (baseline)':<34} {base:>8.2f} {base / count * 1e6:>10.1f}")
    n = len(STATS_REGISTERS.calculations) + len(STATS_REGISTERS.parameters)
    label = f"{n} registers (projection)"
    print(f"{label:<34} {fast:>8.2f} {fast / count * 1e6:>10.1f}")
    print(f"speed-up: {base / fast:.1f}x over {count:,} samples")


if __name__ == "__main__":
    main()
