"""What every socket of the module shares, SSL (the SSL manual) and plain TCP/UDP (the TCP/IP
manual): the one table of 12 client IDs, the receive and send buffers, the URCs, the network
events, the access modes and their switch (AT+QISWTMD), closing and the send prompt.

``ssl.py`` and ``tcpip.py`` are thin over this: their commands parse parameters and name
the family of URCs (``+QSSLURC``/``+QIURC``); the mechanics are here, once.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import hints
from ..cmdline import Command
from ..codes import QiError
from ..events import (
    Close,
    Closed,
    Connected,
    ConnectFailed,
    PeerClosed,
    Received,
    Send,
    Sent,
    SocketEvent,
    TcpConnected,
)
from ..outcome import ERROR, OK, Final, Outcome, Transparent
from ..params import arity
from ..registry import WRITE, command
from ..state import AccessMode, Family, Socket, SocketState
from ..urcs import PushBlock

if TYPE_CHECKING:
    from ..core import Engine

MAX_VARIABLE_SEND = 1460
PUSH_CHUNK = 1500  # bytes of one push-mode URC (the QSSLRECV/QIRD maximum)
CTRL_Z = 0x1A
ESC = 0x1B


def cancel_timer(sock: Socket) -> None:
    if sock.timer is not None:
        sock.timer.cancel()
        sock.timer = None


def connected(engine: Engine, client_id: int) -> Socket | None:
    """The socket on ``client_id`` if it is connected."""
    sock = engine.sockets.get(client_id)
    if sock is None or sock.state is not SocketState.CONNECTED:
        return None
    return sock


def open_result(engine: Engine, sock: Socket, code: int) -> None:
    """``+QSSLOPEN: <id>,<err>`` or ``+QIOPEN: <id>,<err>``."""
    engine.urc(f"{sock.service.family.open_urc}: {sock.client_id},{code}")


def open_failed(engine: Engine, sock: Socket, code: int, reason: str, *, abort: bool) -> None:
    """The open did not succeed: the ID is free again, the host hears why (URC, or ERROR in
    transparent mode)."""
    if engine.sockets.get(sock.client_id) is not sock:
        return
    del engine.sockets[sock.client_id]
    cancel_timer(sock)
    if abort:
        engine.emit(Close(sock.client_id, sock.conn_seq, abort=True))
    engine.note(f"{sock.service.family.command} {sock.client_id} failed ({code}): {reason}")
    engine.last_error = code
    if sock.access_mode is AccessMode.TRANSPARENT:
        engine.finish(ERROR)
    else:
        open_result(engine, sock, code)


def opened(engine: Engine, sock: Socket) -> None:
    """The connection is up: CONNECT in transparent mode, else the open URC."""
    cancel_timer(sock)
    sock.state = SocketState.CONNECTED
    if sock.access_mode is AccessMode.TRANSPARENT:
        engine.finish(Transparent(sock.client_id))
    else:
        open_result(engine, sock, 0)


# ---- receiving -----------------------------------------------------------------------------


def recv_urc(sock: Socket) -> str:
    """The buffer-mode URC: data is waiting for AT+QSSLRECV / AT+QIRD."""
    return f'{sock.service.family.urc}: "recv",{sock.client_id}'


def push(engine: Engine, sock: Socket, nbytes: int, sender: str = "") -> None:
    """The last ``nbytes`` of ``sock``'s buffer go out as direct-push URCs; ``sender``
    (``,"<ip>",<port>``) marks a datagram of a UDP service, which keeps its own URC. Plain
    sockets show the data as AT+QICFG's "dataformat" and "viewmode" say."""
    prefix = f'{sock.service.family.urc}: "recv",{sock.client_id},'.encode()
    suffix = sender.encode()
    block = PushBlock(
        sock,
        nbytes,
        lambda n: prefix + str(n).encode() + suffix,
        mergeable=not sock.service.datagram,
    )
    if not sock.service.tls:
        if engine.qicfg.viewmode == 1:
            block.separator = b","
        if engine.qicfg.dataformat[1] == 1:
            block.render = lambda data: binascii.hexlify(data).upper()
    engine.push(block)


def update_reading(engine: Engine, sock: Socket) -> None:
    """Pause the connection while its receive buffer is full, resume below half (in every
    access mode: push and transparent data wait there too while the host is not reading)."""
    size = len(sock.recv)
    limit = engine.config.recv_buffer
    if sock.reading and size >= limit:
        sock.reading = False
        engine.set_reading(sock.client_id, sock.conn_seq, False)
    elif not sock.reading and size <= limit // 2 and sock.state is SocketState.CONNECTED:
        sock.reading = True
        engine.set_reading(sock.client_id, sock.conn_seq, True)


def received(engine: Engine, sock: Socket, event: Received) -> None:
    """Data from the network into the socket's receive buffer, announced per access mode."""
    data = event.data
    if not data:  # an empty UDP datagram (a stream's end is PeerClosed): nothing to read
        engine.note(
            f"socket {sock.client_id}: an empty datagram from {event.sender_ip}:"
            f"{event.sender_port} has nothing to read, dropped"
        )
        return
    sock.total_received += len(data)
    sock.recv.append(data)  # the socket's receive buffer, whatever the access mode
    if sock.service.datagram:
        sock.datagrams.append((len(data), event.sender_ip, event.sender_port))
    if engine.transparent is not None and engine.transparent.sock is sock:
        pass  # the engine moves it to the port as the host takes it
    elif sock.access_mode is AccessMode.PUSH:
        sender = ""
        if sock.service.reports_sender:
            sender = f',"{event.sender_ip}",{event.sender_port}'
        push(engine, sock, len(data), sender)
    elif sock.urc_armed:
        sock.urc_armed = False
        engine.urc(recv_urc(sock))
    update_reading(engine, sock)


def take(sock: Socket, length: int) -> bytes:
    """Up to ``length`` bytes from the receive buffer for a read; a datagram socket gives
    at most the rest of one datagram (its boundaries are kept, its bytes never dropped)."""
    if sock.datagrams:
        length = min(length, sock.datagrams[0][0])
    data = sock.recv.take(length)
    consumed(sock, len(data))
    return data


def consumed(sock: Socket, n: int) -> None:
    """``n`` bytes left the front of the receive buffer (a read, a push, the port)."""
    sock.total_read += n
    marks = sock.datagrams
    while n > 0 and marks:
        size, ip, port = marks[0]
        if n >= size:
            marks.popleft()
            n -= size
        else:
            marks[0] = (size - n, ip, port)
            n = 0


def read_done(engine: Engine, sock: Socket) -> None:
    """After a read: the recv URC is armed again once the buffer is empty."""
    if not sock.recv:
        sock.urc_armed = True
    update_reading(engine, sock)


# ---- the network's events ------------------------------------------------------------------


def on_event(engine: Engine, event: SocketEvent) -> None:
    """Apply a network event to the socket it belongs to (stale events are dropped)."""
    if isinstance(event, Closed):
        timer = engine.closing.pop(event.conn_seq, None)
        if timer is not None:
            timer.cancel()
            engine.finish(OK)
        return
    sock = engine.sockets.get(event.client_id)
    if sock is None or sock.conn_seq != event.conn_seq:
        return
    if isinstance(event, Received):
        received(engine, sock, event)
    elif isinstance(event, Sent):
        sock.unsent = max(0, sock.unsent - event.nbytes)
        sock.total_acked += event.nbytes
        if engine.transparent is not None and engine.transparent.sock is sock:
            engine.transparent.pump()  # room in the send buffer: the host's data waiting goes
    elif isinstance(event, TcpConnected):
        sock.local_port = event.local_port
        sock.remote_ip = event.remote_ip
        cancel_timer(sock)
        if sock.service.tls:
            tls_timeout = float(engine.ssl_ctx[sock.ssl_ctx].negotiatetime)
            sock.timer = engine.call_later(
                tls_timeout,
                lambda: open_failed(
                    engine,
                    sock,
                    QiError.TIMEOUT,
                    "TLS handshake not done within negotiatetime",
                    abort=True,
                ),
            )
    elif isinstance(event, Connected):
        if event.version:
            engine.note(f"QSSLOPEN {sock.client_id}: {event.version} {event.cipher}")
        opened(engine, sock)
    elif isinstance(event, ConnectFailed):
        open_failed(engine, sock, event.code, event.reason, abort=False)
    elif isinstance(event, PeerClosed):
        if sock.state is SocketState.OPENING:
            reason = event.reason or "closed during the open"
            open_failed(engine, sock, QiError.CONNECT, reason, abort=False)
            return
        if sock.state is SocketState.CONNECTED:
            engine.note(f"connection {sock.client_id} closed by peer: {event.reason}")
            lost(engine, sock)


def lost(engine: Engine, sock: Socket) -> None:
    """The connection ended without the host asking: state 4, and the host hears of it
    (``"closed"`` URC, or NO CARRIER in transparent mode after the data it brought)."""
    sock.state = SocketState.CLOSING
    if engine.transparent is not None and engine.transparent.sock is sock:
        engine.carrier_lost(sock)
    else:
        engine.urc(f'{sock.service.family.urc}: "closed",{sock.client_id}')


# ---- closing -------------------------------------------------------------------------------


def release(engine: Engine, sock: Socket, *, abort: bool) -> None:
    """Free the client ID and close its connection."""
    if engine.sockets.get(sock.client_id) is sock:
        del engine.sockets[sock.client_id]
    cancel_timer(sock)
    if engine.last_transparent == sock.client_id:
        engine.last_transparent = None
    engine.emit(Close(sock.client_id, sock.conn_seq, abort=abort))


def close(engine: Engine, sock: Socket, timeout: int, name: str) -> Outcome:
    """AT+QSSLCLOSE / AT+QICLOSE: at once (timeout 0, or not connected), else gracefully
    with the answer when the socket is gone or ``timeout`` s have passed."""
    engine.faults.cycle_closed()
    graceful = timeout > 0 and sock.state is SocketState.CONNECTED and sock.service.stream
    release(engine, sock, abort=not graceful)
    if not graceful:
        return OK

    def timed_out() -> None:
        """<close_timeout> passed: tear the connection down and answer."""
        timer = engine.closing.pop(sock.conn_seq, None)
        if timer is None:
            return
        timer.cancel()
        engine.note(f"{name} {sock.client_id}: not closed in time, connection aborted")
        engine.emit(Close(sock.client_id, sock.conn_seq, abort=True))
        engine.finish(OK)

    engine.closing[sock.conn_seq] = engine.call_later(float(timeout), timed_out)
    return engine.wait()


def close_for_pdp(engine: Engine, pdp_id: int | None, *, urc: bool) -> None:
    """Close the sockets of a PDP context (all when ``pdp_id`` is None).

    ``urc``: the network took the context away, so the host hears of each socket; else
    the host asked (AT+QIDEACT) and the IDs are simply free again. MQTT links on it end
    with +QMTSTAT either way (their clients did not ask).
    """
    from . import mqtt

    mqtt.close_for_pdp(engine, pdp_id)
    for sock in list(engine.sockets.values()):
        if pdp_id is not None and sock.pdp_ctx != pdp_id:
            continue
        if not urc:
            release(engine, sock, abort=True)
        elif sock.state is SocketState.OPENING:
            open_failed(engine, sock, QiError.PDP_BROKEN, "PDP context lost", abort=True)
        elif sock.state in (SocketState.CONNECTED, SocketState.LISTENING):
            cancel_timer(sock)
            engine.emit(Close(sock.client_id, sock.conn_seq, abort=True))
            lost(engine, sock)
    from . import http_request  # (it imports ssl.py, which imports this module)

    http_request.pdp_lost(engine, pdp_id)


def drop_all(engine: Engine) -> None:
    """A restart: every connection is gone without a word."""
    for sock in engine.sockets.values():
        cancel_timer(sock)
        engine.emit(Close(sock.client_id, sock.conn_seq, abort=True))
    engine.sockets.clear()
    engine.closing.clear()


# ---- the send prompt -----------------------------------------------------------------------


@dataclass
class SendPhase:
    """The data phase after a send command's ``>`` prompt (QSSLSEND, QISEND): a fixed
    ``length``, or up to 1460 bytes ended by Ctrl-Z (ESC cancels)."""

    engine: Engine
    sock: Socket
    length: int | None  # None: variable length, ended by Ctrl-Z
    name: str  # the command, for notes: "QSSLSEND"
    echo: bool  # the data typed is echoed (ATE1, and AT+QISDE for QISEND)
    then: Callable[[bytes], Outcome]  # sends the data, gives the final result
    data: bytearray = field(default_factory=bytearray)
    overflow: int = 0
    fed: bool = False

    def feed(self, data: bytes) -> int:
        if not self.fed:
            self.fed = True
            if data[:1] == b"\n":
                hints.data_starts_with_lf(self.engine, self.sock.client_id)
        if self.length is not None:
            take = min(len(data), self.length - len(self.data))
            self.data += data[:take]
            self._echo(data[:take])
            if len(self.data) == self.length:
                self.engine.finish(self.then(bytes(self.data)))
            return take
        stops = [i for i in (data.find(CTRL_Z), data.find(ESC)) if i >= 0]
        end = min(stops) if stops else -1
        chunk = data if end < 0 else data[:end]
        room = MAX_VARIABLE_SEND - len(self.data)
        self.data += chunk[:room]
        self.overflow += max(0, len(chunk) - room)
        self._echo(chunk)
        if end < 0:
            return len(data)
        engine = self.engine
        cid = self.sock.client_id
        if data[end] == ESC:
            engine.note(f"{self.name} {cid}: ESC, {len(self.data)} bytes dropped")
            engine.last_error = QiError.CANCEL_SEND  # 571: cancel send
            engine.finish(OK)
        elif self.overflow:
            engine.note(
                f"{self.name} {cid}: {len(self.data) + self.overflow} bytes, over the "
                f"{MAX_VARIABLE_SEND}-byte limit: nothing sent"
            )
            engine.last_error = QiError.INVALID_PARAMETER
            engine.finish(ERROR)
        else:
            engine.finish(self.then(bytes(self.data)))
        return end + 1

    def _echo(self, data: bytes) -> None:
        if self.echo:
            self.engine.echo_data(data)

    def abort(self) -> None:
        self.engine.note(
            f"{self.name} {self.sock.client_id}: host left, {len(self.data)} bytes lost"
        )


def open_refusal(engine: Engine, family: Family, client_id: int, pdp_id: int) -> QiError | None:
    """Why an open of ``client_id`` on context ``pdp_id`` is refused at once, if it is: the
    ID is in use (563), or the context is not active (561). Each command adds its own."""
    if client_id in engine.sockets:
        hints.open_id_in_use(engine, engine.sockets[client_id])
        return QiError.SOCKET_ID_USED
    if engine.cfun != 1 or not engine.pdp[pdp_id].active:
        engine.note(f"{family.command} {client_id}: PDP context {pdp_id} is not active (AT+QIACT)")
        return QiError.OPEN_PDP
    return None


def refuse_open(
    engine: Engine, family: Family, client_id: int, refusal: QiError, transparent: bool
) -> Outcome:
    """The answer to a refused open: ``OK`` and ``+QSSLOPEN``/``+QIOPEN: <id>,<err>``, or in
    transparent mode ``ERROR`` (``AT+QIGETERROR`` tells why)."""
    engine.last_error = refusal
    if transparent:
        return ERROR
    engine.urc(f"{family.open_urc}: {client_id},{int(refusal)}")
    return OK


def close_command(engine: Engine, cmd: Command, *, tls: bool, name: str) -> Outcome:
    """``AT+QSSLCLOSE``/``AT+QICLOSE=<id>[,<timeout>]``: a free ID answers ``OK``; a socket
    of the other family ``ERROR`` (a hint says which command closes it)."""
    params = cmd.params
    arity(params, 1, 2)
    client_id = params[0].num(0, 11)
    timeout = 10
    if len(params) == 2 and not params[1].omitted:
        timeout = params[1].num(0, 65535)
    sock = engine.sockets.get(client_id)
    if sock is None:
        hints.close_unopened(engine, client_id)
        return OK
    if sock.service.tls is not tls:
        hints.wrong_family(engine, cmd, sock)
        engine.last_error = QiError.NOT_ALLOWED
        return ERROR
    return close(engine, sock, timeout, name)


SEND_OK = Final("SEND OK")
SEND_FAIL = Final("SEND FAIL")


def send(
    engine: Engine, sock: Socket, data: bytes, name: str, dest: tuple[str, int] | None = None
) -> Outcome:
    """Hand ``data`` to the connection: ``SEND OK``, ``SEND FAIL`` (the send buffer is
    full) or ``ERROR`` (the connection is gone)."""
    if engine.sockets.get(sock.client_id) is not sock or sock.state is not SocketState.CONNECTED:
        engine.last_error = QiError.SOCKET_CLOSED
        return ERROR
    if sock.fail_sends:
        sock.fail_sends -= 1
        engine.note(f"{name} {sock.client_id}: send buffer full (fault send-buffer-full)")
        return SEND_FAIL
    if sock.unsent + len(data) > engine.config.send_buffer:
        engine.note(f"{name} {sock.client_id}: send buffer full ({sock.unsent} bytes)")
        return SEND_FAIL
    if data:
        sock.unsent += len(data)
        sock.total_sent += len(data)
        ip, port = dest if dest is not None else ("", 0)
        engine.emit(Send(sock.client_id, sock.conn_seq, data, ip, port))
    return SEND_OK


def prompt(
    engine: Engine,
    sock: Socket,
    length: int | None,
    name: str,
    echo: bool,
    then: Callable[[bytes], Outcome],
) -> Outcome:
    """The ``>`` prompt, then a SendPhase owns the host's bytes."""
    if engine.input_pending:
        hints.data_before_prompt(engine, sock.client_id, engine.input_waiting())
    engine.prompt()
    return engine.enter_data_phase(SendPhase(engine, sock, length, name, echo, then))


# ---- AT+QISWTMD ----------------------------------------------------------------------------


@command("+QISWTMD", qi=True, test="+QISWTMD: (0-11),(0-2)", forms=WRITE)
def qiswtmd(engine: Engine, cmd: Command) -> Outcome:
    """Switch a connection's access mode; data buffered so far follows it into the new mode."""
    params = cmd.params
    arity(params, 2, 2)
    client_id = params[0].num(0, 11)
    mode = AccessMode(params[1].num(0, 2))
    sock = connected(engine, client_id)
    if sock is None or not sock.service.switchable:
        engine.note(f"QISWTMD {client_id}: no established connection")
        engine.last_error = QiError.SOCKET_CLOSED
        return ERROR
    if mode is AccessMode.TRANSPARENT:
        return Transparent(client_id)
    if mode is sock.access_mode:
        return OK
    sock.access_mode = mode
    engine.unpush(sock)  # what was not pushed yet stays, for a read or a new push
    if mode is AccessMode.PUSH:
        sock.urc_armed = True
        if sock.recv:
            push_waiting(engine, sock)
    elif sock.recv and sock.urc_armed:
        sock.urc_armed = False
        engine.urc(recv_urc(sock))
    return OK


def push_waiting(engine: Engine, sock: Socket) -> None:
    """Everything in the receive buffer goes out as push URCs (datagram by datagram)."""
    if not sock.datagrams:
        push(engine, sock, len(sock.recv))
        return
    for size, ip, port in sock.datagrams:
        push(engine, sock, size, f',"{ip}",{port}' if sock.service.reports_sender else "")
