"""Log records as single plain lines on stderr: what cron mails and ``docker logs`` show.

Format: ``2026-11-26T18:30:00Z WARNING poll: message`` - UTC time, so logs from a
container and its host line up whatever their time zones; no colour or boxes, because
they end up in files and mails, not terminals.
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


def setup(command: str, *, verbose: bool = False, quiet: bool = False) -> None:
    """Route luxlog's loggers to stderr for one command run (idempotent)."""
    level = logging.DEBUG if verbose else logging.ERROR if quiet else logging.INFO
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
