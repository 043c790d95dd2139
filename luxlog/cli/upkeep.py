"""Upkeep: ``prune`` trims the ends, ``status`` reads everything and changes nothing."""

from __future__ import annotations

from typing import Annotated

import typer

from luxlog.cli.common import _run, _settings, app


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
    from luxlog.clock import now_ms as clock_now
    from luxlog.disk import watch
    from luxlog.errors import StorageError
    from luxlog.retention import prune as prune_all

    settings = _settings(ctx)
    watch(settings, "prune")
    result = prune_all(settings, now_ms=clock_now(), dry_run=dry_run)
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
    from luxlog import render
    from luxlog.clock import now_ms as clock_now
    from luxlog.errors import Unhealthy
    from luxlog.health import build_report

    settings = _settings(ctx)
    report = build_report(settings, now_ms=clock_now())
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
