"""Statistics over a long cache: projected reads and stored day figures against whole rows.

Run:  python bench/stats.py                 (builds a 365-day cache: ~1-2 min on 2 cores)
      python bench/stats.py --days 60       (quicker)
      python bench/stats.py --keep DIR      (build once into DIR, reuse it next time)

Timed in-process (CPU seconds of this process), each beside its baseline in the same run:

* ``stats --by day|month|season`` over the whole cache with nothing stored yet (the
  first run after an import or upgrade: every sample read, projected, and the finished
  days' figures stored afterwards); baseline: the same periods summarised from whole
  rows (every register decoded);
* the same three once ``rollup due`` has stored the day figures (what every later run
  costs: weeks, months and seasons are added up from the stored days);
* one day's report, projected, against whole rows.

Goals (issue 17, 365 days): ``stats`` <= 10 s for each kind; report <= 0.4 s. Figures are
printed, not asserted: tests must not depend on machine speed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from storage import DAY_MS, START_MS, kept_cache

from luxlog import dayfigures, report, stats
from luxlog.cache import Cache
from luxlog.config import Settings
from luxlog.simulator import DEFAULT_CAPTURE


def cpu(run: Callable[[], Any]) -> tuple[float, Any]:
    began = time.process_time()
    result = run()
    return time.process_time() - began, result


def whole_rows(run: Callable[[], Any]) -> Callable[[], Any]:
    """``run`` with every register decoded (the cache's query without projection)."""

    def baseline() -> Any:
        real = Cache.query

        def query(self: Cache, start_ms: int, end_ms: int, **_: Any) -> Any:
            return real(self, start_ms, end_ms)

        Cache.query = query  # type: ignore[method-assign]
        try:
            return run()
        finally:
            Cache.query = real  # type: ignore[method-assign]

    return baseline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--keep", type=Path, help="build the cache here and reuse it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="luxlog-bench-stats-") as scratch:
        data = kept_cache(args.keep or Path(scratch), args.days, DEFAULT_CAPTURE, 1)
        cache_path = data / "cache.sqlite3"
        settings = Settings(
            data_dir=data,
            cache_path=cache_path,
            spool_dir=data / "spool",
            output_dirs=(data / "csv",),
            interval_sec=30,
            timezone="UTC",
        )
        first = datetime.fromtimestamp(START_MS / 1000, tz=UTC).date()
        last = first + timedelta(days=args.days - 1)
        now = START_MS + args.days * DAY_MS + DAY_MS

        def forget() -> None:
            """Drop every stored day figure: the next run computes from the samples (and,
            as `stats` does, stores what it computed)."""
            with Cache.open(cache_path) as cache:
                cache.forget_state("figures:day:", "~")  # "~" sorts after every date

        def by(kind: stats.PeriodKind) -> Callable[[], Any]:
            return lambda: stats.compute(settings, kind=kind, first=first, last=last, now_ms=now)

        print(f"{args.days}-day cache of 30-s polls; CPU seconds of this process")
        print(f"{'':<34} {'luxlog':>8} {'baseline':>9}  (baseline: whole rows)")
        for kind in ("day", "month", "season"):
            forget()
            spent, rows = cpu(by(kind))
            forget()
            base, _ = cpu(whole_rows(by(kind)))
            print(f"stats --by {kind:<23} {spent:>8.2f} {base:>9.2f}  ({len(rows)} rows)")
        calendar = stats.Calendar.from_settings(settings)
        days = calendar.periods("day", first, last)
        forget()
        with Cache.open(cache_path) as cache:  # what `rollup due` does, day by day
            stored, _ = cpu(
                lambda: dayfigures.period_rows(
                    cache, days, calendar=calendar, settings=settings, now_ms=now
                )
            )
        print(f"{'storing day figures (rollup due)':<34} {stored:>8.2f}")
        for kind in ("day", "month", "season"):
            again, _ = cpu(by(kind))
            print(f"stats --by {kind + ', days stored':<23} {again:>8.2f}")
        middle = first + timedelta(days=args.days // 2)
        with Cache.open(cache_path, readonly=True) as cache:
            spent, _ = cpu(lambda: report.build(cache, settings, middle, now_ms=now))
            base, _ = cpu(whole_rows(lambda: report.build(cache, settings, middle, now_ms=now)))
        print(f"{'report of one day':<34} {spent:>8.2f} {base:>9.2f}")


if __name__ == "__main__":
    main()
