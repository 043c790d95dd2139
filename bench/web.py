"""`luxlog serve`: server time of the Day and Period views, RSS, and the Day chart's draw time.

Run:  python bench/web.py             (60 days of 30-s polls, ~2 minutes on 2 cores)
      python bench/web.py --days 365  (the year issue 15 budgets; the fill takes a while)

Budgets (issue 15): Day view data <= 150 ms from a 365-day cache, a season's Period view
<= 300 ms, RSS of `serve` <= 80 MB after every page, the Day chart drawn <= 500 ms after
navigation in headless Chromium. Each API figure is printed beside reading the same data
directly (the library call without HTTP, JSON and gzip; for the Period view, the
statistics computed from the samples, which is what the stored summaries save). Figures
are printed, not asserted: tests must not depend on machine speed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from storage import DAY_MS, START_MS, fill_days

from luxlog import config, stats
from luxlog.cache import Cache
from luxlog.report import build
from luxlog.simulator import DEFAULT_CAPTURE, HeatPumpModel, load_capture

START = date(2025, 1, 1)


def fill(path: Path, days: int) -> None:
    fill_days(
        path, HeatPumpModel(load_capture(DEFAULT_CAPTURE), seed=1, start_ms=START_MS), days, 1
    )


def timed(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> tuple[float, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    last = START + timedelta(days=args.days - 1)
    day = last - timedelta(days=1)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        environ = {"LUXLOG_DATA_DIR": str(root), "LUXLOG_TIMEZONE": "UTC"}
        settings = config.load(None, environ=environ, read_files=False)
        started = time.perf_counter()
        fill(settings.cache_path, args.days)
        print(f"filled {args.days} days in {time.perf_counter() - started:.1f} s")
        now_ms = START_MS + args.days * DAY_MS
        started = time.perf_counter()
        stats.write_month_summaries(settings, START, last, now_ms=now_ms)
        print(f"month summaries (what `rollup due` keeps) in {time.perf_counter() - started:.1f} s")

        import warnings

        # Starlette 1.x suggests httpx2 for its TestClient; httpx behaves the same here.
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
        from starlette.testclient import TestClient

        from luxlog.web.app import create_app

        client = TestClient(create_app(settings, clock_ms=lambda: now_ms))
        gzip = {"Accept-Encoding": "gzip"}
        with Cache.open(settings.cache_path, readonly=True) as cache:
            direct = timed(lambda: build(cache, settings, day, now_ms=now_ms), args.repeat)
        api = timed(lambda: client.get(f"/api/v1/day/{day}?width=1000", headers=gzip), args.repeat)
        size = len(client.get(f"/api/v1/day/{day}?width=1000").content)
        print(f"Day view {day}: API {api:.0f} ms (budget 150), direct read {direct:.0f} ms,")
        print(f"  {size / 1024:.0f} KB of JSON before gzip")
        calendar = stats.Calendar.from_settings(settings)
        for kind in ("month", "season"):
            period = calendar.period(kind, day)
            if period is None:
                continue
            url = f"/api/v1/period/{kind}/{day}"
            api = timed(lambda url=url: client.get(url, headers=gzip), args.repeat)
            source = client.get(url).json()["source"]
            first, end = calendar.local_date(period.start_ms), min(last, day)

            def from_samples(first: date = first, end: date = end) -> object:
                # Not stats.compute: that reads the day figures stored with the summaries.
                with Cache.open(settings.cache_path, readonly=True) as cache:
                    return stats.summarise_cache(
                        cache,
                        calendar.periods("day", first, end),
                        calendar=calendar,
                        settings=settings,
                        now_ms=now_ms,
                    )

            direct = timed(from_samples, 1)
            print(
                f"Period view {kind} {period.label}: API {api:.0f} ms (budget 300, from"
                f" {source}), days computed from samples {direct:.0f} ms"
            )

        port = free_port()
        luxlog = shutil.which("luxlog", path=str(Path(sys.executable).parent)) or "luxlog"
        server = subprocess.Popen(
            [luxlog, "serve", "--port", str(port)],
            env={**os.environ, **environ},
            stdout=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 20
            while True:
                try:
                    urllib.request.urlopen(base + "/static/favicon.svg", timeout=1).read()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            pages = ["/", f"/day/{day}", "/period/week", f"/period/season/{day}", "/curve"]
            pages += ["/files", "/api/v1/now", f"/api/v1/day/{day}", "/api/v1/files"]
            pages += [f"/api/v1/period/{k}/{day}" for k in ("week", "month", "season")]
            pages += [f"/api/v1/curve?last={day}&days=31"]
            pages += [f"/static/{n}" for n in ("uPlot.iife.min.js", "luxlog.js", "luxlog.css")]
            for page in pages:
                with urllib.request.urlopen(base + page, timeout=30) as response:
                    response.read()
            rss, peak = rss_mb(server.pid)
            print(f"serve RSS after every page: {rss:.0f} MB (peak {peak:.0f} MB; budget 80)")
            draw_times = chromium_draw_ms(f"{base}/day/{day}", args.repeat)
            if draw_times is not None:
                print(f"Day chart drawn {draw_times:.0f} ms after navigation (budget 500)")
        finally:
            server.terminate()
            server.wait(10)


def chromium_draw_ms(url: str, repeat: int) -> float | None:
    chromium = shutil.which("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        chromium = None
    if chromium is None:
        print("Day chart draw time: skipped (no chromium or playwright)")
        return None
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    args += ["--disable-component-update", "--disable-sync"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=args)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        times = []
        for _ in range(repeat + 1):
            page.goto(url)
            page.wait_for_selector("#chart-power[data-drawn='1']")
            times.append(page.evaluate("window.luxlogDrawnAt"))
        browser.close()
    return statistics.median(times[1:])  # the first pays for the browser's start


if __name__ == "__main__":
    main()
