"""The verdict: why a health report is unhealthy, one line per reason (pure)."""

from __future__ import annotations

from luxlog.health.report import FLUSH_OVERDUE_MS, STALE_POLLS, HealthReport
from luxlog.render import format_duration
from luxlog.spool import format_timestamp

# -- verdict and report ----------------------------------------------------------------


def _duration(ms: float) -> str:
    """A span in milliseconds as a reason line says it (``12 min``)."""
    return format_duration(ms / 1000)


def verdict(report: HealthReport) -> list[str]:
    """Why ``report`` is unhealthy, one line per reason (empty: healthy). Pure."""
    now = report.now_ms
    reasons: list[str] = []
    last = report.heatpump.last_poll_ms
    stale_ms = STALE_POLLS * report.interval_sec * 1000
    if last is None:
        reasons.append("no successful poll yet: neither the spool nor the cache holds a sample")
    elif now - last > stale_ms:
        reasons.append(
            f"last successful poll {_duration(now - last)} ago ({format_timestamp(last)}), "
            f"more than {STALE_POLLS} x interval_sec ({stale_ms // 1000} s)"
        )
    for volume in report.disks:
        if volume.over:
            holds = ", ".join(f"{purpose} {path}" for purpose, path in volume.holds)
            reasons.append(
                f"disk {volume.usage.volume} is {volume.usage.percent:.0f}% full "
                f"(threshold {volume.threshold_percent}%); it holds {holds}"
            )
    oldest = report.spool.oldest_pending_ms
    if oldest is not None and now - oldest > FLUSH_OVERDUE_MS:
        reasons.append(
            f"spool not flushed for over an hour: oldest pending sample is from "
            f"{format_timestamp(oldest)} ({_duration(now - oldest)} ago); is `luxlog flush` "
            "scheduled?"
        )
    for kind in (*report.rollups.kinds, *report.rollups.products):
        if kind.overdue:
            day, due = kind.overdue[0]
            more = f" and {len(kind.overdue) - 1} more" if len(kind.overdue) > 1 else ""
            reasons.append(
                f"roll-up {kind.file_name(day)}{more} overdue: due at {format_timestamp(due)} "
                f"({_duration(now - due)} ago); is `luxlog rollup due` scheduled?"
            )
        if kind.failed:
            day, error, at = kind.failed[0]
            more = f" ({len(kind.failed) - 1} more failed)" if len(kind.failed) > 1 else ""
            reasons.append(
                f"roll-up {kind.file_name(day)} failed at {format_timestamp(at)}: {error}{more}"
            )
    future = report.heatpump.future_sample_ms
    if future is not None:
        reasons.append(
            f"a sample is dated {format_timestamp(future)}, {_duration(future - now)} ahead of "
            "this machine's clock: a clock is wrong (check NTP on this machine and the "
            "poller); it does not count as a recent poll"
        )
    if report.rollups.error is not None:
        reasons.append(f"roll-up bookkeeping unreadable: {report.rollups.error}")
    cache = report.cache
    if cache.error is not None:
        reasons.append(f"cache unreadable: {cache.error}")
    elif cache.integrity_problems:
        reasons.append(
            f"cache {cache.path} failed its integrity check: {cache.integrity_problems[0]}"
        )
    return reasons
