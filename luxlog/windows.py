"""Roll-up windows in local time, and which of them are due: pure functions, no I/O.

A roll-up for date D covers the half-open interval ``[B(D-1), B(D))`` (daily) or
``[B(D-7), B(D))`` (weekly), where ``B(D)`` is ``csv_time`` on date D in the configured
time zone, as a UTC instant. Because every window is built from the same function ``B``
and ``B`` strictly increases from one date to the next, consecutive daily windows tile
the time line: every sample lands in exactly one daily file, whatever DST does.

DST, with ``csv_time`` 07:00 in Europe/Berlin: the window ending on the last Sunday of
March is 23 hours long and the one ending on the last Sunday of October 25 hours. A
``csv_time`` that a spring-forward day skips (02:30 on 30 March 2025) is read with the
offset in force before the jump, so the boundary is 03:30 summer time that day; one that a
fall-back day repeats (02:30 on 26 October 2025) is its first occurrence (summer time).
Either way ``B`` stays on date D and stays increasing.

Nothing here reads a clock: every function that depends on "now" takes it as an argument
(UTC epoch milliseconds), so tests freeze time simply by passing it.
"""

from __future__ import annotations

from collections.abc import Container, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

Kind = Literal["daily", "weekly"]
KINDS: tuple[Kind, ...] = ("daily", "weekly")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DAY_MS = 86_400_000
_SPAN_DAYS = {"daily": 1, "weekly": 7}


@dataclass(frozen=True)
class Window:
    """One roll-up: the samples with ``start_ms <= timestamp_ms < end_ms`` (UTC epoch ms)."""

    kind: Kind
    day: date  # D: the date on which the window ends at csv_time
    start_ms: int
    end_ms: int

    @property
    def file_name(self) -> str:
        """``YYYY-MM-DD_daily.csv`` / ``YYYY-MM-DD_weekly.csv``: sorts by date in any listing."""
        return f"{self.day.isoformat()}_{self.kind}.csv"

    @property
    def duration_ms(self) -> int:
        """23, 24 or 25 hours for a daily window; 7 days give or take one hour for a weekly."""
        return self.end_ms - self.start_ms


@dataclass(frozen=True)
class Schedule:
    """Boundary time of day, time zone and weekly day: everything windows depend on."""

    csv_time: time
    zone: ZoneInfo
    weekly_day: int = 0  # 0 = Monday, as date.weekday()

    @classmethod
    def create(cls, csv_time: str, timezone: str, weekly_day: str = "monday") -> Schedule:
        """From validated settings values (``"07:00"``, ``"Europe/Berlin"``, ``"monday"``)."""
        hours, minutes = csv_time.split(":")
        return cls(time(int(hours), int(minutes)), ZoneInfo(timezone), WEEKDAYS.index(weekly_day))

    def boundary_ms(self, day: date) -> int:
        """``csv_time`` on ``day`` in the zone, as UTC epoch ms (DST: see module docstring)."""
        # fold=0: a repeated wall time is its first occurrence, and a skipped one is read
        # with the pre-transition offset (PEP 495), i.e. it lands after the jump.
        local = datetime.combine(day, self.csv_time, tzinfo=self.zone)
        return round(local.timestamp() * 1000)

    def local_date(self, at_ms: int) -> date:
        """The calendar date in the zone at ``at_ms``."""
        return datetime.fromtimestamp(at_ms / 1000, tz=self.zone).date()

    def day_of(self, at_ms: int) -> date:
        """The date D whose daily window holds ``at_ms``: the first D with ``B(D) > at_ms``."""
        day = self.local_date(at_ms)
        # B(D) lies on date D in practice; the loops make that an assumption we never rely on
        # (a csv_time skipped by a DST jump at midnight would push B(D) into D+1).
        while self.boundary_ms(day - timedelta(days=1)) > at_ms:
            day -= timedelta(days=1)
        while self.boundary_ms(day) <= at_ms:
            day += timedelta(days=1)
        return day

    def latest_day(self, now_ms: int) -> date:
        """The latest date D whose boundary has passed (``B(D) <= now_ms``)."""
        return self.day_of(now_ms) - timedelta(days=1)

    def latest_weekly_day(self, now_ms: int) -> date:
        """The latest date on ``weekly_day`` whose boundary has passed."""
        day = self.latest_day(now_ms)
        return day - timedelta(days=(day.weekday() - self.weekly_day) % 7)

    def default_day(self, kind: Kind, now_ms: int) -> date:
        """What ``rollup daily`` / ``rollup weekly`` without ``--date`` writes."""
        return self.latest_day(now_ms) if kind == "daily" else self.latest_weekly_day(now_ms)

    def window(self, kind: Kind, day: date) -> Window:
        """The ``kind`` roll-up that ends at ``csv_time`` on ``day``."""
        start = self.boundary_ms(day - timedelta(days=_SPAN_DAYS[kind]))
        return Window(kind, day, start, self.boundary_ms(day))

    def days(self, kind: Kind, first: date, last: date) -> Iterator[date]:
        """Dates in ``[first, last]`` that have a ``kind`` roll-up (weekly: ``weekly_day`` only)."""
        day = first
        if kind == "weekly":
            day += timedelta(days=(self.weekly_day - day.weekday()) % 7)
        step = timedelta(days=_SPAN_DAYS[kind])
        while day <= last:
            yield day
            day += step

    def pending(
        self,
        *,
        now_ms: int,
        first_ms: int | None,
        lookback_days: int,
        done: Container[tuple[Kind, date]],
    ) -> list[Window]:
        """Every roll-up that is due: its boundary passed and ``(kind, day)`` is not done.

        Only windows that end after the first sample held (``first_ms``; ``None``: no data
        at all) and within ``lookback_days`` before ``now_ms`` are considered, which is
        what bounds the catch-up after days of downtime. Oldest first, daily before the
        weekly that ends at the same boundary.
        """
        if first_ms is None:
            return []
        # Clamp the time before turning it into a date: a first sample from year 1 (a
        # broken clock, from before the spool checked times) must not overflow ``date``.
        first = self.day_of(max(first_ms, now_ms - lookback_days * DAY_MS))
        last = self.latest_day(now_ms)
        result = [
            self.window(kind, day)
            for kind in KINDS
            for day in self.days(kind, first, last)
            if (kind, day) not in done
        ]
        result.sort(key=lambda window: (window.end_ms, KINDS.index(window.kind)))
        return result
