"""The model: a capture brought to life as a pure function of time.

Outdoor temperature, compressor cycles and counters move as a real pump's would, yet
``read(at_ms)`` depends only on ``(seed, at_ms)``: a benchmark can generate a year of
30-second polls in any order and get the same values every run.
"""

from __future__ import annotations

import bisect
import math
import threading
from dataclasses import dataclass

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
from luxlog.simulator.captures import Capture

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
