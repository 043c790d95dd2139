"""``luxlog demo``: the whole pipeline against the built-in simulator, in a fresh folder.

It is the README's first command, so it must work on any machine with nothing set up:
no heat pump, no config file (a config in the working directory is deliberately
ignored), no free port 8889 (the simulator takes any free loopback port).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from luxlog import config
from luxlog.errors import StorageError


def _fresh_directory(directory: Path | None) -> Path:
    if directory is None:
        directory = Path.cwd() / f"luxlog-demo-{datetime.now():%Y%m%d-%H%M%S}"
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create demo directory {directory}: {exc.strerror}") from exc
    return directory.resolve()


def run_demo(*, directory: Path | None = None, polls: int = 5) -> list[str]:
    """Run the demo; return the lines to show the user."""
    from luxlog.heatpump import catalogue
    from luxlog.poll import poll
    from luxlog.simulator import Simulator

    folder = _fresh_directory(directory)
    lines = [f"luxlog demo in {folder}"]
    with Simulator(port=0) as simulator:
        settings = config.load(
            None,
            environ={
                "LUXLOG_HOST": "127.0.0.1",
                "LUXLOG_PORT": str(simulator.port),
                "LUXLOG_DATA_DIR": str(folder),
                "LUXLOG_INTERVAL_SEC": "10",
            },
            read_files=False,
        )
        lines.append(f"  simulated heat pump on {settings.address}")
        sample = None
        for _ in range(polls):
            sample = poll(settings)
        lines.append(f"  polled {polls} time(s) -> {settings.spool_dir / 'current.jsonl'}")
    assert sample is not None
    values = catalogue.values(sample.calculations, sample.parameters)
    lines.append(
        "  latest: outdoor {ta} °C, flow {tvl} °C, return {trl} °C, hot water {tbw} °C, "
        "firmware {fw}".format(
            ta=values.get("ID_WEB_Temperatur_TA"),
            tvl=values.get("ID_WEB_Temperatur_TVL"),
            trl=values.get("ID_WEB_Temperatur_TRL"),
            tbw=values.get("ID_WEB_Temperatur_TBW"),
            fw=catalogue.firmware(sample.calculations),
        )
    )
    from luxlog.flush import flush

    result = flush(settings)
    lines.append(f"  flushed {result.samples_added} sample(s) into {settings.cache_path}")
    lines.append(f"next: luxlog --data-dir {folder} sensors")
    return lines
