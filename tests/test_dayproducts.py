"""The month summary and the day report are products like the CSVs: recorded, retried,
shown by ``status``.

The failing target is real: a folder in the way of the file's name, so the rename into
place fails with the operating system's own error (this also works as root, where a
read-only folder would not stop anything), while the daily CSV next to it is written.
"""

from __future__ import annotations

import shutil
from datetime import date

from helpers import settings_in

from luxlog import products, render
from luxlog.bookkeeping import load_day_records
from luxlog.cache import Cache
from luxlog.health import build_report
from luxlog.periods import Calendar
from luxlog.sample import Sample
from luxlog.simulator import HeatPumpModel, load_capture

HOST = "192.0.2.1:8889"
HOUR = 3_600_000
BERLIN = Calendar("Europe/Berlin")


def no_sleep(seconds: float) -> None:
    raise AssertionError("no sleep expected")


def product_reasons(settings, now: int) -> list[str]:
    return [r for r in build_report(settings, now_ms=now).reasons if "_report" in r or "_summ" in r]


def test_a_failed_report_and_summary_are_retried_by_the_next_due_and_shown_by_status(tmp_path):
    settings = settings_in(tmp_path, timezone="Europe/Berlin", interval_sec=900)
    start = BERLIN.midnight_ms(date(2026, 3, 27))
    model = HeatPumpModel(load_capture("bouni-2016-V3.78-MSW6"), seed=2, start_ms=start)
    end = BERLIN.midnight_ms(date(2026, 3, 30)) + 6 * HOUR
    with Cache.open(settings.cache_path) as cache:
        cache.add_many(Sample(t, HOST, *model.read(t)) for t in range(start, end, 900_000))
    out = settings.output_dirs[0]
    in_the_way = [out / "2026-03-28_report.html", out / "2026-03_summary.csv"]
    for blocker in in_the_way:
        blocker.mkdir(parents=True)

    now = BERLIN.midnight_ms(date(2026, 3, 30)) + 8 * HOUR
    first = products.due(settings, now_ms=now, sleep=no_sleep)
    assert first.count("written") == 5 and first.error() is None  # 4 daily, 1 weekly CSV
    assert (out / "2026-03-29_daily.csv").is_file() and (out / "2026-03-27_report.html").is_file()
    with Cache.open(settings.cache_path, readonly=True) as cache:
        records = load_day_records(cache)
    assert records["report"][date(2026, 3, 28)].status == "failed"
    assert records["report"][date(2026, 3, 29)].status == "written"
    assert records["report"][date(2026, 3, 26)].status == "empty"  # no samples that day
    assert {d.day: r.status for d, r in records["summary"].items()} == {
        26: "empty",
        27: "failed",
        28: "failed",
        29: "failed",
    }

    # status: like a failed CSV, in the reasons and in the roll-ups section
    reasons = product_reasons(settings, now)
    assert reasons[0].startswith("roll-up 2026-03_summary.csv failed at ")
    assert reasons[1].startswith("roll-up 2026-03-28_report.html failed at ")
    data = build_report(settings, now_ms=now).to_json()
    assert data["rollups"]["report"]["last_file"] == "2026-03-29_report.html"
    assert [f["file"] for f in data["rollups"]["report"]["failed"]] == ["2026-03-28_report.html"]
    rows = dict((title, dict(items)) for title, items in render.status_sections(data))
    assert rows["roll-ups"]["report failed"].startswith("2026-03-28_report.html: ")

    for blocker in in_the_way:
        shutil.rmtree(blocker)
    second = products.due(settings, now_ms=now + HOUR, sleep=no_sleep)
    assert second.outcomes == []  # no CSV was due: only the failed products were retried
    assert (out / "2026-03-28_report.html").is_file()
    summary = (out / "2026-03_summary.csv").read_text("utf-8-sig").splitlines()
    assert [line[:10] for line in summary[1:]] == ["2026-03-27", "2026-03-28", "2026-03-29"]
    with Cache.open(settings.cache_path, readonly=True) as cache:
        records = load_day_records(cache)
    assert records["report"][date(2026, 3, 28)].status == "written"
    assert {r.status for d, r in records["summary"].items() if d.day > 26} == {"written"}
    assert product_reasons(settings, now + HOUR) == []

    before = (out / "2026-03-28_report.html").stat().st_ino
    assert products.due(settings, now_ms=now + 2 * HOUR, sleep=no_sleep).outcomes == []
    assert (out / "2026-03-28_report.html").stat().st_ino == before  # done: not rewritten


def test_a_retry_goes_only_to_the_folder_that_failed(tmp_path):
    good, bad = tmp_path / "data" / "csv", tmp_path / "data" / "nas"
    settings = settings_in(
        tmp_path, timezone="Europe/Berlin", interval_sec=900, output_dirs=(good, bad)
    )
    start = BERLIN.midnight_ms(date(2026, 3, 28))
    model = HeatPumpModel(load_capture("bouni-2016-V3.78-MSW6"), seed=2, start_ms=start)
    with Cache.open(settings.cache_path) as cache:
        cache.add_many(
            Sample(t, HOST, *model.read(t)) for t in range(start, start + 30 * HOUR, 900_000)
        )
    (bad / "2026-03-28_report.html").mkdir(parents=True)
    now = BERLIN.midnight_ms(date(2026, 3, 29)) + 8 * HOUR
    products.due(settings, now_ms=now, sleep=no_sleep)
    written = (good / "2026-03-28_report.html").stat().st_ino
    (bad / "2026-03-28_report.html").rmdir()
    products.due(settings, now_ms=now + HOUR, sleep=no_sleep)
    assert (bad / "2026-03-28_report.html").is_file()
    assert (good / "2026-03-28_report.html").stat().st_ino == written  # not rewritten
