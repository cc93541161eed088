"""Plain TCP and UDP sockets (the TCP/IP manual, chapter 2): AT+QIOPEN, QICLOSE, QISTATE,
QISEND, QISENDEX, QIRD, QISDE, and the listener's incoming connections.

They share the 12 client IDs with the SSL sockets, and every mechanic with them
(``sockets.py``); only their parameters and the ``+QIOPEN``/``+QIURC`` family are theirs.
"""

from __future__ import annotations

import binascii
from typing import TYPE_CHECKING

from .. import hints
from ..cmdline import Command, Kind
from ..codes import QiError
from ..events import Accept, Connect, Incoming, Listen, Listening, Protocol, Refuse
from ..outcome import ERROR, OK, Outcome
from ..params import Param, ParamError, arity
from ..registry import WRITE, command
from ..state import IP_FAMILY, AccessMode, Service, Socket, SocketState
from . import sockets

if TYPE_CHECKING:
    from ..core import Engine

MAX_SEND = 1460
MAX_READ = 1500
MAX_HEX = 512  # characters of an AT+QISENDEX hex string (256 bytes)
SERVICES = {
    s.value: s for s in (Service.TCP, Service.UDP, Service.TCP_LISTENER, Service.UDP_SERVICE)
}
SERVERS = (Service.TCP_LISTENER, Service.UDP_SERVICE)

_OPEN_TEST = (
    '+QIOPEN: (1-16),(0-11),"TCP/UDP/TCP LISTENER/UDP SERVICE",'
    '"<IP_address>/<domain_name>",<remote_port>,<local_port>,(0-2)'
)


@command("+QIOPEN", qi=True, test=_OPEN_TEST, forms=WRITE)
def qiopen(engine: Engine, cmd: Command) -> Outcome:
    params = cmd.params
    arity(params, 5, 7)
    pdp_id = params[0].num(1, 16)
    client_id = params[1].num(0, 11)
    kind = params[2].string(16)
    service = SERVICES.get(kind)
    if service is None:
        raise ParamError(f'service type "{kind}": one of {", ".join(SERVICES)}')
    host = params[3].host("address")
    remote_port = params[4].num(0, 65535)
    local_port = params[5].num(0, 65535) if len(params) > 5 and not params[5].omitted else 0
    mode = AccessMode.BUFFER
    if len(params) > 6 and not params[6].omitted:
        mode = AccessMode(params[6].num(0, 2))
    if service in SERVERS:
        if not local_port:
            raise ParamError(f"{kind} needs a local port")
        if mode is AccessMode.TRANSPARENT:
            raise ParamError(f"{kind} cannot run in transparent mode")
    elif not remote_port:
        raise ParamError(f"{kind} needs a remote port")
    transparent = mode is AccessMode.TRANSPARENT
    refusal = sockets.open_refusal(engine, IP_FAMILY, client_id, pdp_id)
    if refusal is None and service in SERVERS and _port_taken(engine, service, local_port):
        engine.note(f"QIOPEN {client_id}: local port {local_port} is in use")
        refusal = QiError.PORT_BUSY
    if refusal is not None:
        return sockets.refuse_open(engine, IP_FAMILY, client_id, refusal, transparent)
    sock = Socket(
        client_id=client_id,
        conn_seq=engine.next_conn_seq(),
        pdp_ctx=pdp_id,
        ssl_ctx=0,
        host=host,
        port=remote_port,
        access_mode=mode,
        service=service,
    )
    sock.local_port = local_port
    engine.sockets[client_id] = sock
    protocol: Protocol = "udp" if service.datagram else "tcp"
    if service in SERVERS:
        engine.emit(Listen(client_id, sock.conn_seq, protocol, local_port))
    else:
        engine.emit(Connect(client_id, sock.conn_seq, host, remote_port, None, protocol))
    sock.timer = engine.call_later(
        engine.config.tcp_connect_timeout,
        lambda: sockets.open_failed(engine, sock, QiError.TIMEOUT, "open timed out", abort=True),
    )
    return engine.wait() if transparent else OK


def _port_taken(engine: Engine, service: Service, port: int) -> bool:
    protocol = service is Service.UDP_SERVICE
    return any(
        s.service in SERVERS
        and (s.service is Service.UDP_SERVICE) == protocol
        and s.local_port == port
        for s in engine.sockets.values()
    )


def on_listening(engine: Engine, sock: Socket, event: Listening) -> None:
    """The listener or UDP service is up: ``+QIOPEN: <id>,0``."""
    sock.host_port = event.host_port
    engine.note(
        f"QIOPEN {sock.client_id}: {sock.service.value} on port {sock.local_port}, reached "
        f"at 127.0.0.1:{event.host_port} on this machine"
    )
    sockets.opened(engine, sock)
    if sock.service is Service.TCP_LISTENER:
        sock.state = SocketState.LISTENING


def on_incoming(engine: Engine, listener: Socket, event: Incoming) -> None:
    """A client connected to a listener: it takes the highest free client ID (as the
    manual's example shows, 11) as a TCP INCOMING socket, or is refused when none is free."""
    free = [i for i in range(11, -1, -1) if i not in engine.sockets]
    if not free:
        engine.emit(Refuse(event.token))
        engine.note(f"listener {listener.client_id}: {event.remote_ip} refused, no ID is free")
        engine.urc('+QIURC: "incoming full"')
        return
    sock = Socket(
        client_id=free[0],
        conn_seq=engine.next_conn_seq(),
        pdp_ctx=listener.pdp_ctx,
        ssl_ctx=0,
        host=event.remote_ip,
        port=event.remote_port,
        access_mode=listener.access_mode,
        service=Service.TCP_INCOMING,
        server_id=listener.client_id,
        state=SocketState.CONNECTED,
    )
    sock.local_port = listener.local_port
    sock.remote_ip = event.remote_ip
    engine.sockets[sock.client_id] = sock
    engine.emit(Accept(event.token, sock.client_id, sock.conn_seq))
    engine.urc(
        f'+QIURC: "incoming",{sock.client_id},{listener.client_id},'
        f'"{event.remote_ip}",{event.remote_port}'
    )


@command("+QICLOSE", qi=True, test="+QICLOSE: (0-11),(0-65535)", forms=WRITE)
def qiclose(engine: Engine, cmd: Command) -> Outcome:
    return sockets.close_command(engine, cmd, tls=False, name="QICLOSE")


def state_line(engine: Engine, sock: Socket) -> str:
    ip, port = sock.host, sock.port
    if sock.service in SERVERS:
        ip, port = engine.pdp[sock.pdp_ctx].ip or "0.0.0.0", 0  # the module's own address
    server_id = sock.server_id if sock.service is Service.TCP_INCOMING else sock.client_id
    return (
        f'+QISTATE: {sock.client_id},"{sock.service.value}","{ip}",{port},{sock.local_port},'
        f"{int(sock.state)},{sock.pdp_ctx},{server_id},{int(sock.access_mode)},"
        f'"{engine.urcport}"'
    )


@command("+QISTATE", qi=True, test="")
def qistate(engine: Engine, cmd: Command) -> Outcome:
    socks = sorted(
        (s for s in engine.sockets.values() if s.service is not Service.SSL),
        key=lambda s: s.client_id,
    )
    if cmd.kind is Kind.WRITE:
        params = cmd.params
        arity(params, 2, 2)
        if params[0].num(0, 1) == 0:
            pdp_id = params[1].num(1, 16)
            socks = [s for s in socks if s.pdp_ctx == pdp_id]
        else:
            client_id = params[1].num(0, 11)
            socks = [s for s in socks if s.client_id == client_id]
    for sock in socks:
        engine.info(state_line(engine, sock))
    return OK


# ---- sending -------------------------------------------------------------------------------


def _plain(engine: Engine, client_id: int, name: str) -> Socket | None:
    """A plain socket on ``client_id`` that may send or read now, or None (ERROR, with the
    reason in AT+QIGETERROR)."""
    sock = engine.sockets.get(client_id)
    if sock is None or sock.state is SocketState.OPENING:
        engine.note(f"{name} {client_id}: no connection")
        engine.last_error = QiError.SOCKET_CLOSED
        return None
    if sock.service is Service.SSL:
        hints.wrong_family_id(engine, name, sock)
        engine.last_error = QiError.NOT_ALLOWED
        return None
    if sock.service is Service.TCP_LISTENER:
        engine.note(f"{name} {client_id}: a listener carries no data")
        engine.last_error = QiError.NOT_ALLOWED
        return None
    return sock


@command("+QISEND", qi=True, test="+QISEND: (0-11),(0-1460)", forms=WRITE)
def qisend(engine: Engine, cmd: Command) -> Outcome:
    params = cmd.params
    arity(params, 1, 4)
    client_id = params[0].num(0, 11)
    length = params[1].num(0, MAX_SEND) if len(params) > 1 else None
    if length == 0:  # AT+QISEND=<id>,0: what was sent, and acknowledged
        arity(params, 2, 2)
        sock = _plain(engine, client_id, "QISEND")
        if sock is None:
            return ERROR
        unacked = sock.total_sent - sock.total_acked
        engine.info(f"+QISEND: {sock.total_sent},{sock.total_acked},{unacked}")
        return OK
    dest: tuple[str, int] | None = None
    if len(params) > 2:
        arity(params, 4, 4)
        dest = (_dotted(params[2]), params[3].num(0, 65535))
    hints.send_length(engine, cmd)
    sock = _plain(engine, client_id, "QISEND")
    if sock is None:
        return ERROR
    service_needs_dest = sock.service is Service.UDP_SERVICE
    if (
        sock.state is not SocketState.CONNECTED
        or sock.access_mode is AccessMode.TRANSPARENT
        or service_needs_dest != (dest is not None)
        or (service_needs_dest and length is None)
    ):
        engine.note(f"QISEND {client_id}: not a send this socket takes now")
        engine.last_error = (
            QiError.NOT_ALLOWED if sock.state is SocketState.CONNECTED else (QiError.SOCKET_CLOSED)
        )
        return ERROR
    target = sock
    hexmode = engine.qicfg.dataformat[0] == 1

    def then(data: bytes) -> Outcome:
        if hexmode:
            decoded = _unhex(data)
            if decoded is None:
                engine.note(f"QISEND {client_id}: not hex digits: nothing sent")
                engine.last_error = QiError.INVALID_PARAMETER
                return ERROR
            data = decoded
        return sockets.send(engine, target, data, "QISEND", dest)

    typed = None if length is None else (2 * length if hexmode else length)
    echo = engine.settings.echo and engine.qisde
    return sockets.prompt(engine, sock, typed, "QISEND", echo, then)


def _dotted(param: Param) -> str:
    """A dotted IPv4 address (QISEND's UDP SERVICE destination must be one)."""
    text = param.string(15)
    parts = text.split(".")
    if len(parts) != 4 or not all(p.isascii() and p.isdigit() and int(p) < 256 for p in parts):
        raise ParamError(f"not a dotted IPv4 address: {text!r}")
    return text


def _unhex(data: bytes) -> bytes | None:
    try:
        return binascii.unhexlify(data)
    except (binascii.Error, ValueError):
        return None


@command("+QISENDEX", qi=True, test="+QISENDEX: (0-11),<hex_string>", forms=WRITE)
def qisendex(engine: Engine, cmd: Command) -> Outcome:
    params = cmd.params
    arity(params, 2, 2)
    client_id = params[0].num(0, 11)
    text = params[1].string(MAX_HEX)
    data = _unhex(text.encode("latin-1")) if text else None
    if data is None:
        raise ParamError(f"not an even number of hex digits: {text[:32]!r}")
    sock = _plain(engine, client_id, "QISENDEX")
    if sock is None:
        return ERROR
    if (
        sock.service is Service.UDP_SERVICE
        or sock.state is not SocketState.CONNECTED
        or sock.access_mode is AccessMode.TRANSPARENT
    ):
        engine.note(f"QISENDEX {client_id}: not on this socket now")
        engine.last_error = (
            QiError.NOT_ALLOWED if sock.state is SocketState.CONNECTED else QiError.SOCKET_CLOSED
        )
        return ERROR
    return sockets.send(engine, sock, data, "QISENDEX")


@command("+QISDE", test="+QISDE: (0,1)")
def qisde(engine: Engine, cmd: Command) -> Outcome:
    """Whether the data typed at a QISEND prompt is echoed (with ATE1)."""
    if cmd.kind is Kind.READ:
        engine.info(f"+QISDE: {int(engine.qisde)}")
        return OK
    if cmd.kind is not Kind.WRITE:
        return ERROR
    arity(cmd.params, 1, 1)
    engine.qisde = bool(cmd.params[0].num(0, 1))
    return OK


# ---- reading -------------------------------------------------------------------------------


@command("+QIRD", qi=True, test=f"+QIRD: (0-11),(0-{MAX_READ})", forms=WRITE)
def qird(engine: Engine, cmd: Command) -> Outcome:
    params = cmd.params
    arity(params, 1, 2)
    client_id = params[0].num(0, 11)
    length = params[1].num(0, MAX_READ) if len(params) == 2 else None
    hints.recv_length(engine, cmd)
    sock = _plain(engine, client_id, "QIRD")
    if sock is None:
        return ERROR
    if length == 0:
        engine.info(f"+QIRD: {sock.total_received},{sock.total_read},{len(sock.recv)}")
        return OK
    service = sock.service is Service.UDP_SERVICE
    if service and length is not None:
        engine.note("QIRD on a UDP SERVICE takes no length: AT+QIRD=<id> reads one datagram")
        engine.last_error = QiError.INVALID_PARAMETER
        return ERROR
    if sock.access_mode is not AccessMode.BUFFER:
        hints.recv_not_buffered(engine, sock)
        engine.last_error = QiError.NOT_ALLOWED
        return ERROR
    sender = sock.datagrams[0][1:] if sock.datagrams else ("", 0)
    data = sockets.take(sock, MAX_READ if length is None else length)
    hints.recv_polled(engine, sock, len(data))
    head = f"+QIRD: {len(data)}"
    if service and data:
        head += f',"{sender[0]}",{sender[1]}'
    body = binascii.hexlify(data).upper() if engine.qicfg.dataformat[1] == 1 else data
    if data and engine.qicfg.viewmode == 1:
        engine.info(head.encode() + b"," + body)
    else:
        engine.info(head)
        if data:
            engine.info(body)
    sockets.read_done(engine, sock)
    return OK


def incoming_event(engine: Engine, event: Listening | Incoming) -> None:
    """A listener's events (they name the listener's client ID)."""
    sock = engine.sockets.get(event.client_id)
    if sock is None or sock.conn_seq != event.conn_seq:
        if isinstance(event, Incoming):
            engine.emit(Refuse(event.token))  # the listener is gone meanwhile
        return
    if isinstance(event, Listening):
        on_listening(engine, sock, event)
    else:
        on_incoming(engine, sock, event)
