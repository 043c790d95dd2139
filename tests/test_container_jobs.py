"""The container's whole day in miniature: every job of the crontab, then the healthcheck.

The commands are taken from what the image would run - the crontab rendered by
``luxlog crontab --check`` (as the entrypoint does) and the Dockerfile's HEALTHCHECK -
and started the way supercronic starts them (``/bin/sh -c`` with the container's
environment), in a temporary ``/app/logs``-like folder, against the simulator.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from test_container import ROOT, base_env, rendered_crontab, run_job

from luxlog.simulator import Simulator

POLLS = 4


def healthcheck_command() -> str:
    """The Dockerfile's HEALTHCHECK ``CMD [...]`` as a shell command."""
    match = re.search(r"^\s+CMD (\[.*\])$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert match, "HEALTHCHECK CMD not found"
    return " ".join(json.loads(match[1]))


def test_every_job_in_crontab_order_then_the_healthcheck(tmp_path: Path) -> None:
    logs = tmp_path / "app" / "logs"
    with Simulator() as pump:
        env = base_env(tmp_path, LUXLOG_HOST="127.0.0.1", LUXLOG_PORT=str(pump.port))
        tab = rendered_crontab(env, tmp_path)
        polls = [job.command for job in tab.jobs if job.command.endswith(" poll")]
        others = [job.command for job in tab.jobs if not job.command.endswith(" poll")]
        assert others == ["luxlog flush", "luxlog rollup due", "luxlog prune"]

        sequence = [polls[i % len(polls)] for i in range(POLLS)]
        sequence += [*others, healthcheck_command()]
        assert sequence[-1] == "luxlog status --check"
        for command in sequence:
            result = run_job(command, env, tmp_path)
            assert result.returncode == 0, f"{command}: exit {result.returncode}\n{result.stderr}"

    assert (logs / "cache.sqlite3").is_file()
    assert (logs / "locks").is_dir()  # csv/ comes with the first roll-up that is due
    spooled = logs / "spool" / "current.jsonl"
    assert not spooled.exists() or spooled.read_text() == ""  # all flushed into the cache
    # Nothing was written outside the volume.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app"]
