"""Settings: one function resolves them, with every problem reported at once.

Precedence, lowest first::

    defaults  <  YAML file  <  LUXLOG_<FIELD> environment  <  command-line flags

The YAML file is ``--config PATH``, else ``$LUXLOG_CONFIG``, else ``./luxlog.yaml`` if it
exists. Relative paths in the file are relative to the file's directory (so a config
file can sit next to its data); relative paths from the environment or flags are
relative to the working directory.

A missing or unwritable directory is *not* a config error: NAS mounts come and go, and
the command that writes there reports it at run time.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from luxlog.errors import ConfigError

ENV_PREFIX = "LUXLOG_"
ENV_CONFIG = "LUXLOG_CONFIG"
DEFAULT_CONFIG_NAME = "luxlog.yaml"
SECRET_FIELDS = frozenset({"push_token"})  # shown as "(set, hidden)", never logged


@dataclass(frozen=True)
class Settings:
    """Resolved, validated settings; built once per command and passed down."""

    host: str = ""
    port: int = 8889
    interval_sec: int = 30
    timeout_sec: int = 60
    retries: int = 3
    csv_time: str = "07:00"
    timezone: str = "UTC"
    data_dir: Path = Path("luxlog-data")
    cache_path: Path = Path("luxlog-data/cache.sqlite3")
    spool_dir: Path = Path("luxlog-data/spool")
    output_dirs: tuple[Path, ...] = (Path("luxlog-data/csv"),)
    csv_retention_days: int = 30
    cache_retention_days: int = 365
    disk_max_percent: int = 90
    weekly_day: str = "monday"
    csv_profile: str = "default"
    sensors_include: tuple[str, ...] = ()
    sensors_exclude: tuple[str, ...] = ()
    season_start_month: int = 9
    season_end_month: int = 5
    # Push to a time-series database (luxlog.push); empty push_url: no push job.
    push_url: str = ""
    push_token: str = field(default="", repr=False)  # a secret: never logged or shown
    push_budget_sec: int = 240
    device: str = ""  # the `device` tag/label; empty: the host setting
    site: str = ""  # optional `site` tag/label
    # Where each value came from ("default", a file path, "LUXLOG_X", "--flag"), for
    # messages and `luxlog config`.
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def address(self) -> str:
        """``host:port`` as shown in messages and stored with each sample."""
        return f"{self.host}:{self.port}"

    def require_host(self) -> None:
        """Commands that talk to the heat pump call this; others work without a host."""
        if not self.host:
            raise ConfigError(["host: not set (set 'host:' in luxlog.yaml, LUXLOG_HOST or --host)"])

    def as_dict(self) -> dict[str, Any]:
        """Plain values, for `luxlog config --json` and the status report."""
        result: dict[str, Any] = {}
        for item in fields(self):
            if item.name == "sources":
                continue
            value = getattr(self, item.name)
            if item.name in SECRET_FIELDS and value:
                value = "(set, hidden)"

            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = [str(v) for v in value]
            result[item.name] = value
        return result


class _Invalid(ValueError):
    """A value failed validation; the message says what is allowed."""


def _int_in(low: int, high: int | None) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool):
            raise _Invalid("must be a whole number")
        if isinstance(value, str):
            value = value.strip()
            if not re.fullmatch(r"[+-]?\d+", value):
                raise _Invalid("must be a whole number")
            value = int(value)
        if not isinstance(value, int):
            raise _Invalid("must be a whole number")
        if value < low or (high is not None and value > high):
            raise _Invalid(f"must be {low}..{high}" if high is not None else f"must be >= {low}")
        return value

    return parse


def _host(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Invalid("must be a host name or IP address")
    host = value.strip()
    if not re.fullmatch(r"[A-Za-z0-9._:\[\]-]+", host):
        raise _Invalid("must be a host name or IP address (no spaces, no scheme or path)")
    return host


def _csv_time(value: Any) -> str:
    text = str(value).strip() if isinstance(value, str | int) else ""
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text)
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise _Invalid("must be a time of day HH:MM (00:00..23:59)")
    return f"{int(match[1]):02d}:{match[2]}"


def _timezone(value: Any) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not isinstance(value, str) or not value.strip():
        raise _Invalid("must be an IANA time zone name such as Europe/Berlin")
    try:
        ZoneInfo(value.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise _Invalid("unknown time zone (use an IANA name such as Europe/Berlin)") from None
    return value.strip()


def _path(value: Any) -> Path:
    if isinstance(value, Path):
        return value
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        raise _Invalid("must be a file system path")
    return Path(value.strip()).expanduser()


def _paths(value: Any) -> tuple[Path, ...]:
    items: list[Any]
    if isinstance(value, str):
        items = [part for part in value.split(",") if part.strip()]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise _Invalid("must be a list of directories (comma-separated in the environment)")
    if not items:
        raise _Invalid("must name at least one directory")
    return tuple(_path(item) for item in items)


_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_CSV_PROFILES = ("default", "excel-de")


def _weekday(value: Any) -> str:
    text = value.strip().lower() if isinstance(value, str) else ""
    for day in _WEEKDAYS:
        if text in (day, day[:3]):
            return day
    raise _Invalid("must be a day of the week (monday..sunday)")


def _csv_profile(value: Any) -> str:
    text = value.strip().lower() if isinstance(value, str) else ""
    if text not in _CSV_PROFILES:
        raise _Invalid(f"must be one of {', '.join(_CSV_PROFILES)}")
    return text


def _patterns(value: Any) -> tuple[str, ...]:
    """Sensor names or globs; a list in YAML, comma-separated in the environment."""
    if isinstance(value, str):
        items: list[Any] = value.split(",")
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise _Invalid("must be a list of sensor names or globs (comma-separated in env)")
    if not all(isinstance(item, str) for item in items):
        raise _Invalid("must be a list of sensor names or globs (text)")
    return tuple(item.strip() for item in items if item.strip())


def _push_url(value: Any) -> str:
    """The full write URL of the time-series database (push); empty turns push off."""
    from urllib.parse import urlsplit

    text = value.strip() if isinstance(value, str) else None
    if text is None:
        raise _Invalid("must be a URL such as http://nas:8428/write")
    if not text:
        return ""
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise _Invalid("must be a URL such as http://nas:8428/write") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _Invalid("must be an http:// or https:// URL such as http://nas:8428/write")
    return text


def _token(value: Any) -> str:
    if not isinstance(value, str) or any(ord(c) < 32 for c in value):
        raise _Invalid("must be text on one line")
    return value.strip()


def _tag(value: Any) -> str:
    """A tag value for line protocol and Prometheus labels: one printable line."""
    text = str(value).strip() if isinstance(value, str | int) else None
    if text is None or any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise _Invalid("must be text on one line")
    if text.endswith("\\"):
        raise _Invalid("must not end in a backslash (line protocol cannot escape it)")
    return text


# name -> parser. Adding a setting = one entry here + one dataclass field.
_PARSERS: dict[str, Callable[[Any], Any]] = {
    "host": _host,
    "port": _int_in(1, 65535),
    "interval_sec": _int_in(5, 3600),
    "timeout_sec": _int_in(1, 3600),
    "retries": _int_in(0, 10),
    "csv_time": _csv_time,
    "timezone": _timezone,
    "data_dir": _path,
    "cache_path": _path,
    "spool_dir": _path,
    "output_dirs": _paths,
    "csv_retention_days": _int_in(1, None),
    "cache_retention_days": _int_in(1, None),
    "disk_max_percent": _int_in(1, 99),
    "weekly_day": _weekday,
    "csv_profile": _csv_profile,
    "sensors_include": _patterns,
    "sensors_exclude": _patterns,
    "season_start_month": _int_in(1, 12),
    "season_end_month": _int_in(1, 12),
    "push_url": _push_url,
    "push_token": _token,
    "push_budget_sec": _int_in(1, 3600),
    "device": _tag,
    "site": _tag,
}
_PATH_FIELDS = {"data_dir", "cache_path", "spool_dir", "output_dirs"}


def machine_timezone(environ: Mapping[str, str]) -> str:
    """The machine's IANA zone name (TZ, then /etc/localtime, then /etc/timezone), or UTC."""
    candidate = environ.get("TZ", "").lstrip(":")
    if (candidate and "/" in candidate) or candidate == "UTC":
        return candidate
    try:
        target = str(Path("/etc/localtime").readlink())
        if "zoneinfo/" in target:
            return target.split("zoneinfo/", 1)[1]
    except OSError:
        pass
    try:
        name = Path("/etc/timezone").read_text(encoding="utf-8").strip()
        if name:
            return name
    except OSError:
        pass
    return "UTC"


def find_config_file(explicit: Path | None, environ: Mapping[str, str]) -> Path | None:
    """The YAML file to read, by the precedence in the module docstring."""
    if explicit is not None:
        return explicit
    if environ.get(ENV_CONFIG):
        return Path(environ[ENV_CONFIG])
    default = Path(DEFAULT_CONFIG_NAME)
    return default if default.is_file() else None


def _did_you_mean(name: str, known: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _read_yaml(path: Path, problems: list[str]) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        problems.append(f"config file {path}: cannot read it ({exc.strerror})")
        return {}
    import yaml  # only here: most polls in Docker run without a file

    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problems.append(f"config file {path}{where}: not valid YAML")
        return {}
    if data is None:
        return {}
    if not isinstance(data, dict):
        problems.append(f"config file {path}: must be a mapping of 'field: value' lines")
        return {}
    return {str(key): value for key, value in data.items()}


def load(
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    read_files: bool = True,
) -> Settings:
    """Resolve settings from defaults, file, environment and flags; raise ``ConfigError``.

    ``overrides`` are command-line flags by field name; ``None`` values mean "not given".
    ``read_files=False`` ignores every config file (the demo must not pick up a user's).
    Every problem is collected, so a user fixes a broken config in one round.
    """
    environ = os.environ if environ is None else environ
    problems: list[str] = []
    raw: dict[str, tuple[Any, str]] = {}  # field -> (value, source)
    known = list(_PARSERS)

    path = find_config_file(config_file, environ) if read_files else None
    base_dir = Path()
    if path is not None:
        base_dir = path.parent
        for key, value in _read_yaml(path, problems).items():
            if key not in _PARSERS:
                problems.append(f"{key}: unknown setting in {path}{_did_you_mean(key, known)}")
                continue
            raw[key] = (value, str(path))

    env_names = {ENV_PREFIX + name.upper(): name for name in _PARSERS}
    for var, value in environ.items():
        if not var.startswith(ENV_PREFIX) or var == ENV_CONFIG:
            continue
        if var not in env_names:
            hint = _did_you_mean(var, list(env_names))
            problems.append(f"{var}: unknown setting in the environment{hint}")
            continue
        raw[env_names[var]] = (value, var)

    for name, value in (overrides or {}).items():
        if value is not None:
            raw[name] = (value, "--" + name.replace("_", "-"))

    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, (value, source) in raw.items():
        try:
            parsed = _PARSERS[name](value)
        except _Invalid as exc:
            shown = "a hidden value" if name in SECRET_FIELDS else repr(value)
            problems.append(f"{name}: {exc} (got {shown} from {source})")
            continue
        if name in _PATH_FIELDS and source == str(path):
            if isinstance(parsed, tuple):
                parsed = tuple(p if p.is_absolute() else base_dir / p for p in parsed)
            elif not parsed.is_absolute():
                parsed = base_dir / parsed
        values[name] = parsed
        sources[name] = source

    if problems:
        raise ConfigError(problems)

    if "timezone" not in values:
        zone = machine_timezone(environ)
        try:
            values["timezone"] = _timezone(zone)
        except _Invalid:
            values["timezone"] = "UTC"
        sources["timezone"] = "this machine's time zone"
    data_dir: Path = values.setdefault("data_dir", Settings.data_dir)
    values.setdefault("cache_path", data_dir / "cache.sqlite3")
    values.setdefault("spool_dir", data_dir / "spool")
    values.setdefault("output_dirs", (data_dir / "csv",))
    for name in _PARSERS:
        sources.setdefault(name, "default")
    return Settings(**values, sources=sources)
