"""Small parts: rendering, progress, sample times, locks, finding the latest sample."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone

import pytest

from luxlog.config import load
from luxlog.errors import Busy, StorageError
from luxlog.inventory import last_complete_sample, latest_sample
from luxlog.locks import hold
from luxlog.progress import RichProgress
from luxlog.render import format_value, table, to_json
from luxlog.sample import Sample, to_ms
from luxlog.spool import Spool, encode_line


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_table_is_plain_tab_separated_off_a_terminal():
    out = io.StringIO()
    table("title", ["a", "b"], [["1", "2"]], stream=out)
    assert out.getvalue() == "# title\na\tb\n1\t2\n"


def test_table_is_a_rich_table_on_a_terminal():
    out = Terminal()
    table("values", ["name", "value"], [["TVL", "34.2"]], stream=out)
    text = out.getvalue()
    assert "values" in text and "TVL" in text and "34.2" in text
    assert "\t" not in text and "─" in text  # drawn by Rich, not tab-separated


def test_value_formatting_and_json():
    assert format_value(None) == ""
    assert format_value(44.9) == "44.9"
    assert format_value(7) == "7"
    assert to_json({"b": 1, "a": [1.5]}) == '{\n  "a": [\n    1.5\n  ],\n  "b": 1\n}'


def test_rich_progress_tracks_done_and_total():
    with RichProgress("working") as progress:
        progress(1, 10)
        progress(10, 10)
        task = progress._progress.tasks[0]
        assert (task.completed, task.total, task.description) == (10, 10, "working")


def test_sample_time_and_ms_conversion():
    sample = Sample(1_764_181_800_123, "h:1", (), ())
    assert sample.time == datetime(2025, 11, 26, 18, 30, 0, 123000, tzinfo=UTC)
    berlin = datetime(2025, 11, 26, 19, 30, tzinfo=timezone(timedelta(hours=1)))
    assert to_ms(berlin) == 1_764_181_800_000
    with pytest.raises(ValueError, match="naive"):
        to_ms(datetime(2025, 1, 1))


def test_lock_timeout_and_unusable_lock_directory(tmp_path):
    path = tmp_path / "locks" / "x.lock"
    with (
        hold(path, timeout=1, what="thing"),
        pytest.raises(Busy, match="thing is in use by another luxlog process"),
        hold(path, timeout=0.1, what="thing"),
    ):
        pass
    with hold(path, timeout=0, what="thing"):
        pass  # released again
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with (
        pytest.raises(StorageError, match="cannot create lock directory"),
        hold(blocker / "locks" / "x.lock", timeout=1, what="thing"),
    ):
        pass
    (tmp_path / "dirlock").mkdir()
    with (
        pytest.raises(StorageError, match="cannot open lock file"),
        hold(tmp_path / "dirlock", timeout=0.1, what="thing"),
    ):
        pass


def sample(ms):
    """A plausible sample (real vector lengths), ``ms`` after 2025-11-26T00:00Z."""
    return Sample(1_764_115_200_000 + ms, "h:1", (1, 2, 3) * 70, (4,) * 1100)


def test_last_complete_sample_reads_only_the_tail_of_a_big_file(tmp_path):
    path = tmp_path / "current.jsonl"
    with path.open("wb") as handle:
        for ms in range(400):  # ~ 400 x 1 KB lines: more than the 256 KB tail
            handle.write(encode_line(Sample(ms, "h:1", tuple(range(200)), ())))
        handle.write(b'{"v":1,"t":"torn')
    found = last_complete_sample(path)
    assert found is not None and found.timestamp_ms == 399
    assert last_complete_sample(tmp_path / "missing.jsonl") is None
    (tmp_path / "junk.jsonl").write_bytes(b"junk\n")
    assert last_complete_sample(tmp_path / "junk.jsonl") is None


def test_latest_sample_prefers_spool_then_cache(tmp_path):
    settings = load(None, environ={"LUXLOG_DATA_DIR": str(tmp_path)})
    assert latest_sample(settings) is None
    spool = Spool(settings.spool_dir)
    spool.append(sample(1000))
    spool.take()
    spool.append(sample(2000))
    assert latest_sample(settings) == sample(2000)
    from luxlog.flush import flush

    flush(settings)
    assert latest_sample(settings) == sample(2000)
