"""A read-only Luxtronik 2 client with bounded time and exact reads.

Why not ``luxtronik.Luxtronik``: version 0.3.14 sets no socket timeout (a silent
controller hangs the process forever), reads each value with one ``recv(4)`` (a short
read silently shifts every later value) and can send the write command 3002. This
client reads the same bytes, but every connect and receive is bounded by a deadline,
every reply is read to its exact byte count and validated, and only read commands can
be encoded (see ``protocol.encode_request``).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from luxlog.errors import HeatPumpError, ProtocolError
from luxlog.heatpump import protocol
from luxlog.logs import get_logger

log = get_logger("luxlog.heatpump")  # imports logging only to emit (poll path)

# A read of ~5 KB on a LAN takes a few ms; an attempt with less time than this left is
# not worth starting (it would only add a misleading "timed out" line to the log).
MIN_ATTEMPT_SEC = 0.25


@dataclass(frozen=True, slots=True)
class RawRead:
    """The integer vectors exactly as the controller sent them."""

    calculations: tuple[int, ...]
    parameters: tuple[int, ...]
    status: int  # 3004's status word; non-zero on some controllers while busy


class _Connection:
    """One TCP connection with a single deadline for everything done on it."""

    def __init__(self, host: str, port: int, deadline: float) -> None:
        self.address = f"{host}:{port}"
        self.deadline = deadline
        try:
            self.sock = socket.create_connection((host, port), timeout=self._remaining())
        except TimeoutError:
            raise HeatPumpError(f"connect to {self.address} timed out") from None
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise HeatPumpError(f"cannot connect to {self.address}: {reason}") from None

    def _remaining(self) -> float:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise HeatPumpError(f"{self.address}: time budget used up")
        return remaining

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        try:
            self.sock.settimeout(self._remaining())
            self.sock.sendall(data)
        except TimeoutError:
            raise HeatPumpError(f"{self.address}: sending the request timed out") from None
        except OSError as exc:
            raise HeatPumpError(f"{self.address}: send failed: {exc.strerror or exc}") from None

    def receive_exactly(self, count: int, what: str) -> bytes:
        """Exactly ``count`` bytes, however the controller fragments them."""
        buffer = bytearray(count)
        view = memoryview(buffer)
        received = 0
        while received < count:
            try:
                self.sock.settimeout(self._remaining())
                chunk = self.sock.recv_into(view[received:], count - received)
            except TimeoutError:
                raise HeatPumpError(
                    f"{self.address}: no answer while reading {what} "
                    f"({received}/{count} bytes received)"
                ) from None
            except OSError as exc:
                raise HeatPumpError(
                    f"{self.address}: connection failed while reading {what}: {exc.strerror or exc}"
                ) from None
            if chunk == 0:
                raise ProtocolError(
                    f"{self.address}: connection closed mid-reply while reading {what} "
                    f"({received}/{count} bytes received)"
                )
            received += chunk
        return bytes(buffer)

    def read_table(self, command: int) -> tuple[tuple[int, ...], int]:
        """Send one read request and return (values, status word)."""
        what = {protocol.CMD_PARAMETERS: "parameters", protocol.CMD_CALCULATIONS: "calculations"}[
            command
        ]
        self.send(protocol.encode_request(command))
        echo = protocol.decode_int32(self.receive_exactly(4, what))
        if echo != command:
            raise ProtocolError(f"{self.address}: answered {echo} to request {command} ({what})")
        status = 0
        if command == protocol.CMD_CALCULATIONS:
            status = protocol.decode_int32(self.receive_exactly(4, what))
        length = protocol.decode_int32(self.receive_exactly(4, what))
        if not 0 < length <= protocol.MAX_VALUES:
            raise ProtocolError(f"{self.address}: implausible length {length} for {what}")
        data = self.receive_exactly(4 * length, what)
        return protocol.decode_values(data, length), status


def read_raw(host: str, port: int, *, timeout: float) -> RawRead:
    """One connection, parameters then calculations, all within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    connection = _Connection(host, port, deadline)
    try:
        parameters, _ = connection.read_table(protocol.CMD_PARAMETERS)
        calculations, status = connection.read_table(protocol.CMD_CALCULATIONS)
    finally:
        connection.close()
    # A well-formed but short table is a controller that misbehaves (rebooting, cut
    # reply): storing it would pass for a sample and lose the firmware string.
    address = connection.address
    if len(calculations) < protocol.MIN_CALCULATIONS:
        raise ProtocolError(
            f"{address}: only {len(calculations)} calculations, fewer than any real "
            f"controller sends (at least {protocol.MIN_CALCULATIONS})"
        )
    if len(parameters) < protocol.MIN_PARAMETERS:
        raise ProtocolError(
            f"{address}: only {len(parameters)} parameters, fewer than any real "
            f"controller sends (at least {protocol.MIN_PARAMETERS})"
        )
    return RawRead(calculations=calculations, parameters=parameters, status=status)


def _cause(error: HeatPumpError, address: str) -> str:
    """The error without its leading ``host:port:`` when the log line names it already."""
    return str(error).removeprefix(f"{address}: ")


def read_with_retries(
    host: str,
    port: int,
    *,
    deadline: float,
    timeout_sec: float,
    retries: int,
    sleep: Callable[[float], None] = time.sleep,
) -> RawRead:
    """Read with up to ``retries`` retries and exponential back-off, never past ``deadline``.

    ``deadline`` is a ``time.monotonic()`` value: the caller's whole time budget, so that
    one poll never runs into the next scheduled one. Each attempt gets
    ``min(timeout_sec, what is left)``.
    """
    address = f"{host}:{port}"
    attempts = retries + 1
    started = time.monotonic()
    last_error: HeatPumpError | None = None
    backoff = 1.0
    made = 0
    for attempt in range(1, attempts + 1):
        remaining = deadline - time.monotonic()
        if remaining < MIN_ATTEMPT_SEC / 2:
            break
        made = attempt
        try:
            return read_raw(host, port, timeout=min(timeout_sec, remaining))
        except HeatPumpError as exc:
            last_error = exc
            elapsed = time.monotonic() - started
            log.warning(
                "%s: attempt %d/%d failed after %.1fs: %s",
                address,
                attempt,
                attempts,
                elapsed,
                _cause(exc, address),
            )
        if attempt < attempts:
            # Shorten the back-off rather than skip the last attempt, but never start an
            # attempt too short to complete a read.
            pause = min(backoff, deadline - time.monotonic() - MIN_ATTEMPT_SEC)
            if pause < 0:
                break
            sleep(pause)
            backoff *= 2
    elapsed = time.monotonic() - started
    cause = _cause(last_error, address) if last_error else "no time left for an attempt"
    raise HeatPumpError(
        f"no valid answer from {address} after {made} attempt(s) in {elapsed:.1f}s: {cause}"
    )


def get_all_sensors(host: str, port: int = 8889, *, timeout: float = 10.0) -> dict[str, float]:
    """Name -> value of every numeric sensor present now (the seed's API, for scripts).

    Missing values (sensor not fitted, not available) are left out rather than given as
    ``None``, so every value is a number. Imports the catalogue (and so luxtronik) lazily:
    ``poll`` never needs it.
    """
    from luxlog.heatpump import catalogue

    raw = read_raw(host, port, timeout=timeout)
    values = catalogue.values(raw.calculations, raw.parameters)
    return {name: value for name, value in values.items() if value is not None}
