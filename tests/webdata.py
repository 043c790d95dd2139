"""A small real data folder for the web tests: three simulated days in a real cache,
the month summary ``rollup due`` would write, and a daily CSV to download."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from helpers import settings_in

from luxlog import stats
from luxlog.cache import Cache
from luxlog.config import Settings
from luxlog.sample import Sample
from luxlog.simulator import HeatPumpModel, load_capture

HOST = "192.0.2.1:8889"
HOUR = 3_600_000
FIRST = date(2026, 1, 18)
TODAY = date(2026, 1, 20)
STEP_MS = 300_000  # 5-minute polls: small, yet every chart has a day's shape


@dataclass(frozen=True)
class WebData:
    settings: Settings
    now_ms: int


def build(root: Path) -> WebData:
    settings = settings_in(root, timezone="Europe/Berlin", interval_sec=300)
    calendar = stats.Calendar.from_settings(settings)
    start = calendar.midnight_ms(FIRST)
    now_ms = calendar.midnight_ms(TODAY) + 12 * HOUR
    model = HeatPumpModel(load_capture("bouni-2016-V3.78-MSW6"), seed=5, start_ms=start)
    samples = [Sample(t, HOST, *model.read(t)) for t in range(start, now_ms, STEP_MS)]
    with Cache.open(settings.cache_path) as cache:
        cache.add_many(samples)
    # The month summary through yesterday, as `rollup due` leaves it.
    stats.write_month_summaries(settings, FIRST, TODAY, now_ms=now_ms)
    csv_dir = settings.output_dirs[0]
    (csv_dir / "2026-01-19_daily.csv").write_text("time,flow\n2026-01-19T00:00,30.1\n")
    (csv_dir / ".2026-01-20_daily.csv.tmp").write_text("half written")
    return WebData(settings, now_ms)
