"""The ``luxlog`` command line: a thin skin over the library.

Each command parses its options, calls one library function and renders the result.
Exceptions become exit codes in ``_run`` (:mod:`luxlog.cli.common`, via
:func:`luxlog.process.exit_code_for`, which the Typer-free fast path of ``poll`` shares).
Modules are imported inside the commands so that each command pays only for what it uses.

The commands live in one module per part of the flow; importing them registers them on
:data:`app`, in the order ``--help`` lists them.
"""

from __future__ import annotations

from luxlog.cli.common import app

# Importing a module registers its commands; this order is the order of ``--help``.
# isort: off
from luxlog.cli import collect  # poll, sensors, flush, import
from luxlog.cli import rollup  # rollup daily|weekly|due
from luxlog.cli import cache  # cache check|backup|restore
from luxlog.cli import upkeep  # prune, status
from luxlog.cli import figures  # stats, report, export, push, metrics
from luxlog.cli import setup  # config, crontab, schedule, serve, simulate, demo

# isort: on

__all__ = ["app", "cache", "collect", "figures", "rollup", "setup", "upkeep"]
