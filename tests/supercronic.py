"""A model of how supercronic reads a crontab and when it starts each job.

The image cannot be built here, so luxlog's crontab is checked against this model
instead of the binary. It follows supercronic's sources:

* ``crontab/crontab.go``: lines are left-trimmed; empty lines and ``#`` lines are
  skipped; ``KEY=VALUE`` lines (regex ``^([^\\s=]+)\\s*=\\s*(.*)$``, quotes stripped) set
  the environment, ``CRON_TZ`` the time zone; a job line is cut after 1, 7, 6 or 5
  whitespace-separated fields, in that order, and the first cut whose prefix parses as a
  cron expression wins - the rest of the line is the command (so ``*/30 * * * * *
  luxlog poll`` parses as 6 fields: every 30 *minutes*).
* ``cronexpr``: 7 fields are ``sec min hour dom mon dow year``; 6 fields get a ``0``
  second prepended, 5 fields also a ``*`` year appended. ``Next(t)`` steps through the
  wall-clock fields of ``t`` in the time zone and builds candidates with Go's
  ``time.Date``, including its choice for times a DST switch skips or repeats.
* ``cron/cron.go``: each job's next start is ``Next(previous scheduled start)``.

Only the syntax luxlog could plausibly write is modelled (``*``, ``*/n``, ``a``,
``a-b``, ``a-b/n``, ``a/n``, lists, month and weekday names, the ``@`` shorthands);
``L``, ``W`` and ``#`` are rejected rather than guessed at.
"""

from __future__ import annotations

import bisect
import calendar
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

_JOB_TOKEN = re.compile(r"\S+")
_ENV_LINE = re.compile(r"^([^\s=]+)\s*=\s*(.*)$")
_FIELD_COUNTS = (1, 7, 6, 5)

# (name, low, high) for the 7 fields; day-of-week accepts 7 for Sunday.
_FIELDS = (
    ("second", 0, 59),
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day-of-month", 1, 31),
    ("month", 1, 12),
    ("day-of-week", 0, 7),
    ("year", 1970, 2099),
)
_MONTHS = {name: i for i, name in enumerate(calendar.month_abbr) if name}
_MONTHS = {k.upper(): v for k, v in _MONTHS.items()}
_WEEKDAYS = {"SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6}
_SHORTHANDS = {
    "@yearly": "0 0 0 1 1 * *",
    "@annually": "0 0 0 1 1 * *",
    "@monthly": "0 0 0 1 * * *",
    "@weekly": "0 0 0 * * 0 *",
    "@daily": "0 0 0 * * * *",
    "@midnight": "0 0 0 * * * *",
    "@hourly": "0 0 * * * * *",
}


class CronSyntaxError(ValueError):
    """The text is not a cron expression supercronic would accept."""


def _value(text: str, index: int) -> int:
    name = text.upper()
    if index == 4 and name in _MONTHS:
        return _MONTHS[name]
    if index == 5 and name in _WEEKDAYS:
        return _WEEKDAYS[name]
    if not text.isdigit():
        raise CronSyntaxError(f"bad {_FIELDS[index][0]} value {text!r}")
    value = int(text)
    _, low, high = _FIELDS[index]
    if not low <= value <= high:
        raise CronSyntaxError(f"{_FIELDS[index][0]} value {value} outside {low}-{high}")
    return value


def _parse_field(text: str, index: int) -> tuple[list[int], bool]:
    """The sorted values a field allows, and whether it restricts anything (not ``*``)."""
    _, low, high = _FIELDS[index]
    values: set[int] = set()
    for part in text.split(","):
        spec, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronSyntaxError(f"bad step in {part!r}")
            step = int(step_text)
        if spec in ("*", "?"):
            first, last = low, high
        elif "-" in spec:
            a, _, b = spec.partition("-")
            first, last = _value(a, index), _value(b, index)
        else:
            first = _value(spec, index)
            last = high if slash else first  # "a/n" means "a-max/n"
        if first > last:
            raise CronSyntaxError(f"empty range {part!r}")
        values.update(range(first, last + 1, step))
    if index == 5 and 7 in values:  # 7 is Sunday, like 0
        values.discard(7)
        values.add(0)
    return sorted(values), text not in ("*", "?")


@dataclass
class Expression:
    """A parsed cron expression: the allowed values of each of the 7 fields."""

    text: str
    fields: list[list[int]] = field(default_factory=list)
    dom_restricted: bool = False
    dow_restricted: bool = False

    @classmethod
    def parse(cls, text: str) -> Expression:
        parts = text.split()
        if len(parts) == 1:
            if parts[0].lower() not in _SHORTHANDS:
                raise CronSyntaxError(f"unknown shorthand {parts[0]!r}")
            parts = _SHORTHANDS[parts[0].lower()].split()
        elif len(parts) == 5:
            parts = ["0", *parts, "*"]
        elif len(parts) == 6:
            parts = ["0", *parts]
        elif len(parts) != 7:
            raise CronSyntaxError(f"{len(parts)} fields")
        expression = cls(text)
        for index, part in enumerate(parts):
            if any(c in part.upper() for c in "LW#"):
                raise CronSyntaxError(f"{part!r}: L, W and # are not modelled")
            values, restricted = _parse_field(part, index)
            expression.fields.append(values)
            if index == 3:
                expression.dom_restricted = restricted
            if index == 5:
                expression.dow_restricted = restricted
        return expression

    @property
    def seconds(self) -> list[int]:
        return self.fields[0]

    @property
    def minutes(self) -> list[int]:
        return self.fields[1]

    @property
    def hours(self) -> list[int]:
        return self.fields[2]

    @property
    def months(self) -> list[int]:
        return self.fields[4]

    @property
    def years(self) -> list[int]:
        return self.fields[6]

    def days_of_month(self, year: int, month: int) -> list[int]:
        """cronexpr's calculateActualDaysOfMonth, without L/W/#."""
        last = calendar.monthrange(year, month)[1]
        doms = {d for d in self.fields[3] if d <= last}
        dows = {
            d
            for d in range(1, last + 1)
            if (calendar.weekday(year, month, d) + 1) % 7 in self.fields[5]
        }
        if not self.dom_restricted and not self.dow_restricted:
            return list(range(1, last + 1))
        if self.dom_restricted and not self.dow_restricted:
            return sorted(doms)
        if self.dow_restricted and not self.dom_restricted:
            return sorted(dows)
        return sorted(doms & dows)

    # --- Next(): a transcription of cronexpr_next.go -----------------------------------

    def next(self, after: int, zone: ZoneInfo) -> int | None:
        """The first start strictly after the Unix time ``after``, as cronexpr computes it."""
        t = _wall(after, zone)
        year, month, day, hour, minute, second = t
        i = bisect.bisect_left(self.years, year)
        if i == len(self.years):
            return None
        if self.years[i] != year:
            return self._next_year(t, zone)
        i = bisect.bisect_left(self.months, month)
        if i == len(self.months):
            return self._next_year(t, zone)
        if self.months[i] != month:
            return self._next_month(t, zone)
        days = self.days_of_month(year, month)
        if not days:
            return self._next_month(t, zone)
        i = bisect.bisect_left(days, day)
        if i == len(days):
            return self._next_month(t, zone)
        if days[i] != day:
            return self._next_day(t, zone, days)
        i = bisect.bisect_left(self.hours, hour)
        if i == len(self.hours):
            return self._next_day(t, zone, days)
        if self.hours[i] != hour:
            return self._next_hour(t, zone, days)
        i = bisect.bisect_left(self.minutes, minute)
        if i == len(self.minutes):
            return self._next_hour(t, zone, days)
        if self.minutes[i] != minute:
            return self._next_minute(t, zone, days)
        i = bisect.bisect_left(self.seconds, second)
        if i == len(self.seconds):
            return self._next_minute(t, zone, days)
        return self._next_second(t, zone, days)

    def _first(self, year: int, month: int, day: int, zone: ZoneInfo) -> int:
        return go_date(year, month, day, self.hours[0], self.minutes[0], self.seconds[0], zone)

    def _next_year(self, t: tuple[int, ...], zone: ZoneInfo) -> int | None:
        i = bisect.bisect_left(self.years, t[0] + 1)
        if i == len(self.years):
            return None
        year, month = self.years[i], self.months[0]
        days = self.days_of_month(year, month)
        if not days:
            return self._next_month((year, month, 1, 0, 0, 0), zone)
        return self._first(year, month, days[0], zone)

    def _next_month(self, t: tuple[int, ...], zone: ZoneInfo) -> int | None:
        i = bisect.bisect_left(self.months, t[1] + 1)
        if i == len(self.months):
            return self._next_year(t, zone)
        month = self.months[i]
        days = self.days_of_month(t[0], month)
        if not days:
            return self._next_month((t[0], month, 1, 0, 0, 0), zone)
        return self._first(t[0], month, days[0], zone)

    def _next_day(self, t: tuple[int, ...], zone: ZoneInfo, days: list[int]) -> int | None:
        i = bisect.bisect_left(days, t[2] + 1)
        if i == len(days):
            return self._next_month(t, zone)
        return self._first(t[0], t[1], days[i], zone)

    def _next_hour(self, t: tuple[int, ...], zone: ZoneInfo, days: list[int]) -> int | None:
        i = bisect.bisect_left(self.hours, t[3] + 1)
        if i == len(self.hours):
            return self._next_day(t, zone, days)
        return go_date(t[0], t[1], t[2], self.hours[i], self.minutes[0], self.seconds[0], zone)

    def _next_minute(self, t: tuple[int, ...], zone: ZoneInfo, days: list[int]) -> int | None:
        i = bisect.bisect_left(self.minutes, t[4] + 1)
        if i == len(self.minutes):
            return self._next_hour(t, zone, days)
        return go_date(t[0], t[1], t[2], t[3], self.minutes[i], self.seconds[0], zone)

    def _next_second(self, t: tuple[int, ...], zone: ZoneInfo, days: list[int]) -> int | None:
        i = bisect.bisect_left(self.seconds, t[5] + 1)
        if i == len(self.seconds):
            return self._next_minute(t, zone, days)
        return go_date(t[0], t[1], t[2], t[3], t[4], self.seconds[i], zone)


def _wall(unix: int, zone: ZoneInfo) -> tuple[int, int, int, int, int, int]:
    local = datetime.fromtimestamp(unix, zone)
    return (local.year, local.month, local.day, local.hour, local.minute, local.second)


def _offset(unix: int, zone: ZoneInfo) -> int:
    offset = datetime.fromtimestamp(unix, zone).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def go_date(
    year: int, month: int, day: int, hour: int, minute: int, second: int, zone: ZoneInfo
) -> int:
    """Go's ``time.Date`` as Unix time, including its pick for skipped or repeated times.

    Go reads the wall time as if it were UTC, looks up the zone's offset at that instant,
    and if the corrected instant falls outside that offset's period, uses the offset in
    force at the corrected instant instead. For a repeated wall time that picks the
    *later* occurrence; for a skipped one, the offset from before the switch.
    """
    unix = calendar.timegm((year, month, day, hour, minute, second))
    guess = _offset(unix, zone)
    return unix - _offset(unix - guess, zone)


@dataclass
class Job:
    """One job line: its schedule text, parsed expression and command."""

    schedule: str
    expression: Expression
    command: str
    position: int

    @property
    def field_count(self) -> int:
        return len(self.schedule.split())


@dataclass
class Crontab:
    """What supercronic takes from a crontab file."""

    jobs: list[Job]
    environ: dict[str, str]

    @property
    def zone(self) -> ZoneInfo:
        """``CRON_TZ`` if set (the last one wins), else UTC (the container's localtime)."""
        return ZoneInfo(self.environ.get("CRON_TZ", "UTC"))

    def starts(self, job: Job, begin: datetime, end: datetime) -> list[datetime]:
        """Every start of ``job`` after ``begin`` up to ``end``, as supercronic runs it."""
        result = []
        t: int | None = int(begin.timestamp())
        limit = end.timestamp()
        while True:
            t = job.expression.next(t, self.zone)
            if t is None or t > limit:
                return result
            result.append(datetime.fromtimestamp(t, UTC))


def parse_job_line(line: str, position: int = 0) -> Job:
    """Cut a job line into schedule and command the way supercronic does."""
    tokens = list(_JOB_TOKEN.finditer(line))
    for count in _FIELD_COUNTS:
        if len(tokens) <= count:
            continue
        schedule = line[: tokens[count - 1].end()]
        try:
            expression = Expression.parse(schedule)
        except CronSyntaxError:
            continue
        return Job(schedule, expression, line[tokens[count].start() :], position)
    raise CronSyntaxError(f"bad crontab line: {line}")


def parse(text: str) -> Crontab:
    """Read a whole crontab as supercronic's ``ParseCrontab`` does."""
    jobs: list[Job] = []
    environ: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.lstrip(" \t")
        if not line or line.startswith("#"):
            continue
        match = _ENV_LINE.match(line)
        if match:
            key, value = match[1], match[2]
            if value[:1] in "\"'" and len(value) > 1 and value[0] == value[-1]:
                value = value[1:-1]
            environ[key] = value
            continue
        jobs.append(parse_job_line(line, len(jobs)))
    return Crontab(jobs, environ)
