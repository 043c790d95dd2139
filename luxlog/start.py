"""The very first code of every luxlog process: signals are handled before anything else.

Importing the launcher (logging, dataclasses, pathlib) takes ~10 ms and Typer ~60 ms; a
SIGTERM or SIGINT in that window used to end the process with -15 (or -2 and a
``KeyboardInterrupt`` traceback) instead of the documented 130. So this module imports
nothing but ``os``, ``signal``, ``sys`` and ``time`` and installs a handler first: until a command
installs its own (``process.prepare``), nothing has been written, so leaving at once is
safe. What remains is the interpreter's own start-up before any luxlog code runs.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from types import FrameType

INTERRUPTED = 130  # ExitCode.INTERRUPTED, not imported: this module must load in no time


def _early(signum: int, frame: FrameType | None) -> None:
    # Not ``raise SystemExit``: a signal that arrives while importlib runs a weakref
    # callback would have its exception "ignored", and the command would go on as if no
    # signal had come. Nothing is written before a command installs its own handler, so
    # there is nothing to finish or flush.
    os._exit(INTERRUPTED)


def main() -> None:
    """Console-script entry point (also ``python -m luxlog``)."""
    # SIGINT first: Python's own SIGINT handler is in place from its start, so once
    # SIGTERM is caught too (what a supervisor can see in /proc), both are ours.
    signal.signal(signal.SIGINT, _early)
    signal.signal(signal.SIGTERM, _early)
    started = time.monotonic()  # the poll budget counts the start-up that follows
    from luxlog.errors import Interrupted

    try:
        from luxlog.launcher import main as run

        run(started=started)
    except (Interrupted, KeyboardInterrupt):
        # Raised by the command's own handler in the instants between installing it
        # and entering the command's try (or after leaving it): nothing is half-written
        # there either, since files are only written inside commands.
        sys.exit(INTERRUPTED)
