"""Setting up and trying out: ``config``, ``crontab``, ``schedule``, ``serve``, ``simulate``
and ``demo``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from luxlog.errors import Interrupted
from luxlog.process import GlobalOptions

if TYPE_CHECKING:
    from luxlog.config import Settings


from luxlog.cli.common import _run, _settings, app, log


@app.command()
@_run("config")
def config(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    """Validate the configuration and show every setting with where it came from.

    Exit 3 with one line per problem when it is invalid. Example: luxlog config
    """
    import os

    from luxlog import bareenv, render

    # The container's start-up log line on the reference logger's names (HOST, ...): a
    # warning, so that it shows in `docker logs` where luxlog is otherwise quiet.
    names = bareenv.resolve(os.environ)
    note = bareenv.describe(names)
    if note is not None:
        log.warning("%s", note)
    settings = _settings(ctx)
    values = settings.as_dict()
    if as_json:
        typer.echo(render.to_json(values))
        return
    file = str(settings.config_file) if settings.config_file else "none (defaults, env, flags)"
    render.table(
        "settings",
        ["setting", "value", "from"],
        [["config file", file, ""]]
        + [[name, str(value), settings.sources.get(name, "")] for name, value in values.items()],
    )


CheckOption = Annotated[
    bool,
    typer.Option(
        "--check",
        help="Also make sure the jobs can run, creating nothing: exit 3 without a host, 7 if "
        "a data folder cannot be written (the container's start-up check).",
    ),
]


def _check_or_remind(settings: Settings, check: bool) -> None:
    from luxlog import schedule

    if check:
        schedule.preflight(settings)
    elif not settings.host:
        log.warning("host: not set - every poll would exit 3 (set LUXLOG_HOST)")


@app.command()
@_run("crontab")
def crontab(ctx: typer.Context, check: CheckOption = False) -> None:
    """Print the supercronic crontab for this configuration (what the container runs).

    Same as `schedule --format supercronic`. Polls every interval_sec, which must divide
    3600 (exit 3 otherwise); times are UTC. Example: luxlog crontab > crontab
    """
    _print_supercronic(ctx, _settings(ctx), check)


def _print_supercronic(ctx: typer.Context, settings: Settings, check: bool) -> None:
    from luxlog import schedule

    state: GlobalOptions = ctx.obj or GlobalOptions()
    global_args: list[str] = []  # the jobs must see the same settings as this command
    if settings.config_file is not None:
        global_args += ["--config", str(settings.config_file)]
    if state.data_dir is not None:
        global_args += ["--data-dir", str(settings.data_dir)]
    text = schedule.render(settings, global_args=global_args)
    _check_or_remind(settings, check)
    typer.echo(text, nl=False)


@app.command("schedule")
@_run("schedule")
def schedule_command(
    ctx: typer.Context,
    fmt: Annotated[
        str,
        typer.Option(
            "--format", help="systemd (timers), cron (a classic 5-field crontab) or supercronic."
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", help="systemd: write the unit files into this folder."),
    ] = None,
    install: Annotated[
        bool,
        typer.Option(
            "--install",
            help="Put the schedule in place: systemd user units (enabled and started), or "
            "this user's crontab (luxlog's block replaced, other lines kept).",
        ),
    ] = False,
    system: Annotated[
        bool,
        typer.Option("--system", help="systemd: system units in /etc/systemd/system (root)."),
    ] = False,
    check: CheckOption = False,
) -> None:
    """Print (or install) the jobs for systemd, cron or supercronic: one schedule, three forms.

    Every form runs the container's jobs with absolute paths to luxlog and the config
    file. Example: luxlog -c ~/luxlog/luxlog.yaml schedule --format systemd --install
    """
    import os

    from luxlog import schedule

    if fmt not in schedule.FORMATS:
        raise typer.BadParameter(f"--format must be one of {', '.join(schedule.FORMATS)}")
    if output is not None and fmt != "systemd":
        raise typer.BadParameter("--output is for --format systemd (cron prints to stdout)")
    if system and fmt != "systemd":
        raise typer.BadParameter("--system is for --format systemd")
    if install and (fmt == "supercronic" or output is not None):
        raise typer.BadParameter("--install works with --format systemd or cron, without --output")
    settings = _settings(ctx)
    if fmt == "supercronic":
        _print_supercronic(ctx, settings, check)
        return
    _check_or_remind(settings, check)
    if fmt == "cron":
        block = schedule.render_cron(settings)
        if install:
            schedule.install_cron(block)
            typer.echo("installed into your crontab (see it with: crontab -l)", err=True)
        else:
            typer.echo(block, nl=False)
        return
    user = (os.environ.get("SUDO_USER") or schedule.current_user()) if system else None
    units = schedule.render_systemd(settings, user=user)
    if install:
        written = schedule.install_systemd(units, system=system, environ=os.environ)
        typer.echo(f"installed and started the timers in {written[0].parent}", err=True)
        if not system:
            typer.echo(
                "so that they run while you are logged out: sudo loginctl enable-linger "
                + schedule.current_user(),
                err=True,
            )
    elif output is not None:
        for path in schedule.write_units(units, output):
            typer.echo(str(path))
    else:
        for unit in units:
            typer.echo(f"# ==> {unit.name} <==\n{unit.text}")


@app.command()
@_run("serve")
def serve(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (beyond loopback: password).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port.")] = 8088,
    hash_password: Annotated[
        bool,
        typer.Option("--hash-password", help="Read a password from stdin, print its hash, exit."),
    ] = False,
) -> None:
    """Browse the cache, the output files and the status, read-only (needs luxlog[web]).

    A non-loopback --host needs web_password_hash (LUXLOG_WEB_PASSWORD_HASH), made with
    --hash-password; browsers then log in as web_user (default: luxlog).
    Example: luxlog serve --port 8088
    """
    from luxlog import web
    from luxlog.web.security import hash_password as make_hash

    if hash_password:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise typer.BadParameter("empty password on stdin", param_hint="--hash-password")
        typer.echo(make_hash(password))
        return
    settings = _settings(ctx)
    web.require_extra()
    from luxlog.web.app import serve as run_server

    credentials = web.credentials(settings)
    log.info("serving %s on http://%s:%d/ (Ctrl-C stops it)", settings.data_dir, host, port)
    try:
        run_server(settings, host=host, port=port, credentials=credentials)
    except Interrupted:  # uvicorn has shut down cleanly, then re-raised the signal
        log.info("serve stopped")


@app.command()
@_run("simulate")
def simulate(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8889,
    fault: Annotated[
        str | None,
        typer.Option(
            "--fault",
            help="Misbehave: hang, refuse, close-mid-array, fragmented, slow, garbage, "
            "short-length.",
        ),
    ] = None,
    capture: Annotated[
        str, typer.Option("--capture", help="Which real capture to replay.")
    ] = "coolchip-2017-V1.80-L1A",
) -> None:
    """Run a fake heat pump that replays real captures with live dynamics.

    Example: luxlog simulate --port 8889 --fault fragmented
    """
    from luxlog.simulator import CAPTURES, FAULT_MODES, Simulator

    if fault is not None and fault not in FAULT_MODES:
        raise typer.BadParameter(f"unknown fault {fault!r}; choose from {', '.join(FAULT_MODES)}")
    if capture not in CAPTURES:
        raise typer.BadParameter(f"unknown capture {capture!r}; choose from {', '.join(CAPTURES)}")
    try:
        simulator = Simulator(capture=capture, host=host, port=port, fault=fault).start()
    except OSError as exc:
        raise typer.BadParameter(
            f"cannot listen on {host}:{port}: {exc.strerror or exc} (pick another --port, "
            "or --port 0 for a free one)"
        ) from None
    # Plain lines on stderr, not log records: this is what a person at a terminal needs
    # (the port to point luxlog at), whatever the log level.
    typer.echo(
        f"simulated heat pump ({capture}{f', fault {fault}' if fault else ''}) listening on "
        f"{host}:{simulator.port} (Ctrl-C stops it)",
        err=True,
    )
    try:
        simulator.serve_forever()
    except Interrupted:
        typer.echo("simulator stopped", err=True)


@app.command()
@_run("demo")
def demo(
    ctx: typer.Context,
    directory: Annotated[
        Path | None, typer.Option("--dir", help="Where to write (default: a new ./luxlog-demo-*).")
    ] = None,
    hours: Annotated[
        int, typer.Option("--hours", min=1, max=24 * 14, help="Simulated history to log.")
    ] = 72,
) -> None:
    """Try luxlog without a heat pump: three simulated days (--hours) through the pipeline.

    Starts the simulator, polls it once per simulated 5 minutes, then flushes, writes the
    roll-ups, statistics and a report, and checks health, in a fresh folder.
    Example: luxlog demo
    """
    from luxlog.demo import run_demo

    report = run_demo(directory=directory, hours=hours)
    for line in report:
        typer.echo(line)
