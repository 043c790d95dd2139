"""One poll's worth of data, as the controller sent it.

luxlog stores the controller's raw integers and converts to units only when reading:
conversions can then be fixed later without losing history, and nothing is rounded twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True, slots=True)
class Sample:
    """A complete read of the heat pump.

    ``timestamp_ms`` (UTC, Unix epoch milliseconds) is the sample's identity: the cache
    ingests a sample with a timestamp it already holds as the same sample, which is what
    makes ``flush`` idempotent after a crash.
    """

    timestamp_ms: int
    host: str  # "host:port", so a history can tell which controller it came from
    calculations: tuple[int, ...]
    parameters: tuple[int, ...]

    @property
    def time(self) -> datetime:
        """The timestamp as an aware UTC datetime."""
        return datetime.fromtimestamp(self.timestamp_ms / 1000, tz=UTC)


def to_ms(moment: datetime) -> int:
    """Aware datetime -> epoch milliseconds (naive datetimes are refused, not guessed)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: luxlog works with aware datetimes only")
    return round(moment.timestamp() * 1000)
