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
import socket
import struct
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import TypeVar

from ..engine import (
    Close,
    Closed,
    Connect,
    Connected,
    ConnectFailed,
    Engine,
    Intent,
    NetEvent,
    NetFault,
    Note,
    PeerClosed,
    Received,
    Resolve,
    Resolved,
    Send,
    Sent,
    SetReading,
    TcpConnected,
)
from ..engine.codes import QiError
from ..engine.faults import (
    DnsFailure,
    HandshakeTimeout,
    ServerFin,
    ServerReset,
    TlsAlert,
)
from ..network import Flow, Network, RadioLink
from ..tls import TlsClientSession, TlsConfigError, suite_name
from .port import HostPort
from .resolve import ResolveError, Resolver
from .trace import Trace
from .transports.base import Transport

log = logging.getLogger("bg96")
SOCKET_BUFFER = 1 << 17
"""Bytes of kernel buffer each way on a connection's socket: a module's TCP window, so the
host machine holds no more for it than a module would."""
EventSink = Callable[[NetEvent], None]
T = TypeVar("T")


class _TlsConnection(asyncio.Protocol):
    """One TCP connection carrying a TLS client session for a client ID.

    Injected network faults act here: ``hang`` (the handshake never starts: nothing is sent,
    nothing is read), ``alert`` (the server's first answer is that fatal alert),
    ``fault_reset``, ``fault_fin`` and ``fault_stall``.

    With a shaped network (``radio``), the TLS bytes pass through the module's radio link, an
    uplink and a downlink ``Flow`` of it: they reach the server, and the TLS session, when the
    link would have carried them (sharing it with the module's other connections); a FIN or
    RST from the server arrives after the data ahead of it.
    """

    def __init__(
        self,
        intent: Connect,
        session: TlsClientSession,
        sink: EventSink,
        *,
        hang: bool = False,
        alert: TlsAlert | None = None,
        network: Network | None = None,
        radio: RadioLink | None = None,
        local_port: int = 0,
    ) -> None:
        self.client_id = intent.client_id
        self.local_port = local_port  # the module's own, not the host's (see LocalPorts)
        self.conn_seq = intent.conn_seq
        self.session = session
        self.sink = sink
        self.transport: asyncio.Transport | None = None
        self.established = False
        self.finished = False  # a failure or close has been reported
        self.closing = False
        self.paused = False
        self.hang = hang
        self.alert = alert
        self.stalled = False  # no byte passes either way any more
        self.fin_faulted = False  # a server-fin fault: nothing more is read
        self.unreported_sent = 0  # plaintext bytes written (or carried), not yet reported Sent
        self._batched = 0  # plaintext bytes encrypted this loop iteration, not yet written
        self._records: list[bytes] = []
        self._flush_scheduled = False
        loop = asyncio.get_running_loop()
        self.lost = loop.create_future()
        self.up: Flow | None = None
        self.down: Flow | None = None
        self._up_batches: deque[tuple[int, int]] = deque()  # (TLS bytes up to here, plaintext)
        if network is not None and radio is not None:
            seq = intent.conn_seq
            self.up = radio.up.flow(seq, network.flow_rng(seq, "up"), self._write_shaped)
            self.down = radio.down.flow(seq, network.flow_rng(seq, "down"), self._arrived)

    # asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                # a module's TCP window, not a server's: the host kernel holds no more for it
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER)
        peer = transport.get_extra_info("peername") or ("", 0)
        self.sink(TcpConnected(self.client_id, self.conn_seq, self.local_port, str(peer[0])))
        if self.hang:
            transport.pause_reading()
            return
        self._write(self.session.start())

    def data_received(self, data: bytes) -> None:
        if self.down is not None:
            self.down.push(data)
        else:
            self._arrived(data)

    def _arrived(self, data: bytes) -> None:
        """Bytes from the server, when the link has carried them."""
        if self.alert is not None and not (self.finished or self.closing):
            self._fail_with_alert(self.alert)
            return
        self._step(data)

    def eof_received(self) -> bool | None:
        if self.hang or self.stalled:
            return True  # the FIN does not get through either
        if self.down is not None and len(self.down):
            self.down.when_drained(self._eof_arrived)
            return True  # the FIN arrives after the data ahead of it; we close then
        self._step(b"")
        if self.up is not None and len(self.up):
            self._close_when_sent()
            return True  # what is on its way up still gets there, as asyncio's close does
        return None

    def _eof_arrived(self) -> None:
        self._step(b"")
        self._close_when_sent()

    def _close_when_sent(self) -> None:
        """Close the socket once the uplink has carried what it holds."""
        transport = self.transport
        if transport is None:
            return
        if self.up is not None and len(self.up):
            self.up.when_drained(transport.close)
        else:
            transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)
        if self.down is not None and len(self.down) and not self.closing:
            self.down.when_drained(lambda: self._lost(exc))  # the data ahead arrives first
            return
        self._lost(exc)

    def _lost(self, exc: Exception | None) -> None:
        for pipe in (self.up, self.down):
            if pipe is not None:
                pipe.close()
        if self.closing:
            self.sink(Closed(self.client_id, self.conn_seq))
            return
        if self.hang or self.stalled:
            self.finished = True  # nothing gets through, not even this
            return
        if not self.finished:
            self.finished = True
            reason = f"connection lost: {exc}" if exc else "connection closed by the server"
            if self.established:
                self.sink(PeerClosed(self.client_id, self.conn_seq, reason))
            else:
                self.sink(
                    ConnectFailed(
                        self.client_id,
                        self.conn_seq,
                        QiError.CONNECT,
                        reason + " during the TLS handshake",
                    )
                )

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self._report_sent()

    # runner side

    def _step(self, data: bytes) -> None:
        if self.finished or self.closing or self.stalled or self.hang:
            return
        step = self.session.receive(data)
        if step.outgoing and self.transport is not None:
            self._write(step.outgoing)
        if step.failure is not None:
            self.finished = True
            if self.established:
                self.sink(PeerClosed(self.client_id, self.conn_seq, step.failure.reason))
            else:
                self.sink(
                    ConnectFailed(
                        self.client_id, self.conn_seq, step.failure.code, step.failure.reason
                    )
                )
            if self.transport is not None:
                self.transport.abort()
            return
        if step.handshake_completed:
            self.established = True
            self.sink(
                Connected(self.client_id, self.conn_seq, self.session.version, self.session.cipher)
            )
        if step.app_data:
            self.sink(Received(self.client_id, self.conn_seq, step.app_data))
        if step.peer_closed:
            self.finished = True
            self.sink(
                PeerClosed(self.client_id, self.conn_seq, step.close_reason or "closed by server")
            )

    def send(self, data: bytes) -> None:
        """Encrypt ``data`` as its own TLS record(s); the socket write waits for the batch."""
        if self.transport is None or self.finished or self.closing or self.stalled:
            return  # stalled: never sent, never reported Sent: the module's buffer fills
        self._records.append(self.session.send(data))
        self._batched += len(data)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        """One socket write for every record of this loop iteration, then one Sent."""
        self._flush_scheduled = False
        records, self._records = self._records, []
        n, self._batched = self._batched, 0
        if self.transport is None or self.transport.is_closing() or not records:
            return
        data = b"".join(records)
        if self.up is not None:
            # Sent once the uplink has carried it
            self._up_batches.append((self.up.pushed + len(data), n))
            self.up.push(data)
            return
        self.transport.write(data)
        self.unreported_sent += n
        if not self.paused:
            self._report_sent()

    def _write(self, data: bytes) -> None:
        """TLS bytes towards the server (through the uplink when the network is shaped)."""
        if self.up is not None:
            self.up.push(data)
        elif self.transport is not None:
            self.transport.write(data)

    def _write_shaped(self, data: bytes) -> None:
        """The uplink has carried ``data``: the server has it; report what the host sent."""
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(data)
        assert self.up is not None
        done = self.up.delivered
        n = 0
        while self._up_batches and self._up_batches[0][0] <= done:
            n += self._up_batches.popleft()[1]
        if n:
            self.unreported_sent += n
            if not self.paused:
                self._report_sent()

    def _report_sent(self) -> None:
        if self.unreported_sent:
            n, self.unreported_sent = self.unreported_sent, 0
            self.sink(Sent(self.client_id, self.conn_seq, n))

    def close(self, abort: bool) -> None:
        if not abort:
            self._flush()  # what the host sent before the close goes first
        self.closing = True
        if self.transport is None:
            return
        if abort:
            for pipe in (self.up, self.down):
                if pipe is not None:
                    pipe.close()
            self.transport.abort()
            return
        with contextlib.suppress(Exception):
            self._write(self.session.close())
        self._close_when_sent()  # close_notify and FIN after the data

    def set_reading(self, reading: bool) -> None:
        if self.stalled:
            return
        if self.down is not None:  # what is on the way waits too, even after the peer closed
            if reading:
                self.down.resume()
            else:
                self.down.pause()
        if self.transport is None or self.transport.is_closing():
            return
        if reading:
            if self.fin_faulted:
                return  # the server-fin fault stopped reading for good
            self.transport.resume_reading()
        else:
            self.transport.pause_reading()

    # injected faults

    def _fail_with_alert(self, alert: TlsAlert) -> None:
        self.finished = True
        self.sink(
            ConnectFailed(
                self.client_id,
                self.conn_seq,
                QiError.CONNECT,
                f"the server sent a fatal {alert.alert} alert ({alert.code}) (fault tls-alert)",
            )
        )
        if self.transport is not None:
            self.transport.abort()

    def _report_later(self, reason: str) -> None:
        self.finished = True
        asyncio.get_running_loop().call_soon(
            self.sink, PeerClosed(self.client_id, self.conn_seq, reason)
        )

    def fault_reset(self) -> None:
        """The server resets the connection: what the host sent goes first, then a RST."""
        self._flush()
        for pipe in (self.up, self.down):
            if pipe is not None:
                pipe.close()  # a reset drops what is on the way
        self._report_later("connection reset by the server (fault server-reset)")
        if self.transport is not None:
            sock = self.transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):  # close with a RST, not a FIN
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.transport.abort()

    def fault_fin(self) -> None:
        """The server closes (FIN, no close_notify): nothing more is read; our side closes
        when the host closes the socket."""
        self._flush()
        self.fin_faulted = True
        if self.down is not None and len(self.down) and not self.stalled:
            self.down.when_drained(self._fin_arrived)  # the FIN comes after the data ahead
        else:
            self._report_later("the server closed the connection: TCP FIN (fault server-fin)")
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()

    def _fin_arrived(self) -> None:
        if self.finished:
            return
        self.finished = True
        self.sink(
            PeerClosed(
                self.client_id,
                self.conn_seq,
                "the server closed the connection: TCP FIN (fault server-fin)",
            )
        )

    def fault_stall(self) -> None:
        """The connection stays open and carries nothing more, either way (a reset or FIN
        fault may still end it)."""
        self._flush()
        self.stalled = True
        for pipe in (self.up, self.down):
            if pipe is not None:
                pipe.pause()  # what is on the way stays there
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()


class LocalPorts:
    """The module's local TCP ports (QSSLSTATE's <local_port>): its own, from the manual's
    example port upwards through the dynamic range, so they do not depend on the host machine
    and a run repeats exactly."""

    FIRST = 65344  # the SSL manual's QSSLSTATE example
    LOW, HIGH = 49152, 65535  # RFC 6335 dynamic ports

    def __init__(self) -> None:
        self._next = self.FIRST

    def take(self) -> int:
        port = self._next
        self._next = port + 1 if port < self.HIGH else self.LOW
        return port


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
        self._conns: dict[int, _TlsConnection] = {}  # conn_seq -> connection
        self._opening: dict[int, asyncio.Task[None]] = {}  # conn_seq -> open task
        self._closing: dict[int, _TlsConnection] = {}  # closed gracefully, not yet gone
        self._lookups: set[asyncio.Task[None]] = set()  # AT+QIDNSGIP lookups under way
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
            moved = port.output()
            intents = engine.intents()
            for intent in intents:
                self._carry_out(intent)
            if not moved and not intents:
                break
        self._schedule()
        self._sync_lines()
        port.update_flow()

    def _sync_lines(self) -> None:
        set_lines = getattr(self.transport, "set_modem_lines", None)
        dcd = self.engine.dcd
        if set_lines is None or dcd == self._dcd:
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
            if conn is not None:
                self.trace.tls_sent(intent.client_id, intent.data)
                conn.send(intent.data)
        elif isinstance(intent, Close):
            self._close(intent)
        elif isinstance(intent, Resolve):
            assert self._loop is not None
            lookup = self._loop.create_task(self._lookup(intent))
            self._lookups.add(lookup)
            lookup.add_done_callback(self._lookups.discard)
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

    async def _lookup(self, intent: Resolve) -> None:
        try:
            address = await self._resolve(intent.host, f"dnsgip/{intent.request}")
        except ResolveError as exc:
            self._event(Resolved(intent.request, code=QiError.DNS_PARSE, reason=str(exc)))
            return
        self._event(Resolved(intent.request, (address,)))

    async def _open(self, intent: Connect) -> None:
        """Resolve, connect TCP and start the TLS client; results come back as events."""
        seq, cid = intent.conn_seq, intent.client_id
        try:
            session = TlsClientSession(
                intent.tls, intent.host if intent.tls.sni else None, keylog=self.keylog
            )
        except TlsConfigError as exc:
            self._event(ConnectFailed(cid, seq, exc.code, exc.reason))
            return
        suites = ", ".join(suite_name(c) for c in intent.tls.ciphersuites[:3])
        more = (
            "" if len(intent.tls.ciphersuites) <= 3 else f" (+{len(intent.tls.ciphersuites) - 3})"
        )
        self.trace.note(
            f"QSSLOPEN {cid}: {intent.host}:{intent.port} sslversion {intent.tls.sslversion}, "
            f"suites {suites}{more}, seclevel {intent.tls.seclevel}; {session.note}"
        )
        try:
            address = await self._resolve(intent.host, f"dns/{seq}")
        except ResolveError as exc:
            self._event(ConnectFailed(cid, seq, QiError.DNS_PARSE, str(exc)))
            return
        assert self._loop is not None

        def factory() -> _TlsConnection:
            # faults for "the next open" are taken once TCP is up and a handshake would start
            hang = self._hangs > 0
            alert = None
            if hang:
                self._hangs -= 1
                self.trace.note(f"QSSLOPEN {cid}: the handshake will never complete (fault)")
            elif self._alerts:
                alert = self._alerts.popleft()
            conn = _TlsConnection(
                intent,
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


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
