"""Poison input (issue 12, items 1, 3 and 4): no spool content can stop a flush.

Every case writes a real spool file around one bad line and runs the real flush; the
good samples on both sides must reach the cache, the bad line must be in the
quarantine with its reason, and the command must exit 0.
"""

from __future__ import annotations

import json
import random
import time
import tracemalloc
from pathlib import Path

import pytest
from helpers import settings_in
from typer.testing import CliRunner

from luxlog.cache import Cache
from luxlog.cli import app
from luxlog.flush import flush
from luxlog.heatpump.protocol import MAX_VALUES, MIN_CALCULATIONS, MIN_PARAMETERS
from luxlog.sample import Sample
from luxlog.spool import (
    FUTURE_TOLERANCE_MS,
    REPORTED_BAD_LINES,
    SegmentRead,
    Spool,
    encode_line,
    format_timestamp,
)

NOW = 1_764_115_200_000  # 2025-11-26T00:00:00Z, the flush's clock in these tests
HOST = "192.168.1.50:8889"
CALC = tuple(range(200))
PARAM = tuple(range(1100))
runner = CliRunner()


def good(offset_s: int) -> Sample:
    return Sample(NOW - 3_600_000 + offset_s * 1000, HOST, CALC, PARAM)


def line_with(*, t: str = "2025-11-25T23:30:00.000Z", calc: str = "", param: str = "") -> bytes:
    """A spool line with the given raw JSON text for its vectors (default: valid ones)."""
    calc = calc or json.dumps(list(CALC))
    param = param or json.dumps(list(PARAM))
    return f'{{"v":1,"t":"{t}","host":"{HOST}","calc":{calc},"param":{param}}}\n'.encode()


POISON: dict[str, tuple[bytes, str]] = {
    "deep nesting": (b"[" * 100_000 + b"\n", "not JSON (RecursionError)"),
    "nested in a record": (
        b'{"v":1,"t":"2025-11-25T23:30:00.000Z","x":' + b"[" * 50_000 + b"\n",
        "not JSON",
    ),
    "huge integer": (line_with(calc="[" + "9" * 5000 + "]"), "not JSON (ValueError)"),
    "million values": (
        line_with(calc="[" + "0," * 1_000_000 + "0]"),
        "longer than any valid sample",
    ),
    "over the wire limit": (
        line_with(calc="[" + "0," * MAX_VALUES + "0]"),
        f"more than the wire limit {MAX_VALUES}",
    ),
    "20 calculations": (line_with(calc=json.dumps(list(range(20)))), "only 20 calculations"),
    "few parameters": (line_with(param=json.dumps(list(range(300)))), "only 300 parameters"),
    "year 1": (line_with(t="0001-01-01T00:00:00.000Z"), "before 2000"),
    "1999": (line_with(t="1999-12-31T23:59:59.999Z"), "before 2000"),
    "tomorrow": (line_with(t="2025-11-27T00:00:00.000Z"), "ahead of the clock"),
    "2100": (line_with(t="2100-01-01T00:00:00.000Z"), "ahead of the clock"),
    "year 10000": (line_with(t="9999-12-31T23:59:59.999-01:00"), "bad timestamp"),
    "year 0": (line_with(t="0001-01-01T00:00:00.000+01:00"), "bad timestamp"),
    "lone surrogate": (b'{"v":1,"t":"\\ud800","host":"h"}\n', "bad timestamp"),
    "lone surrogate host": (
        line_with().replace(HOST.encode(), b"\\udc80"),
        "'host' is not a host:port",
    ),
    "control character in host": (
        line_with().replace(HOST.encode(), b"a\\u0000b"),
        "'host' is not a host:port",
    ),
    "float time": (b'{"v":1,"t":1e999,"host":"h"}\n', "'host' or 't' missing"),
}


def spool_around(settings_root: Path, bad: bytes) -> tuple[Spool, list[Sample]]:
    spool = Spool(settings_root / "data" / "spool")
    before, after = [good(i) for i in range(3)], [good(100 + i) for i in range(3)]
    for sample in before:
        spool.append(sample)
    with spool.current.open("ab") as handle:
        handle.write(bad)
    for sample in after:
        spool.append(sample)
    return spool, before + after


@pytest.mark.parametrize("case", list(POISON))
def test_a_poison_line_is_quarantined_and_everything_around_it_flushed(
    tmp_path: Path, case: str
) -> None:
    bad, reason = POISON[case]
    settings = settings_in(tmp_path)
    spool, samples = spool_around(tmp_path, bad)
    result = flush(settings, now_ms=NOW)
    assert result.samples_added == 6
    assert [(line, reason in why) for _, line, why in result.bad_lines] == [(4, True)], (
        result.bad_lines
    )
    with Cache.open(settings.cache_path, readonly=True) as cache:
        assert list(cache.query(0, 2**62)) == samples
    (kept,) = [
        json.loads(line)
        for path in spool.quarantine_dir.glob("*.jsonl")
        for line in path.read_text().splitlines()
    ]
    assert kept["line"] == 4 and reason in kept["reason"]
    assert spool.segments() == []  # nothing stuck behind it


def test_flush_command_exits_0_on_poison_and_the_next_flush_is_clean(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    spool = Spool(settings.spool_dir)
    spool.append(Sample(int(time.time() * 1000) - 60_000, HOST, CALC, PARAM))
    # "tomorrow" of NOW is in the past of the real clock this command reads.
    poison = [bad for case, (bad, _) in POISON.items() if case != "tomorrow"]
    with spool.current.open("ab") as handle:
        for bad in poison:
            handle.write(bad)
    spool.append(Sample(int(time.time() * 1000) - 30_000, HOST, CALC, PARAM))
    env = {"LUXLOG_DATA_DIR": str(settings.data_dir)}
    result = runner.invoke(app, ["-v", "flush"], env=env)
    assert result.exit_code == 0, result.output
    assert "2 new" in result.stderr and f"{len(poison)} bad line(s)" in result.stderr
    again = runner.invoke(app, ["-v", "flush"], env=env)
    assert again.exit_code == 0 and "0 bad line(s)" in again.stderr


def test_reading_an_endless_line_needs_little_memory(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    segment = tmp_path / "segment-000000000000001.jsonl"
    with segment.open("wb") as handle:
        handle.write(b'{"v":1,"calc":[' + b"1," * 4_000_000)  # 8 MB, then a valid line
        handle.write(b"1]}\n" + encode_line(good(0)))
    report = SegmentRead(segment)
    tracemalloc.start()
    try:
        found = list(spool.read(segment, report, now_ms=NOW))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert found == [good(0)]
    assert peak < 1_000_000, peak  # an eighth of the line
    ((line, reason),) = report.bad_lines
    assert line == 1 and "line of 8000019 bytes" in reason
    kept = json.loads((spool.quarantine_dir / segment.name).read_text())
    assert kept["raw"].startswith('{"v":1,"calc":[1,1,') and len(kept["raw"]) == 4096


def test_a_sample_within_the_tolerance_ahead_is_accepted(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    ahead = Sample(NOW + FUTURE_TOLERANCE_MS, HOST, CALC, PARAM)
    too_far = Sample(NOW + FUTURE_TOLERANCE_MS + 1, HOST, CALC, PARAM)
    floor = Sample(NOW, HOST, (0,) * MIN_CALCULATIONS, (0,) * MIN_PARAMETERS)
    for sample in (ahead, too_far, floor):
        spool.append(sample)
    (segment,) = spool.take()
    report = SegmentRead(segment)
    assert list(spool.read(segment, report, now_ms=NOW)) == [ahead, floor]
    assert report.bad_lines == [
        (
            2,
            f"dated {format_timestamp(too_far.timestamp_ms)}, more than 5 minutes ahead of "
            f"the clock ({format_timestamp(NOW)})",
        )
    ]


def test_randomly_damaged_lines_never_make_flush_fail(tmp_path: Path) -> None:
    """A seeded fuzz: flipped, cut and inserted bytes in real lines; every line ends up
    either in the cache or in the quarantine, and the flush itself never raises."""
    rng = random.Random(12)
    base = encode_line(good(0))
    inserts = [b'"', b"-", b"9" * 30, b"\\ud800", b"[", b"{", b"1e400", b"true", b"\\u0000"]
    lines = []
    for _ in range(400):
        data = bytearray(base)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(data) - 1)
            choice = rng.random()
            if choice < 0.4:
                data[at] = rng.randrange(256)
            elif choice < 0.7:
                del data[at : at + rng.randint(1, 40)]
            else:
                data[at:at] = rng.choice(inserts)
        lines.append(bytes(data).replace(b"\n", b"") + b"\n")
    settings = settings_in(tmp_path)
    spool = Spool(settings.spool_dir)
    spool.directory.mkdir(parents=True)
    spool.current.write_bytes(b"".join(lines))
    result = flush(settings, now_ms=NOW)
    assert result.samples_read + result.bad_count == len(lines)
    assert result.bad_count > 300  # most damage is caught...
    assert spool.segments() == []  # ...and nothing is stuck


def test_a_segment_of_junk_lines_is_counted_not_listed(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    spool = Spool(settings.spool_dir)
    spool.append(Sample(int(time.time() * 1000) - 60_000, HOST, CALC, PARAM))
    with spool.current.open("ab") as handle:
        handle.write(b"junk\n" * 3000)
    env = {"LUXLOG_DATA_DIR": str(settings.data_dir)}
    result = runner.invoke(app, ["-v", "flush"], env=env)
    assert result.exit_code == 0, result.output
    assert "1 new, 0 already cached, 3000 bad line(s)" in result.stderr
    assert "2900 more bad line(s) not listed" in result.stderr
    assert result.stderr.count("WARNING") == REPORTED_BAD_LINES + 1
    (kept,) = spool.quarantine_dir.glob("*.jsonl")
    assert len(kept.read_text().splitlines()) == 3000


def test_samples_at_the_wire_limit_are_read_back_quickly(tmp_path: Path) -> None:
    """The widest valid samples (10,000 values, all changing) once took minutes to read
    back from one hour's chunk, stalling the roll-up of their day (quadratic decode)."""
    rng = random.Random(4)
    samples = [
        Sample(
            NOW - 3_600_000 + i * 30_000,
            HOST,
            tuple(rng.getrandbits(32) - 2**31 for _ in range(MAX_VALUES)),
            tuple(rng.getrandbits(32) - 2**31 for _ in range(MAX_VALUES)),
        )
        for i in range(4)
    ]
    path = tmp_path / "cache.sqlite3"
    with Cache.open(path) as cache:
        assert cache.add_many(samples) == 4
    begun = time.monotonic()
    with Cache.open(path, readonly=True) as cache:
        assert list(cache.query(0, 2**62)) == samples
    assert time.monotonic() - begun < 1.0  # was ~10 s
