"""RFC 2217 (Telnet COM port control): the TCP transport plus modem lines and baud rate.

pyserial's ``PortManager`` speaks the protocol; this module hands it a stand-in serial port
whose DTR/RTS/baud setters go to the runner and whose DCD/DSR/CTS/RI getters are the
module's output lines. ``serial.serial_for_url("rfc2217://HOST:PORT")`` then drives DTR.

Three things a plain PortManager does not do:

* **Hostile Telnet.** A malformed sequence (``IAC SE`` alone, an unknown parity code, a
  subnegotiation that never ends) raises inside PortManager; here it is noted, the
  sequence dropped, and the connection goes on.
* **Flow control that still carries the lines.** While the module takes no input, Telnet
  commands are still read (a DTR drop gets through) and up to ``HOLD`` data bytes held;
  only beyond that is the socket paused.
* **The boot URCs after the host's open.** pyserial's client purges its input at the end of
  ``open()``, so a module that powered on at the TCP accept would print ``RDY`` into that
  purge. The host counts as connected (and the module powers on) once the client purged
  its output buffer (the last step of pyserial's open), sent a byte, or ``SETTLE`` s passed.
"""

from __future__ import annotations

import asyncio
from typing import cast

import serial
from serial import rfc2217
from serial.rfc2217 import IAC, M_NORMAL, PortManager

from .tcp import TcpTransport, _bracket

HOLD = 1 << 16  # data bytes held while the module takes no input, before the socket pauses
MAX_SUBOPTION = 64  # bytes: RFC 2217 subnegotiations are a few bytes; longer is garbage
SETTLE = 1.0  # s after the accept when a client that neither purges nor writes is connected


class _PortLines(serial.SerialBase):
    """The serial port PortManager thinks it controls: settings only, no device.

    ``serial.SerialBase`` validates and stores the settings (baud rate, data bits...);
    the line setters call back into the transport, the status getters read its state.
    """

    def __init__(self, owner: Rfc2217Transport) -> None:
        self._owner = owner
        super().__init__(baudrate=115200)
        self.is_open = True  # so that setters reach the _update hooks below

    def _reconfigure_port(self) -> None:
        """A setting changed (baud rate, data bits, parity...)."""
        self._owner._baud_changed(self.baudrate)

    def _update_dtr_state(self) -> None:
        self._owner._lines_changed()

    def _update_rts_state(self) -> None:
        self._owner._lines_changed()

    def _update_break_state(self) -> None:
        pass

    @property
    def cts(self) -> bool:
        return self._owner.lines["cts"]

    @property
    def dsr(self) -> bool:
        return self._owner.lines["dsr"]

    @property
    def ri(self) -> bool:
        return self._owner.lines["ri"]

    @property
    def cd(self) -> bool:
        return self._owner.lines["cd"]

    def read(self, size: int = 1) -> bytes:
        return b""  # data never flows through here: the transport moves it

    def write(self, data: bytes) -> int:  # type: ignore[override]
        return 0

    def reset_input_buffer(self) -> None:
        pass

    def reset_output_buffer(self) -> None:
        self._owner._client_purged()


class _Wire:
    """What PortManager writes Telnet negotiation to: the active host connection."""

    def __init__(self, owner: Rfc2217Transport) -> None:
        self._owner = owner

    def write(self, data: bytes) -> None:
        active = self._owner._active
        if active is not None and not active.is_closing():
            active.write(data)


class Rfc2217Transport(TcpTransport):
    """Serve one host over RFC 2217: bytes, DTR/RTS in, DCD/DSR/CTS/RI out, baud rate."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.lines = {"cd": False, "dsr": True, "cts": True, "ri": False}
        self._manager: PortManager | None = None
        self._reported: tuple[bool, bool] | None = None
        self._baud = 115200
        self._port = _PortLines(self)
        self._held = bytearray()  # data read while the module takes no input
        self._socket_paused = False
        self._announced = False  # host_connected told for the active host
        self._settle: asyncio.TimerHandle | None = None

    @property
    def url(self) -> str:
        return f"rfc2217://{_bracket(self.host)}:{self.port}"

    def write(self, data: bytes) -> None:
        if self._manager is None or not self._announced:
            return
        super().write(b"".join(self._manager.escape(data)))

    def set_modem_lines(self, *, cd: bool, dsr: bool = True, cts: bool = True) -> None:
        """The module's output lines; the host is notified of changes."""
        new = {"cd": cd, "dsr": dsr, "cts": cts, "ri": False}
        if new == self.lines:
            return
        self.lines = new
        if self._manager is not None:
            self._manager.check_modem_lines()

    # flow control: Telnet keeps flowing, data is held (bounded), then the socket pauses

    def pause_reading(self) -> None:
        self._reading = False

    def resume_reading(self) -> None:
        if self._reading:
            return
        self._reading = True
        if self._held and self._sink is not None:
            held = bytes(self._held)
            self._held.clear()
            self._sink.host_data(held)
        if self._reading and self._socket_paused:
            self._socket_paused = False
            if self._active is not None and not self._active.is_closing():
                self._active.resume_reading()

    # TcpTransport hooks

    def _attach(self, transport: asyncio.Transport) -> bool:
        if self._closed:
            return False
        if self._active is not None:
            self._refuse(transport)
            return False
        self._active = transport
        self._held.clear()
        self._socket_paused = False
        self._announced = False
        # the stubs want Serial for both; PortManager uses only what these two provide
        self._manager = PortManager(
            cast(rfc2217.Serial, self._port), cast(rfc2217.Serial, _Wire(self))
        )
        self._settle = asyncio.get_running_loop().call_later(SETTLE, self._announce)
        # a fresh client starts with DTR and RTS on (as pyserial opens a port); say so even
        # if the last client left them off
        self._reported = None
        self._port.dtr = True
        self._port.rts = True
        return True

    def _announce(self) -> None:
        """The host is connected: the module may talk to it (and powers on the first time)."""
        if self._settle is not None:
            self._settle.cancel()
            self._settle = None
        if self._announced or self._active is None or self._sink is None:
            return
        self._announced = True
        self._sink.host_connected()

    def _client_purged(self) -> None:
        if self._active is not None and not self._announced:
            # the purge's answer is written after this returns: announce after it
            asyncio.get_running_loop().call_soon(self._announce)

    def _data(self, transport: asyncio.Transport, data: bytes) -> None:
        if transport is not self._active or self._manager is None:
            return
        payload = self._filter(data)
        if not payload or self._sink is None:
            return
        if not self._announced:
            self._announce()
        if self._reading:
            self._sink.host_data(payload)
            return
        self._held += payload
        if len(self._held) >= HOLD and not self._socket_paused and not transport.is_closing():
            self._socket_paused = True
            transport.pause_reading()

    def _filter(self, data: bytes) -> bytes:
        """The data bytes of ``data``; Telnet commands act on the port. A malformed command
        is noted and dropped: it never ends the connection."""
        manager = self._manager
        assert manager is not None
        out = bytearray()
        view = memoryview(data)
        i = 0
        while i < len(data):
            if manager.mode == M_NORMAL and manager.suboption is None:
                j = data.find(IAC, i)
                if j < 0:
                    out += view[i:]
                    break
                out += view[i:j]
                i = j
            try:
                out += b"".join(manager.filter(data[i : i + 1]))
            except Exception as exc:  # pyserial raises many kinds on garbage
                self._bad_telnet(f"{type(exc).__name__}: {exc}")
            i += 1
            if manager.suboption is not None and len(manager.suboption) > MAX_SUBOPTION:
                self._bad_telnet(f"a subnegotiation longer than {MAX_SUBOPTION} bytes")
        return bytes(out)

    def _bad_telnet(self, what: str) -> None:
        manager = self._manager
        assert manager is not None
        manager.mode = M_NORMAL
        manager.suboption = None
        if self._sink is not None:
            self._sink.host_note(f"RFC 2217: malformed Telnet from the host dropped ({what})")

    def _detach(self, transport: asyncio.Transport) -> None:
        if transport is self._active:
            self._manager = None
            self._held.clear()
            if self._settle is not None:
                self._settle.cancel()
                self._settle = None
            if not self._announced:
                self._active = None  # the host never counted as connected
                return
        super()._detach(transport)

    # called by _PortLines

    def _lines_changed(self) -> None:
        state = (bool(self._port.dtr), bool(self._port.rts))
        if state == self._reported:
            return
        self._reported = state
        sink = self._sink
        if sink is not None and self._manager is not None:
            sink.host_lines(dtr=state[0], rts=state[1])

    def _baud_changed(self, rate: int) -> None:
        if rate == self._baud:
            return
        self._baud = rate
        if self._sink is not None and self._manager is not None:
            self._sink.host_baudrate(rate)
