"""Window arithmetic: boundaries in local time, DST days, and what is due (frozen clocks)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest

from luxlog.windows import DAY_MS, Schedule, Window

HOUR_MS = 3_600_000


def utc_ms(*args: int) -> int:
    return round(datetime(*args, tzinfo=UTC).timestamp() * 1000)


BERLIN = Schedule.create("07:00", "Europe/Berlin", "monday")


def test_an_ordinary_day_is_the_24_hours_before_csv_time():
    window = BERLIN.window("daily", date(2025, 1, 15))
    assert window == Window(
        "daily", date(2025, 1, 15), utc_ms(2025, 1, 14, 6), utc_ms(2025, 1, 15, 6)
    )
    assert window.file_name == "2025-01-15_daily.csv"
    assert window.duration_ms == 24 * HOUR_MS


@pytest.mark.parametrize(
    ("day", "hours", "start", "end"),
    [
        # Spring forward (02:00 -> 03:00 on Sunday 30 March 2025): 23 hours.
        (date(2025, 3, 30), 23, utc_ms(2025, 3, 29, 6), utc_ms(2025, 3, 30, 5)),
        (date(2025, 3, 31), 24, utc_ms(2025, 3, 30, 5), utc_ms(2025, 3, 31, 5)),
        # Fall back (03:00 -> 02:00 on Sunday 26 October 2025): 25 hours.
        (date(2025, 10, 26), 25, utc_ms(2025, 10, 25, 5), utc_ms(2025, 10, 26, 6)),
        (date(2025, 10, 27), 24, utc_ms(2025, 10, 26, 6), utc_ms(2025, 10, 27, 6)),
    ],
)
def test_dst_days_in_berlin_are_23_and_25_hours(day, hours, start, end):
    window = BERLIN.window("daily", day)
    assert (window.start_ms, window.end_ms) == (start, end)
    assert window.duration_ms == hours * HOUR_MS


def test_weekly_windows_span_the_dst_change():
    assert BERLIN.window("weekly", date(2025, 3, 31)).duration_ms == 7 * 24 * HOUR_MS - HOUR_MS
    assert BERLIN.window("weekly", date(2025, 10, 27)).duration_ms == 7 * 24 * HOUR_MS + HOUR_MS
    weekly = BERLIN.window("weekly", date(2025, 1, 20))
    assert weekly.start_ms == BERLIN.window("daily", date(2025, 1, 14)).start_ms
    assert weekly.end_ms == BERLIN.window("daily", date(2025, 1, 20)).end_ms


@pytest.mark.parametrize("csv_time", ["07:00", "00:00", "02:30", "23:59"])
@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe"])
def test_every_instant_lands_in_exactly_one_daily_window(csv_time, zone):
    """Around both transitions, windows tile the time line and day_of agrees with them."""
    schedule = Schedule.create(csv_time, zone)
    for first in (date(2025, 3, 25), date(2025, 10, 22), date(2025, 3, 28), date(2025, 10, 1)):
        windows = [schedule.window("daily", first + timedelta(days=i)) for i in range(10)]
        for earlier, later in itertools.pairwise(windows):
            assert earlier.end_ms == later.start_ms
            assert 23 * HOUR_MS <= later.duration_ms <= 25 * HOUR_MS
        for at_ms in range(windows[0].start_ms, windows[-1].end_ms, 7 * 60_000 + 13):
            holders = [w for w in windows if w.start_ms <= at_ms < w.end_ms]
            assert len(holders) == 1
            assert schedule.day_of(at_ms) == holders[0].day


def test_csv_time_skipped_or_repeated_by_dst():
    schedule = Schedule.create("02:30", "Europe/Berlin")
    # 02:30 does not exist on 30 March: the boundary is 03:30 summer time (01:30 UTC).
    assert schedule.boundary_ms(date(2025, 3, 30)) == utc_ms(2025, 3, 30, 1, 30)
    # 02:30 happens twice on 26 October: the first one (summer time, 00:30 UTC).
    assert schedule.boundary_ms(date(2025, 10, 26)) == utc_ms(2025, 10, 26, 0, 30)
    # Read that way, the short and long days are the ones after the change.
    assert schedule.window("daily", date(2025, 3, 30)).duration_ms == 24 * HOUR_MS
    assert schedule.window("daily", date(2025, 3, 31)).duration_ms == 23 * HOUR_MS
    assert schedule.window("daily", date(2025, 10, 26)).duration_ms == 24 * HOUR_MS
    assert schedule.window("daily", date(2025, 10, 27)).duration_ms == 25 * HOUR_MS


def test_latest_day_with_a_frozen_clock():
    boundary = utc_ms(2025, 3, 30, 5)  # 07:00 summer time
    assert BERLIN.latest_day(boundary - 1) == date(2025, 3, 29)
    assert BERLIN.latest_day(boundary) == date(2025, 3, 30)
    assert BERLIN.latest_day(boundary + 20 * HOUR_MS) == date(2025, 3, 30)
    # Monday 31 March 06:59 local: the latest weekly boundary is the Monday before.
    assert BERLIN.latest_weekly_day(utc_ms(2025, 3, 31, 4, 59)) == date(2025, 3, 24)
    assert BERLIN.latest_weekly_day(utc_ms(2025, 3, 31, 5)) == date(2025, 3, 31)
    assert BERLIN.default_day("daily", boundary) == date(2025, 3, 30)
    assert BERLIN.default_day("weekly", boundary) == date(2025, 3, 24)


def test_days_of_a_range():
    daily = list(BERLIN.days("daily", date(2025, 1, 30), date(2025, 2, 2)))
    assert daily == [date(2025, 1, 30), date(2025, 1, 31), date(2025, 2, 1), date(2025, 2, 2)]
    weekly = list(BERLIN.days("weekly", date(2025, 1, 1), date(2025, 1, 31)))
    assert weekly == [date(2025, 1, 6), date(2025, 1, 13), date(2025, 1, 20), date(2025, 1, 27)]
    sunday = Schedule.create("07:00", "UTC", "sunday")
    assert list(sunday.days("weekly", date(2025, 1, 6), date(2025, 1, 12))) == [date(2025, 1, 12)]


def test_pending_after_downtime_is_exactly_what_is_missing():
    first_sample = utc_ms(2025, 1, 1, 12)  # window ending 2 January holds it
    now = utc_ms(2025, 1, 14, 9)  # Tuesday 14 January, 10:00 local
    done = {("daily", date(2025, 1, d)) for d in range(2, 9)} | {("weekly", date(2025, 1, 6))}
    pending = BERLIN.pending(now_ms=now, first_ms=first_sample, lookback_days=30, done=done)
    assert [(w.kind, w.day.day) for w in pending] == [
        ("daily", 9),
        ("daily", 10),
        ("daily", 11),
        ("daily", 12),
        ("daily", 13),
        ("weekly", 13),
        ("daily", 14),
    ]


def test_pending_is_bounded_by_first_sample_lookback_and_now():
    now = utc_ms(2025, 1, 14, 9)
    assert BERLIN.pending(now_ms=now, first_ms=None, lookback_days=30, done=set()) == []
    recent = BERLIN.pending(
        now_ms=now, first_ms=utc_ms(2025, 1, 13, 8), lookback_days=30, done=set()
    )
    assert [(w.kind, w.day.day) for w in recent] == [("daily", 14)]
    bounded = BERLIN.pending(now_ms=now, first_ms=0, lookback_days=3, done=set())
    # now - 3 days is 11 January 10:00 local: the window ending that morning is too old.
    assert [w.day.day for w in bounded if w.kind == "daily"] == [12, 13, 14]
    assert all(w.end_ms > now - 3 * DAY_MS for w in bounded)
    assert all(w.end_ms <= now for w in bounded)
    # Just before today's boundary, today's window is not due yet.
    early = BERLIN.pending(
        now_ms=utc_ms(2025, 1, 14, 5, 59), first_ms=0, lookback_days=2, done=set()
    )
    assert [w.day.day for w in early] == [12, 13, 13]
