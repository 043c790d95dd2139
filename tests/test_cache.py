"""The SQLite cache: lossless round trips, idempotent adds, windows, migrations, failures.

Every test works on a real SQLite file under tmp_path; failures are provoked for real
(a corrupt file, a directory where the file should be, a writer holding the lock).
"""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import tracemalloc
from dataclasses import replace
from pathlib import Path

import pytest
from dumps import DUMPS, vectors

from luxlog.cache import UNREAD, Cache, Registers, codec
from luxlog.cache.schema import LATEST_VERSION, MIGRATIONS, migrate
from luxlog.errors import Busy, StorageError
from luxlog.sample import Sample
from luxlog.simulator import HeatPumpModel, load_capture

HOUR = 3_600_000
START = 1_764_115_200_000  # 2025-11-26T00:00:00Z, an hour boundary
HOST = "192.168.1.50:8889"
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def trace(
    count: int,
    *,
    start_ms: int = START,
    capture: str = "coolchip-2017-V1.80-L1A",
    interval_ms: int = 30_000,
    seed: int = 0,
) -> list[Sample]:
    """Realistic polls: the simulator's model of a real capture, with timing jitter."""
    model = HeatPumpModel(load_capture(capture), seed=seed, start_ms=start_ms)
    jitter = random.Random(seed)
    samples = []
    for i in range(count):
        at = start_ms + i * interval_ms + jitter.randint(0, 400)
        calculations, parameters = model.read(at)
        samples.append(Sample(at, HOST, calculations, parameters))
    return samples


def touch(path: Path, *, readonly: bool = False) -> None:
    """Open and close: enough to create, migrate or reject a file."""
    with Cache.open(path, readonly=readonly):
        pass


def everything(cache: Cache) -> list[Sample]:
    return list(cache.query(-(2**62), 2**62))


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "cache.sqlite3"


# -- lossless and idempotent -----------------------------------------------------------


@pytest.mark.parametrize("dump", DUMPS)
def test_real_captures_round_trip_exactly(path: Path, dump: str) -> None:
    calculations, parameters = vectors(dump)
    samples = [
        Sample(START + i * 30_000, HOST, tuple(calculations), tuple(parameters)) for i in range(3)
    ]
    # The same capture with every value moved, so the deltas are not all zero.
    samples.append(
        Sample(
            START + 90_000,
            HOST,
            tuple(v + 1 for v in calculations),
            tuple(v - 7 for v in parameters),
        )
    )
    with Cache.open(path) as cache:
        assert cache.add_many(samples) == 4
    with Cache.open(path, readonly=True) as cache:
        assert everything(cache) == samples


def test_extreme_int32_values_survive(path: Path) -> None:
    # Alternating between the int32 limits gives deltas of +-(2**32 - 1): no wrap-around.
    wild = [
        Sample(
            START + i * 1000,
            HOST,
            (INT32_MIN, INT32_MAX, 0, -1) if i % 2 else (INT32_MAX, INT32_MIN, -1, 0),
            (INT32_MAX - i, INT32_MIN + i),
        )
        for i in range(50)
    ]
    with Cache.open(path) as cache:
        cache.add_many(wild)
        assert everything(cache) == wild


def test_empty_vectors_are_stored(path: Path) -> None:
    samples = [Sample(START + i, HOST, (), ()) for i in range(3)]
    with Cache.open(path) as cache:
        assert cache.add_many(samples) == 3
        assert everything(cache) == samples


def test_adding_twice_stores_once(path: Path) -> None:
    samples = trace(300)
    with Cache.open(path) as cache:
        assert cache.add_many(samples) == 300
        assert cache.add_many(samples) == 0
        assert cache.add_many(samples[100:200] + trace(1, start_ms=START - HOUR)) == 1
        assert cache.count() == 301
        assert everything(cache)[1:] == samples


def test_add_ignores_a_known_timestamp_even_with_other_values(path: Path) -> None:
    first = trace(1)[0]
    with Cache.open(path) as cache:
        assert cache.add(first.timestamp_ms, first) is True
        changed = replace(first, calculations=(1, 2, 3))
        assert cache.add(first.timestamp_ms, changed) is False
        assert everything(cache) == [first]
        # add() stores under the timestamp it is given.
        assert cache.add(first.timestamp_ms + 5, first) is True
        assert cache.timestamps(0, 2**62) == [first.timestamp_ms, first.timestamp_ms + 5]


def test_out_of_order_and_repeated_input(path: Path) -> None:
    samples = trace(500)
    shuffled = samples + samples[::7]
    random.Random(1).shuffle(shuffled)
    with Cache.open(path) as cache:
        assert cache.add_many(shuffled) == 500
        assert everything(cache) == samples
        assert cache.integrity_check(quick=False) == []


def test_samples_added_one_by_one_fill_the_open_chunk(path: Path) -> None:
    samples = trace(150)  # crosses an hour boundary
    with Cache.open(path) as cache:
        for sample in samples:
            assert cache.add(sample.timestamp_ms, sample)
        assert cache.stats().chunks == 2
        assert everything(cache) == samples


def test_firmware_change_mid_history(path: Path) -> None:
    """The vectors grow from 260 to 275 calculations mid-hour and stay that way."""
    old = [
        Sample(START + i * 30_000, HOST, tuple(range(i, i + 260)), tuple(range(1100)))
        for i in range(100)
    ]
    new = [
        Sample(START + i * 30_000, HOST, tuple(range(i, i + 275)), tuple(range(1150)))
        for i in range(100, 300)
    ]
    with Cache.open(path) as cache:
        cache.add_many(old)
        cache.add_many(new)
        assert everything(cache) == old + new
        assert cache.sensors_present() == (275, 1150)
        # The hour with both shapes is two chunks, merged in time order on the way out.
        hour = list(cache.query(START, START + HOUR))
        assert [len(s.calculations) for s in hour[99:101]] == [260, 275]
        assert cache.stats().chunks == 4  # three hours, one of them with two shapes


def test_two_hosts_in_one_hour_interleave_in_time_order(path: Path) -> None:
    a = trace(60, interval_ms=60_000)
    b = [replace(s, timestamp_ms=s.timestamp_ms + 30_000, host="10.0.0.2:8889") for s in a]
    with Cache.open(path) as cache:
        cache.add_many(a + b)
        merged = everything(cache)
    assert merged == sorted(a + b, key=lambda s: s.timestamp_ms)


# -- projection: decode only the registers a reader needs ----------------------------------


def projected_view(sample: Sample, registers: Registers) -> Sample:
    """What a projected query must return for ``sample``: its shape, wanted values only."""
    return Sample(
        sample.timestamp_ms,
        sample.host,
        tuple(
            v if i in registers.calculations else UNREAD for i, v in enumerate(sample.calculations)
        ),
        tuple(v if i in registers.parameters else UNREAD for i, v in enumerate(sample.parameters)),
    )


@pytest.mark.parametrize("capture", DUMPS)
def test_projected_and_full_decodes_agree_on_every_register_of_real_captures(
    path: Path, capture: str
) -> None:
    samples = trace(150, capture=capture)  # over an hour boundary: two chunks
    every = Registers.of(range(len(samples[0].calculations)), range(len(samples[0].parameters)))
    with Cache.open(path) as cache:
        cache.add_many(samples)
        assert list(cache.query(START, START + 2 * HOUR, registers=every)) == samples
        rng = random.Random(capture)
        for _ in range(5):
            wanted = Registers.of(
                rng.sample(range(len(samples[0].calculations)), 15),
                rng.sample(range(len(samples[0].parameters)), 3),
            )
            window = (START + 10 * 60_000, START + 70 * 60_000)  # mid-chunk to mid-chunk
            got = list(cache.query(*window, registers=wanted))
            expected = [s for s in samples if window[0] <= s.timestamp_ms < window[1]]
            assert got == [projected_view(s, wanted) for s in expected]


def test_projection_across_a_firmware_change_and_two_hosts(path: Path) -> None:
    # V1.80 (shorter vectors) until mid-hour, then V3.78; a second controller in the same
    # hours; registers beyond the old firmware's length are simply absent from its samples.
    old = trace(100, capture="coolchip-2017-V1.80-L1A")
    new = trace(100, start_ms=old[-1].timestamp_ms + 30_000, capture="bouni-2016-V3.78-MSW6")
    other = [replace(s, timestamp_ms=s.timestamp_ms + 15_000, host="10.0.0.2:8889") for s in old]
    beyond = len(old[0].calculations) + 2
    assert beyond < len(new[0].calculations)
    wanted = Registers.of([10, 11, 15, 17, 81, beyond], [3, 1136])
    with Cache.open(path) as cache:
        cache.add_many(old + new + other)
        full = everything(cache)
        got = list(cache.query(-(2**62), 2**62, registers=wanted))
    assert got == [projected_view(s, wanted) for s in full]
    assert {len(s.calculations) for s in got} == {
        len(old[0].calculations),
        len(new[0].calculations),
    }


def test_projection_of_columns_that_stay_change_and_come_back(path: Path) -> None:
    # The projected reader sets constant columns once per chunk and reuses a vector while
    # the projected values repeat: runs, a change, a return to an earlier value, a column
    # constant in one hour and moving in the next, and an hour where nothing wanted moves.
    moving = [1, 1, 1, 2, 2, 1, 1, 3] * 15  # 120 samples: one hour at 30 s
    samples = []
    for i in range(360):  # three hours
        calc = list(range(100, 130))
        calc[5] = moving[i % len(moving)] if i < 240 else 9
        calc[7] = 4 if i < 120 else i
        params = [0] * 40
        params[3] = 1 if i < 200 else 0
        samples.append(Sample(START + i * 30_000, HOST, tuple(calc), tuple(params)))
    wanted = Registers.of([5, 7, 29], [3, 39])
    with Cache.open(path) as cache:
        cache.add_many(samples)
        got = list(cache.query(START, START + 3 * HOUR, registers=wanted))
        late = list(cache.query(START + 2 * HOUR + 45 * 60_000, START + 3 * HOUR, registers=wanted))
    assert got == [projected_view(s, wanted) for s in samples]
    assert late == [projected_view(s, wanted) for s in samples[-30:]]
    # Whole rows too: parameters constant in an hour are one shared tuple, and a change
    # mid-hour (sample 200) still shows from that sample on.
    with Cache.open(path) as cache:
        full = list(cache.query(START, START + 3 * HOUR))
    assert full == samples
    assert full[0].parameters is full[119].parameters
    assert [s.parameters[3] for s in full[199:201]] == [1, 0]


def busy_year(
    count: int, *, start_ms: int, capture: str, step: int, seed: int, widths: tuple[int, int]
) -> list[Sample]:
    """Polls of a real capture, widened to ``widths`` (newer firmware sends up to ~275
    calculations and ~1,150 parameters), in which every register statistics read moves.

    Modes, valve, utility inputs, SmartGrid, compressor and temperatures are random;
    counters grow by random plausible amounts. A register missing from a projection
    then reads as UNREAD and changes some figure, which is what the test below needs.
    """
    from luxlog import registers as r

    rng = random.Random(seed)
    calc0, param0 = vectors(capture)
    calc0 += [0] * (widths[0] - len(calc0))
    param0 += [0] * (widths[1] - len(param0))
    counters = {i: 1_000 for i in (r.C_COMPRESSOR_STARTS, r.C_COMPRESSOR_SECONDS)}
    counters |= {i: 1_000 for i in (r.C_HEATING_SECONDS, r.C_HOT_WATER_SECONDS)}
    counters |= {i: 1_000 for i in (r.C_HEAT_HEATING, r.C_HEAT_HOT_WATER)}
    energy = {r.P_ENERGY_HEATING: 1_000, r.P_ENERGY_HOT_WATER: 1_000}
    samples = []
    for i in range(count):
        calc, param = list(calc0), list(param0)

        def put(vector: list[int], index: int, value: int) -> None:
            if index < len(vector):
                vector[index] = value

        for index in counters:
            counters[index] += rng.randint(0, 40)
            put(calc, index, counters[index])
        for index in energy:
            energy[index] += rng.randint(0, 40)
            # Not available for the first weeks: electricity from power readings then.
            put(param, index, energy[index] if i >= 60 else 2147483647)
        put(calc, r.C_MODE, rng.choice([0, 1, 3, 4, 5]))
        for index in (r.C_DEFROST_VALVE, r.C_EVU_IN, r.C_EVU2_IN, r.C_COMPRESSOR):
            put(calc, index, rng.randint(0, 1))
        for index in (r.C_OUTDOOR, r.C_FLOW, r.C_RETURN, r.C_HOT_WATER, r.C_HEAT_OUTPUT):
            put(calc, index, rng.randint(-100, 600))
        put(calc, r.C_POWER_INPUT, rng.randint(0, 3_000))
        put(param, r.P_SMARTGRID, rng.randint(0, 1))
        samples.append(Sample(start_ms + i * step, HOST, tuple(calc), tuple(param)))
    return samples


def test_a_synthetic_year_across_a_firmware_change_reads_alike_projected(path: Path) -> None:
    # A year at one poll every 18 hours: V1.80 for half of it, then V3.78 widened to the
    # newest firmware's lengths (electrical power, energy-input counters, SmartGrid).
    # What statistics and the day report read (projected) equals the same registers of
    # whole rows, and the figures and reports from either are identical: no register
    # they use is missing from the projection.
    from luxlog import report
    from luxlog.counters import BRIDGE_MS as BRIDGE
    from luxlog.counters import registers_read
    from luxlog.periods import Calendar, Period
    from luxlog.summariser import summarise

    step = 18 * HOUR
    old = busy_year(
        243, start_ms=START, capture="coolchip-2017-V1.80-L1A", step=step, seed=1, widths=(0, 0)
    )
    later = old[-1].timestamp_ms + step
    new = busy_year(
        243, start_ms=later, capture="bouni-2016-V3.78-MSW6", step=step, seed=2, widths=(275, 1150)
    )
    wanted = registers_read()
    with Cache.open(path) as cache:
        cache.add_many(old + new)
        full = everything(cache)
        projected = list(cache.query(-(2**62), 2**62, registers=wanted))
    assert full == old + new
    assert projected == [projected_view(s, wanted) for s in full]
    assert {len(s.calculations) for s in projected} == {
        len(old[0].calculations),
        len(new[0].calculations),
    }
    calendar = Calendar("UTC")
    months = calendar.periods("month", full[0].time.date(), full[-1].time.date())
    from_projected = summarise(projected, months, calendar=calendar, interval_sec=18 * 3600)
    from_full = summarise(full, months, calendar=calendar, interval_sec=18 * 3600)
    assert from_projected == from_full
    assert sum(row.samples for row in from_full) == len(full)
    sources = {row.electricity_source for row in from_full}
    assert {"none", "power", "counters"} <= sources  # each firmware's way of telling

    def day_report(samples: list[Sample], period: Period) -> report.DayReport:
        return report.collect(
            [s for s in samples if period.start_ms - BRIDGE <= s.timestamp_ms < period.end_ms],
            period,
            calendar=calendar,
            interval_sec=18 * 3600,
            now_ms=full[-1].timestamp_ms,
            generated_ms=0,
        )

    for day in (months[2].first_day, months[-3].first_day):  # one day of each firmware
        (period,) = calendar.periods("day", day, day)
        assert day_report(projected, period) == day_report(full, period)


def test_decoding_a_column_outside_the_chunk_is_refused() -> None:
    blob = codec.encode_values([(1, 2, 3), (1, 5, 3)], (0, 0, 0))
    assert codec.decode_columns(blob, 2, 3, (0, 0, 0), [1, 2]) == [[2, 5], [3, 3]]
    with pytest.raises(IndexError, match="column 3 is outside"):
        codec.decode_columns(blob, 2, 3, (0, 0, 0), [3])
    with pytest.raises(codec.CodecError):
        codec.decode_columns(blob, 3, 3, (0, 0, 0), [1])


# -- windows and summaries -------------------------------------------------------------


def test_windows_are_half_open_and_summaries_agree(path: Path) -> None:
    samples = trace(400)
    stamps = [s.timestamp_ms for s in samples]
    with Cache.open(path) as cache:
        assert cache.time_range() is None
        assert cache.count() == 0
        assert cache.sensors_present() == (0, 0)
        cache.add_many(samples)
        assert cache.time_range() == (stamps[0], stamps[-1])
        for start, end in [(stamps[10], stamps[250]), (START + HOUR, START + 2 * HOUR), (0, 1)]:
            expected = [s for s in samples if start <= s.timestamp_ms < end]
            assert list(cache.query(start, end)) == expected
            assert cache.count(start, end) == len(expected)
            assert cache.timestamps(start, end) == [s.timestamp_ms for s in expected]
        assert cache.count(start_ms=stamps[399]) == 1
        assert cache.count(end_ms=stamps[1]) == 1
        assert cache.sensors_present() == (len(samples[0].calculations), len(samples[0].parameters))


def test_query_streams_in_bounded_memory(path: Path) -> None:
    samples = trace(1440)  # 12 hours
    with Cache.open(path) as cache:
        cache.add_many(samples)
        del samples
        tracemalloc.start()
        try:
            count = 0
            for _ in cache.query(0, 2**62):
                count += 1
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert count == 1440
    # All 1,440 samples held at once would be ~15 MB; one decoded hour is ~1.5 MB.
    assert peak < 5_000_000


def test_caller_may_write_while_iterating(path: Path) -> None:
    with Cache.open(path) as cache:
        cache.add_many(trace(300))
        for number, sample in enumerate(cache.query(0, 2**62)):
            if number % 50 == 0:
                cache.set_state("rollup.last", str(sample.timestamp_ms))
        assert cache.get_state("rollup.last") is not None


def test_compact_for_a_realistic_day(path: Path) -> None:
    """The size goal in miniature (the benchmark measures it properly)."""
    samples = trace(2880)
    with Cache.open(path) as cache:
        cache.add_many(samples)
        cache.vacuum()
        per_poll = cache.size_bytes / len(samples)
    assert per_poll <= 40, per_poll


# -- retention -------------------------------------------------------------------------


def test_delete_before_drops_whole_hours_and_trims_the_straddling_one(path: Path) -> None:
    samples = trace(600)  # five hours
    cut = samples[250].timestamp_ms
    with Cache.open(path) as cache:
        cache.add_many(samples)
        chunks_before = cache.stats().chunks
        assert cache.delete_before(cut) == 250
        assert everything(cache) == samples[250:]
        assert cache.stats().chunks == chunks_before - 2
        assert cache.delete_before(cut) == 0
        assert cache.integrity_check(quick=False) == []
        # New samples still find a reference and encode fine after the prune.
        assert cache.add_many(trace(10, start_ms=START + 10 * HOUR)) == 10


def test_delete_before_gives_space_back(path: Path) -> None:
    with Cache.open(path) as cache:
        cache.add_many(trace(2880))
        cache.vacuum()
        full = cache.size_bytes
        cache.delete_before(START + 20 * HOUR)
        cache.checkpoint()
        assert cache.size_bytes < full - 10_000
    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA freelist_count").fetchone()[0] == 0
    connection.close()


# -- state -----------------------------------------------------------------------------


def test_state_keeps_the_latest_value(path: Path) -> None:
    with Cache.open(path) as cache:
        assert cache.get_state("rollup.daily") is None
        cache.set_state("rollup.daily", "2025-11-26")
        cache.set_state("rollup.daily", "2025-11-27")
        assert cache.get_state("rollup.daily") == "2025-11-27"
    with Cache.open(path, readonly=True) as cache:
        assert cache.get_state("rollup.daily") == "2025-11-27"


# -- schema and migrations -------------------------------------------------------------


def test_new_file_gets_every_migration_wal_and_small_pages(path: Path) -> None:
    with Cache.open(path) as cache:
        assert cache.schema_version() == LATEST_VERSION
    connection = sqlite3.connect(path)
    try:
        recorded = [row[0] for row in connection.execute("SELECT version FROM schema_migrations")]
        assert recorded == [m.version for m in MIGRATIONS]
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental
        assert connection.execute("PRAGMA page_size").fetchone()[0] == 512
    finally:
        connection.close()


def test_empty_existing_file_is_migrated(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.touch()
    with Cache.open(path) as cache:
        assert cache.schema_version() == LATEST_VERSION
        assert cache.add_many(trace(5)) == 5


def test_upgrade_from_the_previous_schema_keeps_the_data(path: Path) -> None:
    samples = trace(200)
    path.parent.mkdir(parents=True)
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        assert migrate(connection, target=LATEST_VERSION - 1) == list(range(1, LATEST_VERSION))
        # Fill it as the previous luxlog would have (chunks only, no state table yet).
        old = Cache(connection, path)
        assert old.add_many(samples) == 200
        assert old.schema_version() == LATEST_VERSION - 1
    finally:
        connection.close()
    with Cache.open(path) as cache:
        assert cache.schema_version() == LATEST_VERSION
        assert everything(cache) == samples
        cache.set_state("k", "v")
        assert cache.get_state("k") == "v"


def test_readonly_open_of_an_empty_file_changes_nothing(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.touch()
    with pytest.raises(StorageError, match=r"cache .*: empty \(no flush has written"):
        touch(path, readonly=True)
    assert path.stat().st_size == 0


def test_readonly_open_refuses_an_old_schema(path: Path) -> None:
    path.parent.mkdir(parents=True)
    connection = sqlite3.connect(path, isolation_level=None)
    migrate(connection, target=1)
    connection.close()
    with pytest.raises(StorageError, match="run `luxlog flush` once"):
        touch(path, readonly=True)


def test_newer_schema_is_refused(path: Path) -> None:
    with Cache.open(path):
        pass
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("INSERT INTO schema_migrations VALUES (99, 'future', 0)")
    connection.close()
    for readonly in (False, True):
        with pytest.raises(StorageError, match="newer than this luxlog understands"):
            touch(path, readonly=readonly)


def test_foreign_sqlite_file_is_refused(path: Path) -> None:
    path.parent.mkdir(parents=True)
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE photos (id INTEGER)")
    connection.close()
    with pytest.raises(StorageError, match=r"not a luxlog cache \(it has a table 'photos'\)"):
        touch(path)


def test_concurrent_first_opens_migrate_once(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite3"
    code = (
        "import sys; from pathlib import Path; from luxlog.cache import Cache\n"
        "with Cache.open(Path(sys.argv[1])) as c: print(c.schema_version())"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE)
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=8)[0].strip() for p in procs]
    assert outputs == [str(LATEST_VERSION).encode()] * 4
    connection = sqlite3.connect(path)
    assert connection.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == len(
        MIGRATIONS
    )
    connection.close()


# -- failures become one-line StorageError / Busy ---------------------------------------


def test_corrupt_file_is_a_storage_error_naming_it(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not SQLite, just a file that happens to be here\n" * 100)
    with pytest.raises(StorageError) as caught:
        touch(path)
    message = str(caught.value)
    assert str(path) in message and "corrupt" in message and "\n" not in message
    with pytest.raises(StorageError, match="corrupt"):
        touch(path, readonly=True)


def test_parent_is_a_regular_file(tmp_path: Path) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("not a directory")
    with pytest.raises(StorageError, match="cannot create directory"):
        touch(blocker / "cache.sqlite3")


def test_cache_path_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="cannot be opened"):
        touch(tmp_path)


def test_missing_file_readonly(path: Path) -> None:
    with pytest.raises(StorageError, match="does not exist"):
        touch(path, readonly=True)
    assert not path.exists()  # a read-only open never creates anything


def test_readonly_cache_refuses_writes(path: Path) -> None:
    with Cache.open(path) as cache:
        cache.add_many(trace(3))
    with Cache.open(path, readonly=True) as cache:
        assert cache.count() == 3
        for write in (
            lambda: cache.add_many(trace(1, start_ms=START + HOUR)),
            lambda: cache.set_state("k", "v"),
            lambda: cache.delete_before(START + HOUR),
            cache.vacuum,
        ):
            with pytest.raises(StorageError, match="read-only"):
                write()


def test_writer_blocked_past_busy_timeout_is_busy(path: Path) -> None:
    with Cache.open(path):
        pass
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with Cache.open(path, busy_timeout_sec=0.2) as cache:
            with pytest.raises(Busy, match="locked by another process"):
                cache.add_many(trace(2))
            # Readers are not blocked by the writer (WAL).
            assert cache.count() == 0
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_failed_transaction_leaves_nothing(path: Path) -> None:
    samples = trace(200)
    with Cache.open(path) as cache:
        cache.add_many(samples[:100])
        with pytest.raises(RuntimeError), cache.atomic():
            cache.add_many(samples[100:])
            cache.set_state("k", "v")
            raise RuntimeError("crash in the middle")
        assert everything(cache) == samples[:100]
        assert cache.get_state("k") is None
        assert cache.add_many(samples) == 100


def test_corrupt_chunk_is_found_by_the_full_check(path: Path) -> None:
    with Cache.open(path) as cache:
        cache.add_many(trace(200))
        assert cache.integrity_check() == []
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("UPDATE chunks SET data = x'00010203' WHERE id = 1")
    connection.close()
    with Cache.open(path, readonly=True) as cache:
        assert cache.integrity_check(quick=True) == []  # SQLite's pages are fine
        problems = cache.integrity_check(quick=False)
        assert len(problems) == 1 and problems[0].startswith("chunk 1:")
        with pytest.raises(StorageError, match="corrupt"):
            everything(cache)


# -- codec -----------------------------------------------------------------------------


def test_codec_rejects_a_blob_of_the_wrong_shape() -> None:
    rows = [(1, 2, 3), (1, 2, 4)]
    blob = codec.encode_values(rows, (0, 0, 0))
    assert list(codec.decode_values(blob, 2, 3, (0, 0, 0))) == rows
    with pytest.raises(codec.CodecError):
        list(codec.decode_values(blob, 3, 3, (0, 0, 0)))
    with pytest.raises(codec.CodecError):
        codec.decode_times(0, 5, codec.encode_times([1, 2, 3]))
    with pytest.raises(ValueError, match="strictly increasing"):
        codec.encode_times([3, 2])


def test_sqlite3_is_not_imported_by_the_flush_module() -> None:
    code = "import sys, luxlog.flush, luxlog.cache; assert 'sqlite3' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=8)
