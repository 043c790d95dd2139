"""`luxlog serve` through Starlette's TestClient against a real cache and real files:
routes, the JSON API, and the security rules."""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner
from webdata import TODAY, WebData, build

from luxlog.cache import Cache
from luxlog.cli import app as cli_app
from luxlog.errors import ConfigError
from luxlog.exitcodes import ExitCode
from luxlog.web import credentials as configured_credentials
from luxlog.web import data
from luxlog.web.security import (
    CSP,
    Credentials,
    check_bind,
    hash_password,
    is_loopback,
    verify_password,
)

starlette = pytest.importorskip("starlette", reason="the web extra is not installed")
from starlette.testclient import TestClient  # noqa: E402

from luxlog.web.app import create_app  # noqa: E402

STATIC = Path(__file__).parent.parent / "luxlog" / "web" / "static"
UPLOT_VERSION = "1.6.32"
UPLOT_SHA256 = {
    "uPlot.iife.min.js": "19c8d4c6ad88929a79f4ae49d6f7161566dfd0ba3d15cc495e974f787eb78f1f",
    "uPlot.min.css": "df630c6a8d6f8eeaff264b50f73ce5b114f646ffd9a0bb74f049b0a00135fa04",
}
# Cheap hashes for tests: the iteration count is part of the hash string.
PASSWORD_HASH = hash_password("s3cret pass", iterations=1000)
runner = CliRunner()


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> WebData:
    return build(tmp_path_factory.mktemp("web"))


@pytest.fixture(scope="module")
def client(web: WebData) -> TestClient:
    return TestClient(create_app(web.settings, clock_ms=lambda: web.now_ms))


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


# -- vendored uPlot ----------------------------------------------------------------------


def test_uplot_is_vendored_pinned_and_unchanged():
    for name, digest in UPLOT_SHA256.items():
        assert hashlib.sha256((STATIC / name).read_bytes()).hexdigest() == digest, name
    assert f"(v{UPLOT_VERSION})" in (STATIC / "uPlot.iife.min.js").read_text()[:80]
    assert "MIT License" in (STATIC / "uPlot.LICENSE").read_text()


# -- pages -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "marker"),
    [
        ("/", 'id="v-mode"'),
        ("/day", f'data-day="{TODAY}"'),
        ("/day/2026-01-19", 'id="chart-temperatures"'),
        ("/period/week", 'data-kind="week"'),
        ("/period/season/2026-01-19", 'id="chart-coverage"'),
        ("/curve", 'id="chart-curve"'),
        ("/files", "2026-01_summary.csv"),
    ],
)
def test_every_page_renders_with_security_headers(client: TestClient, url: str, marker: str):
    response = client.get(url)
    assert response.status_code == 200, response.text
    assert marker in response.text
    assert response.headers["content-security-policy"] == CSP
    assert CSP.startswith("default-src 'self'")
    assert response.headers["x-content-type-options"] == "nosniff"
    # Nothing off the machine and no inline script: CSP would block it anyway.
    assert "http://" not in response.text and "https://" not in response.text
    assert "<script>" not in response.text and " on" + "load=" not in response.text
    assert re.search(r'src="/static/luxlog\.js\?v=[0-9a-f]{12}"', response.text)


def test_static_files_are_cached_by_the_browser(client: TestClient):
    response = client.get("/static/uPlot.iife.min.js?v=x")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "private, max-age=86400"
    assert "cache-control" not in client.get("/api/v1/files").headers


def test_bad_urls_get_one_line_errors(client: TestClient):
    assert client.get("/day/yesterday").status_code == 400
    assert client.get("/period/decade").status_code == 404
    response = client.get("/api/v1/day/2026-13-01")
    assert response.status_code == 400
    assert response.json() == {"error": "not a date: '2026-13-01' (expected YYYY-MM-DD)"}
    assert client.get("/api/v1/day/2027-01-01").status_code == 404
    assert client.get("/api/v1/day/2026-01-19?width=wide").status_code == 400
    assert client.get("/api/v1/curve?days=500").status_code == 400
    summer = client.get("/api/v1/period/season/2026-07-01")
    assert summer.status_code == 404 and "outside the heating season" in summer.json()["error"]


def test_missing_cache_is_a_503_with_the_reason(tmp_path: Path, web: WebData):
    from dataclasses import replace

    settings = replace(web.settings, cache_path=tmp_path / "none.sqlite3")
    client = TestClient(create_app(settings, clock_ms=lambda: web.now_ms))
    response = client.get("/api/v1/day/2026-01-19")
    assert response.status_code == 503
    assert "does not exist" in response.json()["error"]
    assert client.get("/api/v1/now").json()["values"] == {}


# -- the API -----------------------------------------------------------------------------


def test_day_api_is_columnar_decimated_and_gzipped(client: TestClient):
    response = client.get("/api/v1/day/2026-01-19?width=100", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    view = response.json()
    assert view["api"] == 1 and view["timezone"] == "Europe/Berlin"
    assert (view["previous"], view["next"]) == ("2026-01-18", "2026-01-20")
    assert view["end"] - view["start"] == 86400
    temps = {s["key"]: s for s in view["temperatures"]}
    assert set(temps) == {"outdoor", "flow", "return", "hot_water"}
    for series in temps.values():
        assert len(series["t"]) == len(series["v"])
        assert 100 < len(series["t"]) <= 2 * 100 + 5  # 288 samples -> two points a pixel
        assert series["t"] == sorted(series["t"])
        assert all(view["start"] <= t < view["end"] for t in series["t"])
    bands = {b["key"]: b for b in view["bands"]}
    assert bands["compressor"]["spans"] and bands["heating_mode"]["spans"]
    assert view["figures"]["period"] == "2026-01-19" and view["figures"]["heat_kwh"] > 0
    assert view["figures_from"] == "summary"  # a finished day: its stored row
    assert view["gaps"] == []
    full = client.get("/api/v1/day/2026-01-19?width=4000").json()
    assert len(full["temperatures"][0]["t"]) == 288  # no decimation when it fits


def test_today_has_no_next_day(client: TestClient):
    view = client.get(f"/api/v1/day/{TODAY}").json()
    assert view["next"] is None
    assert view["figures_from"] == "statistics" and view["figures"]["heat_kwh"] > 0
    assert view["gaps"] == []  # the last sample is one poll old: not a gap yet
    assert max(view["temperatures"][0]["t"]) < view["start"] + 12 * 3600


def test_gaps_follow_the_statistics_rule():
    from luxlog.sample import Sample

    finder = data._GapFinder(1_000_000, 2_000_000, interval_sec=10)  # gap: > 30 s
    times = [900_000, 1_000_000, 1_030_000, 1_061_000, 1_500_000, 1_900_000]
    seen = [s.timestamp_ms for s in finder.watch(Sample(t, "h", (), ()) for t in times)]
    assert seen == times  # passes every sample through
    assert finder.spans == [
        (1_030_000, 1_061_000),
        (1_061_000, 1_500_000),
        (1_500_000, 1_900_000),
        (1_900_000, 2_000_000),
    ]


def test_decimation_keeps_extremes_in_time_order():
    points = [(t, float((t * 7919) % 101)) for t in range(10_000)]
    points[5_000] = (5_000, 1000.0)
    points[7_000] = (7_000, -1000.0)
    out = data.decimate(points, 0, 10_000, 50)
    assert len(out) <= 100
    assert (5_000, 1000.0) in out and (7_000, -1000.0) in out
    assert [t for t, _ in out] == sorted(t for t, _ in out)
    assert data.decimate(points[:10], 0, 10, 50) == points[:10]


def test_period_days_without_a_summary_file_read_the_stored_day_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # Month summaries are CSVs and pruned with them; the cache keeps each finished day's
    # figures, so the Period page reads those instead of the samples of the month.
    from luxlog import dayfigures, stats

    web = build(tmp_path)
    for summary in web.settings.output_dirs[0].glob("*summary*"):
        summary.unlink()
    computed: list[str] = []
    real = dayfigures.day_figures

    def spy(samples, days, **options):
        computed.extend(day.label for day in days)
        return real(samples, days, **options)

    monkeypatch.setattr(dayfigures, "day_figures", spy)
    with Cache.open(web.settings.cache_path, readonly=True) as cache:
        view = data.period_view(cache, web.settings, "month", TODAY, now_ms=web.now_ms)
    assert view["source"] == "cache"
    # The days with samples that are over were stored by `rollup due`: not computed.
    assert str(TODAY) in computed and not {"2026-01-18", "2026-01-19"} & set(computed)
    yesterday = TODAY - timedelta(days=1)
    (row,) = stats.compute(web.settings, first=yesterday, last=yesterday, now_ms=web.now_ms)
    assert view["days"]["heat_kwh"][18] == row.heat_kwh


def test_period_cop_is_over_the_hours_both_were_known():
    # A day whose energy-input counters appeared at noon (issue 13): 44 kWh heat all day,
    # 6.2 kWh electricity from noon, over which 20.1 kWh heat were made. Its whole heat
    # over its electricity would give the period a COP of 7; the span-aware one is 3.2.
    noon = {"heat_kwh": 44.0, "electricity_kwh": 6.2, "cop_heat_kwh": 20.1}
    noon["cop_electricity_kwh"] = 6.2
    full = {"heat_kwh": 40.0, "electricity_kwh": 12.5, "cop_heat_kwh": 40.0}
    full["cop_electricity_kwh"] = 12.5
    rows = [data._empty_row(data.parse_day("2026-01-0" + str(d))) for d in (1, 2, 3)]
    rows[0].update(noon)
    rows[1].update(full)  # the third day has no figures at all
    totals = data._totals(rows)
    assert totals["cop"] == round((20.1 + 40.0) / (6.2 + 12.5), 2) == 3.21  # not 4.49
    assert (totals["heat_kwh"], totals["electricity_kwh"]) == (84.0, 18.7)


def test_period_api_reads_summaries_and_computes_only_today(client: TestClient, web: WebData):
    view = client.get("/api/v1/period/month/2026-01-19").json()
    days = view["days"]
    assert days["period"][:3] == ["2026-01-01", "2026-01-02", "2026-01-03"]
    assert days["period"][-1] == str(TODAY)  # not beyond "now"
    assert view["source"] == "summaries+cache"
    assert len(days["t"]) == len(days["heat_kwh"]) == 20
    assert days["coverage_pct"][0] == 0.0 and days["heat_kwh"][0] is None  # before the cache
    assert days["heat_kwh"][18] > 0 and days["compressor_starts"][18] > 0
    totals = view["totals"]
    assert totals["heat_kwh"] == pytest.approx(sum(v for v in days["heat_kwh"] if v), abs=0.05)
    # The summary's figures are the statistics' figures.
    from luxlog import stats

    (row,) = stats.compute(
        web.settings,
        first=data.parse_day("2026-01-19"),
        last=data.parse_day("2026-01-19"),
        now_ms=web.now_ms,
    )
    assert days["heat_kwh"][18] == row.heat_kwh
    assert days["compressor_starts"][18] == row.compressor_starts
    assert view["previous"] == "2025-12-31" and view["next"] is None


def test_period_from_german_summaries(tmp_path: Path, web: WebData):
    from dataclasses import replace

    from luxlog import stats

    settings = replace(web.settings, csv_profile="excel-de", output_dirs=(tmp_path / "de",))
    (tmp_path / "de").mkdir()
    stats.write_month_summaries(settings, data.parse_day("2026-01-18"), TODAY, now_ms=web.now_ms)
    assert ";" in (tmp_path / "de" / "2026-01_summary.csv").read_text(encoding="utf-8-sig")
    german = data.period_view(
        None, settings, "week", data.parse_day("2026-01-19"), now_ms=web.now_ms
    )
    english = data.period_view(
        None, web.settings, "week", data.parse_day("2026-01-19"), now_ms=web.now_ms
    )
    assert german["days"]["heat_kwh"] == english["days"]["heat_kwh"]
    assert german["days"]["cop"] == english["days"]["cop"]
    assert german["source"] == "summaries"


def test_curve_api_bins_heating_samples_by_outdoor_temperature(client: TestClient):
    view = client.get("/api/v1/curve?days=3&last=2026-01-20").json()
    assert view["outdoor_c"] == sorted(view["outdoor_c"]) and len(view["outdoor_c"]) > 3
    n = len(view["outdoor_c"])
    assert len(view["flow_c"]) == len(view["return_c"]) == len(view["return_target_c"]) == n
    assert all(s > 0 for s in view["samples"])
    assert all(15 < v < 70 for v in view["return_target_c"])


def test_now_api(client: TestClient, web: WebData):
    view = client.get("/api/v1/now").json()
    assert view["sample_time"] is not None and view["age_sec"] <= 300
    assert isinstance(view["values"]["mode"], str)
    assert -30 < view["values"]["outdoor_c"] < 40
    assert isinstance(view["reasons"], list) and view["healthy"] is (not view["reasons"])


# -- files -------------------------------------------------------------------------------


def test_files_are_listed_and_downloadable(client: TestClient, web: WebData):
    listing = client.get("/api/v1/files").json()["files"]
    names = {f["name"]: f for f in listing}
    assert set(names) == {"2026-01-19_daily.csv", "2026-01_summary.csv"}  # no temp file
    assert names["2026-01_summary.csv"]["kind"] == "summary"
    response = client.get(names["2026-01-19_daily.csv"]["url"])
    assert response.status_code == 200 and response.text.startswith("time,flow")
    assert "attachment" in response.headers["content-disposition"]


@pytest.mark.parametrize(
    "url",
    [
        "/files/0/..%2Fcache.sqlite3",
        "/files/0/../cache.sqlite3",
        "/files/0/%2e%2e%2fcache.sqlite3",
        "/files/0/.2026-01-20_daily.csv.tmp",
        "/files/1/2026-01-19_daily.csv",
        "/files/0/link.csv",
        "/files/0/nothing.csv",
        "/static/../cache.sqlite3",
        "/static/%2e%2e/web/app.py",
    ],
)
def test_downloads_cannot_escape_the_output_folders(client: TestClient, web: WebData, url: str):
    link = web.settings.output_dirs[0] / "link.csv"
    if not link.is_symlink():
        link.symlink_to(web.settings.cache_path)
    response = client.get(url)
    assert response.status_code == 404
    assert b"SQLite" not in response.content


# -- security ----------------------------------------------------------------------------


def test_password_hashes():
    encoded = hash_password("pw", iterations=1000)
    assert encoded.startswith("pbkdf2_sha256:1000:")
    assert verify_password("pw", encoded) and not verify_password("pW", encoded)
    assert hash_password("pw", iterations=1000) != encoded  # salted
    assert not verify_password("pw", "md5:1:x:y") and not verify_password("pw", "garbage")


def test_bind_rules():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("pi.local")
    check_bind("127.0.0.1", None)
    check_bind("0.0.0.0", Credentials("luxlog", PASSWORD_HASH))
    with pytest.raises(ConfigError, match="refusing to listen beyond this machine"):
        check_bind("0.0.0.0", None)


def test_auth_covers_pages_api_static_and_downloads(web: WebData):
    creds = Credentials("luxlog", PASSWORD_HASH)
    client = TestClient(create_app(web.settings, credentials=creds, clock_ms=lambda: web.now_ms))
    urls = ["/", "/api/v1/files", "/static/luxlog.js", "/files/0/2026-01-19_daily.csv"]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 401, url
        assert response.headers["www-authenticate"].startswith("Basic")
        assert response.headers["content-security-policy"] == CSP
        assert client.get(url, headers=basic("luxlog", "wrong")).status_code == 401
        assert client.get(url, headers=basic("admin", "s3cret pass")).status_code == 401
        assert client.get(url, headers={"Authorization": "Basic !!"}).status_code == 401
        assert client.get(url, headers={"Authorization": "Bearer x"}).status_code == 401
        assert client.get(url, headers=basic("luxlog", "s3cret pass")).status_code == 200, url


def test_serve_cli_refuses_a_public_bind_without_password(tmp_path: Path):
    result = runner.invoke(cli_app, ["--data-dir", str(tmp_path), "serve", "--host", "0.0.0.0"])
    assert result.exit_code == ExitCode.CONFIG, result.output


def test_serve_cli_hashes_a_password_for_the_config(tmp_path: Path, monkeypatch):
    result = runner.invoke(cli_app, ["serve", "--hash-password"], input="horse battery\n")
    assert result.exit_code == 0, result.output
    encoded = result.output.strip()
    assert verify_password("horse battery", encoded)
    monkeypatch.setenv("LUXLOG_WEB_PASSWORD_HASH", encoded)
    monkeypatch.setenv("LUXLOG_WEB_USER", "owner")
    from luxlog import config

    settings = config.load(None)
    assert configured_credentials(settings) == Credentials("owner", encoded)
    assert settings.as_dict()["web_password_hash"] == "(set)"
    empty = runner.invoke(cli_app, ["serve", "--hash-password"], input="\n")
    assert empty.exit_code == ExitCode.USAGE


def test_a_malformed_password_hash_is_a_config_error(monkeypatch):
    monkeypatch.setenv("LUXLOG_WEB_PASSWORD_HASH", "hunter2")
    result = runner.invoke(cli_app, ["serve"])
    assert result.exit_code == ExitCode.CONFIG
    assert "web_password_hash: must be a hash" in result.output


def test_gzip_bodies_are_real_gzip(client: TestClient):
    url = "/api/v1/period/month/2026-01-19"
    with client.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as response:
        wire = b"".join(response.iter_raw())
    assert wire[:2] == b"\x1f\x8b"  # what travelled was gzip, and smaller
    plain = gzip.decompress(wire)
    assert plain.startswith(b'{"api":1') and len(wire) < len(plain) / 2


def test_a_read_only_data_volume_is_opened_immutable(tmp_path: Path, web: WebData, monkeypatch):
    import os
    import shutil
    from dataclasses import replace

    # A copy of the cache in WAL mode without its -shm file, in a folder this process
    # "cannot write" (root ignores permissions, so os.access is what the code asks).
    folder = tmp_path / "ro"
    folder.mkdir()
    shutil.copy(web.settings.cache_path, folder / "cache.sqlite3")
    settings = replace(web.settings, cache_path=folder / "cache.sqlite3")
    real_access = os.access
    asked: list[Path] = []

    def access(path, mode, **kwargs):
        if Path(path) == folder and mode == os.W_OK:
            asked.append(Path(path))
            return False
        return real_access(path, mode, **kwargs)

    monkeypatch.setattr(data.os, "access", access)
    with data.open_cache(settings) as cache:
        assert cache.count() > 0
    assert asked == [folder]
    assert not (folder / "cache.sqlite3-shm").exists()  # immutable: nothing created


def test_browsing_changes_nothing_on_disk(web: WebData):
    import hashlib as h

    def snapshot() -> dict[str, tuple[int, str]]:
        root = web.settings.data_dir
        return {
            str(p.relative_to(root)): (p.stat().st_mtime_ns, h.sha256(p.read_bytes()).hexdigest())
            for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.endswith(("-shm", "-wal"))
        }

    before = snapshot()
    client = TestClient(create_app(web.settings, clock_ms=lambda: web.now_ms))
    for url in ("/", "/files", "/api/v1/now", "/api/v1/day/2026-01-19", "/api/v1/files"):
        assert client.get(url).status_code == 200, url
    for url in ("/api/v1/period/season/2026-01-19", "/api/v1/curve?days=2"):
        assert client.get(url).status_code == 200, url
    assert snapshot() == before
