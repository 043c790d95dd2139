"""Figures from the cache: ``stats``, ``report``, ``export``, ``push`` and ``metrics``."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from luxlog.config import Settings


from luxlog.cli.common import _progress, _run, _settings, app, log

StatsFrom = Annotated[
    datetime | None,
    typer.Option("--from", formats=["%Y-%m-%d"], help="First day (default: see --by)."),
]
StatsTo = Annotated[
    datetime | None,
    typer.Option("--to", formats=["%Y-%m-%d"], help="Last day (default: today, so far)."),
]


@app.command()
@_run("stats")
def stats(
    ctx: typer.Context,
    first: StatsFrom = None,
    last: StatsTo = None,
    by: Annotated[
        str, typer.Option("--by", help="day, week, month or season (Sep-May by default).")
    ] = "day",
    as_json: Annotated[bool, typer.Option("--json", help="JSON output, every column.")] = False,
    wide: Annotated[
        bool, typer.Option("--wide", help="Every column on a terminal (default: what fits 80).")
    ] = False,
    write: Annotated[
        bool,
        typer.Option("--write", help="Also rewrite the YYYY-MM_summary.csv of these months."),
    ] = False,
) -> None:
    """Per-day figures from the controller's counters: starts, run hours, heat, COP, ...

    Defaults: the last 14 days, 8 weeks, 12 months or 2 seasons. Counter rules and every
    column: README, "Statistics and reports". Example: luxlog stats --by week
    """
    from luxlog import render
    from luxlog import stats as statistics

    if by not in statistics.PERIOD_KINDS:
        raise typer.BadParameter(f"--by must be one of {', '.join(statistics.PERIOD_KINDS)}")
    settings = _settings(ctx)
    with _progress("reading samples") as progress:
        rows = statistics.compute(
            settings,
            kind=by,
            first=first.date() if first else None,
            last=last.date() if last else None,
            progress=progress,
        )
    if write:
        _write_summaries(settings, rows)
    if as_json:
        typer.echo(render.to_json([row.to_json() for row in rows]))
        return
    headers, cells = statistics.table_view(rows, wide=wide or not sys.stdout.isatty())
    render.table(f"heat pump per {by} ({settings.timezone})", headers, cells, compact=True)


def _write_summaries(settings: Settings, rows: list[Any]) -> None:
    """``stats --write``: the month files of the days shown; exit 7 if a folder failed."""
    from luxlog import stats as statistics
    from luxlog.errors import StorageError

    if not rows:
        return
    results = statistics.write_month_summaries(
        settings,
        statistics.Calendar.from_settings(settings).local_date(rows[0].start_ms),
        statistics.Calendar.from_settings(settings).local_date(rows[-1].end_ms - 1),
    )
    failed = {str(d): reason for result in results for d, reason in result.failed.items()}
    if failed:
        folder, reason = next(iter(failed.items()))
        raise StorageError(f"summary not written to {folder}: {reason}")


@app.command()
@_run("report")
def report(
    ctx: typer.Context,
    day: Annotated[
        datetime | None,
        typer.Option("--date", formats=["%Y-%m-%d"], help="The day (default: yesterday)."),
    ] = None,
) -> None:
    """Write YYYY-MM-DD_report.html (charts and figures of a day) to every output dir.

    One self-contained file: no scripts, nothing from the network; opens from a NAS
    share in any browser. Example: luxlog report --date 2026-03-29
    """
    from datetime import timedelta

    from luxlog import stats as statistics
    from luxlog.clock import now_ms as clock_now
    from luxlog.errors import StorageError
    from luxlog.report import write_report

    settings = _settings(ctx)
    now_ms = clock_now()
    today = statistics.Calendar.from_settings(settings).local_date(now_ms)
    wanted = day.date() if day else today - timedelta(days=1)
    if wanted > today:
        raise typer.BadParameter(f"--date {wanted} has not started yet (today is {today})")
    result = write_report(settings, wanted, now_ms=now_ms)
    for path in result.written:
        log.info("wrote %s", path)
    if result.failed:
        folder, reason = next(iter(result.failed.items()))
        raise StorageError(f"report not written to {folder}: {reason}")


ExportFrom = Annotated[
    datetime | None,
    typer.Option("--from", formats=["%Y-%m-%d"], help="First day, local time (default: oldest)."),
]
ExportTo = Annotated[
    datetime | None,
    typer.Option("--to", formats=["%Y-%m-%d"], help="Last day, included (default: newest)."),
]


@app.command()
@_run("export")
def export(
    ctx: typer.Context,
    first: ExportFrom = None,
    last: ExportTo = None,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="jsonl, csv or influx (line protocol).")
    ] = "jsonl",
    sensors: Annotated[
        list[str] | None,
        typer.Option("--sensors", help="Names or globs (repeatable); default sensors_include."),
    ] = None,
    output: Annotated[
        str, typer.Option("--output", "-o", help="File to write (atomically), or - for stdout.")
    ] = "-",
    raw: Annotated[
        bool, typer.Option("--raw", help="jsonl: also the raw integer vectors.")
    ] = False,
) -> None:
    """Export cached samples as JSON Lines, CSV or InfluxDB line protocol (streamed).

    Days are whole days in timezone. Formats: README, "Exports".
    Example: luxlog export --from 2026-03-01 --to 2026-03-31 --format influx -o march.lp
    """
    from luxlog.export import ExportError, run_export

    if fmt not in ("jsonl", "csv", "influx"):
        raise typer.BadParameter("--format must be jsonl, csv or influx")
    settings = _settings(ctx)
    try:
        run_export(
            settings,
            fmt,  # type: ignore[arg-type]
            first=first.date() if first else None,
            last=last.date() if last else None,
            patterns=tuple(sensors or ()),
            output=output,
            raw=raw,
        )
    except ExportError as exc:
        raise typer.BadParameter(str(exc)) from None


@app.command()
@_run("push")
def push(ctx: typer.Context) -> None:
    """Send every sample newer than the last one pushed to push_url (InfluxDB/VictoriaMetrics).

    Batches, retries within push_budget_sec; the cursor moves only after the target
    confirmed a batch. Exit 8 when it failed (the next run catches up).
    Example: LUXLOG_PUSH_URL=http://nas:8428/write luxlog push
    """
    from luxlog.push import push as push_samples

    settings = _settings(ctx)
    result = push_samples(settings)
    (log.info if result.samples else log.debug)(
        "pushed %d sample(s) in %d batch(es) to %s in %.1f s",
        result.samples,
        result.batches,
        result.target,
        result.seconds,
    )


@app.command()
@_run("metrics")
def metrics(
    ctx: typer.Context,
    textfile: Annotated[
        Path, typer.Option("--textfile", help="node-exporter textfile folder (writes luxlog.prom).")
    ],
) -> None:
    """Write latest values and luxlog's health as a Prometheus textfile (atomically).

    Example: luxlog metrics --textfile /var/lib/node_exporter/textfile_collector
    """
    from luxlog.clock import now_ms as clock_now
    from luxlog.metrics import write_textfile

    settings = _settings(ctx)
    write_textfile(settings, textfile, now_ms=clock_now())
