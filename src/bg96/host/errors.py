"""Exceptions of the host driver: each says which command failed, with what answer and code."""

from __future__ import annotations


class ModemError(Exception):
    """Anything that went wrong talking to the module."""


class CommandError(ModemError):
    """A command answered ``ERROR``, ``+CME ERROR`` or a failure code.

    ``code`` is the +CME code, or the table-3 code (AT+QIGETERROR, ``+QSSLOPEN: <id>,<err>``,
    the error of a URC that reports a result);
    ``text`` its meaning; ``response`` the raw bytes of the answer.
    """

    def __init__(
        self, command: str, response: bytes, code: int | None = None, text: str = ""
    ) -> None:
        self.command = command
        self.response = response
        self.code = code
        self.text = text
        detail = f" ({code}: {text})" if code is not None else ""
        super().__init__(f"{command!r} failed: {response!r}{detail}")


class UnexpectedResponse(CommandError):
    """The module answered, but not in the form the manual gives (a malformed or missing line,
    a checksum that does not match the data)."""


class SendFailed(CommandError):
    """QSSLSEND or QISEND answered ``SEND FAIL``: the module's send buffer is full."""


class OpenFailed(CommandError):
    """AT+QSSLOPEN or AT+QIOPEN failed: the code of its URC (``+QIOPEN: <id>,<err>``) or of
    AT+QIGETERROR after an ``ERROR`` (563 ID in use, 565 DNS, 566 connect, 574 port busy...)."""


class DnsFailed(CommandError):
    """AT+QIDNSGIP found no address: ``+QIURC: "dnsgip",<err>`` (565 DNS failed...)."""


class PingFailed(CommandError):
    """AT+QPING failed as a whole: ``+QPING: <err>`` (565 DNS failed, 561 the PDP context is
    not active...). An echo that times out is no failure: the result counts it lost."""


class NtpFailed(CommandError):
    """AT+QNTP did not set the time: ``+QNTP: <err>`` (565 DNS failed, 569 timed out...)."""


class ModemTimeout(ModemError, TimeoutError):
    """No complete answer within the command's maximum response time."""

    def __init__(self, command: str, waited: float, partial: bytes = b"") -> None:
        self.command = command
        self.waited = waited
        self.partial = partial
        super().__init__(f"{command!r}: no answer within {waited:g} s (got {partial!r})")


class ModemReset(ModemError):
    """The module restarted (``RDY``) while a command was under way: its state is gone."""


class PortClosed(ModemError, ConnectionError):
    """The serial port or the module's connection to it closed."""


class ConnectionClosedByPeer(ModemError, ConnectionError):
    """The connection was closed by the server (``+QSSLURC: "closed"``, ``+QIURC: "closed"``,
    ``NO CARRIER``), or the socket by the module (its PDP context went down, it restarted)."""


class HttpFailed(CommandError):
    """An HTTP(S) command failed: ``code`` is the module's 7xx code, from ``+CME ERROR``
    or the result URC (``+QHTTPGET: 714``: DNS failed, 716: the connection or its TLS
    handshake failed, 728: no response in time, 717: the body was cut...)."""


class MqttError(CommandError):
    """An MQTT command failed; ``code`` is the result its URC gave (``+QMTSUB: 0,1,2``: 2,
    sent and retried in vain) or, for the subclasses, their code."""


class MqttOpenFailed(MqttError):
    """AT+QMTOPEN failed: ``code`` is ``+QMTOPEN: <id>,<result>``'s (-1 network or TLS
    failure, 1 bad parameter, 2 in use, 3 PDP context, 4 DNS, 5 network disconnected)."""


class MqttConnectRefused(MqttError):
    """The broker refused the CONNECT: ``code`` is its CONNACK code (``+QMTCONN: <id>,0,<code>``:
    1 protocol version, 2 client ID, 3 server unavailable, 4 bad username or password, 5 not
    authorised)."""


class MqttLinkLost(MqttError, ConnectionError):
    """The client's link ended (``+QMTSTAT: <id>,<code>``: 1 closed by the broker, 2 no
    PINGRESP, 3 CONNECT failed, 4 no CONNACK, 6 gave up resending, 7 network down)."""
