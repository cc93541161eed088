"""The module's serial port as the runner drives it: the engine's UART on one side, a
transport on the other, flow control between them, and no byte lost on the way.

* **Output.** The engine's bytes go to the host only while the transport takes them
  (``host_pause_writing`` stops it), a chunk at a time; what the host does not read waits in
  the engine, whose socket buffers then stop the network. With ``pace`` a UART at the
  ``AT+IPR`` rate sets the speed. With no host attached the bytes go nowhere, as on a UART
  with nothing on the other end: counted, and said in the trace.
* **Input.** While the engine's input buffer is full (``input_room`` 0) the transport stops
  reading the host. With ``pace`` the host's bytes arrive at the ``AT+IPR`` rate, and with
  ``AT+IFC`` <dte_by_dce> 0 (no flow control, the default) what overflows the module's input
  buffer is dropped where a real module drops it: the engine counts it and notes it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ..engine import Engine
from .pacing import Pacer
from .trace import Trace
from .transports.base import Transport

CHUNK = 1 << 18  # bytes taken from the engine per transport write
PACED_BACKLOG = 256  # bytes queued on a paced UART before more are taken from the engine
PACED_INPUT = 4096  # host bytes queued on a paced input wire before the transport pauses


class HostPort:
    """One engine's port to one transport (through the runner's ``HostSink`` callbacks)."""

    def __init__(
        self,
        engine: Engine,
        transport: Transport,
        trace: Trace,
        *,
        pace: bool,
        wake: Callable[[], None],
    ) -> None:
        self.engine = engine
        self.transport = transport
        self.trace = trace
        self._wake = wake  # the runner's pump: engine output and intents
        self._loop: asyncio.AbstractEventLoop | None = None
        self.attached = False
        self._write_paused = False
        self._read_paused = False
        self.lost = 0  # bytes written while no host was attached
        self._lost_since = 0  # ... since the host left (for the note when one comes)
        self._out_pacer = Pacer(engine.ipr) if pace else None
        self._in_pacer = Pacer(engine.ipr) if pace else None
        self._out_timer: asyncio.TimerHandle | None = None
        self._in_timer: asyncio.TimerHandle | None = None
        engine.uart_paced = pace

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def stop(self) -> None:
        for timer in (self._out_timer, self._in_timer):
            if timer is not None:
                timer.cancel()
        self._out_timer = self._in_timer = None

    # ---- the host comes and goes ------------------------------------------------------

    def host_attached(self) -> None:
        self.attached = True
        if self._lost_since:
            self.trace.note(
                f"{self._lost_since} bytes for the host were lost while none was attached"
            )
            self._lost_since = 0

    def host_detached(self) -> None:
        self.attached = False
        self._write_paused = False
        if self._in_pacer is not None:
            self._in_pacer.clear()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False

    # ---- output ----------------------------------------------------------------------

    def output(self) -> bool:
        """Move one chunk of the engine's output towards the host; True when more may be
        waiting (a whole chunk moved, or the engine has output again), False when all there
        was has moved, or the host cannot take more now."""
        pacer = self._out_pacer
        if pacer is None and self.attached and not self._write_paused:
            # the common case, unpaced to an attached host that reads: straight through
            data = self.engine.data_to_send(CHUNK)
            if not data:
                return False
            self.trace.module_to_host(data)
            self.transport.write(data)
            # less than a chunk: every source was drained into it, unless a command held
            # back while the host was not reading has answered since
            return len(data) >= CHUNK or self.engine.output_waiting > 0
        if self.attached and self._write_paused:
            return False
        if pacer is not None:
            room = PACED_BACKLOG - len(pacer)
            if room <= 0:
                return False
            data = self.engine.data_to_send(room)
        else:
            data = self.engine.data_to_send(CHUNK)
        if not data:
            return False
        if not self.attached:
            if not self._lost_since:
                self.trace.note("no host attached: output goes nowhere until one comes")
            self.lost += len(data)
            self._lost_since += len(data)
            return True
        if pacer is None:
            self.trace.module_to_host(data)
            self.transport.write(data)
            return len(data) >= CHUNK or self.engine.output_waiting > 0
        assert self._loop is not None
        pacer.rate = self.engine.ipr
        pacer.push(data, self._loop.time())
        if self._out_timer is None:
            self._paced_write(wake=False)
        return True

    def _paced_write(self, *, wake: bool = True) -> None:
        """Write what a UART at AT+IPR would have sent by now; come back for the rest (and
        ``wake`` the runner for more when the line has room)."""
        pacer = self._out_pacer
        assert pacer is not None and self._loop is not None
        self._out_timer = None
        if self._write_paused:
            return  # resume_writing's pump comes back here
        out = pacer.take(self._loop.time())
        if out:
            self.trace.module_to_host(out)
            self.transport.write(out)
        when = pacer.next_time()
        if when is not None:
            self._out_timer = self._loop.call_at(when, self._paced_write)
        if wake and len(pacer) < PACED_BACKLOG:
            self._wake()

    def kick(self) -> None:
        """After a resume: restart a paced UART that stopped for the host."""
        if self._out_pacer is not None and self._out_timer is None and len(self._out_pacer):
            self._paced_write(wake=False)

    # ---- input -----------------------------------------------------------------------

    def received(self, data: bytes) -> None:
        """Bytes from the transport: to the engine, or onto the paced wire."""
        pacer = self._in_pacer
        if pacer is None:
            self.trace.host_to_module(data)
            self.engine.receive_data(data)
            return
        assert self._loop is not None
        pacer.rate = self.engine.ipr
        pacer.push(data, self._loop.time())
        if self._in_timer is None:
            self._paced_read(wake=False)

    def _paced_read(self, *, wake: bool = True) -> None:
        """The host's bytes that a UART at AT+IPR has carried by now reach the engine; with
        flow control (AT+IFC) they wait while the engine's input buffer is full."""
        pacer = self._in_pacer
        assert pacer is not None and self._loop is not None
        self._in_timer = None
        engine = self.engine
        if engine.ifc[1] == 2 and engine.input_room <= 0:
            return  # CTS off: the host's UART waits (update_flow comes back)
        data = pacer.take(self._loop.time())
        if data:
            self.trace.host_to_module(data)
            engine.advance(self._loop.time())
            engine.receive_data(data)
            if wake:
                self._wake()
        when = pacer.next_time()
        if when is not None and self._in_timer is None:
            self._in_timer = self._loop.call_at(when, self._paced_read)

    def update_flow(self) -> None:
        """Stop or restart reading the host as the engine's input buffer fills and drains."""
        if not self._read_paused and self._in_pacer is None and not self.engine.input_held:
            return  # the common case: reading, and nothing held
        if self._in_pacer is not None:
            backlog = len(self._in_pacer)
            full = backlog >= PACED_INPUT
            if self._in_timer is None and backlog and self.engine.input_room > 0:
                self._paced_read(wake=False)  # CTS on again; the next timer wakes the runner
        else:
            room = self.engine.input_room
            full = (
                room <= 0 if not self._read_paused else room < self.engine.config.uart_buffer // 2
            )
        if full and not self._read_paused:
            self._read_paused = True
            self.transport.pause_reading()
        elif not full and self._read_paused:
            self._read_paused = False
            self.transport.resume_reading()
