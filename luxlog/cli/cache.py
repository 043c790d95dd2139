"""The ``cache`` commands: check, back up and restore the SQLite cache."""

from __future__ import annotations

from typing import Annotated

import typer

from luxlog.cli.common import _run, _settings, app

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
    from luxlog.backup import backup
    from luxlog.clock import now_ms as clock_now

    result = backup(_settings(ctx), now_ms=clock_now())
    typer.echo(f"{result.path} ({result.samples} samples, {result.size} bytes)")


@cache_app.command("restore")
@_run("cache")
def cache_restore(ctx: typer.Context) -> None:
    """Rebuild the cache: newest good backup + flushed segments + what the old file holds.

    The old file is kept as cache.sqlite3.damaged-<ms>; the spool is flushed afterwards.
    Example: luxlog cache restore
    """
    from luxlog.clock import now_ms as clock_now
    from luxlog.flush import flush as flush_spool
    from luxlog.recovery import restore

    settings = _settings(ctx)
    result = restore(settings, now_ms=clock_now())
    flushed = flush_spool(settings)
    typer.echo(
        f"restored {result.path}: {result.samples} samples "
        f"(+{flushed.samples_added} from the spool); old file kept as {result.set_aside}"
    )
