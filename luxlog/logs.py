"""Log records as single plain lines on stderr: what cron mails and ``docker logs`` show.

Format: ``2026-11-26T18:30:00Z WARNING poll: message`` - UTC time, so logs from a
container and its host line up whatever their time zones; no colour or boxes, because
they end up in files and mails, not terminals.

Levels: on a terminal the default shows INFO (what a command did); anywhere else - cron,
supercronic, systemd, a pipe - only warnings and errors, because cron mails whatever a
job prints and a flush every 5 minutes must not mean a mail every 5 minutes. ``-v``
shows INFO and DEBUG everywhere, ``-q`` only errors.
"""

from __future__ import annotations

import logging
import sys
import time


class _LineFormatter(logging.Formatter):
    converter = staticmethod(time.gmtime)

    def __init__(self, command: str) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s " + command + ": %(message)s", datefmt="%Y-%m-%dT%H:%M:%SZ"
        )

    def formatException(self, ei: object) -> str:
        # Indent the traceback so a log reader can tell it belongs to the line above.
        text = super().formatException(ei)  # type: ignore[arg-type]
        return "\n".join("    " + line for line in text.splitlines())


def default_level(interactive: bool) -> int:
    """INFO for a person at a terminal, WARNING for cron and other unattended runs."""
    return logging.INFO if interactive else logging.WARNING


def setup(
    command: str, *, verbose: bool = False, quiet: bool = False, interactive: bool | None = None
) -> None:
    """Route luxlog's loggers to stderr for one command run (idempotent).

    ``interactive`` defaults to whether stderr is a terminal.
    """
    if interactive is None:
        isatty = getattr(sys.stderr, "isatty", None)
        interactive = bool(isatty and isatty())
    level = logging.DEBUG if verbose else logging.ERROR if quiet else default_level(interactive)
    root = logging.getLogger("luxlog")
    for handler in list(root.handlers):
        if getattr(handler, "_luxlog", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._luxlog = True  # type: ignore[attr-defined]
    handler.setFormatter(_LineFormatter(command))
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
