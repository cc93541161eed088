"""The host side's sans-IO state, shared by ``Modem`` and ``AsyncModem``: module bytes in,
the parser's events sorted out (answers for the command under way, URCs dispatched to the
sockets, callbacks and the ``urcs`` queue, transparent-mode data), the time as an input.

No socket, no thread, no event loop: the runners feed ``receive`` and the procedures
(``exchange``, ``operations``, ``socket_operations``) read and change this state.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from .errors import ModemError
from .mqtt_state import MqttState, module_reset, mqtt_urc
from .parser import Data, DataPhase, DteParser, Event, Urc

BUFFER, PUSH, TRANSPARENT = 0, 1, 2  # <access_mode>
NO_CARRIER = b"\r\nNO CARRIER\r\n"  # ends transparent mode when the connection is lost
# URCs kept for poll()/wait_urc() (push-mode payloads included, so at most ~1.5 MB): a
# program that never polls loses the oldest, counted in ModemCore.urcs_dropped
URC_QUEUE_LIMIT = 1000
SETTLE = 0.02  # s of quiet after which a NO CARRIER at the end of the stream is the module's

UrcCallback = Callable[[Urc], None]
Address = tuple[str, int]

# +QSSLURC/+QIURC "recv" (buffer mode, or push mode with its length and a UDP service's
# sender) and "closed"; +QSSLOPEN/+QIOPEN; a listener's "incoming"
_SOCKET_URC = re.compile(rb'\+Q(?:SSL|I)URC: "(recv|closed)",(\d+)(?:,\d+(?:,"([^"]*)",(\d+))?)?')
_OPEN_URC = re.compile(rb"(\+Q(?:SSL|I)OPEN:) (\d+),(\d+)")
_INCOMING_URC = re.compile(rb'\+QIURC: "incoming",(\d+),(\d+),"([^"]*)",(\d+)')


@dataclass(frozen=True, eq=False)
class Family:
    """The commands and URCs of a socket: the SSL manual's or the TCP/IP manual's. The
    socket operations are written once and name their commands through this."""

    name: str
    open: str  # the command that opens
    send: str
    recv: str
    close: str
    open_urc: bytes  # the URC that reports an open's result
    urc: bytes  # the URC of "recv" and "closed"


SSL = Family(
    "SSL", "AT+QSSLOPEN", "AT+QSSLSEND", "AT+QSSLRECV", "AT+QSSLCLOSE", b"+QSSLOPEN:", b"+QSSLURC:"
)
TCPIP = Family("TCP/IP", "AT+QIOPEN", "AT+QISEND", "AT+QIRD", "AT+QICLOSE", b"+QIOPEN:", b"+QIURC:")


class Service(Enum):
    """What a socket is (``<service_type>`` in ``AT+QISTATE``, ``"SSLClient"`` in
    ``AT+QSSLSTATE``)."""

    SSL = "SSLClient"
    TCP = "TCP"
    UDP = "UDP"
    TCP_LISTENER = "TCP LISTENER"
    UDP_SERVICE = "UDP SERVICE"
    TCP_INCOMING = "TCP INCOMING"

    @property
    def family(self) -> Family:
        return SSL if self is Service.SSL else TCPIP

    @property
    def datagram(self) -> bool:
        """Its data comes and goes in datagrams, whose boundaries are kept."""
        return self in (Service.UDP, Service.UDP_SERVICE)


def _carrier_overlap(data: bytes | bytearray) -> int:
    """How many bytes at the end of ``data`` may begin (or are) the module's NO CARRIER."""
    for k in range(min(len(NO_CARRIER), len(data)), 0, -1):
        if data.endswith(NO_CARRIER[:k]):
            return k
    return 0


class ModemCore:
    """One module as the host sees it: feed its bytes with ``receive``."""

    def __init__(
        self,
        *,
        min_timeout: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        baudrate: int = 115200,
        shared: bool = False,
    ) -> None:
        self.min_timeout = min_timeout
        # several tasks may run procedures at once (AsyncModem): a command claims the port
        self.shared = shared
        self.clock = clock
        self.baudrate = baudrate
        self.parser = DteParser()
        self.events: deque[Event] = deque()  # responses, prompts, CONNECTs of the command
        # for poll() and wait_urc(): the newest URC_QUEUE_LIMIT, older ones are counted out
        self.urcs: deque[Urc] = deque(maxlen=URC_QUEUE_LIMIT)
        self.urcs_dropped = 0
        self.callbacks: list[UrcCallback] = []
        self.links: dict[int, Link] = {}  # client ID -> socket, opening ones too
        # client ID -> a socket being opened, which its +QSSLOPEN/+QIOPEN reaches even if an
        # incoming connection took the ID meanwhile (the open then fails with 563)
        self.opening: dict[int, Link] = {}
        # URC prefix -> the URCs a procedure waits for (+QIURC: "dnsgip", +QPING, +QNTP)
        self.awaited: dict[bytes, deque[Urc]] = {}
        self.mqtt: dict[int, MqttState] = {}  # the MQTT clients (0-5) as their URCs tell
        self.boots = 0  # RDY seen: a procedure that saw this change knows the module restarted
        self.app_ready = 0  # APP RDY seen
        self.data = bytearray()  # transparent-mode bytes no connection has taken yet
        self.bytes_in = 0  # every byte received, for "quiet for a while"

    def receive(self, data: bytes) -> None:
        """Bytes from the module, split anywhere. A URC callback that raises does so here,
        once every event of these bytes has been dispatched."""
        self.bytes_in += len(data)
        parser = self.parser
        parser.feed(data)
        failed: list[Exception] = []
        for event in parser.events():
            if isinstance(event, Urc):
                self._urc(event, failed)
            elif isinstance(event, Data):
                self.data += event.data
            else:
                self.events.append(event)
        if failed:
            raise failed[0]

    def begin(self, command: bytes, phase: DataPhase | None, download: int, payload: bytes) -> None:
        """A command line goes out: its answer is the next events (``payload``: what will
        follow a ``>`` prompt, whose ATE1 echo is no answer)."""
        self.parser.begin(command, phase=phase, download=download, payload=payload)
        self.events.clear()

    def take_data(self) -> bytes:
        """The transparent-mode bytes received so far."""
        out = bytes(self.data)
        self.data.clear()
        return out

    def fresh_parser(self) -> None:
        """Forget any half-read answer (``sync()`` starts from a clean line)."""
        self.parser = DteParser()
        self.events.clear()

    def await_urcs(self, prefix: bytes) -> deque[Urc]:
        """From now on keep the URCs starting with ``prefix`` for the procedure that asks (as
        well as queueing them as every URC); ``stop_awaiting`` ends it. One procedure at a
        time (``ModemError``: the module runs one lookup, ping or NTP sync at a time too)."""
        if prefix in self.awaited:
            raise ModemError(f"another {prefix.decode()} is under way: one at a time")
        queue: deque[Urc] = deque()
        self.awaited[prefix] = queue
        return queue

    def stop_awaiting(self, prefix: bytes) -> None:
        self.awaited.pop(prefix, None)

    def _urc(self, urc: Urc, failed: list[Exception]) -> None:
        line = urc.line
        if line == b"APP RDY":
            self.app_ready += 1
        elif line == b"RDY":  # the module restarted: every connection is gone
            self.boots += 1
            for link in (*self.links.values(), *self.opening.values()):
                link.module_reset()
            self.links.clear()
            self.opening.clear()
            module_reset(self.mqtt)
        elif line.startswith((b"+QSSL", b"+QI")):
            self._socket_urc(line, urc.data)
        elif line.startswith(b"+QMT"):
            mqtt_urc(self.mqtt, urc, failed)
        if self.awaited:
            for prefix, queue in self.awaited.items():
                if line.startswith(prefix):
                    queue.append(urc)
        if len(self.urcs) == URC_QUEUE_LIMIT:
            self.urcs_dropped += 1
        self.urcs.append(urc)
        for callback in self.callbacks:
            try:
                callback(urc)
            except Exception as exc:
                failed.append(exc)

    def _socket_urc(self, line: bytes, data: bytes) -> None:
        """A socket's URC reaches its link (a URC of the other family on its ID does not)."""
        m = _SOCKET_URC.match(line)
        if m is not None:
            link = self.links.get(int(m.group(2)))
            if link is not None and line.startswith(link.family.urc):
                if m.group(1) == b"closed":
                    link.peer_closed()
                else:
                    sender = None if m.group(3) is None else (m.group(3).decode(), int(m.group(4)))
                    link.data_arrived(data, sender)
            return
        m = _OPEN_URC.match(line)
        if m is not None:
            link = self.opening.get(int(m.group(2)))
            if link is not None and link.family.open_urc == m.group(1):
                link.open_code = int(m.group(3))
            return
        m = _INCOMING_URC.match(line)
        if m is not None:
            peer = (m.group(3).decode(), int(m.group(4)))
            self.took_incoming(int(m.group(1)), int(m.group(2)), peer)

    def took_incoming(self, client_id: int, server_id: int, peer: Address) -> None:
        """Listener ``server_id`` took a connection as ``client_id`` (its ``"incoming"`` URC,
        or an AT+QISTATE line after ``sync()``): registered at once, since its data may come
        before ``accept()``."""
        known = self.links.get(client_id)
        if known is not None and known.service is Service.TCP_INCOMING:
            return  # known already: its URC came after the AT+QISTATE that found it
        listener = self.links.get(server_id)
        if listener is not None and listener.service is Service.TCP_LISTENER:
            link = Link(self, Service.TCP_INCOMING, client_id, listener.access_mode, peer)
            link.opened = True
            link.local_port = listener.local_port
            self.links[link.client_id] = link
            listener.incoming.append(link)


class Link:
    """One socket's state: what was received and not yet handed out, whether the module
    holds more, how it ended; a listener's connections not yet accepted. The faces
    (``SslConnection``, ``TcpConnection``, ``UdpSocket``... and their async twins) show it;
    ``socket_operations`` change it."""

    def __init__(
        self,
        core: ModemCore,
        service: Service,
        client_id: int,
        access_mode: int,
        peer: Address = ("", 0),
    ) -> None:
        self.core = core
        self.service = service
        self.family = service.family
        self.client_id = client_id
        self.access_mode = access_mode
        self.peer = peer  # the remote end of a client, of an incoming connection
        self.local_port = 0  # a listener's or UDP service's port
        self.open_code: int | None = None  # +QSSLOPEN/+QIOPEN: <id>,<err> came
        self.opened = False  # the open succeeded (or CONNECT came)
        self.closed_by_peer = False
        self.closed = False
        self.buffer = bytearray()  # received and not yet handed to the caller
        self.datagrams: deque[tuple[bytes, Address]] = deque()  # the same, UDP: with senders
        self.incoming: deque[Link] = deque()  # a listener's connections not yet accepted
        self.module_has_data = True  # buffer mode: a read may find something
        self.tail = bytearray()  # transparent: bytes that may be the start of NO CARRIER
        self.tail_since = 0.0
        self.leaving = False  # +++ under way: its OK is not connection data
        self.face: object = None  # the connection object showing it

    # ---- what the module said ----------------------------------------------------------

    def data_arrived(self, data: bytes, sender: Address | None = None) -> None:
        if not data:
            self.module_has_data = True
        elif self.service.datagram:  # push mode: one datagram, with its sender
            self.datagrams.append((data, sender or self.peer))
        else:
            self.buffer += data  # push mode: the data came with the URC

    def peer_closed(self) -> None:
        self.closed_by_peer = True

    def urcs_may_be_lost(self) -> None:
        """After ``sync()``: a ``"recv"`` URC may have gone by unread, and the module
        repeats it only once its buffer is read empty, so read at the next ``recv``."""
        self.module_has_data = True

    def module_reset(self) -> None:
        """The module restarted: the connection is gone without a word."""
        self.closed_by_peer = True
        self.closed = True
        self.module_has_data = False
        if self.access_mode == TRANSPARENT:
            self.core.parser.leave_transparent()
            self.access_mode = BUFFER

    # ---- transparent mode ----------------------------------------------------------------

    def pull_transparent(self) -> None:
        """Move transparent-mode bytes to the buffer. A tail that may be the module's
        ``NO CARRIER`` is held back until more data or a quiet ``SETTLE`` s decide it: data
        that happens to end the same way costs ``SETTLE`` s of latency, nothing else."""
        if self.leaving:
            return
        core = self.core
        now = core.clock()
        if core.data:
            self.tail += core.take_data()
            self.tail_since = now
        if not self.tail:
            return
        keep = _carrier_overlap(self.tail)
        if keep and now - self.tail_since >= SETTLE:
            if keep == len(NO_CARRIER) and core.parser.transparent:
                del self.tail[-keep:]
                self.buffer += self.tail
                self.tail.clear()
                self.carrier_lost()
                return
            keep = 0
        if keep < len(self.tail):
            cut = len(self.tail) - keep
            self.buffer += self.tail[:cut]
            del self.tail[:cut]

    def carrier_lost(self) -> None:
        """NO CARRIER: the server closed a transparent connection; the port is in command
        mode again and the socket waits for its close command."""
        self.closed_by_peer = True
        self.module_has_data = False
        self.core.parser.leave_transparent()
        self.access_mode = BUFFER

    def take(self, size: int) -> bytes:
        out = bytes(self.buffer[:size])
        del self.buffer[:size]
        return out
