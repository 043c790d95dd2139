"""Presentation only: Rich tables for people, JSON for machines. No logic lives here.

Rich is imported inside the functions: it costs ~60 ms, and commands such as ``poll``
never render anything unless asked to.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any, TextIO


def to_json(data: Any) -> str:
    """Stable, indented JSON (keys sorted) for ``--json`` outputs."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def format_value(value: float | int | None) -> str:
    """A converted value as a human reads it: '' for missing, no float noise."""
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def table(
    title: str | None,
    columns: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    stream: TextIO | None = None,
    compact: bool = False,
) -> None:
    """A Rich table on a terminal; tab-separated plain lines elsewhere (cron, pipes).

    ``compact``: no vertical rules or edge padding, so that many narrow columns fit an
    80-column terminal without Rich cutting every cell short.
    """
    stream = stream if stream is not None else sys.stdout
    if not stream.isatty():
        if title:
            stream.write(f"# {title}\n")
        stream.write("\t".join(columns) + "\n")
        for row in rows:
            stream.write("\t".join(row) + "\n")
        return
    from rich import box
    from rich.console import Console
    from rich.table import Table

    rich_table = (
        Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
        if compact
        else Table(title=title)
    )
    for column in columns:
        rich_table.add_column(column)
    for row in rows:
        rich_table.add_row(*row)
    Console(file=stream).print(rich_table)


# -- status ----------------------------------------------------------------------------


def format_duration(seconds: float) -> str:
    """``45 s``, ``12 min``, ``5.2 h``, ``3.1 days``: the unit a person would pick."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def format_age(seconds: float | None) -> str:
    """``45 s ago``, ``12 min ago``, ``5.2 h ago``, ``3.1 days ago`` ('' when unknown)."""
    if seconds is None:
        return ""
    suffix = " ago" if seconds >= 0 else " ahead (clock skew?)"
    return format_duration(abs(seconds)) + suffix


def local_time(moment: str | None, timezone: str | None) -> str:
    """``2026-02-04 12:59:30 CET (2026-02-04T11:59:30.000Z)``: local time first, for people,
    with the UTC time of the logs and ``--json`` beside it. Unchanged without a zone."""
    if not moment or not timezone:
        return moment or ""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    try:
        local = datetime.fromisoformat(moment).astimezone(ZoneInfo(timezone))
    except ValueError:
        return moment
    return f"{local:%Y-%m-%d %H:%M:%S %Z} ({moment})"


def status_sections(
    data: dict[str, Any], timezone: str | None = None
) -> list[tuple[str, list[tuple[str, str]]]]:
    """The ``status --json`` document as titled (label, text) rows for people.

    ``timezone``: times are shown in it, beside UTC.
    """
    from luxlog.disk import format_bytes

    def _t(moment: str | None) -> str:
        return local_time(moment, timezone)

    def _when(moment: str | None, age: float | None, missing: str) -> str:
        return f"{_t(moment)}, {format_age(age)}" if moment else missing

    pump, spool, cache, rollups = data["heatpump"], data["spool"], data["cache"], data["rollups"]
    gap = pump["longest_gap_24h"]
    failure = pump["last_failure"]
    heatpump_rows = [
        ("address", pump["address"] or "not configured (set host)"),
        (
            "last successful poll",
            _when(pump["last_poll"], pump["last_poll_age_sec"], "none yet"),
        ),
        ("failed polls (24 h)", str(pump["failed_polls_24h"])),
        (
            "last failure",
            f"{_t(failure['at'])}: {failure['error']}" if failure else "none recorded",
        ),
        (
            "longest gap (24 h)",
            f"{format_age(gap['seconds']).removesuffix(' ago')} from {_t(gap['start'])} "
            f"to {_t(gap['end'])}"
            if gap
            else "no samples yet",
        ),
        ("firmware", pump["firmware"] or "not seen yet"),
    ]
    pending = f"{spool['pending_samples']}" + ("" if spool["pending_exact"] else " (estimated)")
    spool_rows = [
        ("path", spool["path"]),
        ("pending samples", pending),
        (
            "pending size",
            format_bytes(spool["bytes"])
            + (f" ({spool['segments']} segment(s) not yet flushed)" if spool["segments"] else ""),
        ),
        (
            "oldest pending",
            _when(spool["oldest_pending"], spool["oldest_pending_age_sec"], "nothing pending"),
        ),
        (
            "quarantined lines",
            str(spool["quarantined_lines"])
            + (
                f" (newest: {spool['quarantine_newest_reason']})"
                if spool.get("quarantine_newest_reason")
                else ""
            ),
        ),
    ]
    if not cache["exists"]:
        cache_rows = [("path", cache["path"]), ("state", "no cache yet (run `luxlog flush`)")]
    else:
        per_poll = cache["bytes_per_poll"]
        cache_rows = [
            ("path", cache["path"]),
            ("size", format_bytes(cache["size_bytes"])),
            ("samples", str(cache["samples"])),
            ("oldest", _t(cache["oldest"]) or "empty"),
            ("newest", _t(cache["newest"]) or "empty"),
            ("bytes per poll", "" if per_poll is None else f"{per_poll:.1f}"),
            (
                "schema version",
                "" if cache["schema_version"] is None else str(cache["schema_version"]),
            ),
            ("integrity (quick)", "; ".join([cache["integrity"], *cache["problems"]])),
        ]
    backups = data.get("backups") or {}
    if backups.get("error"):
        cache_rows.append(("backups", backups["error"]))
    elif backups:
        cache_rows.append(
            (
                "backups",
                f"{backups['count']} of {backups['keep']} kept ({format_bytes(backups['bytes'])})"
                + (f", newest {backups['newest']}" if backups["newest"] else ", none yet"),
            )
        )
        cache_rows.append(
            (
                "kept segments",
                f"{backups['flushed_segments_kept']} "
                f"({format_bytes(backups['flushed_segments_bytes'])}) until the next backup",
            )
        )
    written = any(rollups.get(kind, {}).get("last_file") for kind in ("daily", "weekly"))
    rollup_rows: list[tuple[str, str]] = [
        (
            "last run",
            _t(rollups["last_run"])
            or ("no `rollup due` run recorded" if written else "no roll-ups yet"),
        )
    ]
    if rollups["error"]:
        rollup_rows.append(("error", rollups["error"]))
    for kind in ("daily", "weekly", "summary", "report"):
        facts = rollups.get(kind)
        if not facts:
            continue
        rollup_rows.append(
            (
                f"last {kind}",
                f"{facts['last_file']} (written {_t(facts['written_at'])})"
                if facts["last_file"]
                else "none written yet",
            )
        )
        rollup_rows.append((f"next {kind} due", _t(facts["next_due"])))
        if facts["overdue"]:
            rollup_rows.append((f"{kind} overdue", ", ".join(o["file"] for o in facts["overdue"])))
        for failed in facts["failed"]:
            rollup_rows.append((f"{kind} failed", f"{failed['file']}: {failed['error']}"))
    recorded = [c for c in rollups["coverage"] if c["status"] is not None]
    if recorded:
        rollup_rows.append(
            (
                "coverage (daily)",
                ", ".join(
                    f"{c['day']} {c['percent']}%" + (" (partial)" if c.get("partial") else "")
                    if c["percent"] is not None
                    else f"{c['day']} {c['status']}"
                    for c in recorded
                ),
            )
        )
    disk_rows = [
        (
            disk["volume"],
            f"{disk['percent']:.1f}% of {format_bytes(disk['total_bytes'])} used "
            f"(threshold {disk['threshold_percent']}%{', OVER' if disk['over'] else ''}); "
            + ", ".join(h["purpose"] for h in disk["holds"]),
        )
        for disk in data["disks"]
    ] or [("", "no volume could be measured")]
    verdict_rows = [("verdict", "healthy" if data["healthy"] else "UNHEALTHY")]
    verdict_rows += [("reason", reason) for reason in data["reasons"]]
    if data["empty"]:
        verdict_rows.insert(0, ("note", "new installation: nothing polled or cached yet"))
    sections = [
        ("heat pump", heatpump_rows),
        ("spool", spool_rows),
        ("cache", cache_rows),
        ("roll-ups", rollup_rows),
        ("disks", disk_rows),
    ]
    if data.get("push"):
        sections.append(("push", _push_rows(data["push"])))
    return [*sections, ("health", verdict_rows)]


def _push_rows(push: dict[str, Any]) -> list[tuple[str, str]]:
    """`status` rows for pushing to a time-series database (only with push_url)."""
    if "error" in push:
        return [("target", push["target"]), ("state", f"unreadable: {push['error']}")]
    error = push["last_error"]
    return [
        ("target", push["target"]),
        ("pushed up to", push["cursor"] or "nothing yet"),
        ("backlog", f"{push['backlog_samples']} sample(s)"),
        ("last success", push["last_success"] or "never"),
        ("last error", f"{error['at']}: {error['error']}" if error else "none"),
    ]


def status(
    data: dict[str, Any], *, stream: TextIO | None = None, timezone: str | None = None
) -> None:
    """The status overview: Rich tables on a terminal, indented plain lines elsewhere."""
    stream = stream if stream is not None else sys.stdout
    sections = status_sections(data, timezone)
    if not stream.isatty():
        for title, rows in sections:
            stream.write(f"{title}\n")
            width = max((len(label) for label, _ in rows), default=0)
            for label, text in rows:
                stream.write(f"  {label.ljust(width)}  {text}\n")
        return
    from rich.console import Console
    from rich.table import Table

    console = Console(file=stream)
    for title, rows in sections:
        grid = Table(title=title, title_justify="left", show_header=False, box=None)
        grid.add_column(style="bold")
        grid.add_column()
        for label, text in rows:
            style = "red" if label == "reason" or text == "UNHEALTHY" else None
            grid.add_row(label, text, style=style)
        console.print(grid)
