"""``Modem``: a synchronous BG96 driver over any pyserial port, real or virtual.

It runs the shared procedures (``operations``, ``socket_operations``, ``net_operations``)
in the caller's thread:
a ``Wait`` reads what the port has into the ``ModemCore`` (URCs are dispatched to
connections, callbacks and the ``urcs`` queue there), a ``Write`` writes. ``AsyncModem`` runs
the same procedures on an event loop.
"""

from __future__ import annotations

import contextlib
import select
import socket
import time
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import TypeVar, cast

import serial
from serial.urlhandler import protocol_socket

from . import http_operations as http
from . import net_operations as net
from . import operations as ops
from .answers import DEFAULT_RESPONSE, MAX_RESPONSE, command_name, response_timeout
from .connection import (
    ModuleSocket,
    SslConnection,
    StreamConnection,
    TcpConnection,
    TcpListener,
    UdpConnection,
    UdpSocket,
)
from .core import SSL, Link, ModemCore, UrcCallback
from .errors import ModemError, PortClosed
from .faces import blocking
from .mqtt_client import MqttClient
from .parser import DteParser, Urc
from .requests import Procedure, Reopen, SetDtr, Sleep, Wait, Write
from .socketlike import SocketLike

__all__ = [
    "DEFAULT_RESPONSE",
    "MAX_RESPONSE",
    "QUANTUM",
    "Modem",
    "command_name",
    "response_timeout",
]

T = TypeVar("T")
QUANTUM = 0.02  # s a read waits for a first byte before the caller checks its deadline


def _waiting(port: serial.SerialBase) -> int:
    """Bytes the port holds (SerialBase does not declare ``in_waiting``; its ports do)."""
    return int(getattr(port, "in_waiting", 0) or 0)


def _raw_socket(port: serial.SerialBase) -> socket.socket | None:
    """The TCP socket under a pyserial socket:// port (pyserial 3.x keeps it in ``_socket``),
    or None for any other port."""
    if isinstance(port, protocol_socket.Serial):
        return _open_socket(port)
    return None


def _open_socket(port: serial.SerialBase) -> socket.socket | None:
    sock = getattr(port, "_socket", None)
    return sock if isinstance(sock, socket.socket) else None


def _connection(modem: Modem, link: Link) -> SslConnection:
    return SslConnection(modem, link)


def _tcp(modem: Modem, link: Link) -> TcpConnection:
    return TcpConnection(modem, link)


def _socket(modem: Modem, opened: tuple[Link, float | None]) -> SocketLike[StreamConnection]:
    link, timeout = opened
    conn: StreamConnection = _connection(modem, link) if link.family is SSL else _tcp(modem, link)
    return SocketLike(conn, timeout)


def _udp_connection(modem: Modem, link: Link) -> UdpConnection:
    return UdpConnection(modem, link)


def _udp_socket(modem: Modem, link: Link) -> UdpSocket:
    return UdpSocket(modem, link)


def _listener(modem: Modem, link: Link) -> TcpListener:
    return TcpListener(modem, link)


class Modem:
    """A BG96 on a serial port (``Modem.open(url)`` takes any pyserial URL).

    Not thread-safe: one thread drives it. URCs are read while a method runs (``poll()``
    reads when nothing else does)."""

    def __init__(self, port: serial.SerialBase, *, min_timeout: float = 1.0) -> None:
        self._port = port
        baudrate = int(getattr(port, "baudrate", 115200) or 115200)
        self.core = ModemCore(min_timeout=min_timeout, clock=time.monotonic, baudrate=baudrate)
        self._state = self.core
        self._timeout: float | None = port.timeout  # what port.timeout was last set to
        self._broken = False  # a read or write failed: the port waits for sync() to reopen it
        # socket:// is read and written on its socket (an ABC check costs, so it is done once)
        self._on_socket = isinstance(port, protocol_socket.Serial)

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
        self._port.close()

    def __enter__(self) -> Modem:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

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
        return int(getattr(self._port, "baudrate", 115200) or 115200)

    @property
    def port(self) -> serial.SerialBase:
        """The pyserial port."""
        return self._port

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
    def connections(self) -> dict[int, ModuleSocket]:
        """The open sockets by client ID (connections, UDP sockets, listeners; not the
        connections a listener took that nobody accepted yet)."""
        links = self.core.links.items()
        return {cid: cast(ModuleSocket, link.face) for cid, link in links if link.face is not None}

    def mqtt(self, client_id: int = 0) -> MqttClient:
        """The module's MQTT client ``client_id`` (0-5): AT+QMTCFG, QMTOPEN, QMTCONN, QMTSUB,
        QMTPUB and the messages it receives (``MqttClient``). Nothing is sent yet."""
        return MqttClient(self, self.core, client_id)

    def on_urc(self, callback: UrcCallback) -> None:
        """Call ``callback`` with every URC as it is read."""
        self.core.callbacks.append(callback)

    # ---- the operations (operations.py, socket_operations.py, net_operations.py) ----------

    command = blocking(ops.command)
    last_error = blocking(ops.last_error)
    query = blocking(ops.query)
    poll = blocking(ops.poll)
    wait_urc = blocking(ops.wait_urc)
    sync = blocking(ops.sync)
    reset = blocking(ops.reset)
    identify = blocking(ops.identify)
    wait_registered = blocking(ops.wait_registered)
    configure_pdp = blocking(ops.configure_pdp)
    activate = blocking(ops.activate)
    deactivate = blocking(ops.deactivate)
    ip_address = blocking(ops.ip_address)
    list_files = blocking(ops.list_files)
    delete = blocking(ops.delete)
    upload = blocking(ops.upload)
    download = blocking(ops.download)
    ssl_config = blocking(ops.ssl_config)
    ssl_state = blocking(ops.ssl_state)
    tcpip_state = blocking(ops.tcpip_state)
    open_ssl = blocking(ops.open_ssl, _connection)
    open_tcp = blocking(ops.open_tcp, _tcp)
    create_connection = blocking(ops.create_connection, _socket)
    create_connection.__doc__ = (ops.create_connection.__doc__ or "") + (
        "\n\n    Returns a ``SocketLike`` (``sendall``, ``recv``, ``makefile``, ``settimeout``,"
        " ``close``): ``http.client`` and other socket-taking code run over it. Its"
        " ``connection`` is the ``TcpConnection`` (plain) or ``SslConnection`` (with"
        " ``ssl_ctx``)."
    )

    create_udp_connection = blocking(ops.create_udp_connection, _udp_connection)
    udp_service = blocking(ops.udp_service, _udp_socket)
    listen = blocking(ops.listen, _listener)
    dns_lookup = blocking(net.dns_lookup)
    ping = blocking(net.ping)
    ntp_sync = blocking(net.ntp_sync)
    http_configure = blocking(http.http_configure)
    http_get = blocking(http.http_get)
    http_post = blocking(http.http_post)
    http_download = blocking(http.http_download)

    # ---- running procedures ---------------------------------------------------------------

    def _run(self, proc: Procedure[T]) -> T:
        """Carry out what ``proc`` asks until it returns; a port failure is thrown into it."""
        try:
            request = proc.send(None)
            while True:
                try:
                    if type(request) is Wait:
                        self._read(request.timeout)
                    elif type(request) is Write:
                        self.write(request.data)
                    elif type(request) is Sleep:
                        time.sleep(request.seconds)
                    elif type(request) is SetDtr:
                        self._port.dtr = request.on
                    elif type(request) is Reopen and (self._broken or not self._port.is_open):
                        self._reopen()
                    # Claim and Release: one thread drives a Modem, the port is always its own
                except ModemError as exc:
                    request = proc.throw(exc)
                else:
                    request = proc.send(None)
        except StopIteration as stop:
            return cast(T, stop.value)

    # ---- the port ---------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Write raw bytes to the module (the data of a prompt, of transparent mode...)."""
        self._check_port()
        try:
            sock = _open_socket(self._port) if self._on_socket else None
            if sock is not None:
                sock.sendall(data)
            else:
                self._port.write(data)
        except (serial.SerialException, OSError) as exc:
            raise self._port_lost(exc) from exc

    def _read(self, timeout: float | None) -> None:
        """Read what the port has (waiting up to ``timeout``, at most ``QUANTUM``) into the
        core."""
        data = self._read_raw(QUANTUM if timeout is None else timeout)
        if data:
            self.core.receive(data)

    def _read_raw(self, timeout: float) -> bytes:
        """What the port has, waiting up to ``timeout`` (at most ``QUANTUM``) for a first byte.

        The port's timeout stays at ``QUANTUM``: an RFC 2217 port renegotiates its settings
        with the server, 50 ms or more, on every change. Only socket:// changes it, for a
        non-blocking read, because its ``in_waiting`` says 1 for "some".
        """
        port = self._port
        if self._broken or not port.is_open:
            raise PortClosed("the port is closed or failed (sync() reopens it)")
        if self._on_socket and isinstance(sock := getattr(port, "_socket", None), socket.socket):
            return self._read_socket(sock, timeout)
        try:
            if timeout <= 0 and not _waiting(port):
                return b""
            self._set_timeout(QUANTUM)
            data = port.read(max(1, _waiting(port)))
            if data and self._on_socket:
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

    def _set_timeout(self, timeout: float) -> None:
        if timeout != self._timeout:
            self._port.timeout = timeout
            self._timeout = timeout

    def _port_lost(self, exc: BaseException) -> PortClosed:
        """The port failed: no more reads or writes until ``sync()`` reopens it. (Closing it
        here would be slow: pyserial's socket:// close() sleeps 0.3 s.)"""
        self._broken = True
        name = getattr(self._port, "port", None) or "the port"
        return PortClosed(f"{name}: {exc or type(exc).__name__}")

    def _check_port(self) -> None:
        if self._broken or not self._port.is_open:
            raise PortClosed("the port is closed or failed (sync() reopens it)")

    def _reopen(self) -> None:
        if self._broken:
            with contextlib.suppress(serial.SerialException, OSError):
                self._port.close()
        reopen: Callable[[], None] | None = getattr(self._port, "open", None)
        if reopen is None:
            raise PortClosed("the port is closed and cannot be reopened")
        try:
            reopen()
        except (serial.SerialException, OSError) as exc:
            raise PortClosed(f"cannot reopen the port: {exc}") from exc
        self._broken = False
        self._timeout = None
