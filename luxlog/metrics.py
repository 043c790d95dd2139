"""``luxlog metrics --textfile DIR``: a Prometheus node-exporter textfile.

node-exporter's textfile collector reads ``DIR/*.prom`` whenever it is scraped, so the
file must never be seen half-written: it is written as a hidden temp file in ``DIR``,
fsynced and renamed over ``luxlog.prom``. Run it from cron after each flush.

Two kinds of series:

* the latest values, named as VictoriaMetrics names what ``luxlog push`` sends
  (``luxtronik_<sensor>{device="...",site="..."}``), so one dashboard serves both paths;
  missing values are left out;
* luxlog's own health for alerting: ``luxlog_last_success_timestamp_seconds`` (newest
  sample), ``luxlog_failed_polls_24h``, ``luxlog_spool_backlog_samples``,
  ``luxlog_quarantined_lines``, ``luxlog_healthy`` (0/1, as ``status --check``), and,
  with ``push_url``, ``luxlog_push_backlog_samples`` and
  ``luxlog_push_last_success_timestamp_seconds``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from luxlog.errors import StorageError

if TYPE_CHECKING:
    from luxlog.config import Settings
    from luxlog.sample import Sample

FILE_NAME = "luxlog.prom"
_NAME = re.compile(r"[^a-zA-Z0-9_:]")


def escape_label(value: str) -> str:
    """A label value in the text exposition format: backslash, quote and newline."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def metric_name(sensor: str) -> str:
    """``luxtronik_<sensor>`` with anything Prometheus refuses turned into ``_``."""
    return "luxtronik_" + _NAME.sub("_", sensor)


def _number(value: float | int) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def sensor_lines(sample: Sample, settings: Settings, labels: str) -> Iterator[str]:
    """``# TYPE`` and one gauge line per selected sensor with a value."""
    from luxlog.csvout import Columns
    from luxlog.export import selection_for

    columns = Columns.build(
        len(sample.calculations), len(sample.parameters), selection_for(settings)
    )
    for item in columns.sensors:
        vector = sample.calculations if item.kind == "calc" else sample.parameters
        value = item.convert(vector[item.index])
        if value is None:
            continue
        name = metric_name(item.name)
        unit = f" ({item.unit})" if item.unit else ""
        yield f"# HELP {name} {item.kind} {item.index}{unit}"
        yield f"# TYPE {name} gauge"
        yield f"{name}{{{labels}}} {_number(value)}"


def render(settings: Settings, *, now_ms: int) -> str:
    """The whole textfile for the current state of ``settings``' files."""
    from luxlog.export import device_name
    from luxlog.health import build_report
    from luxlog.inventory import latest_sample
    from luxlog.push import push_status

    device = device_name(settings)
    labels = f'device="{escape_label(device)}"'
    if settings.site:
        labels += f',site="{escape_label(settings.site)}"'
    report = build_report(settings, now_ms=now_ms)
    lines: list[str] = []

    def gauge(name: str, help_text: str, value: float | int | None) -> None:
        if value is None:
            return
        lines.extend(
            [
                f"# HELP {name} {help_text}",
                f"# TYPE {name} gauge",
                f"{name}{{{labels}}} {_number(value)}",
            ]
        )

    last = report.heatpump.last_poll_ms
    gauge(
        "luxlog_last_success_timestamp_seconds",
        "Time of the newest sample (successful poll).",
        None if last is None else last / 1000,
    )
    gauge(
        "luxlog_failed_polls_24h",
        "Failed polls in the last 24 hours.",
        report.heatpump.failed_polls_24h,
    )
    gauge(
        "luxlog_spool_backlog_samples",
        "Samples in the spool waiting for a flush.",
        report.spool.pending_samples,
    )
    gauge(
        "luxlog_quarantined_lines",
        "Spool lines set aside as unreadable.",
        report.spool.quarantined_lines,
    )
    gauge("luxlog_healthy", "1 when `luxlog status --check` passes, else 0.", int(report.healthy))
    try:
        pushed = push_status(settings)
    except StorageError:
        pushed = None
    if pushed is not None:
        gauge("luxlog_push_backlog_samples", "Cached samples not yet pushed.", pushed.backlog)
        gauge(
            "luxlog_push_last_success_timestamp_seconds",
            "End of the last push run that delivered everything.",
            None if pushed.last_success_ms is None else pushed.last_success_ms / 1000,
        )
    try:
        sample = latest_sample(settings)
    except StorageError:
        sample = None
    if sample is not None:
        lines.extend(sensor_lines(sample, settings, labels))
    return "\n".join(lines) + "\n"


def write_textfile(settings: Settings, directory: Path, *, now_ms: int) -> Path:
    """Write ``directory/luxlog.prom`` atomically; ``StorageError`` when it cannot be."""
    from luxlog.outputs import AtomicFile

    text = render(settings, now_ms=now_ms)
    target = directory / FILE_NAME
    if not directory.is_dir():
        raise StorageError(
            f"metrics: {directory} is not a directory (create it, or fix --textfile)"
        )
    try:
        handle = AtomicFile(target)
        try:
            handle.write(text.encode("utf-8"))
            handle.commit()
        except BaseException:
            handle.abort()
            raise
    except OSError as exc:
        raise StorageError(f"metrics: cannot write {target}: {exc.strerror or exc}") from exc
    return target
