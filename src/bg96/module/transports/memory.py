"""An in-memory transport: a host driver on the same event loop, no socket, no port.

``MemoryTransport`` is a ``Transport`` for the runner and, through its ``host_*`` methods,
the module's end of the port for a host in this process (``AsyncModem.attach``). Each
direction has a bounded buffer, with the flow control the TCP transport has: bytes for the
host beyond ``HIGH`` pause the runner's writing until the host has taken them (a host that
stopped reading, ``host_pause_reading``, holds the runner there); bytes from the host wait
while the runner has paused reading, and ``host_drain`` waits while more than ``HIGH`` wait.
Bytes for the host go out once per loop iteration (a response's pieces arrive as one chunk),
bytes from the host reach the runner at once, or when it resumes reading (on the next
iteration, never inside the runner's own call).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from .base import HostSink

HIGH = 1 << 16
"""Bytes one direction holds before its writer is held back."""
LOW = 1 << 14
"""...and the level at which it may go on."""
CHUNK = 1 << 16
"""Host bytes handed to the runner per ``host_data``."""


class MemoryTransport:
    """The module's end of an in-memory port: one host at a time, like a serial port."""

    def __init__(self) -> None:
        self.description = "memory"
        self._sink: HostSink | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._to_host = bytearray()
        self._to_module = bytearray()
        self._on_data: Callable[[bytes], None] | None = None
        self._on_close: Callable[[], None] | None = None
        self._module_reading = True  # the runner's wish
        self._host_reading = True
        self._write_paused = False  # the runner was told host_pause_writing
        self._flush_at: asyncio.Handle | None = None
        self._feeding = False
        self._drainers: list[asyncio.Future[None]] = []
        self._closed = False

    # ---- Transport (the runner's side) ------------------------------------------------

    async def start(self, sink: HostSink) -> None:
        self._sink = sink
        self._loop = asyncio.get_running_loop()

    def write(self, data: bytes) -> None:
        """Queue bytes for the host; nobody attached: the runner does not write then."""
        if self._on_data is None or not data:
            return
        self._to_host += data
        self._schedule_flush()
        if len(self._to_host) > HIGH and not self._write_paused and self._sink is not None:
            self._write_paused = True
            self._sink.host_pause_writing()

    def pause_reading(self) -> None:
        self._module_reading = False

    def resume_reading(self) -> None:
        if not self._module_reading:
            self._module_reading = True
            if self._to_module and self._loop is not None:
                self._loop.call_soon(self._feed)

    async def close(self) -> None:
        """Drop both buffers and the host (its ``on_close`` is called); no sink calls after."""
        if self._closed:
            return
        self._closed = True
        self._sink = None
        on_close, self._on_data, self._on_close = self._on_close, None, None
        self._to_host.clear()
        self._to_module.clear()
        if self._flush_at is not None:
            self._flush_at.cancel()
            self._flush_at = None
        self._wake_drainers()
        if on_close is not None:
            on_close()

    # ---- the host's side (bg96.host.aclient.ModuleEnd) ----------------------------------

    def host_attach(self, on_data: Callable[[bytes], None], on_close: Callable[[], None]) -> None:
        """A host attaches: ``on_data`` gets the module's bytes, ``on_close`` its end."""
        if self._closed or self._sink is None:
            raise ConnectionRefusedError("the module is not running")
        if self._on_data is not None:
            raise ConnectionRefusedError("another host has the port (one host at a time)")
        self._on_data, self._on_close = on_data, on_close
        self._host_reading = True
        self._sink.host_connected()

    def host_detach(self) -> None:
        """The host goes away: what it had not read, and what it sent that the module had
        not taken, are dropped (as a closed TCP connection drops them)."""
        if self._on_data is None:
            return
        self._on_data = self._on_close = None
        self._to_host.clear()
        self._to_module.clear()
        self._wake_drainers()
        sink = self._sink
        if sink is not None:
            if self._write_paused:
                self._write_paused = False
                sink.host_resume_writing()
            sink.host_disconnected()

    def host_write(self, data: bytes) -> None:
        """Bytes from the host, in order; they wait while the runner does not read."""
        if self._on_data is None:
            raise ConnectionResetError("the port is closed")
        self._to_module += data
        self._feed()

    async def host_drain(self) -> None:
        """Until the bytes from the host waiting for the module are below ``HIGH``."""
        while len(self._to_module) > HIGH and self._on_data is not None:
            assert self._loop is not None
            woken = self._loop.create_future()
            self._drainers.append(woken)
            await woken
        if self._on_data is None:
            raise ConnectionResetError("the port closed")

    def host_pause_reading(self) -> None:
        """The host takes no more for now: the module's bytes wait (up to ``HIGH``)."""
        self._host_reading = False

    def host_resume_reading(self) -> None:
        self._host_reading = True
        if self._to_host:
            self._schedule_flush()

    def host_set_dtr(self, on: bool) -> None:
        """The host's DTR line (RTS stays on)."""
        if self._sink is not None and self._on_data is not None:
            self._sink.host_lines(dtr=on, rts=True)

    @property
    def attached(self) -> bool:
        return self._on_data is not None

    # ---- moving the bytes ---------------------------------------------------------------

    def _schedule_flush(self) -> None:
        if self._flush_at is None and self._host_reading and self._loop is not None:
            self._flush_at = self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_at = None
        on_data = self._on_data
        if on_data is None or not self._host_reading or not self._to_host:
            return
        data = bytes(self._to_host)
        self._to_host.clear()
        on_data(data)
        if self._write_paused and self._sink is not None:
            self._write_paused = False
            self._sink.host_resume_writing()

    def _feed(self) -> None:
        """Hand the host's bytes to the runner while it reads (not re-entered)."""
        if self._feeding:
            return
        self._feeding = True
        try:
            pending = self._to_module
            while pending and self._module_reading and self._sink is not None:
                chunk = bytes(pending[:CHUNK])
                del pending[:CHUNK]
                self._sink.host_data(chunk)
        finally:
            self._feeding = False
        if len(self._to_module) <= LOW:
            self._wake_drainers()

    def _wake_drainers(self) -> None:
        drainers, self._drainers = self._drainers, []
        for woken in drainers:
            if not woken.done():
                woken.set_result(None)
