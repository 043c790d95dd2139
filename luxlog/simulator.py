"""A fake Luxtronik 2 controller on loopback: real captures, a day's dynamics, and faults.

Three layers, each usable alone:

* :func:`load_capture` returns the raw integers a real controller once sent (shipped as
  JSON in ``luxlog/data``), so tests compare against bytes, not against our own decoder.
* :class:`HeatPumpModel` makes a capture move over time: outdoor temperature, compressor
  cycles, counters. It is a *pure function of time*, so a benchmark can generate a year
  of 30-second polls in any order and get the same values every run.
* :class:`Simulator` serves either over real TCP, and can misbehave in the ways real
  controllers and networks do (:data:`FAULT_MODES`), so the client's timeouts, exact
  reads and rejection of misaligned data are tested against sockets, not mocks.

The wire format comes from :mod:`luxlog.heatpump.protocol`; nothing here re-implements it.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import logging
import math
import random
import selectors
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import TracebackType

from luxlog.heatpump.protocol import (
    CMD_CALCULATIONS,
    CMD_PARAMETERS,
    CMD_VISIBILITIES,
    CMD_WRITE_PARAMETER,
    READ_COMMANDS,
    decode_request,
    encode_reply,
    header_size,
)
from luxlog.registers import (  # the shared register table
    C_CLOCK,
    C_COMPRESSOR,
    C_COMPRESSOR_SECONDS,
    C_COMPRESSOR_STARTS,
    C_FAN,
    C_FLOW,
    C_HEAT_HEATING,
    C_HEAT_HOT_WATER,
    C_HEAT_TOTAL,
    C_HEATING_PUMP,
    C_HEATING_SECONDS,
    C_HEATPUMP_SECONDS,
    C_HOT_GAS,
    C_HOT_WATER,
    C_HOT_WATER_PUMP,
    C_HOT_WATER_SECONDS,
    C_HOT_WATER_SET,
    C_MODE,
    C_ON_SINCE,
    C_OUTDOOR,
    C_OUTDOOR_MEAN,
    C_RETURN,
    C_RETURN_EXT,
    C_RETURN_SET,
    C_SOURCE_IN,
    C_SOURCE_OUT,
    C_STANDSTILL,
    C_STATUS_1,
    C_STATUS_2,
    C_STATUS_3,
    C_STATUS_TIME,
    C_SWITCHOFF_CODE,
    C_SWITCHOFF_TIME,
    P_HOT_WATER_SET,
)

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

logger = logging.getLogger("luxlog.simulator")

DEFAULT_CAPTURE = "coolchip-2017-V1.80-L1A"
CAPTURES: tuple[str, ...] = (DEFAULT_CAPTURE, "bouni-2016-V3.78-MSW6")

#: What a client observes in each fault mode (read requests only; see Simulator):
#:
#: ``hang``            connects; requests are read and never answered, the socket stays
#:                     open until the client gives up (only a client timeout ends it).
#: ``refuse``          connect() fails at once with ECONNREFUSED (port bound, not listening).
#: ``close-mid-array`` the header and about half of the values, cut inside an int32, then
#:                     EOF: a client must reject the short table, not log a prefix of it.
#: ``fragmented``      the correct reply in 1-7 byte pieces with tiny pauses: one recv(4)
#:                     per value (as luxtronik 0.3.14 does) misaligns; exact reads are fine.
#: ``slow``            the correct reply in 64-byte pieces, ``slow_delay`` s before each:
#:                     every recv() returns in time, only an overall deadline catches it.
#: ``garbage``         rotating per request (and shifted per connection): another read
#:                     command's echo on a correct body; a length of 0x7fffffff on the
#:                     correct values; 64 random bytes. The connection stays open.
#: ``short-length``    announces 100 values more than it sends, then goes silent with the
#:                     socket open: a client waiting for the rest needs its timeout.
FAULT_MODES: tuple[str, ...] = (
    "hang",
    "refuse",
    "close-mid-array",
    "fragmented",
    "slow",
    "garbage",
    "short-length",
)


# --------------------------------------------------------------------------- captures


@dataclass(frozen=True, slots=True)
class Capture:
    """One real controller's three tables, raw ints exactly as they came off the wire.

    Visibilities are int8 on the wire (protocol quirk: the only byte-sized table), but are
    kept as plain ints like the others.
    """

    name: str
    firmware: str
    source: str
    parameters: tuple[int, ...]
    calculations: tuple[int, ...]
    visibilities: tuple[int, ...]
    status: int = 0  # the 3004 reply's status word; 0 in every capture we have


@cache
def load_capture(name: str = DEFAULT_CAPTURE) -> Capture:
    """A shipped capture by name (one of :data:`CAPTURES`); cached, as it is immutable."""
    if name not in CAPTURES:
        raise ValueError(f"unknown capture {name!r}: choose one of {', '.join(CAPTURES)}")
    text = resources.files("luxlog").joinpath("data", f"{name}.json").read_text("utf-8")
    doc = json.loads(text)
    return Capture(
        name=str(doc["name"]),
        firmware=str(doc["firmware"]),
        source=str(doc.get("source", "")),
        parameters=tuple(int(v) for v in doc["parameters"]),
        calculations=tuple(int(v) for v in doc["calculations"]),
        visibilities=tuple(int(v) for v in doc["visibilities"]),
        status=int(doc.get("status", 0)),
    )


def _resolve_capture(capture: str | Capture) -> Capture:
    return capture if isinstance(capture, Capture) else load_capture(capture)


# --------------------------------------------------------------------------- the model

# Calculation indices the model drives: luxlog.registers (one table for all modules).

#: Calculation indices whose values change over time; every other index (and every
#: parameter except :data:`P_HOT_WATER_SET`) is served exactly as captured.
DYNAMIC_CALCULATIONS: tuple[int, ...] = (
    *range(C_FLOW, C_SOURCE_OUT + 1),
    C_HOT_WATER_PUMP,
    C_HEATING_PUMP,
    C_FAN,
    C_COMPRESSOR,
    C_COMPRESSOR_SECONDS,
    C_COMPRESSOR_STARTS,
    C_HEATPUMP_SECONDS,
    C_HEATING_SECONDS,
    C_HOT_WATER_SECONDS,
    C_ON_SINCE,
    C_STANDSTILL,
    C_MODE,
    *range(C_SWITCHOFF_CODE, C_SWITCHOFF_TIME + 5),
    C_STATUS_1,
    C_STATUS_2,
    C_STATUS_3,
    C_STATUS_TIME,
    C_CLOCK,
    C_HEAT_HEATING,
    C_HEAT_HOT_WATER,
    C_HEAT_TOTAL,
)

NOT_FITTED = -500  # what the controller reports for a sensor that is not connected

MODE_HEATING = 0
MODE_HOT_WATER = 1
MODE_NO_REQUEST = 5
SWITCHOFF_NO_REQUEST = 9

_DAY = 86_400
_YEAR = 365.2425 * _DAY
_JAN_15 = 14 * _DAY  # coldest day of the seasonal curve (in any year: phase only)
_TWO_PI = 2.0 * math.pi

_ROOM = 200.0  # 20.0 degC: what idle water and the hot-water tank cool towards
_TANK_TAU = 24 * 3600.0  # tank loses ~1.2 K/h at 50 degC (standby loss plus some use)
_HOT_WATER_RATE = 150.0 / 3600.0  # tank heats 15 K per hour of compressor running
_HOT_WATER_HYSTERESIS = 70  # 7 K below the setpoint before the controller asks for heat
_HOT_WATER_OVERSHOOT = 20  # and it stops 2 K above it
_HEATING_KW_DIV = 60  # 6 kW thermal: seconds // 60 = 0.1 kWh steps
_HOT_WATER_KW_DIV = 72  # 5 kW thermal: seconds // 72 = 0.1 kWh steps
_SETPOINT_OFFSETS = (-30, -20, -10, 0, 10, 20)  # hot-water setpoints people pick, vs captured
_CHUNK = 64  # cycles or setpoint changes generated per lock acquisition

_M64 = (1 << 64) - 1


def _mix64(x: int) -> int:
    """splitmix64 finaliser: a stateless hash, so "random" values depend only on inputs.

    ``random.Random`` would need state carried from call to call, which would make
    ``read(t)`` depend on which times were read before it.
    """
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def _clamp(value: float, low: float, high: float) -> float:
    return low if value < low else high if value > high else value


@dataclass(frozen=True, slots=True)
class _Cycle:
    """One compressor cycle: an idle phase [start, run_start), then a run [run_start, end).

    Everything that carries over from cycle to cycle (tank and water temperatures,
    cumulative counters) is stored at the cycle's boundaries, so any moment inside it is
    a closed-form function of the time since the boundary.
    """

    start: int
    run_start: int
    end: int
    mode: int  # MODE_HEATING or MODE_HOT_WATER
    starts_before: int
    heating_before: int  # compressor seconds spent heating before this cycle
    hot_water_before: int
    return_at_start: float
    hot_gas_at_start: float
    tank_at_start: float
    return_at_run: float
    hot_gas_at_run: float
    tank_at_run: float
    source_at_start: float  # brine cooling (0..1) left over from the previous run


class HeatPumpModel:
    """A capture brought to life: ``read(at_ms)`` is a pure function of ``(seed, at_ms)``.

    Compressor cycles are generated in order (an idle phase of 30-90 min, then a run of
    20-60 min for heating, or until the tank is hot again for hot water; colder weather
    means longer runs and shorter pauses) with per-cycle jitter hashed from
    ``(seed, cycle index)``. They are generated lazily and cached, which is invisible to
    callers: the cache only ever holds what any call order would compute.

    At ``start_ms`` the model reproduces the capture (give or take rounding) and starts
    idle, as both captures are; counters then grow from the captured values. Before
    ``start_ms`` the counters stay at the captured values (they never go backwards).

    Dynamic indices are listed in :data:`DYNAMIC_CALCULATIONS`; sensors the capture
    reports as not fitted (-500) stay -500. Of the parameters only the hot-water setpoint
    (index 2, mirrored in calculation 18) changes, every 3-14 days in daytime, like a
    person would.
    """

    def __init__(self, capture: Capture, *, seed: int = 0, start_ms: int) -> None:
        calc = capture.calculations
        if len(calc) <= C_HEAT_TOTAL or len(capture.parameters) <= P_HOT_WATER_SET:
            raise ValueError(f"capture {capture.name!r} is too short to be animated")
        self.capture = capture
        self.seed = seed
        self.start_ms = start_ms
        self._start = start_ms // 1000
        self._base_calc = list(calc)
        self._base_params = capture.parameters
        self._fitted = {i: calc[i] != NOT_FITTED for i in range(C_FLOW, C_SOURCE_OUT + 1)}
        # Water-sourced pumps have TWE/TWA; air-sourced ones have a fan instead.
        self._air_source = calc[C_SOURCE_IN] == NOT_FITTED

        base_key = _mix64(seed & _M64)
        # One independent hash stream per random quantity, so tuning one leaves the others.
        (
            self._k_weather,
            self._k_fine,
            self._k_idle,
            self._k_run,
            self._k_gap,
            self._k_time_of_day,
            self._k_setpoint,
        ) = (_mix64(base_key ^ stream) for stream in range(7))

        # Anchor the weather so the capture's own readings come out at start_ms.
        self._outdoor_offset = calc[C_OUTDOOR] - self._outdoor_shape(self._start)
        self._mean_offset = calc[C_OUTDOOR_MEAN] - self._mean_shape(self._start)
        self._idle_spread = _clamp(calc[C_FLOW] - calc[C_RETURN], 0, 30)
        self._ext_offset = calc[C_RETURN_EXT] - calc[C_RETURN]

        # The switch-off log is a ring buffer: the next entry goes after the newest one.
        times = calc[C_SWITCHOFF_TIME : C_SWITCHOFF_TIME + 5]
        self._switchoff_slot0 = (times.index(max(times)) + 1) % 5 if any(times) else 0

        # Reentrant: generating a cycle looks up (and may generate) setpoint changes.
        self._lock = threading.RLock()
        # Setpoint changes: (time, value); the first entry stands for "since forever".
        self._setpoint_times: list[int] = [self._start]
        self._setpoint_values: list[int] = [capture.parameters[P_HOT_WATER_SET]]
        self._param_tuples: dict[int, tuple[int, ...]] = {}
        self._cycles: list[_Cycle] = []
        self._cycle_starts: list[int] = []
        self._horizon = self._start  # cycles cover [start, horizon)

    # -- smooth functions of time (raw units: 0.1 K) --------------------------------

    def _noise(self, key: int, t: float, period: int) -> float:
        """Value noise in [-1, 1]: hashed knots every ``period`` s, linearly joined."""
        knot, offset = divmod(t, period)
        i = int(knot)
        a = _mix64(key ^ (i & _M64)) / 2.0**63 - 1.0
        b = _mix64(key ^ ((i + 1) & _M64)) / 2.0**63 - 1.0
        return a + (b - a) * (offset / period)

    def _smooth_noise(self, key: int, t: float, period: int) -> float:
        """Like :meth:`_noise` but eased at the knots: weather has no corners."""
        knot, offset = divmod(t, period)
        i = int(knot)
        a = _mix64(key ^ (i & _M64)) / 2.0**63 - 1.0
        b = _mix64(key ^ ((i + 1) & _M64)) / 2.0**63 - 1.0
        f = offset / period
        return a + (b - a) * f * f * (3.0 - 2.0 * f)

    def _mean_shape(self, t: float) -> float:
        """Seasons (+-8 K, coldest mid-January) and weather fronts (+-1.5 K over ~6 h)."""
        season = -80.0 * math.cos(_TWO_PI * (t - _JAN_15) / _YEAR)
        return season + 15.0 * self._smooth_noise(self._k_weather, t, 6 * 3600)

    def _outdoor_shape(self, t: float) -> float:
        """Mean plus the day (+-4 K, warmest 15:00 UTC), fronts, and sensor jitter."""
        day = 40.0 * math.sin(_TWO_PI * ((t % _DAY) / _DAY - 0.375))
        weather = 15.0 * self._smooth_noise(self._k_weather, t, 6 * 3600)
        jitter = 2.5 * self._noise(self._k_fine, t, 120)
        return self._mean_shape(t) + day + weather + jitter

    def _mean(self, t: float) -> float:
        return self._mean_offset + self._mean_shape(t)

    def _return_set(self, t: float) -> float:
        """Heating curve: the captured setpoint, +0.6 K per K the average gets colder.

        Luxtronik steers by the averaged outdoor temperature (calc 16), not the current
        one, which is why the setpoint does not jitter with the sensor.
        """
        base = self._base_calc[C_RETURN_SET]
        mean = self._mean(t)
        return _clamp(base + 0.6 * (self._base_calc[C_OUTDOOR_MEAN] - mean), min(base, 150), 600)

    def _cold(self, t: float) -> float:
        """0 at 15 degC average outdoors, 1 at -15 degC: how hard the heat pump works."""
        return _clamp((150.0 - self._mean(t)) / 300.0, 0.0, 1.0)

    def _idle_return(self, t: float) -> float:
        return max(self._return_set(t) - 30.0, _ROOM)

    @staticmethod
    def _tank_cooling(tank: float, seconds: float) -> float:
        return _ROOM + (tank - _ROOM) * math.exp(-seconds / _TANK_TAU)

    # -- lazily generated tables -----------------------------------------------------

    def _extend_setpoints(self, until: int) -> None:
        """Setpoint changes up to ``until``: every 3-14 days, 07:00-22:00 UTC."""
        base = self._base_params[P_HOT_WATER_SET]
        while self._setpoint_times[-1] <= until:
            for _ in range(_CHUNK):
                n = len(self._setpoint_times)
                day = self._setpoint_times[-1] // _DAY + 3 + _mix64(self._k_gap ^ n) % 12
                moment = day * _DAY + 7 * 3600 + _mix64(self._k_time_of_day ^ n) % (15 * 3600)
                offsets = _SETPOINT_OFFSETS
                value = base + offsets[_mix64(self._k_setpoint ^ n) % len(offsets)]
                if value == self._setpoint_values[-1]:
                    value = base + 30 if value == base else base
                self._setpoint_values.append(value)
                self._setpoint_times.append(moment)

    def _setpoint_index(self, t: int) -> int:
        if t >= self._setpoint_times[-1]:
            with self._lock:
                self._extend_setpoints(t)
        return max(bisect.bisect_right(self._setpoint_times, t) - 1, 0)

    def _extend_cycles(self, until: int) -> None:
        """Generate cycles in order until one ends after ``until`` (caller holds the lock)."""
        calc = self._base_calc
        tank_fitted = self._fitted[C_HOT_WATER]
        while self._horizon <= until:
            for _ in range(_CHUNK):
                k = len(self._cycles)
                if k == 0:
                    start = self._start
                    prev_run = 0
                    state = (
                        0,
                        0,
                        0,
                        float(calc[C_RETURN]),
                        float(calc[C_HOT_GAS]),
                        float(calc[C_HOT_WATER]),
                    )
                else:
                    p = self._cycles[-1]
                    start = p.end
                    prev_run = p.end - p.run_start
                    state = self._state_at_end(p)
                starts, heating, hot_water, ret0, gas0, tank0 = state
                source0 = 1.0 - math.exp(-prev_run / 300.0)
                u_idle = _mix64(self._k_idle ^ k) / 2.0**64
                u_run = _mix64(self._k_run ^ k) / 2.0**64
                cold = self._cold(start)
                if k == 0:
                    # Both captures were idle: start soon, so even short tests see a start.
                    idle = 300 + int(1200 * u_idle)
                else:
                    idle = 1800 + int(3600 * _clamp(0.6 * u_idle + 0.4 * (1 - cold), 0, 1))
                run_start = start + idle
                decay = math.exp(-idle / 900.0)
                idle_ret = self._idle_return(run_start)
                ret1 = idle_ret + (ret0 - idle_ret) * decay
                gas1 = ret1 + (gas0 - ret0) * math.exp(-idle / 1200.0)
                tank1 = self._tank_cooling(tank0, idle)
                setpoint = self._setpoint_values[self._setpoint_index(run_start)]
                if tank_fitted and tank1 < setpoint - _HOT_WATER_HYSTERESIS:
                    mode = MODE_HOT_WATER
                    needed = (setpoint + _HOT_WATER_OVERSHOOT - tank1) / _HOT_WATER_RATE
                    run = int(_clamp(needed, 900, 3600))
                else:
                    mode = MODE_HEATING
                    run = 1200 + int(2400 * _clamp(0.6 * u_run + 0.4 * cold, 0, 1))
                self._cycles.append(
                    _Cycle(
                        start=start,
                        run_start=run_start,
                        end=run_start + run,
                        mode=mode,
                        starts_before=starts,
                        heating_before=heating,
                        hot_water_before=hot_water,
                        return_at_start=ret0,
                        hot_gas_at_start=gas0,
                        tank_at_start=tank0,
                        return_at_run=ret1,
                        hot_gas_at_run=gas1,
                        tank_at_run=tank1,
                        source_at_start=source0,
                    )
                )
                self._cycle_starts.append(start)
            self._horizon = self._cycles[-1].end

    def _state_at_end(self, c: _Cycle) -> tuple[int, int, int, float, float, float]:
        """(starts, heating s, hot-water s, return, hot gas, tank) when a run ends."""
        run = c.end - c.run_start
        ret, gas, tank = self._running(c, c.end)
        heating = c.heating_before + (run if c.mode == MODE_HEATING else 0)
        hot_water = c.hot_water_before + (run if c.mode == MODE_HOT_WATER else 0)
        return c.starts_before + 1, heating, hot_water, ret, gas, tank

    def _running(self, c: _Cycle, t: int) -> tuple[float, float, float]:
        """(return, hot gas, tank) ``t - run_start`` seconds into a run."""
        tau = t - c.run_start
        if c.mode == MODE_HOT_WATER:
            setpoint = self._setpoint_values[self._setpoint_index(c.run_start)]
            tank = min(
                c.tank_at_run + _HOT_WATER_RATE * tau,
                max(c.tank_at_run, setpoint + _HOT_WATER_OVERSHOOT),
            )
            target_ret, hot = tank + 30.0, 900.0
        else:
            tank = self._tank_cooling(c.tank_at_run, tau)
            target_ret, hot = max(self._return_set(t), _ROOM) + 25.0, 750.0
        ret = c.return_at_run + (target_ret - c.return_at_run) * (1.0 - math.exp(-tau / 600.0))
        gas = c.hot_gas_at_run + (hot - c.hot_gas_at_run) * (1.0 - math.exp(-tau / 180.0))
        return ret, gas, tank

    def _cycle_at(self, t: int) -> tuple[int, _Cycle]:
        if t >= self._horizon:
            with self._lock:
                self._extend_cycles(t)
        k = bisect.bisect_right(self._cycle_starts, t) - 1
        return k, self._cycles[k]

    # -- the public face -------------------------------------------------------------

    def parameters_at(self, at_ms: int) -> tuple[int, ...]:
        """Parameters at ``at_ms``: the capture, with the hot-water setpoint of the day."""
        i = self._setpoint_index(max(at_ms // 1000, self._start))
        params = self._param_tuples.get(i)
        if params is None:
            values = list(self._base_params)
            values[P_HOT_WATER_SET] = self._setpoint_values[i]
            params = self._param_tuples.setdefault(i, tuple(values))
        return params

    def read(self, at_ms: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(calculations, parameters) as the controller would report them at ``at_ms``."""
        now = at_ms // 1000
        t = max(now, self._start)
        k, c = self._cycle_at(t)
        calc = self._base_calc.copy()
        fitted = self._fitted
        running = t >= c.run_start

        if running:
            tau = t - c.run_start
            ret, gas, tank = self._running(c, t)
            spread_target = 60.0 if c.mode == MODE_HOT_WATER else 50.0
            spread = self._idle_spread + (spread_target - self._idle_spread) * (
                1.0 - math.exp(-tau / 120.0)
            )
            source = 1.0 - math.exp(-tau / 300.0)
            starts = c.starts_before + 1
            heating = c.heating_before + (tau if c.mode == MODE_HEATING else 0)
            hot_water = c.hot_water_before + (tau if c.mode == MODE_HOT_WATER else 0)
            hot_water_run = c.mode == MODE_HOT_WATER
            calc[C_COMPRESSOR] = 1
            calc[C_MODE] = c.mode
            calc[C_STATUS_1] = 0  # heatpump running
            calc[C_STATUS_3] = 5 if hot_water_run else 0  # domestic water / heating
            calc[C_STATUS_TIME] = tau
            calc[C_ON_SINCE] = tau
            calc[C_STANDSTILL] = 0
            if hot_water_run:
                calc[C_HOT_WATER_PUMP] = 1
            else:
                calc[C_HEATING_PUMP] = 1
            if self._air_source:
                calc[C_FAN] = 1
        else:
            tau = t - c.start
            decay = math.exp(-tau / 900.0)
            idle_ret = self._idle_return(t)
            ret = idle_ret + (c.return_at_start - idle_ret) * decay
            gas = ret + (c.hot_gas_at_start - c.return_at_start) * math.exp(-tau / 1200.0)
            tank = self._tank_cooling(c.tank_at_start, tau)
            spread = self._idle_spread
            source = c.source_at_start * math.exp(-tau / 900.0)
            starts = c.starts_before
            heating = c.heating_before
            hot_water = c.hot_water_before
            # Before the first start the idle clocks continue the capture's own.
            since = tau + (self._base_calc[C_STATUS_TIME] if k == 0 else 0)
            calc[C_COMPRESSOR] = 0
            calc[C_MODE] = MODE_NO_REQUEST
            calc[C_STATUS_1] = 1  # heatpump idle
            calc[C_STATUS_3] = 1  # no request
            calc[C_STATUS_TIME] = since
            if k > 0:
                calc[C_ON_SINCE] = 0
            calc[C_STANDSTILL] = tau + (self._base_calc[C_STANDSTILL] if k == 0 else 0)
        calc[C_STATUS_2] = 0  # "since"

        outdoor = self._outdoor_offset + self._outdoor_shape(now)
        if fitted[C_OUTDOOR]:
            calc[C_OUTDOOR] = round(outdoor)
        if fitted[C_OUTDOOR_MEAN]:
            calc[C_OUTDOOR_MEAN] = round(self._mean(now))
        if fitted[C_RETURN]:
            calc[C_RETURN] = round(ret)
        if fitted[C_FLOW]:
            calc[C_FLOW] = round(ret + spread)
        if fitted[C_RETURN_EXT]:
            calc[C_RETURN_EXT] = round(ret + self._ext_offset)
        if fitted[C_HOT_GAS]:
            calc[C_HOT_GAS] = round(gas)
        if fitted[C_HOT_WATER]:
            calc[C_HOT_WATER] = round(tank)
        calc[C_RETURN_SET] = round(self._return_set(t))
        if fitted[C_SOURCE_IN]:
            calc[C_SOURCE_IN] = round(self._base_calc[C_SOURCE_IN] - 20.0 * source)
        if fitted[C_SOURCE_OUT]:
            calc[C_SOURCE_OUT] = round(self._base_calc[C_SOURCE_OUT] - 30.0 * source)

        params = self.parameters_at(t * 1000)
        setpoint_delta = params[P_HOT_WATER_SET] - self._base_params[P_HOT_WATER_SET]
        calc[C_HOT_WATER_SET] = self._base_calc[C_HOT_WATER_SET] + setpoint_delta

        running_s = heating + hot_water
        calc[C_COMPRESSOR_SECONDS] += running_s
        calc[C_HEATPUMP_SECONDS] += running_s
        calc[C_COMPRESSOR_STARTS] += starts
        calc[C_HEATING_SECONDS] += heating
        calc[C_HOT_WATER_SECONDS] += hot_water
        heat_heating = heating // _HEATING_KW_DIV
        heat_hot_water = hot_water // _HOT_WATER_KW_DIV
        calc[C_HEAT_HEATING] += heat_heating
        calc[C_HEAT_HOT_WATER] += heat_hot_water
        calc[C_HEAT_TOTAL] += heat_heating + heat_hot_water

        # Every finished run appends "no request" to the switch-off ring buffer.
        slot0 = self._switchoff_slot0
        for j in range(max(0, k - 5), k):
            slot = (slot0 + j) % 5
            calc[C_SWITCHOFF_CODE + slot] = SWITCHOFF_NO_REQUEST
            calc[C_SWITCHOFF_TIME + slot] = self._cycles[j].end

        calc[C_CLOCK] = now
        return tuple(calc), params


# --------------------------------------------------------------------------- the server

_FRAGMENT_PAUSE = 0.0003  # between 1-7 byte pieces: long enough for a reader to catch up
_SLOW_CHUNK = 64  # bytes per trickle in "slow" mode
_GARBAGE_LENGTH = 0x7FFFFFFF
_SHORT_LENGTH_EXTRA = 100  # values announced but never sent in "short-length" mode
_JOIN_TIMEOUT = 2.0


def _recv_exact(conn: socket.socket, size: int) -> bytes | None:
    """``size`` bytes, or None if the peer went away first (a short read is not a request)."""
    data = b""
    while len(data) < size:
        try:
            chunk = conn.recv(size - len(data))
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk
    return data


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class Simulator:
    """A loopback Luxtronik 2 controller: one thread per connection, many requests each.

    Real controllers answer 3003, 3004 and 3005 in any order on one connection and keep
    it open until the client closes it; so does this. A 3002 (write) request is answered
    as a controller acknowledges it (echo ``3002`` and the value) but changes nothing and
    is counted in :attr:`write_attempts`, so tests can prove luxlog never sends one.

    ``fault`` makes every read request misbehave as described at :data:`FAULT_MODES`;
    3002 is still acknowledged, except when the connection has gone silent (``hang``,
    or after a ``short-length`` reply). ``dynamic=False`` replays the capture byte for byte;
    ``dynamic=True`` serves :class:`HeatPumpModel` at ``clock_ms()`` (wall clock by
    default), with the model starting at the moment the simulator was created.
    """

    def __init__(
        self,
        *,
        capture: str | Capture = DEFAULT_CAPTURE,
        host: str = "127.0.0.1",
        port: int = 0,
        fault: str | None = None,
        seed: int = 0,
        dynamic: bool = True,
        slow_delay: float = 0.5,
        clock_ms: Callable[[], int] = _wall_clock_ms,
    ) -> None:
        if fault is not None and fault not in FAULT_MODES:
            raise ValueError(f"unknown fault {fault!r}: choose one of {', '.join(FAULT_MODES)}")
        if slow_delay < 0:
            raise ValueError(f"slow_delay must be >= 0 seconds (got {slow_delay})")
        self.capture = _resolve_capture(capture)
        self.host = host
        self.fault = fault
        self.seed = seed
        self.dynamic = dynamic
        self.slow_delay = slow_delay
        self._clock_ms = clock_ms
        self._requested_port = port
        self._port = port
        self.model: HeatPumpModel | None = (
            HeatPumpModel(self.capture, seed=seed, start_ms=clock_ms()) if dynamic else None
        )
        cap = self.capture
        self._static: dict[int, bytes] = {
            CMD_PARAMETERS: encode_reply(CMD_PARAMETERS, cap.parameters),
            CMD_CALCULATIONS: encode_reply(CMD_CALCULATIONS, cap.calculations, cap.status),
            CMD_VISIBILITIES: encode_reply(CMD_VISIBILITIES, cap.visibilities),
        }

        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._handlers: set[threading.Thread] = set()
        self._open: set[socket.socket] = set()
        self._connections = 0
        self._active = 0
        self._max_concurrent = 0
        self._commands: Counter[int] = Counter()
        self._write_attempts = 0

    # -- stats (read from any thread) ------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port once started (the one asked for, or the one the OS chose)."""
        return self._port

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self._port)

    @property
    def connections(self) -> int:
        """Connections accepted since start (never decreases)."""
        return self._connections

    @property
    def active(self) -> int:
        """Connections open right now."""
        return self._active

    @property
    def max_concurrent(self) -> int:
        """Most connections that were open at the same moment."""
        return self._max_concurrent

    @property
    def commands(self) -> Counter[int]:
        """A copy of how often each command word was received (including unknown ones)."""
        with self._lock:
            return Counter(self._commands)

    @property
    def write_attempts(self) -> int:
        """How many 3002 (write parameter) requests arrived; luxlog must keep this at 0."""
        return self._write_attempts

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> Simulator:
        """Bind, listen and serve in a daemon thread; returns self for chaining."""
        if self._listener is not None:
            raise RuntimeError("simulator already started")
        self._stopping.clear()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            # TIME_WAIT from the previous run must not keep a restart off its port.
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self.host, self._requested_port))
            self._port = listener.getsockname()[1]
            if self.fault == "refuse":
                # Bound but never listening: the kernel answers SYN with RST, so clients
                # get ECONNREFUSED at once, as from a controller whose service is down;
                # the port stays bound, so .port names a port that really refuses.
                self._listener = listener
                logger.debug("refusing connections on %s:%d", self.host, self._port)
                return self
            listener.listen(16)
            listener.setblocking(False)
        except BaseException:
            listener.close()
            raise
        self._listener = listener
        self._wake_r, self._wake_w = socket.socketpair()
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name=f"luxlog-sim-{self._port}", daemon=True
        )
        self._accept_thread.start()
        logger.debug("listening on %s:%d (fault=%s)", self.host, self._port, self.fault)
        return self

    def stop(self) -> None:
        """Close the port and every open connection, and wait for the threads to end."""
        self._stopping.set()
        if self._wake_w is not None:
            with contextlib.suppress(OSError):
                self._wake_w.send(b"x")
        if self._accept_thread is not None:
            self._accept_thread.join(_JOIN_TIMEOUT)
            self._accept_thread = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        for sock in (self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()
        self._wake_r = self._wake_w = None
        with self._lock:
            open_now = list(self._open)
            handlers = list(self._handlers)
        for conn in open_now:
            # shutdown() wakes a handler blocked in recv(); close() alone would not.
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in handlers:
            thread.join(_JOIN_TIMEOUT)

    def serve_forever(self) -> None:
        """Serve until :meth:`stop` is called from elsewhere or Ctrl-C is pressed.

        The server is stopped either way; KeyboardInterrupt propagates so the CLI can
        pick its exit status.
        """
        if self._listener is None:
            self.start()
        try:
            # A timed wait keeps the main thread responsive to SIGINT on every platform.
            while not self._stopping.wait(0.5):
                pass
        finally:
            self.stop()

    def __enter__(self) -> Simulator:
        return self if self._listener is not None else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- serving ---------------------------------------------------------------------

    def _accept_loop(self) -> None:
        listener, wake = self._listener, self._wake_r
        assert listener is not None and wake is not None
        with selectors.DefaultSelector() as selector:
            selector.register(listener, selectors.EVENT_READ)
            selector.register(wake, selectors.EVENT_READ)
            while not self._stopping.is_set():
                for key, _ in selector.select():
                    if key.fileobj is wake or self._stopping.is_set():
                        return
                    try:
                        conn, peer = listener.accept()
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError:
                        return
                    conn.setblocking(True)
                    with self._lock:
                        index = self._connections
                        self._connections += 1
                        self._active += 1
                        self._max_concurrent = max(self._max_concurrent, self._active)
                        self._open.add(conn)
                        thread = threading.Thread(
                            target=self._serve_connection,
                            args=(conn, peer, index),
                            name=f"luxlog-sim-conn-{index}",
                            daemon=True,
                        )
                        self._handlers.add(thread)
                    thread.start()

    def _reply(self, command: int) -> bytes:
        if self.model is None or command == CMD_VISIBILITIES:
            return self._static[command]
        calculations, parameters = self.model.read(self._clock_ms())
        if command == CMD_PARAMETERS:
            return encode_reply(command, parameters)
        return encode_reply(command, calculations, self.capture.status)

    def _serve_connection(self, conn: socket.socket, peer: tuple[str, int], index: int) -> None:
        where = f"{peer[0]}:{peer[1]}"  # IPv6 peers are 4-tuples
        # Replies go out piece by piece in some fault modes; without NODELAY the kernel
        # would coalesce the pieces and the client would never see them apart.
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        rng = random.Random(self.seed * 1_000_003 + index)
        seen: list[int] = []
        outcome = "closed by client"
        silent = self.fault == "hang"
        try:
            while not self._stopping.is_set():
                request = _recv_exact(conn, 8)
                if request is None:
                    break
                command, argument = decode_request(request)
                seen.append(command)
                with self._lock:
                    self._commands[command] += 1
                if command == CMD_WRITE_PARAMETER:
                    # luxtronik sends index and value in one 12-byte request.
                    value = _recv_exact(conn, 4)
                    if value is None:
                        break
                    with self._lock:
                        self._write_attempts += 1
                    logger.debug("%s: write attempt, parameter %d ignored", where, argument)
                    if not silent:
                        conn.sendall(struct.pack(">i", CMD_WRITE_PARAMETER) + value)
                    continue
                if command not in READ_COMMANDS:
                    outcome = f"unknown command {command}, closed"
                    break
                if silent:
                    continue
                reply = self._reply(command)
                if not self._send_reply(conn, command, reply, rng, len(seen) - 1 + index):
                    outcome = f"fault {self.fault}: closed mid-array"
                    break
                if self.fault == "short-length":
                    silent = True  # the client now waits for values that never come
        except OSError as exc:
            outcome = f"socket error: {exc}"
        finally:
            with self._lock:
                self._open.discard(conn)
            conn.close()
            logger.debug(
                "connection %d from %s: commands %s, %s",
                index,
                where,
                seen,
                "stopped" if self._stopping.is_set() else outcome,
            )
            # Last, so that a test seeing active == 0 also sees the log line.
            with self._lock:
                self._active -= 1
                self._handlers.discard(threading.current_thread())

    def _send_reply(
        self, conn: socket.socket, command: int, reply: bytes, rng: random.Random, turn: int
    ) -> bool:
        """Send ``reply`` the way the fault mode says; False means close the connection."""
        fault = self.fault
        head = header_size(command)
        if fault is None:
            conn.sendall(reply)
        elif fault == "close-mid-array":
            # Cut at an odd offset into the values, so the last int32 is torn in half.
            body = len(reply) - head
            conn.sendall(reply[: head + (body // 2 | 1)] if body else reply[: head - 2])
            return False
        elif fault == "fragmented":
            pos = 0
            while pos < len(reply) and not self._stopping.is_set():
                size = rng.randint(1, 7)
                conn.sendall(reply[pos : pos + size])
                pos += size
                time.sleep(_FRAGMENT_PAUSE)
        elif fault == "slow":
            for pos in range(0, len(reply), _SLOW_CHUNK):
                if self._stopping.wait(self.slow_delay):
                    return False
                conn.sendall(reply[pos : pos + _SLOW_CHUNK])
        elif fault == "garbage":
            conn.sendall(self._garbage(command, reply, rng, turn % 3))
        elif fault == "short-length":
            count = len(reply) - head if command == CMD_VISIBILITIES else (len(reply) - head) // 4
            length = struct.pack(">i", count + _SHORT_LENGTH_EXTRA)
            conn.sendall(reply[: head - 4] + length + reply[head:])
        return True

    @staticmethod
    def _garbage(command: int, reply: bytes, rng: random.Random, variant: int) -> bytes:
        """Three kinds of nonsense, rotating per request and per connection.

        0: the right body under another read command's echo (a stale reply);
        1: the right values under a length of 0x7fffffff (a client that trusts it waits
           for 8 GiB or allocates it); 2: 64 random bytes whose first int32 is not the
           command.
        """
        head = header_size(command)
        if variant == 0:
            others = READ_COMMANDS[1:] + READ_COMMANDS[:1]
            wrong = others[READ_COMMANDS.index(command)]
            return struct.pack(">i", wrong) + reply[4:]
        if variant == 1:
            return reply[: head - 4] + struct.pack(">i", _GARBAGE_LENGTH) + reply[head:]
        noise = bytearray(rng.randbytes(64))
        if struct.unpack(">i", bytes(noise[:4]))[0] == command:
            noise[0] ^= 0xFF
        return bytes(noise)
