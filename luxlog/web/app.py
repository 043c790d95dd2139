"""The Starlette app of ``luxlog serve``: routes that parse a URL, call :mod:`.data`, and
serialise. Nothing here writes: the cache is opened read-only per request (a flush may
be writing; WAL lets both proceed), and files are only ever read.

Pages are static HTML shells; the charts fetch ``/api/v1/...`` from ``luxlog.js``, so the
API the pages use is the API scripts use, and no inline script is needed (CSP
``default-src 'self'``).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from luxlog import __version__, stats
from luxlog.clock import now_ms as now_ms_clock
from luxlog.errors import LuxlogError, StorageError
from luxlog.web import data
from luxlog.web.files import download_path, list_files
from luxlog.web.security import Credentials, SecurityMiddleware

if TYPE_CHECKING:
    from jinja2 import Environment

    from luxlog.cache import Cache
    from luxlog.config import Settings

HERE = Path(__file__).parent
PERIOD_KINDS = ("week", "month", "season")
PAGES: tuple[tuple[str, str, str], ...] = (
    ("now", "/", "Now"),
    ("day", "/day", "Day"),
    ("period", "/period/week", "Period"),
    ("curve", "/curve", "Heating curve"),
    ("files", "/files", "Files"),
)


class _Views:
    """The routes' shared state: settings, clock and templates; no per-request state."""

    def __init__(
        self, settings: Settings, clock_ms: Callable[[], int], templates: Environment
    ) -> None:
        self.settings = settings
        self.clock_ms = clock_ms
        self.templates = templates
        self.calendar = stats.Calendar.from_settings(settings)
        digest = hashlib.sha256()
        for path in sorted((HERE / "static").iterdir()):
            digest.update(path.read_bytes())
        self.assets = digest.hexdigest()[:12]

    def cache(self) -> AbstractContextManager[Cache]:
        return data.open_cache(self.settings)

    def today(self) -> date:
        return self.calendar.local_date(self.clock_ms())

    def page(self, name: str, **context: Any) -> HTMLResponse:
        template = self.templates.get_template(f"{name}.html")
        html = template.render(
            page=name, pages=PAGES, version=__version__, assets=self.assets, **context
        )
        return HTMLResponse(html)

    # -- pages ------------------------------------------------------------------------

    def now_page(self, request: Request) -> Response:
        return self.page("now")

    def day_page(self, request: Request) -> Response:
        day = request.path_params.get("day") or self.today().isoformat()
        data.parse_day(day)
        return self.page("day", day=day)

    def period_page(self, request: Request) -> Response:
        kind = _kind(request.path_params["kind"])
        day = request.path_params.get("day") or self.today().isoformat()
        data.parse_day(day)
        return self.page("period", kind=kind, day=day, kinds=PERIOD_KINDS)

    def curve_page(self, request: Request) -> Response:
        return self.page("curve", last=self.today().isoformat())

    def files_page(self, request: Request) -> Response:
        files = list_files(self.settings)
        folders = [str(folder) for folder in self.settings.output_dirs]
        return self.page("files", files=files, folders=folders, when=_when)

    def download(self, request: Request) -> Response:
        path = download_path(
            self.settings, int(request.path_params["folder"]), request.path_params["name"]
        )
        media = "text/csv; charset=utf-8" if path.suffix == ".csv" else None
        if path.suffix == ".html":
            media = "text/html; charset=utf-8"
        return FileResponse(path, media_type=media, filename=path.name)

    # -- API --------------------------------------------------------------------------

    def api_now(self, request: Request) -> Response:
        return JSONResponse(data.now_view(self.settings, now_ms=self.clock_ms()))

    def api_day(self, request: Request) -> Response:
        day = data.parse_day(request.path_params["day"])
        width = _int_param(request, "width")
        with self.cache() as cache:
            view = data.day_view(cache, self.settings, day, now_ms=self.clock_ms(), width=width)
        return JSONResponse(view)

    def api_period(self, request: Request) -> Response:
        kind = _kind(request.path_params["kind"])
        day = data.parse_day(request.path_params["day"])
        with self.cache() as cache:
            view = data.period_view(cache, self.settings, kind, day, now_ms=self.clock_ms())
        return JSONResponse(view)

    def api_curve(self, request: Request) -> Response:
        last_text = request.query_params.get("last")
        last = data.parse_day(last_text) if last_text else self.today()
        days = _int_param(request, "days") or 14
        with self.cache() as cache:
            view = data.curve_view(cache, self.settings, last, days=days, now_ms=self.clock_ms())
        return JSONResponse(view)

    def api_files(self, request: Request) -> Response:
        files = [asdict(f) for f in list_files(self.settings)]
        for item in files:
            item["url"] = f"/files/{item['folder']}/{item['name']}"
        return JSONResponse({"api": data.API_VERSION, "files": files})


class _Cached:
    """Static files cached by the browser for a day: pages name them with ``?v=<hash of
    the static files>``, so a changed file is fetched at once and a page view costs one
    request."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def send_cached(message: Any) -> None:
            if message["type"] == "http.response.start" and message["status"] == 200:
                message["headers"] = [
                    *message.get("headers", []),
                    (b"cache-control", b"private, max-age=86400"),
                ]
            await send(message)

        await self.app(scope, receive, send_cached)


def _when(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))


def _kind(text: str) -> stats.PeriodKind:
    if text not in PERIOD_KINDS:
        raise data.NotFound(f"no period {text!r} (week, month or season)")
    kind: stats.PeriodKind = text  # type: ignore[assignment]
    return kind


def _int_param(request: Request, name: str) -> int | None:
    text = request.query_params.get(name)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise data.BadRequest(f"{name} must be a whole number (got {text!r})") from None


def _error(request: Request, exc: Exception) -> Response:
    """One line for a human or a script; the API gets JSON, a page plain text."""
    status = 500
    if isinstance(exc, data.NotFound):
        status = 404
    elif isinstance(exc, data.BadRequest):
        status = 400
    elif isinstance(exc, StorageError):
        status = 503  # no cache yet, or locked/corrupt: the page says why
    message = str(exc) if isinstance(exc, LuxlogError) else "internal error (see the log)"
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": message}, status_code=status)
    return Response(message + "\n", status_code=status, media_type="text/plain; charset=utf-8")


def create_app(
    settings: Settings,
    *,
    credentials: Credentials | None = None,
    clock_ms: Callable[[], int] = now_ms_clock,
) -> Any:
    """The whole ASGI app, security middleware outermost (so it covers everything)."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    templates = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True),
        auto_reload=False,
    )
    views = _Views(settings, clock_ms, templates)
    routes = [
        Route("/", views.now_page),
        Route("/day", views.day_page),
        Route("/day/{day}", views.day_page),
        Route("/period/{kind}", views.period_page),
        Route("/period/{kind}/{day}", views.period_page),
        Route("/curve", views.curve_page),
        Route("/files", views.files_page),
        Route("/files/{folder:int}/{name}", views.download),
        Route("/api/v1/now", views.api_now),
        Route("/api/v1/day/{day}", views.api_day),
        Route("/api/v1/period/{kind}/{day}", views.api_period),
        Route("/api/v1/curve", views.api_curve),
        Route("/api/v1/files", views.api_files),
        Mount("/static", app=_Cached(StaticFiles(directory=HERE / "static")), name="static"),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={LuxlogError: _error, Exception: _error},
    )
    return SecurityMiddleware(GZipMiddleware(app, minimum_size=500), credentials)


def serve(settings: Settings, *, host: str, port: int, credentials: Credentials | None) -> None:
    """Run the server until interrupted; refuses an unsafe bind first."""
    import uvicorn

    from luxlog.web.security import check_bind

    check_bind(host, credentials)
    uvicorn.run(
        create_app(settings, credentials=credentials),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        server_header=False,
    )
