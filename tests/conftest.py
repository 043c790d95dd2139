"""Shared fixtures: every test runs in its own directory with a clean environment."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import pump_env

from luxlog.simulator import Simulator

DATA = Path(__file__).parent / "data"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may read the developer's ./luxlog.yaml or LUXLOG_* variables."""
    for name in list(os.environ):
        if name.startswith("LUXLOG_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.chdir(tmp_path)
    # Without a config file the data goes to the per-user data folder: keep it in here.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    _reset_luxlog_logging()


def _reset_luxlog_logging() -> None:
    """Undo what an earlier in-process command did to the "luxlog" logger.

    ``logs.setup`` (run by every CLI command) gives it a stderr handler and stops it
    propagating; left like that, a later test's ``caplog`` (which listens at the root)
    would see nothing, depending on which tests ran before it in the same worker.
    """
    import logging

    from luxlog import logs

    logger = logging.getLogger("luxlog")
    for handler in list(logger.handlers):
        if getattr(handler, "_luxlog", False):
            logger.removeHandler(handler)
    logger.propagate = True
    logger.setLevel(logging.NOTSET)
    logs.forget_deferred()


@pytest.fixture
def pump() -> Iterator[Simulator]:
    """A simulated heat pump on a free loopback port."""
    with Simulator() as simulator:
        yield simulator


@pytest.fixture
def env(tmp_path: Path, pump: Simulator) -> dict[str, str]:
    """LUXLOG_* variables pointing a command at ``pump``, with data under tmp_path."""
    return pump_env(tmp_path, pump.port)
