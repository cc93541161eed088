"""A virtual Quectel BG96: the SSL and TCP/IP AT command sets over real connections, and a
driver for it."""

from typing import TYPE_CHECKING

from ._lazy import lazy_names

if TYPE_CHECKING:
    from .fleet import Fleet
    from .host import (
        AsyncModem,
        AsyncSocketLike,
        AsyncSslConnection,
        AsyncTcpConnection,
        AsyncTcpListener,
        AsyncUdpConnection,
        AsyncUdpSocket,
        CommandError,
        ConnectionClosedByPeer,
        DnsFailed,
        HttpFailed,
        HttpResponse,
        Modem,
        ModemError,
        ModemReset,
        ModemTimeout,
        NtpFailed,
        OpenFailed,
        PingFailed,
        PingResult,
        PortClosed,
        SendFailed,
        SocketLike,
        SslConnection,
        StreamConnection,
        TcpConnection,
        TcpListener,
        UdpConnection,
        UdpSocket,
    )
    from .module.faults import FaultError, Faults, FaultScript, FaultScriptError
    from .module.virtual import VirtualModule

__version__ = "0.1.0"


__all__ = [
    "AsyncModem",
    "AsyncSocketLike",
    "AsyncSslConnection",
    "AsyncTcpConnection",
    "AsyncTcpListener",
    "AsyncUdpConnection",
    "AsyncUdpSocket",
    "CommandError",
    "ConnectionClosedByPeer",
    "DnsFailed",
    "FaultError",
    "FaultScript",
    "FaultScriptError",
    "Faults",
    "Fleet",
    "HttpFailed",
    "HttpResponse",
    "Modem",
    "ModemError",
    "ModemReset",
    "ModemTimeout",
    "NtpFailed",
    "OpenFailed",
    "PingFailed",
    "PingResult",
    "PortClosed",
    "SendFailed",
    "SocketLike",
    "SslConnection",
    "StreamConnection",
    "TcpConnection",
    "TcpListener",
    "UdpConnection",
    "UdpSocket",
    "VirtualModule",
    "__version__",
]

# Each name loads its room on first use: ``import bg96`` itself costs next to nothing, and a
# program that only drives a module (the host side) never loads the engine, or the other way.
_ELSEWHERE = {
    "FaultError": ".module.faults",
    "Faults": ".module.faults",
    "FaultScript": ".module.faults",
    "FaultScriptError": ".module.faults",
    "VirtualModule": ".module.virtual",
    "Fleet": ".fleet",
}
_HOME = {name: _ELSEWHERE.get(name, ".host") for name in __all__ if name != "__version__"}
__getattr__ = lazy_names(__name__, _HOME, globals())
