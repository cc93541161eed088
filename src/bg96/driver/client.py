"""``Modem``: a synchronous BG96 driver over any pyserial port, real or virtual.

All reading happens in the caller's thread: a command writes its line, then feeds what the
port returns into the sans-IO ``DteParser`` until its answer is complete or its maximum
response time (from the manuals) has passed. URCs that arrive meanwhile are dispatched to
connections, callbacks and the ``urcs`` queue.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable, Iterator
from types import TracebackType

import serial

from ..engine.files import checksum
from .connection import SslConnection
from .errors import (
    CommandError,
    ModemError,
    ModemReset,
    ModemTimeout,
    OpenFailed,
    PortClosed,
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
QI_COMMANDS = ("+QI", "+QSSL")  # their ERROR is explained by AT+QIGETERROR
SUITE_CODES = frozenset(
    {0x0035, 0x002F, 0x0005, 0x0004, 0x000A, 0x003D, 0xC011, 0xC012}
    | {0xC013, 0xC014, 0xC027, 0xC028, 0xC02F, 0xFFFF}
)
_CME = re.compile(rb"\+CME ERROR: (\d+)")
_QIGETERROR = re.compile(rb"\+QIGETERROR: (\d+),\s*(.*)")
_OPEN = re.compile(rb"\+QSSLOPEN: (\d+),(\d+)")
_SSLURC = re.compile(rb'\+QSSLURC: "(recv|closed)",(\d+)')
_STATE = re.compile(
    rb'\+QSSLSTATE: (\d+),"SSLClient","([^"]*)",(\d+),(\d+),(\d+),(\d+),(\d+),(\d+),"([^"]*)",(\d+)'
)

UrcCallback = Callable[[Urc], None]


def command_name(line: str) -> str:
    m = re.match(r"AT([+&$%^][A-Za-z0-9_]+)", line, re.IGNORECASE)
    return m.group(1).upper() if m else line[:3].upper()


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

    @classmethod
    def open(cls, url: str, *, baudrate: int = 115200, min_timeout: float = 1.0) -> Modem:
        """Open ``url`` (``/dev/ttyUSB2``, ``socket://host:port``, ``rfc2217://...``)."""
        if url.startswith("loop://"):
            raise ValueError("loop:// echoes what is written: it is not a module")
        try:
            port = serial.serial_for_url(url, baudrate=baudrate, timeout=0.02)
        except serial.SerialException as exc:
            raise PortClosed(f"cannot open {url}: {exc}") from exc
        return cls(port, min_timeout=min_timeout)

    def close(self) -> None:
        self.port.close()

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
        try:
            self.port.write(data)
        except (serial.SerialException, OSError) as exc:
            raise PortClosed(str(exc)) from exc

    def _read(self, timeout: float) -> None:
        """Read what the port has (waiting up to ``timeout``) and dispatch the events."""
        self.port.timeout = max(0.0, min(timeout, 0.05))
        try:
            waiting = int(getattr(self.port, "in_waiting", 0))
            data = self.port.read(max(1, waiting))
        except (serial.SerialException, OSError) as exc:
            raise PortClosed(str(exc)) from exc
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
        if line == b"RDY":
            self._reset_seen = True
            for conn in self.connections.values():
                conn._peer_closed()
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

    def _next_event(self, command: str, deadline: float) -> Event:
        while not self._events:
            if self._reset_seen:
                self._reset_seen = False
                raise ModemReset(f"{command!r}: the module restarted (RDY)")
            left = deadline - time.monotonic()
            if left <= 0:
                raise ModemTimeout(command, 0.0, bytes(self.parser._buf))
            self._read(left)
        return self._events.popleft()

    def timeout_for(self, line: str) -> float:
        return max(self.min_timeout, MAX_RESPONSE.get(command_name(line), DEFAULT_RESPONSE))

    # ---- commands --------------------------------------------------------------------

    def command(
        self,
        line: str,
        timeout: float | None = None,
        *,
        check: bool = True,
        phase: DataPhase | None = None,
        download: int = 0,
    ) -> Response:
        """Send ``line`` and return its answer; ``ERROR`` and ``+CME ERROR`` raise."""
        data = line.encode("latin-1")
        self.parser.begin(data, phase=phase, download=download)
        self._reset_seen = False
        self.write(data + b"\r")
        wait = self.timeout_for(line) if timeout is None else timeout
        deadline = time.monotonic() + wait
        while True:
            try:
                event = self._next_event(line, deadline)
            except ModemTimeout:
                raise ModemTimeout(line, wait, bytes(self.parser._buf)) from None
            if isinstance(event, Response):
                break
            if isinstance(event, (Connect, Prompt)):
                return Response(data, (), b"CONNECT" if isinstance(event, Connect) else b">")
        if check and not event.ok:
            self._raise(line, event)
        return event

    def _raise(self, line: str, response: Response) -> None:
        raw = response.raw()
        cme = _CME.match(response.final)
        if cme:
            raise CommandError(line, raw, int(cme.group(1)), "")
        code: int | None = None
        text = ""
        if command_name(line).startswith(QI_COMMANDS):
            code, text = self.last_error()
        raise CommandError(line, raw, code, text)

    def last_error(self) -> tuple[int, str]:
        """AT+QIGETERROR: the code and text of the last TCP/IP or SSL command."""
        response = self.command("AT+QIGETERROR", check=False)
        for line in response.lines:
            m = _QIGETERROR.match(line)
            if m:
                return int(m.group(1)), m.group(2).decode("latin-1")
        return 0, ""

    def query(self, line: str, prefix: str) -> list[str]:
        """The information lines of ``line`` that start with ``prefix``, prefix removed."""
        response = self.command(line)
        p = prefix.encode()
        return [x[len(p) :].strip().decode("latin-1") for x in response.lines if x.startswith(p)]

    def sync(self, attempts: int = 10) -> None:
        """Bring the module into a known state: out of any prompt, ``AT`` answers, no echo,
        numeric errors. Use it at start and after any exception."""
        self.write(b"\x1b")  # ends a QSSLSEND prompt without sending
        for _ in range(attempts):
            self._drain()
            try:
                self.command("AT", timeout=max(self.min_timeout, 0.5))
                break
            except (ModemTimeout, CommandError, ModemReset):
                continue
        else:
            raise ModemTimeout("AT", attempts * max(self.min_timeout, 0.5))
        self.command("ATE0")
        self.command("AT+CMEE=1")

    def _drain(self, quiet: float = 0.1) -> None:
        """Read and drop whatever the module still sends until it is quiet for ``quiet`` s;
        URCs are kept. Leaves a fresh parser."""
        self.parser = DteParser()
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            self.port.timeout = quiet
            try:
                data = self.port.read(65536)
            except (serial.SerialException, OSError) as exc:
                raise PortClosed(str(exc)) from exc
            if not data:
                break
            self.parser.feed(data)
            for event in self.parser.events():
                if isinstance(event, Urc):
                    self._dispatch_urc(event)
        self.parser = DteParser()
        self._events.clear()
        self._reset_seen = False

    def reset(self, timeout: float = 30.0) -> None:
        """AT+CFUN=1,1 and wait until the module is ready again (APP RDY)."""
        self.command("AT+CFUN=1,1")
        self.connections.clear()
        deadline = time.monotonic() + timeout
        while not any(u.line == b"APP RDY" for u in self.urcs):
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
        assert address is not None
        return address

    def deactivate(self, ctx: int = 1) -> None:
        self.command(f"AT+QIDEACT={ctx}")

    def ip_address(self, ctx: int = 1) -> str | None:
        """The context's address, or None when it is not active (AT+QIACT?)."""
        for line in self.query("AT+QIACT?", "+QIACT:"):
            fields = line.split(",")
            if int(fields[0]) == ctx:
                return fields[3].strip('"')
        return None

    # ---- files -----------------------------------------------------------------------

    def list_files(self) -> dict[str, int]:
        """AT+QFLST: name -> size."""
        out: dict[str, int] = {}
        for line in self.query("AT+QFLST", "+QFLST:"):
            name, size = line.rsplit(",", 1)
            out[name.strip('"').removeprefix("UFS:")] = int(size)
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
        event = self._next_event(line, time.monotonic() + seconds)
        if not isinstance(event, Response) or not event.ok:
            assert isinstance(event, Response)
            self._raise(line, event)
        self._check_sum(line, event, data, b"+QFUPL:")

    def download(self, name: str, progress: Callable[[int, int], None] | None = None) -> bytes:
        """AT+QFDWL; the module's checksum must match the bytes received."""
        files = self.list_files()
        size = files.get(name.removeprefix("UFS:"))
        if size is None:
            raise CommandError(f'AT+QFDWL="{name}"', b"", 405, "file not found")
        line = f'AT+QFDWL="{name}"'
        self.command(line, phase=DataPhase.DOWNLOAD, download=size)
        deadline = time.monotonic() + max(self.min_timeout, size * 10 / self.baudrate + 5)
        response = self._next_event(line, deadline)
        if not isinstance(response, Response):
            raise ModemError(f"{line}: unexpected {response!r}")
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
                size, value = item[len(prefix) :].strip().split(b",")
                if int(size) != len(data) or int(value, 16) != checksum(data):
                    raise CommandError(
                        line, response.raw(), None, f"checksum mismatch: ours {checksum(data):x}"
                    )
                return
        raise CommandError(line, response.raw(), None, f"no {prefix.decode()} line")

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
        if access_mode == 2:
            response = self.command(line, timeout=wait, phase=DataPhase.TRANSPARENT)
            if response.final != b"CONNECT":
                self._raise(line, response)
        else:
            self.command(line)
            deadline = time.monotonic() + wait
            while client_id not in self._open_results:
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
        """Open an SSL connection and wrap it like a socket (``http.client`` can use it)."""
        if client_id is None:
            free = [i for i in range(12) if i not in self.connections]
            if not free:
                raise ModemError("all 12 client IDs are in use")
            client_id = free[0]
        conn = self.open_ssl(
            client_id, address[0], address[1], ssl_ctx=ssl_ctx, pdp_ctx=pdp_ctx,
            access_mode=access_mode,
        )  # fmt: skip
        return SocketLike(conn, timeout)

    # ---- used by connections -------------------------------------------------------------

    def read_some(self, timeout: float) -> None:
        self._read(timeout)

    def data_events(self) -> Iterator[bytes]:
        """Transparent-mode data read so far."""
        while self._events and isinstance(self._events[0], Data):
            event = self._events.popleft()
            assert isinstance(event, Data)
            yield event.data
