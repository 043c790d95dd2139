"""The one writer of derived files: atomic, per-folder failures, the output-folder rule."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import settings_in

from luxlog import disk, outputs


def test_one_file_into_every_folder_with_the_same_rule_as_the_rollups(tmp_path, monkeypatch):
    data = tmp_path / "data"
    inside = data / "new" / "csv"  # inside data_dir: created
    nas = tmp_path / "mnt" / "nas"  # outside and missing: not mounted, never created
    blocked = data / "blocked"
    full = tmp_path / "full"
    full.mkdir()
    data.mkdir()
    blocked.write_text("a file, not a folder")
    real_usage = disk.disk_usage

    def usage(path: Path) -> disk.Usage | None:
        if path == full:
            return disk.Usage(str(full), 10**9, 10**9 - 4096, 4096)
        return real_usage(path)

    monkeypatch.setattr(disk, "disk_usage", usage)
    settings = settings_in(tmp_path, output_dirs=(inside, nas, blocked, full))
    result = outputs.write_file(settings, "2026-03_summary.csv", b"date\r\n")
    assert result.written == [inside / "2026-03_summary.csv"]
    assert (inside / "2026-03_summary.csv").read_bytes() == b"date\r\n"
    assert "not mounted" in result.failed[nas] and not nas.exists()
    assert result.failed[blocked] == "exists but is not a directory"
    assert result.failed[full].startswith("disk full (4.1 kB free")
    assert list(full.iterdir()) == []  # failed before a byte (or a temp file) was written
    assert sorted(p.name for p in inside.iterdir()) == ["2026-03_summary.csv"]  # no temp


def test_only_the_folders_asked_for(tmp_path):
    first, second = tmp_path / "data" / "a", tmp_path / "data" / "b"
    settings = settings_in(tmp_path, output_dirs=(first, second))
    result = outputs.write_file(settings, "x.html", b"<p>", directories=[second])
    assert result.written == [second / "x.html"] and not first.exists()


def test_prepare_dir_refuses_a_missing_folder_outside_data_dir(tmp_path):
    with pytest.raises(FileNotFoundError, match="not mounted"):
        outputs.prepare_dir(tmp_path / "elsewhere", tmp_path / "data")
    assert not (tmp_path / "elsewhere").exists()
