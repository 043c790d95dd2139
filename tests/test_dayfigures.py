"""Day figures stored per finished day: reused while the data is unchanged, recomputed when not."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from helpers import settings_in

from luxlog import dayfigures, stats
from luxlog.cache import Cache
from luxlog.locks import cache_lock_path, hold
from luxlog.sample import Sample
from luxlog.simulator import HeatPumpModel, load_capture
from luxlog.stats import BRIDGE_MS, Calendar

HOST = "192.0.2.1:8889"
BERLIN = Calendar("Europe/Berlin")
STEP = 900_000  # 15-minute polls keep the cache small; the rules do not care
FIRST, LAST = date(2026, 3, 2), date(2026, 3, 5)


@pytest.fixture
def settings(tmp_path):
    return settings_in(tmp_path, timezone="Europe/Berlin", interval_sec=900)


@pytest.fixture
def filled(settings):
    start = BERLIN.midnight_ms(FIRST) - BRIDGE_MS
    end = BERLIN.midnight_ms(date(2026, 3, 7))
    model = HeatPumpModel(load_capture("bouni-2016-V3.78-MSW6"), seed=3, start_ms=start)
    with Cache.open(settings.cache_path) as cache:
        cache.add_many(Sample(t, HOST, *model.read(t)) for t in range(start, end, STEP))
    return end


@pytest.fixture
def counted(monkeypatch):
    """How many days each pass over the samples computed (reused days are not computed)."""
    calls: list[int] = []
    real = dayfigures.day_figures

    def spy(samples, days, **options):
        calls.append(len(days))
        return real(samples, days, **options)

    monkeypatch.setattr(dayfigures, "day_figures", spy)
    return calls


def rows(settings, now_ms, *, first=FIRST, last=LAST, store=True):
    days = BERLIN.periods("day", first, last)
    with Cache.open(settings.cache_path) as cache:
        return dayfigures.period_rows(
            cache, days, calendar=BERLIN, settings=settings, now_ms=now_ms, store=store
        )


def fresh(settings, now_ms, *, first=FIRST, last=LAST):
    days = BERLIN.periods("day", first, last)
    with Cache.open(settings.cache_path, readonly=True) as cache:
        return stats.summarise_cache(cache, days, calendar=BERLIN, settings=settings, now_ms=now_ms)


def test_finished_days_are_computed_once_and_equal_a_fresh_computation(settings, filled, counted):
    now = filled
    first = rows(settings, now)
    assert counted == [4]
    again = rows(settings, now)
    assert counted == [4]  # all four read back from the cache
    assert again == first == fresh(settings, now)
    assert [r.period for r in again] == ["2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05"]
    assert all(r.samples == 96 for r in again)


def test_a_late_sample_makes_its_day_recomputed(settings, filled, counted):
    now = filled
    before = rows(settings, now)
    late_at = BERLIN.midnight_ms(date(2026, 3, 3)) + 12 * 3_600_000 + 60_000  # between polls
    with Cache.open(settings.cache_path) as cache:
        template = next(iter(cache.query(late_at - STEP, late_at)))
        cache.add_many([replace(template, timestamp_ms=late_at)])
    after = rows(settings, now)
    assert counted == [4, 1]  # only 3 March again
    assert after[1].samples == before[1].samples + 1
    assert after == fresh(settings, now)


def test_days_near_now_are_not_stored(settings, filled, counted):
    # "Now" is 1 h after 5 March ended: its closing gap still depends on the clock.
    now = BERLIN.midnight_ms(date(2026, 3, 6)) + 3_600_000
    rows(settings, now)
    rows(settings, now)
    assert counted == [4, 1]


def test_other_settings_or_damaged_records_are_recomputed(settings, filled, counted):
    now = filled
    rows(settings, now)
    rows(replace(settings, interval_sec=1800), now)  # other figures: all recomputed, stored
    rows(settings, now)  # and back again
    assert counted == [4, 4, 4]
    with Cache.open(settings.cache_path) as cache:
        cache.set_state("figures:day:2026-03-04", "{not json")
    assert rows(settings, now) == fresh(settings, now)
    assert counted[3:] == [1]  # only the damaged record's day


def test_a_read_only_cache_stores_its_figures_aside_when_the_cache_is_free(
    settings, filled, counted
):
    # `stats` reads without the cache lock; what it computed for finished days is stored
    # afterwards if the lock is free at once, and simply not when a flush holds it.
    now = filled
    days = BERLIN.periods("day", FIRST, LAST)
    with (
        hold(cache_lock_path(settings.data_dir), timeout=1, what="the cache"),
        Cache.open(settings.cache_path, readonly=True) as cache,
    ):
        computed = dayfigures.period_rows(
            cache, days, calendar=BERLIN, settings=settings, now_ms=now
        )
    assert computed == fresh(settings, now)
    with Cache.open(settings.cache_path, readonly=True) as cache:
        computed = dayfigures.period_rows(
            cache, days, calendar=BERLIN, settings=settings, now_ms=now
        )
    assert counted == [4, 4]  # the lock was held the first time: nothing was stored
    assert rows(settings, now) == computed
    assert counted == [4, 4]  # the second time it was free: all four stored


def test_stats_by_day_reads_the_stored_rows(settings, filled, counted):
    now = filled
    rows(settings, now)
    shown = stats.compute(settings, kind="day", first=FIRST, last=LAST, now_ms=now)
    assert counted == [4]
    assert shown == fresh(settings, now)


def by(settings, kind, now_ms, *, first=FIRST, last=LAST):
    return stats.compute(settings, kind=kind, first=first, last=last, now_ms=now_ms)


@pytest.mark.parametrize("kind", ["week", "month", "season"])
def test_longer_periods_add_up_the_stored_days(settings, filled, counted, kind):
    now = filled  # 7 March 00:00: days up to 5 March are finished (6 March's bridge is not)
    (period,) = BERLIN.periods(kind, FIRST, LAST)
    cold = by(settings, kind, now)  # nothing stored yet: all its days in one pass
    assert counted == [len(list(period.days()))]
    rows(settings, now, first=period.first_day, last=period.last_day)  # as `rollup due` does
    counted.clear()
    warm = by(settings, kind, now)
    assert warm == cold
    assert counted == [(period.last_day - date(2026, 3, 6)).days + 1]  # the unfinished days
    (row,) = warm
    days = by(settings, "day", now, first=period.first_day, last=period.last_day)
    assert row.samples == sum(d.samples for d in days) > 0
    for column in ("compressor_starts", "heating_hours", "heat_heating_kwh", "evu_lock_hours"):
        total = sum(getattr(d, column) or 0 for d in days)
        assert getattr(row, column) == pytest.approx(total, abs=0.01 * len(days)), column
    assert row.gap_hours == pytest.approx(sum(d.gap_hours for d in days), abs=0.01 * len(days))


def test_a_long_gap_across_midnight_counts_for_the_week_stored_or_not(settings, filled, counted):
    # No samples from 3 March 20:00 to 4 March 02:00 (6 h, longer than the bridge): what
    # the counters grew then is no day's, but the week holds it - also when the week is
    # added up from stored days, which keep that step aside with the time it started.
    gap_from = BERLIN.midnight_ms(date(2026, 3, 3)) + 20 * 3_600_000
    gap_to = gap_from + 6 * 3_600_000
    with Cache.open(settings.cache_path) as cache:
        kept = [s for s in cache.query(-(2**62), 2**62) if not gap_from < s.timestamp_ms < gap_to]
    settings.cache_path.unlink()
    with Cache.open(settings.cache_path) as cache:
        cache.add_many(kept)
    now = filled
    cold = by(settings, "week", now)
    rows(settings, now, first=date(2026, 3, 2), last=date(2026, 3, 8))
    warm = by(settings, "week", now)
    assert warm == cold
    (week,) = warm
    days = by(settings, "day", now, first=date(2026, 3, 2), last=date(2026, 3, 8))
    assert "gap-not-attributed" in days[2].flags and "gap-not-attributed" not in week.flags
    for column in ("heat_heating_kwh", "heating_hours", "compressor_hours"):
        in_days = sum(getattr(d, column) or 0 for d in days)
        assert getattr(week, column) > in_days + 0.1, (column, getattr(week, column), in_days)
