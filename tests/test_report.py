"""The daily HTML report: content, self-containedness, DST, CLI, and a real browser."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from luxlog import charts, report
from luxlog.cache import Cache
from luxlog.cli import app
from luxlog.config import Settings
from luxlog.registers import (
    C_COMPRESSOR,
    C_HEAT_HEATING,
    C_HEAT_OUTPUT,
    C_MODE,
    C_POWER_INPUT,
    P_ENERGY_HEATING,
    P_ENERGY_HOT_WATER,
)
from luxlog.sample import Sample
from luxlog.simulator import HeatPumpModel, load_capture
from luxlog.stats import (
    Calendar,
)

HOST = "192.0.2.1:8889"
HOUR = 3_600_000
BERLIN = Calendar("Europe/Berlin")
runner = CliRunner()


class _Page(HTMLParser):
    """Collects what a test wants to know about the page: elements, attributes, text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def series(self) -> dict[str, dict[str, str]]:
        return {a["data-series"]: a for _, a in self.tags if "data-series" in a}


def parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


def simulated(day: date, *, capture: str = "bouni-2016-V3.78-MSW6", step: int = 30_000):
    period = BERLIN.period("day", day)
    assert period is not None
    model = HeatPumpModel(load_capture(capture), seed=5, start_ms=period.start_ms - 2 * HOUR)
    samples = [
        Sample(t, HOST, *model.read(t))
        for t in range(period.start_ms - 2 * HOUR, period.end_ms, step)
    ]
    return period, samples


def test_a_simulated_day_renders_charts_and_figures():
    period, samples = simulated(date(2026, 1, 20))
    # A 90-minute outage in the morning shows as a gap, and breaks the lines.
    samples = [
        s
        for s in samples
        if not period.start_ms + 5 * HOUR <= s.timestamp_ms < period.start_ms + 6.5 * HOUR
    ]
    day = report.collect(samples, period, calendar=BERLIN, interval_sec=30, generated_ms=1)
    text = report.render_html(day, BERLIN)
    page = parse(text)

    series = page.series()
    inside = sum(1 for s in samples if s.timestamp_ms >= period.start_ms)
    for key in ("outdoor", "flow", "return", "hot_water"):
        assert int(series[key]["data-points"]) == inside  # every sample of the day drawn
        assert series[key]["d"].count("M") == 2  # one break, at the gap
    for key in ("compressor", "heating_mode"):
        assert int(series[key]["data-spans"]) > 3
    assert int(series["hot_water_mode"]["data-spans"]) >= 1
    assert series["defrost"]["data-spans"] == series["evu_lock"]["data-spans"] == "0"
    assert int(series["heat_output"]["data-points"]) > 100
    assert "electric_power" not in series  # this controller reports none
    assert sum(1 for tag, a in page.tags if tag == "rect" and a.get("data-gap")) == 3
    assert {a["id"] for tag, a in page.tags if tag == "svg"} == {
        "chart-temperatures",
        "chart-operation",
        "chart-power",
    }
    body = "".join(page.text)
    assert "Heat pump · Tuesday 20 January 2026" in body
    assert f"{day.stats.compressor_starts}" in body and "firmware V3.78" in body
    assert "Heat output from the heat counters, 15-minute averages" in body
    assert "this controller reports no electrical power or energy" in body
    assert day.file_name == "2026-01-20_report.html"


def test_the_page_is_self_contained():
    period, samples = simulated(date(2026, 1, 20), step=300_000)
    day = report.collect(samples, period, calendar=BERLIN, interval_sec=300)
    text = report.render_html(day, BERLIN)
    page = parse(text)
    tags = {tag for tag, _ in page.tags}
    assert not tags & {"script", "link", "img", "iframe", "object", "embed"}
    for _, attrs in page.tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), name  # no inline event handlers
            if name in ("href", "src"):
                pytest.fail(f"external reference {name}={value}")
    assert not re.search(r"url\(|@import|https?://(?!www\.w3\.org/2000/svg)", text)
    csp = [a for t, a in page.tags if t == "meta" and a.get("http-equiv")]
    assert csp and csp[0]["content"].startswith("default-src 'none'")


def test_controller_reported_power_is_drawn_as_reported():
    period = BERLIN.period("day", date(2026, 1, 20))
    assert period is not None
    samples = []
    for i, t in enumerate(range(period.start_ms, period.end_ms, 600_000)):
        calc = [0] * (C_POWER_INPUT + 1)
        on = (i // 6) % 2 == 1
        calc[C_COMPRESSOR], calc[C_MODE] = int(on), 0 if on else 5
        calc[C_HEAT_OUTPUT] = 6000 if on else 0
        calc[C_POWER_INPUT] = 1500 if on else 10
        calc[C_HEAT_HEATING] = 1000 + i
        samples.append(Sample(t, HOST, tuple(calc), (0,) * 5))
    day = report.collect(samples, period, calendar=BERLIN, interval_sec=600)
    assert [s.key for s in day.power] == ["heat_output", "electric_power"]
    assert max(day.power[0].values) == 6.0 and max(day.power[1].values) == 1.5
    assert day.stats.electricity_source == "power"
    assert "heat output as reported by the controller" in day.power_note
    assert "electrical power as reported by the controller" in day.power_note


def test_energy_input_counters_give_electrical_power_steps():
    period = BERLIN.period("day", date(2026, 1, 20))
    assert period is not None
    samples = []
    params = [0] * (P_ENERGY_HOT_WATER + 1)
    for i, t in enumerate(range(period.start_ms, period.end_ms, 300_000)):
        calc = [0] * 160
        calc[C_HEAT_HEATING] = 1000 + 4 * i  # 0.4 kWh per 5 min: 4.8 kW
        params[P_ENERGY_HEATING] = 5000 + 10 * i  # 0.1 kWh per 5 min: 1.2 kW
        samples.append(Sample(t, HOST, tuple(calc), tuple(params)))
    day = report.collect(samples, period, calendar=BERLIN, interval_sec=300)
    heat, electric = day.power
    assert set(heat.values) == {4.8} and set(electric.values) == {1.2}
    assert "energy-input counters" in day.power_note
    assert day.stats.cop_heating == 4.0


def test_dst_days_get_their_real_length_and_wall_clock_ticks():
    for day, hours, labels in (
        (date(2026, 3, 29), 23, ["00:00", "03:00", "06:00"]),
        (date(2026, 10, 25), 25, ["00:00", "03:00", "06:00"]),
    ):
        period, samples = simulated(day, step=600_000)
        result = report.collect(samples, period, calendar=BERLIN, interval_sec=600)
        text = report.render_html(result, BERLIN)
        assert f"{hours}-hour day" in text
        ticks = re.findall(r'text-anchor="middle">(\d\d:\d\d)</text>', text)
        assert ticks[:3] == labels and ticks[-1] == "24:00"
        assert ticks.count("00:00") == 3  # one per chart


def test_an_empty_day_still_renders():
    period = BERLIN.period("day", date(2026, 1, 20))
    assert period is not None
    day = report.collect([], period, calendar=BERLIN, interval_sec=30)
    text = report.render_html(day, BERLIN)
    assert "no samples for this day" in text and "no values for this day" in text
    assert day.gaps == [(period.start_ms, period.end_ms)]


def test_ticks_are_round():
    assert charts._ticks(-7.6, 60.6) == [-20.0, 0.0, 20.0, 40.0, 60.0, 80.0]
    assert charts._ticks(0.0, 6.0) == [0.0, 2.0, 4.0, 6.0]
    assert charts._ticks(5.0, 5.0) == [4.0, 4.5, 5.0, 5.5, 6.0]


# -- files and the command line ----------------------------------------------------------


def settings_env(tmp_path: Path) -> tuple[Settings, dict[str, str]]:
    data = tmp_path / "data"
    settings = Settings(
        data_dir=data,
        cache_path=data / "cache.sqlite3",
        spool_dir=data / "spool",
        output_dirs=(data / "csv", data / "nas"),
        timezone="Europe/Berlin",
        interval_sec=300,
    )
    env = {
        "LUXLOG_DATA_DIR": str(data),
        "LUXLOG_TIMEZONE": "Europe/Berlin",
        "LUXLOG_INTERVAL_SEC": "300",
        "LUXLOG_OUTPUT_DIRS": f"{data / 'csv'},{data / 'nas'}",
    }
    return settings, env


def test_cli_report_writes_to_every_output_folder(tmp_path):
    settings, env = settings_env(tmp_path)
    _, samples = simulated(date(2026, 3, 29), step=300_000)
    with Cache.open(settings.cache_path) as cache:
        cache.add_many(samples)
    result = runner.invoke(app, ["report", "--date", "2026-03-29"], env=env)
    assert result.exit_code == 0, result.output
    for folder in ("csv", "nas"):
        text = (tmp_path / "data" / folder / "2026-03-29_report.html").read_text("utf-8")
        assert "Sunday 29 March 2026" in text
    # Default: yesterday (no data: no page, a plain line); a future day is refused.
    result = runner.invoke(app, ["report"], env=env)
    assert result.exit_code == 0, result.output
    now_ms = round(datetime.now(UTC).timestamp() * 1000)
    yesterday = BERLIN.local_date(now_ms) - timedelta(days=1)
    assert result.stderr == f"no samples on {yesterday}: no report written\n"
    assert not (tmp_path / "data" / "nas" / f"{yesterday}_report.html").exists()
    result = runner.invoke(app, ["report", "--date", "2999-01-01"], env=env)
    assert result.exit_code == 2 and "has not started yet" in result.output


def test_cli_report_exits_7_when_a_folder_cannot_take_it(tmp_path):
    settings, env = settings_env(tmp_path)
    _, samples = simulated(date(2026, 3, 29), step=900_000)
    with Cache.open(settings.cache_path) as cache:
        cache.add_many(samples)
    env["LUXLOG_OUTPUT_DIRS"] += f",{tmp_path / 'unmounted'}"
    result = runner.invoke(app, ["report", "--date", "2026-03-29"], env=env)
    assert result.exit_code == 7, result.output
    assert (tmp_path / "data" / "csv" / "2026-03-29_report.html").is_file()


# -- a real browser ----------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

# Appended to a copy of the report (the report itself has no script): records script
# errors, then measures every series as the browser laid it out.
_PROBE = """<script>
var problems = [];
window.addEventListener('error', function (e) { problems.push(String(e.message)); });
window.addEventListener('load', function () {
  var out = {series: {}, charts: {}, problems: problems};
  document.querySelectorAll('svg.chart').forEach(function (svg) {
    var box = svg.getBoundingClientRect();
    out.charts[svg.id] = [Math.round(box.width), Math.round(box.height)];
  });
  document.querySelectorAll('[data-series]').forEach(function (el) {
    var box = el.getBBox();
    out.series[el.getAttribute('data-series')] = {
      width: box.width, height: box.height,
      length: el.getTotalLength ? el.getTotalLength() : null,
      children: el.childElementCount};
  });
  var pre = document.createElement('pre');
  pre.id = 'probe';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium not installed (Debian: apt-get install chromium; .ci/run tries this)",
)
def test_chromium_renders_the_report(tmp_path):
    period, samples = simulated(date(2026, 10, 25), step=60_000)  # the 25-hour day
    day = report.collect(samples, period, calendar=BERLIN, interval_sec=60, generated_ms=1)
    text = report.render_html(day, BERLIN)
    # The probe needs inline script, which the report's policy (rightly) forbids.
    probed = text.replace("default-src 'none'", "default-src 'none'; script-src 'unsafe-inline'")
    probe_page = tmp_path / "probe.html"
    probe_page.write_text(probed.replace("</body>", _PROBE + "</body>"), encoding="utf-8")

    def chromium(*args: str, url: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                CHROMIUM or "chromium",
                "--headless",
                "--disable-gpu",
                "--no-sandbox",
                "--no-first-run",
                "--disable-extensions",
                f"--user-data-dir={tmp_path / 'profile'}",
                "--enable-logging=stderr",
                "--v=0",
                *args,
                url.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=8,
            check=False,
        )

    shown = chromium("--dump-dom", url=probe_page)
    assert shown.returncode == 0, shown.stderr[-2000:]
    found = re.search(r'<pre id="probe">(.*?)</pre>', shown.stdout, re.S)
    assert found, shown.stdout[-2000:]
    probe = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert probe["problems"] == []
    assert set(probe["charts"]) == {"chart-temperatures", "chart-operation", "chart-power"}
    assert all(width > 300 and height > 50 for width, height in probe["charts"].values())
    series = probe["series"]
    for key in ("outdoor", "flow", "return", "hot_water", "heat_output"):
        # Laid out across (almost) the whole day, with a real path length.
        assert series[key]["width"] > 800 and series[key]["length"] > 800, key
    for key in ("compressor", "heating_mode"):
        assert series[key]["children"] > 3 and series[key]["width"] > 600, key
    assert series["hot_water_mode"]["children"] >= 1

    # No console message at all: a blocked fetch, a CSP violation or a parse problem
    # would log one. The probe page differs from the report only in allowing inline
    # script, so one browser start checks both, once the report is known to carry none.
    console = [line for line in shown.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []
    assert "<script" not in text.lower() and not re.search(r"\son[a-z]+\s*=", text)
    assert shown.stdout.count("data-series=") == len(parse(text).series())


def test_cards_and_legend_show_the_same_compressor_hours():
    period, samples = simulated(date(2026, 1, 20))
    day = report.collect(samples, period, calendar=BERLIN, interval_sec=30, generated_ms=1)
    text = report.render_html(day, BERLIN)
    card = re.search(r'Compressor hours</div><div class="value">([^<]+)</div>', text)
    legend = re.search(r'</span>Compressor <span class="small">([^<]+)</span>', text)
    assert card and legend, "card or legend missing"
    assert card[1] == legend[1] == f"{day.stats.compressor_hours:.2f} h"
    # The sampled band differs from the counter here, so the test sees which one is shown.
    sampled = next(b for b in day.bands if b.key == "compressor").hours
    assert f"{sampled:.2f} h" != card[1]
