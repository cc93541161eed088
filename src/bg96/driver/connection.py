"""One SSL connection of the module, in whichever data access mode it runs."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from .errors import CommandError, ConnectionClosedByPeer, ModemTimeout, SendFailed
from .parser import DataPhase, Response

if TYPE_CHECKING:
    from .client import Modem

MAX_SEND = 1460  # fixed-length QSSLSEND chunk (the variable-length maximum, safe everywhere)
MAX_RECV = 1500
GUARD = 1.0  # +++ guard time, seconds
BUFFER, PUSH, TRANSPARENT = 0, 1, 2


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

    # ---- called by the modem -----------------------------------------------------------

    def _data_arrived(self, data: bytes) -> None:
        if data:
            self._buffer += data  # push mode: the data came with the URC
        else:
            self._module_has_data = True

    def _peer_closed(self) -> None:
        self.closed_by_peer = True

    # ---- sending ---------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        """Send everything (fixed-length QSSLSEND in chunks; raw bytes in transparent mode)."""
        if self.closed:
            raise ConnectionClosedByPeer(f"connection {self.client_id} is closed")
        if self.access_mode == TRANSPARENT:
            self.modem.write(data)
            return
        modem = self.modem
        for start in range(0, len(data), MAX_SEND):
            chunk = data[start : start + MAX_SEND]
            line = f"AT+QSSLSEND={self.client_id},{len(chunk)}"
            answer = modem.command(line, check=False)
            if answer.final != b">":
                self._send_failed(line, answer)
            modem.write(chunk)
            deadline = time.monotonic() + max(modem.min_timeout, 5.0)
            event = modem._next_event(line, deadline)
            while not isinstance(event, Response):
                event = modem._next_event(line, deadline)
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
                if self._buffer:
                    continue
            if self.access_mode == TRANSPARENT:
                for data in self.modem.data_events():
                    self._buffer += data
                if self._buffer:
                    continue
            if self.closed_by_peer or self.closed:
                return b""
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise ModemTimeout(f"recv on connection {self.client_id}", timeout or 0.0)
            self.modem.read_some(0.05 if left is None else min(left, 0.05))

    def _fetch(self) -> None:
        """QSSLRECV until the module's buffer is empty (that re-arms its recv URC)."""
        while True:
            response = self.modem.command(f"AT+QSSLRECV={self.client_id},{MAX_RECV}")
            data = response.lines[1] if len(response.lines) > 1 else b""
            self._buffer += data
            if len(data) < MAX_RECV:
                self._module_has_data = False
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
        deadline = time.monotonic() + GUARD * 2 + modem.min_timeout
        tail = b""
        while not tail.endswith(b"\r\nOK\r\n"):
            if time.monotonic() > deadline:
                raise ModemTimeout("+++", GUARD * 2 + modem.min_timeout, tail)
            modem.read_some(0.05)
            for data in modem.data_events():
                tail += data
        if use_dtr:
            modem.port.dtr = True
        self._buffer += tail[: -len(b"\r\nOK\r\n")]
        modem.parser.leave_transparent()
        self.access_mode = BUFFER

    def resume_transparent(self) -> None:
        """ATO: back into transparent mode."""
        answer = self.modem.command("ATO", phase=DataPhase.TRANSPARENT, check=False)
        if answer.final != b"CONNECT":
            raise ConnectionClosedByPeer(f"ATO: {answer.raw()!r}")
        self.access_mode = TRANSPARENT

    def close(self, timeout: int = 10) -> None:
        """AT+QSSLCLOSE (a no-op when already closed)."""
        if self.closed:
            return
        self.closed = True
        self.modem.connections.pop(self.client_id, None)
        self.modem.command(
            f"AT+QSSLCLOSE={self.client_id},{timeout}",
            timeout=max(self.modem.min_timeout, timeout + 1.0),
        )
