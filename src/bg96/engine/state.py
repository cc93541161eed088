"""The module's state as plain data: settings, PDP contexts, SSL contexts, sockets."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import Enum, IntEnum

from .bytequeue import ByteQueue
from .timers import Timer

GPS_EPOCH = 315964800.0  # 1980-01-06 00:00:00 UTC: where a module without network time starts


@dataclass
class ModuleConfig:
    """What is fixed for a module's life: identity, limits and timings."""

    revision: str = "BG96MAR02A07M1G"
    sub_revision: str = "BG96MAR02A07M1G_01.019.01.019"
    imei: str = "866425030000017"
    imsi: str = "460001234567890"
    iccid: str = "89860012345678901234"
    operator: str = "BG96 Virtual"
    at_port: str = "uart1"  # the one port served: default of AT+QURCCFG and QSSLSTATE <AT_port>
    max_line: int = 1024  # bytes of one command line (the manuals give no limit)
    recv_buffer: int = 262144  # per-socket receive buffer before reading is paused
    send_buffer: int = 262144  # per-socket bytes accepted but not yet sent before SEND FAIL
    uart_buffer: int = 8192  # host bytes the UART input buffer holds before flow control
    file_capacity: int = 14483456  # UFS size of a real BG96 (AT+QFLDS="UFS")
    max_file_size: int = 10 * 1024 * 1024
    reboot_time: float = 0.05  # seconds from AT+CFUN=1,1 to RDY
    app_ready_time: float = 0.05  # seconds from RDY to APP RDY
    pdp_activation_time: float = 0.0  # seconds AT+QIACT takes
    attach_time: float = 0.0  # seconds from power-on (or AT+CFUN=1) to registered
    tcp_connect_timeout: float = 150.0  # the manual's maximum network response time
    ntp_timeout: float = 20.0  # seconds AT+QNTP waits for the server before +QNTP: 569
    max_active_pdp: int = 3


# S registers (ATM table 7): auto-answer rings, CR, LF, BS, pause, connect wait, comma pause,
# disconnect delay
S_DEFAULTS = {0: 0, 3: 13, 4: 10, 5: 8, 6: 2, 7: 0, 8: 2, 10: 15}


@dataclass
class Settings:
    """The settings the user profile (AT&W) and factory defaults (AT&F) cover."""

    echo: bool = True
    verbose: bool = True
    quiet: bool = False
    amp_c: int = 1
    amp_d: int = 1
    creg: int = 0
    cgreg: int = 0
    cereg: int = 0
    x: int = 4
    s: dict[int, int] = field(default_factory=lambda: dict(S_DEFAULTS))

    @property
    def s3(self) -> int:
        return self.s[3]

    @property
    def s5(self) -> int:
        return self.s[5]

    def copy(self) -> Settings:
        fields = dict(self.__dict__)
        fields["s"] = dict(self.s)
        return Settings(**fields)


@dataclass
class PdpContext:
    """A PDP context as AT+QICSGP configures and AT+QIACT activates it."""

    context_type: int = 1
    apn: str = ""
    username: str = ""
    password: str = ""
    auth: int = 0
    active: bool = False
    ip: str = ""
    dns: tuple[str, str] = ("0.0.0.0", "0.0.0.0")


@dataclass
class SslContext:
    """An SSL context's settings (AT+QSSLCFG); defaults from FIELD_NOTES."""

    sslversion: int = 4
    ciphersuite: int = 0xFFFF
    seclevel: int = 0
    cacert: str = ""
    clientcert: str = ""
    clientkey: str = ""
    ignorelocaltime: int = 1
    negotiatetime: int = 300
    sni: int = 0  # later firmware key: send SNI
    checkhost: str = "0"  # later firmware key: "0", "1" (the QSSLOPEN address) or a host name


@dataclass
class QiConfig:
    """AT+QICFG settings (TCP/IP manual): transparent-mode packing and data formats."""

    transpktsize: int = 1024  # bytes of host data that make a packet in transparent mode
    transwaittm: int = 2  # x 100 ms of host silence after which a short packet is sent
    dataformat: tuple[int, int] = (0, 0)  # send, receive: 0 text, 1 hex (plain TCP only)
    viewmode: int = 0  # 0 header CR LF data, 1 header,data (plain TCP push mode only)
    retranscfg: tuple[int, int] = (8, 600)  # max backoffs, max RTO x 100 ms


class SocketState(IntEnum):
    """QSSLSTATE's and QISTATE's <socket_state>."""

    INITIAL = 0
    OPENING = 1
    CONNECTED = 2
    LISTENING = 3
    CLOSING = 4


@dataclass(frozen=True)
class Family:
    """The URCs of a manual's sockets: the SSL manual's or the TCP/IP manual's."""

    open_urc: str  # +QSSLOPEN / +QIOPEN
    urc: str  # +QSSLURC / +QIURC ("recv", "closed")
    command: str  # the open command, for notes


SSL_FAMILY = Family("+QSSLOPEN", "+QSSLURC", "QSSLOPEN")
IP_FAMILY = Family("+QIOPEN", "+QIURC", "QIOPEN")


class Service(Enum):
    """What a client ID carries: QSSLSTATE's "SSLClient" or QISTATE's <service_type>."""

    SSL = "SSLClient"
    TCP = "TCP"
    UDP = "UDP"
    TCP_LISTENER = "TCP LISTENER"
    TCP_INCOMING = "TCP INCOMING"
    UDP_SERVICE = "UDP SERVICE"

    @property
    def family(self) -> Family:
        return SSL_FAMILY if self is Service.SSL else IP_FAMILY

    @property
    def tls(self) -> bool:
        return self is Service.SSL

    @property
    def datagram(self) -> bool:
        """Reads and pushes keep datagram boundaries."""
        return self in (Service.UDP, Service.UDP_SERVICE)

    @property
    def stream(self) -> bool:
        """A TCP connection (closed gracefully with a FIN)."""
        return self in (Service.SSL, Service.TCP, Service.TCP_INCOMING)

    @property
    def reports_sender(self) -> bool:
        """Reads and pushes name each datagram's sender (UDP SERVICE)."""
        return self is Service.UDP_SERVICE

    @property
    def switchable(self) -> bool:
        """AT+QISWTMD and ATO may change its access mode (not a listener)."""
        return self is not Service.TCP_LISTENER


class AccessMode(IntEnum):
    BUFFER = 0
    PUSH = 1
    TRANSPARENT = 2


@dataclass
class Socket:
    """One of the 12 client IDs, while a socket (SSL, TCP, UDP, listener) uses it."""

    client_id: int
    conn_seq: int
    pdp_ctx: int
    ssl_ctx: int
    host: str
    port: int
    access_mode: AccessMode
    service: Service = Service.SSL
    server_id: int = -1  # TCP INCOMING: the listener's client ID (QISTATE <serverID>)
    host_port: int = 0  # a listener or UDP service: its loopback port on the host machine
    state: SocketState = SocketState.OPENING
    local_port: int = 0
    remote_ip: str = ""
    recv: ByteQueue = field(default_factory=ByteQueue)
    urc_armed: bool = True  # "recv" URC may be sent (re-armed when the host read it empty)
    total_received: int = 0
    total_read: int = 0
    total_sent: int = 0  # bytes the host sent, handed to the network
    total_acked: int = 0  # of those, bytes the network has taken (QISEND=<id>,0)
    datagrams: deque[tuple[int, str, int]] = field(default_factory=deque)
    """UDP: (bytes, sender ip, sender port) of each datagram still in ``recv``, in order."""
    unsent: int = 0  # bytes handed to the network and not yet reported Sent
    fail_sends: int = 0  # injected fault: this many next QSSLSENDs answer SEND FAIL
    reading: bool = True
    carrier_lost: bool = False  # transparent: NO CARRIER once the buffered data has gone out
    timer: Timer | None = None  # connect / negotiate deadline while opening


class Mode(Enum):
    """What the engine does with host bytes right now."""

    COMMAND = "command"  # assembling a command line
    EXECUTING = "executing"  # a command waits for the network or a timer; input waits
    DATA = "data"  # a data phase (QSSLSEND prompt, QFUPL upload) owns the input
    TRANSPARENT = "transparent"  # the port belongs to one connection (access mode 2)
    BOOTING = "booting"  # powered off or restarting: input is lost
