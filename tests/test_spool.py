"""The spool: exact line format, torn tails, rotation and quarantine."""

from __future__ import annotations

import json
import os

import pytest

from luxlog.errors import StorageError
from luxlog.heatpump.protocol import MIN_CALCULATIONS, MIN_PARAMETERS
from luxlog.sample import Sample
from luxlog.spool import (
    BadLine,
    SegmentRead,
    Spool,
    decode_line,
    encode_line,
    format_timestamp,
    parse_timestamp,
)

T0 = 1_764_181_800_000  # 2025-11-26T18:30:00Z


def sample(ms: int, calcs: int = 5) -> Sample:
    """A sample for format tests (short vectors: not plausible as a real read)."""
    return Sample(ms, "hp:8889", tuple(range(-2, calcs - 2)), (500, -200, 2147483647))


def valid(offset_ms: int) -> Sample:
    """A sample the reader accepts: ``T0 + offset_ms``, vectors at the documented floors."""
    return Sample(
        T0 + offset_ms, "hp:8889", tuple(range(MIN_CALCULATIONS)), tuple(range(MIN_PARAMETERS))
    )


def stamps(samples) -> list[int]:
    return [s.timestamp_ms - T0 for s in samples]


def test_line_format_is_documented_json():
    line = encode_line(sample(1_764_181_800_123))
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    record = json.loads(line)
    assert record == {
        "v": 1,
        "t": "2025-11-26T18:30:00.123Z",
        "host": "hp:8889",
        "calc": [-2, -1, 0, 1, 2],
        "param": [500, -200, 2147483647],
    }
    assert decode_line(line) == sample(1_764_181_800_123)


def test_timestamps_round_trip_with_milliseconds():
    for ms in (0, 1, 999, 1_500_000_000_000, 1_764_181_800_999):
        assert parse_timestamp(format_timestamp(ms)) == ms
    assert parse_timestamp("2025-11-26T19:30:00.000+01:00") == 1_764_181_800_000
    with pytest.raises(ValueError):
        parse_timestamp("2025-11-26T18:30:00")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b'{"v":1,"t":"2025-11-26T18:30:00.000Z","host":"h","calc":[1,2', "not JSON"),
        (b"\xff\xfe garbage", "not JSON"),
        (b"[1,2,3]", "not a JSON object"),
        (
            b'{"v":2,"t":"2025-11-26T18:30:00.000Z","host":"h","calc":[],"param":[]}',
            "unknown format version",
        ),
        (b'{"v":1,"host":"h","calc":[],"param":[]}', "'host' or 't' missing"),
        (b'{"v":1,"t":"yesterday","host":"h","calc":[],"param":[]}', "bad timestamp"),
        (
            b'{"v":1,"t":"2025-11-26T18:30:00.000Z","host":"h","calc":[1.5],"param":[]}',
            "'calc' is not",
        ),
        (
            b'{"v":1,"t":"2025-11-26T18:30:00.000Z","host":"h","calc":[],"param":[4294967296]}',
            "'param' is not",
        ),
    ],
)
def test_bad_lines_are_rejected_with_a_reason(line, reason):
    with pytest.raises(BadLine, match=reason):
        decode_line(line)


def test_append_then_take_then_read(tmp_path):
    spool = Spool(tmp_path / "spool")
    for ms in (1000, 2000, 3000):
        spool.append(valid(ms))
    segments = spool.take()
    assert len(segments) == 1 and not spool.current.exists()
    spool.append(valid(4000))  # polls keep appending to a fresh file
    report = SegmentRead(segments[0])
    assert stamps(spool.read(segments[0], report)) == [1000, 2000, 3000]
    assert report.samples == 3 and report.bad_lines == []
    spool.remove(segments[0])
    assert spool.take() == spool.segments() and len(spool.segments()) == 1
    assert stamps(spool.read(spool.segments()[0])) == [4000]


def test_take_with_nothing_spooled(tmp_path):
    spool = Spool(tmp_path / "never-created")
    assert spool.take() == []
    assert spool.segments() == []


def test_torn_tail_gets_its_own_line_and_is_quarantined(tmp_path):
    spool = Spool(tmp_path)
    spool.append(valid(1000))
    full = encode_line(valid(2000))
    with spool.current.open("ab") as handle:  # a writer killed mid-line
        handle.write(full[: len(full) // 2])
    spool.append(valid(3000))
    raw = spool.current.read_bytes()
    assert raw.endswith(b"\n") and raw.count(b"\n") == 3
    segment = spool.take()[0]
    report = SegmentRead(segment)
    assert stamps(spool.read(segment, report)) == [1000, 3000]
    assert [n for n, _ in report.bad_lines] == [2]
    kept = [
        json.loads(line) for line in (spool.quarantine_dir / segment.name).read_text().splitlines()
    ]
    assert kept[0]["line"] == 2 and kept[0]["segment"] == segment.name
    # the torn bytes are kept exactly, not dropped
    assert kept[0]["raw"].encode("utf-8", "surrogateescape") == full[: len(full) // 2]


def test_torn_last_line_of_a_segment_is_quarantined_and_reading_twice_does_not_duplicate(tmp_path):
    spool = Spool(tmp_path)
    spool.append(valid(1000))
    with spool.current.open("ab") as handle:
        handle.write(b'{"v":1,"t":"20')
    segment = spool.take()[0]
    for _ in range(2):  # a flush that crashed after quarantining reads the segment again
        report = SegmentRead(segment)
        assert stamps(spool.read(segment, report)) == [1000]
        assert report.bad_lines == [(2, "torn line (no newline at end of file)")]
    lines = (spool.quarantine_dir / segment.name).read_text().splitlines()
    assert len(lines) == 1


def test_binary_garbage_is_kept_aside(tmp_path):
    spool = Spool(tmp_path)
    spool.current.write_bytes(b"\x00\xff\xfe\n" + encode_line(valid(5)))
    segment = spool.take()[0]
    assert stamps(spool.read(segment)) == [5]
    kept = json.loads((spool.quarantine_dir / segment.name).read_text())
    assert kept["raw"].encode("utf-8", "surrogateescape") == b"\x00\xff\xfe"


def test_leftover_segments_come_first_and_names_never_collide(tmp_path):
    spool = Spool(tmp_path)
    spool.append(sample(1))
    first = spool.take()
    spool.append(sample(2))
    both = spool.take()
    assert both[0] == first[0] and len(both) == 2 and both[0] < both[1]


def test_unwritable_spool_is_a_storage_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    spool = Spool(blocker / "spool")
    with pytest.raises(StorageError, match="cannot open spool file"):
        spool.append(sample(1))


def test_unreadable_segment_is_a_storage_error(tmp_path):
    spool = Spool(tmp_path)
    with pytest.raises(StorageError, match="cannot read spool segment"):
        list(spool.read(tmp_path / "segment-missing.jsonl"))


def test_each_append_is_one_write_and_fsync(tmp_path, monkeypatch):
    calls: list[str] = []
    real_write, real_fsync = os.write, os.fsync
    monkeypatch.setattr(os, "write", lambda fd, data: calls.append("write") or real_write(fd, data))
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append("fsync") or real_fsync(fd))
    spool = Spool(tmp_path)
    spool.append(sample(1))
    calls.clear()
    spool.append(sample(2))
    assert calls == ["write", "fsync"]
