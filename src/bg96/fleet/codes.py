"""A failure named by what the module answered: ``+QSSLOPEN 565``, ``CME 3``, ``SEND FAIL``.

Failures are counted by these names, so a fleet's report says which of the module's codes
the back-end drew (the manual's table 3 for opens, +CME codes for commands), not Python
exception types.
"""

from __future__ import annotations

from ..host import (
    CommandError,
    ConnectionClosedByPeer,
    ModemReset,
    ModemTimeout,
    MqttConnectRefused,
    MqttError,
    MqttLinkLost,
    MqttOpenFailed,
    OpenFailed,
    PortClosed,
    SendFailed,
)

_MQTT = ((MqttOpenFailed, "+QMTOPEN"), (MqttConnectRefused, "+QMTCONN"), (MqttLinkLost, "+QMTSTAT"))


def failure_code(exc: BaseException) -> str:
    """The name a failure is counted under."""
    if isinstance(exc, OpenFailed):
        family = "+QSSLOPEN" if exc.command.upper().startswith("AT+QSSLOPEN") else "+QIOPEN"
        return f"{family} {exc.code}" if exc.code is not None else f"{family} ERROR"
    if isinstance(exc, SendFailed):
        return "SEND FAIL"
    if isinstance(exc, MqttError):
        for kind, name in _MQTT:
            if isinstance(exc, kind):
                return f"{name} {exc.code}"
        name = exc.command.split("=")[0].removeprefix("AT")  # +QMTPUB 2, +QMTSUB ERROR...
        return f"{name} {'ERROR' if exc.code is None else exc.code}"
    if isinstance(exc, CommandError):
        if exc.code is None:
            return "ERROR"
        return f"CME {exc.code}" if b"+CME ERROR" in exc.response else f"ERROR {exc.code}"
    if isinstance(exc, ModemTimeout):
        return "no answer"
    if isinstance(exc, ModemReset):
        return "module reset"
    if isinstance(exc, ConnectionClosedByPeer):
        return "closed by peer"
    if isinstance(exc, PortClosed):
        return "port closed"
    if isinstance(exc, TimeoutError):
        return "step timeout"
    return type(exc).__name__
