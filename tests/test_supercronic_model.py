"""The test-only supercronic model (``tests/supercronic.py``) against supercronic's own rules.

This file tests no luxlog code: it checks the stand-in that ``test_schedule.py`` and the
container tests read luxlog's crontab with, since the image (and so the real binary)
cannot run here. Those tests are only as trustworthy as this model, so its parsing of
comments, environment lines, names, steps and time zones is pinned to the behaviour of
supercronic's sources (see the model's docstring).
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import supercronic


def test_the_stand_in_reads_lines_and_starts_jobs_as_supercronic_does():
    tab = supercronic.parse(
        "  # a comment\n\nSHELL = '/bin/bash'\nCRON_TZ=\"Europe/Berlin\"\n"
        "@hourly luxlog flush\n0 0 12 * JAN-MAR MON-FRI * luxlog prune --now\n"
        "1,2,3/20 * * * * luxlog a=b\n"
    )
    assert tab.environ == {"SHELL": "/bin/bash", "CRON_TZ": "Europe/Berlin"}
    assert [job.command for job in tab.jobs] == ["luxlog flush", "luxlog prune --now", "luxlog a=b"]
    assert tab.jobs[1].expression.months == [1, 2, 3]
    assert tab.jobs[2].expression.minutes == [1, 2, 3, 23, 43]
    weekdays = tab.starts(
        tab.jobs[1], datetime(2026, 3, 27, tzinfo=UTC), datetime(2026, 4, 2, tzinfo=UTC)
    )
    assert [t.astimezone(ZoneInfo("Europe/Berlin")).strftime("%a %d %H:%M") for t in weekdays] == [
        "Fri 27 12:00",
        "Mon 30 12:00",
        "Tue 31 12:00",
    ]
    for bad in ("* * * *", "61 * * * * luxlog poll", "* * * * 8 luxlog x", "x"):
        with pytest.raises(supercronic.CronSyntaxError):
            supercronic.parse(bad)
