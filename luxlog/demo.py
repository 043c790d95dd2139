"""``luxlog demo``: the whole pipeline against the built-in simulator, in a fresh folder.

It is the README's first command, so it must work on any machine with nothing set up:
no heat pump, no config file (a config in the working directory is deliberately
ignored), no free port 8889 (the simulator takes any free loopback port).

A logger only shows what it is for after a day or two, so the demo does not wait: it
polls the simulator once per simulated 5 minutes over the last three days (a fake clock
drives both the simulated heat pump and luxlog's timestamps), then runs what cron would
run - flush, ``rollup due``, statistics, the daily report and ``status``.
"""

from __future__ import annotations

import shlex
import sys
from datetime import datetime, timedelta
from pathlib import Path

from luxlog import config
from luxlog.clock import now_ms as now_ms_clock
from luxlog.errors import StorageError

DEMO_STEP_SEC = 300
DEMO_HOURS = 72  # two complete daily windows whatever the time of day


def _fresh_directory(directory: Path | None) -> Path:
    if directory is None:
        directory = Path.cwd() / f"luxlog-demo-{datetime.now():%Y%m%d-%H%M%S}"
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create demo directory {directory}: {exc.strerror}") from exc
    return directory.resolve()


class _FakeClock:
    """One clock for the simulated heat pump and for luxlog's sample timestamps."""

    def __init__(self, start_ms: int) -> None:
        self.now_ms = start_ms

    def __call__(self) -> int:
        return self.now_ms


def run_demo(
    *,
    directory: Path | None = None,
    hours: int = DEMO_HOURS,
    now_ms: int | None = None,
    step_sec: int = DEMO_STEP_SEC,
    timezone: str | None = None,
) -> list[str]:
    """Run the demo; return the lines to show the user.

    ``now_ms``, ``step_sec`` and ``timezone`` (default: this machine's) let a test pin
    the simulated "now" to a known place in the roll-up's day and poll less often, so the
    whole pipeline runs in a fraction of a second and writes the same bytes every time.
    """
    from luxlog import products, stats
    from luxlog.flush import flush
    from luxlog.health import build_report
    from luxlog.heatpump import catalogue
    from luxlog.poll import poll
    from luxlog.simulator import Simulator

    folder = _fresh_directory(directory)
    if now_ms is None:
        now_ms = now_ms_clock()
    step_ms = step_sec * 1000
    clock = _FakeClock((now_ms - hours * 3_600_000) // step_ms * step_ms)
    lines = [f"luxlog demo in {folder}"]
    with Simulator(port=0, clock_ms=clock) as simulator:
        settings = config.load(
            None,
            environ={
                "LUXLOG_HOST": "127.0.0.1",
                "LUXLOG_PORT": str(simulator.port),
                "LUXLOG_DATA_DIR": str(folder),
                "LUXLOG_INTERVAL_SEC": str(step_sec),
                **({"LUXLOG_TIMEZONE": timezone} if timezone else {}),
            },
            read_files=False,
        )
        lines.append(f"  simulated heat pump on {settings.address} (real TCP, a real capture)")
        polls = 0
        while clock.now_ms <= now_ms:
            sample = poll(settings, clock_ms=clock)
            polls += 1
            clock.now_ms += step_ms
    lines.append(
        f"  polled {polls} times, one per simulated {step_sec // 60} min over {hours} h"
        f" -> {settings.spool_dir / 'current.jsonl'}"
    )
    values = catalogue.values(sample.calculations, sample.parameters)
    lines.append(
        f"  latest: outdoor {values.get('ID_WEB_Temperatur_TA')} °C, "
        f"flow {values.get('ID_WEB_Temperatur_TVL')} °C, "
        f"hot water {values.get('ID_WEB_Temperatur_TBW')} °C, "
        f"firmware {catalogue.firmware(sample.calculations)}"
    )
    flushed = flush(settings)
    lines.append(f"  flushed {flushed.samples_added} samples into {settings.cache_path}")

    done = products.due(settings, now_ms=now_ms)
    for outcome in done.outcomes:
        for path in outcome.written:
            lines.append(f"  roll-up: {path}")
    calendar = stats.Calendar.from_settings(settings)
    yesterday = calendar.local_date(now_ms) - timedelta(days=1)
    for row in stats.compute(settings, first=yesterday, last=yesterday, now_ms=now_ms):
        lines.append(
            f"  {row.period}: {row.compressor_starts} compressor starts, "
            f"{row.compressor_hours} h running, {row.heat_kwh} kWh heat, "
            f"outdoor {row.outdoor_min_c}..{row.outdoor_max_c} °C"
        )
    for output_dir in settings.output_dirs:  # `rollup due` wrote them with the roll-ups
        for path in sorted(output_dir.glob("*_report.html")):
            lines.append(f"  report:  {path}")
    health = build_report(settings, now_ms=now_ms)
    verdict = "healthy" if health.healthy else "unhealthy: " + "; ".join(health.reasons)
    lines.append(f"  status --check: {verdict}")
    # The command as the user can type it (./dev installs into .venv/bin, not onto PATH).
    program = sys.argv[0] if Path(sys.argv[0]).name == "luxlog" else "luxlog"
    lines.append(f"next: {shlex.quote(program)} --data-dir {shlex.quote(str(folder))} status")
    # Last, so it is what the eye lands on: the browser view of the same folder (needs
    # the web extra; ./dev installs it with `./dev test`, pip with 'luxlog[web]').
    lines.append(
        f"browse: {shlex.quote(program)} --data-dir {shlex.quote(str(folder))} serve"
        "  (then open http://127.0.0.1:8088/)"
    )
    return lines
