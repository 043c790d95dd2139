"""One writer for every derived file luxlog puts into the output folders.

Roll-up CSVs, the month summary, the day report (and ``export -o``, ``metrics``) go
through here, so every one of them gets the same guarantees:

* **whole or not at all**: a hidden temp file next to the target (``.<name>.tmp``), fsync,
  rename over the target, fsync of the folder (best effort: some NAS file systems refuse);
* **one folder's failure is that folder's**: the other folders still get the file, and the
  caller learns which folder failed and why;
* **the output-folder rule** (:func:`prepare_dir`): a folder inside ``data_dir`` is created
  when missing; any other must exist already, so an unmounted NAS share fails loudly (and
  is retried) instead of quietly filling a stray folder under its mount point; a folder
  whose volume has less than ``disk.MIN_FREE_BYTES`` free fails before a byte is written.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from luxlog.durable import fsync_dir_if_possible

if TYPE_CHECKING:
    from luxlog.config import Settings

log = logging.getLogger("luxlog.stats")


# -- the output-folder rule ------------------------------------------------------------


def prepare_dir(directory: Path, data_dir: Path) -> None:
    """Make sure ``directory`` can take files now; raise ``OSError`` saying why not.

    A folder on a full volume fails here, before a large file is half written to it; the
    other folders go on (``disk.watch`` would stop them all, so it is not used here).
    """
    from luxlog import disk

    if not directory.is_dir():
        if directory.exists():
            raise NotADirectoryError(errno.ENOTDIR, "exists but is not a directory")
        if not directory.absolute().is_relative_to(data_dir.absolute()):
            raise FileNotFoundError(
                errno.ENOENT,
                "does not exist (not mounted? luxlog creates only folders inside data_dir)",
            )
        directory.mkdir(parents=True, exist_ok=True)
    usage = disk.disk_usage(directory)
    if usage is not None and usage.free_bytes < disk.MIN_FREE_BYTES:
        raise OSError(
            errno.ENOSPC,
            f"disk full ({disk.format_bytes(usage.free_bytes)} free on {usage.volume})",
        )


def reason(exc: OSError) -> str:
    """The one-line reason of an ``OSError`` for a log line or a record."""
    return exc.strerror or str(exc)


def ready_dirs(directories: Sequence[Path], data_dir: Path) -> tuple[list[Path], dict[Path, str]]:
    """The folders that can take a file now (:func:`prepare_dir`), and why the others cannot."""
    ready: list[Path] = []
    failed: dict[Path, str] = {}
    for directory in directories:
        try:
            prepare_dir(directory, data_dir)
            ready.append(directory)
        except OSError as exc:
            failed[directory] = reason(exc)
    return ready, failed


# -- atomic files ----------------------------------------------------------------------


def temp_path(target: Path) -> Path:
    """The hidden temp file a write of ``target`` goes through (same directory)."""
    return target.with_name(f".{target.name}.tmp")


class AtomicFile:
    """A file that appears at ``target`` whole on :meth:`commit`, or not at all.

    The temp name is fixed (``.<name>.tmp``): writers of one name are serialised by the
    roll-up lock, and a temp file left by a killed process is simply truncated and reused.
    """

    def __init__(self, target: Path) -> None:
        self.target = target
        self.temp = temp_path(target)
        self._fd: int | None = os.open(
            self.temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644
        )

    def write(self, data: bytes) -> None:
        """Append ``data`` (loops over short writes)."""
        assert self._fd is not None
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def commit(self) -> None:
        """fsync, then rename over the target: readers see the old file or the new one."""
        assert self._fd is not None
        fd, self._fd = self._fd, None
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        self.temp.replace(self.target)
        fsync_dir_if_possible(self.target.parent)

    def abort(self) -> None:
        """Close and delete the temp file; the target is untouched. Never raises."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        with contextlib.suppress(OSError):
            self.temp.unlink()


def write_all(targets: Sequence[Path], chunks: Iterable[bytes]) -> dict[Path, OSError]:
    """Write the same content atomically to every target; return the ones that failed.

    One failing target (unmounted, read-only, full) is dropped and the others carry on;
    if all of them fail, the rest of ``chunks`` is not even produced. An exception from
    ``chunks`` itself (or an interrupt) aborts every temp file and propagates.
    """
    failed: dict[Path, OSError] = {}
    files: list[AtomicFile] = []
    for target in targets:
        try:
            files.append(AtomicFile(target))
        except OSError as exc:
            failed[target] = exc
    try:
        for chunk in chunks if files else ():
            for handle in list(files):
                try:
                    handle.write(chunk)
                except OSError as exc:
                    failed[handle.target] = exc
                    handle.abort()
                    files.remove(handle)
            if not files:
                break
        for handle in files:
            try:
                handle.commit()
            except OSError as exc:
                failed[handle.target] = exc
                handle.abort()
    except BaseException:
        for handle in files:
            handle.abort()
        raise
    return failed


# -- one file into every output folder -------------------------------------------------


@dataclass
class WriteResult:
    """Files written and folders that failed (folder -> reason)."""

    written: list[Path] = field(default_factory=list)
    failed: dict[Path, str] = field(default_factory=dict)


def write_file(
    settings: Settings,
    name: str,
    content: bytes,
    *,
    directories: Sequence[Path] | None = None,
) -> WriteResult:
    """Write ``content`` as ``name`` into every output folder (or ``directories``), atomically;
    never raises for one bad folder (the others still get the file)."""
    result = WriteResult()
    wanted = list(settings.output_dirs) if directories is None else list(directories)
    ready, result.failed = ready_dirs(wanted, settings.data_dir)
    targets = [directory / name for directory in ready]
    failures = write_all(targets, [content])
    for target in targets:
        if target in failures:
            result.failed[target.parent] = reason(failures[target])
        else:
            result.written.append(target)
    for directory, why in result.failed.items():
        log.warning("%s: cannot write to %s: %s", name, directory, why)
    return result
