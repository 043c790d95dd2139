"""The sensor catalogue: names, types and scaling for every index the controller sends.

Names, types and scale factors come from luxtronik 0.3.14's definitions, so luxlog's
CSV columns match what the community knows. What luxtronik does *not* give us is used
differently here:

* luxtronik keeps its tables as class attributes and mutates them while parsing; we only
  read them, once, and build our own immutable catalogue;
* indices beyond luxtronik's tables (newer firmware sends up to ~275 calculations and
  ~1,150 parameters) are never dropped: those a public decoder defines get its name, unit
  and scale from :mod:`luxlog.registers`, the others luxtronik's own
  ``Unknown_Calculation_<i>`` / ``Unknown_Parameter_<i>`` and their raw integer;
* values for humans are numbers only: booleans 0/1, selections as their integer code
  (labels on request), ``-500`` on a temperature (sensor not fitted) and ``2147483647``
  (not available) as missing; version and IP address strings are not part of the numeric
  values (the firmware string has its own accessor).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Literal

from luxlog import registers

Kind = Literal["calc", "param"]

NOT_AVAILABLE = 2147483647  # the controller's "no value" marker
NOT_FITTED = -500  # -50.0 degC: what a temperature input without a sensor reads

# Calculations 81..90 hold the firmware version as one character per value.
VERSION_FIRST, VERSION_LAST = 81, 90

# luxtronik type name -> divisor applied to the raw integer.
_DIVISORS = {
    "Celsius": 10,
    "Kelvin": 10,
    "Percent": 10,
    "Energy": 10,
    "Energy100": 100,  # energy-input counters beyond 0.3.14: 0.01 kWh (luxlog.registers)
    "Voltage": 10,
    "Hours": 10,
    "Pressure": 100,
}
_TEMPERATURES = {"Celsius"}
_TEXT_TYPES = {"IPAddress", "Version"}  # not numbers: kept out of the numeric values
_UNITS = {
    "Celsius": "°C",
    "Kelvin": "K",
    "Percent": "%",
    "Percent2": "%",
    "Energy": "kWh",
    "Energy100": "kWh",
    "Voltage": "V",
    "Hours": "h",
    "Pressure": "bar",
    "Seconds": "s",
    "Frequency": "Hz",
    "Speed": "rpm",
    "Power": "W",
    "Flow": "l/h",
    "Pulses": "pulses",
    "Bool": "0/1",
    "Timestamp": "unix time",
}

Value = float | int | None


@dataclass(frozen=True, slots=True)
class Sensor:
    """One value the controller reports, by kind (calculation or parameter) and index."""

    kind: Kind
    index: int
    name: str
    type: str  # luxtronik 0.3.14 type name, or "Unknown" beyond its tables
    codes: Mapping[int, str] | None = None  # selection labels, when the type has them

    @property
    def unit(self) -> str:
        """Unit after conversion ('' for plain counts and codes)."""
        return _UNITS.get(self.type, "")

    @property
    def numeric(self) -> bool:
        """False for strings (IP addresses, firmware version)."""
        return self.type not in _TEXT_TYPES

    @property
    def is_selection(self) -> bool:
        """True for enumerations whose integer codes have labels."""
        return self.codes is not None

    def convert(self, raw: int) -> Value:
        """The raw integer in the sensor's unit, or ``None`` when the value is missing.

        Division by 10 or 100 of an integer is correctly rounded in IEEE doubles, so the
        result's repr is the short decimal (44.9, never 44.900000000000006).
        """
        if raw == NOT_AVAILABLE or (raw == NOT_FITTED and self.type in _TEMPERATURES):
            return None
        if self.type == "Bool":
            return 1 if raw else 0
        divisor = _DIVISORS.get(self.type)
        if divisor is not None:
            return raw / divisor
        return raw

    def label(self, raw: int) -> str | None:
        """Human label of a selection code (``None`` when unknown or not a selection)."""
        return self.codes.get(raw) if self.codes is not None else None


@cache
def _tables() -> tuple[dict[int, Sensor], dict[int, Sensor]]:
    """Read luxtronik's definitions once (importing luxtronik costs ~25 ms)."""
    from luxtronik.calculations import Calculations
    from luxtronik.parameters import Parameters

    def build(kind: Kind, table: Mapping[int, object]) -> dict[int, Sensor]:
        result: dict[int, Sensor] = {}
        for index, definition in table.items():
            codes = getattr(definition, "codes", None)
            result[index] = Sensor(
                kind=kind,
                index=index,
                name=str(getattr(definition, "name", registers.unknown_name(kind, index))),
                type=type(definition).__name__,
                codes=dict(codes) if isinstance(codes, dict) else None,
            )
        return result

    return (
        build("calc", dict(Calculations.calculations)),
        build("param", dict(Parameters.parameters)),
    )


def sensor(kind: Kind, index: int) -> Sensor | None:
    """The sensor at ``index``, or ``None`` for calculations 82..90 (version characters)."""
    calcs, params = _tables()
    table = calcs if kind == "calc" else params
    found = table.get(index)
    if found is not None:
        return found
    if kind == "calc" and VERSION_FIRST < index <= VERSION_LAST:
        return None
    known = registers.extension(kind, index)
    if known is not None:
        return Sensor(kind=kind, index=index, name=known.name, type=known.type)
    return Sensor(kind=kind, index=index, name=registers.unknown_name(kind, index), type="Unknown")


def known_lengths() -> tuple[int, int]:
    """Vector lengths luxtronik 0.3.14 knows of, for listing sensors before any poll."""
    calcs, params = _tables()
    return max(calcs) + 1, max(params) + 1


def sensors(calculations: int, parameters: int) -> Iterator[Sensor]:
    """Every sensor for vectors of the given lengths, calculations first, by index."""
    for kind, length in (("calc", calculations), ("param", parameters)):
        for index in range(length):
            found = sensor(kind, index)  # type: ignore[arg-type]
            if found is not None:
                yield found


def firmware(calculations: Iterable[int]) -> str | None:
    """The firmware string ("V3.78") from calculations 81..90, if present."""
    values = list(calculations)[VERSION_FIRST : VERSION_LAST + 1]
    if len(values) < 1:
        return None
    text = "".join(chr(v) for v in values if 0 < v < 128).strip()
    return text or None


def values(
    calculations: tuple[int, ...] | list[int], parameters: tuple[int, ...] | list[int]
) -> dict[str, Value]:
    """Name -> converted value for every numeric sensor (missing values are ``None``)."""
    result: dict[str, Value] = {}
    for item in sensors(len(calculations), len(parameters)):
        if not item.numeric:
            continue
        raw = calculations[item.index] if item.kind == "calc" else parameters[item.index]
        result[item.name] = item.convert(raw)
    return result
