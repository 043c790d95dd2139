"""The reference logger's bare variable names (``HOST``, ``PORT``, ...) as settings.

People switching from the reference logger run the container with the ``.env`` they
already have. Its names carry no prefix, and outside a container they are ambiguous: a
login shell's ``HOST`` is the machine's own name, many tools set ``PORT``. So they count
only where luxlog's image says it is the container (``LUXLOG_CONTAINER=1``, set by the
Dockerfile), and only for a setting whose ``LUXLOG_*`` variable is not set. Elsewhere
they are reported as seen and ignored, so nobody wonders why ``HOST`` had no effect.

``CACHE_PATH`` names the reference logger's own SQLite file, whose table luxlog cannot
share: luxlog keeps its cache next to it (``luxlog-cache.sqlite3`` in the same folder)
and reads that file only through ``luxlog import --from-reference``.

Pure functions of the environment: ``config.load`` calls :func:`resolve`, ``luxlog
config`` logs :func:`describe`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath

CONTAINER_MARKER = "LUXLOG_CONTAINER"
LUXLOG_CACHE_NAME = "luxlog-cache.sqlite3"

# Bare name -> luxlog setting, in the order the reference logger documents them.
BARE_NAMES: dict[str, str] = {
    "HOST": "host",
    "PORT": "port",
    "INTERVAL_SEC": "interval_sec",
    "CSV_TIME": "csv_time",
    "CACHE_PATH": "cache_path",
    "OUTPUT_DIRS": "output_dirs",
    "OUTPUT_DIRS_DAILY": "output_dirs",
    "OUTPUT_DIRS_WEEKLY": "output_dirs",
}


@dataclass(frozen=True)
class BareNames:
    """What the bare names in one environment amount to."""

    in_container: bool
    # setting -> (value as luxlog parses it, source shown by `luxlog config`)
    values: dict[str, tuple[str, str]] = field(default_factory=dict)
    used: tuple[str, ...] = ()  # bare names that became settings
    shadowed: tuple[str, ...] = ()  # in the container, but the LUXLOG_* one is set
    ignored: tuple[str, ...] = ()  # outside the container


def in_container(environ: Mapping[str, str]) -> bool:
    """True in luxlog's image (the Dockerfile sets the marker)."""
    return environ.get(CONTAINER_MARKER, "").strip().lower() in ("1", "true", "yes")


def resolve(environ: Mapping[str, str]) -> BareNames:
    """The settings the bare names stand for in ``environ`` (nothing outside a container)."""
    seen = [name for name in BARE_NAMES if name in environ]
    if not in_container(environ):
        return BareNames(in_container=False, ignored=tuple(seen))
    values: dict[str, tuple[str, str]] = {}
    used: list[str] = []
    shadowed: list[str] = []
    folders: list[str] = []
    folder_sources: list[str] = []
    for name in seen:
        setting = BARE_NAMES[name]
        if "LUXLOG_" + setting.upper() in environ:
            shadowed.append(name)
            continue
        used.append(name)
        value = environ[name]
        if setting == "output_dirs":
            # The reference logger wrote daily and weekly CSVs to separate folders;
            # luxlog writes both kinds to every output folder.
            for part in value.split(","):
                if part.strip() and part.strip() not in folders:
                    folders.append(part.strip())
            folder_sources.append(name)
        elif setting == "cache_path" and value.strip():
            beside = PurePosixPath(value.strip()).parent / LUXLOG_CACHE_NAME
            values[setting] = (str(beside), f"{name} (its folder)")
        else:
            values[setting] = (value, name)
    if folder_sources:
        # Empty folders only: the parser then says "must name at least one directory".
        values["output_dirs"] = (",".join(folders), "+".join(folder_sources))
    return BareNames(in_container=True, values=values, used=tuple(used), shadowed=tuple(shadowed))


def describe(names: BareNames) -> str | None:
    """One log line on what happened to the bare names; ``None`` when there were none."""
    if names.ignored:
        hint = ", ".join("LUXLOG_" + BARE_NAMES[name].upper() for name in names.ignored)
        return (
            f"ignored {', '.join(names.ignored)} from the environment: the reference "
            f"logger's names count only in luxlog's container (here use {hint})"
        )
    parts = [
        f"{name} as {BARE_NAMES[name]}"
        if name != "CACHE_PATH"
        else f"CACHE_PATH's folder for luxlog's cache ({LUXLOG_CACHE_NAME}; bring the old "
        "history over with `luxlog import --from-reference`)"
        for name in names.used
    ]
    if names.shadowed:
        parts.append(f"not {', '.join(names.shadowed)} (the LUXLOG_ variable is set)")
    if not parts:
        return None
    return "reference logger settings in use: " + "; ".join(parts)
