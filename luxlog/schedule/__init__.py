"""When luxlog's jobs run: one job table, three ways to write it.

The flow of a schedule: :mod:`.jobs` (the table: poll, flush, roll-ups, prune, push, in
UTC) is rendered for the container by :mod:`.supercronic` (``luxlog crontab``), and for
a plain Linux host by :mod:`.cron` or :mod:`.systemd` (``luxlog schedule``), with the
absolute paths a host needs from :mod:`.host`. :mod:`.preflight` checks at container
start that every job will be able to write where it must.
"""

from __future__ import annotations

from luxlog.schedule.cron import (
    BEGIN_MARK,
    END_MARK,
    cron_fields,
    install_cron,
    merge_crontab,
    render_cron,
)
from luxlog.schedule.host import (
    FORMATS,
    InstallError,
    current_user,
    host_arguments,
    host_jobs,
    program,
)
from luxlog.schedule.jobs import (
    CRON_TZ,
    FLUSH_EVERY_MIN,
    FLUSH_MINUTE,
    HOUR_SEC,
    JOB_SECOND,
    MIN_INTERVAL_SEC,
    PROGRAM,
    PUSH_MINUTE,
    ROLLUP_MINUTE,
    VALID_INTERVALS,
    Job,
    Timing,
    check_interval,
    jobs,
    poll_schedules,
    poll_timings,
    prune_time_utc,
)
from luxlog.schedule.preflight import preflight
from luxlog.schedule.supercronic import render
from luxlog.schedule.systemd import (
    SYSTEM_UNIT_DIR,
    UNIT_PREFIX,
    UnitFile,
    calendar,
    install_systemd,
    render_systemd,
    user_unit_dir,
    write_units,
)

__all__ = [
    "BEGIN_MARK",
    "CRON_TZ",
    "END_MARK",
    "FLUSH_EVERY_MIN",
    "FLUSH_MINUTE",
    "FORMATS",
    "HOUR_SEC",
    "JOB_SECOND",
    "MIN_INTERVAL_SEC",
    "PROGRAM",
    "PUSH_MINUTE",
    "ROLLUP_MINUTE",
    "SYSTEM_UNIT_DIR",
    "UNIT_PREFIX",
    "VALID_INTERVALS",
    "InstallError",
    "Job",
    "Timing",
    "UnitFile",
    "calendar",
    "check_interval",
    "cron_fields",
    "current_user",
    "host_arguments",
    "host_jobs",
    "install_cron",
    "install_systemd",
    "jobs",
    "merge_crontab",
    "poll_schedules",
    "poll_timings",
    "preflight",
    "program",
    "prune_time_utc",
    "render",
    "render_cron",
    "render_systemd",
    "user_unit_dir",
    "write_units",
]
