"""Settings: one function resolves them, with every problem reported at once.

Precedence, lowest first::

    defaults  <  YAML file  <  LUXLOG_<FIELD> environment  <  command-line flags

(in the container, a bare ``HOST``, ``PORT``, ... counts as its ``LUXLOG_*`` variable
when that is not set: ``bareenv.py``.)

The YAML file is ``--config PATH``, else ``$LUXLOG_CONFIG``, else ``./luxlog.yaml`` if it
exists.

Where data lives must not depend on the directory a command starts in: cron starts jobs
in ``$HOME``, a user in the config folder, and each would otherwise see its own
``luxlog-data``. So every path comes out absolute. Relative paths in the file, and the
default ``data_dir`` (``luxlog-data``) when a file is used, are relative to the file's
directory (a config file sits next to its data). Without a file the default is the
platform's per-user data folder (``$XDG_DATA_HOME/luxlog``, i.e. ``~/.local/share/luxlog``
on Linux). Relative paths from the environment or flags are taken against the working
directory once, when typed, and from then on carried as absolute paths (the schedule
renders them so).

A missing or unwritable directory is *not* a config error: NAS mounts come and go, and
the command that writes there reports it at run time.

Files from the real world are refused with one line each (exit 3), in bounded time and
memory: a file that is not UTF-8, larger than ``MAX_CONFIG_BYTES``, or uses YAML anchors
and aliases (``&a``/``*a``: nested aliases expand exponentially, the "billion laughs");
numbers with more digits than any setting needs; control characters (a newline) in a
path, which would otherwise reach the rendered crontab as a line of its own.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from luxlog.errors import ConfigError

# typing itself is not imported at run time: it costs ~3 ms of every cron poll.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

ENV_PREFIX = "LUXLOG_"
ENV_CONFIG = "LUXLOG_CONFIG"
DEFAULT_CONFIG_NAME = "luxlog.yaml"
MAX_CONFIG_BYTES = 1 << 20  # a real luxlog.yaml is ~2 kB
_MAX_DIGITS = 12  # no setting needs a bigger number; int() of thousands of digits raises
# 100 years: longer retention means "keep everything", and a cut-off before year 1
# would overflow every date computed from it.
MAX_RETENTION_DAYS = 36_500
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
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
    backup_keep: int = 7  # verified daily cache backups kept under data_dir/backups
    disk_max_percent: int = 90
    weekly_day: str = "monday"
    csv_profile: str = "default"
    sensors_include: tuple[str, ...] = ()
    sensors_exclude: tuple[str, ...] = ()
    season_start_month: int = 9
    season_end_month: int = 5
    # `luxlog serve`: HTTP Basic credentials (required for a non-loopback bind); the
    # hash comes from `luxlog serve --hash-password` (luxlog.web.security).
    web_user: str = "luxlog"
    web_password_hash: str = ""
    # Push to a time-series database (luxlog.push); empty push_url: no push job.
    push_url: str = ""
    push_token: str = field(default="", repr=False)  # a secret: never logged or shown
    push_budget_sec: int = 240
    device: str = ""  # the `device` tag/label; empty: the host setting
    site: str = ""  # optional `site` tag/label
    # Where each value came from ("default", a file path, "LUXLOG_X", "--flag"), for
    # messages and `luxlog config`.
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)
    # The YAML file that was read (absolute), so that scheduled jobs can name it even when
    # it was found implicitly as ./luxlog.yaml.
    config_file: Path | None = field(default=None, compare=False)

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
            if item.name in ("sources", "config_file"):
                continue
            value = getattr(self, item.name)
            if item.name in SECRET_FIELDS and value:
                value = "(set, hidden)"
            elif item.name == "web_password_hash" and value:
                value = "(set)"  # not a secret, but nothing to show around either
            elif isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = [str(v) for v in value]
            result[item.name] = value
        return result


class _Invalid(ValueError):
    """A value failed validation; the message says what is allowed."""


def _shown(value: Any) -> str:
    """``repr(value)`` for a message: short, and safe for absurd values.

    ``repr`` of an int with over 4,300 digits raises, and a long value would make the
    one-line message unreadable.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return "a number with more than 19 digits"  # over 2**64
    if isinstance(value, str | int | float | bool | Path) or value is None:
        text = repr(str(value) if isinstance(value, Path) else value)
    else:
        text = f"a {type(value).__name__}"
    return text if len(text) <= 60 else text[:57] + "..."


def _int_in(low: int, high: int | None) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool):
            raise _Invalid("must be a whole number")
        if isinstance(value, str):
            value = value.strip()
            if not re.fullmatch(r"[+-]?\d+", value):
                raise _Invalid("must be a whole number")
            if len(value.lstrip("+-0")) > _MAX_DIGITS:
                raise _Invalid(
                    f"must be {low}..{high}" if high is not None else f"must be >= {low}"
                )
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
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        # YAML 1.1 reads an unquoted 6:30 as the base-60 number 390.
        hours, minutes = divmod(value, 60)
        raise _Invalid(
            f'must be a time of day HH:MM in quotes: write csv_time: "{hours:02d}:{minutes:02d}"'
            " (unquoted, YAML reads H:MM as a number)"
        )
    text = str(value).strip() if isinstance(value, str | int) else ""
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text)
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise _Invalid("must be a time of day HH:MM (00:00..23:59)")
    return f"{int(match[1]):02d}:{match[2]}"


# Where the system's time zone files usually are (Debian's tzdata package); a name found
# there as a TZif file needs no zoneinfo import (which pulls in sysconfig: ~3 ms of every
# poll, which never uses the zone). Anything else is checked by zoneinfo itself.
_SYSTEM_ZONES = Path("/usr/share/zoneinfo")
_ZONE_NAME = re.compile(r"[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*")


def _system_zone(name: str) -> bool:
    if not _ZONE_NAME.fullmatch(name):
        return False
    try:
        with (_SYSTEM_ZONES / name).open("rb") as handle:
            return handle.read(4) == b"TZif"
    except OSError:
        return False


def _timezone(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Invalid("must be an IANA time zone name such as Europe/Berlin")
    if _system_zone(value.strip()):
        return value.strip()
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise _Invalid("unknown time zone (use an IANA name such as Europe/Berlin)") from None
    return value.strip()


def _path(value: Any) -> Path:
    if isinstance(value, Path):
        if _CONTROL.search(str(value)):
            raise _Invalid("must be a file system path without control characters (newline, tab)")
        return value
    if not isinstance(value, str) or not value.strip():
        raise _Invalid("must be a file system path")
    if _CONTROL.search(value):
        raise _Invalid("must be a file system path without control characters (newline, tab)")
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
_CSV_PROFILES = ("default", "excel", "excel-de")


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


def _web_user(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or ":" in value:
        raise _Invalid("must be a non-empty user name without ':'")
    return value.strip()


def _password_hash(value: Any) -> str:
    """Checked for shape only: ``pbkdf2_sha256:<iterations>:<salt>:<hash>``."""
    text = value.strip() if isinstance(value, str) else ""
    parts = text.split(":")
    if text and (len(parts) != 4 or parts[0] != "pbkdf2_sha256" or not parts[1].isdigit()):
        raise _Invalid("must be a hash from `luxlog serve --hash-password` (pbkdf2_sha256:...)")
    return text


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
    # 0 keeps forever (retention.py): years of data are a setting, not a hack. Above
    # MAX_RETENTION_DAYS, date arithmetic overflows (prune, status).
    "csv_retention_days": _int_in(0, MAX_RETENTION_DAYS),
    "cache_retention_days": _int_in(0, MAX_RETENTION_DAYS),
    "backup_keep": _int_in(1, 365),
    "disk_max_percent": _int_in(1, 99),
    "weekly_day": _weekday,
    "csv_profile": _csv_profile,
    "sensors_include": _patterns,
    "sensors_exclude": _patterns,
    "season_start_month": _int_in(1, 12),
    "season_end_month": _int_in(1, 12),
    "web_user": _web_user,
    "web_password_hash": _password_hash,
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


def user_data_dir(environ: Mapping[str, str], platform: str | None = None) -> Path:
    """The per-user data folder for luxlog when no config file anchors ``data_dir``.

    XDG on Linux and other Unixes, the usual places on macOS and Windows. Written out
    here rather than taken from a dependency: three lines do not earn one.
    """
    import sys

    platform = sys.platform if platform is None else platform
    home = Path(environ["HOME"]) if environ.get("HOME") else Path.home()
    if platform == "darwin":
        return home / "Library" / "Application Support" / "luxlog"
    if platform == "win32":
        base = environ.get("LOCALAPPDATA")
        return (Path(base) if base else home / "AppData" / "Local") / "luxlog"
    xdg = environ.get("XDG_DATA_HOME", "")
    # The XDG spec: a relative XDG_DATA_HOME is invalid and must be ignored.
    base_dir = Path(xdg) if xdg and Path(xdg).is_absolute() else home / ".local" / "share"
    return base_dir / "luxlog"


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


def _read_text(path: Path, problems: list[str]) -> str | None:
    """The file as text, or ``None`` with a problem: unreadable, huge, or not UTF-8."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        problems.append(f"config file {path}: cannot read it ({exc.strerror})")
        return None
    if len(data) > MAX_CONFIG_BYTES:
        problems.append(
            f"config file {path}: larger than {MAX_CONFIG_BYTES // 1024} KiB, which no luxlog "
            "config is; is it the right file?"
        )
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        problems.append(
            f"config file {path} line {line}: not UTF-8 (byte 0x{data[exc.start]:02x}); "
            "save it as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
        )
        return None


def _read_yaml(path: Path, problems: list[str]) -> dict[str, Any]:
    text = _read_text(path, problems)
    if text is None:
        return {}
    import yaml  # only here: most polls in Docker run without a file

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        # Anchors and aliases are refused before anything is built: nested aliases
        # expand exponentially wherever the value is walked (the "billion laughs").
        for event in yaml.parse(text, Loader=loader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                mark = event.start_mark
                where = f" line {mark.line + 1}" if mark is not None else ""
                problems.append(
                    f"config file {path}{where}: YAML anchors and aliases (&name, *name) "
                    "are not supported; write the value out"
                )
                return {}
        data = yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problems.append(f"config file {path}{where}: not valid YAML")
        return {}
    except ValueError:  # an integer of thousands of digits: int() refuses to convert it
        problems.append(f"config file {path}: a number with more digits than any setting takes")
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
    cwd = Path.cwd()
    base_dir = cwd
    if path is not None and _CONTROL.search(str(path)):
        # Checked before opening: such a path would also reach the crontab's job lines.
        raise ConfigError(
            [f"config file {_shown(str(path))}: path contains control characters (newline, tab)"]
        )
    if path is not None:
        path = cwd / path  # absolute: shown in messages and passed to scheduled jobs
        base_dir = path.parent
        for key, value in _read_yaml(path, problems).items():
            if key not in _PARSERS:
                shown = key if len(key) <= 60 else key[:57] + "..."
                problems.append(f"{shown}: unknown setting in {path}{_did_you_mean(key, known)}")
                continue
            raw[key] = (value, str(path))

    # In the container, the reference logger's bare names (HOST, ...) stand in for
    # LUXLOG_* variables that are not set; see bareenv.py.
    from luxlog import bareenv

    raw.update(bareenv.resolve(environ).values)
    env_names = {ENV_PREFIX + name.upper(): name for name in _PARSERS}
    for var, value in environ.items():
        if not var.startswith(ENV_PREFIX) or var in (ENV_CONFIG, bareenv.CONTAINER_MARKER):
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
            shown = "a hidden value" if name in SECRET_FIELDS else _shown(value)
            problems.append(f"{name}: {exc} (got {shown} from {source})")
            continue
        if name in _PATH_FIELDS:
            anchor = base_dir if path is not None and source == str(path) else cwd
            if isinstance(parsed, tuple):
                parsed = tuple(anchor / p for p in parsed)  # `/` keeps absolute paths
            else:
                parsed = anchor / parsed
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
    if "data_dir" not in values:
        values["data_dir"] = (
            base_dir / Settings.data_dir if path is not None else user_data_dir(environ)
        )
        if path is None:
            sources["data_dir"] = "default (per-user data folder)"
    data_dir: Path = values["data_dir"]
    values.setdefault("cache_path", data_dir / "cache.sqlite3")
    values.setdefault("spool_dir", data_dir / "spool")
    values.setdefault("output_dirs", (data_dir / "csv",))
    for name in _PARSERS:
        sources.setdefault(name, "default")
    return Settings(**values, sources=sources, config_file=path)
