"""Span-aware energy accounting: heat, electricity and COP only where both are known.

Why a module of its own: heat and electricity come from different registers that a
controller may not report over the same time. Energy-input counters (parameters
1136/1137) appear with a firmware update in the middle of a day, or are present but stuck
at zero; electrical power (calculation 268) is sent by some firmware only. Dividing a
whole day's heat by half a day's electricity gave a COP of 7 instead of 3.2, silently.

The rules, per **step** (two consecutive samples; see :mod:`luxlog.summariser`):

* Heat is known over a step when both heat counters (151, 152) moved validly across it.
* Electricity is known over a step from the energy-input counters when both moved
  validly across it and the counters are *live*, else from electrical power when the
  earlier sample had a reading (power times duration, split by operating mode).
* A counter is **stuck** (not reporting) when it does not advance while the compressor
  runs in its mode (heating for 1136, hot water for 1137, by the run-time counters 64
  and 65) for :data:`STUCK_RUN_S` in total (at 0.3 kW that is 0.15 kWh, fifteen counts
  of the 0.01 kWh counter). Steps wait until the counters advance in step with their run
  time (then they count) or one is proved stuck: then the waiting steps and later ones,
  until that counter advances again, take their electricity from the power readings, or
  have none. One dead counter makes the pair's total wrong, so both are set aside.
* A COP (and its heat and electricity) is computed only over steps where heat and
  electricity are both known and start at the same sample; the hours that covers are
  reported with it, and a period whose heat and electricity cover different hours is
  flagged.

Pure: steps come in, sums per period come out; periods are anything with a ``start``
(ms) and an ``energy`` :class:`Account`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, Protocol

HOUR_MS = 3_600_000
#: A step across a period's start counts for that period if it spans at most this long
#: (the same bridge rule as the counters in :mod:`luxlog.summariser`).
BRIDGE_MS = 3 * HOUR_MS
#: Compressor run time without the energy-input counters advancing that proves them
#: stuck (seconds).
STUCK_RUN_S = 1800.0

Source = Literal["counters", "power"]


@dataclass(slots=True)  # not frozen: one is made per sample, and frozen __init__ is slow
class Step:
    """What one step (previous sample -> this sample, ending at ``end``) tells.

    Each part carries the time its own step starts at (a counter's last valid sample),
    so parts that started at different samples are never paired.
    """

    end: int
    heat: tuple[int, float, float] | None = None  # start, kWh heating, kWh hot water
    counters: tuple[int, float, float] | None = None  # start, kWh heating, kWh hot water
    power: tuple[int, float, float, float] | None = None  # start, kWh heating/hot water/other
    compressor_s: float = 0.0  # compressor seconds counter growth over the step
    run_s: tuple[float, float] = (0.0, 0.0)  # heating, hot-water run seconds over the step


@dataclass(slots=True)
class Sums:
    """Electricity known (``e_*``) and the heat/electricity pairs known together (``j_*``)."""

    e_heating: float = 0.0
    e_hot_water: float = 0.0
    e_other: float = 0.0
    e_ms: int = 0
    j_heat_heating: float = 0.0
    j_heat_hot_water: float = 0.0
    j_e_heating: float = 0.0
    j_e_hot_water: float = 0.0
    j_e_other: float = 0.0
    j_ms: int = 0

    def add(self, other: Sums) -> None:
        self.e_heating += other.e_heating
        self.e_hot_water += other.e_hot_water
        self.e_other += other.e_other
        self.e_ms += other.e_ms
        self.j_heat_heating += other.j_heat_heating
        self.j_heat_hot_water += other.j_heat_hot_water
        self.j_e_heating += other.j_e_heating
        self.j_e_hot_water += other.j_e_hot_water
        self.j_e_other += other.j_e_other
        self.j_ms += other.j_ms

    def electricity(
        self,
        start: int,
        end: int,
        parts: tuple[float, float, float],
        heat: tuple[int, float, float] | None,
    ) -> None:
        """Add electricity ``parts`` over ``start..end``, paired with ``heat`` if it
        starts at the same sample."""
        self.e_heating += parts[0]
        self.e_hot_water += parts[1]
        self.e_other += parts[2]
        self.e_ms += end - start
        if heat is not None and heat[0] == start:
            self.j_heat_heating += heat[1]
            self.j_heat_hot_water += heat[2]
            self.j_e_heating += parts[0]
            self.j_e_hot_water += parts[1]
            self.j_e_other += parts[2]
            self.j_ms += end - start


@dataclass(slots=True)
class Account:
    """One period's energy: electricity by source, and the pending counter steps."""

    heat_ms: int = 0
    sources: dict[str, Sums] = field(default_factory=dict)
    pending: Sums = field(default_factory=Sums)  # counter steps not yet proved live
    pending_power: Sums = field(default_factory=Sums)  # the power readings for them
    stuck_ms: int = 0  # time the counters were found stuck
    stuck_run_s: float = 0.0  # compressor seconds while they were
    pending_run_s: float = 0.0  # compressor seconds over the pending steps
    # Steps across the period's start longer than the bridge, by the time they start:
    # not this period's, but a longer period that holds their start takes them when it
    # is built from its days (luxlog.daysums).
    bridged: dict[int, Account] = field(default_factory=dict)

    def bridged_from(self, start: int) -> Account:
        found = self.bridged.get(start)
        if found is None:
            found = self.bridged[start] = Account()
        return found

    def merge(self, other: Account) -> None:
        """Add a settled account (no pending steps) of a part of this period."""
        self.heat_ms += other.heat_ms
        for name, sums in other.sources.items():
            self.source(name).add(sums)  # type: ignore[arg-type]
        self.stuck_ms += other.stuck_ms
        self.stuck_run_s += other.stuck_run_s

    def source(self, name: Source) -> Sums:
        found = self.sources.get(name)
        if found is None:
            found = self.sources[name] = Sums()
        return found

    def commit(self) -> None:
        """The pending counter steps were live after all."""
        self.source("counters").add(self.pending)
        self.pending_run_s = 0.0
        self.pending = Sums()
        self.pending_power = Sums()

    def drop(self) -> None:
        """The pending counter steps were stuck: use the power readings for them."""
        self.stuck_ms += self.pending.e_ms
        self.stuck_run_s += self.pending_run_s
        self.pending_run_s = 0.0
        if self.pending_power.e_ms:
            self.source("power").add(self.pending_power)
        self.pending = Sums()
        self.pending_power = Sums()

    def total(self) -> Sums:
        """Every source added up."""
        result = Sums()
        for sums in self.sources.values():
            result.add(sums)
        return result

    def source_name(self) -> str:
        """``counters``, ``power``, ``counters+power`` or ``none``."""
        used = [name for name in ("counters", "power") if name in self.sources]
        used = [name for name in used if self.sources[name].e_ms]
        return "+".join(used) if used else "none"


class Period(Protocol):
    """What the tracker needs of a period: where it starts and its account."""

    @property
    def start(self) -> int: ...  # pragma: no cover - a protocol

    @property
    def energy(self) -> Account: ...  # pragma: no cover - a protocol


def _account(period: Period, start: int, end: int) -> Account:
    """The bridge rule: a step across a period's start counts if it is short; a longer
    one is kept aside, by its start, for the longer periods built from this one."""
    if start < period.start and end - start > BRIDGE_MS:
        return period.energy.bridged_from(start)
    return period.energy


class Tracker:
    """Feeds steps to the periods that hold them, deciding when counters are stuck.

    Whether counters are stuck is a property of the controller, not of a period, so it
    is decided here once for every layer (days, weeks, ...) that the step belongs to.
    """

    def __init__(self) -> None:
        # Run seconds of each counter's mode since that counter last advanced.
        self._streak = [0.0, 0.0]
        self._waiting: dict[int, Account] = {}  # accounts with pending steps, by id

    def add(self, step: Step, periods: Iterable[Period | None]) -> None:
        """Account one step to each period in ``periods`` (None: outside all)."""
        targets = [p for p in periods if p is not None]
        heat = step.heat
        if heat is not None:
            span = step.end - heat[0]
            for period in targets:
                if heat[0] >= period.start or span <= BRIDGE_MS:  # _account(), inline
                    period.energy.heat_ms += span
                else:
                    period.energy.bridged_from(heat[0]).heat_ms += span
        counters = step.counters
        if counters is None:
            self._power_only(step, targets)
            return
        streak = self._streak
        for i in (0, 1):
            streak[i] = 0.0 if counters[1 + i] > 0 else streak[i] + step.run_s[i]
        state: Literal["live", "pending", "stuck"] = "live"
        if max(streak) >= STUCK_RUN_S:
            state = "stuck"
            for account in self._waiting.values():
                account.drop()
            self._waiting.clear()
        elif counters[1] + counters[2] > 0 and max(streak) == 0:
            # In step with the run time again: what waited was live after all.
            for account in self._waiting.values():
                account.commit()
            self._waiting.clear()
        else:
            state = "pending"
        for period in targets:
            self._counter_step(step, counters, period, state)

    def _power_only(self, step: Step, targets: list[Period]) -> None:
        power = step.power
        if power is None:
            return
        for period in targets:
            account = _account(period, power[0], step.end)
            account.source("power").electricity(power[0], step.end, power[1:], step.heat)

    def _counter_step(
        self,
        step: Step,
        counters: tuple[int, float, float],
        period: Period,
        state: Literal["live", "pending", "stuck"],
    ) -> None:
        start = counters[0]
        account = _account(period, start, step.end)
        parts = (counters[1], counters[2], 0.0)
        power = step.power
        if state == "live":
            account.source("counters").electricity(start, step.end, parts, step.heat)
            return
        if state == "stuck":
            account.stuck_ms += step.end - start
            account.stuck_run_s += step.compressor_s
            if power is not None:
                spent = _account(period, power[0], step.end)
                spent.source("power").electricity(power[0], step.end, power[1:], step.heat)
            return
        account.pending.electricity(start, step.end, parts, step.heat)
        account.pending_run_s += step.compressor_s
        self._waiting[id(account)] = account
        if power is not None:
            # The power readings stand in for these steps if the counters prove stuck.
            spent = _account(period, power[0], step.end)
            spent.pending_power.electricity(power[0], step.end, power[1:], step.heat)
            self._waiting[id(spent)] = spent

    def finish(self) -> None:
        """End of data: counters not proved stuck count as live."""
        for account in self._waiting.values():
            account.commit()
        self._waiting.clear()
