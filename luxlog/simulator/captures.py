"""The shipped captures: the raw integers real controllers once sent (``luxlog/data``).

Tests compare against these bytes, not against our own decoder, so a capture is loaded
as it is, never normalised.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

DEFAULT_CAPTURE = "coolchip-2017-V1.80-L1A"
CAPTURES: tuple[str, ...] = (DEFAULT_CAPTURE, "bouni-2016-V3.78-MSW6")


@dataclass(frozen=True, slots=True)
class Capture:
    """One real controller's three tables, raw ints exactly as they came off the wire.

    Visibilities are int8 on the wire (protocol quirk: the only byte-sized table), but are
    kept as plain ints like the others.
    """

    name: str
    firmware: str
    source: str
    parameters: tuple[int, ...]
    calculations: tuple[int, ...]
    visibilities: tuple[int, ...]
    status: int = 0  # the 3004 reply's status word; 0 in every capture we have


@cache
def load_capture(name: str = DEFAULT_CAPTURE) -> Capture:
    """A shipped capture by name (one of :data:`CAPTURES`); cached, as it is immutable."""
    if name not in CAPTURES:
        raise ValueError(f"unknown capture {name!r}: choose one of {', '.join(CAPTURES)}")
    text = resources.files("luxlog").joinpath("data", f"{name}.json").read_text("utf-8")
    doc = json.loads(text)
    return Capture(
        name=str(doc["name"]),
        firmware=str(doc["firmware"]),
        source=str(doc.get("source", "")),
        parameters=tuple(int(v) for v in doc["parameters"]),
        calculations=tuple(int(v) for v in doc["calculations"]),
        visibilities=tuple(int(v) for v in doc["visibilities"]),
        status=int(doc.get("status", 0)),
    )


def _resolve_capture(capture: str | Capture) -> Capture:
    return capture if isinstance(capture, Capture) else load_capture(capture)


# --------------------------------------------------------------------------- the model

# Calculation indices the model drives: luxlog.registers (one table for all modules).
