"""A virtual Quectel BG96: the SSL and TCP/IP AT command sets over real connections, and a
driver for it."""

from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from .fleet import Fleet

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """``bg96.Fleet`` loads the fleet layer on first use (``import bg96`` stays as cheap)."""
    if name == "Fleet":
        from .fleet import Fleet

        return Fleet
    raise AttributeError(f"module 'bg96' has no attribute {name!r}")


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
