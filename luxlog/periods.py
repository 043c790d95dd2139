"""Local days, ISO weeks, months and heating seasons as UTC intervals (DST included).

One definition of a local day's instant for statistics, the month summary and the day
report: midnight is a :class:`~luxlog.windows.Schedule` boundary at 00:00.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

from luxlog.windows import Schedule

if TYPE_CHECKING:
    from luxlog.config import Settings

PeriodKind = Literal["day", "week", "month", "season"]
PERIOD_KINDS: tuple[PeriodKind, ...] = ("day", "week", "month", "season")

HOUR_MS = 3_600_000


@dataclass(frozen=True)
class Period:
    """Local calendar days ``first_day..last_day`` as ``[start_ms, end_ms)`` in UTC."""

    kind: PeriodKind
    label: str  # 2026-03-29, 2026-W13, 2026-03, 2025/26
    first_day: date
    last_day: date
    start_ms: int
    end_ms: int

    @property
    def hours(self) -> float:
        """Length in hours: 23 or 25 for a day on which DST starts or ends."""
        return (self.end_ms - self.start_ms) / HOUR_MS

    def days(self) -> Iterator[date]:
        """Every calendar day of the period."""
        day = self.first_day
        while day <= self.last_day:
            yield day
            day += timedelta(days=1)


def next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


class Calendar:
    """Local days, ISO weeks, months and heating seasons in one time zone.

    Midnight comes from the roll-up's :class:`~luxlog.windows.Schedule` with a boundary
    of 00:00, so statistics and roll-ups share one definition of a local day's instant
    (DST included). A heating season runs from the first of ``season_start_month`` to
    the end of ``season_end_month`` (default September to May, "2025/26"); days outside
    it (the summer) belong to no season.
    """

    def __init__(
        self, timezone: str, season_start_month: int = 9, season_end_month: int = 5
    ) -> None:
        self._schedule = Schedule.create("00:00", timezone)
        self.zone: ZoneInfo = self._schedule.zone
        self.season_start_month = season_start_month
        self.season_end_month = season_end_month

    @classmethod
    def from_settings(cls, settings: Settings) -> Calendar:
        """The calendar for these settings."""
        return cls(settings.timezone, settings.season_start_month, settings.season_end_month)

    def midnight_ms(self, day: date) -> int:
        """The instant local ``day`` begins (UTC epoch ms)."""
        return self._schedule.boundary_ms(day)

    def local_date(self, at_ms: int) -> date:
        """The local calendar date at ``at_ms``."""
        return self._schedule.local_date(at_ms)

    def _make(self, kind: PeriodKind, label: str, first: date, last: date) -> Period:
        end = self.midnight_ms(last + timedelta(days=1))
        return Period(kind, label, first, last, self.midnight_ms(first), end)

    def _season_months(self) -> int:
        return (self.season_end_month - self.season_start_month) % 12 + 1

    def in_season(self, day: date) -> bool:
        """True if ``day`` belongs to a heating season."""
        return (day.month - self.season_start_month) % 12 < self._season_months()

    def period(self, kind: PeriodKind, day: date) -> Period | None:
        """The period of ``kind`` that holds ``day`` (None: a summer day, for seasons)."""
        if kind == "day":
            return self._make("day", day.isoformat(), day, day)
        if kind == "week":
            first = day - timedelta(days=day.weekday())
            year, week, _ = day.isocalendar()
            return self._make("week", f"{year}-W{week:02d}", first, first + timedelta(days=6))
        if kind == "month":
            first = day.replace(day=1)
            return self._make("month", f"{first:%Y-%m}", first, next_month(first) - timedelta(1))
        if not self.in_season(day):
            return None
        year = day.year if day.month >= self.season_start_month else day.year - 1
        first = date(year, self.season_start_month, 1)
        end = first
        for _ in range(self._season_months()):
            end = next_month(end)
        last = end - timedelta(days=1)
        label = f"{year}" if last.year == year else f"{year}/{last.year % 100:02d}"
        return self._make("season", label, first, last)

    def periods(self, kind: PeriodKind, first: date, last: date) -> list[Period]:
        """Every whole period of ``kind`` that overlaps the days ``first..last``."""
        result: list[Period] = []
        day = first
        while day <= last:
            found = self.period(kind, day)
            if found is None:  # summer: skip to the next season's first day
                day = next_month(day)
                continue
            result.append(found)
            day = found.last_day + timedelta(days=1)
        return result


def default_range(
    kind: PeriodKind, calendar: Calendar, today: date, first: date | None, last: date | None
) -> tuple[date, date]:
    """``--from``/``--to`` defaults: the last 14 days, 8 weeks, 12 months or 2 seasons."""
    last = min(last or today, today)
    if first is not None:
        return first, last
    if kind == "day":
        return last - timedelta(days=13), last
    if kind == "week":
        return last - timedelta(weeks=7), last
    if kind == "month":
        index = last.year * 12 + last.month - 1 - 11
        return date(index // 12, index % 12 + 1, 1), last
    # Two seasons: the one holding (or last before) ``last``, and the one before it.
    year = last.year if last.month >= calendar.season_start_month else last.year - 1
    return date(year - 1, calendar.season_start_month, 1), last
