"""The one asyncio runner: joins the engine, TLS sessions, real sockets, a transport and the clock.

The engine decides; the runner carries out its intents (resolve, connect, handshake, send,
close), feeds back what the network did, moves host bytes through the transport and wakes
the engine at its next deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections import deque
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, TypeVar

from ..engine import (
    MQTT_LINK_BASE,
    Accept,
    Close,
    Closed,
    Connect,
    ConnectFailed,
    Engine,
    Intent,
    Listen,
    NetEvent,
    NetFault,
    Note,
    NtpAnswer,
    NtpQuery,
    Ping,
    Pinged,
    Received,
    Refuse,
    Resolve,
    Resolved,
    Send,
    SetReading,
)
from ..engine.codes import QiError
from ..engine.commands.http_request import HTTP_CLIENT
from ..engine.faults import (
    DnsFailure,
    HandshakeTimeout,
    ServerFin,
    ServerReset,
    ServerStall,
    TlsAlert,
)
from ..network import Network, RadioLink
from ..tls.suites import suite_name
from .connections import (
    DatagramConnection,
    LocalPorts,
    PlainSession,
    Session,
    StreamConnection,
    TcpListener,
)
from .nettools import Pinger, sntp_query
from .port import HostPort
from .resolve import ResolveError, Resolver
from .trace import Trace
from .transports.base import Transport

log = logging.getLogger("bg96")
Carrier = StreamConnection | DatagramConnection | TcpListener
T = TypeVar("T")


class Runner:
    """Runs one engine on one transport until stopped."""

    def __init__(
        self,
        engine: Engine,
        transport: Transport,
        *,
        resolver: Resolver | None = None,
        trace: Trace | None = None,
        pace: bool = False,
        keylog: Callable[[str], None] | None = None,
        network: Network | None = None,
        expose: dict[int, int] | None = None,
    ) -> None:
        self.engine = engine
        self.network = network if network is not None and network.shaped else None
        self._radio: RadioLink | None = None  # the module's one radio link (shaped networks)
        self.keylog = keylog
        self.transport = transport
        self.resolver = resolver or Resolver()
        self.trace = trace or Trace.null()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._conns: dict[int, Carrier] = {}  # conn_seq -> connection or listener
        self._opening: dict[int, asyncio.Task[None]] = {}  # conn_seq -> open task
        self._closing: dict[int, Carrier] = {}  # closed gracefully, not yet gone
        self._incoming: dict[int, StreamConnection] = {}  # token -> accepted, not yet adopted
        self._tokens = 0
        self.expose = dict(expose or {})  # module port -> host port for listeners
        self._lookups: set[asyncio.Task[None]] = set()  # lookups, pings, NTP under way
        self._pinger = Pinger(self.trace.note)
        self._powered = False
        self._stopped = asyncio.Event()
        self.port = HostPort(engine, transport, self.trace, pace=pace, wake=self._pump)
        self._dcd: bool | None = None
        self.host_baud: int | None = None
        # injected network faults waiting for the next lookups and opens
        self._dns_failures = 0
        self._hangs = 0
        self._alerts: deque[TlsAlert] = deque()
        self._ports = LocalPorts()

    # ---- life cycle ------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.port.start(self._loop)
        if self.network is not None:
            self._radio = self.network.radio(self._loop)
        self.engine.advance(self._loop.time())
        await self.transport.start(self)

    async def stop(self) -> None:
        """Close every connection (close_notify, FIN), then the transport."""
        for task in [*self._opening.values(), *self._lookups]:
            task.cancel()
        for conn in list(self._conns.values()):
            if not conn.closing:
                conn.close(abort=False)
        conns = [*self._conns.values(), *self._closing.values()]
        waits = [c.lost for c in conns if not c.lost.done()]
        if waits:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.gather(*waits), 2.0)
        for conn in conns:
            conn.close(abort=True)  # what did not finish in time (a slow link, a stall)
        self._conns.clear()
        self._closing.clear()
        if self._timer is not None:
            self._timer.cancel()
        self.port.stop()
        await self.transport.close()
        self.trace.flush()
        self._stopped.set()

    async def __aenter__(self) -> Runner:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def wait_stopped(self) -> None:
        await self._stopped.wait()

    @property
    def connections(self) -> int:
        return len(self._conns)

    # ---- HostSink ------------------------------------------------------------------

    def host_connected(self) -> None:
        self.trace.note("host connected")
        self.port.host_attached()
        if not self._powered:
            self._powered = True
            self._tick()
            self.engine.power_on()
        self._pump()

    def host_data(self, data: bytes) -> None:
        self._tick()
        self.port.received(data)
        self._pump()

    def host_disconnected(self) -> None:
        self.trace.note("host disconnected")
        self.port.host_detached()
        self._tick()
        self.engine.host_disconnected()
        self._pump()

    def host_pause_writing(self) -> None:
        self.port.pause_writing()

    def host_resume_writing(self) -> None:
        self.port.resume_writing()
        self.port.kick()
        self._pump()

    def host_note(self, text: str) -> None:
        self.trace.note(text)
        log.warning("%s", text)

    def host_lines(self, *, dtr: bool, rts: bool) -> None:
        self.trace.note(f"host lines: DTR {'on' if dtr else 'off'}, RTS {'on' if rts else 'off'}")
        self._tick()
        self.engine.set_dtr(dtr)
        self._pump()

    def host_baudrate(self, rate: int) -> None:
        self.host_baud = rate
        if rate != self.engine.ipr:
            self.trace.note(
                f"host UART set to {rate} baud, the module runs at {self.engine.ipr} (AT+IPR): "
                "a real module would see garbage"
            )
        else:
            self.trace.note(f"host UART set to {rate} baud")

    # ---- engine plumbing -------------------------------------------------------------

    def _now(self) -> float:
        assert self._loop is not None
        return self._loop.time()

    def _tick(self) -> None:
        self.engine.advance(self._now())

    def _event(self, event: NetEvent) -> None:
        if isinstance(event, Received):
            self.trace.tls_received(event.client_id, event.data)
        if isinstance(event, ConnectFailed):
            conn = self._conns.pop(event.conn_seq, None)
            if conn is not None:
                conn.close(abort=True)
        self._tick()
        if isinstance(event, Received) and self.engine.faults.watches(event.client_id, "received"):
            self._received_in_parts(event)
        else:
            self.engine.network_event(event)
        self._pump()

    def _received_in_parts(self, event: Received) -> None:
        """Server data cut where a fault counts its bytes: the fault (a reset, a stall) acts
        before the bytes after that point, which are dropped if it cut the connection."""
        data = event.data
        while data:
            room = self.engine.faults.room(event.client_id) or len(data)
            part, data = data[:room], data[room:]
            self.engine.network_event(Received(event.client_id, event.conn_seq, part))
            if not data:
                return
            self._pump()
            conn = self._conns.get(event.conn_seq)
            if conn is None or conn.finished or conn.closing or conn.stalled:
                self.trace.note(
                    f"{len(data)} bytes from the server dropped: connection "
                    f"{event.client_id} was cut by a fault"
                )
                return

    def act(self, fn: Callable[[Engine], T]) -> T:
        """``fn(engine)`` from outside host or network input (a fault, a status query, the
        clock): the engine's clock is brought to now first, so a fault armed ``at 5s`` fires
        5 s from now, and what the engine produced is carried out after."""
        self._tick()
        try:
            return fn(self.engine)
        finally:
            self._pump()

    def _pump(self) -> None:
        """Engine output to the host as far as it takes it, intents carried out, until
        neither is left; then timers, lines and input flow control follow the engine."""
        engine = self.engine
        port = self.port
        while True:
            more = port.output()
            intents = engine.intents()
            for intent in intents:
                self._carry_out(intent)
            if not more and not intents:
                break
        self._schedule()
        self._sync_lines()
        port.update_flow()

    def _sync_lines(self) -> None:
        dcd = self.engine.dcd
        if dcd == self._dcd:
            return
        set_lines = getattr(self.transport, "set_modem_lines", None)
        if set_lines is None:
            self._dcd = dcd  # no lines to set (pty, TCP)
            return
        self._dcd = dcd
        self.trace.note(f"DCD {'on' if dcd else 'off'}")
        set_lines(cd=dcd)

    def _schedule(self) -> None:
        deadline = self.engine.next_deadline()
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = deadline
        if deadline is not None and self._loop is not None:
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self._tick()
        self._pump()

    def _carry_out(self, intent: Intent) -> None:
        if isinstance(intent, Note):
            self.trace.note(intent.text)
        elif isinstance(intent, Connect):
            assert self._loop is not None
            task = self._loop.create_task(self._open(intent))
            self._opening[intent.conn_seq] = task
            task.add_done_callback(self._opened)
        elif isinstance(intent, Send):
            conn = self._conns.get(intent.conn_seq)
            if isinstance(conn, StreamConnection):
                self.trace.tls_sent(intent.client_id, intent.data)
                conn.send(intent.data)
            elif isinstance(conn, DatagramConnection):
                self.trace.tls_sent(intent.client_id, intent.data)
                conn.send(intent.data, intent.ip, intent.port)
        elif isinstance(intent, Listen):
            assert self._loop is not None
            task = self._loop.create_task(self._listen(intent))
            self._opening[intent.conn_seq] = task
            task.add_done_callback(self._opened)
        elif isinstance(intent, Accept):
            incoming = self._incoming.pop(intent.token, None)
            if incoming is not None:
                incoming.adopt(intent.client_id, intent.conn_seq)
                self._conns[intent.conn_seq] = incoming
        elif isinstance(intent, Refuse):
            refused = self._incoming.pop(intent.token, None)
            if refused is not None and refused.transport is not None:
                refused.transport.abort()
        elif isinstance(intent, Close):
            self._close(intent)
        elif isinstance(intent, Resolve):
            self._task(self._lookup(intent))
        elif isinstance(intent, Ping):
            self._task(self._ping(intent))
        elif isinstance(intent, NtpQuery):
            self._task(self._ntp(intent))
        elif isinstance(intent, SetReading):
            conn = self._conns.get(intent.conn_seq)
            if conn is not None:
                conn.set_reading(intent.reading)
        elif isinstance(intent, NetFault):
            self._network_fault(intent)

    def _network_fault(self, intent: NetFault) -> None:
        """An injected network fault: the next lookups or opens fail, or a connection breaks."""
        fault = intent.fault
        if isinstance(fault, DnsFailure):
            self._dns_failures += fault.lookups
        elif isinstance(fault, HandshakeTimeout):
            self._hangs += fault.opens
        elif isinstance(fault, TlsAlert):
            self._alerts.extend([fault] * fault.opens)
        else:
            conn = self._conns.get(intent.conn_seq)
            if conn is None or conn.finished or conn.closing:
                self.trace.note(f"fault {fault}: nothing done, the connection is closed already")
            elif isinstance(conn, DatagramConnection):
                if isinstance(fault, ServerStall):
                    conn.fault_stall()
                else:
                    self.trace.note(f"fault {fault}: nothing done, UDP has no connection to end")
            elif not isinstance(conn, StreamConnection):
                self.trace.note(f"fault {fault}: nothing done for a listener")
            elif isinstance(fault, ServerReset):
                conn.fault_reset()
            elif isinstance(fault, ServerFin):
                conn.fault_fin()
            else:
                conn.fault_stall()

    def _opened(self, task: asyncio.Task[None]) -> None:
        for seq, t in list(self._opening.items()):
            if t is task:
                del self._opening[seq]

    def _close(self, intent: Close) -> None:
        task = self._opening.pop(intent.conn_seq, None)
        if task is not None:
            task.cancel()
        conn = self._conns.get(intent.conn_seq)
        if conn is not None and conn.stalled and not intent.abort and not conn.closing:
            # close_notify and FIN do not get through: the module's close timeout aborts it
            conn.closing = True
            self.trace.note(f"connection {intent.client_id} is stalled: the close cannot finish")
            return
        seq = intent.conn_seq
        conn = self._conns.pop(seq, None) or self._closing.pop(seq, None)
        if conn is None or conn.transport is None or conn.lost.done():
            assert self._loop is not None
            self._loop.call_soon(self._event, Closed(intent.client_id, seq))
            if conn is not None:
                conn.close(abort=True)
            return
        if not intent.abort:
            # a graceful close can take a while (a slow uplink): the engine's close timeout
            # may still abort it
            self._closing[seq] = conn
            conn.lost.add_done_callback(lambda _: self._closing.pop(seq, None))
        conn.close(abort=intent.abort)

    async def _resolve(self, host: str, key: str) -> str:
        """The resolver, unless a dns-failure fault fails this lookup (IP addresses are not
        looked up; ``--resolve`` overrides stand for the DNS server and fail too)."""
        if _is_ip(host):
            return await self.resolver.resolve(host)
        if self.network is not None:
            await asyncio.sleep(self.network.round_trip(key))  # the query and its answer
        if self._dns_failures:
            self._dns_failures -= 1
            raise ResolveError(f"cannot resolve {host!r}: DNS failure (fault dns-failure)")
        return await self.resolver.resolve(host)

    def _task(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """A lookup, ping or NTP exchange under way (cancelled when the runner stops)."""
        assert self._loop is not None
        task = self._loop.create_task(coroutine)
        self._lookups.add(task)
        task.add_done_callback(self._lookups.discard)

    async def _ping(self, intent: Ping) -> None:
        if self.network is not None:
            await asyncio.sleep(self.network.round_trip(f"ping/{intent.request}/{intent.seq}"))
        answer = await self._pinger.echo(intent.address, intent.seq, intent.size, intent.timeout)
        if answer is not None:
            rtt, ttl = answer
            self._event(Pinged(intent.request, intent.seq, rtt, ttl, intent.size))

    async def _ntp(self, intent: NtpQuery) -> None:
        if self.network is not None:
            await asyncio.sleep(self.network.round_trip(f"ntp/{intent.request}"))
        try:
            now = await sntp_query(intent.address, intent.port, intent.timeout)
        except OSError as exc:
            self.trace.note(f"QNTP: {intent.address}:{intent.port}: {exc}")
            return  # the module's own timeout answers
        if now is not None:
            self._event(NtpAnswer(intent.request, now))

    async def _lookup(self, intent: Resolve) -> None:
        try:
            address = await self._resolve(intent.host, f"dnsgip/{intent.request}")
        except ResolveError as exc:
            self._event(Resolved(intent.request, code=QiError.DNS_PARSE, reason=str(exc)))
            return
        self._event(Resolved(intent.request, (address,)))

    async def _open(self, intent: Connect) -> None:
        """Resolve, then connect: TCP with the TLS client or plain, or a UDP socket; the
        results come back as events."""
        seq, cid = intent.conn_seq, intent.client_id
        session: Session
        if intent.tls is not None:
            # the TLS backends (and cryptography.x509) load with the first TLS connection
            from ..tls.errors import TlsConfigError
            from ..tls.session import TlsClientSession

            try:
                session = TlsClientSession(
                    intent.tls, intent.host if intent.tls.sni else None, keylog=self.keylog
                )
            except TlsConfigError as exc:
                self._event(ConnectFailed(cid, seq, exc.code, exc.reason))
                return
            self.trace.note(_tls_note(intent, session.note))
        else:
            session = PlainSession()
            self.trace.note(
                f"{_open_name(cid)}: {intent.protocol.upper()} {intent.host}:{intent.port}"
            )
        try:
            address = await self._resolve(intent.host, f"dns/{seq}")
        except ResolveError as exc:
            self._event(ConnectFailed(cid, seq, QiError.DNS_PARSE, str(exc)))
            return
        assert self._loop is not None
        if intent.protocol == "udp":
            await self._open_udp(intent, address)
            return

        def factory() -> StreamConnection:
            # faults for "the next open" are taken once TCP is up and a handshake would start
            hang = self._hangs > 0 and intent.tls is not None
            alert = None
            if hang:
                self._hangs -= 1
                self.trace.note(f"QSSLOPEN {cid}: the handshake will never complete (fault)")
            elif self._alerts and intent.tls is not None:
                alert = self._alerts.popleft()
            conn = StreamConnection(
                cid,
                seq,
                session,
                self._event,
                hang=hang,
                alert=alert,
                network=self.network,
                radio=self._radio,
                local_port=self._ports.take(),
            )
            self._conns[seq] = conn
            return conn

        try:
            if self.network is not None:
                await asyncio.sleep(self.network.round_trip(f"connect/{seq}"))  # SYN, SYN-ACK
            await self._loop.create_connection(factory, address, intent.port)
        except OSError as exc:
            self._conns.pop(seq, None)
            self._event(
                ConnectFailed(
                    cid, seq, QiError.CONNECT, f"TCP connect to {address}:{intent.port}: {exc}"
                )
            )
        except asyncio.CancelledError:
            conn = self._conns.pop(seq, None)
            if conn is not None:
                conn.close(abort=True)
            raise

    def _datagram(
        self, cid: int, seq: int, *, service: bool, local_port: int
    ) -> DatagramConnection:
        conn = DatagramConnection(
            cid,
            seq,
            self._event,
            self.trace.note,
            service=service,
            network=self.network,
            radio=self._radio,
            local_port=local_port,
        )
        self._conns[seq] = conn
        return conn

    async def _open_udp(self, intent: Connect, address: str) -> None:
        """A UDP client: a socket bound to the one peer it talks to."""
        seq, cid = intent.conn_seq, intent.client_id
        assert self._loop is not None
        local_port = self._ports.take()
        try:
            await self._loop.create_datagram_endpoint(
                lambda: self._datagram(cid, seq, service=False, local_port=local_port),
                remote_addr=(address, intent.port),
            )
        except OSError as exc:
            self._conns.pop(seq, None)
            reason = f"UDP socket to {address}:{intent.port}: {exc}"
            self._event(ConnectFailed(cid, seq, QiError.CREATE_SOCKET, reason))

    async def _listen(self, intent: Listen) -> None:
        """A TCP listener or UDP service on a loopback port of this machine (the one
        ``expose`` maps the module's port to, else any free one)."""
        seq, cid = intent.conn_seq, intent.client_id
        assert self._loop is not None
        host_port = self.expose.get(intent.local_port, 0)
        try:
            if intent.protocol == "udp":
                await self._loop.create_datagram_endpoint(
                    lambda: self._datagram(cid, seq, service=True, local_port=intent.local_port),
                    local_addr=("127.0.0.1", host_port),
                )
                return
            listener = TcpListener(cid, seq, self._event, self._register_incoming)
            self._conns[seq] = listener
            await listener.start(host_port)
        except OSError as exc:
            self._conns.pop(seq, None)
            reason = f"cannot listen on 127.0.0.1:{host_port} for port {intent.local_port}: {exc}"
            self._event(ConnectFailed(cid, seq, QiError.BIND, reason))

    def _register_incoming(self, conn: StreamConnection) -> int:
        self._tokens += 1
        self._incoming[self._tokens] = conn
        return self._tokens


def _tls_note(intent: Connect, library: str) -> str:
    """What the trace says of an SSL open: the server and the offer."""
    tls = intent.tls
    assert tls is not None
    suites = ", ".join(suite_name(c) for c in tls.ciphersuites[:3])
    more = "" if len(tls.ciphersuites) <= 3 else f" (+{len(tls.ciphersuites) - 3})"
    opener = _open_name(intent.client_id, "QSSLOPEN")
    return (
        f"{opener}: {intent.host}:{intent.port} sslversion "
        f"{tls.sslversion}, suites {suites}{more}, seclevel {tls.seclevel}; {library}"
    )


def _open_name(client_id: int, socket_command: str = "QIOPEN") -> str:
    """How notes name an open: ``HTTP`` for the HTTP client's connection, ``QMTOPEN 0`` for
    MQTT client 0's link, else the socket's (``QIOPEN 3``)."""
    if client_id == HTTP_CLIENT:
        return "HTTP"
    if client_id >= MQTT_LINK_BASE:
        return f"QMTOPEN {client_id - MQTT_LINK_BASE}"
    return f"{socket_command} {client_id}"


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
