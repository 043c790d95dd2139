"""What a plain Linux host needs that the container does not: absolute paths.

The jobs are those of the container (:func:`luxlog.schedule.jobs`, one table); only the
way they are written differs (:mod:`.cron`, :mod:`.systemd`).

Absolute paths
    cron and systemd start jobs with a minimal ``PATH`` and in ``$HOME`` (cron) or ``/``
    (systemd), so every job names the luxlog executable and the config file by absolute
    path, and carries the settings this command got from ``LUXLOG_*`` variables (cron:
    as a prefix of the command; systemd: ``Environment=``). ``data_dir`` is passed with
    ``--data-dir`` unless the config file sets it, so the jobs find the same data
    whatever their working directory or environment.
"""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from luxlog.config import ENV_PREFIX, Settings
from luxlog.errors import LuxlogError, StorageError
from luxlog.schedule.jobs import Job, jobs

FORMATS = ("supercronic", "cron", "systemd")
# Persistent=true: a run missed while the machine was off is made up at boot.


class InstallError(LuxlogError):
    """``crontab`` or ``systemctl`` failed; the message says which and why."""

    exit_code = StorageError.exit_code


def program() -> tuple[str, ...]:
    """The luxlog executable as an absolute path: the console script beside this Python.

    A pipx or ``uv tool`` install and a venv all put it there; failing that, this very
    Python runs ``-m luxlog`` (same fast path).
    """
    python = Path(sys.executable).absolute()
    script = python.parent / "luxlog"
    if script.is_file() and os.access(script, os.X_OK):
        return (str(script),)
    return (str(python), "-m", "luxlog")


def host_arguments(settings: Settings) -> tuple[tuple[str, ...], dict[str, str]]:
    """Global options and ``LUXLOG_*`` variables that give every job these settings."""
    options: list[str] = []
    if settings.config_file is not None:
        options += ["--config", str(settings.config_file)]
    environ: dict[str, str] = {}
    for name, value in settings.as_dict().items():
        source = settings.sources.get(name, "")
        if source.startswith(ENV_PREFIX) and name != "data_dir":
            environ[source] = ",".join(value) if isinstance(value, list) else str(value)
    # The config file's own data_dir (set there, or its default beside the file) is
    # found again through --config; any other is pinned, so the jobs' environment and
    # working directory cannot move it.
    if settings.config_file is None or settings.sources.get("data_dir") not in (
        str(settings.config_file),
        "default",
    ):
        options += ["--data-dir", str(settings.data_dir)]
    return tuple(options), environ


def host_jobs(settings: Settings) -> tuple[list[Job], dict[str, str]]:
    """The job table with the absolute executable and options; plus the environment."""
    options, environ = host_arguments(settings)
    return jobs(settings, global_args=options), environ


def _argv(job: Job, executable: Sequence[str]) -> list[str]:
    return [*executable, *job.global_args, *job.args]


def current_user() -> str:
    """The user the system units run as: whoever renders them (never root by accident)."""
    return getpass.getuser()
