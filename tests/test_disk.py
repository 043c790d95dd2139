"""Disk watch: warnings near full, exit 7 before writing when actually full, no lost sample.

Most tests inject the usage function; one mounts a real 1 MiB tmpfs in a private mount
namespace (``unshare -rm``, no root needed where user namespaces are allowed) and fills
it, so the guard is also seen working against the kernel's own figures.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import pump_env, settings_in
from typer.testing import CliRunner

from luxlog import disk
from luxlog.cli import app
from luxlog.config import Settings
from luxlog.disk import (
    MIN_FREE_BYTES,
    Usage,
    check_volumes,
    describe_holdings,
    disk_usage,
    format_bytes,
    paths_for,
    volumes,
    watch,
)
from luxlog.errors import StorageError
from luxlog.flush import flush
from luxlog.sample import Sample
from luxlog.spool import Spool, encode_line

GB = 1_000_000_000
runner = CliRunner()


def make_settings(root: Path, **changes: object) -> Settings:
    return settings_in(root, output_dirs=(root / "data" / "csv", root / "nas" / "csv"), **changes)


def fake_probe(root: Path, percents: dict[str, float], free: dict[str, int] | None = None):
    """Paths under ``root/nas`` are on volume "/nas", everything else on "/"."""
    free = free or {}

    def probe(path: Path) -> Usage | None:
        volume = "/nas" if (root / "nas") in path.absolute().parents else "/"
        if volume not in percents:
            return None
        total = 100 * GB
        used = int(total * percents[volume] / 100)
        available = free.get(volume, total - used)
        return Usage(volume, total, used, available)

    return probe


def test_percent_is_used_share_of_what_a_process_may_use():
    assert Usage("/", 100, 45, 45).percent == 50.0  # 10 reserved for root: not usable
    assert Usage("/", 0, 0, 0).percent == 0.0


def test_real_usage_names_the_mount_point_and_walks_up_to_existing_dirs(tmp_path):
    usage = disk_usage(tmp_path / "not" / "yet" / "there")
    assert usage is not None
    assert usage.total_bytes > 0 and 0 <= usage.percent <= 100
    mount = Path(usage.volume)
    assert mount == tmp_path or mount in tmp_path.parents
    assert mount.stat().st_dev == tmp_path.stat().st_dev


def test_real_usage_is_none_when_the_file_system_cannot_be_asked(tmp_path, monkeypatch):
    def refuse(path: object) -> os.statvfs_result:
        raise PermissionError(13, "denied")

    monkeypatch.setattr(os, "statvfs", refuse)
    assert disk_usage(tmp_path) is None
    assert volumes(make_settings(tmp_path), ["spool"]) == []


def test_paths_sharing_a_volume_are_grouped(tmp_path):
    settings = make_settings(tmp_path)
    found = volumes(
        settings, ["spool", "cache", "csv"], probe=fake_probe(tmp_path, {"/": 50, "/nas": 20})
    )
    by_name = {v.usage.volume: [purpose for purpose, _ in v.holds] for v in found}
    assert by_name == {"/": ["spool", "cache", "csv"], "/nas": ["csv"]}
    with pytest.raises(ValueError, match="unknown disk purposes"):
        paths_for(settings, ["logs"])


@pytest.mark.parametrize(("percent", "warned"), [(89.9, False), (90.0, True), (97.0, True)])
def test_warning_at_or_above_the_threshold(tmp_path, caplog, percent, warned):
    settings = make_settings(tmp_path)
    caplog.set_level(logging.WARNING, logger="luxlog")
    found = check_volumes(settings, ["spool"], probe=fake_probe(tmp_path, {"/": percent}))
    assert [v.over for v in found] == [warned]
    assert bool(caplog.records) is warned


def test_warning_names_volume_usage_and_what_luxlog_holds_there(tmp_path, caplog):
    settings = make_settings(tmp_path)
    Spool(settings.spool_dir).append(Sample(1, "h:1", (1, 2), (3,)))
    settings.cache_path.write_bytes(b"x" * 5000)
    caplog.set_level(logging.WARNING, logger="luxlog")
    check_volumes(settings, ["spool", "cache"], probe=fake_probe(tmp_path, {"/": 93.4}))
    (record,) = caplog.records
    text = record.getMessage()
    assert text.startswith("disk / is 93% full (threshold 90%")
    assert f"spool {settings.spool_dir} (" in text
    assert f"cache {settings.cache_path} (5.0 kB)" in text


def test_holdings_of_missing_paths_count_as_nothing(tmp_path):
    settings = make_settings(tmp_path)
    (found,) = volumes(settings, ["csv"], probe=fake_probe(tmp_path, {"/": 1}))
    assert describe_holdings(found) == f"csv {tmp_path / 'data' / 'csv'} (0 B)"


def test_guard_raises_disk_full_only_for_guarded_purposes(tmp_path):
    settings = make_settings(tmp_path)
    probe = fake_probe(tmp_path, {"/": 99, "/nas": 10}, free={"/": MIN_FREE_BYTES - 1})
    with pytest.raises(StorageError, match=r"^disk full: / has .* free"):
        watch(settings, "flush", probe=probe)
    watch(settings, "poll", probe=probe)  # poll only warns
    watch(settings, "prune", probe=probe)  # prune frees space: never refused
    ok = fake_probe(tmp_path, {"/": 99, "/nas": 10}, free={"/": MIN_FREE_BYTES})
    watch(settings, "flush", probe=ok)
    with pytest.raises(StorageError, match="disk full"):
        watch(settings, "flush", need_bytes=1, probe=ok)


def test_rollup_warns_for_every_output_dir_but_leaves_the_refusal_to_each_folder(tmp_path, caplog):
    # One full NAS must not stop the other folders: the roll-up writer refuses a full
    # folder on its own (tests/test_products.py); the job-level check only warns.
    settings = make_settings(tmp_path)
    probe = fake_probe(tmp_path, {"/": 10, "/nas": 100}, free={"/nas": 0})
    with caplog.at_level("WARNING", logger="luxlog"):
        watch(settings, "rollup", probe=probe)
    assert [r.getMessage().split(" is ")[0] for r in caplog.records] == ["disk /nas"]
    assert str(tmp_path / "nas" / "csv") in caplog.records[0].getMessage()


def test_format_bytes():
    assert format_bytes(0) == "0 B"
    assert format_bytes(999) == "999 B"
    assert format_bytes(1500) == "1.5 kB"
    assert format_bytes(12_300_000) == "12.3 MB"
    assert format_bytes(4 * 10**15) == "4000.0 TB"


def test_flush_refuses_a_full_disk_and_keeps_every_sample(tmp_path):
    settings = make_settings(tmp_path)
    spool = Spool(settings.spool_dir)
    for i in range(3):
        spool.append(Sample(1_764_115_200_000 + i, "h:1", (i,) * 200, (i,) * 1100))
    before = spool.current.read_bytes()
    probe = fake_probe(tmp_path, {"/": 100}, free={"/": 4096})
    with pytest.raises(StorageError, match="disk full"):
        disk.watch(settings, "flush", probe=probe)
    # Through the real flush (module attribute replaced, as the CLI test does):
    original = disk.disk_usage
    disk.disk_usage = probe  # type: ignore[assignment]
    try:
        with pytest.raises(StorageError, match="disk full"):
            flush(settings)
    finally:
        disk.disk_usage = original  # type: ignore[assignment]
    assert spool.current.read_bytes() == before  # not even rotated into a segment
    assert spool.segments() == []
    assert not settings.cache_path.exists()
    assert flush(settings).samples_added == 3  # with space again, nothing was lost


def test_cli_poll_near_full_warns_and_still_spools(tmp_path, pump, monkeypatch):
    monkeypatch.setattr(disk, "disk_usage", fake_probe(tmp_path, {"/": 99.5}, free={"/": 0}))
    result = runner.invoke(app, ["poll"], env=pump_env(tmp_path, pump.port))
    assert result.exit_code == 0, result.output
    assert "WARNING poll: disk / is 100% full (threshold 90%" in result.stderr
    assert (tmp_path / "data" / "spool" / "current.jsonl").read_text().count("\n") == 1


def test_cli_flush_on_full_disk_exits_7_and_loses_nothing(tmp_path, pump, monkeypatch):
    env = pump_env(tmp_path, pump.port)
    for _ in range(2):
        assert runner.invoke(app, ["poll"], env=env).exit_code == 0
    current = tmp_path / "data" / "spool" / "current.jsonl"
    before = current.read_bytes()
    with monkeypatch.context() as full:  # undoing only this, not the test's isolation
        full.setattr(disk, "disk_usage", fake_probe(tmp_path, {"/": 100}, free={"/": 1000}))
        result = runner.invoke(app, ["flush"], env=env)
    assert result.exit_code == 7, result.output
    assert "ERROR flush: disk full: / has 1.0 kB free" in result.stderr
    assert "WARNING flush: disk / is 100% full" in result.stderr
    assert current.read_bytes() == before
    assert runner.invoke(app, ["flush"], env=env).exit_code == 0
    assert not current.exists() or current.stat().st_size == 0


# -- a real, tiny, full file system ----------------------------------------------------

FULL_DISK_SCRIPT = """
import os, subprocess, sys
mount = sys.argv[1]
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mount], check=True)
with open(os.path.join(mount, "filler"), "wb") as handle:
    handle.write(b"x" * (1024 * 1024 - 64 * 1024))  # leaves 64 KiB: a nearly full disk
done = subprocess.run([sys.executable, "-m", "luxlog", *sys.argv[2:]], capture_output=True,
                      text=True)
print(done.returncode)
print(done.stderr)
print(os.listdir(mount))
"""


def run_on_tiny_disk(tmp_path: Path, env: dict[str, str], *args: str) -> tuple[int, str, str]:
    if sys.platform != "linux" or shutil.which("unshare") is None:
        pytest.skip("needs Linux unshare")
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("user/mount namespaces not allowed here")
    mount = tmp_path / "tiny"
    mount.mkdir(exist_ok=True)
    done = subprocess.run(
        ["unshare", "-rm", sys.executable, "-c", FULL_DISK_SCRIPT, str(mount), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=8,
    )
    assert done.returncode == 0, done.stderr
    code, _, rest = done.stdout.partition("\n")
    stderr, _, listing = rest.rpartition("\n[")
    return int(code), stderr, "[" + listing


def test_flush_into_a_really_full_tmpfs_exits_7_and_keeps_the_spool(tmp_path, pump):
    env = pump_env(tmp_path, pump.port)
    for _ in range(2):
        assert runner.invoke(app, ["poll"], env=env).exit_code == 0
    current = tmp_path / "data" / "spool" / "current.jsonl"
    before = current.read_bytes()
    env["LUXLOG_CACHE_PATH"] = str(tmp_path / "tiny" / "cache.sqlite3")
    code, stderr, listing = run_on_tiny_disk(tmp_path, env, "flush")
    assert code == 7, stderr
    assert "WARNING flush: disk " + str(tmp_path / "tiny") + " is 9" in stderr
    assert "ERROR flush: disk full: " + str(tmp_path / "tiny") in stderr
    assert listing.strip() == "['filler']"  # no cache file, no half-written anything
    assert current.read_bytes() == before


def test_poll_onto_a_really_full_tmpfs_warns_and_spools(tmp_path, pump):
    env = pump_env(tmp_path, pump.port)
    env["LUXLOG_SPOOL_DIR"] = str(tmp_path / "tiny" / "spool")
    code, stderr, listing = run_on_tiny_disk(tmp_path, env, "poll")
    assert code == 0, stderr
    assert "WARNING poll: disk " + str(tmp_path / "tiny") + " is 9" in stderr
    assert "spool" in listing


def test_encode_line_fits_the_poll_reserve_note():
    # The poll comment says a spool line is ~10 kB: keep it honest for real vectors.
    from luxlog.simulator import HeatPumpModel, load_capture

    model = HeatPumpModel(load_capture(), seed=1, start_ms=0)
    calculations, parameters = model.read(0)
    assert len(encode_line(Sample(0, "h:1", calculations, parameters))) < 16_000
