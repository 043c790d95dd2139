"""The server: a loopback Luxtronik 2 controller over real TCP.

It serves a capture as captured or the model at a clock's time, and sends replies the way
a fault mode says (:mod:`luxlog.simulator.faults`).
"""

from __future__ import annotations

import contextlib
import logging
import random
import selectors
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from types import TracebackType

from luxlog.clock import now_ms as now_ms_clock
from luxlog.heatpump.protocol import (
    CMD_CALCULATIONS,
    CMD_PARAMETERS,
    CMD_VISIBILITIES,
    CMD_WRITE_PARAMETER,
    READ_COMMANDS,
    decode_request,
    encode_reply,
)
from luxlog.simulator.captures import DEFAULT_CAPTURE, Capture, _resolve_capture
from luxlog.simulator.faults import FAULT_MODES, send_reply
from luxlog.simulator.model import HeatPumpModel

logger = logging.getLogger("luxlog.simulator")

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
        clock_ms: Callable[[], int] = now_ms_clock,
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
        # Per connection: (first request received, last reply begun), monotonic seconds.
        self._exchanges: dict[int, list[float]] = {}
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
    def max_busy(self) -> int:
        """Most connections whose exchanges overlapped in time.

        A connection's exchange runs from its first request to the start of its last
        reply. Unlike :attr:`max_concurrent` (open sockets) this ignores a connection
        whose client has read its last reply and hung up while this server has not yet
        seen the EOF. The two instants are taken so that thread scheduling can only
        shorten an interval (the request time after it arrived, the reply time before
        it goes out): one client after another - a lock handed on - counts 1 on any
        machine, while clients talking at once count more.
        """
        with self._lock:
            intervals = [(a, b) for a, b in self._exchanges.values() if b >= a]
        events = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
        most = current = 0
        for _, step in events:  # an end sorts before a start at the same instant
            current += step
            most = max(most, current)
        return most

    def _note_exchange(self, index: int, *, reply: bool) -> None:
        now = time.monotonic()
        with self._lock:
            interval = self._exchanges.setdefault(index, [now, now - 1.0])
            if reply:
                interval[1] = now

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
        pick its exit status. A simulator that was started and then stopped before this
        call returns at once: another thread's :meth:`stop` may well come first on a busy
        machine, and restarting then would serve until nobody stops it again.
        """
        if self._listener is None and not self._stopping.is_set():
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
                self._note_exchange(index, reply=False)
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
                self._note_exchange(index, reply=True)
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
        return send_reply(
            conn,
            command,
            reply,
            fault=self.fault,
            rng=rng,
            turn=turn,
            stopping=self._stopping,
            slow_delay=self.slow_delay,
        )
