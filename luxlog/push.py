"""``luxlog push``: every sample newer than the cursor, to a time-series database.

A push is a product whose window is "since the cursor": the samples after the last one
the target confirmed, as InfluxDB line protocol (:mod:`luxlog.export`), in batches of
about ``batch_bytes``, POSTed to ``push_url`` (InfluxDB 1.x ``/write?db=...``, 2.x
``/api/v2/write?org=...&bucket=...`` with ``push_token``, VictoriaMetrics ``/write``).

Why nothing is lost or doubled
    The cursor (the last pushed sample's epoch milliseconds) lives in the cache's
    ``state`` table and moves only after the target answered 2xx for a batch. A crash or
    SIGKILL between the target's write and the cursor's update re-sends that batch next
    time; its points have the same series (measurement + tags) and the same timestamp,
    which InfluxDB overwrites and VictoriaMetrics (with ``-dedup.minScrapeInterval``)
    collapses, so a re-send never doubles a point. The cursor is kept per target (a hash
    of the URL), so pointing ``push_url`` somewhere new starts that target from the
    first cached sample.

Failures
    Connection errors, timeouts, 429 and 5xx are retried (``retries`` times per batch,
    back-off 0.5 s, 1 s, 2 s, ...), all inside ``push_budget_sec``; other 4xx answers
    (bad database, bad token, refused data) cannot get better by waiting and stop the
    run at once. Either way the cursor stays put, the error is noted for ``status``, and
    the run exits 8; the next run starts at the cursor and catches up.

Secrets
    ``push_token`` is sent as ``Authorization: Token ...`` (InfluxDB 2.x; 1.8+ also takes
    ``user:password`` that way), user:password in the URL as basic auth. Neither
    appears in any message: URLs are shown without user info and without ``u``, ``p`` or
    ``token`` query parameters. TLS certificates are verified (the system's CAs).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from luxlog.clock import now_ms as now_ms_clock
from luxlog.errors import ConfigError, LuxlogError
from luxlog.exitcodes import ExitCode

if TYPE_CHECKING:
    from luxlog.cache import Cache
    from luxlog.config import Settings
    from luxlog.export import Pieces

log = logging.getLogger("luxlog")

BATCH_BYTES = 4 << 20  # well under InfluxDB's 25 MB and VictoriaMetrics' 32 MB body limits
REQUEST_TIMEOUT_SEC = 30.0
FIRST_BACKOFF_SEC = 0.5
MAX_BACKOFF_SEC = 30.0
_SECRET_PARAMS = {"u", "p", "password", "token", "authorization"}
_NO_END = 2**62

STATE_PREFIX = "push.cursor."
STATE_ERROR = "push.last_error"
STATE_SUCCESS = "push.last_success"


class PushError(LuxlogError):
    """The target could not be reached or refused a batch; the cursor did not move."""

    exit_code = ExitCode.PUSH


def redact(url: str) -> str:
    """``url`` as it may be shown: no user info, no credential query parameters."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    shown = urlencode([(k, "***" if k.lower() in _SECRET_PARAMS else v) for k, v in query])
    return urlunsplit((parts.scheme, netloc, parts.path, shown, ""))


def write_url(url: str) -> str:
    """``url`` with ``precision=s`` (line protocol timestamps are in seconds) and without
    user info (sent as a header instead)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "precision"]
    query.append(("precision", "s"))
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query), ""))


def cursor_key(url: str) -> str:
    """The state key of ``url``'s cursor: one per target, whatever the credentials."""
    digest = hashlib.sha256(write_url(url).encode("utf-8")).hexdigest()[:16]
    return STATE_PREFIX + digest


def read_cursor(cache: Cache, url: str) -> int | None:
    """Epoch ms of the last sample ``url`` confirmed, or ``None`` (nothing pushed yet)."""
    text = cache.get_state(cursor_key(url))
    if not text:
        return None
    try:
        return int(json.loads(text)["last_ms"])
    except (ValueError, KeyError, TypeError):
        return None


def _save_cursor(cache: Cache, url: str, last_ms: int) -> None:
    cache.set_state(cursor_key(url), json.dumps({"target": redact(url), "last_ms": last_ms}))


@dataclass
class PushResult:
    """What one run sent: samples covered, lines and batches confirmed, the new cursor."""

    target: str
    samples: int = 0
    lines: int = 0
    batches: int = 0
    cursor_ms: int | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class _Answer:
    ok: bool
    retry: bool
    reason: str


class _Sender:
    """POSTs batches to the target: gzip, auth header, TLS verified."""

    def __init__(self, settings: Settings) -> None:
        import base64
        import ssl

        self.url = write_url(settings.push_url)
        self.shown = redact(settings.push_url)
        self.headers = {
            "Content-Type": "text/plain; charset=utf-8",
            "Content-Encoding": "gzip",
            "User-Agent": "luxlog",
        }
        parts = urlsplit(settings.push_url)
        if settings.push_token:
            self.headers["Authorization"] = f"Token {settings.push_token}"
        elif parts.username is not None:
            pair = f"{parts.username}:{parts.password or ''}".encode()
            self.headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        self.context = ssl.create_default_context() if parts.scheme == "https" else None
        # gzip pays over a network (a tenth of the bytes); to a database on this machine
        # it only costs CPU that the database needs for ingesting.
        self.gzip = not _loopback(parts.hostname or "")
        if not self.gzip:
            del self.headers["Content-Encoding"]

    def send(self, body: bytes, timeout: float) -> _Answer:
        import urllib.error
        import urllib.request

        data = body
        if self.gzip:
            # Level 1: a tenth of the bytes for a few ms of CPU per megabyte.
            packer = zlib.compressobj(1, zlib.DEFLATED, 31)
            data = packer.compress(body) + packer.flush()
        request = urllib.request.Request(self.url, data=data, headers=self.headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=self.context) as reply:
                reply.read()
                return _Answer(True, False, f"HTTP {reply.status}")
        except urllib.error.HTTPError as exc:
            detail = _first_line(exc.read(500))
            code = exc.code
            reason = f"HTTP {code}" + (f": {detail}" if detail else "")
            return _Answer(False, code == 429 or code >= 500, reason)
        except urllib.error.URLError as exc:
            cause = exc.reason
            text = getattr(cause, "strerror", None) or str(cause)
            return _Answer(False, True, f"cannot connect: {text}")
        except (TimeoutError, OSError) as exc:
            return _Answer(False, True, f"no answer: {exc.strerror or exc}")


def _loopback(host: str) -> bool:
    """True for localhost and loopback addresses (no name lookup)."""
    import ipaddress

    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _first_line(data: bytes) -> str:
    text = data.decode("utf-8", "replace").strip()
    try:  # InfluxDB answers {"error": "..."}
        parsed = json.loads(text)
        if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
            text = parsed["error"]
    except ValueError:
        pass
    return text.splitlines()[0][:200] if text else ""


def _batches(pieces: Iterator[Pieces], batch_bytes: int) -> Iterator[tuple[int, list[bytes], int]]:
    """``(last timestamp ms, body pieces, lines)`` of about ``batch_bytes`` each."""
    batch: list[bytes] = []
    size = lines = 0
    last_ms: int | None = None
    for timestamp_ms, head, steady, tail in pieces:
        last_ms = timestamp_ms
        if head:
            batch += (head, steady, tail)
            size += len(head) + len(steady) + len(tail)
            lines += 1
        if size >= batch_bytes:
            yield timestamp_ms, batch, lines
            batch, size, lines, last_ms = [], 0, 0, None
    if last_ms is not None:
        yield last_ms, batch, lines


def push(
    settings: Settings,
    *,
    batch_bytes: int = BATCH_BYTES,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    now_ms: Callable[[], int] = now_ms_clock,
) -> PushResult:
    """Send every cached sample after the cursor; raise ``PushError`` when a batch
    cannot be delivered within the budget (earlier batches stay confirmed)."""
    from luxlog.cache import Cache
    from luxlog.export import Counter, count_frames, device_name, influx_pieces, selection_for

    if not settings.push_url:
        raise ConfigError(["push_url: not set (the target's write URL, e.g. LUXLOG_PUSH_URL)"])
    began = clock()
    deadline = began + settings.push_budget_sec
    sender = _Sender(settings)
    result = PushResult(target=sender.shown)
    if not settings.cache_path.exists():
        log.info("push: no cache yet at %s, nothing to send", settings.cache_path)
        return result
    with Cache.open(settings.cache_path) as cache:
        cursor = read_cursor(cache, settings.push_url)
        result.cursor_ms = cursor
        start = -(2**62) if cursor is None else cursor + 1
        counter = Counter()
        pieces = influx_pieces(
            count_frames(cache.frames(start, _NO_END), counter),
            selection=selection_for(settings),
            device=device_name(settings),
            site=settings.site,
        )
        # One batch in flight while the next is rendered (the database ingests on
        # another core meanwhile); the cursor moves in this thread, in order, only
        # after the target confirmed.
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="luxlog-push")
        pending: tuple[Future[_Answer] | None, int, int] | None = None

        def confirm(item: tuple[Future[_Answer] | None, int, int]) -> None:
            nonlocal start
            future, last_ms, lines = item
            if future is not None:
                answer = future.result()
                if not answer.ok:
                    backlog = cache.count(start, None)
                    message = (
                        f"push to {sender.shown} failed: {answer.reason}; cursor unchanged, "
                        f"{backlog} sample(s) wait for the next run"
                    )
                    cache.set_state(STATE_ERROR, json.dumps({"at_ms": now_ms(), "error": message}))
                    raise PushError(message)
                result.batches += 1
            _save_cursor(cache, settings.push_url, last_ms)
            result.lines += lines
            result.cursor_ms = last_ms
            start = last_ms + 1

        try:
            for last_ms, batch, lines in _batches(pieces, batch_bytes):
                body = b"".join(batch) if batch else None
                if pending is not None:
                    confirm(pending)
                future = None
                if body is not None:
                    future = pool.submit(_deliver, sender, body, settings, deadline, clock, sleep)
                pending = (future, last_ms, lines)
            if pending is not None:
                confirm(pending)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        result.samples = counter.samples
        cache.set_state(STATE_SUCCESS, json.dumps({"at_ms": now_ms()}))
        cache.set_state(STATE_ERROR, "")
    result.seconds = clock() - began
    return result


def _deliver(
    sender: _Sender,
    body: bytes,
    settings: Settings,
    deadline: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> _Answer:
    """One batch, retried with back-off while the budget lasts."""
    delay = FIRST_BACKOFF_SEC
    attempt = 0
    while True:
        attempt += 1
        left = deadline - clock()
        if left <= 0:
            return _Answer(False, False, "time budget (push_budget_sec) used up")
        answer = sender.send(body, timeout=min(REQUEST_TIMEOUT_SEC, left))
        if answer.ok:
            return answer
        total = settings.retries + 1
        log.warning("push to %s, attempt %d/%d: %s", sender.shown, attempt, total, answer.reason)
        if not answer.retry or attempt >= total:
            return _Answer(False, False, f"{answer.reason} (after {attempt} attempt(s))")
        if clock() + delay >= deadline:
            return _Answer(
                False,
                False,
                f"{answer.reason} (push_budget_sec used up after {attempt} attempt(s))",
            )
        sleep(delay)
        delay = min(delay * 2, MAX_BACKOFF_SEC)


@dataclass(frozen=True)
class PushStatus:
    """What ``status`` shows about pushing: target, cursor, backlog, last error."""

    target: str
    cursor_ms: int | None
    backlog: int
    last_success_ms: int | None
    last_error: str | None
    last_error_ms: int | None

    def to_json(self) -> dict[str, Any]:
        """The ``push`` part of ``status --json``."""
        from datetime import UTC, datetime

        def iso(ms: int | None) -> str | None:
            if ms is None:
                return None
            return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")

        return {
            "target": self.target,
            "cursor": iso(self.cursor_ms),
            "backlog_samples": self.backlog,
            "last_success": iso(self.last_success_ms),
            "last_error": None
            if self.last_error is None
            else {"at": iso(self.last_error_ms), "error": self.last_error},
        }


def push_status(settings: Settings) -> PushStatus | None:
    """Read-only push bookkeeping; ``None`` without ``push_url``."""
    from luxlog.cache import Cache

    if not settings.push_url:
        return None
    target = redact(settings.push_url)
    if not settings.cache_path.exists():
        return PushStatus(target, None, 0, None, None, None)
    with Cache.open(settings.cache_path, readonly=True, busy_timeout_sec=2.0) as cache:
        cursor = read_cursor(cache, settings.push_url)
        backlog = cache.count(-(2**62) if cursor is None else cursor + 1, None)
        success = _state_ms(cache.get_state(STATE_SUCCESS))
        error_text = cache.get_state(STATE_ERROR)
    error: str | None = None
    error_ms: int | None = None
    if error_text:
        try:
            parsed = json.loads(error_text)
            error, error_ms = str(parsed["error"]), int(parsed["at_ms"])
        except (ValueError, KeyError, TypeError):
            error = None
    return PushStatus(target, cursor, backlog, success, error, error_ms)


def _state_ms(text: str | None) -> int | None:
    if not text:
        return None
    try:
        return int(json.loads(text)["at_ms"])
    except (ValueError, KeyError, TypeError):
        return None


def push_json(settings: Settings) -> dict[str, Any]:
    """The ``push`` part of ``status --json``; an unreadable cache is said, not raised."""
    try:
        found = push_status(settings)
    except LuxlogError as exc:
        return {"target": redact(settings.push_url), "error": str(exc)}
    return {} if found is None else found.to_json()
