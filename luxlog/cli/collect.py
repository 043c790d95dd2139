"""Commands that collect: ``poll``, ``sensors``, ``flush`` and ``import``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from luxlog.cli.common import HostOption, PortOption, _options, _progress, _run, _settings, app, log


@app.command()
@_run("poll")
def poll(
    ctx: typer.Context,
    host: HostOption = None,
    port: PortOption = None,
    show: Annotated[bool, typer.Option("--print", help="Also show the values read.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="With --print: JSON output.")] = False,
) -> None:
    """Read the heat pump once and append the sample to the spool.

    Quiet on success (cron); one log line per failed attempt. Example: luxlog poll --print
    """
    from luxlog.poll import poll as poll_once

    settings = _settings(ctx, host=host, port=port)
    sample = poll_once(settings, started=_options(ctx).started)
    if show or as_json:
        _show_sample(sample.calculations, sample.parameters, as_json=as_json)


def _show_sample(
    calculations: tuple[int, ...], parameters: tuple[int, ...], *, as_json: bool
) -> None:
    from luxlog import render
    from luxlog.heatpump import catalogue

    if as_json:
        data = {
            "firmware": catalogue.firmware(calculations),
            "values": catalogue.values(calculations, parameters),
        }
        typer.echo(render.to_json(data))
        return
    rows = []
    for item in catalogue.sensors(len(calculations), len(parameters)):
        if not item.numeric:
            continue
        raw = calculations[item.index] if item.kind == "calc" else parameters[item.index]
        label = item.label(raw) or ""
        value = render.format_value(item.convert(raw))
        rows.append([item.kind, str(item.index), item.name, value, item.unit or label])
    render.table("heat pump values", ["kind", "index", "name", "value", "unit"], rows)


@app.command()
@_run("sensors")
def sensors(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    """List every sensor luxlog logs: index, name, type/unit and latest value if any.

    Example: luxlog sensors --json
    """
    from luxlog import render
    from luxlog.inventory import sensor_values

    latest, entries = sensor_values(_settings(ctx))
    if as_json:
        typer.echo(
            render.to_json(
                [
                    {
                        "kind": i.kind,
                        "index": i.index,
                        "name": i.name,
                        "type": i.type,
                        "unit": i.unit,
                        "numeric": i.numeric,
                        "latest": v,
                    }
                    for i, v in entries
                ]
            )
        )
        return
    render.table(
        "sensors" + ("" if latest else " (no sample yet: luxtronik's known tables)"),
        ["kind", "index", "name", "type", "unit", "latest"],
        [
            [i.kind, str(i.index), i.name, i.type, i.unit, render.format_value(v)]
            for i, v in entries
        ],
    )


@app.command()
@_run("flush")
def flush(ctx: typer.Context) -> None:
    """Move spooled samples into the SQLite cache (idempotent, crash-safe).

    Example: luxlog flush
    """
    from luxlog.flush import flush as flush_spool

    settings = _settings(ctx)
    with _progress("flushing spool") as progress:
        result = flush_spool(settings, progress=progress)
    log.info(
        "flushed %d sample(s) from %d segment(s): %d new, %d already cached, %d bad line(s)",
        result.samples_read,
        result.segments,
        result.samples_added,
        result.duplicates,
        result.bad_count,
    )


@app.command("import")
@_run("import")
def import_history(
    ctx: typer.Context,
    from_reference: Annotated[
        Path,
        typer.Option(
            "--from-reference",
            help="The reference logger's SQLite cache (its CACHE_PATH, e.g. cache.db).",
        ),
    ],
) -> None:
    """Add the reference logger's history to the cache, as raw integers.

    Idempotent and resumable: a second run adds nothing, a killed run continues where
    it stopped. Values with no exact raw integer (text, unknown types) are stored as
    missing and named. Example: luxlog import --from-reference /app/logs/cache.db
    """
    from luxlog.reference import import_reference

    settings = _settings(ctx)
    with _progress("importing reference history") as progress:
        result = import_reference(settings, from_reference, progress=progress)
    for line in result.summary():  # the command's answer: shown even when logging is quiet
        typer.echo(line)
