"""The schedule on a plain Linux host: a classic crontab or systemd timers, and installing them.

The jobs are those of the container (:func:`luxlog.schedule.jobs`, one table); only the
way they are written differs. What a host needs that the container does not:

Absolute paths
    cron and systemd start jobs with a minimal ``PATH`` and in ``$HOME`` (cron) or ``/``
    (systemd), so every job names the luxlog executable and the config file by absolute
    path, and carries the settings this command got from ``LUXLOG_*`` variables (cron:
    as a prefix of the command; systemd: ``Environment=``). ``data_dir`` is passed with
    ``--data-dir`` unless the config file sets it, so the jobs find the same data
    whatever their working directory or environment.

Classic cron (5 fields, no seconds)
    A sub-minute grid becomes one line per second offset, each line starting with
    ``sleep N;`` (``* * * * * luxlog poll`` and ``* * * * * sleep 30; luxlog poll`` for
    30 s), so polls stay exactly ``interval_sec`` apart. Debian's cron has no
    ``CRON_TZ``; it runs in the machine's local time, which does not matter for jobs
    every few minutes, and the daily prune is written at 03:17 local time, outside the
    DST switch hours.

systemd timers
    One ``.service`` (``Type=oneshot``) and one ``.timer`` per job, with the times in
    UTC (``OnCalendar=... UTC``, for the reason in :mod:`luxlog.schedule`),
    ``AccuracySec=1s`` (the default of one minute would bunch up 30-s polls) and
    ``Persistent=``: true for flush, roll-up and prune, which catch up on a run missed
    while the machine was off; false for poll, as a missed reading cannot be made up.
"""

from __future__ import annotations

import getpass
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from luxlog.config import ENV_PREFIX, Settings
from luxlog.errors import LuxlogError, StorageError
from luxlog.schedule import Job, Timing, jobs

FORMATS = ("supercronic", "cron", "systemd")
UNIT_PREFIX = "luxlog-"
BEGIN_MARK = "# >>> luxlog schedule (luxlog schedule --format cron --install) >>>"
END_MARK = "# <<< luxlog schedule <<<"
# Persistent=true: a run missed while the machine was off is made up at boot.
_CATCH_UP = {"poll": False, "flush": True, "rollup": True, "prune": True}


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


# --- classic cron ---------------------------------------------------------------------


def cron_fields(timing: Timing, local_time: tuple[int, int] | None) -> list[tuple[str, int]]:
    """(5 cron fields, seconds to sleep first) for each line of one timing."""
    if local_time is not None:
        hour, minute = local_time
        return [(f"{minute} {hour} * * *", second) for second in timing.seconds]
    hour_field = "*" if timing.hour is None else str(timing.hour)
    return [(f"{timing.minute_field()} {hour_field} * * *", s) for s in timing.seconds]


def render_cron(settings: Settings, *, executable: Sequence[str] | None = None) -> str:
    """A block for a user's crontab (``crontab -e``): 5 fields, absolute paths."""
    executable = program() if executable is None else executable
    job_list, environ = host_jobs(settings)
    prefix = "".join(f"{name}={shlex.quote(value)} " for name, value in sorted(environ.items()))
    lines = [
        BEGIN_MARK,
        "# Generated by `luxlog schedule --format cron`; edit the config, then render again.",
        "# Fields: minute hour day-of-month month day-of-week (this machine's local time).",
        "# Lines starting with 'sleep N;' keep polls less than a minute apart exact.",
    ]
    for job in job_list:
        comment = job.comment
        if job.local_time is not None:  # cron's clock is the machine's local time
            comment = comment.split(", at ")[0] + ", at {:02d}:{:02d} local time".format(
                *job.local_time
            )
        lines.append(f"# {comment}")
        command = prefix + shlex.join(_argv(job, executable))
        for fields, second in cron_fields(job.timing, job.local_time):
            lines.append(f"{fields} {f'sleep {second}; ' if second else ''}{command}")
    lines.append(END_MARK)
    return "\n".join(lines) + "\n"


def merge_crontab(existing: str, block: str) -> str:
    """``existing`` with luxlog's block replaced (or appended); other lines untouched."""
    kept: list[str] = []
    inside = False
    for line in existing.splitlines():
        if line.strip() == BEGIN_MARK:
            inside = True
        elif line.strip() == END_MARK and inside:
            inside = False
        elif not inside:
            kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    head = "\n".join(kept) + "\n\n" if kept else ""
    return head + block


def install_cron(block: str, *, crontab: str = "crontab") -> str:
    """Put ``block`` into the user's crontab (replacing an earlier one); return the new one."""
    path = shutil.which(crontab)
    if path is None:
        raise InstallError(
            f"{crontab} not found: install cron (Debian: sudo apt-get install cron), or use "
            "--format systemd"
        )
    current = subprocess.run([path, "-l"], capture_output=True, text=True, check=False)
    # `crontab -l` exits 1 with "no crontab for <user>" when there is none yet.
    existing = current.stdout if current.returncode == 0 else ""
    merged = merge_crontab(existing, block)
    done = subprocess.run([path, "-"], input=merged, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise InstallError(f"crontab - failed: {done.stderr.strip() or done.returncode}")
    return merged


# --- systemd ----------------------------------------------------------------------------


def calendar(timing: Timing) -> str:
    """``OnCalendar=`` value of one timing (UTC)."""
    step = timing.second_step()
    seconds = f"00/{step}" if step else ",".join(f"{s:02d}" for s in timing.seconds)
    if timing.minute_step == 1:
        minutes = "*"
    elif timing.minute_step >= 60:
        minutes = f"{timing.minute:02d}"
    else:
        minutes = f"{timing.minute:02d}/{timing.minute_step}"
    hour = "*" if timing.hour is None else f"{timing.hour:02d}"
    return f"*-*-* {hour}:{minutes}:{seconds} UTC"


def _systemd_quote(word: str) -> str:
    """One ExecStart= word: systemd's own quoting, with ``%`` (its specifiers) doubled."""
    escaped = word.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return f'"{escaped}"' if any(c in word for c in " \t'\"\\") or not word else escaped


@dataclass(frozen=True)
class UnitFile:
    """One systemd unit: its file name and text."""

    name: str
    text: str


def render_systemd(
    settings: Settings, *, executable: Sequence[str] | None = None, user: str | None = None
) -> list[UnitFile]:
    """A ``.service`` and a ``.timer`` per job; ``user``: system units run as that user."""
    executable = program() if executable is None else executable
    job_list, environ = host_jobs(settings)
    grouped: dict[str, list[Job]] = {}
    for job in job_list:
        grouped.setdefault(job.name, []).append(job)
    units: list[UnitFile] = []
    for name, group in grouped.items():
        first = group[0]
        unit = f"{UNIT_PREFIX}{name}"
        comment = first.comment.split(", line ")[0]
        service = [
            "[Unit]",
            f"Description=luxlog {' '.join(first.args)}: {comment}",
            "",
            "[Service]",
            "Type=oneshot",
            f"ExecStart={' '.join(_systemd_quote(w) for w in _argv(first, executable))}",
            f"SyslogIdentifier={unit}",
        ]
        service += [
            f"Environment={_systemd_quote(f'{key}={value}')}"
            for key, value in sorted(environ.items())
        ]
        if user is not None:
            service.append(f"User={user}")
        timer = [
            "[Unit]",
            f"Description=luxlog {' '.join(first.args)}: {comment}",
            "",
            "[Timer]",
            *(f"OnCalendar={calendar(job.timing)}" for job in group),
            "AccuracySec=1s",
            f"Persistent={'true' if _CATCH_UP[name] else 'false'}",
            "",
            "[Install]",
            "WantedBy=timers.target",
        ]
        header = "# Generated by `luxlog schedule --format systemd`; render again after a change.\n"
        units.append(UnitFile(f"{unit}.service", header + "\n".join(service) + "\n"))
        units.append(UnitFile(f"{unit}.timer", header + "\n".join(timer) + "\n"))
    return units


def write_units(units: Sequence[UnitFile], directory: Path) -> list[Path]:
    """Write the unit files into ``directory`` (which must exist), each whole."""
    written: list[Path] = []
    for unit in units:
        target = directory / unit.name
        temporary = directory / f".{unit.name}.tmp"
        try:
            temporary.write_text(unit.text, encoding="utf-8")
            temporary.replace(target)
        except OSError as exc:
            raise StorageError(f"cannot write {target}: {exc.strerror or exc}") from exc
        written.append(target)
    return written


def user_unit_dir(environ: Mapping[str, str]) -> Path:
    """Where systemd looks for a user's own units."""
    config = environ.get("XDG_CONFIG_HOME", "")
    base = Path(config) if config and Path(config).is_absolute() else Path.home() / ".config"
    return base / "systemd" / "user"


SYSTEM_UNIT_DIR = Path("/etc/systemd/system")


def install_systemd(
    units: Sequence[UnitFile],
    *,
    system: bool,
    environ: Mapping[str, str],
    systemctl: str = "systemctl",
) -> list[Path]:
    """Write the units where systemd finds them, reload it and start the timers."""
    directory = SYSTEM_UNIT_DIR if system else user_unit_dir(environ)
    if not system:
        try:
            directory.mkdir(parents=True, exist_ok=True)  # ~/.config/systemd/user: ours to make
        except OSError as exc:
            raise StorageError(f"cannot create {directory}: {exc.strerror or exc}") from exc
    written = write_units(units, directory)
    path = shutil.which(systemctl)
    if path is None:
        raise InstallError(f"units written to {directory}, but {systemctl} was not found")
    scope = [] if system else ["--user"]
    timers = [unit.name for unit in units if unit.name.endswith(".timer")]
    for args in (["daemon-reload"], ["enable", "--now", *timers]):
        done = subprocess.run([path, *scope, *args], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise InstallError(
                f"systemctl {' '.join([*scope, *args])} failed: "
                f"{done.stderr.strip() or f'exit {done.returncode}'}"
            )
    return written


def current_user() -> str:
    """The user the system units run as: whoever renders them (never root by accident)."""
    return getpass.getuser()
