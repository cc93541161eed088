"""RFC 2217 (Telnet COM port control): the TCP transport plus modem lines and baud rate.

pyserial's ``PortManager`` speaks the protocol; this module hands it a stand-in serial port
whose DTR/RTS/baud setters go to the runner and whose DCD/DSR/CTS/RI getters are the
module's output lines. ``serial.serial_for_url("rfc2217://HOST:PORT")`` then drives DTR.
"""

from __future__ import annotations

import asyncio
from typing import cast

import serial
from serial import rfc2217
from serial.rfc2217 import PortManager

from .tcp import TcpTransport, _bracket


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
        pass


class _Wire:
    """What PortManager writes Telnet negotiation to: the active host connection."""

    def __init__(self, owner: Rfc2217Transport) -> None:
        self._owner = owner

    def write(self, data: bytes) -> None:
        active = self._owner._active
        if active is not None:
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

    @property
    def url(self) -> str:
        return f"rfc2217://{_bracket(self.host)}:{self.port}"

    def write(self, data: bytes) -> None:
        if self._manager is None:
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

    # TcpTransport hooks

    def _attach(self, transport: asyncio.Transport) -> bool:
        if self._closed or self._active is not None:
            return False
        self._active = transport
        # the stubs want Serial for both; PortManager uses only what these two provide
        self._manager = PortManager(
            cast(rfc2217.Serial, self._port), cast(rfc2217.Serial, _Wire(self))
        )
        if self._sink is not None:
            self._sink.host_connected()
        # a fresh client starts with DTR and RTS on (as pyserial opens a port); say so even
        # if the last client left them off
        self._reported = None
        self._port.dtr = True
        self._port.rts = True
        return True

    def _data(self, transport: asyncio.Transport, data: bytes) -> None:
        if transport is not self._active or self._manager is None:
            return
        payload = b"".join(self._manager.filter(data))
        if payload and self._sink is not None:
            self._sink.host_data(payload)

    def _detach(self, transport: asyncio.Transport) -> None:
        if transport is self._active:
            self._manager = None
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
