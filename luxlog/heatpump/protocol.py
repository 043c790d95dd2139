"""The Luxtronik 2 "config interface" wire format on TCP port 8889.

Shared by the client and the simulator so that both speak exactly the same bytes.
All integers are big-endian signed 32 bit. A request is ``>ii`` (command, 0). Replies:

* 3003 parameters:     command echo, length, ``length`` x int32
* 3004 calculations:   command echo, status word, length, ``length`` x int32
* 3005 visibilities:   command echo, length, ``length`` x int8

3002 (write a parameter) exists too. luxlog never sends it: writes reboot some
controllers, and a logger has no business changing a heat pump's settings.
"""

from __future__ import annotations

import struct

CMD_WRITE_PARAMETER = 3002  # never sent by luxlog; named so the simulator can detect it
CMD_PARAMETERS = 3003
CMD_CALCULATIONS = 3004
CMD_VISIBILITIES = 3005

READ_COMMANDS = (CMD_PARAMETERS, CMD_CALCULATIONS, CMD_VISIBILITIES)

# Real controllers send ~200-275 calculations and ~1,100-1,150 parameters. A length far
# beyond that means we are reading garbage or misaligned bytes, not a bigger firmware.
MAX_VALUES = 10_000
# The floors: fewer values than this is a reply cut short (a misbehaving or rebooting
# controller), not a smaller firmware. The real captures have 200-275 calculations and
# 1,075-1,150 parameters; the floors sit at about half of the smallest, well above the
# firmware string (calculations 81..90), so no real firmware is refused.
MIN_CALCULATIONS = 100
MIN_PARAMETERS = 500

_INT32 = struct.Struct(">i")
_REQUEST = struct.Struct(">ii")


def encode_request(command: int) -> bytes:
    """Bytes that ask for one of the read-only tables."""
    if command not in READ_COMMANDS:
        # The one guard that keeps luxlog read-only: nothing else builds requests.
        raise ValueError(f"luxlog only sends read commands, not {command}")
    return _REQUEST.pack(command, 0)


def decode_request(data: bytes) -> tuple[int, int]:
    """(command, argument) of an 8-byte request; used by the simulator."""
    command, argument = _REQUEST.unpack(data)
    return command, argument


def header_size(command: int) -> int:
    """Bytes before the length field's end: the simulator and client agree on it."""
    return 12 if command == CMD_CALCULATIONS else 8


def encode_reply(command: int, values: list[int] | tuple[int, ...], status: int = 0) -> bytes:
    """A complete reply as a controller would send it (simulator side)."""
    if command == CMD_CALCULATIONS:
        head = struct.pack(">iii", command, status, len(values))
    else:
        head = struct.pack(">ii", command, len(values))
    fmt = "b" if command == CMD_VISIBILITIES else "i"
    return head + struct.pack(f">{len(values)}{fmt}", *values)


def decode_int32(data: bytes) -> int:
    """One big-endian signed 32-bit integer."""
    value: int = _INT32.unpack(data)[0]
    return value


def decode_values(data: bytes, count: int) -> tuple[int, ...]:
    """``count`` int32 values from exactly ``4 * count`` bytes."""
    return struct.unpack(f">{count}i", data)
