"""Transparent access mode: the port belongs to one connection.

Host bytes are packed into packets (``AT+QICFG="transpktsize"``, and ``"transwaittm"`` for
a short packet after the host goes quiet); server bytes go straight to the host. ``+++``
leaves the mode only with its guard times (``escape.GuardedEscape``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .escape import GuardedEscape
from .events import Send
from .state import SocketState
from .timers import Timer

if TYPE_CHECKING:
    from .core import Engine
    from .state import Socket


class TransparentLink:
    """The port in transparent mode for ``sock``: packs host data, watches for ``+++``."""

    def __init__(self, engine: Engine, sock: Socket) -> None:
        self.engine = engine
        self.sock = sock
        self.datagrams = sock.service.datagram  # each packet is a datagram: keep them apart
        self.pending = bytearray()  # host data not yet sent (a short packet, or no room)
        self.escape = GuardedEscape(engine, self._data, self._escaped)
        self.feed = self.escape.feed  # host bytes, all arriving now
        self._pack_timer: Timer | None = None
        self._short_due = False  # the idle time passed: a short packet may go

    def _escaped(self) -> None:
        self.engine.note(f"+++ with guard times: connection {self.sock.client_id} kept open")
        self.engine.leave_transparent("OK")

    @property
    def waiting(self) -> int:
        """Host bytes taken but not sent yet (they fill the module's UART input buffer)."""
        return len(self.pending) + self.escape.held

    def _room(self) -> int:
        """What the connection's send buffer can take now."""
        return max(0, self.engine.config.send_buffer - self.sock.unsent)

    def _data(self, data: bytes) -> None:
        self._short_due = False  # host activity: the idle wait for a short packet restarts
        if self._pack_timer is not None:
            self._pack_timer.cancel()
            self._pack_timer = None
        if not self.pending and self.sock.state is SocketState.CONNECTED:
            # the data path: the whole packets that fit go without a copy through ``pending``
            take = min(len(data), self._room())
            if take < len(data) or self.engine.qicfg.transwaittm > 0 or self.datagrams:
                take -= take % self.engine.qicfg.transpktsize
            # else (a stream, transwaittm 0, all of it fits) the short packet at the end would
            # go at once too, in the same socket write: all of it goes now, without a copy
            if take:
                self._send(data if take == len(data) else data[:take])
                if take == len(data):
                    return
                with memoryview(data) as view:
                    self.pending += view[take:]
                self.pump()
                return
        self.pending += data
        self.pump()

    def pump(self) -> None:
        """Send what the send buffer has room for: every full packet, and a short one once
        ``transwaittm`` of host silence has passed. What does not fit waits here (the UART
        input buffer) and the engine's ``input_room`` tells the host to stop; the connection's
        ``Sent`` brings the module back here."""
        if self.sock.state is not SocketState.CONNECTED:
            return  # the connection is gone: NO CARRIER comes, these bytes are dropped then
        room = self._room()
        size = self.engine.qicfg.transpktsize
        take = min(len(self.pending), room)
        if not self._short_due:
            take -= take % size
        if take:
            # every packet that fits goes now; they leave together in one write (one Send)
            if take == len(self.pending):
                self._send(bytes(self.pending))
                self.pending.clear()
            else:
                with memoryview(self.pending) as view:
                    self._send(bytes(view[:take]))
                del self.pending[:take]
        if not self.pending:
            self._short_due = False
        elif len(self.pending) < size and not self._short_due and self._pack_timer is None:
            wait = self.engine.qicfg.transwaittm * 0.1
            if wait <= 0:
                self.flush()
            else:
                self._pack_timer = self.engine.call_later(wait, self.flush)

    def _send(self, data: bytes) -> None:
        self.sock.unsent += len(data)
        self.sock.total_sent += len(data)
        self.engine.emit(Send(self.sock.client_id, self.sock.conn_seq, data))

    def flush(self, *, force: bool = False) -> None:
        """The host has been quiet for ``transwaittm``: the short packet goes (as soon as the
        send buffer has room; ``force``: all of it now, the port leaves transparent mode)."""
        if self._pack_timer is not None:
            self._pack_timer.cancel()
            self._pack_timer = None
        if force:
            if self.pending:
                self._send(bytes(self.pending))
                self.pending.clear()
            return
        self._short_due = True
        self.pump()

    def stop(self) -> int:
        """Leave the mode: cancel the timers; returns how many host bytes are dropped."""
        if self._pack_timer is not None:
            self._pack_timer.cancel()
        dropped = len(self.pending) + self.escape.stop()
        self.pending.clear()
        return dropped
