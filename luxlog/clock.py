"""The one wall clock: epoch milliseconds, UTC.

Every "now" in luxlog comes from :func:`now_ms` (or is passed in by the caller, which is
how tests and the demo pin time), instead of ``time.time_ns() // 1_000_000`` written out
in every module: one place to read, one place to replace.
"""

from __future__ import annotations

import time


def now_ms() -> int:
    """The current time as UTC epoch milliseconds."""
    return time.time_ns() // 1_000_000
