"""The ``rollup`` commands: the derived files, written into every output folder."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal

import typer

if TYPE_CHECKING:
    from luxlog import products as rollups
    from luxlog.config import Settings


from luxlog.cli.common import DateOption, FromOption, ToOption, _progress, _run, _settings, app, log

rollup_app = typer.Typer(
    help="Write the CSV roll-ups (daily, weekly) to every output folder.\n\n"
    "Example: luxlog rollup due",
    no_args_is_help=True,
)
app.add_typer(rollup_app, name="rollup")


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
    from luxlog.backup import backup_if_due
    from luxlog.clock import now_ms as clock_now
    from luxlog.errors import LuxlogError

    try:
        backup_if_due(settings, now_ms=clock_now())
    except LuxlogError as exc:
        return exc
    return None
