"""The transport interface: how host bytes get in and out of the virtual module.

A transport only moves bytes (and, for RFC 2217, line states) between a host program and the
runner. It knows nothing about AT commands, and it never discards a byte: when the host does
not read, it says so (``host_pause_writing``) and the runner stops writing; when the module
cannot take more, the runner calls ``pause_reading`` and the transport stops reading the host.
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
        """The host went away."""
        ...

    def host_lines(self, *, dtr: bool, rts: bool) -> None:
        """The host's DTR and RTS lines (only transports that carry them call this)."""
        ...

    def host_baudrate(self, rate: int) -> None:
        """The host set its UART to ``rate`` baud (RFC 2217)."""
        ...

    def host_pause_writing(self) -> None:
        """The host is not reading: what was written is queued, write no more for now."""
        ...

    def host_resume_writing(self) -> None:
        """The host has read what was queued: writing may go on."""
        ...

    def host_note(self, text: str) -> None:
        """Something the trace (and the console) should say: a second host refused, bad
        Telnet on the RFC 2217 port."""
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
        """Send bytes to the host; never blocks and never drops: what the host has not read
        yet is queued (``host_pause_writing`` says when to stop)."""
        ...

    def pause_reading(self) -> None:
        """Stop taking bytes from the host (the module's input buffer is full)."""
        ...

    def resume_reading(self) -> None:
        """Take bytes from the host again."""
        ...

    async def close(self) -> None:
        """Release the endpoint; pending output may be dropped."""
        ...
