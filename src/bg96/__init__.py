"""A virtual Quectel BG96: the SSL AT command set over real TLS, and a driver for it."""

from .host import (
    AsyncModem,
    AsyncSocketLike,
    AsyncSslConnection,
    CommandError,
    ConnectionClosedByPeer,
    Modem,
    ModemError,
    ModemReset,
    ModemTimeout,
    OpenFailed,
    PortClosed,
    SendFailed,
    SocketLike,
    SslConnection,
)
from .module.faults import FaultError, Faults, FaultScript, FaultScriptError
from .module.virtual import VirtualModule

__version__ = "0.1.0"

__all__ = [
    "AsyncModem",
    "AsyncSocketLike",
    "AsyncSslConnection",
    "CommandError",
    "ConnectionClosedByPeer",
    "FaultError",
    "FaultScript",
    "FaultScriptError",
    "Faults",
    "Modem",
    "ModemError",
    "ModemReset",
    "ModemTimeout",
    "OpenFailed",
    "PortClosed",
    "SendFailed",
    "SocketLike",
    "SslConnection",
    "VirtualModule",
    "__version__",
]
