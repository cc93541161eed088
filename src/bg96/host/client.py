"""``Modem``: a synchronous BG96 driver over any pyserial port, real or virtual.

All reading happens in the caller's thread: a command writes its line, then feeds what the
port returns into the sans-IO ``DteParser`` until its answer is complete or its maximum
response time (from the manuals) has passed. URCs that arrive meanwhile are dispatched to
connections, callbacks and the ``urcs`` queue.
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
import time
from collections import deque
from collections.abc import Callable, Iterator
from types import TracebackType

import serial
from serial.urlhandler import protocol_socket

from ..protocol.checksum import checksum
from .connection import SslConnection
from .errors import (
    CommandError,
    ModemError,
    ModemReset,
    ModemTimeout,
    OpenFailed,
    PortClosed,
    UnexpectedResponse,
)
from .parser import Connect, Data, DataPhase, DteParser, Event, Prompt, Response, Urc
from .socketlike import SocketLike

# Maximum response times (seconds) from the BG96 manuals; the rest answer within 300 ms.
MAX_RESPONSE = {
    "+QIACT": 150.0,
    "+QIDEACT": 40.0,
    "+QSSLOPEN": 150.0,
    "+QIDNSGIP": 60.0,
    "+CFUN": 15.0,
    "+COPS": 180.0,
    "+CPIN": 5.0,
    "+CGATT": 140.0,
    "+QNTP": 125.0,
}
DEFAULT_RESPONSE = 0.3
ID_IN_USE = 563  # table 3: socket identity has been used
QUANTUM = 0.02  # s a read waits for a first byte before the caller checks its deadline
QI_COMMANDS = ("+QI", "+QSSL")  # their ERROR is explained by AT+QIGETERROR
SUITE_CODES = frozenset(
    {0x0035, 0x002F, 0x0005, 0x0004, 0x000A, 0x003D, 0xC011, 0xC012}
    | {0xC013, 0xC014, 0xC027, 0xC028, 0xC02F, 0xFFFF}
)
_CME = re.compile(rb"\+CME ERROR: (\d+)")
_CME_ANY = re.compile(rb"\+CM[ES] ERROR: *(\d+)?(.*)")  # numeric (CMEE=1) or verbose (CMEE=2)
_QIGETERROR = re.compile(rb"\+QIGETERROR: (\d+),\s*(.*)")
_QIACT = re.compile(rb'\+QIACT: (\d+),(\d+),(\d+),"([^"]*)"')
_CEREG = re.compile(rb"\+CEREG: *\d+,(\d+)")
REGISTERED = (1, 5)  # +CEREG <stat>: home, roaming
_QFLST = re.compile(rb'\+QFLST: "([^"]*)",(\d+)\Z')
_FILE_SUM = re.compile(rb"\+QF(?:UPL|DWL): (\d+),([0-9a-fA-F]{1,4})\Z")
_OPEN = re.compile(rb"\+QSSLOPEN: (\d+),(\d+)")
_SSLURC = re.compile(rb'\+QSSLURC: "(recv|closed)",(\d+)')
_STATE = re.compile(
    rb'\+QSSLSTATE: (\d+),"SSLClient","([^"]*)",(\d+),(\d+),(\d+),(\d+),(\d+),(\d+),"([^"]*)",(\d+)'
)

UrcCallback = Callable[[Urc], None]


def _waiting(port: serial.SerialBase) -> int:
    """Bytes the port holds (SerialBase does not declare ``in_waiting``; its ports do)."""
    return int(getattr(port, "in_waiting", 0) or 0)


def _raw_socket(port: serial.SerialBase) -> socket.socket | None:
    """The TCP socket under a pyserial socket:// port (pyserial 3.x keeps it in ``_socket``),
    or None for any other port."""
    if isinstance(port, protocol_socket.Serial):
        sock = getattr(port, "_socket", None)
        if isinstance(sock, socket.socket):
            return sock
    return None


def command_name(line: str) -> str:
    m = re.match(r"AT([+&$%^][A-Za-z0-9_]+)", line, re.IGNORECASE)
    return m.group(1).upper() if m else line[:3].upper()


def response_timeout(line: str, min_timeout: float) -> float:
    """The manual's maximum response time: the long ones are for the write and execution
    forms (``AT+QIACT=1``); read and test forms (``AT+QIACT?``) answer at once, except
    ``AT+COPS=?``, a network scan. Never less than ``min_timeout``."""
    name = command_name(line)
    quick = line.endswith("?") and not (name == "+COPS" and line.endswith("=?"))
    seconds = DEFAULT_RESPONSE if quick else MAX_RESPONSE.get(name, DEFAULT_RESPONSE)
    return max(min_timeout, seconds)


def cme_error(line: str, response: Response) -> CommandError | None:
    """The exception for a ``+CME ERROR`` final (numeric or verbose), or None."""
    cme = _CME_ANY.match(response.final)
    if cme is None:
        return None
    number, text = cme.group(1), cme.group(2).strip().decode("latin-1")
    return CommandError(line, response.raw(), int(number) if number else None, text)


def cereg_stat(response: Response) -> int:
    """<stat> of an ``AT+CEREG?`` answer (2, searching, when there is no such line)."""
    for item in response.lines:
        m = _CEREG.match(item)
        if m is not None:
            return int(m.group(1))
    return 2


def parse_qigeterror(response: Response) -> tuple[int, str]:
    """``+QIGETERROR: <code>,<text>`` as a pair ((0, "") when absent)."""
    for item in response.lines:
        m = _QIGETERROR.match(item)
        if m:
            return int(m.group(1)), m.group(2).decode("latin-1")
    return 0, ""


class Modem:
    """A BG96 on a serial port (``Modem.open(url)`` takes any pyserial URL)."""

    def __init__(self, port: serial.SerialBase, *, min_timeout: float = 1.0) -> None:
        self.port = port
        self.min_timeout = min_timeout
        self.parser = DteParser()
        self.urcs: deque[Urc] = deque()
        self._events: deque[Event] = deque()
        self._callbacks: list[UrcCallback] = []
        self.connections: dict[int, SslConnection] = {}
        self._open_results: dict[int, int] = {}
        self._reset_seen = False
        self._timeout: float | None = port.timeout  # what port.timeout was last set to
        self._broken = False  # a read or write failed: the port waits for sync() to reopen it
        self._app_ready = False  # APP RDY seen (since reset() cleared it)

    @classmethod
    def open(cls, url: str, *, baudrate: int = 115200, min_timeout: float = 1.0) -> Modem:
        """Open ``url`` (``/dev/ttyUSB2``, ``socket://host:port``, ``rfc2217://...``)."""
        if url.startswith("loop://"):
            raise ValueError("loop:// echoes what is written: it is not a module")
        try:
            port = serial.serial_for_url(url, baudrate=baudrate, timeout=QUANTUM)
        except serial.SerialException as exc:
            raise PortClosed(f"cannot open {url}: {exc}") from exc
        return cls(port, min_timeout=min_timeout)

    def close(self) -> None:
        self.port.close()

    def _port_lost(self, exc: BaseException) -> PortClosed:
        """The port failed: no more reads or writes until ``sync()`` reopens it. (Closing it
        here would be slow: pyserial's socket:// close() sleeps 0.3 s.)"""
        self._broken = True
        name = getattr(self.port, "port", None) or "the port"
        return PortClosed(f"{name}: {exc or type(exc).__name__}")

    def _check_port(self) -> None:
        if self._broken or not self.port.is_open:
            raise PortClosed("the port is closed or failed (sync() reopens it)")

    def _reopen(self) -> None:
        if self._broken:
            with contextlib.suppress(serial.SerialException, OSError):
                self.port.close()
        reopen: Callable[[], None] | None = getattr(self.port, "open", None)
        if reopen is None:
            raise PortClosed("the port is closed and cannot be reopened")
        try:
            reopen()
        except (serial.SerialException, OSError) as exc:
            raise PortClosed(f"cannot reopen the port: {exc}") from exc
        self._broken = False
        self._timeout = None

    def _set_timeout(self, timeout: float) -> None:
        if timeout != self._timeout:
            self.port.timeout = timeout
            self._timeout = timeout

    def __enter__(self) -> Modem:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ---- URCs ------------------------------------------------------------------------

    def on_urc(self, callback: UrcCallback) -> None:
        """Call ``callback`` with every URC as it is read."""
        self._callbacks.append(callback)

    def poll(self, timeout: float = 0.0) -> list[Urc]:
        """Read for up to ``timeout`` s and return the URCs queued so far."""
        deadline = time.monotonic() + timeout
        while True:
            self._read(max(0.0, deadline - time.monotonic()))
            if time.monotonic() >= deadline:
                break
        out = list(self.urcs)
        self.urcs.clear()
        return out

    def wait_urc(self, prefix: bytes, timeout: float) -> Urc:
        """The next queued URC starting with ``prefix`` (others stay queued)."""
        deadline = time.monotonic() + timeout
        while True:
            for urc in self.urcs:
                if urc.line.startswith(prefix):
                    self.urcs.remove(urc)
                    return urc
            left = deadline - time.monotonic()
            if left <= 0:
                raise ModemTimeout(f"URC {prefix!r}", timeout)
            self._read(left)

    # ---- reading ---------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        self._check_port()
        try:
            sock = _raw_socket(self.port)
            if sock is not None:
                sock.sendall(data)
            else:
                self.port.write(data)
        except (serial.SerialException, OSError) as exc:
            raise self._port_lost(exc) from exc

    def _read_raw(self, timeout: float) -> bytes:
        """What the port has, waiting up to ``timeout`` (at most ``QUANTUM``) for a first byte.

        The port's timeout stays at ``QUANTUM``: an RFC 2217 port renegotiates its settings
        with the server, 50 ms or more, on every change. Only socket:// changes it, for a
        non-blocking read, because its ``in_waiting`` says 1 for "some".
        """
        port = self.port
        self._check_port()
        sock = _raw_socket(port)
        if sock is not None:
            return self._read_socket(sock, timeout)
        try:
            if timeout <= 0 and not _waiting(port):
                return b""
            self._set_timeout(QUANTUM)
            data = port.read(max(1, _waiting(port)))
            if data and isinstance(port, protocol_socket.Serial):
                self._set_timeout(0.0)
                data += port.read(65536)
            elif data:
                while len(data) < 65536 and (waiting := _waiting(port)):
                    data += port.read(waiting)
        except (serial.SerialException, OSError) as exc:
            raise self._port_lost(exc) from exc
        return data

    def _read_socket(self, sock: socket.socket, timeout: float) -> bytes:
        """socket:// the short way: one select and one recv (pyserial's read and in_waiting
        cost three selects and two recvs for the same bytes)."""
        try:
            ready, _, _ = select.select([sock], [], [], max(0.0, min(timeout, QUANTUM)))
            if not ready:
                return b""
            data = sock.recv(65536)
        except OSError as exc:
            raise self._port_lost(exc) from exc
        if not data:
            raise self._port_lost(ConnectionError("the module closed the connection"))
        return data

    def _read(self, timeout: float) -> None:
        """Read what the port has (waiting up to ``timeout``) and dispatch the events."""
        data = self._read_raw(timeout)
        if not data:
            return
        self.parser.feed(data)
        for event in self.parser.events():
            if isinstance(event, Urc):
                self._dispatch_urc(event)
            else:
                self._events.append(event)

    def _dispatch_urc(self, urc: Urc) -> None:
        line = urc.line
        if line == b"APP RDY":
            self._app_ready = True
        if line == b"RDY":  # the module restarted: every connection is gone
            self._reset_seen = True
            self._open_results.clear()
            for conn in self.connections.values():
                conn._module_reset()
            self.connections.clear()
        m = _OPEN.match(line)
        if m:
            self._open_results[int(m.group(1))] = int(m.group(2))
        ssl_urc = _SSLURC.match(line)
        if ssl_urc:
            target = self.connections.get(int(ssl_urc.group(2)))
            if target is not None:
                if ssl_urc.group(1) == b"closed":
                    target._peer_closed()
                else:
                    target._data_arrived(urc.data)
        for callback in self._callbacks:
            callback(urc)
        self.urcs.append(urc)

    def _next_event(self, command: str, deadline: float, wait: float) -> Event:
        """The next response, prompt, CONNECT or data event; ``wait`` is the whole wait allowed
        (for the error message)."""
        while not self._events:
            self._check_reset(command)
            left = deadline - time.monotonic()
            if left <= 0:
                raise ModemTimeout(command, wait, bytes(self.parser._buf))
            self._read(left)
        return self._events.popleft()

    def _check_reset(self, command: str) -> None:
        if self._reset_seen:
            self._reset_seen = False
            raise ModemReset(f"{command!r}: the module restarted (RDY)")

    def timeout_for(self, line: str) -> float:
        return response_timeout(line, self.min_timeout)

    # ---- commands --------------------------------------------------------------------

    def command(
        self,
        line: str,
        timeout: float | None = None,
        *,
        check: bool = True,
        phase: DataPhase | None = None,
        download: int = 0,
        payload: bytes = b"",
    ) -> Response:
        """Send ``line`` and return its answer; ``ERROR`` and ``+CME ERROR`` raise.

        A ``CONNECT`` or ``> `` ends the wait (the final is then ``CONNECT`` or ``>``);
        ``payload`` is what will be written after a ``> `` prompt (its echo is not an answer).
        """
        if self.parser.transparent:
            for conn in list(self.connections.values()):
                conn._check_carrier()
            if self.parser.transparent:
                raise ModemError(f"{line!r}: the port is in transparent mode (leave it first)")
        data = line.encode("latin-1")
        self.parser.begin(data, phase=phase, download=download, payload=payload)
        self._events.clear()
        self._reset_seen = False
        self.write(data + b"\r")
        wait = self.timeout_for(line) if timeout is None else timeout
        deadline = time.monotonic() + wait
        while True:
            event = self._next_event(line, deadline, wait)
            if isinstance(event, Response):
                break
            if isinstance(event, Prompt):
                return Response(data, (), b">")
            if isinstance(event, Connect):
                if phase is None:
                    raise UnexpectedResponse(line, b"CONNECT", None, "no data phase expected")
                return Response(data, (), b"CONNECT")
        if check and not event.ok:
            self._raise(line, event)
        return event

    def _raise(self, line: str, response: Response) -> None:
        cme = cme_error(line, response)
        if cme is not None:
            raise cme
        code: int | None = None
        text = ""
        if command_name(line).startswith(QI_COMMANDS):
            code, text = self.last_error()
        raise CommandError(line, response.raw(), code, text)

    def last_error(self) -> tuple[int, str]:
        """AT+QIGETERROR: the code and text of the last TCP/IP or SSL command."""
        return parse_qigeterror(self.command("AT+QIGETERROR", check=False))

    def query(self, line: str, prefix: str) -> list[str]:
        """The information lines of ``line`` that start with ``prefix``, prefix removed."""
        response = self.command(line)
        p = prefix.encode()
        return [x[len(p) :].strip().decode("latin-1") for x in response.lines if x.startswith(p)]

    def sync(self, attempts: int = 10) -> None:
        """Bring the module into a known state: out of any prompt, ``AT`` answers, no echo,
        numeric errors. Use it at start and after any exception; it reopens a port that
        closed, and leaves transparent mode with ``+++`` (about 2 s) if the port was in it.

        ESC ends a variable-length prompt only: a fixed-length QSSLSEND prompt or a QFUPL
        whose CONNECT went unseen takes sync's first bytes as its data (they go to the server
        or into the file) until it has its length; ``AT`` is repeated until it answers a bare
        ``OK``. Connections read at their next ``recv`` whether or not a URC came, since one
        may have been lost (the module repeats it only after its buffer was read empty)."""
        if self._broken or not self.port.is_open:
            self._reopen()
        if self.parser.transparent:
            self._escape_transparent()
        self.write(b"\x1b")  # ends a QSSLSEND prompt without sending
        for _ in range(attempts):
            self._drain()
            try:
                # a bare OK: an upload or prompt that took the line as data answers otherwise
                if not self.command("AT", timeout=max(self.min_timeout, 0.5)).lines:
                    break
            except (ModemTimeout, CommandError, ModemReset):
                continue
        else:
            raise ModemTimeout("AT", attempts * max(self.min_timeout, 0.5))
        self.command("ATE0")
        self.command("AT+CMEE=1")
        for conn in self.connections.values():
            conn._urcs_may_be_lost()

    def _escape_transparent(self) -> None:
        """``+++`` with its guard times: the module goes back to command mode."""
        for conn in self.connections.values():
            if conn.access_mode == 2:
                conn.access_mode = 0
        time.sleep(1.1)
        self.write(b"+++")
        time.sleep(1.1)
        self.parser.leave_transparent()

    def _drain(self, quiet: float = 0.1) -> None:
        """Read and drop whatever the module still sends until it is quiet for ``quiet`` s
        (at most 5 s); URCs are kept. Leaves a fresh parser."""
        self.parser = DteParser()
        deadline = time.monotonic() + 5.0
        last = time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - last < quiet:
            data = self._read_raw(quiet)
            if not data:
                continue
            last = time.monotonic()
            self.parser.feed(data)
            for event in self.parser.events():
                if isinstance(event, Urc):
                    self._dispatch_urc(event)
        self.parser = DteParser()
        self._events.clear()
        self._reset_seen = False

    def reset(self, timeout: float = 30.0) -> None:
        """AT+CFUN=1,1 and wait until the module is ready again (APP RDY)."""
        self._app_ready = False  # an APP RDY still queued from the last boot does not count
        self.command("AT+CFUN=1,1")
        for conn in self.connections.values():
            conn._module_reset()
        self.connections.clear()
        deadline = time.monotonic() + timeout
        while not self._app_ready:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ModemTimeout("AT+CFUN=1,1 (waiting for APP RDY)", timeout)
            self._read(left)
        self._reset_seen = False
        self.poll(0.1)
        self.sync()

    # ---- identity and network --------------------------------------------------------

    def identify(self) -> list[str]:
        """ATI: manufacturer, model, revision."""
        return [x.decode("latin-1") for x in self.command("ATI").lines]

    # ---- network -----------------------------------------------------------------------

    def wait_registered(self, timeout: float = 60.0, poll: float = 0.5) -> int:
        """Ask ``AT+CEREG?`` until the module is registered (stat 1 or 5); its stat.
        ``ModemTimeout`` when it is not within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while (stat := cereg_stat(self.command("AT+CEREG?"))) not in REGISTERED:
            if time.monotonic() >= deadline:
                raise ModemTimeout(f"AT+CEREG? (still stat {stat})", timeout)
            time.sleep(poll)
        return stat

    # ---- PDP -------------------------------------------------------------------------

    def configure_pdp(
        self,
        ctx: int = 1,
        apn: str = "",
        username: str = "",
        password: str = "",
        auth: int = 0,
        context_type: int = 1,
    ) -> None:
        """AT+QICSGP: the APN and credentials of a PDP context."""
        if not 1 <= ctx <= 16 or context_type not in (1, 2) or not 0 <= auth <= 3:
            raise ValueError("ctx 1-16, context_type 1 or 2, auth 0-3")
        self.command(f'AT+QICSGP={ctx},{context_type},"{apn}","{username}","{password}",{auth}')

    def activate(self, ctx: int = 1) -> str:
        """AT+QIACT; returns the address the network gave."""
        self.command(f"AT+QIACT={ctx}")
        address = self.ip_address(ctx)
        if address is None:
            raise UnexpectedResponse("AT+QIACT?", b"", None, f"context {ctx} is not active")
        return address

    def deactivate(self, ctx: int = 1) -> None:
        self.command(f"AT+QIDEACT={ctx}")

    def ip_address(self, ctx: int = 1) -> str | None:
        """The context's address, or None when it is not active (AT+QIACT?)."""
        line = "AT+QIACT?"
        response = self.command(line)
        for item in response.lines:
            if item.startswith(b"+QIACT:"):
                m = _QIACT.match(item)
                if m is None:
                    raise UnexpectedResponse(line, response.raw(), None, f"malformed {item!r}")
                if int(m.group(1)) == ctx:
                    return m.group(4).decode("latin-1")
        return None

    # ---- files -----------------------------------------------------------------------

    def list_files(self) -> dict[str, int]:
        """AT+QFLST: name -> size."""
        line = "AT+QFLST"
        response = self.command(line)
        out: dict[str, int] = {}
        for item in response.lines:
            if item.startswith(b"+QFLST:"):
                m = _QFLST.match(item)
                if m is None:
                    raise UnexpectedResponse(line, response.raw(), None, f"malformed {item!r}")
                out[m.group(1).decode("latin-1").removeprefix("UFS:")] = int(m.group(2))
        return out

    def delete(self, name: str) -> None:
        self.command(f'AT+QFDEL="{name}"')

    def upload(
        self,
        name: str,
        data: bytes,
        *,
        timeout: int = 5,
        progress: Callable[[int, int], None] | None = None,
        block: int = 1024,
    ) -> None:
        """AT+QFUPL, then the bytes; the module's checksum must match ours."""
        line = f'AT+QFUPL="{name}",{len(data)},{timeout}'
        self.command(line, phase=DataPhase.UPLOAD)
        for start in range(0, len(data), block):
            self.write(data[start : start + block])
            if progress is not None:
                progress(min(len(data), start + block), len(data))
        seconds = max(self.min_timeout, len(data) * 10 / self.baudrate + timeout)
        event = self._next_event(line, time.monotonic() + seconds, seconds)
        if not isinstance(event, Response):
            raise UnexpectedResponse(line, b"", None, f"{event!r} during the upload")
        if not event.ok:
            self._raise(line, event)
        self._check_sum(line, event, data, b"+QFUPL:")

    def download(self, name: str, progress: Callable[[int, int], None] | None = None) -> bytes:
        """AT+QFDWL; the module's checksum must match the bytes received."""
        files = self.list_files()
        size = files.get(name.removeprefix("UFS:"))
        line = f'AT+QFDWL="{name}"'
        if size is None:  # the size must be known: the raw bytes have no end marker
            raise CommandError(line, b"(not listed by AT+QFLST)", 405, "file not found")
        self.command(line, phase=DataPhase.DOWNLOAD, download=size)
        seconds = max(self.min_timeout, size * 10 / self.baudrate + 5)
        deadline = time.monotonic() + seconds
        shown = 0
        while progress is not None and not self._events and time.monotonic() < deadline:
            self._read(deadline - time.monotonic())  # report as the bytes come in
            if self.parser.block_received > shown:
                shown = self.parser.block_received
                progress(shown, size)
        response = self._next_event(line, deadline, seconds)
        if not isinstance(response, Response):
            raise UnexpectedResponse(line, b"", None, f"{response!r} during the download")
        if not response.ok:
            self._raise(line, response)
        data = response.lines[0] if response.lines else b""
        if progress is not None:
            progress(len(data), size)
        self._check_sum(line, response, data, b"+QFDWL:")
        return data

    def _check_sum(self, line: str, response: Response, data: bytes, prefix: bytes) -> None:
        for item in response.lines:
            if item.startswith(prefix):
                m = _FILE_SUM.match(item)
                if m is None:
                    raise UnexpectedResponse(line, response.raw(), None, f"malformed {item!r}")
                ours = f"{len(data)},{checksum(data):x}"
                if int(m.group(1)) != len(data) or int(m.group(2), 16) != checksum(data):
                    raise UnexpectedResponse(
                        line, response.raw(), None, f"checksum mismatch: ours is {ours}"
                    )
                return
        raise UnexpectedResponse(line, response.raw(), None, f"no {prefix.decode()} line")

    @property
    def baudrate(self) -> int:
        return int(getattr(self.port, "baudrate", 115200) or 115200)

    # ---- SSL ---------------------------------------------------------------------------

    def ssl_config(
        self,
        ctx: int,
        *,
        version: int | None = None,
        ciphersuite: int | None = None,
        seclevel: int | None = None,
        cacert: str | None = None,
        clientcert: str | None = None,
        clientkey: str | None = None,
        ignore_localtime: bool | None = None,
        negotiate_time: int | None = None,
    ) -> None:
        """AT+QSSLCFG for each given setting, checked against the manual's ranges first."""
        if not 0 <= ctx <= 5:
            raise ValueError("sslctxID is 0-5")
        settings: list[tuple[str, str]] = []
        if version is not None:
            if not 0 <= version <= 4:
                raise ValueError("sslversion is 0-4")
            settings.append(("sslversion", str(version)))
        if ciphersuite is not None:
            if ciphersuite not in SUITE_CODES:
                raise ValueError(f"ciphersuite 0X{ciphersuite:04X} is not in table 2")
            settings.append(("ciphersuite", f"0X{ciphersuite:04X}"))
        if seclevel is not None:
            if not 0 <= seclevel <= 2:
                raise ValueError("seclevel is 0-2")
            settings.append(("seclevel", str(seclevel)))
        for key, path in (("cacert", cacert), ("clientcert", clientcert), ("clientkey", clientkey)):
            if path is not None:
                settings.append((key, f'"{path}"'))
        if ignore_localtime is not None:
            settings.append(("ignorelocaltime", "1" if ignore_localtime else "0"))
        if negotiate_time is not None:
            if not 10 <= negotiate_time <= 300:
                raise ValueError("negotiatetime is 10-300")
            settings.append(("negotiatetime", str(negotiate_time)))
        for key, value in settings:
            self.command(f'AT+QSSLCFG="{key}",{ctx},{value}')

    def open_ssl(
        self,
        client_id: int,
        host: str,
        port: int,
        *,
        ssl_ctx: int = 0,
        pdp_ctx: int = 1,
        access_mode: int = 0,
        timeout: float | None = None,
    ) -> SslConnection:
        """AT+QSSLOPEN and wait for the result; raises OpenFailed with the module's code."""
        if client_id in self.connections:
            raise ValueError(f"client ID {client_id} is in use")
        line = f'AT+QSSLOPEN={pdp_ctx},{ssl_ctx},{client_id},"{host}",{port},{access_mode}'
        wait = timeout if timeout is not None else 150.0 + 300.0
        self._open_results.pop(client_id, None)
        try:
            if access_mode == 2:
                response = self.command(line, timeout=wait, phase=DataPhase.TRANSPARENT)
                if response.final != b"CONNECT":
                    self._raise(line, response)
            else:
                self.command(line)
        except OpenFailed:
            raise
        except CommandError as exc:  # ERROR: AT+QIGETERROR said why
            raise OpenFailed(line, exc.response, exc.code, exc.text) from None
        if access_mode != 2:
            deadline = time.monotonic() + wait
            while client_id not in self._open_results:
                self._check_reset(line)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ModemTimeout(line + " (waiting for +QSSLOPEN)", wait)
                self._read(left)
            err = self._open_results.pop(client_id)
            if err:
                _, text = self.last_error()
                raise OpenFailed(line, f"+QSSLOPEN: {client_id},{err}".encode(), err, text)
        conn = SslConnection(self, client_id, access_mode)
        self.connections[client_id] = conn
        return conn

    def ssl_state(self, client_id: int | None = None) -> list[dict[str, str | int]]:
        """AT+QSSLSTATE as dictionaries with the manual's field names."""
        line = "AT+QSSLSTATE" if client_id is None else f"AT+QSSLSTATE={client_id}"
        out: list[dict[str, str | int]] = []
        for item in self.command(line).lines:
            m = _STATE.match(item)
            if m:
                g = m.groups()
                out.append(
                    {
                        "clientID": int(g[0]),
                        "IP_address": g[1].decode(),
                        "remote_port": int(g[2]),
                        "local_port": int(g[3]),
                        "socket_state": int(g[4]),
                        "pdpctxID": int(g[5]),
                        "serverID": int(g[6]),
                        "access_mode": int(g[7]),
                        "AT_port": g[8].decode(),
                        "sslctxID": int(g[9]),
                    }
                )
        return out

    def create_connection(
        self,
        address: tuple[str, int],
        *,
        ssl_ctx: int = 0,
        pdp_ctx: int = 1,
        client_id: int | None = None,
        access_mode: int = 0,
        timeout: float | None = None,
    ) -> SocketLike:
        """Open an SSL connection and wrap it like a socket (``http.client`` can use it).

        Without ``client_id`` the lowest ID this driver does not use is tried, then the next
        when the module says it is taken (563: another host left it open)."""
        candidates = [client_id] if client_id is not None else [
            i for i in range(12) if i not in self.connections
        ]  # fmt: skip
        if not candidates:
            raise ModemError("all 12 client IDs are in use")
        for candidate in candidates:
            try:
                conn = self.open_ssl(
                    candidate, address[0], address[1], ssl_ctx=ssl_ctx, pdp_ctx=pdp_ctx,
                    access_mode=access_mode,
                )  # fmt: skip
            except OpenFailed as exc:
                if exc.code != ID_IN_USE or candidate == candidates[-1]:
                    raise
                continue
            return SocketLike(conn, timeout)
        raise AssertionError("unreachable")

    # ---- used by connections -------------------------------------------------------------

    def read_some(self, timeout: float) -> None:
        self._read(timeout)

    def data_events(self) -> Iterator[bytes]:
        """Transparent-mode data read so far."""
        while self._events and isinstance(self._events[0], Data):
            event = self._events.popleft()
            assert isinstance(event, Data)
            yield event.data
