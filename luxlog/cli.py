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
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import typer

from luxlog.errors import Interrupted
from luxlog.launcher import GlobalOptions, exit_code_for, prepare, started

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


@app.callback()
def _main(
    ctx: typer.Context,
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
        len(result.bad_lines),
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


@app.command()
@_run("config")
def config(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    """Validate the configuration and show every setting with where it came from.

    Exit 3 with one line per problem when it is invalid. Example: luxlog config
    """
    from luxlog import render

    settings = _settings(ctx)
    values = settings.as_dict()
    if as_json:
        typer.echo(render.to_json(values))
        return
    render.table(
        "settings",
        ["setting", "value", "from"],
        [[name, str(value), settings.sources.get(name, "")] for name, value in values.items()],
    )


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
    from luxlog.simulator import FAULT_MODES, Simulator

    if fault is not None and fault not in FAULT_MODES:
        raise typer.BadParameter(f"unknown fault {fault!r}; choose from {', '.join(FAULT_MODES)}")
    simulator = Simulator(capture=capture, host=host, port=port, fault=fault).start()
    log.info(
        "simulated heat pump (%s%s) listening on %s:%d (Ctrl-C stops it)",
        capture,
        f", fault {fault}" if fault else "",
        host,
        simulator.port,
    )
    try:
        simulator.serve_forever()
    except Interrupted:
        log.info("simulator stopped")


@app.command()
@_run("demo")
def demo(
    ctx: typer.Context,
    directory: Annotated[
        Path | None, typer.Option("--dir", help="Where to write (default: a new ./luxlog-demo-*).")
    ] = None,
    polls: Annotated[int, typer.Option("--polls", min=1, max=1000, help="How many polls.")] = 5,
) -> None:
    """Try luxlog without a heat pump: simulator, polls, flush and more, in a fresh folder.

    Example: luxlog demo
    """
    from luxlog.demo import run_demo

    report = run_demo(directory=directory, polls=polls)
    for line in report:
        typer.echo(line)
