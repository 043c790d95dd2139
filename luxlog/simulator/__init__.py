"""A fake Luxtronik 2 controller on loopback: real captures, a day's dynamics, and faults.

Three layers, each usable alone:

* :func:`load_capture` (:mod:`.captures`) returns the raw integers a real controller once
  sent (shipped as JSON in ``luxlog/data``), so tests compare against bytes, not against
  our own decoder.
* :class:`HeatPumpModel` (:mod:`.model`) makes a capture move over time: outdoor
  temperature, compressor cycles, counters. It is a *pure function of time*, so a
  benchmark can generate a year of 30-second polls in any order and get the same values
  every run.
* :class:`Simulator` (:mod:`.server`) serves either over real TCP, and can misbehave in
  the ways real controllers and networks do (:data:`FAULT_MODES`, :mod:`.faults`), so the
  client's timeouts, exact reads and rejection of misaligned data are tested against
  sockets, not mocks.

The wire format comes from :mod:`luxlog.heatpump.protocol`; nothing here re-implements it.
"""

from __future__ import annotations

from luxlog.simulator.captures import CAPTURES, DEFAULT_CAPTURE, Capture, load_capture
from luxlog.simulator.faults import FAULT_MODES
from luxlog.simulator.model import DYNAMIC_CALCULATIONS, NOT_FITTED, HeatPumpModel
from luxlog.simulator.server import Simulator

__all__ = [
    "CAPTURES",
    "DEFAULT_CAPTURE",
    "DYNAMIC_CALCULATIONS",
    "FAULT_MODES",
    "NOT_FITTED",
    "Capture",
    "HeatPumpModel",
    "Simulator",
    "load_capture",
]
