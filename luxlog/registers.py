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


# -- indices ---------------------------------------------------------------------------
# The one table of the registers luxlog reads (statistics, reports) or drives (the
# simulator), luxtronik 0.3.14 names in the comments; indices beyond its tables are
# named in NAMES above. SmartGrid's own three are in the next section.

C_FLOW = 10  # ID_WEB_Temperatur_TVL
C_RETURN = 11  # ID_WEB_Temperatur_TRL
C_RETURN_SET = 12  # ID_WEB_Sollwert_TRL_HZ
C_RETURN_EXT = 13  # ID_WEB_Temperatur_TRL_ext
C_HOT_GAS = 14  # ID_WEB_Temperatur_THG
C_OUTDOOR = 15  # ID_WEB_Temperatur_TA
C_OUTDOOR_MEAN = 16  # ID_WEB_Mitteltemperatur
C_HOT_WATER = 17  # ID_WEB_Temperatur_TBW
C_HOT_WATER_SET = 18  # ID_WEB_Einst_BWS_akt
C_SOURCE_IN = 19  # ID_WEB_Temperatur_TWE
C_SOURCE_OUT = 20  # ID_WEB_Temperatur_TWA
C_DEFROST_VALVE = 37  # ID_WEB_AVout
C_HOT_WATER_PUMP = 38  # ID_WEB_BUPout
C_HEATING_PUMP = 39  # ID_WEB_HUPout
C_FAN = 42  # ID_WEB_VENout
C_COMPRESSOR = 44  # ID_WEB_VD1out
C_COMPRESSOR_SECONDS = 56  # ID_WEB_Zaehler_BetrZeitVD1
C_COMPRESSOR_STARTS = 57  # ID_WEB_Zaehler_BetrZeitImpVD1
C_HEATPUMP_SECONDS = 63  # ID_WEB_Zaehler_BetrZeitWP
C_HEATING_SECONDS = 64  # ID_WEB_Zaehler_BetrZeitHz
C_HOT_WATER_SECONDS = 65  # ID_WEB_Zaehler_BetrZeitBW
C_ON_SINCE = 67  # ID_WEB_Time_WPein_akt
C_STANDSTILL = 73  # ID_WEB_Time_VDStd_akt
C_MODE = 80  # ID_WEB_WP_BZ_akt: 0 heating, 1 hot water, 5 no request
C_SWITCHOFF_CODE = 106  # ID_WEB_Switchoff_file_Nr0..4: a ring buffer ...
C_SWITCHOFF_TIME = 111  # ... with its timestamps in ID_WEB_Switchoff_file_Time0..4
C_STATUS_1 = 117  # ID_WEB_HauptMenuStatus_Zeile1: 0 running, 1 idle
C_STATUS_2 = 118  # ID_WEB_HauptMenuStatus_Zeile2: 0 "since"
C_STATUS_3 = 119  # ID_WEB_HauptMenuStatus_Zeile3: 0 heating, 1 no request, 5 domestic water
C_STATUS_TIME = 120  # ID_WEB_HauptMenuStatus_Zeit
C_CLOCK = 134  # ID_WEB_AktuelleTimeStamp
C_HEAT_HEATING = 151  # ID_WEB_WMZ_Heizung, 0.1 kWh
C_HEAT_HOT_WATER = 152  # ID_WEB_WMZ_Brauchwasser, 0.1 kWh
C_HEAT_TOTAL = 154  # ID_WEB_WMZ_Seit, 0.1 kWh
C_HEAT_OUTPUT = 257  # Heat_Output, W (newer firmware)
C_POWER_INPUT = 268  # CURRENT_POWER_CONSUMPTION, W (newer firmware; luxlog.registers)

P_HOT_WATER_SET = 2  # ID_Einst_BWS_akt: the one setting a user changes now and then
P_ENERGY_HEATING = 1136  # HEAT_ENERGY_INPUT, 0.01 kWh (newer firmware; luxlog.registers)
P_ENERGY_HOT_WATER = 1137  # DHW_ENERGY_INPUT, 0.01 kWh (newer firmware; luxlog.registers)


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


_NOT_AVAILABLE = 2147483647  # the controller's "no value" (catalogue.NOT_AVAILABLE)


def _at(vector: tuple[int, ...], index: int) -> int | None:
    if index < len(vector) and vector[index] != _NOT_AVAILABLE:
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
    # Read for every sample of a year's statistics, hence no helper calls on the way.
    if len(parameters) > P_SMARTGRID and parameters[P_SMARTGRID] == 1:
        state = smartgrid_state(calculations, parameters)
        return None if state is None else state == "locked"
    if len(calculations) <= C_EVU_IN:
        return None
    evu = calculations[C_EVU_IN]
    return None if evu == _NOT_AVAILABLE else evu == 0
