"""Transparent access mode: the port belongs to one connection.

Host bytes are packed into packets (``AT+QICFG="transpktsize"``, and ``"transwaittm"`` for
a short packet after the host goes quiet); server bytes go straight to the host. ``+++``
leaves the mode only with the guard times of the manual's chapter 1.3: at least 1 s without
input before, the three ``+`` within 1 s (the third less than 1 s after the first), and 1 s
without input after. Any other ``+`` is data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .events import Send
from .timers import Timer

if TYPE_CHECKING:
    from .core import Engine
    from .state import Socket

GUARD = 1.0  # seconds of silence before and after +++, and the window for the three +
PLUS = 0x2B
ESCAPE_LEN = 3


class TransparentLink:
    """The port in transparent mode for ``sock``: packs host data, watches for ``+++``."""

    def __init__(self, engine: Engine, sock: Socket) -> None:
        self.engine = engine
        self.sock = sock
        self.pending = bytearray()  # host data not yet sent (less than a packet)
        self.held = 0  # '+' bytes held back: they may be an escape sequence
        self.first_plus = 0.0
        self.last_rx = engine.now  # silence is counted from entering the mode
        self._pack_timer: Timer | None = None
        self._plus_timer: Timer | None = None

    # ---- host side ------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Host bytes, all arriving now."""
        now = self.engine.now
        if self.held:
            more = len(data) - len(data.lstrip(b"+"))
            if (
                more == len(data)
                and self.held + more <= ESCAPE_LEN
                and now - self.first_plus < GUARD
            ):
                self._hold(more, now)
                return
            data = b"+" * self.held + data
            self._release_hold()
        elif (
            data[:1] == b"+"
            and now - self.last_rx >= GUARD
            and len(data) <= ESCAPE_LEN
            and data.count(b"+") == len(data)
        ):
            self.first_plus = now
            self._hold(len(data), now)
            return
        self.last_rx = now
        self._data(data)

    def _hold(self, count: int, now: float) -> None:
        self.held += count
        self.last_rx = now
        if self._plus_timer is not None:
            self._plus_timer.cancel()
        if self.held == ESCAPE_LEN:
            self._plus_timer = self.engine.call_later(GUARD, self._escape)
        else:
            # the rest of the sequence must come within the window, else the + are data
            self._plus_timer = self.engine.call_later(
                self.first_plus + GUARD - now, self._window_passed
            )

    def _release_hold(self) -> None:
        self.held = 0
        if self._plus_timer is not None:
            self._plus_timer.cancel()
            self._plus_timer = None

    def _window_passed(self) -> None:
        data = b"+" * self.held
        self._release_hold()
        self._data(data)

    def _escape(self) -> None:
        self._release_hold()
        self.engine.note(f"+++ with guard times: connection {self.sock.client_id} kept open")
        self.engine.leave_transparent("OK")

    def _data(self, data: bytes) -> None:
        size = self.engine.qicfg.transpktsize
        if self.pending:
            self.pending += data
            data = bytes(self.pending)
            self.pending.clear()
        whole = len(data) - len(data) % size
        if whole:
            # every full packet goes now; they leave together in one write (one Send)
            self._send(data[:whole] if whole < len(data) else data)
            self.pending += data[whole:]
        else:
            self.pending += data
        if self._pack_timer is not None:
            self._pack_timer.cancel()
            self._pack_timer = None
        if self.pending:
            wait = self.engine.qicfg.transwaittm * 0.1
            if wait <= 0:
                self.flush()
            else:
                self._pack_timer = self.engine.call_later(wait, self.flush)

    def _send(self, data: bytes) -> None:
        self.sock.unsent += len(data)
        self.sock.total_sent += len(data)
        self.engine.emit(Send(self.sock.client_id, self.sock.conn_seq, data))

    def flush(self) -> None:
        """Send the short packet waiting for more data."""
        if self._pack_timer is not None:
            self._pack_timer.cancel()
            self._pack_timer = None
        if self.pending:
            self._send(bytes(self.pending))
            self.pending.clear()

    def stop(self) -> int:
        """Leave the mode: cancel the timers; returns how many host bytes are dropped."""
        if self._pack_timer is not None:
            self._pack_timer.cancel()
        dropped = len(self.pending) + self.held
        self._release_hold()
        self.pending.clear()
        return dropped
