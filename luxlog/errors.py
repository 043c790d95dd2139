"""Domain exceptions. Deep code raises them; only ``process.exit_code_for`` maps them to exits.

Each carries a message that is shown to the user as one line, so it must say what failed,
where, and ideally what to do.
"""

from __future__ import annotations

from luxlog.exitcodes import ExitCode


class LuxlogError(Exception):
    """Base class: an expected failure with a one-line message and an exit code."""

    exit_code: ExitCode = ExitCode.UNEXPECTED


class ConfigError(LuxlogError):
    """The configuration is invalid; ``problems`` holds one line per bad field."""

    exit_code = ExitCode.CONFIG

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


class HeatPumpError(LuxlogError):
    """The heat pump could not be read (unreachable, timed out, or sent garbage)."""

    exit_code = ExitCode.HEATPUMP


class ProtocolError(HeatPumpError):
    """The controller answered, but not in the shape the protocol requires.

    Kept apart from plain I/O failures because misaligned data must never be logged: a
    short or malformed reply is rejected as a whole.
    """


class Busy(LuxlogError):
    """A lock could not be taken within the time budget (another luxlog is working)."""

    exit_code = ExitCode.BUSY


class StorageError(LuxlogError):
    """A file or database could not be written or read (disk full, permissions, corrupt)."""

    exit_code = ExitCode.STORAGE


class CacheDamaged(StorageError):
    """The cache file fails SQLite's or luxlog's own checks.

    Its own class because the remedy differs from a full disk: nothing more may be
    committed into the file (a flush would delete spool samples whose only copy then
    sits in a damaged file), and ``luxlog cache restore`` rebuilds it.
    """


class Unhealthy(LuxlogError):
    """``status --check`` found at least one problem."""

    exit_code = ExitCode.UNHEALTHY


class Interrupted(LuxlogError):
    """SIGTERM or SIGINT arrived; raised between two Python steps, never mid-write."""

    exit_code = ExitCode.INTERRUPTED


class NoData(LuxlogError):
    """Nothing to show yet (no cache before the first flush, no samples that day).

    Not a failure: the command says so in one plain line and exits 0, and writes nothing
    (no empty table, no empty report).
    """

    exit_code = ExitCode.OK
