"""The demo's output bytes, pinned: restructuring the code must not change what users get.

The demo is run with "now", the poll step and the time zone pinned, so its CSV, month
summary and day report are the same bytes on every machine; only the simulator's port
(a free one) and the report's "written by luxlog VERSION on TIME" footer are masked. A
change of these digests is a change of luxlog's output: make it on purpose, say so in
the commit, and update them.
"""

from __future__ import annotations

import hashlib
import re

from luxlog.demo import run_demo

GOLDEN = {
    "2025-11-25_report.html": "43d8b03a1ef81462897edf8768a134d49c4b3dd41b824a4dcb1ab522c5afda29",
    "2025-11-26_daily.csv": "3b909fe91b21ebafb798386b672fb8a77f92a0ff066a50304e7076cfede2f742",
    "2025-11_summary.csv": "6b68bd365a7323e8946d9b8779e2d6db6016ad9062f8528018b4a773fc915637",
}


def test_the_demo_writes_the_same_bytes_as_before(tmp_path):
    folder = tmp_path / "demo"
    run_demo(
        directory=folder,
        hours=26,
        now_ms=1_764_158_400_000,  # 2025-11-26T12:00:00Z
        step_sec=900,
        timezone="Europe/Berlin",
    )
    digests = {}
    for path in sorted((folder / "csv").iterdir()):
        data = re.sub(rb"127\.0\.0\.1:\d+", b"127.0.0.1:PORT", path.read_bytes())
        data = re.sub(rb"Written by luxlog [^<]*? on [^<]*?\.", b"Written by luxlog.", data)
        digests[path.name] = hashlib.sha256(data).hexdigest()
    assert digests == GOLDEN
