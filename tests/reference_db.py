"""Reference logger caches built from the real captures, for the import tests and bench.

The rows are what that logger stores: luxtronik 0.3.14 decodes every register of its
tables (``from_heatpump``, as its ``parse`` does, without touching luxtronik's shared
class tables), keys are ``calculations.<name>`` / ``parameters.<name>`` or the index
where luxtronik has no name, registers the controller did not send are ``null``, and
``json.dumps`` writes the object (timestamps as text: ``default=str``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from luxtronik.calculations import Calculations
from luxtronik.parameters import Parameters

CALCULATIONS = dict(Calculations.calculations)
PARAMETERS = dict(Parameters.parameters)
VERSION = range(81, 91)  # calculation 81 holds the firmware text of 81..89


def _section(name: str, table: dict[int, Any], raw: Sequence[int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for index, definition in sorted(table.items()):
        if name == "calculations" and index in VERSION and index != 81:
            continue
        if index >= len(raw):
            value = None  # in luxtronik's table, not sent by this controller
        elif name == "calculations" and index == 81:
            value = definition.from_heatpump(list(raw[81:90]))
        else:
            value = definition.from_heatpump(raw[index])
        label = str(index) if definition.name.startswith("Unknown") else definition.name
        out[f"{name}.{label}"] = value
    for index in range(max(table) + 1, len(raw)):  # beyond luxtronik's table: Unknown
        out[f"{name}.{index}"] = raw[index]
    return out


def decoded(calculations: Sequence[int], parameters: Sequence[int]) -> dict[str, Any]:
    """One poll as the reference logger's ``data_json`` object."""
    return {
        **_section("calculations", CALCULATIONS, calculations),
        **_section("parameters", PARAMETERS, parameters),
    }


def row_json(calculations: Sequence[int], parameters: Sequence[int]) -> str:
    return json.dumps(decoded(calculations, parameters), default=str)


def create(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path)
    connection.execute(
        "CREATE TABLE IF NOT EXISTS sensor_data"
        " (timestamp REAL PRIMARY KEY, data_json TEXT NOT NULL)"
    )
    return connection


def write(path: Path, rows: Iterable[tuple[float, str]]) -> None:
    """Insert (timestamp seconds, data_json) rows as the reference logger does."""
    connection = create(path)
    with connection:
        connection.executemany("INSERT OR REPLACE INTO sensor_data VALUES (?, ?)", rows)
    connection.close()
