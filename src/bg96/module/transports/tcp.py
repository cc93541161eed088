"""A TCP transport: the host connects like to a serial-over-network device (``socket://``).

Like a serial port it has one host at a time: a second client is accepted and closed at once
(nothing written to it) while the first keeps working. Bytes written with no host attached
are dropped, as a UART with nothing on the other end would.
"""

from __future__ import annotations

import asyncio
import socket

from .base import HostSink

DEFAULT_MAX_BUFFER = 1 << 20
"""Bytes asyncio may queue (beyond the kernel's socket buffers) for a host that does not read."""


class TcpTransport:
    """Listen on ``host:port`` (port 0 picks a free one) and serve one host connection."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, max_buffer: int = DEFAULT_MAX_BUFFER
    ) -> None:
        self.host = host
        self.port = port
        self.description = ""
        self.max_buffer = max_buffer
        self.dropped = 0
        """Bytes dropped because the host did not read them (not counting no-host drops)."""
        self._sink: HostSink | None = None
        self._server: asyncio.Server | None = None
        self._active: asyncio.Transport | None = None
        self._closed = False

    @property
    def url(self) -> str:
        """The pyserial URL for ``serial.serial_for_url``; valid after ``start()``."""
        return f"socket://{_bracket(self.host)}:{self.port}"

    async def start(self, sink: HostSink) -> None:
        """Bind and listen; ``.port``, ``.url`` and ``.description`` are then set."""
        self._sink = sink
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _HostProtocol(self), self.host, self.port)
        # With several addresses (e.g. "localhost") each socket may get its own port;
        # report the first one.
        address = self._server.sockets[0].getsockname()
        self.host, self.port = address[0], address[1]
        self.description = f"{_bracket(self.host)}:{self.port}"

    def write(self, data: bytes) -> None:
        """Send to the connected host; dropped when none is or it stopped reading.

        Unlike the pty, a whole chunk is dropped (newest, not oldest) once ``max_buffer`` bytes
        are queued: asyncio's buffer cannot be trimmed from the front.
        """
        transport = self._active
        if transport is None:
            return
        if transport.get_write_buffer_size() + len(data) > self.max_buffer:
            self.dropped += len(data)
            return
        transport.write(data)

    async def close(self) -> None:
        """Stop listening and drop the host; no sink callbacks after this."""
        if self._closed:
            return
        self._closed = True
        active, self._active = self._active, None
        if active is not None:
            active.abort()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    # Called by _HostProtocol.

    def _attach(self, transport: asyncio.Transport) -> bool:
        if self._closed or self._active is not None:
            return False
        self._active = transport
        if self._sink is not None:
            self._sink.host_connected()
        return True

    def _data(self, transport: asyncio.Transport, data: bytes) -> None:
        if transport is self._active and self._sink is not None:
            self._sink.host_data(data)

    def _detach(self, transport: asyncio.Transport) -> None:
        if transport is self._active:
            self._active = None
            if self._sink is not None:
                self._sink.host_disconnected()


class _HostProtocol(asyncio.Protocol):
    """One accepted connection; forwards to the owning transport if it is the active one."""

    def __init__(self, owner: TcpTransport) -> None:
        self._owner = owner
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if not self._owner._attach(transport):
            transport.close()

    def data_received(self, data: bytes) -> None:
        if self._transport is not None:
            self._owner._data(self._transport, data)

    def eof_received(self) -> bool:
        return False  # a half-closed host is gone: close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._owner._detach(self._transport)


def _bracket(host: str) -> str:
    """IPv6 literals need brackets in ``host:port`` and URLs."""
    return f"[{host}]" if ":" in host else host
