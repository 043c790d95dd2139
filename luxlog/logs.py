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

import sys
import time

# typing itself is not imported at run time: it costs ~3 ms of every cron poll.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# logging's level numbers, so that a deferred set-up can filter without importing it.
DEBUG, INFO, WARNING, ERROR = 10, 20, 30, 40

# ``poll`` defers its logging set-up (``defer``): a successful poll logs nothing at the
# default level, so importing ``logging`` (~8 ms, with traceback, string, weakref ...)
# would be pure cost every 30 s. Until a record passes this level, nothing is imported.
_deferred: tuple[str, bool, bool, bool | None, int] | None = None


def default_level(interactive: bool) -> int:
    """INFO for a person at a terminal, WARNING for cron and other unattended runs."""
    return INFO if interactive else WARNING


def _level(verbose: bool, quiet: bool, interactive: bool | None) -> tuple[int, bool]:
    if interactive is None:
        isatty = getattr(sys.stderr, "isatty", None)
        interactive = bool(isatty and isatty())
    return (DEBUG if verbose else ERROR if quiet else default_level(interactive)), interactive


def setup(
    command: str, *, verbose: bool = False, quiet: bool = False, interactive: bool | None = None
) -> None:
    """Route luxlog's loggers to stderr for one command run (idempotent).

    ``interactive`` defaults to whether stderr is a terminal.
    """
    import logging

    global _deferred
    _deferred = None
    level, interactive = _level(verbose, quiet, interactive)

    class LineFormatter(logging.Formatter):
        converter = staticmethod(time.gmtime)

        def formatException(self, ei: Any) -> str:
            # Indent the traceback so a log reader can tell it belongs to the line above.
            text = super().formatException(ei)
            return "\n".join("    " + line for line in text.splitlines())

    root = logging.getLogger("luxlog")
    for handler in list(root.handlers):
        if getattr(handler, "_luxlog", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._luxlog = True  # type: ignore[attr-defined]
    handler.setFormatter(
        LineFormatter(
            "%(asctime)s %(levelname)s " + command + ": %(message)s",
            datefmt="%Y-%m-%dT%H:%M:%SZ",
        )
    )
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False


def defer(
    command: str, *, verbose: bool = False, quiet: bool = False, interactive: bool | None = None
) -> None:
    """:func:`setup`, done only when a record at or above the level is first logged."""
    global _deferred
    level, interactive = _level(verbose, quiet, interactive)
    _deferred = (command, verbose, quiet, interactive, level)


def forget_deferred() -> None:
    """Drop a deferred set-up that never ran (the end of an in-process command)."""
    global _deferred
    _deferred = None


class Logger:
    """A ``logging.Logger`` stand-in for the poll path: imports logging only to emit.

    With no deferred set-up pending it simply delegates, so tests (``caplog``) and the
    other commands see ordinary ``logging`` behaviour.
    """

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def _log(self, level: int, message: str, args: tuple[Any, ...], extra: dict[str, Any]) -> None:
        pending = _deferred
        if pending is not None:
            if level < pending[4]:
                return
            command, verbose, quiet, interactive, _ = pending
            setup(command, verbose=verbose, quiet=quiet, interactive=interactive)
        import logging

        logging.getLogger(self.name).log(level, message, *args, **extra)

    def debug(self, message: str, *args: Any, **extra: Any) -> None:
        self._log(DEBUG, message, args, extra)

    def info(self, message: str, *args: Any, **extra: Any) -> None:
        self._log(INFO, message, args, extra)

    def warning(self, message: str, *args: Any, **extra: Any) -> None:
        self._log(WARNING, message, args, extra)

    def error(self, message: str, *args: Any, **extra: Any) -> None:
        self._log(ERROR, message, args, extra)


def get_logger(name: str) -> Logger:
    """The logger ``name`` for modules on the poll path (see :class:`Logger`)."""
    return Logger(name)
