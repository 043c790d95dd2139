"""The poll job: one read of the heat pump, appended to the spool as one line.

This module is on the hot path (cron runs it every 30 s on small machines), so it
imports nothing heavy: no Rich, no SQLite, no YAML, not even luxtronik.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

from luxlog.config import Settings
from luxlog.disk import watch
from luxlog.errors import Busy, HeatPumpError, LuxlogError
from luxlog.heatpump.client import read_with_retries
from luxlog.locks import heatpump_lock_path, hold, spool_lock_path
from luxlog.sample import Sample
from luxlog.spool import Spool, append_line, format_timestamp

log = logging.getLogger("luxlog.poll")

# Kept free at the end of the interval for writing the spool line and exiting, so the
# next scheduled poll never finds this one still running.
SAFETY_MARGIN_SEC = 0.5
FAILURES_NAME = "poll-failures.jsonl"


def failures_path(settings: Settings) -> Path:
    """Where failed polls are recorded (read by ``status`` to show gaps)."""
    return settings.spool_dir / FAILURES_NAME


def record_failure(settings: Settings, error: LuxlogError, when_ms: int) -> None:
    """Append (time, cause) of a failed poll; losing this note must not hide the error."""
    line = json.dumps(
        {"t": format_timestamp(when_ms), "host": settings.address, "error": str(error)},
        separators=(",", ":"),
    )
    try:
        with hold(spool_lock_path(settings.data_dir), timeout=1.0, what="the spool"):
            append_line(failures_path(settings), line.encode("utf-8") + b"\n")
    except LuxlogError as exc:
        log.warning("could not record the failed poll: %s", exc)


def poll(
    settings: Settings,
    *,
    started: float | None = None,
    clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
) -> Sample:
    """Read the heat pump once and spool the sample, all within ``interval_sec``.

    ``started`` is the ``time.monotonic()`` at which the process began, so start-up time
    counts against the budget too.
    """
    settings.require_host()
    watch(settings, "poll")  # warns when nearly full, never stops a poll (a line is ~10 kB)
    started = time.monotonic() if started is None else started
    deadline = started + settings.interval_sec - SAFETY_MARGIN_SEC
    try:
        # One connection per controller at a time: they misbehave when polled by
        # several clients at once. Waiting for the lock spends our own budget.
        with hold(
            heatpump_lock_path(settings.data_dir, settings.host, settings.port),
            timeout=max(deadline - time.monotonic(), 0.0),
            what=f"the heat pump {settings.address}",
        ):
            raw = read_with_retries(
                settings.host,
                settings.port,
                deadline=deadline,
                timeout_sec=settings.timeout_sec,
                retries=settings.retries,
            )
    except (HeatPumpError, Busy) as exc:
        record_failure(settings, exc, clock_ms())
        raise
    sample = Sample(
        timestamp_ms=clock_ms(),
        host=settings.address,
        calculations=raw.calculations,
        parameters=raw.parameters,
    )
    # The spool lock is held by a flush for milliseconds only; give it at least a second
    # even when the read used most of the budget, since the sample is already in hand.
    with hold(
        spool_lock_path(settings.data_dir),
        timeout=max(deadline - time.monotonic(), 1.0),
        what="the spool",
    ):
        Spool(settings.spool_dir).append(sample)
    log.debug("spooled sample of %s at %s", settings.address, format_timestamp(sample.timestamp_ms))
    return sample
