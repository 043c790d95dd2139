"""Process entry point: the Typer-free fast path of the cron `poll`, then the Typer app.

``luxlog poll`` runs every 30 s on small machines, and building the Typer app costs more
CPU than the poll itself (~40 ms to import Typer and Click, ~20 ms to build the
commands). So a plain ``luxlog [global options] poll [--host H] [--port N]`` - exactly
what cron runs - is recognised here and run without importing Typer at all. Anything
else (``--help``, ``--print``, other commands, typos) goes to the Typer app in
``luxlog.cli``, which parses and validates as usual. Both paths share ``prepare`` and
``exit_code_for`` (:mod:`luxlog.process`), so they log and exit identically; neither
imports the other for them, so the two do not form an import cycle.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

from luxlog.exitcodes import ExitCode
from luxlog.process import GlobalOptions, broken_pipe, exit_code_for, prepare

__all__ = [
    "GlobalOptions",
    "broken_pipe",
    "exit_code_for",
    "main",
    "parse_plain_poll",
    "prepare",
    "run_plain_poll",
]


_GLOBAL_VALUE = {"-c": "config", "--config": "config", "--data-dir": "data_dir"}
_GLOBAL_FLAG = {"-v": "verbose", "--verbose": "verbose", "-q": "quiet", "--quiet": "quiet"}
_POLL_VALUE = {"--host": "host", "--port": "port"}


def _split_value(arg: str, rest: list[str], names: dict[str, str]) -> tuple[str, str] | None:
    """``--name value`` or ``--name=value`` for a known option, else ``None``."""
    name, eq, value = arg.partition("=")
    if name not in names:
        return None
    if not eq:
        if not rest:
            return None
        value = rest.pop(0)
    return names[name], value


def parse_plain_poll(argv: Sequence[str]) -> tuple[GlobalOptions, dict[str, str]] | None:
    """Recognise the cron form of ``poll``; ``None`` for anything else (Typer handles it)."""
    rest = list(argv)
    options = GlobalOptions()
    while rest and rest[0] != "poll":
        arg = rest.pop(0)
        if arg in _GLOBAL_FLAG:
            setattr(options, _GLOBAL_FLAG[arg], True)
            continue
        found = _split_value(arg, rest, _GLOBAL_VALUE)
        if found is None:
            return None
        setattr(options, found[0], Path(found[1]))
    if not rest:
        return None
    rest.pop(0)
    overrides: dict[str, str] = {}
    while rest:
        found = _split_value(rest.pop(0), rest, _POLL_VALUE)
        if found is None:
            return None
        overrides[found[0]] = found[1]
    return options, overrides


def run_plain_poll(options: GlobalOptions, overrides: dict[str, str]) -> int:
    """``luxlog poll`` without Typer; same settings, logging and exit codes."""
    prepare("poll", options, lazy=True)
    try:
        from luxlog import config
        from luxlog.poll import poll

        values: dict[str, object] = dict(overrides)
        if options.data_dir is not None:
            values["data_dir"] = options.data_dir
        poll(config.load(options.config, overrides=values), started=options.started)
    except Exception as exc:
        return exit_code_for(exc)
    finally:
        from luxlog import logs

        logs.forget_deferred()
    return int(ExitCode.OK)


def main(argv: Sequence[str] | None = None, *, started: float | None = None) -> None:
    """Console-script entry point (also ``python -m luxlog``).

    ``started`` is the ``time.monotonic()`` at which the process began (``luxlog.start``
    takes it first thing); the poll budget counts start-up time too, so it is passed
    along to the command instead of kept in a module global.
    """
    if started is None:
        started = time.monotonic()
    args = list(sys.argv[1:] if argv is None else argv)
    plain = parse_plain_poll(args)
    if plain is not None:
        options, overrides = plain
        options.started = started
        sys.exit(run_plain_poll(options, overrides))
    from luxlog.cli import app

    try:
        try:
            # The callback keeps the start instant in the options it builds (ctx.obj).
            app(args=args, prog_name="luxlog", obj=GlobalOptions(started=started))
        finally:
            # Output that fit in the buffer is written only now: a reader that has
            # gone (`| head -1`) shows here rather than in the command.
            sys.stdout.flush()
    except BrokenPipeError:
        sys.exit(broken_pipe())
