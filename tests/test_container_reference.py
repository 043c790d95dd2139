"""The container started with the reference logger's .env, as its users have it."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
BIN = Path(sys.executable).parent


def test_the_image_marks_itself_as_the_container():
    final = (ROOT / "Dockerfile").read_text().split("\nFROM ")[-1]
    assert re.search(r"^\s+LUXLOG_CONTAINER=1\s*$", final, re.MULTILINE), final


def test_entrypoint_runs_with_a_reference_env_file_and_says_so_once(tmp_path):
    record = tmp_path / "stub-record"
    stub = tmp_path / "supercronic-stub"
    stub.write_text(f'#!/bin/sh\ncat "$3" > {shlex.quote(str(record))}\n')
    stub.chmod(0o755)
    logs = tmp_path / "app" / "logs"
    env = {
        "PATH": f"{BIN}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "TZ": "UTC",
        "HOME": str(tmp_path),
        "SUPERCRONIC": str(stub),
        "CRONTAB_FILE": str(tmp_path / "luxlog.crontab"),
        # What the image sets, then the reference logger's .env unchanged.
        "LUXLOG_DATA_DIR": str(logs),
        "LUXLOG_CONTAINER": "1",
        "HOST": "192.168.20.180",
        "PORT": "8889",
        "INTERVAL_SEC": "60",
        "CSV_TIME": "07:00",
        "CACHE_PATH": str(logs / "cache.db"),
        "OUTPUT_DIRS_DAILY": str(logs / "daily"),
        "OUTPUT_DIRS_WEEKLY": str(logs / "weekly"),
    }
    process = subprocess.run(
        ["sh", str(ENTRYPOINT)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=9
    )
    assert process.returncode == 0, process.stderr
    assert "host\t192.168.20.180\tHOST" in process.stdout
    assert "interval_sec\t60\tINTERVAL_SEC" in process.stdout
    said = [line for line in process.stderr.splitlines() if "reference logger" in line]
    assert len(said) == 1 and "OUTPUT_DIRS_DAILY as output_dirs" in said[0], process.stderr
    crontab = record.read_text()
    assert "0 * * * * * * luxlog poll" in crontab  # every 60 s, from INTERVAL_SEC
    # Both old CSV folders are the jobs' output folders (the check itself creates nothing:
    # the first roll-up does); the reference cache was not touched.
    assert f"output_dirs\t['{logs / 'daily'}', '{logs / 'weekly'}']" in process.stdout
    assert not (logs / "daily").exists() and not (logs / "cache.db").exists()
