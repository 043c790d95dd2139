"""Recovery benchmark: backup time and size, check times, and restore time of a year's cache.

Run:  python bench/recovery.py            (a 365-day cache, ~2 minutes on 2 cores)
      python bench/recovery.py --days 30  (quicker)

A cache of ``--days`` days of realistic 30-s polls (``bench/storage.py``'s trace,
filled through ``Cache.add_many``) gets seven verified backups (a full rotation); then
one more day goes the way real days go (spool, flush: the segment is kept compressed).
Then 4 KiB in the middle of the cache file are overwritten with noise, ``flush`` must
refuse it, and ``recovery.restore`` rebuilds it from the backups, the kept segment and
the damaged file. Restore is timed twice: like that (the normal case) and without any
backup or kept segment (every hour salvaged from the damaged file: the worst case).

Timed figures are printed, not asserted: tests must not depend on machine speed.
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from pathlib import Path

from storage import DAY_MS, START_MS, fill_days, trace

from luxlog import backup
from luxlog.cache import Cache
from luxlog.config import Settings
from luxlog.errors import CacheDamaged
from luxlog.flush import flush
from luxlog.recovery import check, restore
from luxlog.simulator import DEFAULT_CAPTURE, HeatPumpModel, load_capture
from luxlog.spool import Spool


def damage(path: Path) -> None:
    with path.open("r+b") as handle:
        handle.seek(path.stat().st_size // 2)
        handle.write(random.Random(0).randbytes(4096))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365, help="length of the cache")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="leave the files in this directory")
    args = parser.parse_args()

    model = HeatPumpModel(load_capture(DEFAULT_CAPTURE), seed=args.seed, start_ms=START_MS)
    with tempfile.TemporaryDirectory(prefix="luxlog-bench-") as scratch:
        work = args.keep or Path(scratch)
        data = work / "data"
        settings = Settings(
            data_dir=data, cache_path=data / "cache.sqlite3", spool_dir=data / "spool"
        )
        data.mkdir(parents=True, exist_ok=True)
        build_sec = fill_days(settings.cache_path, model, args.days, args.seed)
        cache_size = settings.cache_path.stat().st_size
        now_ms = START_MS + (args.days + 1) * DAY_MS

        quick = check(settings, quick=True)
        full = check(settings)
        assert quick.healthy and full.healthy, full.problems
        # A full rotation (backup_keep = 7): restore reads the other six as well.
        for day in range(6, 0, -1):
            backup.backup(settings, now_ms=now_ms - day * DAY_MS)
        made = backup.backup(settings, now_ms=now_ms)

        spool = Spool(settings.spool_dir)
        for sample in trace(model, args.days, seed=args.seed):
            spool.append(sample)
        flush_began = time.perf_counter()
        flushed = flush(settings)
        flush_sec = time.perf_counter() - flush_began
        kept = backup.retained_segments(settings)
        kept_bytes = sum(path.stat().st_size for path in kept)

        expected = (args.days + 1) * len(trace(model, 0, seed=args.seed))
        pristine = work / "pristine.sqlite3"
        shutil.copyfile(settings.cache_path, pristine)
        damage(settings.cache_path)
        spool.append(trace(model, args.days + 1, seed=args.seed)[0])  # one poll after it
        expected += 1
        try:
            flush(settings)
        except CacheDamaged:
            pass
        else:
            raise SystemExit("flush did not refuse the damaged cache")
        restored = restore(settings, now_ms=now_ms + 60_000)
        flush(settings)  # what `luxlog cache restore` does next: the spool's newest poll
        with Cache.open(settings.cache_path, readonly=True) as cache:
            assert cache.count() == expected, (cache.count(), expected)

        # Worst case: no backup, no kept segment; everything decoded from the damaged file.
        for item in backup.list_backups(settings):
            item.path.unlink()
        for path in kept:
            path.unlink()
        shutil.copyfile(pristine, settings.cache_path)
        damage(settings.cache_path)
        salvaged = restore(settings, now_ms=now_ms + 120_000)

    print(
        f"{args.days}-day cache of 30-s polls (built in {build_sec:.0f} s): "
        f"{cache_size / 1e6:.1f} MB"
    )
    print(f"  flush check (quick_check) : {quick.seconds:.3f} s  (what every flush adds)")
    print(f"  cache check (full)        : {full.seconds:.3f} s")
    print(
        f"  backup (copy + verify)    : {made.seconds:.2f} s, {made.size / 1e6:.1f} MB "
        f"for {made.samples:,} samples"
    )
    print(
        f"  one more day flushed      : {flush_sec:.2f} s, {flushed.samples_added} samples; "
        f"kept segment {kept_bytes / 1e3:.0f} kB compressed"
    )
    print(
        f"  restore, 7 backups + segment: {restored.seconds:.1f} s  (goal <= 60 s); "
        f"{restored.samples:,} samples, {len(restored.lost_chunks)} damaged chunk(s) covered"
    )
    print(
        f"  restore, no backup at all : {salvaged.seconds:.1f} s; {salvaged.samples:,} of "
        f"{expected:,} samples salvaged, {len(salvaged.lost_chunks)} chunk(s) lost"
    )


if __name__ == "__main__":
    main()
