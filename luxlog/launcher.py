"""Process entry point, and the one place where errors become exit codes.

``luxlog poll`` runs every 30 s on small machines, and building the Typer app costs more
CPU than the poll itself (~40 ms to import Typer and Click, ~20 ms to build the
commands). So a plain ``luxlog [global options] poll [--host H] [--port N]`` - exactly
what cron runs - is recognised here and run without importing Typer at all. Anything
else (``--help``, ``--print``, other commands, typos) goes to the Typer app in
``luxlog.cli``, which parses and validates as usual. Both paths share ``prepare`` and
``exit_code_for``, so they log and exit identically.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from luxlog.errors import ConfigError, Interrupted, LuxlogError
from luxlog.exitcodes import ExitCode
from luxlog.logs import get_logger

# When this process's command began (set by ``main``). The poll budget counts start-up
# time too; in-process callers (tests, the demo) that never run ``main`` start "now".
_started: float | None = None


def started() -> float:
    """``time.monotonic()`` at which the current command began."""
    return _started if _started is not None else time.monotonic()


log = get_logger("luxlog")  # imports logging only to emit (poll path)


@dataclass
class GlobalOptions:
    """Options given before the command name."""

    config: Path | None = None
    data_dir: Path | None = None
    verbose: bool = False
    quiet: bool = False


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(f"stopped by {signal.Signals(signum).name}")


def prepare(command: str, options: GlobalOptions, *, lazy: bool = False) -> None:
    """Logging for this command, and signals turned into an exception.

    SIGTERM/SIGINT raise ``Interrupted`` between two Python steps, so a spool line or a
    CSV is finished or abandoned whole, never cut in half. ``lazy`` (the cron poll)
    configures logging only when something is logged at the command's level.
    """
    from luxlog import logs

    if lazy:
        logs.defer(command, verbose=options.verbose, quiet=options.quiet)
    else:
        logs.setup(command, verbose=options.verbose, quiet=options.quiet)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)


def exit_code_for(exc: Exception) -> int:
    """Log ``exc`` as the user should see it and return the process exit code.

    Domain errors print one line per problem; anything else is a bug, logged with its
    traceback (never local variables) and exit 1, so the next cron run starts clean.
    """
    if isinstance(exc, ConfigError):
        for problem in exc.problems:
            log.error("invalid config: %s", problem)
        return int(exc.exit_code)
    if isinstance(exc, LuxlogError):
        log.error("%s", exc)
        return int(exc.exit_code)
    log.error("unexpected error (a bug - please report it with this log)", exc_info=exc)
    return int(ExitCode.UNEXPECTED)


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
        poll(config.load(options.config, overrides=values), started=started())
    except Exception as exc:
        return exit_code_for(exc)
    finally:
        from luxlog import logs

        logs.forget_deferred()
    return int(ExitCode.OK)


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point (also ``python -m luxlog``)."""
    global _started
    _started = time.monotonic()
    args = list(sys.argv[1:] if argv is None else argv)
    plain = parse_plain_poll(args)
    if plain is not None:
        sys.exit(run_plain_poll(*plain))
    from luxlog.cli import app

    try:
        try:
            app(args=args, prog_name="luxlog")
        finally:
            # Output that fit in the buffer is written only now: a reader that has
            # gone (`| head -1`) shows here rather than in the command.
            sys.stdout.flush()
    except BrokenPipeError:
        sys.exit(broken_pipe())


def broken_pipe() -> int:
    """The reader of stdout went away (``luxlog sensors | head -1``): end quietly.

    Not an error - the reader had what it wanted - so exit 0 without a word. stdout is
    pointed at /dev/null first, or Python's final flush would complain at exit.
    """
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (an in-process test runner)
        pass
    return int(ExitCode.OK)
