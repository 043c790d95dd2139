"""Durability on disk: the fsync of a directory (or a file by name) after a rename.

A rename or a new file is only safe from a power cut once its directory is synced too.
The spool, backups, restores and the output writer all need this; the poll path imports
it, so it uses ``os`` alone.
"""

from __future__ import annotations

import os
from contextlib import suppress
from pathlib import Path


def fsync_path(path: Path) -> None:
    """Sync ``path`` (a directory or a file) to disk; ``OSError`` if that fails."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir_if_possible(directory: Path) -> None:
    """:func:`fsync_path` for output folders, where some NAS file systems refuse it."""
    with suppress(OSError):
        fsync_path(directory)
