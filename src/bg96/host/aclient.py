"""``AsyncModem``: the BG96 driver for asyncio, on the same sans-IO ``DteParser``.

A reader task feeds the port's bytes to the parser; responses complete futures, URCs go to
callbacks, an async iterator (``async for urc in modem.urcs()``) and the connections.
``socket://`` URLs use asyncio streams; any other pyserial URL (a device, ``rfc2217://``)
is read by a thread that hands the bytes to the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from urllib.parse import urlparse

import serial

from ..protocol.checksum import checksum
from .client import (
    _OPEN,
    _SSLURC,
    QI_COMMANDS,
    REGISTERED,
    cereg_stat,
    cme_error,
    command_name,
    parse_qigeterror,
    response_timeout,
)
from .errors import (
    CommandError,
    ConnectionClosedByPeer,
    ModemReset,
    ModemTimeout,
    OpenFailed,
    PortClosed,
    SendFailed,
    UnexpectedResponse,
)
from .parser import Connect, Data, DataPhase, DteParser, Event, Prompt, Response, Urc

MAX_SEND = 1460
MAX_RECV = 1500


class _Link:
    """Bytes to and from the module: asyncio streams or a pyserial port read by a thread."""

    def __init__(self, on_data: Callable[[bytes], None], on_close: Callable[[], None]) -> None:
        self.on_data = on_data
        self.on_close = on_close
        self._writer: asyncio.StreamWriter | None = None
        self._port: serial.SerialBase | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    async def open(self, url: str, baudrate: int) -> None:
        parsed = urlparse(url)
        if parsed.scheme == "socket" and parsed.hostname and parsed.port:
            reader, self._writer = await asyncio.open_connection(parsed.hostname, parsed.port)
            self._task = asyncio.get_running_loop().create_task(self._read_stream(reader))
            return
        loop = asyncio.get_running_loop()
        port = await asyncio.to_thread(serial.serial_for_url, url, baudrate=baudrate, timeout=0.05)
        self._port = port

        def pump() -> None:
            while not self._stop.is_set():
                try:
                    data = port.read(max(1, int(getattr(port, "in_waiting", 0))))
                except (serial.SerialException, OSError):
                    break
                if data:
                    loop.call_soon_threadsafe(self.on_data, data)
            loop.call_soon_threadsafe(self.on_close)

        self._thread = threading.Thread(target=pump, daemon=True)
        self._thread.start()

    async def _read_stream(self, reader: asyncio.StreamReader) -> None:
        try:
            while data := await reader.read(65536):
                self.on_data(data)
        except OSError:
            pass
        self.on_close()

    def write(self, data: bytes) -> None:
        if self._writer is not None:
            self._writer.write(data)
        elif self._port is not None:
            self._port.write(data)

    async def close(self) -> None:
        self._stop.set()
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        if self._task is not None:
            self._task.cancel()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 1.0)
        if self._port is not None:
            self._port.close()


class AsyncSslConnection:
    """An SSL connection for asyncio code: ``await send``, ``await recv``, ``await close``."""

    def __init__(self, modem: AsyncModem, client_id: int, access_mode: int) -> None:
        self.modem = modem
        self.client_id = client_id
        self.access_mode = access_mode
        self.closed_by_peer = False
        self.closed = False
        self._buffer = bytearray()
        self._changed = asyncio.Event()
        self._module_has_data = True

    def _notify(self, data: bytes = b"", *, closed: bool = False) -> None:
        if data:
            self._buffer += data
        elif not closed:
            self._module_has_data = True
        self.closed_by_peer |= closed
        self._changed.set()

    async def send(self, data: bytes) -> None:
        if self.closed:
            raise ConnectionClosedByPeer(f"connection {self.client_id} is closed")
        if self.access_mode == 2:
            self.modem.write(data)
            return
        for start in range(0, len(data), MAX_SEND):
            chunk = data[start : start + MAX_SEND]
            line = f"AT+QSSLSEND={self.client_id},{len(chunk)}"
            answer = await self.modem.command(line, check=False, payload=chunk)
            if answer.final == b"SEND FAIL":
                raise SendFailed(line, answer.raw(), None, "the module's send buffer is full")
            if answer.final != b"SEND OK":
                if self.closed_by_peer:
                    raise ConnectionClosedByPeer(f"{line}: the server closed the connection")
                code, text = await self.modem.last_error()
                raise CommandError(line, answer.raw(), code, text)

    async def recv(self, size: int = MAX_RECV, timeout: float | None = None) -> bytes:
        """Up to ``size`` bytes; ``b""`` once the server closed and everything was read."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            if self._buffer:
                out = bytes(self._buffer[:size])
                del self._buffer[:size]
                return out
            if self.access_mode == 0 and self._module_has_data and not self.closed:
                await self._fetch()
                if self._buffer or self._module_has_data:
                    continue  # data, or a recv URC came in during the read: read again
            if self.closed_by_peer or self.closed:
                return b""
            self._changed.clear()
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                raise ModemTimeout(f"recv on connection {self.client_id}", timeout or 0.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    async def _fetch(self) -> None:
        """QSSLRECV until the module's buffer is empty. The flag is cleared before each read:
        a recv URC that arrives while the command runs sets it again."""
        while True:
            self._module_has_data = False
            response = await self.modem.command(f"AT+QSSLRECV={self.client_id},{MAX_RECV}")
            data = response.lines[1] if len(response.lines) > 1 else b""
            self._buffer += data
            if len(data) < MAX_RECV:
                return

    async def close(self, timeout: int = 10) -> None:
        if self.closed:
            return
        self.closed = True
        self.modem.connections.pop(self.client_id, None)
        await self.modem.command(
            f"AT+QSSLCLOSE={self.client_id},{timeout}",
            timeout=max(self.modem.min_timeout, timeout + 1.0),
        )


class AsyncModem:
    """A BG96 for asyncio code: ``async with await AsyncModem.open(url) as modem``."""

    def __init__(self, min_timeout: float = 1.0) -> None:
        self.min_timeout = min_timeout
        self.parser = DteParser()
        self.connections: dict[int, AsyncSslConnection] = {}
        self._link = _Link(self._on_data, self._on_close)
        self._waiter: asyncio.Future[Event] | None = None
        self._queue: asyncio.Queue[Urc] = asyncio.Queue()
        self._callbacks: list[Callable[[Urc], None]] = []
        self._open_results: dict[int, asyncio.Future[int]] = {}
        self._lock = asyncio.Lock()
        self._closed = False
        self._transparent_data: asyncio.Queue[bytes] = asyncio.Queue()

    @classmethod
    async def open(
        cls, url: str, *, baudrate: int = 115200, min_timeout: float = 1.0
    ) -> AsyncModem:
        if url.startswith("loop://"):
            raise ValueError("loop:// echoes what is written: it is not a module")
        modem = cls(min_timeout)
        try:
            await modem._link.open(url, baudrate)
        except (OSError, serial.SerialException) as exc:
            raise PortClosed(f"cannot open {url}: {exc}") from exc
        return modem

    async def close(self) -> None:
        self._closed = True
        await self._link.close()

    async def __aenter__(self) -> AsyncModem:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ---- bytes in ----------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self._closed:
            raise PortClosed("the port is closed")
        self._link.write(data)

    def _on_close(self) -> None:
        self._closed = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(PortClosed("the module closed the port"))

    def _on_data(self, data: bytes) -> None:
        self.parser.feed(data)
        for event in self.parser.events():
            if isinstance(event, Urc):
                self._urc(event)
            elif isinstance(event, Data):
                self._transparent_data.put_nowait(event.data)
                conn = next((c for c in self.connections.values() if c.access_mode == 2), None)
                if conn is not None:
                    conn._notify(event.data)
            elif self._waiter is not None and not self._waiter.done():
                self._waiter.set_result(event)

    def _urc(self, urc: Urc) -> None:
        line = urc.line
        if line == b"RDY":
            for conn in self.connections.values():
                conn._notify(closed=True)
            if self._waiter is not None and not self._waiter.done():
                self._waiter.set_exception(ModemReset("the module restarted (RDY)"))
        m = _OPEN.match(line)
        if m:
            future = self._open_results.get(int(m.group(1)))
            if future is not None and not future.done():
                future.set_result(int(m.group(2)))
        ssl_urc = _SSLURC.match(line)
        if ssl_urc:
            target = self.connections.get(int(ssl_urc.group(2)))
            if target is not None:
                target._notify(urc.data, closed=ssl_urc.group(1) == b"closed")
        for callback in self._callbacks:
            callback(urc)
        self._queue.put_nowait(urc)

    # ---- URCs ----------------------------------------------------------------------------

    def on_urc(self, callback: Callable[[Urc], None]) -> None:
        self._callbacks.append(callback)

    async def urcs(self) -> AsyncIterator[Urc]:
        """Every URC from now on, as it arrives."""
        while True:
            yield await self._queue.get()

    # ---- commands ----------------------------------------------------------------------

    async def _next(self, line: str, deadline: float) -> Event:
        loop = asyncio.get_running_loop()
        self._waiter = loop.create_future()
        try:
            return await asyncio.wait_for(self._waiter, max(0.0, deadline - loop.time()))
        except TimeoutError:
            raise ModemTimeout(line, 0.0, bytes(self.parser._buf)) from None
        finally:
            self._waiter = None

    async def command(
        self,
        line: str,
        timeout: float | None = None,
        *,
        check: bool = True,
        phase: DataPhase | None = None,
        payload: bytes | None = None,
    ) -> Response:
        """Send ``line``; with ``payload``, send it at the ``>`` prompt or after ``CONNECT``."""
        async with self._lock:
            data = line.encode("latin-1")
            self.parser.begin(data, phase=phase, payload=payload or b"")
            self.write(data + b"\r")
            wait = timeout if timeout is not None else response_timeout(line, self.min_timeout)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + wait
            while True:
                try:
                    event = await self._next(line, deadline)
                except ModemTimeout as exc:
                    raise ModemTimeout(line, wait, exc.partial) from None
                if isinstance(event, Response):
                    break
                if isinstance(event, Connect) and phase is None:
                    raise UnexpectedResponse(line, b"CONNECT", None, "no data phase was asked for")
                if isinstance(event, (Prompt, Connect)):
                    if payload is None:
                        return Response(data, (), b"CONNECT")
                    self.write(payload)
                    deadline = loop.time() + max(wait, len(payload) * 10 / 115200 + 5)
        if check and not event.ok:
            await self._raise(line, event)
        return event

    async def _raise(self, line: str, response: Response) -> None:
        cme = cme_error(line, response)
        if cme is not None:
            raise cme
        code: int | None = None
        text = ""
        if command_name(line).startswith(QI_COMMANDS):
            code, text = await self.last_error()
        raise CommandError(line, response.raw(), code, text)

    async def last_error(self) -> tuple[int, str]:
        return parse_qigeterror(await self.command("AT+QIGETERROR", check=False))

    async def sync(self, attempts: int = 10) -> None:
        """Out of any prompt, ``AT`` answers, no echo, numeric errors."""
        self.write(b"\x1b")
        for _ in range(attempts):
            await asyncio.sleep(0.1)  # let what is in flight arrive, then start clean
            self.parser = DteParser()
            try:
                await self.command("AT", timeout=max(self.min_timeout, 0.5))
                break
            except (ModemTimeout, CommandError, ModemReset):
                continue
        else:
            raise ModemTimeout("AT", attempts * max(self.min_timeout, 0.5))
        await self.command("ATE0")
        await self.command("AT+CMEE=1")

    # ---- PDP, files, SSL ------------------------------------------------------------------

    async def configure_pdp(self, ctx: int = 1, apn: str = "", username: str = "",
                            password: str = "", auth: int = 0) -> None:  # fmt: skip
        await self.command(f'AT+QICSGP={ctx},1,"{apn}","{username}","{password}",{auth}')

    async def wait_registered(self, timeout: float = 60.0, poll: float = 0.5) -> int:
        """Ask ``AT+CEREG?`` until the module is registered (stat 1 or 5); its stat."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (stat := cereg_stat(await self.command("AT+CEREG?"))) not in REGISTERED:
            if loop.time() >= deadline:
                raise ModemTimeout(f"AT+CEREG? (still stat {stat})", timeout)
            await asyncio.sleep(poll)
        return stat

    async def activate(self, ctx: int = 1) -> None:
        await self.command(f"AT+QIACT={ctx}")

    async def deactivate(self, ctx: int = 1) -> None:
        await self.command(f"AT+QIDEACT={ctx}")

    async def upload(self, name: str, data: bytes, *, timeout: int = 5) -> None:
        line = f'AT+QFUPL="{name}",{len(data)},{timeout}'
        response = await self.command(line, phase=DataPhase.UPLOAD, payload=data)
        for item in response.lines:
            if item.startswith(b"+QFUPL:"):
                size, value = item[7:].strip().split(b",")
                if int(size) == len(data) and int(value, 16) == checksum(data):
                    return
        raise CommandError(line, response.raw(), None, "checksum mismatch")

    async def ssl_config(self, ctx: int, **settings: int | str) -> None:
        """``await modem.ssl_config(1, sslversion=3, seclevel=1, cacert="ca.pem")``."""
        for key, value in settings.items():
            shown = f'"{value}"' if isinstance(value, str) else str(value)
            if key == "ciphersuite" and isinstance(value, int):
                shown = f"0X{value:04X}"
            await self.command(f'AT+QSSLCFG="{key}",{ctx},{shown}')

    async def open_ssl(
        self,
        client_id: int,
        host: str,
        port: int,
        *,
        ssl_ctx: int = 0,
        pdp_ctx: int = 1,
        access_mode: int = 0,
        timeout: float = 450.0,
    ) -> AsyncSslConnection:
        """AT+QSSLOPEN and wait for ``+QSSLOPEN`` (or ``CONNECT`` in transparent mode)."""
        line = f'AT+QSSLOPEN={pdp_ctx},{ssl_ctx},{client_id},"{host}",{port},{access_mode}'
        if access_mode == 2:
            response = await self.command(line, timeout=timeout, phase=DataPhase.TRANSPARENT)
            if response.final != b"CONNECT":
                await self._raise(line, response)
        else:
            future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            self._open_results[client_id] = future
            try:
                await self.command(line)
                err = await asyncio.wait_for(future, timeout)
            except TimeoutError:
                raise ModemTimeout(line + " (waiting for +QSSLOPEN)", timeout) from None
            finally:
                self._open_results.pop(client_id, None)
            if err:
                _, text = await self.last_error()
                raise OpenFailed(line, f"+QSSLOPEN: {client_id},{err}".encode(), err, text)
        conn = AsyncSslConnection(self, client_id, access_mode)
        self.connections[client_id] = conn
        return conn
