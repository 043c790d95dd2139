"""Exit codes: the contract with cron, Docker HEALTHCHECK and alerting.

They are documented in the README; changing a number breaks users' alert rules, so only
ever add new ones.
"""

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit statuses of every luxlog command."""

    OK = 0
    UNEXPECTED = 1  # a bug: logged with its traceback; the next cron run starts clean
    USAGE = 2  # wrong command line (Typer/Click use 2 as well)
    CONFIG = 3  # invalid configuration; nothing was written
    HEATPUMP = 4  # heat pump unreachable or misbehaving
    BUSY = 5  # a lock was held past the time budget
    UNHEALTHY = 6  # `status --check` found a problem
    STORAGE = 7  # disk full, unwritable file, corrupt database
    PUSH = 8  # `push`: the time-series database was unreachable or refused a batch
    INTERRUPTED = 130  # SIGINT/SIGTERM: the current sample was finished or abandoned whole
