"""The poll job: one read of the heat pump, appended to the spool as one line.

This module is on the hot path (cron runs it every 30 s on small machines), so it
imports nothing heavy: no Rich, no SQLite, no YAML, not even luxtronik.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from luxlog.clock import now_ms as now_ms_clock
from luxlog.config import Settings
from luxlog.disk import watch
from luxlog.errors import Busy, HeatPumpError, LuxlogError, StorageError
from luxlog.failures import encode_note, failures_path
from luxlog.heatpump.client import MIN_ATTEMPT_SEC, read_with_retries
from luxlog.locks import heatpump_lock_path, spool_lock_path
from luxlog.locks import hold_fast as hold  # flock without importing filelock
from luxlog.logs import get_logger
from luxlog.sample import Sample
from luxlog.spool import Spool, append_line, format_timestamp

log = get_logger("luxlog.poll")  # imports logging only to emit (poll path)

# Kept free at the end of the interval for writing the spool line and exiting, so the
# next scheduled poll never finds this one still running.
SAFETY_MARGIN_SEC = 0.5


def record_failure(
    settings: Settings, error: LuxlogError, when_ms: int, *, timeout: float = 1.0
) -> None:
    """Append (time, cause) of a failed poll; losing this note must not hide the error.

    ``timeout`` bounds the wait for the spool lock, so that noting a failure never makes
    the poll outlive its interval.
    """
    line = encode_note(when_ms=when_ms, host=settings.address, error=str(error))
    try:
        with hold(spool_lock_path(settings.data_dir), timeout=timeout, what="the spool"):
            append_line(failures_path(settings), line)
    except LuxlogError as exc:
        log.warning("could not record the failed poll: %s", exc)


def poll(
    settings: Settings,
    *,
    started: float | None = None,
    clock_ms: Callable[[], int] = now_ms_clock,
) -> Sample:
    """Read the heat pump once and spool the sample, all within ``interval_sec``.

    ``started`` is the ``time.monotonic()`` at which the process began, so start-up time
    counts against the budget too. Outcomes: the sample is appended to the spool; or,
    when a flush holds the spool lock until the budget ends, written to a segment of its
    own (never dropped); or the poll fails with its cause noted: ``HeatPumpError`` (the
    controller did not answer properly, exit 4), ``Busy`` (another process held the heat
    pump until too little time was left, exit 5) or ``StorageError`` (exit 7).
    """
    settings.require_host()
    watch(settings, "poll")  # warns when nearly full, never stops a poll (a line is ~10 kB)
    started = time.monotonic() if started is None else started
    deadline = started + settings.interval_sec - SAFETY_MARGIN_SEC
    # The hard end, 0.1 s before the next scheduled poll starts: writing the sample and
    # noting a failure may use the rest of the safety margin, never more.
    end = started + settings.interval_sec - SAFETY_MARGIN_SEC / 5

    def left(until: float) -> float:
        return max(until - time.monotonic(), 0.0)

    try:
        # One connection per controller at a time: they misbehave when polled by
        # several clients at once. Waiting for the lock spends our own budget.
        with hold(
            heatpump_lock_path(settings.data_dir, settings.host, settings.port),
            timeout=left(deadline),
            what=f"the heat pump {settings.address}",
        ):
            if left(deadline) < MIN_ATTEMPT_SEC:
                # The lock came too late to read: that is contention (exit 5), not a
                # heat pump that failed to answer.
                raise Busy(
                    f"the heat pump {settings.address} was in use by another luxlog "
                    "process until too little of this poll's interval was left to read it"
                )
            raw = read_with_retries(
                settings.host,
                settings.port,
                deadline=deadline,
                timeout_sec=settings.timeout_sec,
                retries=settings.retries,
            )
    except (HeatPumpError, Busy) as exc:
        record_failure(settings, exc, clock_ms(), timeout=min(1.0, left(end)))
        raise
    sample = Sample(
        timestamp_ms=clock_ms(),
        host=settings.address,
        calculations=raw.calculations,
        parameters=raw.parameters,
    )
    spool = Spool(settings.spool_dir)
    try:
        # A flush holds the spool lock for milliseconds; wait for it until the end.
        with hold(spool_lock_path(settings.data_dir), timeout=left(end), what="the spool"):
            spool.append(sample)
    except Busy as exc:
        # The sample is in hand: keep it in a file of its own, which needs no lock
        # (written whole under a temporary name, then renamed; flush ingests it).
        try:
            path = spool.append_alone(sample)
        except StorageError as error:
            failure = StorageError(f"sample read but not spooled: {exc}; then {error}")
            record_failure(settings, failure, clock_ms(), timeout=0.0)
            raise failure from error
        log.warning("%s; the sample was written to %s instead", exc, path)
    log.debug("spooled sample of %s at %s", settings.address, format_timestamp(sample.timestamp_ms))
    return sample
