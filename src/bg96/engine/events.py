"""What the engine asks of the network (intents) and what the network tells it (events).

The engine never touches a socket: it emits intents, the runner carries them out and feeds
back events. Every connection attempt carries a ``conn_seq`` so that late events of an
earlier connection on a reused client ID are recognised and dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from .faults import NetworkFault


@dataclass(frozen=True)
class TlsParams:
    """A snapshot of an SSL context's settings (and certificate bytes) taken at QSSLOPEN.

    Later changes to the context apply to new connections only, so the runner gets a copy.
    """

    ssl_ctx_id: int
    sslversion: int  # 0 SSL3.0, 1 TLS1.0, 2 TLS1.1, 3 TLS1.2, 4 all
    ciphersuites: tuple[int, ...]  # table-2 codes, in the module's order (0XFFFF expanded)
    seclevel: int  # 0 none, 1 server, 2 server + client if requested
    cacert: bytes | None = None  # contents of the cacert file, None when not configured
    cacert_name: str = ""
    clientcert: bytes | None = None
    clientkey: bytes | None = None
    ignore_localtime: bool = True
    module_time: float = 0.0  # module clock (AT+CCLK) as a POSIX timestamp, UTC
    negotiate_time: int = 300
    sni: bool = False  # later firmware: AT+QSSLCFG="sni",<ctx>,1 sends the server name
    checkhost: str = ""  # later firmware: AT+QSSLCFG="checkhost": the name to check, or none


# ---- intents: engine -> runner -------------------------------------------------------


Protocol = Literal["tcp", "udp"]

MQTT_LINK_BASE = 100
"""The ``client_id`` of MQTT client ``i``'s network link is ``MQTT_LINK_BASE + i``: its
intents and events never meet the 12 socket IDs (0-11)."""


@dataclass(frozen=True)
class Connect:
    """Resolve ``host`` and open a connection to ``port``: TCP with a TLS client handshake
    (``tls``), plain TCP (no ``tls``), or a UDP socket bound to that peer."""

    client_id: int
    conn_seq: int
    host: str
    port: int
    tls: TlsParams | None = None
    protocol: Protocol = "tcp"


@dataclass(frozen=True)
class Listen:
    """Listen on the module's ``local_port``: a TCP listener or a UDP service. On the host
    machine it takes a loopback port (the one ``--expose`` maps to it, else any)."""

    client_id: int
    conn_seq: int
    protocol: Protocol
    local_port: int


@dataclass(frozen=True)
class Accept:
    """Take the incoming connection ``token`` on ``client_id`` (``conn_seq`` from now on)."""

    token: int
    client_id: int
    conn_seq: int


@dataclass(frozen=True)
class Refuse:
    """Refuse the incoming connection ``token`` (no client ID is free)."""

    token: int


@dataclass(frozen=True)
class Send:
    """Application data to write on an established connection (a UDP service names the
    datagram's destination)."""

    client_id: int
    conn_seq: int
    data: bytes
    ip: str = ""
    port: int = 0


@dataclass(frozen=True)
class Close:
    """Close a connection: ``abort`` means at once (RST-like), else close_notify and FIN."""

    client_id: int
    conn_seq: int
    abort: bool = False


@dataclass(frozen=True)
class SetReading:
    """Flow control: stop (False) or resume (True) reading from a connection."""

    client_id: int
    conn_seq: int
    reading: bool


@dataclass(frozen=True)
class Resolve:
    """Look a name up (AT+QIDNSGIP); the answer comes back as ``Resolved``."""

    request: int
    host: str


@dataclass(frozen=True)
class Ping:
    """One ICMP echo request to ``address`` (AT+QPING); the answer is ``Pinged``, or none."""

    request: int
    address: str
    seq: int
    size: int = 32
    timeout: float = 4.0  # the module gives up on this echo then


@dataclass(frozen=True)
class NtpQuery:
    """One SNTP exchange with ``address``:``port`` (AT+QNTP); the answer is ``NtpAnswer``."""

    request: int
    address: str
    port: int
    timeout: float = 20.0  # the module gives up then


@dataclass(frozen=True)
class Note:
    """A line for the trace: what the module did and why."""

    text: str


@dataclass(frozen=True)
class NetFault:
    """Make the network misbehave (an injected fault); ``conn_seq`` names the connection
    for the faults of one connection (a server reset, FIN or stall), else it is 0."""

    fault: NetworkFault
    conn_seq: int = 0


Intent = (
    Connect
    | Listen
    | Accept
    | Refuse
    | Send
    | Close
    | SetReading
    | Resolve
    | Ping
    | NtpQuery
    | Note
    | NetFault
)


# ---- events: runner -> engine --------------------------------------------------------


@dataclass(frozen=True)
class TcpConnected:
    """TCP is up; the TLS handshake starts now (``negotiatetime`` counts from here)."""

    client_id: int
    conn_seq: int
    local_port: int
    remote_ip: str


@dataclass(frozen=True)
class Listening:
    """A listener is up; hosts reach it at 127.0.0.1:``host_port`` on this machine."""

    client_id: int
    conn_seq: int
    host_port: int


@dataclass(frozen=True)
class Incoming:
    """A client connected to the listener on ``client_id`` (``token`` names it until the
    engine answers ``Accept`` or ``Refuse``)."""

    client_id: int
    conn_seq: int
    token: int
    remote_ip: str
    remote_port: int


@dataclass(frozen=True)
class Connected:
    """The TLS handshake finished."""

    client_id: int
    conn_seq: int
    version: str = ""
    cipher: str = ""


@dataclass(frozen=True)
class ConnectFailed:
    """The open failed; ``code`` is a table-3 error code, ``reason`` goes to the trace."""

    client_id: int
    conn_seq: int
    code: int
    reason: str = ""


@dataclass(frozen=True)
class Received:
    """Application data from the server (decrypted); for UDP one datagram and its sender."""

    client_id: int
    conn_seq: int
    data: bytes
    sender_ip: str = ""
    sender_port: int = 0


@dataclass(frozen=True)
class Sent:
    """``nbytes`` of earlier Send data left the module's send buffer."""

    client_id: int
    conn_seq: int
    nbytes: int


@dataclass(frozen=True)
class PeerClosed:
    """The server closed the connection (close_notify, FIN or RST) or it broke."""

    client_id: int
    conn_seq: int
    reason: str = ""


@dataclass(frozen=True)
class Closed:
    """A Close intent finished (the socket is gone)."""

    client_id: int
    conn_seq: int


@dataclass(frozen=True)
class Resolved:
    """The answer to ``Resolve``: addresses, or a table-3 error code (565) and a reason."""

    request: int
    addresses: tuple[str, ...] = ()
    code: int = 0
    reason: str = ""


@dataclass(frozen=True)
class Pinged:
    """The echo reply to ``Ping`` ``seq``: its round trip in milliseconds and the TTL."""

    request: int
    seq: int
    rtt_ms: int
    ttl: int
    size: int = 32


@dataclass(frozen=True)
class NtpAnswer:
    """The server's time (POSIX seconds, UTC, already corrected for the way back)."""

    request: int
    time: float


SocketEvent = (
    TcpConnected
    | Listening
    | Incoming
    | Connected
    | ConnectFailed
    | Received
    | Sent
    | PeerClosed
    | Closed
)
NetEvent = SocketEvent | Resolved | Pinged | NtpAnswer

__all__ = [
    "MQTT_LINK_BASE",
    "Accept",
    "Close",
    "Closed",
    "Connect",
    "ConnectFailed",
    "Connected",
    "Incoming",
    "Intent",
    "Listen",
    "Listening",
    "NetEvent",
    "NetFault",
    "Note",
    "NtpAnswer",
    "NtpQuery",
    "PeerClosed",
    "Ping",
    "Pinged",
    "Protocol",
    "Received",
    "Refuse",
    "Resolve",
    "Resolved",
    "Send",
    "Sent",
    "SetReading",
    "SocketEvent",
    "TcpConnected",
    "TlsParams",
]
