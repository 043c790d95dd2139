"""What every command shares, Typer or not: global options, logging, signals, exit codes.

Both entry paths import this: the Typer app (:mod:`luxlog.cli`) and the Typer-free fast
path of ``poll`` (:mod:`luxlog.launcher`), so they log and exit identically and neither
imports the other's machinery. Light on purpose: it is on the poll path, so nothing here
imports Typer, Rich, SQLite or YAML, and logging only when something is logged.
"""

from __future__ import annotations

import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from luxlog.errors import ConfigError, Interrupted, LuxlogError
from luxlog.exitcodes import ExitCode
from luxlog.logs import get_logger

log = get_logger("luxlog")  # imports logging only to emit (poll path)


@dataclass
class GlobalOptions:
    """Options given before the command name, and when the process began.

    ``started`` is the ``time.monotonic()`` of the process start, passed along so that
    the poll budget counts start-up time too; None (in-process callers: tests, the demo)
    means "now, when the command begins".
    """

    config: Path | None = None
    data_dir: Path | None = None
    verbose: bool = False
    quiet: bool = False
    started: float | None = None


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
