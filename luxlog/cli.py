"""The ``luxlog`` command line: a thin skin over the library.

Each command parses its options, calls one library function and renders the result.
Exceptions become exit codes in ``_run`` (via ``launcher.exit_code_for``, which the
Typer-free fast path of ``poll`` shares). Modules are imported inside the commands so
that each command pays only for what it uses.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, ParamSpec, TypeVar

import typer

from luxlog.errors import Interrupted, NoData
from luxlog.launcher import GlobalOptions, broken_pipe, exit_code_for, prepare, started

if TYPE_CHECKING:
    from luxlog import products as rollups
    from luxlog.config import Settings

log = logging.getLogger("luxlog")

app = typer.Typer(
    name="luxlog",
    help="Log a Luxtronik 2 heat pump (Novelan / Alpha Innotec) for years without losing a sample.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


P = ParamSpec("P")
R = TypeVar("R")


def _run(command: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Wrap a command: logging, signals, and errors turned into exit codes.

    The mapping itself lives in ``launcher.exit_code_for``, shared with the Typer-free
    fast path of ``poll``.
    """

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(function)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            # Typer passes every parameter by keyword; each command declares ``ctx``.
            ctx = kwargs.get("ctx")
            options: GlobalOptions = getattr(ctx, "obj", None) or GlobalOptions()
            prepare(command, options)
            try:
                return function(*args, **kwargs)
            except (typer.Exit, typer.Abort, typer.BadParameter):
                raise
            except BrokenPipeError:
                raise typer.Exit(broken_pipe()) from None
            except NoData as exc:  # not an error: one plain line, nothing written
                typer.echo(str(exc), err=True)
                raise typer.Exit(int(exc.exit_code)) from None
            except Exception as exc:
                raise typer.Exit(exit_code_for(exc)) from None

        return wrapper

    return decorate


def _settings(ctx: typer.Context, **overrides: Any) -> Settings:
    """Resolve the settings for this run (defaults < file < environment < flags)."""
    from luxlog import config

    state: GlobalOptions = ctx.obj or GlobalOptions()
    if state.data_dir is not None:
        overrides.setdefault("data_dir", state.data_dir)
    return config.load(state.config, overrides=overrides)


def _show_version(value: bool) -> None:
    """Print the installed distribution's version: what a container or a bug report runs."""
    if value:
        from importlib.metadata import version

        typer.echo(f"luxlog {version('luxlog')}")
        raise typer.Exit()


@app.callback()
def _main(
    ctx: typer.Context,
    _version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_show_version, help="Print the version and exit."
        ),
    ] = False,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="YAML config file (default: $LUXLOG_CONFIG, ./luxlog.yaml)."
        ),
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Where spool, cache, locks and CSVs live.")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug details.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Log errors only.")] = False,
) -> None:
    """Log a Luxtronik 2 heat pump for years without losing a sample."""
    ctx.obj = GlobalOptions(config=config, data_dir=data_dir, verbose=verbose, quiet=quiet)


HostOption = Annotated[
    str | None, typer.Option("--host", help="Heat pump host (overrides config).")
]
PortOption = Annotated[int | None, typer.Option("--port", help="Heat pump port (default 8889).")]


@app.command()
@_run("poll")
def poll(
    ctx: typer.Context,
    host: HostOption = None,
    port: PortOption = None,
    show: Annotated[bool, typer.Option("--print", help="Also show the values read.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="With --print: JSON output.")] = False,
) -> None:
    """Read the heat pump once and append the sample to the spool.

    Quiet on success (cron); one log line per failed attempt. Example: luxlog poll --print
    """
    from luxlog.poll import poll as poll_once

    settings = _settings(ctx, host=host, port=port)
    sample = poll_once(settings, started=started())
    if show or as_json:
        _show_sample(sample.calculations, sample.parameters, as_json=as_json)


def _show_sample(
    calculations: tuple[int, ...], parameters: tuple[int, ...], *, as_json: bool
) -> None:
    from luxlog import render
    from luxlog.heatpump import catalogue

    if as_json:
        data = {
            "firmware": catalogue.firmware(calculations),
            "values": catalogue.values(calculations, parameters),
        }
        typer.echo(render.to_json(data))
        return
    rows = []
    for item in catalogue.sensors(len(calculations), len(parameters)):
        if not item.numeric:
            continue
        raw = calculations[item.index] if item.kind == "calc" else parameters[item.index]
        label = item.label(raw) or ""
        value = render.format_value(item.convert(raw))
        rows.append([item.kind, str(item.index), item.name, value, item.unit or label])
    render.table("heat pump values", ["kind", "index", "name", "value", "unit"], rows)


@app.command()
@_run("sensors")
def sensors(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    """List every sensor luxlog logs: index, name, type/unit and latest value if any.

    Example: luxlog sensors --json
    """
    from luxlog import render
    from luxlog.heatpump import catalogue
    from luxlog.inventory import latest_sample

    settings = _settings(ctx)
    latest = latest_sample(settings)
    calcs = latest.calculations if latest else ()
    params = latest.parameters if latest else ()
    n_calc, n_param = (len(calcs), len(params)) if latest else catalogue.known_lengths()
    entries = []
    for item in catalogue.sensors(n_calc, n_param):
        raw_vector = calcs if item.kind == "calc" else params
        value = item.convert(raw_vector[item.index]) if latest and item.numeric else None
        entries.append((item, value))
    if as_json:
        typer.echo(
            render.to_json(
                [
                    {
                        "kind": i.kind,
                        "index": i.index,
                        "name": i.name,
                        "type": i.type,
                        "unit": i.unit,
                        "numeric": i.numeric,
                        "latest": v,
                    }
                    for i, v in entries
                ]
            )
        )
        return
    render.table(
        "sensors" + ("" if latest else " (no sample yet: luxtronik's known tables)"),
        ["kind", "index", "name", "type", "unit", "latest"],
        [
            [i.kind, str(i.index), i.name, i.type, i.unit, render.format_value(v)]
            for i, v in entries
        ],
    )


@app.command()
@_run("flush")
def flush(ctx: typer.Context) -> None:
    """Move spooled samples into the SQLite cache (idempotent, crash-safe).

    Example: luxlog flush
    """
    from luxlog.flush import flush as flush_spool

    settings = _settings(ctx)
    with _progress("flushing spool") as progress:
        result = flush_spool(settings, progress=progress)
    log.info(
        "flushed %d sample(s) from %d segment(s): %d new, %d already cached, %d bad line(s)",
        result.samples_read,
        result.segments,
        result.samples_added,
        result.duplicates,
        result.bad_count,
    )


rollup_app = typer.Typer(
    help="Write the CSV roll-ups (daily, weekly) to every output folder.\n\n"
    "Example: luxlog rollup due",
    no_args_is_help=True,
)
app.add_typer(rollup_app, name="rollup")

DateOption = Annotated[
    datetime | None, typer.Option("--date", formats=["%Y-%m-%d"], help="Window end date.")
]
FromOption = Annotated[
    datetime | None,
    typer.Option("--from", formats=["%Y-%m-%d"], help="Backfill from this end date on."),
]
ToOption = Annotated[
    datetime | None,
    typer.Option("--to", formats=["%Y-%m-%d"], help="Backfill up to this date (default: latest)."),
]


def _rollup_dates(
    ctx: typer.Context,
    kind: Literal["daily", "weekly"],
    day: datetime | None,
    first: datetime | None,
    last: datetime | None,
) -> None:
    """Shared body of ``rollup daily`` and ``rollup weekly``."""
    from luxlog import products as rollups

    if day is not None and (first is not None or last is not None):
        raise typer.BadParameter("give either --date or --from/--to, not both")
    if last is not None and first is None:
        raise typer.BadParameter("--to needs --from")
    settings = _settings(ctx)
    try:
        days = rollups.resolve_days(
            settings,
            kind,
            day=day.date() if day else None,
            first=first.date() if first else None,
            last=last.date() if last else None,
        )
    except rollups.DateError as exc:
        raise typer.BadParameter(str(exc)) from None
    with _progress(f"writing {kind} roll-ups") as progress:
        report = rollups.write_days(settings, kind, days, progress=progress)
    _finish_rollups(report)


def _finish_rollups(report: rollups.RollupReport) -> None:
    """One summary line (debug only when nothing was due: cron runs this every few
    minutes); exit 7 when a roll-up still failed after its retry."""
    (log.info if report.outcomes else log.debug)(
        "roll-ups: %d written, %d empty, %d failed (%d sample(s) flushed first)",
        report.count("written"),
        report.count("empty"),
        report.count("failed"),
        report.flushed,
    )
    error = report.error()
    if error is not None:
        raise error


@rollup_app.command("daily")
@_run("rollup")
def rollup_daily(
    ctx: typer.Context,
    day: DateOption = None,
    first: FromOption = None,
    last: ToOption = None,
) -> None:
    """Write YYYY-MM-DD_daily.csv: the 24 h before csv_time on that date.

    Default: the latest boundary that has passed. --from/--to backfills many days (an
    existing file is replaced). Example: luxlog rollup daily --date 2026-03-29
    """
    _rollup_dates(ctx, "daily", day, first, last)


@rollup_app.command("weekly")
@_run("rollup")
def rollup_weekly(
    ctx: typer.Context,
    day: DateOption = None,
    first: FromOption = None,
    last: ToOption = None,
) -> None:
    """Write YYYY-MM-DD_weekly.csv: the 7 days before csv_time on that date.

    Default: the latest weekly_day boundary that has passed; --from/--to writes the
    weekly_day dates in the range. Example: luxlog rollup weekly --date 2026-03-30
    """
    _rollup_dates(ctx, "weekly", day, first, last)


@rollup_app.command("due")
@_run("rollup")
def rollup_due(ctx: typer.Context) -> None:
    """Write every roll-up that is due and not written yet (what cron runs).

    Catches up after downtime, retries failed ones, records empty windows.
    Example: luxlog rollup due
    """
    from luxlog import products as rollups

    settings = _settings(ctx)
    with _progress("writing roll-ups") as progress:
        report = rollups.due(settings, progress=progress)
    backup_error = _daily_backup(settings)
    _finish_rollups(report)
    if backup_error is not None:
        raise backup_error


def _daily_backup(settings: Settings) -> Exception | None:
    """The daily cache backup rides on ``rollup due`` (no cron line of its own); its
    failure is reported after the roll-ups' own outcome, never instead of it."""
    import time

    from luxlog.backup import backup_if_due
    from luxlog.errors import LuxlogError

    try:
        backup_if_due(settings, now_ms=time.time_ns() // 1_000_000)
    except LuxlogError as exc:
        return exc
    return None


cache_app = typer.Typer(
    help="Check, back up and restore the SQLite cache.\n\nExample: luxlog cache check",
    no_args_is_help=True,
)
app.add_typer(cache_app, name="cache")


@cache_app.command("check")
@_run("cache")
def cache_check(
    ctx: typer.Context,
    quick: Annotated[
        bool, typer.Option("--quick", help="SQLite's quick_check only (what flush runs).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    """Check the cache in full (pages, b-trees, every chunk's checksums); changes nothing.

    Exit 0 when healthy, 7 when damaged (then run `luxlog cache restore`).
    Example: luxlog cache check
    """
    from luxlog import render
    from luxlog.cache import RESTORE_HINT
    from luxlog.errors import CacheDamaged
    from luxlog.recovery import check

    report = check(_settings(ctx), quick=quick)
    if as_json:
        typer.echo(render.to_json(report.to_json()))
    else:
        for key, value in report.to_json().items():
            if key != "problems":
                typer.echo(f"{key}: {value}")
        for problem in report.problems[:10]:
            typer.echo(f"problem: {problem}")
    if not report.healthy:
        raise CacheDamaged(f"cache {report.path} is damaged ({report.problems[0]}); {RESTORE_HINT}")


@cache_app.command("backup")
@_run("cache")
def cache_backup(ctx: typer.Context) -> None:
    """Take a verified backup of the cache now (`rollup due` takes one daily).

    Example: luxlog cache backup
    """
    import time

    from luxlog.backup import backup

    result = backup(_settings(ctx), now_ms=time.time_ns() // 1_000_000)
    typer.echo(f"{result.path} ({result.samples} samples, {result.size} bytes)")


@cache_app.command("restore")
@_run("cache")
def cache_restore(ctx: typer.Context) -> None:
    """Rebuild the cache: newest good backup + flushed segments + what the old file holds.

    The old file is kept as cache.sqlite3.damaged-<ms>; the spool is flushed afterwards.
    Example: luxlog cache restore
    """
    import time

    from luxlog.flush import flush as flush_spool
    from luxlog.recovery import restore

    settings = _settings(ctx)
    result = restore(settings, now_ms=time.time_ns() // 1_000_000)
    flushed = flush_spool(settings)
    typer.echo(
        f"restored {result.path}: {result.samples} samples "
        f"(+{flushed.samples_added} from the spool); old file kept as {result.set_aside}"
    )


class _NoProgress:
    def __enter__(self) -> Callable[[int, int], None] | None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _progress(description: str) -> Any:
    """A Rich progress bar on a terminal; nothing under cron or Docker."""
    if not sys.stderr.isatty():
        return _NoProgress()
    from luxlog.progress import RichProgress

    return RichProgress(description)


@app.command("import")
@_run("import")
def import_history(
    ctx: typer.Context,
    from_reference: Annotated[
        Path,
        typer.Option(
            "--from-reference",
            help="The reference logger's SQLite cache (its CACHE_PATH, e.g. cache.db).",
        ),
    ],
) -> None:
    """Add the reference logger's history to the cache, as raw integers.

    Idempotent and resumable: a second run adds nothing, a killed run continues where
    it stopped. Values with no exact raw integer (text, unknown types) are stored as
    missing and named. Example: luxlog import --from-reference /app/logs/cache.db
    """
    from luxlog.reference import import_reference

    settings = _settings(ctx)
    with _progress("importing reference history") as progress:
        result = import_reference(settings, from_reference, progress=progress)
    for line in result.summary():  # the command's answer: shown even when logging is quiet
        typer.echo(line)


@app.command()
@_run("prune")
def prune(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only list what would be deleted.")
    ] = False,
) -> None:
    """Delete expired roll-up CSVs, cache samples and failed-poll notes.

    Only luxlog's own YYYY-MM-DD_daily.csv / _weekly.csv / _report.html files dated
    more than csv_retention_days ago go; anything else in an output dir stays. Exit 7 if
    a folder could not be pruned (the others still are). Example: luxlog prune --dry-run
    """
    import time

    from luxlog.disk import watch
    from luxlog.errors import StorageError
    from luxlog.retention import prune as prune_all

    settings = _settings(ctx)
    watch(settings, "prune")
    result = prune_all(settings, now_ms=time.time_ns() // 1_000_000, dry_run=dry_run)
    if dry_run:
        for entry in result.dirs:
            for item in entry.deleted:
                typer.echo(str(item.path))
        for path in result.backups_removed:
            typer.echo(str(path))
    if result.problems:
        raise StorageError(
            f"prune left {len(result.problems)} problem(s), first: {result.problems[0]}"
        )


@app.command()
@_run("status")
def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output (README shape).")] = False,
    check: Annotated[
        bool, typer.Option("--check", help="Exit 6 with one line per problem when unhealthy.")
    ] = False,
) -> None:
    """Show heat pump, spool, cache, roll-ups and disks; reads only, takes no lock.

    With --check (the Docker HEALTHCHECK) exit 0 when healthy, else 6 with one line per
    reason. Example: luxlog status --check
    """
    import time

    from luxlog import render
    from luxlog.errors import Unhealthy
    from luxlog.health import build_report

    settings = _settings(ctx)
    report = build_report(settings, now_ms=time.time_ns() // 1_000_000)
    data = report.to_json()
    if settings.push_url and not check:
        from luxlog.push import push_json

        data["push"] = push_json(settings)
    if as_json:
        typer.echo(render.to_json(data))
    elif check:
        for reason in report.reasons:
            typer.echo(f"unhealthy: {reason}")
        if report.healthy:
            typer.echo("healthy")
    else:
        render.status(data, timezone=settings.timezone)
    if check and not report.healthy:
        raise Unhealthy(f"{len(report.reasons)} health problem(s)")


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
    import time
    from datetime import timedelta

    from luxlog import stats as statistics
    from luxlog.errors import StorageError
    from luxlog.report import write_report

    settings = _settings(ctx)
    now_ms = time.time_ns() // 1_000_000
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
    import time

    from luxlog.metrics import write_textfile

    settings = _settings(ctx)
    write_textfile(settings, textfile, now_ms=time.time_ns() // 1_000_000)


@app.command()
@_run("config")
def config(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    """Validate the configuration and show every setting with where it came from.

    Exit 3 with one line per problem when it is invalid. Example: luxlog config
    """
    import os

    from luxlog import bareenv, render

    # The container's start-up log line on the reference logger's names (HOST, ...): a
    # warning, so that it shows in `docker logs` where luxlog is otherwise quiet.
    names = bareenv.resolve(os.environ)
    note = bareenv.describe(names)
    if note is not None:
        log.warning("%s", note)
    settings = _settings(ctx)
    values = settings.as_dict()
    if as_json:
        typer.echo(render.to_json(values))
        return
    file = str(settings.config_file) if settings.config_file else "none (defaults, env, flags)"
    render.table(
        "settings",
        ["setting", "value", "from"],
        [["config file", file, ""]]
        + [[name, str(value), settings.sources.get(name, "")] for name, value in values.items()],
    )


CheckOption = Annotated[
    bool,
    typer.Option(
        "--check",
        help="Also make sure the jobs can run, creating nothing: exit 3 without a host, 7 if "
        "a data folder cannot be written (the container's start-up check).",
    ),
]


def _check_or_remind(settings: Settings, check: bool) -> None:
    from luxlog import schedule

    if check:
        schedule.preflight(settings)
    elif not settings.host:
        log.warning("host: not set - every poll would exit 3 (set LUXLOG_HOST)")


@app.command()
@_run("crontab")
def crontab(ctx: typer.Context, check: CheckOption = False) -> None:
    """Print the supercronic crontab for this configuration (what the container runs).

    Same as `schedule --format supercronic`. Polls every interval_sec, which must divide
    3600 (exit 3 otherwise); times are UTC. Example: luxlog crontab > crontab
    """
    _print_supercronic(ctx, _settings(ctx), check)


def _print_supercronic(ctx: typer.Context, settings: Settings, check: bool) -> None:
    from luxlog import schedule

    state: GlobalOptions = ctx.obj or GlobalOptions()
    global_args: list[str] = []  # the jobs must see the same settings as this command
    if settings.config_file is not None:
        global_args += ["--config", str(settings.config_file)]
    if state.data_dir is not None:
        global_args += ["--data-dir", str(settings.data_dir)]
    text = schedule.render(settings, global_args=global_args)
    _check_or_remind(settings, check)
    typer.echo(text, nl=False)


@app.command("schedule")
@_run("schedule")
def schedule_command(
    ctx: typer.Context,
    fmt: Annotated[
        str,
        typer.Option(
            "--format", help="systemd (timers), cron (a classic 5-field crontab) or supercronic."
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", help="systemd: write the unit files into this folder."),
    ] = None,
    install: Annotated[
        bool,
        typer.Option(
            "--install",
            help="Put the schedule in place: systemd user units (enabled and started), or "
            "this user's crontab (luxlog's block replaced, other lines kept).",
        ),
    ] = False,
    system: Annotated[
        bool,
        typer.Option("--system", help="systemd: system units in /etc/systemd/system (root)."),
    ] = False,
    check: CheckOption = False,
) -> None:
    """Print (or install) the jobs for systemd, cron or supercronic: one schedule, three forms.

    Every form runs the container's jobs with absolute paths to luxlog and the config
    file. Example: luxlog -c ~/luxlog/luxlog.yaml schedule --format systemd --install
    """
    import os

    from luxlog import hostschedule

    if fmt not in hostschedule.FORMATS:
        raise typer.BadParameter(f"--format must be one of {', '.join(hostschedule.FORMATS)}")
    if output is not None and fmt != "systemd":
        raise typer.BadParameter("--output is for --format systemd (cron prints to stdout)")
    if system and fmt != "systemd":
        raise typer.BadParameter("--system is for --format systemd")
    if install and (fmt == "supercronic" or output is not None):
        raise typer.BadParameter("--install works with --format systemd or cron, without --output")
    settings = _settings(ctx)
    if fmt == "supercronic":
        _print_supercronic(ctx, settings, check)
        return
    _check_or_remind(settings, check)
    if fmt == "cron":
        block = hostschedule.render_cron(settings)
        if install:
            hostschedule.install_cron(block)
            typer.echo("installed into your crontab (see it with: crontab -l)", err=True)
        else:
            typer.echo(block, nl=False)
        return
    user = (os.environ.get("SUDO_USER") or hostschedule.current_user()) if system else None
    units = hostschedule.render_systemd(settings, user=user)
    if install:
        written = hostschedule.install_systemd(units, system=system, environ=os.environ)
        typer.echo(f"installed and started the timers in {written[0].parent}", err=True)
        if not system:
            typer.echo(
                "so that they run while you are logged out: sudo loginctl enable-linger "
                + hostschedule.current_user(),
                err=True,
            )
    elif output is not None:
        for path in hostschedule.write_units(units, output):
            typer.echo(str(path))
    else:
        for unit in units:
            typer.echo(f"# ==> {unit.name} <==\n{unit.text}")


@app.command()
@_run("serve")
def serve(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (beyond loopback: password).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port.")] = 8088,
    hash_password: Annotated[
        bool,
        typer.Option("--hash-password", help="Read a password from stdin, print its hash, exit."),
    ] = False,
) -> None:
    """Browse the cache, the output files and the status, read-only (needs luxlog[web]).

    A non-loopback --host needs web_password_hash (LUXLOG_WEB_PASSWORD_HASH), made with
    --hash-password; browsers then log in as web_user (default: luxlog).
    Example: luxlog serve --port 8088
    """
    from luxlog import web
    from luxlog.web.security import hash_password as make_hash

    if hash_password:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise typer.BadParameter("empty password on stdin", param_hint="--hash-password")
        typer.echo(make_hash(password))
        return
    settings = _settings(ctx)
    web.require_extra()
    from luxlog.web.app import serve as run_server

    credentials = web.credentials(settings)
    log.info("serving %s on http://%s:%d/ (Ctrl-C stops it)", settings.data_dir, host, port)
    try:
        run_server(settings, host=host, port=port, credentials=credentials)
    except Interrupted:  # uvicorn has shut down cleanly, then re-raised the signal
        log.info("serve stopped")


@app.command()
@_run("simulate")
def simulate(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8889,
    fault: Annotated[
        str | None,
        typer.Option(
            "--fault",
            help="Misbehave: hang, refuse, close-mid-array, fragmented, slow, garbage, "
            "short-length.",
        ),
    ] = None,
    capture: Annotated[
        str, typer.Option("--capture", help="Which real capture to replay.")
    ] = "coolchip-2017-V1.80-L1A",
) -> None:
    """Run a fake heat pump that replays real captures with live dynamics.

    Example: luxlog simulate --port 8889 --fault fragmented
    """
    from luxlog.simulator import CAPTURES, FAULT_MODES, Simulator

    if fault is not None and fault not in FAULT_MODES:
        raise typer.BadParameter(f"unknown fault {fault!r}; choose from {', '.join(FAULT_MODES)}")
    if capture not in CAPTURES:
        raise typer.BadParameter(f"unknown capture {capture!r}; choose from {', '.join(CAPTURES)}")
    try:
        simulator = Simulator(capture=capture, host=host, port=port, fault=fault).start()
    except OSError as exc:
        raise typer.BadParameter(
            f"cannot listen on {host}:{port}: {exc.strerror or exc} (pick another --port, "
            "or --port 0 for a free one)"
        ) from None
    # Plain lines on stderr, not log records: this is what a person at a terminal needs
    # (the port to point luxlog at), whatever the log level.
    typer.echo(
        f"simulated heat pump ({capture}{f', fault {fault}' if fault else ''}) listening on "
        f"{host}:{simulator.port} (Ctrl-C stops it)",
        err=True,
    )
    try:
        simulator.serve_forever()
    except Interrupted:
        typer.echo("simulator stopped", err=True)


@app.command()
@_run("demo")
def demo(
    ctx: typer.Context,
    directory: Annotated[
        Path | None, typer.Option("--dir", help="Where to write (default: a new ./luxlog-demo-*).")
    ] = None,
    hours: Annotated[
        int, typer.Option("--hours", min=1, max=24 * 14, help="Simulated history to log.")
    ] = 72,
) -> None:
    """Try luxlog without a heat pump: three simulated days (--hours) through the pipeline.

    Starts the simulator, polls it once per simulated 5 minutes, then flushes, writes the
    roll-ups, statistics and a report, and checks health, in a fresh folder.
    Example: luxlog demo
    """
    from luxlog.demo import run_demo

    report = run_demo(directory=directory, hours=hours)
    for line in report:
        typer.echo(line)
