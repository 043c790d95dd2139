"""The products' bookkeeping: one record per product and day, in the cache's state table.

The one owner of this on-disk format (JSON values in the cache's ``state`` table), read by
``status`` through :func:`load_records` and :func:`last_due`:

* ``rollup.daily`` / ``rollup.weekly``: ``{"YYYY-MM-DD": record}`` per window end date;
* ``rollup.summary`` / ``rollup.report``: ``{"YYYY-MM-DD": record}`` per calendar day
  whose row the month summary got / whose report was written;
* ``record = {"status": "written"|"empty"|"failed", "samples": n, "coverage": 0..1,
  "failed_dirs": [...], "error": "...", "at_ms": t}``; entries older than
  ``cache_retention_days`` + 7 are dropped, so the values stay small;
* ``rollup.last_due``: ``{"at_ms", "written", "empty", "failed", "flushed"}`` of the last
  ``rollup due`` run.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Literal

from luxlog.locks import cache_lock_path, hold

if TYPE_CHECKING:
    from luxlog.cache import Cache
    from luxlog.config import Settings

Status = Literal["written", "empty", "failed"]
# Below this share of the expected samples a written file counts as partial in `status`;
# a handful of failed polls a day (timeouts, a controller reboot) is normal.
COMPLETE_COVERAGE = 0.99
#: One state-table key per product: the daily and weekly CSVs (by window end date), the
#: month summary and the day report (by the calendar day whose row / report they hold).
STATE_KEYS: dict[str, str] = {
    "daily": "rollup.daily",
    "weekly": "rollup.weekly",
    "summary": "rollup.summary",
    "report": "rollup.report",
}
LAST_DUE_KEY = "rollup.last_due"
_KEEP_EXTRA_DAYS = 7


@dataclass(frozen=True)
class Record:
    """What is known about one window's CSV; kept in the cache across runs."""

    status: Status
    samples: int = 0
    coverage: float = 0.0  # samples / (window length / interval_sec), at most 1
    failed_dirs: tuple[str, ...] = ()
    error: str = ""
    at_ms: int = 0

    @property
    def done(self) -> bool:
        """Nothing left to do: the file is in every folder, or there is nothing to write."""
        return self.status != "failed"

    @property
    def partial(self) -> bool:
        """A written file that covers noticeably less than its whole window."""
        return self.status == "written" and self.coverage < COMPLETE_COVERAGE

    def to_json(self) -> dict[str, Any]:
        """Plain JSON value for the state table."""
        data = asdict(self)
        data["failed_dirs"] = list(self.failed_dirs)
        return data

    @classmethod
    def from_json(cls, data: Any) -> Record | None:
        """Inverse of :meth:`to_json`; ``None`` for anything unrecognisable."""
        if not isinstance(data, dict) or data.get("status") not in ("written", "empty", "failed"):
            return None
        try:
            return cls(
                status=data["status"],
                samples=int(data.get("samples", 0)),
                coverage=float(data.get("coverage", 0.0)),
                failed_dirs=tuple(str(d) for d in data.get("failed_dirs", ())),
                error=str(data.get("error", "")),
                at_ms=int(data.get("at_ms", 0)),
            )
        except (TypeError, ValueError):
            return None


def decode_records(text: str | None) -> dict[date, Record]:
    try:
        raw = json.loads(text) if text else {}
    except ValueError:
        raw = {}
    records: dict[date, Record] = {}
    if isinstance(raw, dict):
        for key, value in raw.items():
            record = Record.from_json(value)
            try:
                day = date.fromisoformat(str(key))
            except ValueError:
                continue
            if record is not None:
                records[day] = record
    return records


def load_records(
    cache: Cache, kinds: Iterable[str] = ("daily", "weekly")
) -> dict[str, dict[date, Record]]:
    """The records of ``kinds`` (default: the CSVs) in the cache, by kind and day."""
    return {kind: decode_records(cache.get_state(STATE_KEYS[kind])) for kind in kinds}


def load_day_records(cache: Cache) -> dict[str, dict[date, Record]]:
    """The month summary's and the day report's records, by kind and day."""
    return load_records(cache, ("summary", "report"))


def last_due(cache: Cache) -> dict[str, int] | None:
    """Summary of the last ``rollup due`` run, or ``None`` if it never ran."""
    text = cache.get_state(LAST_DUE_KEY)
    try:
        data = json.loads(text) if text else None
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def save_record(
    cache: Cache, settings: Settings, kind: str, day: date, record: Record, today: date
) -> None:
    """Store ``record`` for ``kind`` on ``day`` (read-modify-write in one transaction)."""
    key = STATE_KEYS[kind]
    cutoff = (
        date.min  # samples kept forever: so are the records of their windows
        if settings.cache_retention_days == 0
        else today - timedelta(days=settings.cache_retention_days + _KEEP_EXTRA_DAYS)
    )
    with cache_lock(settings), cache.atomic():
        records = decode_records(cache.get_state(key))
        records[day] = record
        kept = {d.isoformat(): r.to_json() for d, r in sorted(records.items()) if d >= cutoff}
        cache.set_state(key, json.dumps(kept, separators=(",", ":"), sort_keys=True))


def cache_lock(settings: Settings) -> AbstractContextManager[None]:
    """The cache lock, for a bookkeeping write."""
    return hold(cache_lock_path(settings.data_dir), timeout=settings.timeout_sec, what="the cache")
