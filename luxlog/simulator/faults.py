"""How the simulator misbehaves: the fault modes real controllers and networks show.

Each mode is a way of sending one correct reply wrongly (or not at all), so the client's
timeouts, exact reads and rejection of misaligned data are tested against sockets.
"""

from __future__ import annotations

import random
import socket
import struct
import threading
import time

from luxlog.heatpump.protocol import CMD_VISIBILITIES, READ_COMMANDS, header_size

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

_FRAGMENT_PAUSE = 0.0003  # between 1-7 byte pieces: long enough for a reader to catch up
_SLOW_CHUNK = 64  # bytes per trickle in "slow" mode
_GARBAGE_LENGTH = 0x7FFFFFFF
_SHORT_LENGTH_EXTRA = 100  # values announced but never sent in "short-length" mode


def send_reply(
    conn: socket.socket,
    command: int,
    reply: bytes,
    *,
    fault: str | None,
    rng: random.Random,
    turn: int,
    stopping: threading.Event,
    slow_delay: float,
) -> bool:
    """Send ``reply`` the way ``fault`` says; False means close the connection.

    ``stopping`` cuts the slow modes short, so a stopping server does not wait for them.
    """
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
        while pos < len(reply) and not stopping.is_set():
            size = rng.randint(1, 7)
            conn.sendall(reply[pos : pos + size])
            pos += size
            time.sleep(_FRAGMENT_PAUSE)
    elif fault == "slow":
        for pos in range(0, len(reply), _SLOW_CHUNK):
            if stopping.wait(slow_delay):
                return False
            conn.sendall(reply[pos : pos + _SLOW_CHUNK])
    elif fault == "garbage":
        conn.sendall(_garbage(command, reply, rng, turn % 3))
    elif fault == "short-length":
        count = len(reply) - head if command == CMD_VISIBILITIES else (len(reply) - head) // 4
        length = struct.pack(">i", count + _SHORT_LENGTH_EXTRA)
        conn.sendall(reply[: head - 4] + length + reply[head:])
    return True


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
