"""`luxlog serve` in a real browser: Playwright driving Debian's Chromium (never
Playwright's own browser download). One server (uvicorn, in a thread, with Basic auth)
and one browser per module; each test opens a fresh context."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from webdata import TODAY, WebData, build

from luxlog.web.security import Credentials, hash_password

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    shutil.which("chromium") is None, reason="Chromium not installed (apt-get install chromium)"
)
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed")
uvicorn = pytest.importorskip("uvicorn", reason="the web extra is not installed")

from luxlog.web.app import create_app  # noqa: E402

USER, PASSWORD = "owner", "correct horse"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Today's Day page and the week are reached by the navigation test and the API tests.
PAGES = {
    "/": [],
    "/day/2026-01-19": ["chart-temperatures", "chart-bands", "chart-power"],
    "/period/season/2026-01-19": ["chart-energy", "chart-starts", "chart-modes", "chart-coverage"],
    "/curve?days=3": ["chart-curve"],
    "/files": [],
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, WebData]]:
    web = build(tmp_path_factory.mktemp("browser"))
    credentials = Credentials(USER, hash_password(PASSWORD, iterations=1000))
    app = create_app(web.settings, credentials=credentials, clock_ms=lambda: web.now_ms)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not instance.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert instance.started
    yield f"http://127.0.0.1:{port}", web
    instance.should_exit = True
    thread.join(5)
    sock.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def context(browser) -> Iterator[object]:
    """One logged-in context for the module: a new one costs ~0.3 s on a busy machine."""
    shared = open_context(browser)
    yield shared
    shared.close()


def open_context(browser, password: str = PASSWORD):
    return browser.new_context(
        http_credentials={"username": USER, "password": password},
        viewport={"width": 1000, "height": 800},
    )


@pytest.mark.parametrize("path", list(PAGES))
def test_page_renders_draws_its_charts_and_stays_on_loopback(context, server, path):
    base, _ = server
    page = context.new_page()
    problems: list[str] = []
    hosts: set[str] = set()
    page.on("console", lambda m: m.type in ("error", "warning") and problems.append(m.text))
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("request", lambda r: hosts.add(urlsplit(r.url).hostname or r.url))
    response = page.goto(base + path)
    assert response is not None and response.status == 200
    charts = PAGES[path]
    if charts:
        for chart in charts:
            page.wait_for_selector(f"#{chart}[data-drawn='1']", timeout=5000)
            assert page.locator(f"#{chart}").get_attribute("data-drawn") == "1", chart
            assert page.locator(f"#{chart} canvas").count() == 1, chart
    elif path == "/":
        page.wait_for_selector("body[data-loaded='1']", timeout=5000)
        assert page.locator("#v-mode").inner_text() not in ("", "\u2013")  # the placeholder dash
        assert "°C" in page.locator("#v-outdoor_c").inner_text()
    else:
        assert page.locator("#files a").count() == 2
    assert page.locator("#error").is_hidden()
    assert problems == []
    assert hosts == {"127.0.0.1"}
    page.close()


def test_day_chart_is_drawn_quickly(context, server):
    base, _ = server
    page = context.new_page()
    page.goto(f"{base}/day/2026-01-19")
    page.wait_for_selector("#chart-power[data-drawn='1']", timeout=5000)
    drawn_ms = page.evaluate("window.luxlogDrawnAt")
    # The budget is 500 ms on a quiet machine (bench/web.py); CI shares 2 cores.
    assert drawn_ms < 2000, drawn_ms
    page.close()


def test_today_has_no_next_day_and_links_to_the_previous_one(context, server):
    base, _ = server
    page = context.new_page()
    page.goto(f"{base}/day/{TODAY}")
    page.wait_for_selector("#chart-power[data-drawn='1']", timeout=5000)
    assert page.locator("#next").is_hidden()  # no day after today
    yesterday = page.locator("#prev").get_attribute("href")
    assert yesterday is not None and yesterday.endswith(f"/day/{TODAY - timedelta(days=1)}")
    page.close()


def test_wrong_credentials_get_401(browser, server):
    base, _ = server
    context = open_context(browser, password="wrong")
    page = context.new_page()
    statuses = []
    page.on("response", lambda r: statuses.append(r.status))
    response = page.goto(base + "/static/luxlog.js")
    assert response is not None and response.status == 401
    assert set(statuses) == {401}
    context.close()
