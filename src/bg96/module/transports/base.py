"""The transport interface: how host bytes get in and out of the virtual module.

A transport only moves bytes (and, for RFC 2217 later, line states) between a host program
and the runner. It knows nothing about AT commands.
"""

from __future__ import annotations

from typing import Protocol


class HostSink(Protocol):
    """What a transport reports to; implemented by the runner.

    Callbacks run on the event loop thread and must not block.
    """

    def host_connected(self) -> None:
        """A host attached (a TCP client connected; once at start for a pty)."""
        ...

    def host_data(self, data: bytes) -> None:
        """Bytes the host sent, in order, chunked arbitrarily."""
        ...

    def host_disconnected(self) -> None:
        """The host went away; bytes written until the next host are dropped."""
        ...

    def host_lines(self, *, dtr: bool, rts: bool) -> None:
        """The host's DTR and RTS lines (only transports that carry them call this)."""
        ...

    def host_baudrate(self, rate: int) -> None:
        """The host set its UART to ``rate`` baud (RFC 2217)."""
        ...


class Transport(Protocol):
    """A byte pipe to one host at a time, looking like a serial port to that host.

    After ``close()`` returns no more sink callbacks are made; the runner closed it, so it
    gets no ``host_disconnected`` for that.
    """

    description: str
    """Where the host should connect, e.g. ``/dev/pts/7`` or ``127.0.0.1:5555``.

    Valid after ``start()``.
    """

    async def start(self, sink: HostSink) -> None:
        """Bind/open the endpoint and start reporting to ``sink``."""
        ...

    def write(self, data: bytes) -> None:
        """Send bytes to the host; never blocks (buffers, or drops with no host)."""
        ...

    async def close(self) -> None:
        """Release the endpoint; pending output may be dropped."""
        ...
