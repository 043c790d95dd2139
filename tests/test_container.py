"""Everything around the Docker image that can be checked without a Docker engine.

The entrypoint runs for real under ``sh`` with supercronic replaced by a stub; the
Dockerfile, compose file, ``.env.example`` and the locks are read and checked for the
facts the image relies on; the crontab's poll and flush lines run against the simulator
the way supercronic would start them.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import supercronic
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from luxlog import config, schedule
from luxlog.simulator import Simulator

ROOT = Path(__file__).resolve().parent.parent
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
DOCKERFILE = (ROOT / "Dockerfile").read_text()
BIN = Path(sys.executable).parent  # where this test run's `luxlog` script lives


def base_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A container-like environment: PATH to luxlog, UTC, nothing else from the host."""
    env = {
        "PATH": f"{BIN}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "TZ": "UTC",
        "HOME": str(tmp_path),
        "LUXLOG_DATA_DIR": str(tmp_path / "app" / "logs"),
    }
    env.update(extra)
    return env


@pytest.fixture
def stub(tmp_path):
    """A stand-in for supercronic: records its PID, arguments and the crontab it got."""
    script = tmp_path / "supercronic-stub"
    record = tmp_path / "stub-record"
    script.write_text(
        "#!/bin/sh\n"
        f'{{ echo "$$"; echo "$*"; cat "$3"; }} > {shlex.quote(str(record))}\n'
        "echo 'stub supercronic started'\n"
    )
    script.chmod(0o755)
    return script, record


def run_entrypoint(tmp_path, stub, *args: str, **env: str):
    script, _ = stub
    environment = base_env(
        tmp_path,
        SUPERCRONIC=str(script),
        CRONTAB_FILE=str(tmp_path / "luxlog.crontab"),
        **env,
    )
    process = subprocess.Popen(
        ["sh", str(ENTRYPOINT), *args],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = process.communicate(timeout=9)
    return process, out, err


# --- entrypoint -------------------------------------------------------------------------


def test_entrypoint_renders_the_crontab_and_execs_supercronic(tmp_path, stub):
    process, out, err = run_entrypoint(
        tmp_path, stub, LUXLOG_HOST="192.0.2.10", LUXLOG_TIMEZONE="Europe/Berlin"
    )
    assert process.returncode == 0, err
    pid, args, *crontab_lines = stub[1].read_text().splitlines()
    # exec: the stub *is* the entrypoint's process, as supercronic is PID 1 in the image.
    assert int(pid) == process.pid
    crontab_file = tmp_path / "luxlog.crontab"
    assert args == f"-passthrough-logs -quiet {crontab_file}"
    environ = {
        "LUXLOG_HOST": "192.0.2.10",
        "LUXLOG_TIMEZONE": "Europe/Berlin",
        "LUXLOG_DATA_DIR": str(tmp_path / "app" / "logs"),
    }
    expected = schedule.render(config.load(None, environ=environ, read_files=False))
    assert crontab_file.read_text() == expected == "\n".join(crontab_lines) + "\n"
    assert not (tmp_path / "luxlog.crontab.new").exists()
    # The check only looks: the jobs create their folders inside data_dir when they run.
    assert not (tmp_path / "app").exists()
    # docker logs: the settings with their sources, the schedule, then supercronic.
    assert "host\t192.0.2.10\tLUXLOG_HOST" in out
    assert "INFO entrypoint: luxlog " in out and "*/30 * * * * * * luxlog poll" in out
    assert out.rstrip().endswith("stub supercronic started")
    assert "ERROR" not in err and "WARNING" not in err


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"LUXLOG_HOST": "192.0.2.10", "LUXLOG_INTERVAL_SEC": "abc"},
            "interval_sec: must be a whole number",
        ),
        (
            {"LUXLOG_HOST": "192.0.2.10", "LUXLOG_HOTS": "x"},
            "LUXLOG_HOTS: unknown setting in the environment",
        ),
        (
            {"LUXLOG_HOST": "192.0.2.10", "LUXLOG_INTERVAL_SEC": "7"},
            "interval_sec: must divide an hour",
        ),
        ({}, "host: not set"),
    ],
)
def test_entrypoint_exits_3_with_the_message_on_a_bad_configuration(tmp_path, stub, env, message):
    process, out, err = run_entrypoint(tmp_path, stub, **env)
    assert process.returncode == 3, (out, err)
    assert message in err
    assert not stub[1].exists()  # supercronic never started
    assert not (tmp_path / "luxlog.crontab").exists()


def test_entrypoint_exits_7_when_the_volume_is_not_writable(tmp_path, stub):
    (tmp_path / "app").write_text("")  # a file where the folder should be (root ignores modes)
    process, _, err = run_entrypoint(tmp_path, stub, LUXLOG_HOST="192.0.2.10")
    assert process.returncode == 7
    assert f"cannot write {tmp_path / 'app' / 'logs'}" in err and "luxlog runs as uid" in err
    assert f"hint: on the Docker host, run 'sudo chown -R {os.getuid()}:{os.getgid()}'" in err
    assert not (tmp_path / "luxlog.crontab.new").exists()
    assert not stub[1].exists()


def test_entrypoint_runs_a_one_off_command_instead_when_given_one(tmp_path, stub):
    process, out, err = run_entrypoint(
        tmp_path, stub, "luxlog", "config", "--json", LUXLOG_HOST="192.0.2.10"
    )
    assert process.returncode == 0, err
    assert '"host": "192.0.2.10"' in out and "INFO entrypoint" not in out
    assert not stub[1].exists()


def test_entrypoint_is_posix_sh():
    text = ENTRYPOINT.read_text()
    assert text.startswith("#!/bin/sh\n") and "set -eu" in text
    assert os.access(ENTRYPOINT, os.X_OK)
    assert not re.search(r"\[\[|\bfunction\b|\$\(<|<<<|\bsource\b", text)  # no bashisms
    result = subprocess.run(["sh", "-n", str(ENTRYPOINT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# --- the jobs as supercronic starts them -------------------------------------------------


def run_job(command: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Start one crontab command as supercronic does: ``/bin/sh -c`` with the environment."""
    return subprocess.run(
        ["/bin/sh", "-c", command], env=env, cwd=cwd, capture_output=True, text=True, timeout=9
    )


def rendered_crontab(env: dict[str, str], cwd: Path) -> supercronic.Crontab:
    """What the entrypoint renders (``luxlog crontab --check``), parsed as supercronic does."""
    rendered = subprocess.run(
        ["luxlog", "crontab", "--check"], env=env, cwd=cwd, capture_output=True, text=True
    )
    assert rendered.returncode == 0, rendered.stderr
    return supercronic.parse(rendered.stdout)


def test_the_crontabs_poll_and_flush_lines_work_in_a_container_like_directory(tmp_path):
    logs = tmp_path / "app" / "logs"
    with Simulator() as pump:
        env = base_env(tmp_path, LUXLOG_HOST="127.0.0.1", LUXLOG_PORT=str(pump.port))
        tab = rendered_crontab(env, tmp_path)
        commands = {job.command.split(" ", 1)[1]: job.command for job in tab.jobs}
        for _ in range(3):
            result = run_job(commands["poll"], env, tmp_path)
            assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert len((logs / "spool" / "current.jsonl").read_text().splitlines()) == 3
    result = run_job(commands["flush"], env, tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")  # quiet when well
    assert (logs / "cache.sqlite3").is_file()
    from luxlog.cache import Cache

    with Cache.open(logs / "cache.sqlite3", readonly=True) as cache:
        assert len(list(cache.query(0, 2**62))) == 3


# --- Dockerfile ------------------------------------------------------------------------


def stages() -> list[list[str]]:
    """The Dockerfile's instructions (continuations joined), split into build stages."""
    text = re.sub(r"\\\n", " ", DOCKERFILE)
    instructions = [line.strip() for line in text.splitlines() if line.strip()]
    instructions = [line for line in instructions if not line.startswith("#")]
    result: list[list[str]] = [[]]
    for line in instructions:
        if (
            line.upper().startswith("FROM ")
            and result[-1]
            and any(item.upper().startswith("FROM ") for item in result[-1])
        ):
            result.append([])
        result[-1].append(line)
    return result


def arg(name: str) -> str:
    match = re.search(rf"^ARG {name}=(\S+)$", DOCKERFILE, re.MULTILINE)
    assert match, f"ARG {name} missing"
    return match[1]


def test_every_stage_uses_the_pinned_python_312_slim_base():
    image = arg("PYTHON_IMAGE")
    assert re.fullmatch(r"python:3\.12\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?", image), image
    froms = re.findall(r"^FROM (\S+)", DOCKERFILE, re.MULTILINE)
    assert froms == ["${PYTHON_IMAGE}"] * 3


def test_final_stage_runs_as_a_numeric_non_root_user_with_a_healthcheck():
    final = stages()[-1]
    users = [line.split()[1] for line in final if line.startswith("USER ")]
    assert users and re.fullmatch(r"[1-9]\d*:[1-9]\d*", users[-1]), users
    assert 'ENTRYPOINT ["/usr/local/bin/luxlog-entrypoint"]' in final
    assert final[-1] == "CMD []"  # not the base image's `python3`: no arguments = scheduler
    healthcheck = next(line for line in final if line.startswith("HEALTHCHECK "))
    assert healthcheck.endswith('CMD ["luxlog", "status", "--check"]')
    assert "ENV " in " ".join(final) and "LUXLOG_DATA_DIR=/app/logs" in " ".join(final)
    assert 'VOLUME ["/app/logs"]' in final
    # The volume's mount point belongs to the user (named volumes copy it).
    assert "chown 10001:10001 /app/logs" in " ".join(final)


def test_final_stage_installs_locked_wheels_and_luxlog_as_a_built_wheel():
    final = " ".join(stages()[-1])
    assert "pip install --require-hashes --only-binary=:all: -r /tmp/requirements.lock" in final
    assert "pip install --no-deps --no-index /tmp/wheels/luxlog-*.whl" in final
    assert " -e " not in final and "--editable" not in final
    # No compilers or package manager installs in the image that ships.
    assert not re.search(r"apt-get|apk |gcc|build-essential|g\+\+", final)
    wheel_stage = " ".join(stages()[0])
    assert (
        "pip install --require-hashes --only-binary=:all: -r requirements-build.lock" in wheel_stage
    )
    assert "pip wheel --no-deps --no-build-isolation" in wheel_stage
    # Both pip stages read PyPI unless docker/prove (or a mirror) overrides the index.
    for stage in (stages()[0], stages()[-1]):
        assert "ARG PIP_INDEX_URL=https://pypi.org/simple" in stage


def test_supercronic_is_pinned_and_checksummed_for_amd64_and_arm64():
    assert re.fullmatch(r"v\d+\.\d+\.\d+", arg("SUPERCRONIC_VERSION"))
    for name in ("SUPERCRONIC_SHA1SUM_AMD64", "SUPERCRONIC_SHA1SUM_ARM64"):
        assert re.fullmatch(r"[0-9a-f]{40}", arg(name)), name
    assert arg("SUPERCRONIC_SHA1SUM_AMD64") != arg("SUPERCRONIC_SHA1SUM_ARM64")
    # Today's release assets are the defaults; docker/prove overrides URL and sum together.
    release = "https://github.com/aptible/supercronic/releases/download/${SUPERCRONIC_VERSION}"
    assert arg("SUPERCRONIC_URL_AMD64") == f"{release}/supercronic-linux-amd64"
    assert arg("SUPERCRONIC_URL_ARM64") == f"{release}/supercronic-linux-arm64"
    stage = " ".join(stages()[1])
    assert "sha1sum -c" in stage
    assert 'amd64) url="$SUPERCRONIC_URL_AMD64" sum="$SUPERCRONIC_SHA1SUM_AMD64"' in stage
    assert 'arm64) url="$SUPERCRONIC_URL_ARM64" sum="$SUPERCRONIC_SHA1SUM_ARM64"' in stage
    assert "*) echo" in stage and "exit 1" in stage  # an unknown architecture fails the build
    final = " ".join(stages()[-1])
    assert "COPY --from=supercronic /supercronic /usr/local/bin/supercronic" in final
    assert 'exec "${SUPERCRONIC:-supercronic}" -passthrough-logs' in ENTRYPOINT.read_text()


def test_the_build_context_holds_what_the_dockerfile_copies_and_no_secrets():
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    included = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert next(line for line in ignore if not line.startswith("#")) == "*"  # deny by default
    sources = []
    for line in re.sub(r"\\\n", " ", DOCKERFILE).splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            sources += line.split()[1:-1]
    assert sources
    for source in sources:
        top = source.split("/")[0]
        assert top in included, f"{source} is excluded from the build context"
        assert (ROOT / source).exists(), source
    assert ".env" not in included


# --- compose and .env.example ------------------------------------------------------------


def env_example() -> list[tuple[str, str, bool]]:
    """(name, value, active) of every VARIABLE=value line, commented out or not."""
    result = []
    for line in (ROOT / ".env.example").read_text().splitlines():
        match = re.fullmatch(r"(# )?(LUXLOG_[A-Z_]+)=(.*)", line)
        if match:
            result.append((match[2], match[3], match[1] is None))
    return result


def test_env_example_names_every_setting_and_each_line_is_valid():
    names = [name for name, _, _ in env_example()]
    expected = {config.ENV_PREFIX + field.upper() for field in config._PARSERS} | {
        config.ENV_CONFIG
    }
    assert set(names) == expected, "every LUXLOG_* setting appears once in .env.example"
    assert len(names) == len(set(names))
    for name, value, _ in env_example():
        # docker --env-file takes the rest of the line literally.
        assert "#" not in value and not value.startswith(("'", '"')), name
    active = {name: value for name, value, on in env_example() if on}
    assert set(active) == {"LUXLOG_HOST", "LUXLOG_TIMEZONE"}
    assert config.load(None, environ=active, read_files=False).host == "192.168.1.50"
    everything = {name: value for name, value, _ in env_example() if name != config.ENV_CONFIG}
    loaded = config.load(None, environ=everything, read_files=False)  # raises if any is bad
    assert loaded.data_dir == Path("/app/logs")


def test_compose_runs_the_image_as_the_readme_says():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    service = compose["services"]["luxlog"]
    assert service["build"] == "." and service["image"] == "lux-logger"
    assert service["restart"] == "unless-stopped"
    assert service["env_file"] == ".env"
    assert service["volumes"] == ["./logs:/app/logs"]
    assert service["stop_grace_period"] == "40s"  # longer than one default poll (30 s)
    assert service["environment"]["TZ"] == "${LUXLOG_TIMEZONE:-UTC}"


# --- requirements.lock: drift from pyproject.toml, checked offline ------------------------


def read_lock(path: Path) -> dict[str, tuple[str, list[str], list[str]]]:
    """name -> (version, hashes, via) from a uv/pip-compile lock with hashes."""
    entries: dict[str, tuple[str, list[str], list[str]]] = {}
    current = ""
    for line in path.read_text().splitlines():
        requirement = re.fullmatch(r"([A-Za-z0-9._-]+)==([^\s\\;]+)(?: ;[^\\]*)? \\", line)
        if requirement:
            current = canonicalize_name(requirement[1])
            entries[current] = (requirement[2], [], [])
        elif line.strip().startswith("--hash=sha256:"):
            entries[current][1].append(line.strip().split(":", 1)[1].rstrip(" \\"))
        elif line.startswith("    #"):  # "# via x", or "# via" then one "#   x" per line
            via = line.strip().removeprefix("#").strip().removeprefix("via").strip()
            if via:
                entries[current][2].append(via)
        else:
            assert line.startswith("#") or not line.strip(), f"unexpected lock line {line!r}"
    return entries


def test_requirements_lock_pins_exactly_the_dependencies_of_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = [Requirement(text) for text in project["project"]["dependencies"]]
    lock = read_lock(ROOT / "requirements.lock")
    assert lock, "empty lock"
    for requirement in wanted:
        name = canonicalize_name(requirement.name)
        assert name in lock, f"{name} is in pyproject.toml but not in requirements.lock: ./dev lock"
        version = lock[name][0]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{name}=={version} does not satisfy {requirement}: ./dev lock"
        )
    direct = {name for name, (_, _, via) in lock.items() if "luxlog (pyproject.toml)" in via}
    assert direct == {canonicalize_name(r.name) for r in wanted}, "stale lock: ./dev lock"
    for name, (_, hashes, via) in lock.items():
        assert hashes and all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes), name
        assert via, f"{name} is locked but nothing needs it: ./dev lock"
    text = (ROOT / "requirements.lock").read_text()
    assert "#    ./dev lock" in text


def test_requirements_build_lock_pins_the_build_backend():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    lock = read_lock(ROOT / "requirements-build.lock")
    for text in project["build-system"]["requires"]:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in lock, f"{name} (build) missing from requirements-build.lock: ./dev lock"
        assert requirement.specifier.contains(lock[name][0])
    assert all(hashes for _, hashes, _ in lock.values())


def test_compose_web_service_reads_the_data_volume_read_only():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    web = compose["services"]["web"]
    assert web["image"] == compose["services"]["luxlog"]["image"]  # one image
    assert web["volumes"] == ["./logs:/app/logs:ro"]
    assert web["command"][:2] == ["luxlog", "serve"] and "--host" in web["command"]
    assert all(port.startswith("127.0.0.1:") for port in web["ports"])
    check = web["healthcheck"]["test"]
    assert check[0] == "CMD" and "8088" in check[-1]
    # The health check's one-liner is valid Python (it runs only inside the image).
    compile(check[-1], "healthcheck", "exec")


def test_requirements_web_lock_pins_the_web_extra_with_hashes():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    lock = read_lock(ROOT / "requirements-web.lock")
    base = read_lock(ROOT / "requirements.lock")
    for text in project["project"]["optional-dependencies"]["web"]:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in lock, f"{name} (web extra) missing from requirements-web.lock: ./dev lock"
        assert requirement.specifier.contains(lock[name][0])
    for name, (version, hashes, _) in lock.items():
        assert hashes, name
        if name in base:  # installed after requirements.lock: the same pins
            assert base[name][0] == version, name
    assert "pip install --require-hashes --only-binary=:all: -r /tmp/requirements-web.lock" in (
        " ".join(stages()[-1])
    )
