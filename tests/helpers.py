"""Builders shared by the tests: settings under a test folder, and the environment that
points a luxlog command at a simulated heat pump."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from luxlog.config import Settings


def settings_in(root: Path, **changes: Any) -> Settings:
    """Settings whose data (cache, spool, CSVs) all lives in ``root / "data"``."""
    data = root / "data"
    values: dict[str, Any] = {
        "data_dir": data,
        "cache_path": data / "cache.sqlite3",
        "spool_dir": data / "spool",
        "output_dirs": (data / "csv",),
        "timeout_sec": 5,
        **changes,
    }
    return Settings(**values)


def pump_env(root: Path, port: int, **extra: str) -> dict[str, str]:
    """LUXLOG_* variables for a command polling the simulator on ``port``; data in root."""
    return {
        "LUXLOG_HOST": "127.0.0.1",
        "LUXLOG_PORT": str(port),
        "LUXLOG_DATA_DIR": str(root / "data"),
        "LUXLOG_INTERVAL_SEC": "5",
        "LUXLOG_RETRIES": "0",
        **extra,
    }
