"""Push settings: validation, secrets never shown, and the push job in the crontab."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from luxlog import config, schedule
from luxlog.cli import app
from luxlog.errors import ConfigError


def load(**environ: str) -> config.Settings:
    return config.load(None, environ={"TZ": "UTC", **environ}, read_files=False)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("push_url", "nas:8086/write", "push_url: must be an http:// or https:// URL"),
        ("push_url", "http://nas:99999/write", "push_url: must be a URL"),
        ("push_budget_sec", "0", "push_budget_sec: must be 1..3600"),
        ("device", "a\nb", "device: must be text on one line"),
        ("site", "back\\", "site: must not end in a backslash"),
    ],
)
def test_bad_push_settings_are_config_errors(field: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(**{"LUXLOG_" + field.upper(): value})
    assert caught.value.problems[0].startswith(message), caught.value.problems


def test_the_token_is_never_shown() -> None:
    with pytest.raises(ConfigError) as caught:
        load(LUXLOG_PUSH_TOKEN="s3cret\x01")
    assert "s3cret" not in str(caught.value) and "hidden" in str(caught.value)
    settings = load(LUXLOG_PUSH_TOKEN="s3cret", LUXLOG_PUSH_URL="https://h/api/v2/write")
    assert settings.as_dict()["push_token"] == "(set, hidden)"
    assert "s3cret" not in repr(settings)
    result = CliRunner().invoke(app, ["config", "--json"], env={"LUXLOG_PUSH_TOKEN": "s3cret"})
    assert result.exit_code == 0 and "s3cret" not in result.output


def test_push_job_only_with_a_target_three_minutes_after_each_flush() -> None:
    assert "push" not in [job.name for job in schedule.jobs(load())]
    jobs = {job.name: job for job in schedule.jobs(load(LUXLOG_PUSH_URL="http://nas:8428/write"))}
    assert jobs["push"].schedule == "10 4-59/5 * * * * *"
    assert jobs["push"].command.endswith("luxlog push")
    assert jobs["flush"].schedule == "10 1-59/5 * * * * *"
