"""The job table: which luxlog commands run when, in UTC, for every scheduler.

One table (:func:`jobs`); the renderers (:mod:`.supercronic`, :mod:`.cron`,
:mod:`.systemd`) only write it in their dialects.

The jobs
    * ``poll`` every ``interval_sec``, on a grid counted from the top of the hour, so
      samples land on round times (…:00, …:30) that line up with the CSV windows.
    * ``flush`` every 5 minutes, at minutes 1, 6, 11, …: one minute after the polls on
      the 5-minute marks, which are finished by then (a poll never outlives its interval).
    * ``rollup due`` every 5 minutes, at minutes 3, 8, 13, …: two minutes after each
      flush, so a window that has just closed (say at ``csv_time`` 07:00) is rolled up at
      07:03 from a cache that already holds its last sample (flushed at 07:01).
    * ``prune`` once a day at 03:17 *standard* time of ``timezone`` (04:17 in summer):
      a quiet hour, away from the DST switch hours 02:00-03:00 and from round times.
      Pruning is idempotent, so the hour's shift in summer does no harm.
    The jobs other than ``poll`` start 10 s past the minute, so that on a small board
    they do not compete for the CPU with the poll that starts on the minute.

Why ``CRON_TZ=UTC`` whatever ``timezone`` says
    supercronic's cron expressions step through *wall-clock* time in ``CRON_TZ``. In a
    zone with daylight saving time that loses the autumn's repeated hour: after 01:59:30
    CEST the next ``*/30`` start is the wall time 02:00:00, which Go resolves to the
    *second* 02:00 (CET) - an hour and 30 s later - so an hour of polls would be skipped
    every year (``tests/supercronic.py`` models this). UTC has no such hour. luxlog
    applies ``timezone`` itself where it matters (CSV windows and timestamps, DST-aware),
    and this module converts the prune time from ``timezone`` to UTC. An explicit
    ``CRON_TZ`` also keeps a ``TZ`` set for the container (for logs) from moving the
    schedule.

Which intervals
    A poll grid can be written in cron only if it repeats exactly every hour, i.e. if
    ``interval_sec`` divides 3600: 5, 6, 8, 9, 10, 12, 15, 16, 18, 20, 24, 25, 30, 36, 40,
    45, 48, 50, 60, 72, 75, 80, 90, 100, 120, 144, 150, 180, 200, 225, 240, 300, 360,
    400, 450, 600, 720, 900, 1200, 1800 and 3600 s. An interval that does not divide a
    minute takes one line per minute offset (45 s: ``0,45`` in minutes 0, 3, 6, …, ``30``
    in minutes 1, 4, …, ``15`` in minutes 2, 5, …), still exactly every 45 s. Anything
    else (7 s, 70 s, …) would drift or bunch up at the hour, so it is refused (exit 3)
    with the nearest valid values.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from luxlog.config import Settings
from luxlog.errors import ConfigError

PROGRAM = "luxlog"
HOUR_SEC = 3600
MIN_INTERVAL_SEC = 5  # the lower bound config.py enforces for interval_sec
VALID_INTERVALS: tuple[int, ...] = tuple(
    n for n in range(MIN_INTERVAL_SEC, HOUR_SEC + 1) if HOUR_SEC % n == 0
)
CRON_TZ = "UTC"

FLUSH_EVERY_MIN = 5
FLUSH_MINUTE = 1  # first minute of the hour with a flush: 1, 6, 11, ...
ROLLUP_MINUTE = 3  # 2 minutes after each flush: 3, 8, 13, ...
PUSH_MINUTE = 4  # with push_url: 3 minutes after each flush: 4, 9, 14, ...
JOB_SECOND = 10  # the non-poll jobs start 10 s past the minute
PRUNE_HOUR, PRUNE_MINUTE = 3, 17  # standard time of `timezone`
# The day whose standard UTC offset of `timezone` places the prune job. Any fixed day
# works (the standard offset does not change with the season); fixing it keeps the
# output a pure function of the settings.
_REFERENCE_DAY = datetime(2026, 1, 15, 12, tzinfo=UTC)


@dataclass(frozen=True)
class Timing:
    """When a job starts, in UTC, independent of any cron dialect.

    ``seconds`` within the minute, in minutes ``minute, minute + minute_step, ...`` of
    every hour (``minute_step`` 60: once an hour), of hour ``hour`` (``None``: every
    hour). supercronic, a classic 5-field crontab and systemd timers each render this
    one description, so all three run the same jobs.
    """

    seconds: tuple[int, ...]
    minute: int = 0
    minute_step: int = 1
    hour: int | None = None

    def second_step(self) -> int | None:
        """``k`` when the seconds are exactly 0, k, 2k, ... of a minute, else ``None``."""
        if len(self.seconds) < 2 or self.seconds[0] != 0:
            return None
        step = self.seconds[1]
        return step if 60 % step == 0 and self.seconds == tuple(range(0, 60, step)) else None

    def minute_field(self) -> str:
        """The minute field as cron and supercronic write it."""
        return "*" if self.minute_step == 1 else _step(self.minute, self.minute_step, 60)

    @property
    def supercronic(self) -> str:
        """The 7 fields of supercronic."""
        step = self.second_step()
        seconds = f"*/{step}" if step else ",".join(map(str, self.seconds))
        hour = "*" if self.hour is None else str(self.hour)
        return f"{seconds} {self.minute_field()} {hour} * * * *"


@dataclass(frozen=True)
class Job:
    """One job: when, which luxlog command, and why. The one job table of every format."""

    name: str
    timing: Timing
    args: tuple[str, ...]  # the luxlog command and its options, e.g. ("rollup", "due")
    comment: str
    global_args: tuple[str, ...] = ()
    # The local time (hour, minute) a daily job means, for crontabs that run in the
    # machine's local time (classic cron has no CRON_TZ).
    local_time: tuple[int, int] | None = None

    @property
    def schedule(self) -> str:
        """supercronic's 7 fields."""
        return self.timing.supercronic

    @property
    def command(self) -> str:
        """The shell command as the container's crontab runs it (``luxlog`` on PATH)."""
        return shlex.join([PROGRAM, *self.global_args, *self.args])

    @property
    def line(self) -> str:
        """The line as supercronic reads it."""
        return f"{self.schedule} {self.command}"


def check_interval(interval_sec: int, source: str = "the settings") -> None:
    """Raise ``ConfigError`` unless ``interval_sec`` can be scheduled exactly."""
    if interval_sec in VALID_INTERVALS:
        return
    lower = [n for n in VALID_INTERVALS if n < interval_sec]
    upper = [n for n in VALID_INTERVALS if n > interval_sec]
    nearest = " or ".join(str(n) for n in (lower[-1:] + upper[:1]))
    raise ConfigError(
        [
            f"interval_sec: must divide an hour (3600 s) so that the container's cron keeps "
            f"an exact rhythm; nearest: {nearest} (got {interval_sec} from {source})"
        ]
    )


def poll_timings(interval_sec: int) -> tuple[Timing, ...]:
    """The timings that together fire exactly every ``interval_sec``.

    The poll times are the multiples of the interval counted from the top of the hour.
    They repeat every ``lcm(interval, 60)`` seconds, a whole number of minutes ``m``
    that divides 60 (because the interval divides 3600). Within one such period, the
    polls falling into minute ``o`` (0 <= o < m) become one line: their seconds, in
    minutes ``o, o+m, o+2m, ...``.
    """
    check_interval(interval_sec)
    period = math.lcm(interval_sec, 60)
    minutes_per_period = period // 60
    seconds_by_offset: dict[int, list[int]] = {}
    for start in range(0, period, interval_sec):
        seconds_by_offset.setdefault(start // 60, []).append(start % 60)
    return tuple(
        Timing(tuple(seconds), minute=offset, minute_step=minutes_per_period)
        for offset, seconds in sorted(seconds_by_offset.items())
    )


def poll_schedules(interval_sec: int) -> tuple[str, ...]:
    """supercronic's 7-field schedules of :func:`poll_timings`."""
    return tuple(timing.supercronic for timing in poll_timings(interval_sec))


def _step(first: int, step: int, size: int) -> str:
    """A cron field for ``first, first+step, ...`` below ``size``, as readably as possible."""
    if step >= size:
        return str(first)
    return f"*/{step}" if first == 0 else f"{first}-{size - 1}/{step}"


def prune_time_utc(timezone: str) -> tuple[int, int]:
    """(hour, minute) in UTC of 03:17 standard time in ``timezone``."""
    local = _REFERENCE_DAY.astimezone(ZoneInfo(timezone))
    standard = (local.utcoffset() or timedelta()) - (local.dst() or timedelta())
    minutes = (PRUNE_HOUR * 60 + PRUNE_MINUTE - int(standard.total_seconds()) // 60) % 1440
    return divmod(minutes, 60)


def jobs(settings: Settings, *, global_args: Sequence[str] = ()) -> list[Job]:
    """Every job of the schedule, in the order the crontab lists them."""
    check_interval(settings.interval_sec, settings.sources.get("interval_sec", "the settings"))
    for arg in global_args:
        # A newline in a --config or --data-dir path would start a job line of its own
        # (shlex quoting does not help: cron reads the crontab line by line).
        if any(ord(char) < 0x20 or char == "\x7f" for char in arg):
            raise ConfigError([f"path {arg[:60]!r} contains control characters (newline, tab)"])
    options = tuple(global_args)
    result: list[Job] = []
    timings = poll_timings(settings.interval_sec)
    for index, timing in enumerate(timings):
        if len(timings) == 1:
            comment = f"read the heat pump every {settings.interval_sec} s (interval_sec)"
        else:
            comment = (
                f"read the heat pump every {settings.interval_sec} s (interval_sec), "
                f"line {index + 1} of {len(timings)}"
            )
        result.append(Job("poll", timing, ("poll",), comment, options))
    result.append(
        Job(
            "flush",
            Timing((JOB_SECOND,), FLUSH_MINUTE, FLUSH_EVERY_MIN),
            ("flush",),
            f"move the spool into the cache every {FLUSH_EVERY_MIN} minutes",
            options,
        )
    )
    result.append(
        Job(
            "rollup",
            Timing((JOB_SECOND,), ROLLUP_MINUTE, FLUSH_EVERY_MIN),
            ("rollup", "due"),
            f"write the CSV files that are due, {ROLLUP_MINUTE - FLUSH_MINUTE} minutes "
            "after each flush",
            options,
        )
    )
    if settings.push_url:
        result.append(
            Job(
                "push",
                Timing((JOB_SECOND,), PUSH_MINUTE, FLUSH_EVERY_MIN),
                ("push",),
                "send new samples to the time-series database (push_url), "
                f"{PUSH_MINUTE - FLUSH_MINUTE} minutes after each flush",
                options,
            )
        )
    hour, minute = prune_time_utc(settings.timezone)
    result.append(
        Job(
            "prune",
            Timing((JOB_SECOND,), minute, 60, hour),
            ("prune",),
            "prune old CSV files and cached samples once a day, at "
            f"{PRUNE_HOUR:02d}:{PRUNE_MINUTE:02d} standard time in {settings.timezone}",
            options,
            local_time=(PRUNE_HOUR, PRUNE_MINUTE),
        )
    )
    return result
