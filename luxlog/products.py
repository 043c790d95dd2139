"""The roll-up job: flush, read each window from the cache, write its CSV to every folder.

One run (``rollup due``, ``rollup daily``/``weekly``) goes:

1. wait until the newest boundary it writes is ``SETTLE_MS`` old: a poll stamps its sample
   when the read completes and appends it a moment later, so a sample just before the
   boundary may still be on its way into the spool;
2. flush the spool into the cache (``luxlog.flush``: cache lock for the flush, spool lock
   for a rename only, so polls are never held up), so a roll-up holds every sample polled
   before its window's end;
3. for each window, under ``rollup.lock``: read the samples from the cache (WAL: reading
   needs no lock), stream the CSV into a temp file in each output folder at once, fsync
   and rename; then record the outcome in the cache's state table (under the cache lock).

A window whose write fails is tried once more in the same run (only the folders that
failed); what still fails is recorded as ``failed`` and ``due`` retries it next time.

After each daily CSV, the calendar day before its boundary is over: its row goes into the
month summary and its HTML report is written (:mod:`luxlog.dayproducts`). Every product
(daily and weekly CSV, month summary, day report) has a record per day in the cache's
state table (:mod:`luxlog.bookkeeping`, read by ``status``); a failed one is retried by the
next ``due``, like a CSV.

Output folders follow :mod:`luxlog.outputs` (one writer for every derived file): a
folder inside ``data_dir`` is created when missing, any other must exist already, and a
folder on a nearly full volume fails before its file is started.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING

from luxlog import clock
from luxlog.bookkeeping import COMPLETE_COVERAGE as COMPLETE_COVERAGE
from luxlog.bookkeeping import LAST_DUE_KEY as LAST_DUE_KEY
from luxlog.bookkeeping import STATE_KEYS as STATE_KEYS
from luxlog.bookkeeping import Record as Record
from luxlog.bookkeeping import Status as Status
from luxlog.bookkeeping import cache_lock, save_record
from luxlog.bookkeeping import last_due as last_due
from luxlog.bookkeeping import load_records as load_records
from luxlog.config import Settings
from luxlog.csvout import PROFILES, Columns, RenderStats, SensorFilter, ShapeGrew, render
from luxlog.dayproducts import after_daily_rollup as after_daily_rollup
from luxlog.dayproducts import retry_failed
from luxlog.errors import StorageError
from luxlog.locks import hold, rollup_lock_path
from luxlog.outputs import prepare_dir, write_all
from luxlog.outputs import reason as _reason
from luxlog.sample import Sample
from luxlog.windows import KINDS, Kind, Schedule, Window

if TYPE_CHECKING:
    from luxlog.cache import Cache, Registers

log = logging.getLogger("luxlog.rollup")

Progress = Callable[[int, int], None]

SETTLE_MS = 5_000


class DateError(ValueError):
    """A requested roll-up date that cannot be written (its window has not ended yet)."""


@dataclass
class Outcome:
    """One window in this run: its final record and where the file went."""

    window: Window
    record: Record
    written: list[Path] = field(default_factory=list)
    skipped: bool = False  # another run had done it by the time we held the lock


@dataclass
class RollupReport:
    """Everything one run did, for the command to render."""

    outcomes: list[Outcome] = field(default_factory=list)
    flushed: int = 0

    def count(self, status: Status) -> int:
        """Windows that ended in ``status`` this run (skipped ones not counted)."""
        return sum(1 for o in self.outcomes if not o.skipped and o.record.status == status)

    @property
    def failed(self) -> list[Outcome]:
        """Windows that still failed after their retry."""
        return [o for o in self.outcomes if o.record.status == "failed"]

    def error(self) -> StorageError | None:
        """The run's failure as one line (exit 7), or ``None`` when everything worked."""
        if not self.failed:
            return None
        names = ", ".join(o.window.file_name for o in self.failed[:3])
        more = f" and {len(self.failed) - 3} more" if len(self.failed) > 3 else ""
        return StorageError(
            f"{len(self.failed)} roll-up(s) failed ({names}{more}); see the lines above; "
            "`luxlog rollup due` retries them"
        )


def schedule_for(settings: Settings) -> Schedule:
    """The window arithmetic for these settings."""
    return Schedule.create(settings.csv_time, settings.timezone, settings.weekly_day)


_FOREVER_DAYS = 100 * 366  # "no limit", as a number of days date arithmetic can take


def lookback_days(settings: Settings) -> int:
    """How far back ``due`` catches up: older samples are pruned from the cache, and older
    CSVs would be deleted by the next ``prune`` anyway. A retention of 0 (forever) sets
    no limit: back to the first sample the cache holds."""
    limits = [d for d in (settings.cache_retention_days, settings.csv_retention_days) if d > 0]
    return min(limits, default=_FOREVER_DAYS)


# -- writing one window ----------------------------------------------------------------


@dataclass
class _Attempt:
    empty: bool = False
    samples: int = 0
    written: list[Path] = field(default_factory=list)
    failures: dict[Path, str] = field(default_factory=dict)


class _Writer:
    """Renders windows from one open cache with one set of settings."""

    def __init__(self, cache: Cache, settings: Settings) -> None:
        self.cache = cache
        self.settings = settings
        self.profile = PROFILES[settings.csv_profile]
        self.zone = schedule_for(settings).zone
        self.selection = SensorFilter(settings.sensors_include, settings.sensors_exclude)
        self._checked_shapes: set[tuple[int, int]] = set()

    def _columns(self, n_calc: int, n_param: int) -> Columns:
        columns = Columns.build(n_calc, n_param, self.selection)
        if (n_calc, n_param) not in self._checked_shapes:
            # Once per run and shape: a typo in sensors_include/exclude is worth a warning.
            self._checked_shapes.add((n_calc, n_param))
            from luxlog.heatpump.catalogue import sensors

            for pattern in self.selection.unused(sensors(n_calc, n_param)):
                log.warning("sensors_include/exclude: %r matches no sensor", pattern)
            if not columns.sensors:
                log.warning("sensors_include/exclude leave no sensor: files hold timestamps only")
        return columns

    def _projection(self, window: Window) -> Registers | None:
        """With ``sensors_include`` set, only the chosen registers are decoded (for the
        widest vectors in the window); a file of every sensor reads whole rows."""
        if not self.selection.include:
            return None
        from luxlog.cache import Registers

        calculations, parameters = Columns.build(
            *self.cache.shape(window.start_ms, window.end_ms), self.selection
        ).indices
        return Registers.of(calculations, parameters)

    def attempt(self, window: Window, directories: Sequence[Path]) -> _Attempt:
        """Write ``window`` to each of ``directories``; failures are returned, not raised."""
        result = _Attempt()
        try:
            registers = self._projection(window)
            samples = self.cache.query(window.start_ms, window.end_ms, registers=registers)
            first = next(samples, None)
        except StorageError as exc:
            result.failures = {d: str(exc) for d in directories}
            return result
        if first is None:
            result.empty = True  # no file anywhere
            return result
        targets: list[Path] = []
        for directory in directories:
            try:
                prepare_dir(directory, self.settings.data_dir)
                targets.append(directory / window.file_name)
            except OSError as exc:
                result.failures[directory] = _reason(exc)
        if not targets:
            return result
        shape = (len(first.calculations), len(first.parameters))
        stream: Iterable[Sample] = chain([first], samples)
        while True:
            stats = RenderStats()
            chunks = render(
                stream,
                self._columns(*shape),
                profile=self.profile,
                zone=self.zone,
                stats=stats,
            )
            try:
                failed = write_all(targets, chunks)
            except ShapeGrew as grew:
                # Firmware changed inside the window: the columns are the union of what
                # its samples hold, so find the widest vectors and render again.
                n_calc, n_param = max(shape[0], grew.n_calc), max(shape[1], grew.n_param)
                for sample in samples:
                    n_calc = max(n_calc, len(sample.calculations))
                    n_param = max(n_param, len(sample.parameters))
                shape = (n_calc, n_param)
                samples = self.cache.query(window.start_ms, window.end_ms, registers=registers)
                stream = samples
                continue
            except StorageError as exc:  # the cache failed mid-read
                result.failures.update({t.parent: str(exc) for t in targets})
                return result
            break
        result.samples = stats.rows
        for target in targets:
            if target in failed:
                result.failures[target.parent] = _reason(failed[target])
            else:
                result.written.append(target)
        return result


def _coverage(samples: int, window: Window, interval_sec: int) -> float:
    expected = window.duration_ms / (interval_sec * 1000)
    return round(min(1.0, samples / expected), 4) if expected > 0 else 0.0


def _roll(
    writer: _Writer,
    window: Window,
    *,
    force: bool,
    now_ms: int,
    today: date,
) -> Outcome:
    """Write one window (retrying once) and record the result; see the module docstring."""
    settings = writer.settings
    cache = writer.cache
    with hold(
        rollup_lock_path(settings.data_dir), timeout=settings.timeout_sec, what="the roll-ups"
    ):
        previous = load_records(cache)[window.kind].get(window.day)
        if not force and previous is not None and previous.done:
            return Outcome(window, previous, skipped=True)  # a concurrent run did it
        directories = list(settings.output_dirs)
        if not force and previous is not None and previous.failed_dirs:
            # Only the folders that failed last time; the others already have the file.
            retry = [d for d in directories if str(d) in previous.failed_dirs]
            directories = retry or directories
        attempt = writer.attempt(window, directories)
        if attempt.empty:
            return _empty(writer, window, previous, now_ms=now_ms, today=today)
        written = list(attempt.written)
        samples = attempt.samples
        if attempt.failures:
            for directory, reason in attempt.failures.items():
                log.warning(
                    "%s: cannot write to %s: %s; trying once more",
                    window.file_name,
                    directory,
                    reason,
                )
            attempt = writer.attempt(window, list(attempt.failures))
            written += attempt.written
            samples = max(samples, attempt.samples)
        if samples == 0 and previous is not None:
            samples = previous.samples  # nothing rendered this time: every folder refused
        coverage = _coverage(samples, window, settings.interval_sec)
        if attempt.failures:
            for directory, reason in attempt.failures.items():
                log.error(
                    "%s: cannot write to %s: %s (the next `luxlog rollup due` retries it)",
                    window.file_name,
                    directory,
                    reason,
                )
            record = Record(
                "failed",
                samples,
                coverage,
                tuple(str(d) for d in attempt.failures),
                next(iter(attempt.failures.values())),
                now_ms,
            )
        else:
            record = Record("written", samples, coverage, (), "", now_ms)
            log.info(
                "wrote %s to %s: %d samples, %.1f %% coverage%s",
                window.file_name,
                ", ".join(str(p.parent) for p in written),
                samples,
                coverage * 100,
                " (partial)" if record.partial else "",
            )
        save_record(cache, settings, window.kind, window.day, record, today)
    return Outcome(window, record, written)


def _empty(
    writer: _Writer, window: Window, previous: Record | None, *, now_ms: int, today: date
) -> Outcome:
    """A window without samples: a warning, no file, and a record so it is not retried."""
    log.warning(
        "%s: no samples between %s and %s; no file written",
        window.file_name,
        _local(window.start_ms, writer),
        _local(window.end_ms, writer),
    )
    if previous is not None and previous.status == "written":
        # Rewriting a window whose samples were pruned since: the file written back then
        # is all that is left of them, so it stays, and so does its record.
        return Outcome(window, previous)
    record = Record("empty", 0, 0.0, (), "", now_ms)
    save_record(writer.cache, writer.settings, window.kind, window.day, record, today)
    return Outcome(window, record)


def _local(at_ms: int, writer: _Writer) -> str:
    return datetime.fromtimestamp(at_ms / 1000, tz=writer.zone).isoformat(timespec="minutes")


# -- runs ------------------------------------------------------------------------------


def _settle(latest_end_ms: int, now_ms: int, sleep: Callable[[float], None]) -> int:
    """Step 1 of the module docstring; returns the (possibly later) ``now``."""
    wait_ms = latest_end_ms + SETTLE_MS - now_ms
    if wait_ms > 0:
        log.debug("waiting %.1f s for polls finishing at the boundary", wait_ms / 1000)
        sleep(wait_ms / 1000)
        return now_ms + wait_ms
    return now_ms


def _flush_first(settings: Settings) -> int:
    from luxlog.flush import flush

    return flush(settings).samples_added


def _run(
    settings: Settings,
    windows: Callable[[Cache], list[Window]],
    *,
    scheduled: bool,
    now_ms: int,
    progress: Progress | None,
) -> RollupReport:
    """Steps 2 and 3 of the module docstring for the windows ``windows(cache)`` picks.

    ``scheduled`` (``due``): skip windows done meanwhile, and record the run's summary.
    """
    from luxlog import disk
    from luxlog.cache import Cache

    # Warnings only (see disk.JOBS): a full output folder fails on its own in
    # outputs.prepare_dir, the cache's volume is guarded by the flush.
    disk.watch(settings, "rollup")
    report = RollupReport(flushed=_flush_first(settings))
    if not settings.cache_path.exists():
        # A fresh installation before its first poll: normal for `due`, not for a request.
        (log.debug if scheduled else log.warning)(
            "no data yet: cache %s does not exist; nothing to roll up", settings.cache_path
        )
        return report
    today = schedule_for(settings).local_date(now_ms)
    with Cache.open(settings.cache_path, busy_timeout_sec=settings.timeout_sec) as cache:
        todo = windows(cache)
        writer = _Writer(cache, settings)
        made: set[date] = set()
        for number, window in enumerate(todo):
            outcome = _roll(writer, window, force=not scheduled, now_ms=now_ms, today=today)
            report.outcomes.append(outcome)
            if scheduled and window.kind == "daily" and outcome.record.done and not outcome.skipped:
                # The calendar day before this boundary is over: its row in the month
                # summary and its report (luxlog.dayproducts); never fails the run.
                after_daily_rollup(settings, cache, window.day, now_ms=now_ms)
                made.add(window.day - timedelta(days=1))
            if progress is not None:
                progress(number + 1, len(todo))
        if scheduled:
            retry_failed(
                settings, cache, now_ms=now_ms, lookback_days=lookback_days(settings), skip=made
            )
            summary = {
                "at_ms": now_ms,
                "written": report.count("written"),
                "empty": report.count("empty"),
                "failed": report.count("failed"),
                "flushed": report.flushed,
            }
            with cache_lock(settings):
                cache.set_state(LAST_DUE_KEY, json.dumps(summary, sort_keys=True))
    return report


def due(
    settings: Settings,
    *,
    now_ms: int | None = None,
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> RollupReport:
    """Write every daily and weekly roll-up whose boundary passed and that is not done.

    "Done" means written to every folder, or recorded as empty; failed ones are retried.
    Catches up on missed runs back to :func:`lookback_days` (and never before the first
    cached sample), so a container that was down for days writes exactly what it missed.
    """
    schedule = schedule_for(settings)
    now = clock.now_ms() if now_ms is None else now_ms
    now = _settle(schedule.boundary_ms(schedule.latest_day(now)), now, sleep)

    def pick(cache: Cache) -> list[Window]:
        span = cache.time_range()
        records = load_records(cache)
        done = {(kind, day) for kind in KINDS for day, r in records[kind].items() if r.done}
        return schedule.pending(
            now_ms=now,
            first_ms=span[0] if span else None,
            lookback_days=lookback_days(settings),
            done=done,
        )

    return _run(settings, pick, scheduled=True, now_ms=now, progress=progress)


def resolve_days(
    settings: Settings,
    kind: Kind,
    *,
    day: date | None = None,
    first: date | None = None,
    last: date | None = None,
    now_ms: int | None = None,
) -> list[date]:
    """The window end dates ``rollup daily|weekly`` writes; raise ``DateError`` if none can.

    No date: the latest boundary that has passed (weekly: on ``weekly_day``). A range
    ``first..last`` (``last`` defaults to that latest date) holds every day for daily and
    the ``weekly_day`` dates for weekly. A window that has not ended yet is refused.
    """
    schedule = schedule_for(settings)
    now = clock.now_ms() if now_ms is None else now_ms
    latest = schedule.default_day(kind, now)
    if first is None and last is None:
        days = [day if day is not None else latest]
    else:
        start = first if first is not None else (last or latest)
        days = list(schedule.days(kind, start, last if last is not None else latest))
        if not days:
            raise DateError(
                f"no {settings.weekly_day} from {start} to {last or latest} "
                "(weekly roll-ups end on weekly_day)"
            )
    for wanted in days:
        window = schedule.window(kind, wanted)
        if window.end_ms > now:
            ends = datetime.fromtimestamp(window.end_ms / 1000, tz=schedule.zone)
            raise DateError(
                f"the {kind} roll-up for {wanted} ends at {ends:%Y-%m-%d %H:%M %Z}, "
                "which has not passed yet"
            )
    return days


def write_days(
    settings: Settings,
    kind: Kind,
    days: Sequence[date],
    *,
    now_ms: int | None = None,
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> RollupReport:
    """Write (or rewrite) the ``kind`` roll-ups ending on ``days``, whatever their record."""
    schedule = schedule_for(settings)
    windows = [schedule.window(kind, d) for d in days]
    now = clock.now_ms() if now_ms is None else now_ms
    if windows:
        now = _settle(max(w.end_ms for w in windows), now, sleep)
    return _run(settings, lambda cache: windows, scheduled=False, now_ms=now, progress=progress)
