"""The Typer app and what every command shares: running, settings, common options.

``_run`` wraps each command: logging, signals, and exceptions turned into exit codes via
:func:`luxlog.process.exit_code_for`, the one mapping, shared with the Typer-free fast
path of ``poll``.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import typer

from luxlog.errors import NoData
from luxlog.process import GlobalOptions, broken_pipe, exit_code_for, prepare

if TYPE_CHECKING:
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


def _options(ctx: typer.Context) -> GlobalOptions:
    """The global options of this run (defaults when a test invokes a command alone)."""
    found = ctx.obj
    return found if isinstance(found, GlobalOptions) else GlobalOptions()


def _settings(ctx: typer.Context, **overrides: Any) -> Settings:
    """Resolve the settings for this run (defaults < file < environment < flags)."""
    from luxlog import config

    state = _options(ctx)
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
    # ``launcher.main`` passes the process's start instant in as ctx.obj; keep it.
    given = ctx.obj.started if isinstance(ctx.obj, GlobalOptions) else None
    ctx.obj = GlobalOptions(
        config=config, data_dir=data_dir, verbose=verbose, quiet=quiet, started=given
    )


HostOption = Annotated[
    str | None, typer.Option("--host", help="Heat pump host (overrides config).")
]
PortOption = Annotated[int | None, typer.Option("--port", help="Heat pump port (default 8889).")]


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
