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

from ..engine import (
    Closed,
    Connect,
    Connected,
    ConnectFailed,
    NetEvent,
    PeerClosed,
    Received,
    Sent,
    TcpConnected,
)
from ..engine.codes import QiError
from ..engine.faults import TlsAlert
from ..network import Flow, Network, RadioLink
from ..tls import TlsClientSession

SOCKET_BUFFER = 1 << 17
"""Bytes of kernel buffer each way on a connection's socket: a module's TCP window, so the
host machine holds no more for it than a module would."""
EventSink = Callable[[NetEvent], None]


class StreamConnection(asyncio.Protocol):
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
