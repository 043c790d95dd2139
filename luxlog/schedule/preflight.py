"""The container's start check: every job would be able to write where it must."""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path

from luxlog.config import Settings
from luxlog.errors import StorageError
from luxlog.locks import lock_dir

log = logging.getLogger("luxlog")


def preflight(settings: Settings) -> list[Path]:
    """Fail now, at container start, on what would make every job fail later.

    Needs a host (exit 3 otherwise) and checks that every data folder is writable, or
    can be created by the first job that needs it (exit 7 otherwise). It creates nothing:
    it is a check, run at every container start, and luxlog creates folders only inside
    ``data_dir``. An output folder outside ``data_dir`` that does not exist (an unmounted
    NAS share) gets a warning, not a refusal: polls must go on, and the roll-ups report
    the folder until it is back. The usual cause of exit 7 in Docker is a bind-mounted
    folder that the host created for root while the container runs as an unprivileged
    user, so the message names the user. Returns the folders checked.
    """
    settings.require_host()
    folders = [
        settings.data_dir,
        lock_dir(settings.data_dir),
        settings.spool_dir,
        settings.cache_path.parent,
        *settings.output_dirs,
    ]
    checked = list(dict.fromkeys(folders))
    for folder in checked:
        outside = not folder.is_relative_to(settings.data_dir)
        if folder in settings.output_dirs and outside and not folder.exists():
            log.warning(
                "output dir %s does not exist: mount or create it (luxlog creates folders "
                "only inside data_dir %s); roll-ups go to the other folders meanwhile",
                folder,
                settings.data_dir,
            )
            continue
        problem = _unwritable(folder)
        if problem is not None:
            raise StorageError(
                f"cannot write {folder}: {problem}; luxlog runs as {_whoami()}: give "
                "that user write access to the folder (e.g. chown -R on the host folder "
                "mounted there, or run the container with --user set to its owner)"
            )
    return checked


def _unwritable(folder: Path) -> str | None:
    """Why a job could not write in ``folder`` (creating it if need be), or ``None``.

    Looks only: the folder itself if it exists, else the nearest ancestor that exists,
    in which the job would create the missing part.
    """
    probe = folder
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        return os.strerror(errno.ENOTDIR)
    if not os.access(probe, os.W_OK | os.X_OK):
        return os.strerror(errno.EACCES) + ("" if probe == folder else f" (in {probe})")
    return None


def _whoami() -> str:
    getuid = getattr(os, "getuid", None)
    getgid = getattr(os, "getgid", None)
    if getuid is None or getgid is None:  # pragma: no cover - not POSIX
        return "the current user"
    return f"uid {getuid()}, gid {getgid()}"
