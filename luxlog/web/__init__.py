"""``luxlog serve``: a read-only web app over the cache, the output files and the status.

Needs the ``web`` extra (``pip install 'luxlog[web]'``): Starlette, Jinja2 and uvicorn are
imported only by :mod:`luxlog.web.app`, never on the poll path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from luxlog.errors import ConfigError

if TYPE_CHECKING:
    from luxlog.config import Settings
    from luxlog.web.security import Credentials


def credentials(settings: Settings) -> Credentials | None:
    """The configured Basic credentials, or None when no password hash is set."""
    from luxlog.web.security import Credentials

    if not settings.web_password_hash:
        return None
    return Credentials(settings.web_user, settings.web_password_hash)


def require_extra() -> None:
    """A clear config error instead of an ImportError when the extra is missing."""
    import importlib.util

    missing = [m for m in ("starlette", "jinja2", "uvicorn") if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(
            [
                f"serve: {', '.join(missing)} not installed; install the web extra: "
                "pip install 'luxlog[web]'"
            ]
        )
