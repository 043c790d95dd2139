"""Writing one derived file into every output folder: atomic, and never all-or-nothing.

Same policy as the roll-up CSVs: a folder inside ``data_dir`` is created when missing, any
other (a NAS mount point) must exist already.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from luxlog.config import Settings

log = logging.getLogger("luxlog.stats")


def ready_dirs(settings: Settings) -> tuple[list[Path], dict[Path, str]]:
    """Output folders that can take a file now, and why the others cannot.

    Same policy as the roll-up CSVs: a folder inside ``data_dir`` is created when
    missing, any other (a NAS mount point) must exist already.
    """
    ready: list[Path] = []
    failed: dict[Path, str] = {}
    data_dir = settings.data_dir.absolute()
    for directory in settings.output_dirs:
        try:
            if not directory.is_dir():
                if directory.exists() or not directory.absolute().is_relative_to(data_dir):
                    raise FileNotFoundError(
                        2, "does not exist or is not a directory (not mounted?)"
                    )
                directory.mkdir(parents=True, exist_ok=True)
            ready.append(directory)
        except OSError as exc:
            failed[directory] = exc.strerror or str(exc)
    return ready, failed


@dataclass
class WriteResult:
    """Files written and folders that failed (folder -> reason)."""

    written: list[Path] = field(default_factory=list)
    failed: dict[Path, str] = field(default_factory=dict)


def write_file(settings: Settings, name: str, content: bytes) -> WriteResult:
    """Write ``content`` as ``name`` into every output folder, atomically; never raises
    for one bad folder (the others still get the file)."""
    from luxlog.csvout import write_all

    result = WriteResult()
    directories, result.failed = ready_dirs(settings)
    targets = [directory / name for directory in directories]
    failures = write_all(targets, [content])
    for target in targets:
        if target in failures:
            error = failures[target]
            result.failed[target.parent] = error.strerror or str(error)
        else:
            result.written.append(target)
    for directory, reason in result.failed.items():
        log.warning("%s: cannot write to %s: %s", name, directory, reason)
    return result
