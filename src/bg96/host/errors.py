"""Exceptions of the host driver: each says which command failed, with what answer and code."""

from __future__ import annotations


class ModemError(Exception):
    """Anything that went wrong talking to the module."""


class CommandError(ModemError):
    """A command answered ``ERROR``, ``+CME ERROR`` or a failure code.

    ``code`` is the +CME code, or the table-3 code (AT+QIGETERROR / ``+QSSLOPEN: <id>,<err>``);
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
    """QSSLSEND answered ``SEND FAIL``: the module's send buffer is full."""


class OpenFailed(CommandError):
    """AT+QSSLOPEN reported a non-zero error code."""


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
    """The SSL connection was closed by the server (``+QSSLURC: "closed"``, ``NO CARRIER``)."""
