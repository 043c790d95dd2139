"""One naming scheme for every register, its aliases, the units luxtronik 0.3.14 lacks,
and the SmartGrid reading of the utility inputs.

Why this exists: a register beyond luxtronik 0.3.14's tables had three names (luxlog's
``param_1136``, luxtronik's ``Unknown_Parameter_1136``, an upstream name) and two scales
(raw in the CSV, kWh in the statistics). Here is the one answer, used by the catalogue
and through it by CSV, statistics, report and JSON alike.

The scheme (the README, "Register names", says the same):

1. luxtronik 0.3.14's name where its tables have the index (``ID_WEB_Temperatur_TVL``,
   and its own placeholders ``Unknown_Calculation_<i>`` / ``Unknown_Parameter_<i>``);
2. beyond its tables, the name a public decoder gives the index, with its unit and
   scale (:data:`EXTENSIONS`);
3. otherwise ``Unknown_Calculation_<i>`` / ``Unknown_Parameter_<i>``: what luxtronik
   itself calls any index it has no definition for.

Every register also answers to its positional alias ``calc_<i>`` / ``param_<i>`` and to
luxtronik's ``Unknown_*`` name, in ``sensors_include`` / ``sensors_exclude``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["calc", "param"]

_UNKNOWN_PREFIX = {"calc": "Unknown_Calculation_", "param": "Unknown_Parameter_"}


@dataclass(frozen=True, slots=True)
class Extension:
    """A register luxtronik 0.3.14 does not define, as a public decoder reads it."""

    kind: Kind
    index: int
    name: str
    type: str  # a catalogue type: it fixes the unit and the scale
    source: str  # where the definition comes from (for the README table)


#: Indices beyond luxtronik 0.3.14 with a known meaning. Sources: python-luxtronik's
#: unreleased data tables (names ``HEAT_ENERGY_INPUT`` / ``DHW_ENERGY_INPUT``, type
#: Energy) and BenPru/luxtronik, the Home Assistant integration (``P1136_HEAT_ENERGY_INPUT``,
#: ``P1137_DHW_ENERGY_INPUT``, ``C0268_CURRENT_POWER_CONSUMPTION`` in watts), whose issues
#: #734 and #752 settle the energy-input scale (0.01 kWh) against controller displays.
EXTENSIONS: tuple[Extension, ...] = (
    Extension("calc", 268, "CURRENT_POWER_CONSUMPTION", "Power", "BenPru/luxtronik"),
    Extension("param", 1136, "HEAT_ENERGY_INPUT", "Energy100", "python-luxtronik, BenPru"),
    Extension("param", 1137, "DHW_ENERGY_INPUT", "Energy100", "python-luxtronik, BenPru"),
)

_BY_INDEX: dict[tuple[Kind, int], Extension] = {(e.kind, e.index): e for e in EXTENSIONS}


def extension(kind: Kind, index: int) -> Extension | None:
    """The definition of an index luxtronik 0.3.14 lacks, if a decoder has one."""
    return _BY_INDEX.get((kind, index))


def unknown_name(kind: Kind, index: int) -> str:
    """luxtronik's name for an index it does not know: ``Unknown_Parameter_1136``."""
    return f"{_UNKNOWN_PREFIX[kind]}{index}"


def positional(kind: Kind, index: int) -> str:
    """The alias every register answers to: ``calc_10``, ``param_1136``."""
    return f"{kind}_{index}"


def aliases(kind: Kind, index: int, name: str) -> tuple[str, ...]:
    """Every name a pattern may use for this register (lower case, name first)."""
    names = [name.lower(), positional(kind, index), unknown_name(kind, index).lower()]
    return tuple(dict.fromkeys(names))


def is_unnamed(kind: Kind, index: int, name: str) -> bool:
    """True when nobody knows what the register means (luxtronik's ``Unknown_*``)."""
    return name == unknown_name(kind, index)


# -- SmartGrid -------------------------------------------------------------------------

C_EVU_IN = 31  # ID_WEB_EVUin
C_EVU2_IN = 185  # ID_WEB_HZIO_EVU2
P_SMARTGRID = 1030  # ID_Einst_SmartGrid: 1 = SmartGrid (SG Ready) on

SmartGridState = Literal["locked", "reduced", "normal", "increased"]

#: (EVU, EVU2) -> state with SmartGrid on, as BenPru/luxtronik's SmartGrid status sensor
#: decodes the two utility inputs (and the SG-Ready label's states 1..4).
SMARTGRID_STATES: dict[tuple[int, int], SmartGridState] = {
    (1, 0): "locked",
    (0, 0): "reduced",
    (0, 1): "normal",
    (1, 1): "increased",
}


def _at(vector: tuple[int, ...], index: int) -> int | None:
    if index < len(vector) and vector[index] != 2147483647:
        return vector[index]
    return None


def smartgrid_state(
    calculations: tuple[int, ...], parameters: tuple[int, ...]
) -> SmartGridState | None:
    """The SmartGrid state, or None when SmartGrid is off or the inputs are not sent."""
    if _at(parameters, P_SMARTGRID) != 1:
        return None
    evu, evu2 = _at(calculations, C_EVU_IN), _at(calculations, C_EVU2_IN)
    if evu is None or evu2 is None:
        return None
    return SMARTGRID_STATES[(1 if evu else 0, 1 if evu2 else 0)]


def utility_lock(calculations: tuple[int, ...], parameters: tuple[int, ...]) -> bool | None:
    """Is the utility input locking the heat pump (None: not reported)?

    Without SmartGrid the EVU input alone says it: 1 allows operation, 0 locks. With
    SmartGrid (parameter 1030 = 1) the same input is one bit of a two-input state and
    only "EVU 1, EVU2 0" is a lock; reading EVU alone counted every normal hour.
    """
    if _at(parameters, P_SMARTGRID) == 1:
        state = smartgrid_state(calculations, parameters)
        return None if state is None else state == "locked"
    evu = _at(calculations, C_EVU_IN)
    return None if evu is None else evu == 0
