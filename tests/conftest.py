"""Shared fixtures: every test runs in its own directory with a clean environment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may read the developer's ./luxlog.yaml or LUXLOG_* variables."""
    for name in list(os.environ):
        if name.startswith("LUXLOG_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.chdir(tmp_path)
    # main() records when "the command" began; in one test process that would leak
    # from a test that ran main() into later in-process polls and eat their budget.
    monkeypatch.setattr("luxlog.launcher._started", None)
