"""A TCP transport: the host connects like to a serial-over-network device (``socket://``).

Like a serial port it has one host at a time: a second client is told why in the trace and
on the console, and closed at once (nothing written to it), while the first keeps working.
Flow control both ways: a host that does not read pauses the runner's writing
(``host_pause_writing``), and ``pause_reading`` stops reading the host's bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import cast

from .base import HostSink

WRITE_HIGH = 1 << 16
"""Bytes asyncio may queue for the host (beyond the kernel's socket buffers) before the
runner is asked to stop writing."""
WRITE_LOW = 1 << 14
UNSENT_LIMIT = 1 << 17
"""Bytes the kernel keeps unsent on the host's connection before a write would block."""
TCP_NOTSENT_LOWAT = getattr(socket, "TCP_NOTSENT_LOWAT", 25)  # Linux's number


class TcpTransport:
    """Listen on ``host:port`` (port 0 picks a free one) and serve one host connection."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.description = ""
        self._sink: HostSink | None = None
        self._server: asyncio.Server | None = None
        self._active: asyncio.Transport | None = None
        self._closed = False
        self._reading = True  # the runner's wish; a new host starts in this state
        self._write_paused = False

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
        """Send to the connected host (queued while it does not read; nothing is dropped).

        With no host attached there is nobody to write to: the runner does not write then.
        """
        transport = self._active
        if transport is not None and data:
            transport.write(data)

    def pause_reading(self) -> None:
        if self._reading:
            self._reading = False
            if self._active is not None and not self._active.is_closing():
                self._active.pause_reading()

    def resume_reading(self) -> None:
        if not self._reading:
            self._reading = True
            if self._active is not None and not self._active.is_closing():
                self._active.resume_reading()

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
        if self._closed:
            return False
        if self._active is not None:
            self._refuse(transport)
            return False
        self._active = transport
        transport.set_write_buffer_limits(high=WRITE_HIGH, low=WRITE_LOW)
        if not self._reading:
            transport.pause_reading()
        if self._sink is not None:
            self._sink.host_connected()
        return True

    def _refuse(self, transport: asyncio.Transport) -> None:
        peer = transport.get_extra_info("peername")
        where = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "a second host"
        if self._sink is not None:
            self._sink.host_note(
                f"connection from {where} refused: another host has the port "
                "(one host at a time, like a serial port)"
            )

    def _data(self, transport: asyncio.Transport, data: bytes) -> None:
        if transport is self._active and self._sink is not None:
            self._sink.host_data(data)

    def _pause_writing(self, transport: asyncio.Transport) -> None:
        if transport is self._active and self._sink is not None and not self._write_paused:
            self._write_paused = True
            self._sink.host_pause_writing()

    def _resume_writing(self, transport: asyncio.Transport) -> None:
        if transport is self._active and self._sink is not None and self._write_paused:
            self._write_paused = False
            self._sink.host_resume_writing()

    def _detach(self, transport: asyncio.Transport) -> None:
        if transport is self._active:
            self._active = None
            if self._sink is not None:
                if self._write_paused:
                    self._write_paused = False
                    self._sink.host_resume_writing()
                self._sink.host_disconnected()


class _HostProtocol(asyncio.Protocol):
    """One accepted connection; forwards to the owning transport if it is the active one."""

    def __init__(self, owner: TcpTransport) -> None:
        self._owner = owner
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream transport (asyncio's, or uvloop's, which is no asyncio.Transport subclass)
        self._transport = cast(asyncio.Transport, transport)
        transport = self._transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # what the host machine holds for a host that does not read is a serial line's
            # worth, not the megabytes TCP autotuning allows: the kernel takes no more unsent
            # bytes than UNSENT_LIMIT (a fixed SO_SNDBUF would bound it too, but it cost ~4 us
            # of kernel time per write on loopback: bench/server_cpu.py)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, TCP_NOTSENT_LOWAT, UNSENT_LIMIT)
        if not self._owner._attach(transport):
            transport.close()

    def data_received(self, data: bytes) -> None:
        if self._transport is not None:
            self._owner._data(self._transport, data)

    def eof_received(self) -> bool:
        return False  # a half-closed host is gone: close our side too

    def pause_writing(self) -> None:
        if self._transport is not None:
            self._owner._pause_writing(self._transport)

    def resume_writing(self) -> None:
        if self._transport is not None:
            self._owner._resume_writing(self._transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._owner._detach(self._transport)


def _bracket(host: str) -> str:
    """IPv6 literals need brackets in ``host:port`` and URLs."""
    return f"[{host}]" if ":" in host else host
