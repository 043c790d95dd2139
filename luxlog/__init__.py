"""luxlog: logs a Luxtronik 2 heat pump for years without losing a sample.

Nothing is imported here on purpose: ``luxlog poll`` runs every 30 seconds on small
machines, and every module a package ``__init__`` pulls in is paid for on each run.
"""

__version__ = "0.1.0"
