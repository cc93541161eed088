"""``AsyncModem``: the BG96 driver for asyncio, ``Modem``'s API and meaning, awaited.

It runs the same procedures as ``Modem`` (``operations``, ``socket_operations``,
``net_operations``) on the event loop. A reader feeds the module's bytes into the
``ModemCore`` as they come, so URCs reach callbacks and connections at any time, and a task
may wait in ``recv`` while another sends: a command and its data phase hold the port (a
lock) only while they run. ``socket://`` URLs use asyncio streams; any other pyserial port
(a device, ``rfc2217://``) is read by a thread that hands the bytes to the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Protocol, TypeVar, cast
from urllib.parse import urlparse

import serial

from . import http_operations as http
from . import net_operations as net
from . import operations as ops
from .connection import (
    AsyncModuleSocket,
    AsyncSslConnection,
    AsyncStreamConnection,
    AsyncTcpConnection,
    AsyncTcpListener,
    AsyncUdpConnection,
    AsyncUdpSocket,
)
from .core import SSL, Link, ModemCore, UrcCallback
from .errors import ModemError, PortClosed
from .faces import awaitable
from .mqtt_client import AsyncMqttClient
from .parser import DteParser, Urc
from .requests import Claim, Procedure, Release, Reopen, SetDtr, Sleep, Wait, Write
from .socketlike import AsyncSocketLike

__all__ = ["AsyncModem"]

T = TypeVar("T")
READ_TIMEOUT = 0.05  # s a port-reading thread blocks before it looks whether to stop


class _Transport:
    """Moves bytes between the module and the loop; ``on_data``/``on_close`` run on the loop."""

    port: serial.SerialBase | None = None

    def __init__(self, on_data: Callable[[bytes], None], on_close: Callable[[], None]) -> None:
        self.on_data = on_data
        self.on_close = on_close

    async def start(self) -> None:
        raise NotImplementedError

    async def write(self, data: bytes) -> None:
        raise NotImplementedError

    async def set_dtr(self, on: bool) -> None:
        raise ModemError("this port has no DTR line: use rfc2217:// or a serial device")

    async def close(self) -> None:
        raise NotImplementedError


class _StreamTransport(_Transport):
    """``socket://host:port`` over asyncio streams."""

    def __init__(
        self, host: str, port: int, on_data: Callable[[bytes], None], on_close: Callable[[], None]
    ) -> None:
        super().__init__(on_data, on_close)
        self.host, self.tcp_port = host, port
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        reader, self._writer = await asyncio.open_connection(self.host, self.tcp_port)
        self._task = asyncio.get_running_loop().create_task(self._read(reader))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while data := await reader.read(65536):
                self.on_data(data)
        except OSError:
            pass
        self.on_close()

    async def write(self, data: bytes) -> None:
        assert self._writer is not None
        self._writer.write(data)
        await self._writer.drain()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()


class _PortTransport(_Transport):
    """A pyserial port, read by a thread of its own (pyserial has no asyncio API)."""

    def __init__(
        self,
        port: serial.SerialBase,
        on_data: Callable[[bytes], None],
        on_close: Callable[[], None],
    ) -> None:
        super().__init__(on_data, on_close)
        self.port = port
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    async def start(self) -> None:
        port = self.port
        assert port is not None
        if not port.is_open:
            reopen: Callable[[], None] | None = getattr(port, "open", None)
            if reopen is None:
                raise PortClosed("the port is closed and cannot be reopened")
            await asyncio.to_thread(reopen)
        if port.timeout != READ_TIMEOUT:
            # a blocking call on some ports (RFC 2217 negotiates it with the server: done on
            # the loop's thread it stalled the loop, and deadlocked a module on this loop)
            await asyncio.to_thread(setattr, port, "timeout", READ_TIMEOUT)
        loop = asyncio.get_running_loop()
        stop = self._stop = threading.Event()

        def pump() -> None:
            while not stop.is_set():
                try:
                    data = port.read(max(1, int(getattr(port, "in_waiting", 0) or 0)))
                except (serial.SerialException, OSError, TypeError, AttributeError):
                    break  # pyserial's socket:// raises TypeError/AttributeError once closed
                if data and not stop.is_set():
                    with contextlib.suppress(RuntimeError):  # the loop is gone
                        loop.call_soon_threadsafe(self.on_data, data)
            if not stop.is_set():
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(self.on_close)

        self._thread = threading.Thread(target=pump, name="bg96-async-reader", daemon=True)
        self._thread.start()

    async def write(self, data: bytes) -> None:
        assert self.port is not None
        await asyncio.to_thread(self.port.write, data)

    async def set_dtr(self, on: bool) -> None:
        assert self.port is not None
        await asyncio.to_thread(setattr, self.port, "dtr", on)

    async def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 1.0)
        if self.port is not None:
            with contextlib.suppress(serial.SerialException, OSError):
                await asyncio.to_thread(self.port.close)


class ModuleEnd(Protocol):
    """The module's end of an in-memory port (``bg96.module.transports.memory``), as the
    driver uses it: no socket, the module on the same event loop."""

    def host_attach(
        self, on_data: Callable[[bytes], None], on_close: Callable[[], None]
    ) -> None: ...
    def host_detach(self) -> None: ...
    def host_write(self, data: bytes) -> None: ...
    async def host_drain(self) -> None: ...
    def host_set_dtr(self, on: bool) -> None: ...


class InProcessModule(Protocol):
    """A module in this process that offers an in-memory port (``VirtualModule`` with
    ``transport="memory"``)."""

    def memory_port(self) -> ModuleEnd: ...


class _MemoryTransport(_Transport):
    """An in-memory port to a module on this loop; its buffers are bounded both ways."""

    def __init__(
        self, end: ModuleEnd, on_data: Callable[[bytes], None], on_close: Callable[[], None]
    ) -> None:
        super().__init__(on_data, on_close)
        self.end = end
        self._attached = False

    async def start(self) -> None:
        self.end.host_attach(self.on_data, self._closed)
        self._attached = True

    def _closed(self) -> None:
        self._attached = False
        self.on_close()

    async def write(self, data: bytes) -> None:
        self.end.host_write(data)
        await self.end.host_drain()

    async def set_dtr(self, on: bool) -> None:
        self.end.host_set_dtr(on)

    async def close(self) -> None:
        if self._attached:
            self._attached = False
            self.end.host_detach()


def _connection(modem: AsyncModem, link: Link) -> AsyncSslConnection:
    return AsyncSslConnection(modem, link)


def _tcp(modem: AsyncModem, link: Link) -> AsyncTcpConnection:
    return AsyncTcpConnection(modem, link)


def _socket(
    modem: AsyncModem, opened: tuple[Link, float | None]
) -> AsyncSocketLike[AsyncStreamConnection]:
    link, timeout = opened
    conn: AsyncStreamConnection = (
        _connection(modem, link) if link.family is SSL else _tcp(modem, link)
    )
    return AsyncSocketLike(conn, timeout)


def _udp_connection(modem: AsyncModem, link: Link) -> AsyncUdpConnection:
    return AsyncUdpConnection(modem, link)


def _udp_socket(modem: AsyncModem, link: Link) -> AsyncUdpSocket:
    return AsyncUdpSocket(modem, link)


def _listener(modem: AsyncModem, link: Link) -> AsyncTcpListener:
    return AsyncTcpListener(modem, link)


class AsyncModem:
    """A BG96 for asyncio code: ``async with await AsyncModem.open(url) as modem``, or
    ``AsyncModem(port)`` on an open pyserial port. Every method of ``Modem`` is here, with
    the same parameters, answers and exceptions; those that talk to the module are
    coroutines."""

    def __init__(self, port: serial.SerialBase, *, min_timeout: float = 1.0) -> None:
        baudrate = int(getattr(port, "baudrate", 115200) or 115200)
        self._setup(_PortTransport(port, self._on_data, self._on_close), min_timeout, baudrate)

    def _setup(self, transport: _Transport, min_timeout: float, baudrate: int) -> None:
        self.core = ModemCore(
            min_timeout=min_timeout, clock=time.monotonic, baudrate=baudrate, shared=True
        )
        self._state = self.core
        self._transport = transport
        self._started = False
        self._closed = False  # the module's end closed, or close() was called
        self._lock = asyncio.Lock()  # a command and its data phase at a time
        self._waiters: list[asyncio.Future[None]] = []

    @classmethod
    async def open(
        cls, url: str, *, baudrate: int = 115200, min_timeout: float = 1.0
    ) -> AsyncModem:
        """Open ``url`` (``/dev/ttyUSB2``, ``socket://host:port``, ``rfc2217://...``)."""
        if url.startswith("loop://"):
            raise ValueError("loop:// echoes what is written: it is not a module")
        modem = cls.__new__(cls)
        parsed = urlparse(url)
        transport: _Transport
        if parsed.scheme == "socket" and parsed.hostname and parsed.port:
            transport = _StreamTransport(
                parsed.hostname, parsed.port, modem._on_data, modem._on_close
            )
        else:
            try:
                port = await asyncio.to_thread(
                    serial.serial_for_url, url, baudrate=baudrate, timeout=READ_TIMEOUT
                )
            except (OSError, serial.SerialException) as exc:
                raise PortClosed(f"cannot open {url}: {exc}") from exc
            transport = _PortTransport(port, modem._on_data, modem._on_close)
        modem._setup(transport, min_timeout, baudrate)
        try:
            await modem._start()
        except (OSError, serial.SerialException) as exc:
            raise PortClosed(f"cannot open {url}: {exc}") from exc
        return modem

    @classmethod
    async def attach(cls, module: InProcessModule, *, min_timeout: float = 1.0) -> AsyncModem:
        """Drive ``module``, running on this event loop, through its in-memory port (no
        socket): ``VirtualModule(transport="memory")``. Like ``open``, one host at a time."""
        modem = cls.__new__(cls)
        transport = _MemoryTransport(module.memory_port(), modem._on_data, modem._on_close)
        modem._setup(transport, min_timeout, 115200)
        try:
            await modem._start()
        except ConnectionError as exc:
            raise PortClosed(f"cannot attach: {exc}") from exc
        return modem

    async def close(self) -> None:
        self._closed = True
        self._wake()
        await self._transport.close()

    async def __aenter__(self) -> AsyncModem:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ---- what the module said ------------------------------------------------------------

    @property
    def min_timeout(self) -> float:
        """No command's wait is shorter (s)."""
        return self.core.min_timeout

    @min_timeout.setter
    def min_timeout(self, value: float) -> None:
        self.core.min_timeout = value

    @property
    def baudrate(self) -> int:
        return self.core.baudrate

    @property
    def port(self) -> serial.SerialBase | None:
        """The pyserial port, None for ``socket://`` (asyncio streams)."""
        return self._transport.port

    @property
    def parser(self) -> DteParser:
        """The sans-IO parser the module's bytes go through."""
        return self.core.parser

    @parser.setter
    def parser(self, parser: DteParser) -> None:
        self.core.parser = parser

    @property
    def urcs(self) -> deque[Urc]:
        """URCs read and not yet taken by ``poll()`` or ``wait_urc()``."""
        return self.core.urcs

    @property
    def connections(self) -> dict[int, AsyncModuleSocket]:
        """The open sockets by client ID (connections, UDP sockets, listeners; not the
        connections a listener took that nobody accepted yet)."""
        links = self.core.links.items()
        return {
            cid: cast(AsyncModuleSocket, link.face) for cid, link in links if link.face is not None
        }

    def mqtt(self, client_id: int = 0) -> AsyncMqttClient:
        """The module's MQTT client ``client_id`` (0-5): AT+QMTCFG, QMTOPEN, QMTCONN, QMTSUB,
        QMTPUB and the messages it receives (``AsyncMqttClient``). Nothing is sent yet."""
        return AsyncMqttClient(self, self.core, client_id)

    def on_urc(self, callback: UrcCallback) -> None:
        """Call ``callback`` with every URC as it is read (on the event loop)."""
        self.core.callbacks.append(callback)

    # ---- the operations (operations.py, socket_operations.py, net_operations.py) ----------

    command = awaitable(ops.command)
    last_error = awaitable(ops.last_error)
    query = awaitable(ops.query)
    poll = awaitable(ops.poll)
    wait_urc = awaitable(ops.wait_urc)
    sync = awaitable(ops.sync)
    reset = awaitable(ops.reset)
    identify = awaitable(ops.identify)
    wait_registered = awaitable(ops.wait_registered)
    configure_pdp = awaitable(ops.configure_pdp)
    activate = awaitable(ops.activate)
    deactivate = awaitable(ops.deactivate)
    ip_address = awaitable(ops.ip_address)
    list_files = awaitable(ops.list_files)
    delete = awaitable(ops.delete)
    upload = awaitable(ops.upload)
    download = awaitable(ops.download)
    ssl_config = awaitable(ops.ssl_config)
    ssl_state = awaitable(ops.ssl_state)
    tcpip_state = awaitable(ops.tcpip_state)
    open_ssl = awaitable(ops.open_ssl, _connection)
    open_tcp = awaitable(ops.open_tcp, _tcp)
    create_connection = awaitable(ops.create_connection, _socket)
    create_connection.__doc__ = (ops.create_connection.__doc__ or "") + (
        "\n\n    Returns an ``AsyncSocketLike``: ``await sendall(data)``, ``await recv(n)``"
        " (``b''`` at the end, ``TimeoutError`` after ``settimeout``), ``await close()``,"
        " ``async with``; its ``connection`` is the ``AsyncTcpConnection`` (plain) or"
        " ``AsyncSslConnection`` (with ``ssl_ctx``)."
    )

    create_udp_connection = awaitable(ops.create_udp_connection, _udp_connection)
    udp_service = awaitable(ops.udp_service, _udp_socket)
    listen = awaitable(ops.listen, _listener)
    dns_lookup = awaitable(net.dns_lookup)
    ping = awaitable(net.ping)
    ntp_sync = awaitable(net.ntp_sync)
    http_configure = awaitable(http.http_configure)
    http_get = awaitable(http.http_get)
    http_post = awaitable(http.http_post)
    http_download = awaitable(http.http_download)

    # ---- running procedures ---------------------------------------------------------------

    async def _run(self, proc: Procedure[T]) -> T:
        """Carry out what ``proc`` asks until it returns; a port failure is thrown into it.
        Between ``Claim`` and ``Release`` (or the end) the port is this run's alone."""
        if not self._started:
            await self._start()
        held = 0
        try:
            request = proc.send(None)
            while True:
                try:
                    if isinstance(request, Wait):
                        await self._wait(request.timeout)
                    elif isinstance(request, Write):
                        await self.write(request.data)
                    elif isinstance(request, Claim):
                        if not held:
                            await self._lock.acquire()
                        held += 1
                    elif isinstance(request, Release):
                        held -= 1
                        if not held:
                            self._lock.release()
                    elif isinstance(request, Sleep):
                        await asyncio.sleep(request.seconds)
                    elif isinstance(request, SetDtr):
                        await self._transport.set_dtr(request.on)
                    elif isinstance(request, Reopen):
                        await self._reopen()
                except ModemError as exc:
                    request = proc.throw(exc)
                else:
                    request = proc.send(None)
        except StopIteration as stop:
            return cast(T, stop.value)
        finally:
            if held:
                self._lock.release()

    # ---- the port ---------------------------------------------------------------------------

    async def write(self, data: bytes) -> None:
        """Write raw bytes to the module (the data of a prompt, of transparent mode...)."""
        if self._closed:
            raise PortClosed("the port is closed or failed (sync() reopens it)")
        if not self._started:
            await self._start()
        try:
            await self._transport.write(data)
        except (OSError, serial.SerialException, RuntimeError) as exc:
            self._closed = True
            raise PortClosed(f"the port failed: {exc or type(exc).__name__}") from exc

    async def _wait(self, timeout: float | None) -> None:
        """Until the reader brought bytes, or ``timeout`` s."""
        if self._closed:
            raise PortClosed("the port is closed or failed (sync() reopens it)")
        if timeout is not None and timeout <= 0:
            await asyncio.sleep(0)
        else:
            loop = asyncio.get_running_loop()
            woken: asyncio.Future[None] = loop.create_future()
            self._waiters.append(woken)
            timer = None if timeout is None else loop.call_later(timeout, _settle, woken)
            try:
                await woken
            finally:
                if timer is not None:
                    timer.cancel()
                with contextlib.suppress(ValueError):
                    self._waiters.remove(woken)
        if self._closed:
            raise PortClosed("the module closed the port")

    def _on_data(self, data: bytes) -> None:
        try:
            self.core.receive(data)
        except Exception as exc:  # a URC callback failed: the reader goes on
            asyncio.get_running_loop().call_exception_handler(
                {"message": "bg96: a URC callback raised", "exception": exc}
            )
        self._wake()

    def _on_close(self) -> None:
        self._closed = True
        self._wake()

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for woken in waiters:
            _settle(woken)

    async def _start(self) -> None:
        await self._transport.start()
        self._started = True
        self._closed = False

    async def _reopen(self) -> None:
        if self._started and not self._closed:
            return
        with contextlib.suppress(OSError, serial.SerialException):
            await self._transport.close()
        try:
            await self._start()
        except (OSError, serial.SerialException) as exc:
            raise PortClosed(f"cannot reopen the port: {exc}") from exc


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
