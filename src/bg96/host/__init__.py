"""The host side: a BG96 driver that runs against the virtual module or real hardware."""

from .aclient import AsyncModem
from .client import Modem
from .connection import AsyncSslConnection, SslConnection
from .errors import (
    CommandError,
    ConnectionClosedByPeer,
    ModemError,
    ModemReset,
    ModemTimeout,
    OpenFailed,
    PortClosed,
    SendFailed,
    UnexpectedResponse,
)
from .parser import Connect, Data, DataPhase, DteParser, Prompt, Response, Urc
from .socketlike import AsyncSocketLike, SocketLike

__all__ = [
    "AsyncModem",
    "AsyncSocketLike",
    "AsyncSslConnection",
    "CommandError",
    "Connect",
    "ConnectionClosedByPeer",
    "Data",
    "DataPhase",
    "DteParser",
    "Modem",
    "ModemError",
    "ModemReset",
    "ModemTimeout",
    "OpenFailed",
    "PortClosed",
    "Prompt",
    "Response",
    "SendFailed",
    "SocketLike",
    "SslConnection",
    "UnexpectedResponse",
    "Urc",
]
