"""The poll path's flock and filelock take the same locks: each excludes the other."""

from __future__ import annotations

import subprocess
import sys

import pytest

from luxlog.errors import Busy, StorageError
from luxlog.locks import hold, hold_fast

HOLDER = """
import sys
from pathlib import Path
from luxlog.locks import hold, hold_fast
take = hold if sys.argv[2] == "filelock" else hold_fast
with take(Path(sys.argv[1]), timeout=5, what="the test"):
    print("held", flush=True)
    sys.stdin.read()  # until the test closes our stdin
"""


@pytest.mark.parametrize(("holder", "waiter"), [("filelock", hold_fast), ("fast", hold)])
def test_a_lock_held_by_another_process_is_busy_for_the_other_kind(tmp_path, holder, waiter):
    path = tmp_path / "locks" / "spool.lock"
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path), holder],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "held\n"
        with (
            pytest.raises(Busy, match="the spool is in use"),
            waiter(path, timeout=0.1, what="the spool"),
        ):
            pass
    finally:
        child.communicate("", timeout=5)
    with waiter(path, timeout=1, what="the spool"):  # free again once the holder ended
        pass


def test_hold_fast_waits_for_a_release_and_refuses_an_unusable_folder(tmp_path):
    path = tmp_path / "locks" / "x.lock"
    with (
        hold_fast(path, timeout=1, what="x"),
        pytest.raises(Busy, match=r"waited 0\.0s"),
        hold_fast(path, timeout=0, what="x"),
    ):
        pass
    (tmp_path / "file").write_text("")
    with (
        pytest.raises(StorageError, match="cannot open lock file"),
        hold_fast(tmp_path / "file" / "x.lock", timeout=1, what="x"),
    ):
        pass
