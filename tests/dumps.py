"""Reading the real captures' decoded tables (tests/data/*.txt, copied from shared/)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).parent / "data"
DUMPS = ("coolchip-2017-V1.80-L1A", "bouni-2016-V3.78-MSW6")


@dataclass(frozen=True)
class Row:
    section: str  # P, C or V
    index: int
    raw: int
    name: str
    type: str
    value: str  # luxtronik 0.3.14's from_heatpump value, as printed


def rows(dump: str) -> list[Row]:
    result = []
    for line in (DATA / f"{dump}.txt").read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        section, index, raw, name, kind, value = line.split("\t")
        result.append(Row(section, int(index), int(raw), name, kind, value))
    return result


def vectors(dump: str) -> tuple[list[int], list[int]]:
    """(calculations, parameters) raw integers of a dump."""
    table = rows(dump)
    calcs = [r.raw for r in table if r.section == "C"]
    params = [r.raw for r in table if r.section == "P"]
    return calcs, params
