"""The module's connections as asyncio protocols: what carries a socket's bytes between the
engine's intents and a real socket.

``StreamConnection`` is one TCP connection, with a TLS client session (SSL sockets) or the
plain one (TCP sockets); both honour flow control both ways and take the module's radio link
when the network is shaped. Network faults act on them here.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeAlias, cast

from ..engine import (
    Closed,
    Connected,
    ConnectFailed,
    Incoming,
    Listening,
    NetEvent,
    PeerClosed,
    Received,
    Sent,
    TcpConnected,
)
from ..engine.codes import QiError
from ..engine.faults import TlsAlert
from ..network import Flow, Network, RadioLink
from ..tls.errors import TlsStep

if TYPE_CHECKING:
    from ..tls.session import TlsClientSession

SOCKET_BUFFER = 1 << 17
"""Bytes of kernel buffer each way on a connection's socket once the module holds the server
back: a module's TCP window, so the host machine holds no more for it than a module would."""
WINDOW_DELAY = 0.05
"""Seconds a connection stays paused (the module's buffer full: a host that does not read)
before its receive buffer is fixed at ``SOCKET_BUFFER``. Until then the kernel tunes it: a
fixed small one from the start cost the module 20-50% more CPU per MiB in transparent mode
(``bench/transparent.py``), the kernel collapsing and pruning its receive queue."""
TCP_NOTSENT_LOWAT = getattr(socket, "TCP_NOTSENT_LOWAT", 25)  # Linux's number
FLUSH_BUDGET = 1 << 20  # bytes one connection writes in one loop iteration before yielding
EventSink = Callable[[NetEvent], None]


class PlainSession:
    """The session of a TCP connection without TLS: bytes pass as they are."""

    immediate = True  # established as soon as TCP is
    note = "plain TCP"
    version = ""
    cipher = ""

    def start(self) -> bytes:
        return b""

    def receive(self, data: bytes) -> TlsStep:
        if not data:
            return TlsStep(peer_closed=True, close_reason="the server closed the connection (FIN)")
        return TlsStep(app_data=data)

    def send(self, data: bytes) -> bytes:
        return data

    def close(self) -> bytes:
        return b""


Session: TypeAlias = "TlsClientSession | PlainSession"


class StreamConnection(asyncio.Protocol):
    """One TCP connection for a client ID, carrying a TLS client session (SSL sockets) or the
    plain one (TCP sockets, and connections a listener accepted).

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
        client_id: int,
        conn_seq: int,
        session: Session,
        sink: EventSink,
        *,
        hang: bool = False,
        alert: TlsAlert | None = None,
        network: Network | None = None,
        radio: RadioLink | None = None,
        local_port: int = 0,
        on_incoming: Callable[[StreamConnection], None] | None = None,
    ) -> None:
        self.client_id = client_id
        self.local_port = local_port  # the module's own, not the host's (see LocalPorts)
        self.conn_seq = conn_seq  # -1: an incoming connection not adopted yet
        self.on_incoming = on_incoming
        self.session = session
        self.sink = sink
        self.transport: asyncio.Transport | None = None
        self.established = False
        self.finished = False  # a failure or close has been reported
        self.closing = False
        self.paused = False
        self._window_fixed = False  # the receive buffer is SOCKET_BUFFER (see WINDOW_DELAY)
        self._window_timer: asyncio.TimerHandle | None = None
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
        self._network, self._radio = network, radio
        if conn_seq >= 0:
            self._take_link()

    def _take_link(self) -> None:
        """The connection's flows of the module's radio link (a shaped network)."""
        network, radio = self._network, self._radio
        if network is not None and radio is not None:
            seq = self.conn_seq
            self.up = radio.up.flow(seq, network.flow_rng(seq, "up"), self._write_shaped)
            self.down = radio.down.flow(seq, network.flow_rng(seq, "down"), self._arrived)

    def adopt(self, client_id: int, conn_seq: int) -> None:
        """An incoming connection is the module's now: data flows."""
        self.client_id, self.conn_seq = client_id, conn_seq
        self.established = True
        self._take_link()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    @property
    def remote(self) -> tuple[str, int]:
        peer = self.transport.get_extra_info("peername") if self.transport else None
        return (str(peer[0]), int(peer[1])) if peer else ("", 0)

    # asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream transport (asyncio's, or uvloop's, which is no asyncio.Transport subclass)
        self.transport = cast(asyncio.Transport, transport)
        transport = self.transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                # no more unsent towards the server than a module's window (a fixed SO_SNDBUF
                # would cost kernel time on every write: bench/server_cpu.py); the receive
                # side gets its window when the module holds the server back (_fix_window)
                sock.setsockopt(socket.IPPROTO_TCP, TCP_NOTSENT_LOWAT, SOCKET_BUFFER)
        if self.on_incoming is not None:
            transport.pause_reading()  # nothing is read until the module takes it
            self.on_incoming(self)
            return
        peer = transport.get_extra_info("peername") or ("", 0)
        self.sink(TcpConnected(self.client_id, self.conn_seq, self.local_port, str(peer[0])))
        if self.hang:
            transport.pause_reading()
            return
        if self.session.immediate:
            self.established = True
            self.sink(Connected(self.client_id, self.conn_seq))
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
        if self._window_timer is not None:
            self._window_timer.cancel()
            self._window_timer = None
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
        """One socket write for every record of this loop iteration, then one Sent. The Sent
        frees the module's send buffer, and what the host had waiting comes back here at once
        (up to ``FLUSH_BUDGET`` bytes in all) instead of a loop iteration later."""
        budget = FLUSH_BUDGET
        self._flush_scheduled = True  # sends made by the Sent below join this loop
        try:
            while self._records and budget > 0:
                budget -= self._flush_once()
        finally:
            self._flush_scheduled = False
        if self._records:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush_once(self) -> int:
        records, self._records = self._records, []
        n, self._batched = self._batched, 0
        if self.transport is None or self.transport.is_closing() or not records:
            return 0
        data = b"".join(records)
        if self.up is not None:
            # Sent once the uplink has carried it
            self._up_batches.append((self.up.pushed + len(data), n))
            self.up.push(data)
            return len(data)
        self.transport.write(data)
        self.unreported_sent += n
        if not self.paused:
            self._report_sent()
        return len(data)

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
            if self._window_timer is not None:
                self._window_timer.cancel()
                self._window_timer = None
            if self.fin_faulted:
                return  # the server-fin fault stopped reading for good
            self.transport.resume_reading()
        else:
            self.transport.pause_reading()
            if not self._window_fixed and self._window_timer is None:
                loop = asyncio.get_running_loop()
                self._window_timer = loop.call_later(WINDOW_DELAY, self._fix_window)

    def _fix_window(self) -> None:
        """Paused for ``WINDOW_DELAY``: the kernel holds no more for the module than its TCP
        window (what the kernel already took stays; no more is advertised)."""
        self._window_timer = None
        self._window_fixed = True
        sock = self.transport.get_extra_info("socket") if self.transport else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER)

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


class DatagramConnection(asyncio.DatagramProtocol):
    """A UDP socket for a client ID: a client bound to one peer (``"UDP"``) or a service on a
    local port that talks to anyone (``"UDP SERVICE"``).

    UDP has no flow control: while the module's receive buffer is full (``set_reading``
    False), datagrams that arrive are dropped, counted and noted, as a real stack drops them.
    Every datagram sent is reported ``Sent`` at once (nothing acknowledges it).
    """

    def __init__(
        self,
        client_id: int,
        conn_seq: int,
        sink: EventSink,
        note: Callable[[str], None],
        *,
        service: bool,
        network: Network | None = None,
        radio: RadioLink | None = None,
        local_port: int = 0,
    ) -> None:
        self.client_id = client_id
        self.conn_seq = conn_seq
        self.sink = sink
        self.note = note
        self.service = service
        self.local_port = local_port
        self.transport: asyncio.DatagramTransport | None = None
        self.reading = True
        self.closing = False
        self.finished = False
        self.stalled = False
        self.dropped = 0  # datagrams dropped while the receive buffer was full
        self.lost = asyncio.get_running_loop().create_future()
        self.up: Flow | None = None
        self.down: Flow | None = None
        if network is not None and radio is not None:
            rng_up, rng_down = network.flow_rng(conn_seq, "up"), network.flow_rng(conn_seq, "down")
            self.up = radio.up.datagram_flow(conn_seq, rng_up, self._carried)
            self.down = radio.down.datagram_flow(conn_seq, rng_down, self._arrived)

    # asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio's selector transport for datagrams is not a DatagramTransport subclass
        self.transport = cast(asyncio.DatagramTransport, transport)
        if self.service:
            host_port = transport.get_extra_info("sockname")[1]
            self.sink(Listening(self.client_id, self.conn_seq, host_port))
            return
        peer = transport.get_extra_info("peername") or ("", 0)
        self.sink(TcpConnected(self.client_id, self.conn_seq, self.local_port, str(peer[0])))
        self.sink(Connected(self.client_id, self.conn_seq))

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        sender = (str(addr[0]), int(addr[1]))
        if self.down is not None:
            self.down.push(data, sender)
        else:
            self._arrived(data, sender)

    def error_received(self, exc: Exception) -> None:
        self.note(f"UDP {self.client_id}: {exc} (nothing reported: UDP does not say)")

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)
        for flow in (self.up, self.down):
            if flow is not None:
                flow.close()
        if self.closing:
            self.sink(Closed(self.client_id, self.conn_seq))

    # the runner's side

    def _arrived(self, data: bytes, tag: object) -> None:
        """A datagram from the network, when the link has carried it."""
        if self.closing or self.stalled:
            return
        if not self.reading:
            self.dropped += 1
            self.note(
                f"UDP {self.client_id}: a datagram of {len(data)} bytes dropped, the receive "
                "buffer is full (UDP has no flow control)"
            )
            return
        ip, port = tag if isinstance(tag, tuple) else ("", 0)
        self.sink(Received(self.client_id, self.conn_seq, data, ip, port))

    def send(self, data: bytes, ip: str = "", port: int = 0) -> None:
        """One datagram: to the peer, or (a service) to ``ip``:``port``."""
        if self.transport is None or self.closing or self.stalled:
            return
        if self.up is not None:
            self.up.push(data, (ip, port))
        else:
            self._carried(data, (ip, port))

    def _carried(self, data: bytes, tag: object) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        ip, port = tag if isinstance(tag, tuple) else ("", 0)
        with contextlib.suppress(OSError):  # UDP: a send that fails says nothing
            transport.sendto(data, (ip, port) if self.service else None)
        self.sink(Sent(self.client_id, self.conn_seq, len(data)))

    def set_reading(self, reading: bool) -> None:
        self.reading = reading

    def close(self, abort: bool = False) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.close()

    def fault_stall(self) -> None:
        """Nothing passes any more, either way."""
        self.stalled = True


class TcpListener:
    """A TCP LISTENER: an asyncio server on a loopback port of this machine; each client it
    accepts waits (unread) as an ``Incoming`` until the module adopts or refuses it."""

    def __init__(
        self,
        client_id: int,
        conn_seq: int,
        sink: EventSink,
        incoming: Callable[[StreamConnection], int],
    ) -> None:
        self.client_id = client_id
        self.conn_seq = conn_seq
        self.sink = sink
        self._incoming = incoming  # registers a connection, returns its token
        self.server: asyncio.Server | None = None
        self.closing = False
        self.finished = False
        self.stalled = False
        self.lost = asyncio.get_running_loop().create_future()

    @property
    def transport(self) -> asyncio.Server | None:
        return self.server

    async def start(self, host_port: int) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(self._accepted, "127.0.0.1", host_port)
        port = self.server.sockets[0].getsockname()[1]
        self.sink(Listening(self.client_id, self.conn_seq, port))

    def _accepted(self) -> StreamConnection:
        return StreamConnection(-1, -1, PlainSession(), self.sink, on_incoming=self._arrived)

    def _arrived(self, conn: StreamConnection) -> None:
        if self.closing:
            if conn.transport is not None:
                conn.transport.abort()
            return
        token = self._incoming(conn)
        ip, port = conn.remote
        self.sink(Incoming(self.client_id, self.conn_seq, token, ip, port))

    def close(self, abort: bool = False) -> None:
        self.closing = True
        if self.server is not None:
            self.server.close()
        if not self.lost.done():
            self.lost.set_result(None)
        self.sink(Closed(self.client_id, self.conn_seq))

    def set_reading(self, reading: bool) -> None:
        pass
