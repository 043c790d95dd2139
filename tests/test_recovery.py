"""A damaged cache: flush refuses it, backups and kept segments cover it, restore rebuilds it.

Everything is real: SQLite files damaged by overwriting bytes on disk, the CLI run
in-process with CliRunner, spool and backups under tmp_path. Samples are a week of the
simulator's model of a real capture at 20-minute polls: the full ~1,300-value vectors,
few enough to keep each test well under a second.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import Result
from helpers import settings_in
from typer.testing import CliRunner

from luxlog import backup
from luxlog.cache import Cache
from luxlog.cache.salvage import SalvageReport, salvage, verify_file
from luxlog.cli import app
from luxlog.config import Settings
from luxlog.errors import CacheDamaged
from luxlog.flush import flush
from luxlog.recovery import check, restore
from luxlog.sample import Sample
from luxlog.simulator import HeatPumpModel, load_capture
from luxlog.spool import Spool, encode_line

START = 1_764_115_200_000  # 2025-11-26T00:00:00Z
HOST = "192.168.1.50:8889"
STEP_MS = 1_200_000
PER_DAY = 86_400_000 // STEP_MS
runner = CliRunner()


def week(days: int = 7) -> list[Sample]:
    model = HeatPumpModel(load_capture(), seed=3, start_ms=START)
    samples = []
    for i in range(days * PER_DAY):
        at = START + i * STEP_MS + (i * 7919) % 400  # a little jitter, deterministic
        calculations, parameters = model.read(at)
        samples.append(Sample(at, HOST, calculations, parameters))
    return samples


@pytest.fixture(scope="module")
def samples() -> list[Sample]:
    return week()


def make(root: Path) -> Settings:
    return settings_in(root, backup_keep=3)


def spool_lines(settings: Settings, samples: list[Sample]) -> None:
    """What polls append, in one write instead of one fsync a line (speed)."""
    current = Spool(settings.spool_dir).current
    current.parent.mkdir(parents=True, exist_ok=True)
    with current.open("ab") as handle:
        handle.write(b"".join(encode_line(sample) for sample in samples))


def spool_and_flush(settings: Settings, samples: list[Sample], *, flushes: int = 1) -> None:
    size = -(-len(samples) // flushes)
    for part in range(flushes):
        spool_lines(settings, samples[part * size : (part + 1) * size])
        flush(settings)


def cached(settings: Settings) -> list[Sample]:
    with Cache.open(settings.cache_path, readonly=True) as cache:
        return list(cache.query(-(2**62), 2**62))


def damage(path: Path, where: str, *, size: int = 4096, seed: int = 1) -> None:
    """Overwrite ``size`` bytes at the start, middle or end of ``path`` with noise."""
    length = path.stat().st_size
    offset = {"start": 0, "middle": length // 2, "end": max(0, length - size)}[where]
    noise = random.Random(seed).randbytes(size)
    with path.open("r+b") as handle:
        handle.seek(offset)
        handle.write(noise)


def invoke(settings: Settings, *args: str) -> Result:
    return runner.invoke(app, ["--data-dir", str(settings.data_dir), *args])


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def segments(settings: Settings) -> list[Path]:
    return sorted(settings.spool_dir.glob("segment-*.jsonl"))


# -- flush refuses a damaged cache ---------------------------------------------------------


@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_flush_refuses_a_damaged_cache_and_keeps_the_spool(
    tmp_path: Path, samples: list[Sample], where: str
) -> None:
    settings = make(tmp_path)
    spool_and_flush(settings, samples[:PER_DAY])
    damage(settings.cache_path, where)
    before = digest(settings.cache_path)
    Spool(settings.spool_dir).append(samples[PER_DAY])

    result = invoke(settings, "flush")

    assert result.exit_code == 7, result.output
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "luxlog cache restore" in errors[0], errors
    assert str(settings.cache_path) in errors[0]
    assert digest(settings.cache_path) == before  # nothing committed into it
    pending = segments(settings)
    assert len(pending) == 1 and samples[PER_DAY].host in pending[0].read_text()


def test_flush_keeps_each_segment_compressed_after_committing_it(
    tmp_path: Path, samples: list[Sample]
) -> None:
    settings = make(tmp_path)
    spool_and_flush(settings, samples[:PER_DAY], flushes=2)
    kept = backup.retained_segments(settings)
    assert len(kept) == 2 and segments(settings) == []
    read = backup.RetainedRead()
    again = [s for path in kept for s in backup.read_retained(path, read)]
    assert again == samples[:PER_DAY] and read.files == 2
    assert sum(path.stat().st_size for path in kept) < 0.2 * sum(
        len(gzip.decompress(path.read_bytes())) for path in kept
    )


# -- backups -------------------------------------------------------------------------------


def test_backup_is_verified_covers_the_kept_segments_and_rotates(
    tmp_path: Path, samples: list[Sample]
) -> None:
    settings = make(tmp_path)
    spool_and_flush(settings, samples[:PER_DAY], flushes=2)
    taken = []
    for day in range(4):
        taken.append(backup.backup(settings, now_ms=START + (day + 2) * 86_400_000))
    assert taken[0].segments_covered == 2 and taken[0].samples == PER_DAY
    assert backup.retained_segments(settings) == []
    kept = backup.list_backups(settings)
    assert [item.path for item in kept] == [t.path for t in reversed(taken)][:3]
    assert not taken[0].path.exists() and taken[-1].rotated == [taken[0].path]
    assert taken[2].rotated == []
    assert verify_file(kept[0].path) == []
    assert not list(kept[0].path.parent.glob("*-wal"))  # one self-contained file
    with Cache.open(kept[0].path, readonly=True) as copy:
        assert list(copy.query(-(2**62), 2**62)) == samples[:PER_DAY]


def test_backup_of_a_damaged_cache_fails_and_keeps_everything(
    tmp_path: Path, samples: list[Sample]
) -> None:
    settings = make(tmp_path)
    spool_and_flush(settings, samples[:PER_DAY])
    first = backup.backup(settings, now_ms=START + 86_400_000)
    spool_and_flush(settings, samples[PER_DAY : 2 * PER_DAY])
    damage(settings.cache_path, "middle")

    with pytest.raises(CacheDamaged, match="cache restore"):
        backup.backup(settings, now_ms=START + 2 * 86_400_000)

    assert [item.path for item in backup.list_backups(settings)] == [first.path]
    assert len(backup.retained_segments(settings)) == 1  # still needed: not covered
    assert list(backup.backups_dir(settings).iterdir()) == [first.path]  # no temp left


def test_backup_removes_what_a_killed_backup_left(tmp_path: Path, samples: list[Sample]) -> None:
    settings = make(tmp_path)
    spool_and_flush(settings, samples[:10])
    folder = backup.backups_dir(settings)
    folder.mkdir(parents=True)
    leftover = folder / f".{backup.backup_name(START)}.tmp"
    leftover.write_bytes(b"half a copy")
    made = backup.backup(settings, now_ms=START + 60_000)
    assert sorted(folder.iterdir()) == [made.path]


def test_backup_is_due_daily(tmp_path: Path, samples: list[Sample]) -> None:
    settings = make(tmp_path)
    day = 86_400_000
    assert backup.backup_if_due(settings, now_ms=START) is None  # no cache yet
    spool_and_flush(settings, samples[:10])
    assert backup.backup_if_due(settings, now_ms=START) is not None
    assert backup.backup_if_due(settings, now_ms=START + day - 1) is None
    assert backup.is_due(settings, now_ms=START + day)
    assert backup.is_due(settings, now_ms=START - day)  # newest "from the future"


def test_rollup_due_takes_the_daily_backup(tmp_path: Path, samples: list[Sample]) -> None:
    settings = make(tmp_path)
    spool_and_flush(settings, samples[:10])
    result = invoke(settings, "rollup", "due")
    assert result.exit_code == 0, result.output
    assert len(backup.list_backups(settings)) == 1
    assert backup.retained_segments(settings) == []
    result = invoke(settings, "rollup", "due")
    assert len(backup.list_backups(settings)) == 1  # not due again the same day


def test_rollup_due_reports_a_failed_backup_as_exit_7(
    tmp_path: Path, samples: list[Sample]
) -> None:
    settings = make(tmp_path)
    spool_and_flush(settings, samples[:PER_DAY])
    damage(settings.cache_path, "middle")
    result = invoke(settings, "rollup", "due")
    assert result.exit_code == 7, result.output
    assert "cache restore" in result.stderr
    assert backup.list_backups(settings) == []


# -- cache check ---------------------------------------------------------------------------


def test_cache_check_healthy_and_damaged(tmp_path: Path, samples: list[Sample]) -> None:
    settings = make(tmp_path)
    spool_and_flush(settings, samples[:PER_DAY])
    result = invoke(settings, "cache", "check")
    assert result.exit_code == 0, result.output
    assert f"samples: {PER_DAY}" in result.stdout
    assert "flushed_segments_kept: 1" in result.stdout

    damage(settings.cache_path, "middle")
    before = digest(settings.cache_path)
    result = invoke(settings, "cache", "check", "--json")
    assert result.exit_code == 7, result.output
    assert '"healthy": false' in result.stdout
    assert "luxlog cache restore" in result.stderr
    assert invoke(settings, "cache", "check", "--quick").exit_code == 7
    assert digest(settings.cache_path) == before


def test_full_check_finds_a_damaged_blob_that_sqlite_cannot_see(
    tmp_path: Path, samples: list[Sample]
) -> None:
    settings = make(tmp_path)
    spool_and_flush(settings, samples[:PER_DAY])
    import sqlite3

    connection = sqlite3.connect(settings.cache_path)
    blob = bytearray(connection.execute("SELECT data FROM chunks WHERE id = 2").fetchone()[0])
    blob[len(blob) // 2] ^= 0xFF
    connection.execute("UPDATE chunks SET data = ? WHERE id = 2", (bytes(blob),))
    connection.commit()
    connection.close()
    assert check(settings, quick=True).healthy  # pages and b-trees are fine
    report = check(settings)
    assert not report.healthy and report.problems[0].startswith("chunk 2:")


def test_check_of_a_missing_cache_is_healthy(tmp_path: Path) -> None:
    report = check(make(tmp_path))
    assert report.healthy and not report.exists and report.samples is None


# -- restore -------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_restore_brings_back_every_sample_exactly_once(
    tmp_path: Path, samples: list[Sample], where: str
) -> None:
    """The week: days 0-3 flushed and backed up, days 4-5 flushed since, day 6 only
    spooled; then the cache is damaged and a flush refuses it; restore + flush give
    back every sample, once."""
    settings = make(tmp_path)
    spool_and_flush(settings, samples[: 4 * PER_DAY], flushes=4)
    backup.backup(settings, now_ms=START + 4 * 86_400_000)
    spool_and_flush(settings, samples[4 * PER_DAY : 6 * PER_DAY], flushes=2)
    spool_lines(settings, samples[6 * PER_DAY :])
    damage(settings.cache_path, where)
    assert invoke(settings, "flush").exit_code == 7

    result = invoke(settings, "cache", "restore")

    assert result.exit_code == 0, result.output
    assert cached(settings) == samples  # every sample, in order, once, values exact
    assert check(settings).healthy
    aside = list(settings.cache_path.parent.glob("cache.sqlite3.damaged-*[0-9]"))
    assert len(aside) == 1  # the damaged file is kept for the user, not deleted
    assert segments(settings) == [] and not Path(settings.spool_dir / "current.jsonl").exists()


def test_restore_without_any_backup_salvages_the_readable_chunks(
    tmp_path: Path, samples: list[Sample]
) -> None:
    """History from before backups existed (added straight into the cache) is only in
    the damaged file: what is readable comes back, exactly; what is not is reported."""
    settings = make(tmp_path)
    with Cache.open(settings.cache_path) as cache:
        cache.add_many(samples)
    damage(settings.cache_path, "middle", size=1024)

    result = restore(settings, now_ms=START + 8 * 86_400_000)

    back = cached(settings)
    assert result.backup is None and result.lost_chunks  # the damage did cost something
    assert 0 < len(back) < len(samples)
    by_time = {sample.timestamp_ms: sample for sample in samples}
    assert all(by_time[sample.timestamp_ms] == sample for sample in back)  # nothing garbled
    assert len({sample.timestamp_ms for sample in back}) == len(back)
    assert result.samples == len(back)


def test_restore_skips_a_damaged_backup_and_salvages_set_aside_files(
    tmp_path: Path, samples: list[Sample]
) -> None:
    settings = make(tmp_path)
    spool_and_flush(settings, samples[: 2 * PER_DAY])
    good = backup.backup(settings, now_ms=START + 2 * 86_400_000)
    spool_and_flush(settings, samples[2 * PER_DAY : 3 * PER_DAY])
    bad = backup.backup(settings, now_ms=START + 3 * 86_400_000)
    damage(bad.path, "middle")
    # A restore killed between its two renames: the damaged file is aside, none in place.
    aside = settings.cache_path.with_name("cache.sqlite3.damaged-1")
    settings.cache_path.rename(aside)

    result = restore(settings, now_ms=START + 4 * 86_400_000)

    assert result.backup == good.path and result.backups_rejected
    assert result.set_aside is None
    assert cached(settings) == samples[: 3 * PER_DAY]


def test_salvage_of_an_unreadable_file_yields_nothing(tmp_path: Path) -> None:
    path = tmp_path / "garbage.sqlite3"
    path.write_bytes(b"not a database at all " * 100)
    report = SalvageReport(path)
    assert list(salvage(path, report)) == [] and report.error is not None
    assert verify_file(path)


def test_status_shows_backups_and_kept_segments(tmp_path: Path, samples: list[Sample]) -> None:
    settings = make(tmp_path)
    spool_and_flush(settings, samples[:PER_DAY], flushes=2)
    result = invoke(settings, "status", "--json")
    section = json.loads(result.stdout)["backups"]
    assert section["count"] == 0 and section["newest"] is None and section["keep"] == 7
    assert section["flushed_segments_kept"] == 2 and section["flushed_segments_bytes"] > 0

    backup.backup(settings, now_ms=START + 86_400_000)
    section = json.loads(invoke(settings, "status", "--json").stdout)["backups"]
    assert section["count"] == 1 and section["newest"] == "2025-11-27T00:00:00.000Z"
    assert section["flushed_segments_kept"] == 0 and section["bytes"] > 0
    text = invoke(settings, "status").stdout
    assert "1 of 7 kept" in text and "newest 2025-11-27T00:00:00.000Z" in text


def test_prune_applies_a_lowered_backup_keep(tmp_path: Path, samples: list[Sample]) -> None:
    settings = make(tmp_path)
    spool_and_flush(settings, samples[:10])
    made = [backup.backup(settings, now_ms=START + day * 86_400_000) for day in range(3)]
    env = {"LUXLOG_BACKUP_KEEP": "1"}
    args = ["--data-dir", str(settings.data_dir), "prune"]
    result = runner.invoke(app, [*args, "--dry-run"], env=env)
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == [str(made[1].path), str(made[0].path)]
    assert all(item.path.exists() for item in made)
    assert runner.invoke(app, args, env=env).exit_code == 0
    assert [item.path for item in backup.list_backups(settings)] == [made[2].path]


def test_backup_killed_at_any_instant_never_loses_coverage(
    tmp_path: Path, samples: list[Sample]
) -> None:
    """SIGKILL `luxlog cache backup` at random instants: a file with a backup's name is
    always a verified backup, and newest backup + kept segments always hold every
    flushed sample. Bounded by time, not by rounds."""
    settings = make(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUXLOG_")}
    env["LUXLOG_DATA_DIR"] = str(settings.data_dir)
    jitter = random.Random(7)
    flushed: list[Sample] = []
    deadline = time.monotonic() + 0.8
    rounds = 0
    while time.monotonic() < deadline or rounds < 2:
        batch = samples[rounds * 12 : (rounds + 1) * 12]
        spool_and_flush(settings, batch)
        flushed += batch
        proc = subprocess.Popen(
            [sys.executable, "-m", "luxlog", "cache", "backup"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            proc.wait(timeout=jitter.uniform(0.05, 0.6))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=5) in (0, -signal.SIGKILL)
        rounds += 1
        found = backup.list_backups(settings)
        assert all(verify_file(item.path) == [] for item in found)
        held: set[int] = set()
        if found:
            with Cache.open(found[0].path, readonly=True) as copy:
                held.update(copy.timestamps(-(2**62), 2**62))
        read = backup.RetainedRead()
        for path in backup.retained_segments(settings):
            held.update(s.timestamp_ms for s in backup.read_retained(path, read))
        assert held >= {sample.timestamp_ms for sample in flushed}, rounds
    made = backup.backup(settings, now_ms=START + 30 * 86_400_000)
    assert [p.name for p in made.path.parent.iterdir() if p.name.startswith(".")] == []
    assert made.samples == len(flushed) and backup.retained_segments(settings) == []


def test_read_back_notices_a_commit_the_cache_cannot_give_back(
    tmp_path: Path, samples: list[Sample]
) -> None:
    from luxlog.flush import _read_back

    settings = make(tmp_path)
    with Cache.open(settings.cache_path) as cache:
        cache.add_many(samples[:3])
        _read_back(cache, [sample.timestamp_ms for sample in samples[:3]])
        with pytest.raises(CacheDamaged, match="lost 1 of 2 sample"):
            _read_back(cache, [samples[0].timestamp_ms, samples[5].timestamp_ms])


def test_a_backup_named_before_the_others_survives_its_rotation(
    tmp_path: Path, samples: list[Sample]
) -> None:
    """The clock went back: the fresh backup's name sorts oldest, yet it is kept."""
    settings = make(tmp_path)
    spool_and_flush(settings, samples[:10])
    later = [backup.backup(settings, now_ms=START + day * 86_400_000) for day in (5, 6, 7)]
    earlier = backup.backup(settings, now_ms=START)
    assert earlier.path.exists() and earlier.rotated == [later[0].path]
    assert {item.path for item in backup.list_backups(settings)} == {
        earlier.path,
        later[1].path,
        later[2].path,
    }


def test_restore_after_the_clock_went_back_uses_every_backup(
    tmp_path: Path, samples: list[Sample]
) -> None:
    """The freshest backup is named oldest and covered (deleted) the kept segments; the
    restore still finds its samples."""
    settings = make(tmp_path)
    spool_and_flush(settings, samples[:PER_DAY])
    backup.backup(settings, now_ms=START + 9 * 86_400_000)  # clock far ahead, then fixed
    spool_and_flush(settings, samples[PER_DAY : 2 * PER_DAY])
    backup.backup(settings, now_ms=START + 2 * 86_400_000)
    assert backup.retained_segments(settings) == []
    damage(settings.cache_path, "start")

    restore(settings, now_ms=START + 3 * 86_400_000)

    assert cached(settings) == samples[: 2 * PER_DAY]


def test_backup_that_cannot_be_written_is_a_storage_error_not_damage(
    tmp_path: Path, samples: list[Sample]
) -> None:
    settings = make(tmp_path)
    spool_and_flush(settings, samples[:10])
    backup.backups_dir(settings).write_text("a file where the backups folder should be")
    result = invoke(settings, "cache", "backup")
    assert result.exit_code == 7, result.output
    assert "cannot create backup folder" in result.stderr and "restore" not in result.stderr
    assert len(backup.retained_segments(settings)) == 1


def test_flush_process_on_a_cache_damaged_in_the_middle_exits_7(
    tmp_path: Path, samples: list[Sample]
) -> None:
    """The issue's case, as cron runs it: a real process, a few KiB overwritten mid-file."""
    settings = make(tmp_path)
    spool_and_flush(settings, samples[:PER_DAY])
    damage(settings.cache_path, "middle")
    spool_lines(settings, samples[PER_DAY : PER_DAY + 3])
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUXLOG_")}
    env["LUXLOG_DATA_DIR"] = str(settings.data_dir)
    done = subprocess.run(
        [sys.executable, "-m", "luxlog", "flush"],
        env=env,
        capture_output=True,
        text=True,
        timeout=8,
        check=False,
    )
    assert done.returncode == 7, done.stderr
    assert "3 new" not in done.stderr and "Traceback" not in done.stderr
    assert "luxlog cache restore" in done.stderr
    assert len(segments(settings)) == 1  # the three samples wait in the spool


def test_prune_does_not_write_into_a_damaged_cache(tmp_path: Path, samples: list[Sample]) -> None:
    settings = make(tmp_path)
    spool_and_flush(settings, samples[:PER_DAY])
    damage(settings.cache_path, "middle")
    before = digest(settings.cache_path)
    result = invoke(settings, "prune")
    assert result.exit_code == 7, result.output
    assert "luxlog cache restore" in result.stderr
    assert digest(settings.cache_path) == before


def test_restore_keeps_the_bookkeeping_readable_in_the_damaged_file(
    tmp_path: Path, samples: list[Sample]
) -> None:
    settings = make(tmp_path)
    spool_and_flush(settings, samples[:PER_DAY])
    backup.backup(settings, now_ms=START + 86_400_000)
    with Cache.open(settings.cache_path) as cache:
        cache.set_state("rollup.last_due", '{"written": 1}')  # newer than the backup
    damage(settings.cache_path, "end", size=512)

    restore(settings, now_ms=START + 2 * 86_400_000)

    with Cache.open(settings.cache_path, readonly=True) as cache:
        assert cache.get_state("rollup.last_due") == '{"written": 1}'
    assert cached(settings) == samples[:PER_DAY]


def test_a_truncated_kept_segment_gives_what_it_still_holds(
    tmp_path: Path, samples: list[Sample]
) -> None:
    settings = make(tmp_path)
    spool_and_flush(settings, samples[:PER_DAY])
    (kept,) = backup.retained_segments(settings)
    kept.write_bytes(kept.read_bytes()[: kept.stat().st_size // 2])
    read = backup.RetainedRead()
    got = list(backup.read_retained(kept, read))
    assert 0 < len(got) < PER_DAY and got == samples[: len(got)]
    assert read.unreadable and kept.name in read.unreadable[0]
