"""Benchmark: whole-process CPU time of `luxlog poll` beside a minimal luxtronik script.

Both read the same simulated heat pump over loopback and append one JSON line with an
fsync (as luxlog does: a sample is on disk before the poll exits). The goal (issue 17):
luxlog poll <= 1.5x the minimal script, i.e. nothing on the poll path but what one read
and one spool line need (no Typer, filelock or logging unless something is logged).
Prints medians over several interleaved runs; run with `./dev bench` or
`python bench/poll.py [runs]`.

Measured as installed: pip compiles a package's modules to bytecode at install time (the
Docker image too), so both commands run with bytecode written to a scratch
PYTHONPYCACHEPREFIX by the warm-up runs. Under PYTHONDONTWRITEBYTECODE=1 (set on some
development machines) an editable checkout would recompile every luxlog module on every
run while luxtronik in site-packages comes compiled: that measured the compiler, not the
poll (1.56x here against 1.22x with bytecode). Both commands run in a scratch folder, so
a ./luxlog.yaml in the checkout is not read; a third line measures luxlog with a YAML
file, as a plain-Linux install has (PyYAML is then imported).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from luxlog.simulator import Simulator

MINIMAL = """
import json, os, sys, time
import luxtronik
pump = luxtronik.Luxtronik(sys.argv[1], int(sys.argv[2]))
record = {
    "t": time.time(),
    "calc": {i: c.value for i, c in pump.calculations.calculations.items()},
    "param": {i: p.value for i, p in pump.parameters.parameters.items()},
}
with open(sys.argv[3], "a") as handle:
    handle.write(json.dumps(record, default=str) + "\\n")
    handle.flush()
    os.fsync(handle.fileno())
"""


def cpu_seconds(command: list[str], env: dict[str, str], cwd: str) -> float:
    """User + system CPU time of one child process, from wait4's rusage (microseconds)."""
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{command[:4]} failed with exit code {process.returncode}")
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    with Simulator(dynamic=True) as simulator, tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "LUXLOG_HOST": "127.0.0.1",
            "LUXLOG_PORT": str(simulator.port),
            "LUXLOG_DATA_DIR": tmp,
            "PYTHONPYCACHEPREFIX": str(Path(tmp) / "pycache"),
        }
        for name in ("LUXLOG_CONFIG", "PYTHONDONTWRITEBYTECODE"):
            env.pop(name, None)
        yaml_dir = Path(tmp) / "with-yaml"
        yaml_dir.mkdir()
        (yaml_dir / "luxlog.yaml").write_text(
            f"host: 127.0.0.1\nport: {simulator.port}\ndata_dir: {tmp}\n", encoding="utf-8"
        )
        yaml_env = {k: v for k, v in env.items() if k not in ("LUXLOG_HOST", "LUXLOG_PORT")}
        luxlog_cmd = [sys.executable, "-m", "luxlog", "poll"]
        minimal_cmd = [
            sys.executable,
            "-c",
            MINIMAL,
            "127.0.0.1",
            str(simulator.port),
            str(Path(tmp) / "minimal.jsonl"),
        ]
        # Warm-up: writes the bytecode (as pip does at install) and warms the page cache.
        cpu_seconds(luxlog_cmd, env, tmp)
        cpu_seconds(luxlog_cmd, yaml_env, str(yaml_dir))
        cpu_seconds(minimal_cmd, env, tmp)
        luxlog_times, yaml_times, minimal_times = [], [], []
        for _ in range(runs):  # interleaved, so machine load affects all alike
            luxlog_times.append(cpu_seconds(luxlog_cmd, env, tmp))
            minimal_times.append(cpu_seconds(minimal_cmd, env, tmp))
            yaml_times.append(cpu_seconds(luxlog_cmd, yaml_env, str(yaml_dir)))
        spooled = (Path(tmp) / "spool" / "current.jsonl").read_text().count("\n")
    ours, base = statistics.median(luxlog_times), statistics.median(minimal_times)
    with_yaml = statistics.median(yaml_times)
    print(f"poll CPU time, median of {runs} runs (whole process: start-up, read, append):")
    print(f"  minimal luxtronik script     : {base * 1000:7.1f} ms")
    print(
        f"  luxlog poll, settings in env : {ours * 1000:7.1f} ms  "
        f"({ours / base:.2f}x, goal <= 1.5x; as in Docker)"
    )
    print(
        f"  luxlog poll, luxlog.yaml     : {with_yaml * 1000:7.1f} ms  "
        f"({with_yaml / base:.2f}x; PyYAML imported)"
    )
    print(f"  ({spooled} samples spooled by luxlog)")


if __name__ == "__main__":
    main()
