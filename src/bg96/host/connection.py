"""One SSL connection of the module, in whichever data access mode it runs."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from .errors import (
    CommandError,
    ConnectionClosedByPeer,
    ModemTimeout,
    SendFailed,
    UnexpectedResponse,
)
from .parser import DataPhase, Response

if TYPE_CHECKING:
    from .client import Modem

MAX_SEND = 1460  # fixed-length QSSLSEND chunk (the variable-length maximum, safe everywhere)
MAX_RECV = 1500
GUARD = 1.0  # +++ guard time, seconds
BUFFER, PUSH, TRANSPARENT = 0, 1, 2
NO_CARRIER = b"\r\nNO CARRIER\r\n"  # ends transparent mode when the connection is lost
_RECV_HEAD = re.compile(rb"\+QSSLRECV: (\d+)\Z")
SETTLE = 0.02  # s of quiet after which a NO CARRIER at the end of the stream is the module's


def _carrier_overlap(data: bytes | bytearray) -> int:
    """How many bytes at the end of ``data`` may begin (or are) the module's NO CARRIER."""
    for k in range(min(len(NO_CARRIER), len(data)), 0, -1):
        if data.endswith(NO_CARRIER[:k]):
            return k
    return 0


class SslConnection:
    """``send``/``recv``/``close`` on a client ID; buffer, push or transparent mode."""

    def __init__(self, modem: Modem, client_id: int, access_mode: int) -> None:
        self.modem = modem
        self.client_id = client_id
        self.access_mode = access_mode
        self.closed_by_peer = False
        self.closed = False
        self._buffer = bytearray()  # received and not yet handed to the caller
        self._module_has_data = True  # buffer mode: a QSSLRECV may find something
        self._tail = bytearray()  # transparent: bytes that may be the start of NO CARRIER
        self._tail_since = 0.0

    # ---- called by the modem -----------------------------------------------------------

    def _data_arrived(self, data: bytes) -> None:
        if data:
            self._buffer += data  # push mode: the data came with the URC
        else:
            self._module_has_data = True

    def _peer_closed(self) -> None:
        self.closed_by_peer = True

    def _urcs_may_be_lost(self) -> None:
        """After ``sync()``: a ``+QSSLURC: "recv"`` may have gone by unread, and the module
        repeats it only once its buffer is read empty, so read at the next ``recv``."""
        self._module_has_data = True

    def _module_reset(self) -> None:
        """The module restarted: the connection is gone without a word."""
        self.closed_by_peer = True
        self.closed = True
        self._module_has_data = False
        if self.access_mode == TRANSPARENT:
            self.modem.parser.leave_transparent()
            self.access_mode = BUFFER

    def _pull_transparent(self) -> None:
        """Move transparent-mode bytes to the buffer. A tail that may be the module's
        ``NO CARRIER`` is held back until more data or a quiet ``SETTLE`` s decide it: data
        that happens to end the same way costs ``SETTLE`` s of latency, nothing else."""
        got = b"".join(self.modem.data_events())
        now = time.monotonic()
        if got:
            self._tail += got
            self._tail_since = now
        if not self._tail:
            return
        keep = _carrier_overlap(self._tail)
        if keep and now - self._tail_since >= SETTLE:
            if keep == len(NO_CARRIER) and self.modem.parser.transparent:
                del self._tail[-keep:]
                self._buffer += self._tail
                self._tail.clear()
                self._carrier_lost()
                return
            keep = 0
        if keep < len(self._tail):
            cut = len(self._tail) - keep
            self._buffer += self._tail[:cut]
            del self._tail[:cut]

    def _carrier_lost(self) -> None:
        """NO CARRIER: the server closed a transparent connection; the port is in command
        mode again and the socket waits for AT+QSSLCLOSE."""
        self.closed_by_peer = True
        self._module_has_data = False
        self.modem.parser.leave_transparent()
        self.access_mode = BUFFER

    def _check_carrier(self) -> None:
        """Before a command in transparent mode: did the connection end (NO CARRIER)?"""
        if self.access_mode != TRANSPARENT:
            return
        self.modem.read_some(0.0)
        self._pull_transparent()
        if self._tail and self.modem.parser.transparent:
            time.sleep(SETTLE)
            self.modem.read_some(0.0)
            self._pull_transparent()

    # ---- sending ---------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        """Send everything (fixed-length QSSLSEND in chunks; raw bytes in transparent mode)."""
        if self.closed:
            raise ConnectionClosedByPeer(f"connection {self.client_id} is closed")
        if self.access_mode == TRANSPARENT:
            if self.closed_by_peer:  # NO CARRIER: the port is in command mode
                raise ConnectionClosedByPeer(f"connection {self.client_id}: NO CARRIER")
            self.modem.write(data)
            return
        modem = self.modem
        for start in range(0, len(data), MAX_SEND):
            chunk = data[start : start + MAX_SEND]
            line = f"AT+QSSLSEND={self.client_id},{len(chunk)}"
            answer = modem.command(line, check=False, payload=chunk)
            if answer.final != b">":
                self._send_failed(line, answer)
            modem.write(chunk)
            wait = max(modem.min_timeout, 5.0)
            deadline = time.monotonic() + wait
            event = modem._next_event(line, deadline, wait)
            while not isinstance(event, Response):
                event = modem._next_event(line, deadline, wait)
            if event.final != b"SEND OK":
                self._send_failed(line, event)

    def _send_failed(self, line: str, answer: Response) -> None:
        if answer.final == b"SEND FAIL":
            raise SendFailed(line, answer.raw(), None, "the module's send buffer is full")
        code, text = self.modem.last_error()
        if self.closed_by_peer:
            raise ConnectionClosedByPeer(f"{line}: the server closed the connection")
        raise CommandError(line, answer.raw(), code, text)

    # ---- receiving -------------------------------------------------------------------

    def recv(self, size: int = MAX_RECV, timeout: float | None = None) -> bytes:
        """Up to ``size`` bytes; ``b""`` once the server closed and all was read.

        Waits up to ``timeout`` seconds (None: forever) for data to arrive.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._buffer:
                out = bytes(self._buffer[:size])
                del self._buffer[:size]
                return out
            if self.access_mode == BUFFER and self._module_has_data and not self.closed:
                self._fetch()
                if self._buffer or self._module_has_data:
                    continue  # data, or a recv URC came in during the read: read again
            if self.access_mode == TRANSPARENT or self._tail:
                self._pull_transparent()
                if self._buffer:
                    continue
            if (self.closed_by_peer or self.closed) and not self._tail:
                return b""
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise ModemTimeout(f"recv on connection {self.client_id}", timeout or 0.0)
            step = SETTLE if self._tail else 0.05
            self.modem.read_some(step if left is None else min(left, step))

    def _fetch(self) -> None:
        """QSSLRECV until the module's buffer is empty (that re-arms its recv URC).

        The flag is cleared before each read, not after: a ``+QSSLURC: "recv"`` that arrives
        inside the reply (real modules do that) sets it again, and the next ``recv`` reads.
        """
        line = f"AT+QSSLRECV={self.client_id},{MAX_RECV}"
        while True:
            self._module_has_data = False
            try:
                response = self.modem.command(line)
            except BaseException:
                self._module_has_data = True  # unknown: try again at the next recv
                raise
            heads = [i for i, item in enumerate(response.lines) if _RECV_HEAD.match(item)]
            if not heads:
                raise UnexpectedResponse(line, response.raw(), None, "no +QSSLRECV: <n> line")
            at = heads[0]
            announced = int(response.lines[at][len(b"+QSSLRECV: ") :])
            data = response.lines[at + 1] if announced else b""
            self._buffer += data
            if len(data) < MAX_RECV:
                return

    # ---- state and closing -------------------------------------------------------------

    def state(self) -> dict[str, str | int] | None:
        """This connection's AT+QSSLSTATE fields, or None when the module has no such socket."""
        found = self.modem.ssl_state(self.client_id)
        return found[0] if found else None

    def leave_transparent(self, *, use_dtr: bool = False) -> None:
        """Back to command mode: ``+++`` with its guard times, or a DTR drop (AT&D1)."""
        modem = self.modem
        if use_dtr:
            modem.port.dtr = False
        else:
            time.sleep(GUARD + 0.1)
            modem.write(b"+++")
        wait = GUARD * 2 + modem.min_timeout
        deadline = time.monotonic() + wait
        tail = bytes(self._tail)
        self._tail.clear()
        ok = b"\r\nOK\r\n"
        while not tail.endswith(ok):
            if tail.endswith(NO_CARRIER):  # the connection ended first
                self._buffer += tail[: -len(NO_CARRIER)]
                self._carrier_lost()
                if use_dtr:
                    modem.port.dtr = True
                return
            if time.monotonic() > deadline:
                raise ModemTimeout("+++", wait, tail[-64:])
            modem.read_some(0.05)
            for data in modem.data_events():
                tail += data
        if use_dtr:
            modem.port.dtr = True
        self._buffer += tail[: -len(ok)]
        modem.parser.leave_transparent()
        self.access_mode = BUFFER

    def resume_transparent(self) -> None:
        """ATO: back into transparent mode."""
        if self.closed or self.closed_by_peer:
            raise ConnectionClosedByPeer(f"connection {self.client_id} is closed")
        answer = self.modem.command("ATO", phase=DataPhase.TRANSPARENT, check=False)
        if answer.final != b"CONNECT":
            raise ConnectionClosedByPeer(f"ATO: {answer.raw()!r}")
        self.access_mode = TRANSPARENT

    def close(self, timeout: int = 10) -> None:
        """AT+QSSLCLOSE (a no-op when already closed)."""
        if self.closed:
            return
        if self.access_mode == TRANSPARENT:
            self._check_carrier()
            if self.access_mode == TRANSPARENT:
                self.leave_transparent()  # else the command would be sent as data
        self.closed = True
        self.modem.connections.pop(self.client_id, None)
        self.modem.command(
            f"AT+QSSLCLOSE={self.client_id},{timeout}",
            timeout=max(self.modem.min_timeout, timeout + 1.0),
        )
