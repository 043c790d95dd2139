"""The output folders as the web page lists them: which files, and a safe download path.

Kept apart from the page data (:mod:`luxlog.web.data`): this is about files on disk and
the rule that no request name leads out of an output folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from luxlog.web.data import NotFound

if TYPE_CHECKING:
    from luxlog.config import Settings


@dataclass(frozen=True)
class OutputFile:
    """One downloadable file in an output folder."""

    folder: int  # index into settings.output_dirs
    name: str
    size: int
    modified: float
    kind: str  # daily, weekly, summary, report, other


def _kind(name: str) -> str:
    for suffix, kind in (
        ("_daily.csv", "daily"),
        ("_weekly.csv", "weekly"),
        ("_summary.csv", "summary"),
        ("_report.html", "report"),
    ):
        if name.endswith(suffix):
            return kind
    return "other"


def list_files(settings: Settings) -> list[OutputFile]:
    """Every regular file directly in the output folders (temp files left out), newest
    first. A folder that is not mounted is simply empty here; ``status`` says why."""
    found: list[OutputFile] = []
    for index, folder in enumerate(settings.output_dirs):
        try:
            entries = list(folder.iterdir())
        except OSError:
            continue
        for path in entries:
            if path.name.startswith(".") or not _inside(folder, path):
                continue
            try:
                info = path.stat()
            except OSError:
                continue
            if path.is_file():
                found.append(
                    OutputFile(index, path.name, info.st_size, info.st_mtime, _kind(path.name))
                )
    found.sort(key=lambda f: (-f.modified, f.name))
    return found


def _inside(folder: Path, path: Path) -> bool:
    """``path`` resolves to a file directly in ``folder`` (no symlink out of it)."""
    try:
        return path.resolve(strict=True).parent == folder.resolve(strict=True)
    except OSError:
        return False


def download_path(settings: Settings, folder: int, name: str) -> Path:
    """The file ``name`` in output folder ``folder``, or ``NotFound``.

    The name must be a plain file name (no separators, no dot files), and the file must
    resolve to a regular file directly inside that folder: neither ``..`` nor a symlink
    can lead out of the output folders.
    """
    if not 0 <= folder < len(settings.output_dirs):
        raise NotFound(f"no output folder {folder}")
    base = settings.output_dirs[folder]
    if not name or name.startswith(".") or "/" in name or "\\" in name or "\0" in name:
        raise NotFound(f"no file {name!r}")
    path = base / name
    if not _inside(base, path) or not path.is_file():
        raise NotFound(f"no file {name!r} in {base}")
    return path
