"""docker/prove's own parts, checked without podman (the proof itself runs in CI).

The image proof builds with a stand-in supercronic and two deliberately broken
Dockerfiles; these tests keep both honest where they can be run quickly: the stand-in
must run exactly the jobs real supercronic would start (as tests/supercronic.py models
its parser), and every broken variant must still apply to today's Dockerfile - an edit
that no longer matches would "prove" nothing.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import supercronic

from luxlog import config, schedule

ROOT = Path(__file__).resolve().parent.parent
PROVE = ROOT / "docker" / "prove"
STANDIN = ROOT / "docker" / "standin-supercronic"


def run_standin(tmp_path: Path, crontab: str) -> tuple[subprocess.CompletedProcess[str], list]:
    """Run the stand-in on ``crontab`` with a ``luxlog`` on PATH that records its calls."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(parents=True)
    calls = tmp_path / "calls"
    fake = bin_dir / "luxlog"
    # Exits 5 for `luxlog flush` so that a failing job is seen, 0 otherwise.
    fake.write_text(f'#!/bin/sh\necho "$*" >> {calls}\n[ "$1" != flush ] || exit 5\n')
    fake.chmod(0o755)
    tab = tmp_path / "luxlog.crontab"
    tab.write_text(crontab)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    result = subprocess.run(
        ["sh", str(STANDIN), "-passthrough-logs", "-quiet", str(tab)],
        env=env,
        capture_output=True,
        text=True,
        timeout=9,
    )
    recorded = calls.read_text().splitlines() if calls.exists() else []
    return result, recorded


def test_standin_runs_each_rendered_job_once_as_supercronic_parses_it_and_reports(tmp_path):
    settings = config.load(None, environ={"TZ": "UTC"}, read_files=False)
    rendered = schedule.render(settings)
    expected = [job.command.removeprefix("luxlog ") for job in supercronic.parse(rendered).jobs]
    assert expected == ["poll", "flush", "rollup due", "prune"]

    result, recorded = run_standin(tmp_path, rendered)

    assert recorded == expected  # once each, in file order, CRON_TZ and comments skipped
    assert result.returncode == 1, result.stdout  # the flush failed
    assert "job 2 exited 5: luxlog flush" in result.stdout
    assert "job 1 exited 0: luxlog poll" in result.stdout
    assert result.stdout.splitlines()[-1] == "standin-supercronic: ran 4 jobs once, 1 failed"


def test_standin_refuses_a_crontab_it_cannot_read_as_seven_field_lines(tmp_path):
    five = "CRON_TZ=UTC\n*/30 * * * * luxlog poll\n"  # supercronic: every 30 minutes
    result, recorded = run_standin(tmp_path / "five", five)
    assert result.returncode == 2 and "not a seven-field job line" in result.stderr
    assert recorded == []
    empty, _ = run_standin(tmp_path / "empty", "# nothing\n")
    assert empty.returncode == 2 and "no jobs" in empty.stderr


def mutants() -> list[tuple[str, str, str]]:
    """(name, step, sed expression) of every ``mutant`` line in docker/prove."""
    found = re.findall(
        r"^mutant (\S+) (build|smoke) '([^']+)' \\$", PROVE.read_text(), re.MULTILINE
    )
    return [(name, step, edit) for name, step, edit in found]


def test_each_broken_dockerfile_of_prove_still_breaks_todays_dockerfile(tmp_path):
    found = {name: (step, edit) for name, step, edit in mutants()}
    # The two examples: a wrong COPY path and a /app/logs the user cannot write.
    assert set(found) == {"wrong-copy-path", "logs-not-writable"}
    original = (ROOT / "Dockerfile").read_text().splitlines()
    for name, (_, edit) in found.items():
        changed = subprocess.run(
            ["sed", edit, str(ROOT / "Dockerfile")], capture_output=True, text=True, check=True
        ).stdout.splitlines()
        diff = [(a, b) for a, b in zip(original, changed, strict=True) if a != b]
        assert len(diff) == 1, (name, diff)
        before, after = diff[0]
        if name == "wrong-copy-path":
            assert before.startswith("COPY ") and after.startswith("COPY ")
            source = after.split()[1]
            assert not (ROOT / source).exists(), source
        else:
            assert "chown 10001:10001 /app/logs" in before and "chown" not in after


def test_ci_runs_prove_after_the_tests_and_the_linters_and_lint_checks_the_scripts():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    steps = [line for line in ci if line in ("./dev test", "./dev lint", "docker/prove")]
    assert steps == ["./dev test", "./dev lint", "docker/prove"]
    assert "apt-get install -y podman debootstrap" in "\n".join(ci)
    lint = (ROOT / "dev").read_text()
    assert 'shellcheck" docker/entrypoint.sh docker/prove docker/standin-supercronic' in lint
    for script in (PROVE, STANDIN):
        assert os.access(script, os.X_OK), script


def test_prove_rejects_an_unknown_option_with_its_usage():
    result = subprocess.run(
        ["bash", str(PROVE), "--bogus"], capture_output=True, text=True, timeout=9
    )
    assert result.returncode == 2
    assert "docker/prove --no-mutants" in result.stderr


def test_prove_skips_with_the_reason_and_exit_0_without_its_tools(tmp_path):
    # Only what the script needs before its checks: no podman, no debootstrap.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("dirname", "id"):
        (bin_dir / tool).symlink_to(subprocess.check_output(["which", tool], text=True).strip())
    result = subprocess.run(
        ["/bin/bash", str(PROVE)],
        env={"PATH": str(bin_dir), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=9,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("prove: SKIPPED: "), result.stdout
    assert "podman" in result.stdout or "root" in result.stdout


def test_prove_fetches_every_lock_the_dockerfile_installs():
    # The build has no network but prove's local index: a lock the Dockerfile installs and
    # prove does not download fails the build (it did, once the web extra got its lock).
    installed = set(
        re.findall(r"-r /tmp/(requirements[-\w]*\.lock)", (ROOT / "Dockerfile").read_text())
    )
    installed |= set(
        re.findall(r"-r (requirements[-\w]*\.lock)", (ROOT / "Dockerfile").read_text())
    )
    fetched = set(
        re.findall(r"-r (requirements[-\w]*\.lock)", (ROOT / "docker" / "prove").read_text())
    )
    assert installed and installed <= fetched, sorted(installed - fetched)
