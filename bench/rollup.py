"""Roll-up benchmark: whole `luxlog rollup` processes over a year of 30-s polls.

Run:  python bench/rollup.py                 (builds a 365-day cache, ~1 min, then ~2 min)
      python bench/rollup.py --days 30       (quicker; the backfill then covers 30 days)
      python bench/rollup.py --keep DIR      (keep cache and CSVs; a second run reuses the cache)

What is measured is what cron and users run: ``python -m luxlog rollup ...`` as a child
process, timed from fork to exit, with its own peak resident memory (``VmHWM``) - start-up,
the flush-first, the cache query, formatting, fsync and rename all included. Goals from
issue 4, for a 365-day cache: one daily <= 1 s, one weekly <= 4 s, all 365 daily files
<= 2 min, every process < 150 MiB peak; tightened by issue 17 to a weekly <= 1.5 s (beside
the same week merely read) and a backfill <= 45 s, every process <= 50 MiB. (The
reference implementation needs 2.6 s and 1 GB for one daily CSV, and 36 s and 8 GB for
its daily + weekly job.)

The cache is the same realistic trace as ``bench/storage.py`` (the simulator's model of a
real capture: 200 calculations + 1,086 parameters a poll, compressor cycles, weather),
filled through ``Cache.add_many``. Figures are printed, not asserted.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from storage import START_MS, kept_cache

from luxlog.simulator import DEFAULT_CAPTURE

ZONE = "Europe/Berlin"


# The baseline: the straightforward way to write the same daily file - every value of
# every sample converted by name (catalogue.values, luxlog's own conversions) and written
# with csv.DictWriter - over the same cache window, as a whole process too.
NAIVE_DAILY = """
import csv, sys
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo
from luxlog.cache import Cache
from luxlog.heatpump import catalogue

data, day, zone = Path(sys.argv[1]), date.fromisoformat(sys.argv[2]), ZoneInfo(sys.argv[3])
end = datetime.combine(day, time(7), zone)
start = datetime.combine(day - timedelta(days=1), time(7), zone)
with Cache.open(data / "cache.sqlite3", readonly=True) as cache, open(
    data / "naive_daily.csv", "w", newline=""
) as handle:
    writer = None
    for sample in cache.query(int(start.timestamp() * 1000), int(end.timestamp() * 1000)):
        row = {"timestamp": sample.time.astimezone(zone).isoformat()}
        row.update(catalogue.values(sample.calculations, sample.parameters))
        if writer is None:
            writer = csv.DictWriter(handle, fieldnames=list(row))
            writer.writeheader()
        writer.writerow(row)
"""

# The floor for a weekly file or a backfill: the same days' samples read from the cache
# (every register decoded, as an all-sensor CSV needs) and nothing written.
READ_ONLY = """
import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo
from luxlog.cache import Cache

data, last, days = Path(sys.argv[1]), date.fromisoformat(sys.argv[2]), int(sys.argv[3])
zone = ZoneInfo(sys.argv[4])
end = datetime.combine(last, time(7), zone)
start = datetime.combine(last - timedelta(days=days), time(7), zone)
with Cache.open(data / "cache.sqlite3", readonly=True) as cache:
    for sample in cache.query(int(start.timestamp() * 1000), int(end.timestamp() * 1000)):
        pass
"""

# Peak RSS comes from the child's own /proc/self/status (VmHWM) at exit, not from
# wait4's ru_maxrss: Linux carries the parent's resident size into a forked child's
# ru_maxrss (exec records the old address space's high-water mark), so a parent holding
# 300 MB reported ~300 MB for /bin/true. The shim runs the real command in-process.
_PEAK_SHIM = """
import atexit, os, runpy, sys
def _report():
    with open("/proc/self/status") as status:
        peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open(os.environ["BENCH_PEAK_FILE"], "w") as out:
        out.write(peak)
atexit.register(_report)
kind, target, *rest = sys.argv[1:]
sys.argv = [target, *rest]
if kind == "-m":
    runpy.run_module(target, run_name="__main__", alter_sys=True)
else:
    exec(compile(target, "<bench>", "exec"), {"__name__": "__main__"})
"""


def run(data: Path, profile: str, *args: str) -> tuple[float, float, str]:
    """(seconds, peak RSS in MB, stderr) of one ``luxlog`` process."""
    return measure([sys.executable, "-m", "luxlog", *args], data, profile)


def measure(command: list[str], data: Path, profile: str) -> tuple[float, float, str]:
    """(seconds, peak RSS in MB, stderr) of one child process."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LUXLOG_")},
        "LUXLOG_DATA_DIR": str(data),
        "LUXLOG_TIMEZONE": ZONE,
        "LUXLOG_CSV_PROFILE": profile,
        "LUXLOG_CACHE_RETENTION_DAYS": "3650",
        "LUXLOG_CSV_RETENTION_DAYS": "3650",
    }
    peak_file = Path(tempfile.mkstemp(prefix="luxlog-bench-peak-")[1])
    env["BENCH_PEAK_FILE"] = str(peak_file)
    python, kind, target, *rest = command  # [python, -m|-c, module|code, args...]
    began = time.perf_counter()
    child = subprocess.Popen(
        [python, "-c", _PEAK_SHIM, kind, target, *rest],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stderr is not None
    errors = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - began
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} exited {child.returncode}:\n{errors}")
    del usage  # ru_maxrss would include the parent's size (see _PEAK_SHIM)
    peak_kb = int(peak_file.read_text() or 0)
    peak_file.unlink()
    return seconds, peak_kb / 1024, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365, help="length of the cache")
    parser.add_argument("--capture", default=DEFAULT_CAPTURE, help="simulator capture")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", default="default", choices=["default", "excel-de"])
    parser.add_argument("--keep", type=Path, help="keep cache and CSVs in this directory")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="luxlog-bench-rollup-") as scratch:
        data = kept_cache(args.keep or Path(scratch), args.days, args.capture, args.seed)
        first = datetime.fromtimestamp(START_MS / 1000, tz=UTC).date()
        middle = first + timedelta(days=args.days // 2)
        monday = middle - timedelta(days=middle.weekday())
        if monday <= first:  # a short cache: the week ending at the next Monday holds it
            monday += timedelta(days=7)
        last = first + timedelta(days=args.days)  # its window holds the last polls

        print(f"profile {args.profile}, time zone {ZONE}, whole processes (python -m luxlog)")
        one_day = ("rollup", "daily", "--date", str(middle))
        daily = [run(data, args.profile, *one_day) for _ in range(3)]
        size = (data / "csv" / f"{middle}_daily.csv").stat().st_size
        best = min(daily)
        print(
            f"  one daily  ({size / 1e6:.1f} MB): {best[0]:.2f} s, {best[1]:.0f} MiB peak "
            "(best of 3; goal <= 1 s, <= 50 MiB)"
        )
        naive = min(
            measure([sys.executable, "-c", NAIVE_DAILY, str(data), str(middle), ZONE], data, "")
            for _ in range(3)
        )
        print(
            f"  baseline, the same day converted by name + csv.DictWriter: {naive[0]:.2f} s, "
            f"{naive[1]:.0f} MiB peak (best of 3)"
        )
        weekly = run(data, args.profile, "rollup", "weekly", "--date", str(monday))
        size = (data / "csv" / f"{monday}_weekly.csv").stat().st_size
        print(
            f"  one weekly ({size / 1e6:.0f} MB): {weekly[0]:.2f} s, {weekly[1]:.0f} MiB peak "
            "(goal <= 1.5 s, <= 50 MiB)"
        )
        floor = min(
            measure([sys.executable, "-c", READ_ONLY, str(data), str(monday), "7", ZONE], data, "")
            for _ in range(3)
        )
        print(
            f"  baseline, reading the same week's samples and writing nothing: {floor[0]:.2f} s, "
            f"{floor[1]:.0f} MiB peak (best of 3)"
        )
        backfill = run(
            data, args.profile, "rollup", "daily", "--from", str(first), "--to", str(last)
        )
        files = sorted((data / "csv").glob("*_daily.csv"))
        total = sum(f.stat().st_size for f in files)
        print(
            f"  backfill {first}..{last}: {len(files)} daily files ({total / 1e9:.1f} GB) in "
            f"{backfill[0]:.1f} s, {backfill[1]:.0f} MiB peak (goal for 365: <= 45 s, <= 50 MiB)"
        )
        days = (last - first).days + 1
        floor = measure(
            [sys.executable, "-c", READ_ONLY, str(data), str(last), str(days), ZONE], data, ""
        )
        print(
            f"  baseline, reading the same {days} days' samples and writing nothing: "
            f"{floor[0]:.1f} s, {floor[1]:.0f} MiB peak"
        )
        if not args.keep:
            for file in files:
                file.unlink()


if __name__ == "__main__":
    main()
