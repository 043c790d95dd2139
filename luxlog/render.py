"""Presentation only: Rich tables for people, JSON for machines. No logic lives here.

Rich is imported inside the functions: it costs ~60 ms, and commands such as ``poll``
never render anything unless asked to.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any, TextIO


def to_json(data: Any) -> str:
    """Stable, indented JSON (keys sorted) for ``--json`` outputs."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def format_value(value: float | int | None) -> str:
    """A converted value as a human reads it: '' for missing, no float noise."""
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def table(
    title: str | None,
    columns: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    stream: TextIO | None = None,
) -> None:
    """A Rich table on a terminal; tab-separated plain lines elsewhere (cron, pipes)."""
    stream = stream if stream is not None else sys.stdout
    if not stream.isatty():
        if title:
            stream.write(f"# {title}\n")
        stream.write("\t".join(columns) + "\n")
        for row in rows:
            stream.write("\t".join(row) + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    rich_table = Table(title=title)
    for column in columns:
        rich_table.add_column(column)
    for row in rows:
        rich_table.add_row(*row)
    Console(file=stream).print(rich_table)
