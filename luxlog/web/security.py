"""The rules that keep ``luxlog serve`` safe to leave running.

* It binds 127.0.0.1 unless told otherwise; any other address is refused unless HTTP
  Basic credentials are configured (:func:`check_bind`), because the pages show when the
  house is heated and the files name the heat pump's address.
* The password is stored only as a salted PBKDF2 hash (no extra dependency: ``hashlib``)
  and compared in constant time. A correct header is remembered by its SHA-256 so that
  the ~20 requests of one page view do not each pay for 200,000 PBKDF2 rounds.
* Authentication wraps the whole ASGI app, so static files and downloads are covered.
* Every response carries ``Content-Security-Policy: default-src 'self'``: no inline
  script, no CDN, no request leaving the machine even if a template went wrong.

Pure standard library: importing this module costs nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from luxlog.errors import ConfigError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

ALGORITHM = "pbkdf2_sha256"
ITERATIONS = 200_000  # ~0.1 s on a Raspberry Pi 4: once per browser session, not per request

CSP = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)


def hash_password(password: str, *, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """``pbkdf2_sha256:<iterations>:<salt b64>:<hash b64>`` for the config or environment.

    Colons, not Django's dollars: Docker Compose interpolates ``$`` in ``.env`` files.
    """
    salt = secrets.token_bytes(16) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    b64 = base64.b64encode
    return f"{ALGORITHM}:{iterations}:{b64(salt).decode()}:{b64(digest).decode()}"


def verify_password(password: str, encoded: str) -> bool:
    """True if ``password`` matches ``encoded``; a malformed hash matches nothing."""
    try:
        algorithm, iterations, salt, expected = encoded.split(":")
        if algorithm != ALGORITHM:
            return False
        digest = hashlib.pbkdf2_hmac(
            "sha256", password.encode(), base64.b64decode(salt), int(iterations)
        )
        return hmac.compare_digest(digest, base64.b64decode(expected))
    except (ValueError, binascii.Error):
        return False


@dataclass(frozen=True)
class Credentials:
    """Who may look: one user and a password hash."""

    user: str
    password_hash: str


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def check_bind(host: str, credentials: Credentials | None) -> None:
    """Refuse a non-loopback bind without authentication (a ``ConfigError``: exit 3)."""
    if credentials is None and not is_loopback(host):
        raise ConfigError(
            [
                f"serve --host {host}: refusing to listen beyond this machine without a "
                "password; set web_password_hash (LUXLOG_WEB_PASSWORD_HASH) from "
                "`luxlog serve --hash-password`"
            ]
        )


class SecurityMiddleware:
    """Security headers on every response, and HTTP Basic in front of everything."""

    def __init__(self, app: ASGIApp, credentials: Credentials | None) -> None:
        self.app = app
        self.credentials = credentials
        # SHA-256 of Authorization headers that verified: bounded, per process.
        self._verified: set[bytes] = set()

    def _authorised(self, scope: Scope) -> bool:
        credentials = self.credentials
        if credentials is None:
            return True
        header = b""
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                header = value
                break
        key = hashlib.sha256(header).digest()
        if key in self._verified:
            return True
        scheme, _, token = header.partition(b" ")
        if scheme.lower() != b"basic":
            return False
        try:
            user, sep, password = base64.b64decode(token, validate=True).decode().partition(":")
        except (ValueError, binascii.Error):
            return False
        # Both compared every time (no early return on a wrong user): constant time.
        user_ok = hmac.compare_digest(user.encode(), credentials.user.encode())
        password_ok = verify_password(password, credentials.password_hash)
        if not (sep and user_ok and password_ok):
            return False
        if len(self._verified) > 64:
            self._verified.clear()
        self._verified.add(key)
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() not in {h for h, _ in SECURITY_HEADERS}
                ]
                message["headers"] = headers + list(SECURITY_HEADERS)
            await send(message)

        if not self._authorised(scope):
            await send_with_headers(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [
                        (b"www-authenticate", b'Basic realm="luxlog", charset="UTF-8"'),
                        (b"content-type", b"text/plain; charset=utf-8"),
                    ],
                }
            )
            await send_with_headers({"type": "http.response.body", "body": b"login required\n"})
            return
        await self.app(scope, receive, send_with_headers)
