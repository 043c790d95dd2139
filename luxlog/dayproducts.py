"""The products a finished day adds: its row in the month summary and its HTML report.

After each daily CSV, ``rollup due`` knows that the calendar day before that CSV's
boundary is over (the roll-up ends at ``csv_time`` on its date). Two files follow from it,
each with its own record in the bookkeeping (:mod:`luxlog.bookkeeping`), keyed by that day:

* ``summary``: ``YYYY-MM_summary.csv`` of the day's month, rewritten with rows up to the
  day (:mod:`luxlog.summary`);
* ``report``: ``YYYY-MM-DD_report.html`` of the day, when the day has samples
  (:mod:`luxlog.report`); a day without samples is recorded ``empty``.

Neither ever fails the run (the CSVs are what cron alerts on), but a failure is recorded,
shown by ``status`` and retried by the next ``rollup due``, only into the folders that
failed - the same rule as for the CSVs. A month summary is retried for the newest failed
day of its month only: rewriting an older day would drop the rows after it, and the newer
file holds the older day's row anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from luxlog import clock
from luxlog.bookkeeping import Record, load_records, save_record
from luxlog.errors import LuxlogError
from luxlog.locks import hold, rollup_lock_path
from luxlog.outputs import WriteResult
from luxlog.periods import Calendar

if TYPE_CHECKING:
    from luxlog.cache import Cache
    from luxlog.config import Settings

log = logging.getLogger("luxlog.stats")

DAY_PRODUCTS = ("summary", "report")


def file_name(kind: str, day: date) -> str:
    """The file a day product writes for ``day``."""
    from luxlog.summary import summary_file_name

    return summary_file_name(day) if kind == "summary" else f"{day.isoformat()}_report.html"


def after_daily_rollup(
    settings: Settings, cache: Cache, rollup_day: date, *, now_ms: int | None = None
) -> WriteResult:
    """``rollup due``'s hook once the daily roll-up of ``rollup_day`` is done: the month
    summary and the report of the day before; returns the summary's result.

    Held under the roll-up lock (two runs must not write the same temp file), and never
    fatal: what cannot be written is logged, recorded and retried by the next run.
    """
    now = clock.now_ms() if now_ms is None else now_ms
    return _make(settings, cache, rollup_day - timedelta(days=1), now_ms=now)


def retry_failed(
    settings: Settings,
    cache: Cache,
    *,
    now_ms: int,
    lookback_days: int,
    skip: Collection[date] = (),
) -> None:
    """Retry the failed summaries and reports of the last ``lookback_days`` days (not
    the days in ``skip``, made in this run already); see the module docstring."""
    records = load_records(cache, DAY_PRODUCTS)
    calendar = Calendar.from_settings(settings)
    first = calendar.local_date(now_ms) - timedelta(days=lookback_days)

    def failed(kind: str) -> list[date]:
        return sorted(
            day
            for day, record in records[kind].items()
            if record.status == "failed" and day >= first and day not in skip
        )

    for day in failed("report"):
        _make(settings, cache, day, now_ms=now_ms, kinds=("report",), retry=records["report"])
    summaries = records["summary"]
    months: dict[tuple[int, int], list[date]] = {}
    for day in failed("summary"):
        months.setdefault((day.year, day.month), []).append(day)
    for days in months.values():
        newest = max(d for d in summaries if (d.year, d.month) == (days[0].year, days[0].month))
        if summaries[newest].status == "failed" and newest not in skip:
            _make(settings, cache, newest, now_ms=now_ms, kinds=("summary",), retry=summaries)
            made = load_records(cache, ["summary"])["summary"].get(newest)
        else:
            made = summaries[newest]
        if made is not None and made.status != "failed":
            # The month file now holds these days' rows too.
            for day in days:
                if day != newest:
                    _save(settings, cache, "summary", day, made, now_ms)


def _make(
    settings: Settings,
    cache: Cache,
    day: date,
    *,
    now_ms: int,
    kinds: Sequence[str] = DAY_PRODUCTS,
    retry: dict[date, Record] | None = None,
) -> WriteResult:
    result = WriteResult()
    try:
        with hold(
            rollup_lock_path(settings.data_dir), timeout=settings.timeout_sec, what="the roll-ups"
        ):
            for kind in kinds:
                directories = _directories(settings, retry.get(day) if retry else None)
                if kind == "summary":
                    result = _summary(settings, cache, day, now_ms=now_ms, directories=directories)
                else:
                    _report(settings, cache, day, now_ms=now_ms, directories=directories)
    except LuxlogError as exc:  # the roll-up lock: another run holds it for too long
        for kind in kinds:
            log.warning("%s not updated: %s", file_name(kind, day), exc)
            _save(settings, cache, kind, day, _failed(settings, None, str(exc), now_ms), now_ms)
    return result


def _directories(settings: Settings, previous: Record | None) -> list[Path] | None:
    """Only the folders that failed last time (all of them when none is known)."""
    if previous is None or not previous.failed_dirs:
        return None
    wanted = [d for d in settings.output_dirs if str(d) in previous.failed_dirs]
    return wanted or None


def _summary(
    settings: Settings, cache: Cache, day: date, *, now_ms: int, directories: list[Path] | None
) -> WriteResult:
    from luxlog import summary

    try:
        result = summary.update_month_summary(
            settings, cache, day, now_ms=now_ms, directories=directories
        )
    except LuxlogError as exc:
        log.warning("%s not updated: %s", summary.summary_file_name(day), exc)
        _save(
            settings,
            cache,
            "summary",
            day,
            _failed(settings, directories, str(exc), now_ms),
            now_ms,
        )
        return WriteResult()
    _save(settings, cache, "summary", day, _outcome(result, now_ms), now_ms)
    return result


def _report(
    settings: Settings, cache: Cache, day: date, *, now_ms: int, directories: list[Path] | None
) -> None:
    """The day's HTML report next to its CSVs, when the day has samples."""
    from luxlog.report import write_report

    calendar = Calendar.from_settings(settings)
    try:
        if not cache.count(
            calendar.midnight_ms(day), calendar.midnight_ms(day + timedelta(days=1))
        ):
            _save(settings, cache, "report", day, Record("empty", at_ms=now_ms), now_ms)
            return
        result = write_report(settings, day, now_ms=now_ms, directories=directories)
    except LuxlogError as exc:
        log.warning("report of %s not written: %s", day, exc)
        _save(
            settings, cache, "report", day, _failed(settings, directories, str(exc), now_ms), now_ms
        )
        return
    for folder, reason in result.failed.items():
        log.warning("report of %s not written to %s: %s", day, folder, reason)
    _save(settings, cache, "report", day, _outcome(result, now_ms), now_ms)


def _outcome(result: WriteResult, now_ms: int) -> Record:
    if result.failed:
        failed_dirs = tuple(str(d) for d in result.failed)
        return Record("failed", 0, 0.0, failed_dirs, next(iter(result.failed.values())), now_ms)
    return Record("written" if result.written else "empty", at_ms=now_ms)


def _failed(settings: Settings, directories: list[Path] | None, error: str, now_ms: int) -> Record:
    folders = settings.output_dirs if directories is None else directories
    return Record("failed", 0, 0.0, tuple(str(d) for d in folders), error, now_ms)


def _save(
    settings: Settings, cache: Cache, kind: str, day: date, record: Record, now_ms: int
) -> None:
    """Record ``record``; a bookkeeping write that fails is logged, never fatal."""
    if record.status == "failed":
        log.warning("%s: the next `luxlog rollup due` retries it", file_name(kind, day))
    today = Calendar.from_settings(settings).local_date(now_ms)
    try:
        save_record(cache, settings, kind, day, record, today)
    except LuxlogError as exc:
        log.warning("%s: not recorded: %s", file_name(kind, day), exc)
