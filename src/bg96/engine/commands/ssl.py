"""SSL commands (BG96 SSL AT Commands Manual, chapter 2) and the connection events behind them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import hints
from ..cmdline import Command, Kind
from ..codes import QiError
from ..events import (
    Close,
    Closed,
    Connect,
    Connected,
    ConnectFailed,
    PeerClosed,
    Received,
    Send,
    Sent,
    SetReading,
    SocketEvent,
    TcpConnected,
    TlsParams,
)
from ..files import normalize_name
from ..outcome import ERROR, OK, Final, Outcome, Transparent
from ..params import ParamError, arity
from ..registry import WRITE, command
from ..state import AccessMode, Socket, SocketState

if TYPE_CHECKING:
    from ..core import Engine

SUITES = (
    0x0035, 0x002F, 0x0005, 0x0004, 0x000A, 0x003D,
    0xC011, 0xC012, 0xC013, 0xC014, 0xC027, 0xC028, 0xC02F,
)  # fmt: skip
ALL_SUITES = 0xFFFF
MAX_VARIABLE_SEND = 1460
MAX_FIXED_SEND = 1500
MAX_RECV = 1500
CTRL_Z = 0x1A
ESC = 0x1B

# key -> (test-form range text, value kind)
_CFG_KEYS: dict[str, str] = {
    "sslversion": "(0-4)",
    "ciphersuite": "(" + ",".join(f"0X{c:04X}" for c in (*SUITES, ALL_SUITES)) + ")",
    "cacert": "<cacertpath>",
    "clientcert": "<client_cert_path>",
    "clientkey": "<client_key_path>",
    "seclevel": "(0-2)",
    "ignorelocaltime": "(0,1)",
    "negotiatetime": "(10-300)",
}
_ALIASES = {"secllevel": "seclevel"}
# keys of later BG9x firmware that host drivers send and the virtual module accepts (not
# listed by the test form, which is this firmware's)
_LATER_KEYS = ("sni", "checkhost")


def _fmt_suite(code: int) -> str:
    return f"0X{code:04X}"


@command("+QSSLCFG", qi=True)
def qsslcfg(engine: Engine, cmd: Command) -> Outcome:
    if cmd.kind is Kind.TEST:
        for key, rng in _CFG_KEYS.items():
            engine.info(f'+QSSLCFG: "{key}",(0-5),{rng}')
        return OK
    if cmd.kind is not Kind.WRITE:
        return ERROR
    params = cmd.params
    arity(params, 2, 3)
    asked = params[0].string(32)
    key = _ALIASES.get(asked.lower(), asked.lower())
    if key not in _CFG_KEYS and key not in _LATER_KEYS:
        engine.note(f'AT+QSSLCFG: key "{asked}" is not known to this BG96 firmware')
        hints.cfg_unknown_key(engine, asked, [*_CFG_KEYS, *_LATER_KEYS])
        return ERROR
    if asked.lower() == "secllevel":
        hints.cfg_manual_spelling(engine)
    ctx_id = params[1].num(0, 5)
    ctx = engine.ssl_ctx[ctx_id]
    if len(params) == 2:
        value = _cfg_value(ctx_id, engine, key)
        engine.info(f'+QSSLCFG: "{asked}",{ctx_id},{value}')
        return OK
    p = params[2]
    if key == "sslversion":
        ctx.sslversion = p.num(0, 4)
    elif key == "ciphersuite":
        if p.quoted:
            hints.cfg_quoted_suite(engine)
        code = p.hex()
        if code not in SUITES and code != ALL_SUITES:
            raise ParamError(f"cipher suite 0X{code:04X} is not in table 2")
        ctx.ciphersuite = code
    elif key in ("cacert", "clientcert", "clientkey"):
        setattr(ctx, key, p.string(255))
    elif key == "seclevel":
        ctx.seclevel = p.num(0, 2)
    elif key == "ignorelocaltime":
        ctx.ignorelocaltime = p.num(0, 1)
    elif key == "negotiatetime":
        ctx.negotiatetime = p.num(10, 300)
    elif key == "sni":
        ctx.sni = p.num(0, 1)
    else:  # checkhost: 0/1 (check the QSSLOPEN address) or a quoted host name (Mbed OS)
        ctx.checkhost = p.string(255) if p.quoted else str(p.num(0, 1))
    return OK


def _cfg_value(ctx_id: int, engine: Engine, key: str) -> str:
    ctx = engine.ssl_ctx[ctx_id]
    if key == "ciphersuite":
        return _fmt_suite(ctx.ciphersuite)
    if key in ("cacert", "clientcert", "clientkey"):
        return f'"{getattr(ctx, key)}"'
    if key == "checkhost" and ctx.checkhost not in ("0", "1"):
        return f'"{ctx.checkhost}"'
    return str(getattr(ctx, key))


def _read_cert(engine: Engine, name: str) -> bytes | None:
    if not name:
        return None
    fname = normalize_name(name)
    return None if fname is None else engine.store.read(fname)


def tls_snapshot(engine: Engine, ctx_id: int, host: str) -> TlsParams:
    """The SSL context as a new connection to ``host`` sees it (files read now)."""
    ctx = engine.ssl_ctx[ctx_id]
    checkhost = {"0": "", "1": host}.get(ctx.checkhost, ctx.checkhost)
    suites = SUITES if ctx.ciphersuite == ALL_SUITES else (ctx.ciphersuite,)
    return TlsParams(
        ssl_ctx_id=ctx_id,
        sslversion=ctx.sslversion,
        ciphersuites=suites,
        seclevel=ctx.seclevel,
        cacert=_read_cert(engine, ctx.cacert),
        cacert_name=ctx.cacert,
        clientcert=_read_cert(engine, ctx.clientcert),
        clientkey=_read_cert(engine, ctx.clientkey),
        ignore_localtime=bool(ctx.ignorelocaltime),
        module_time=engine.module_time(),
        negotiate_time=ctx.negotiatetime,
        sni=bool(ctx.sni),
        checkhost=checkhost,
    )


@command(
    "+QSSLOPEN",
    qi=True,
    test="+QSSLOPEN: (1-16),(0-5),(0-11),<serveraddr>,<server_port>[,(0-2)]",
    forms=WRITE,
)
def qsslopen(engine: Engine, cmd: Command) -> Outcome:
    params = cmd.params
    arity(params, 5, 6)
    pdp_id = params[0].num(1, 16)
    ctx_id = params[1].num(0, 5)
    client_id = params[2].num(0, 11)
    host = params[3].host("server address")
    port = params[4].num(1, 65535)
    mode = AccessMode.BUFFER
    if len(params) == 6 and not params[5].omitted:
        mode = AccessMode(params[5].num(0, 2))
    transparent = mode is AccessMode.TRANSPARENT
    refusal: QiError | None = None
    if client_id in engine.sockets:
        refusal = QiError.SOCKET_ID_USED
        hints.open_id_in_use(engine, engine.sockets[client_id])
    elif engine.cfun != 1 or not engine.pdp[pdp_id].active:
        engine.note(f"QSSLOPEN {client_id}: PDP context {pdp_id} is not active (AT+QIACT)")
        refusal = QiError.OPEN_PDP
    elif engine.faults.open_refused:
        engine.note(f"QSSLOPEN {client_id}: the SSL stack is exhausted (fault open-leak)")
        refusal = QiError.INVALID_PARAMETER
    if refusal is not None:
        engine.last_error = refusal
        if transparent:
            return ERROR  # transparent mode answers ERROR; AT+QIGETERROR tells why
        engine.urc(f"+QSSLOPEN: {client_id},{int(refusal)}")
        return OK
    sock = Socket(
        client_id=client_id,
        conn_seq=engine.next_conn_seq(),
        pdp_ctx=pdp_id,
        ssl_ctx=ctx_id,
        host=host,
        port=port,
        access_mode=mode,
    )
    engine.sockets[client_id] = sock
    tls = tls_snapshot(engine, ctx_id, host)
    hints.open_context(engine, sock, tls)
    engine.emit(Connect(client_id, sock.conn_seq, host, port, tls))
    sock.timer = engine.call_later(
        engine.config.tcp_connect_timeout,
        lambda: _open_failed(engine, sock, QiError.TIMEOUT, "TCP connect timed out", abort=True),
    )
    return engine.wait() if transparent else OK


def _open_failed(engine: Engine, sock: Socket, code: int, reason: str, *, abort: bool) -> None:
    if engine.sockets.get(sock.client_id) is not sock:
        return
    del engine.sockets[sock.client_id]
    _cancel_timer(sock)
    if abort:
        engine.emit(Close(sock.client_id, sock.conn_seq, abort=True))
    engine.note(f"QSSLOPEN {sock.client_id} failed ({code}): {reason}")
    engine.last_error = code
    if sock.access_mode is AccessMode.TRANSPARENT:
        engine.finish(ERROR)
    else:
        engine.urc(f"+QSSLOPEN: {sock.client_id},{code}")


def _cancel_timer(sock: Socket) -> None:
    if sock.timer is not None:
        sock.timer.cancel()
        sock.timer = None


def _connected_socket(engine: Engine, client_id: int) -> Socket | None:
    sock = engine.sockets.get(client_id)
    if sock is None or sock.state is not SocketState.CONNECTED:
        return None
    return sock


@dataclass
class _SendPhase:
    """The data phase after QSSLSEND's ``>`` prompt."""

    engine: Engine
    sock: Socket
    length: int | None  # None: variable length, ended by Ctrl-Z
    data: bytearray
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
            self.engine.echo_data(data[:take])
            if len(self.data) == self.length:
                self._send()
            return take
        stops = [i for i in (data.find(CTRL_Z), data.find(ESC)) if i >= 0]
        end = min(stops) if stops else -1
        chunk = data if end < 0 else data[:end]
        room = MAX_VARIABLE_SEND - len(self.data)
        self.data += chunk[:room]
        self.overflow += max(0, len(chunk) - room)
        self.engine.echo_data(chunk)
        if end < 0:
            return len(data)
        engine = self.engine
        if data[end] == ESC:
            engine.note(f"QSSLSEND {self.sock.client_id}: ESC, {len(self.data)} bytes dropped")
            engine.last_error = QiError.CANCEL_SEND  # 571: cancel send
            engine.finish(OK)
        elif self.overflow:
            engine.note(
                f"QSSLSEND {self.sock.client_id}: {len(self.data) + self.overflow} bytes, over "
                f"the {MAX_VARIABLE_SEND}-byte limit: nothing sent"
            )
            engine.last_error = QiError.INVALID_PARAMETER
            engine.finish(ERROR)
        else:
            self._send()
        return end + 1

    def _send(self) -> None:
        engine, sock = self.engine, self.sock
        if (
            engine.sockets.get(sock.client_id) is not sock
            or sock.state is not SocketState.CONNECTED
        ):
            engine.last_error = QiError.SOCKET_CLOSED
            engine.finish(ERROR)
            return
        if sock.fail_sends:
            sock.fail_sends -= 1
            engine.note(f"QSSLSEND {sock.client_id}: send buffer full (fault send-buffer-full)")
            engine.finish(Final("SEND FAIL"))
            return
        if sock.unsent + len(self.data) > engine.config.send_buffer:
            engine.note(f"QSSLSEND {sock.client_id}: send buffer full ({sock.unsent} bytes)")
            engine.finish(Final("SEND FAIL"))
            return
        if self.data:
            sock.unsent += len(self.data)
            sock.total_sent += len(self.data)
            engine.emit(Send(sock.client_id, sock.conn_seq, bytes(self.data)))
        engine.finish(Final("SEND OK"))

    def abort(self) -> None:
        self.engine.note(f"QSSLSEND {self.sock.client_id}: host left, {len(self.data)} bytes lost")


@command("+QSSLSEND", qi=True, test="+QSSLSEND: (0-11)[,(1-1460)]", forms=WRITE)
def qsslsend(engine: Engine, cmd: Command) -> Outcome:
    params = cmd.params
    arity(params, 1, 2)
    client_id = params[0].num(0, 11)
    hints.send_length(engine, cmd)
    length = params[1].num(1, MAX_FIXED_SEND) if len(params) == 2 else None
    sock = _connected_socket(engine, client_id)
    if sock is None or sock.access_mode is AccessMode.TRANSPARENT:
        engine.note(f"QSSLSEND {client_id}: no established connection")
        engine.last_error = QiError.SOCKET_CLOSED
        return ERROR
    hints.data_before_prompt(engine, client_id, engine.input_waiting())
    engine.prompt()
    return engine.enter_data_phase(_SendPhase(engine, sock, length, bytearray()))


@command("+QSSLRECV", qi=True, test=f"+QSSLRECV: (0-11),(1-{MAX_RECV})", forms=WRITE)
def qsslrecv(engine: Engine, cmd: Command) -> Outcome:
    params = cmd.params
    arity(params, 2, 2)
    client_id = params[0].num(0, 11)
    hints.recv_length(engine, cmd)
    length = params[1].num(0, MAX_RECV)
    sock = engine.sockets.get(client_id)
    if sock is None or sock.state is SocketState.OPENING:
        engine.note(f"QSSLRECV {client_id}: no connection")
        engine.last_error = QiError.SOCKET_CLOSED
        return ERROR
    if sock.access_mode is not AccessMode.BUFFER:
        hints.recv_not_buffered(engine, sock)
        engine.last_error = QiError.NOT_ALLOWED
        return ERROR
    if length == 0:
        hints.recv_zero(engine)
        unread = len(sock.recv)
        engine.info(f"+QSSLRECV: {sock.total_received},{sock.total_read},{unread}")
        return OK
    data = bytes(sock.recv[:length])
    del sock.recv[:length]
    sock.total_read += len(data)
    hints.recv_polled(engine, sock, len(data))
    engine.info(f"+QSSLRECV: {len(data)}")
    if data:
        engine.info(data)
    if not sock.recv:
        sock.urc_armed = True
    update_reading(engine, sock)
    return OK


def update_reading(engine: Engine, sock: Socket) -> None:
    """Pause the connection while its receive buffer is full, resume below half (in every
    access mode: push and transparent data wait there too while the host is not reading)."""
    size = len(sock.recv)
    limit = engine.config.recv_buffer
    if sock.reading and size >= limit:
        sock.reading = False
        engine.emit(SetReading(sock.client_id, sock.conn_seq, False))
    elif not sock.reading and size <= limit // 2 and sock.state is SocketState.CONNECTED:
        sock.reading = True
        engine.emit(SetReading(sock.client_id, sock.conn_seq, True))


@command("+QSSLCLOSE", qi=True, test="+QSSLCLOSE: (0-11),(0-65535)", forms=WRITE)
def qsslclose(engine: Engine, cmd: Command) -> Outcome:
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
    engine.faults.cycle_closed()
    graceful = timeout > 0 and sock.state is SocketState.CONNECTED
    release(engine, sock, abort=not graceful)
    if not graceful:
        return OK
    engine.closing[sock.conn_seq] = engine.call_later(
        float(timeout), lambda: _close_done(engine, sock)
    )
    return engine.wait()


def release(engine: Engine, sock: Socket, *, abort: bool) -> None:
    """Free the client ID and close its connection."""
    if engine.sockets.get(sock.client_id) is sock:
        del engine.sockets[sock.client_id]
    _cancel_timer(sock)
    if engine.last_transparent == sock.client_id:
        engine.last_transparent = None
    engine.emit(Close(sock.client_id, sock.conn_seq, abort=abort))


def _close_done(engine: Engine, sock: Socket) -> None:
    """<close_timeout> passed: tear the connection down and answer."""
    timer = engine.closing.pop(sock.conn_seq, None)
    if timer is None:
        return
    timer.cancel()
    engine.note(f"QSSLCLOSE {sock.client_id}: not closed in time, connection aborted")
    engine.emit(Close(sock.client_id, sock.conn_seq, abort=True))
    engine.finish(OK)


def state_line(engine: Engine, sock: Socket) -> str:
    return (
        f'+QSSLSTATE: {sock.client_id},"SSLClient","{sock.host}",{sock.port},{sock.local_port},'
        f"{int(sock.state)},{sock.pdp_ctx},{sock.client_id},{int(sock.access_mode)},"
        f'"{engine.urcport}",{sock.ssl_ctx}'
    )


@command("+QSSLSTATE", qi=True, test="")
def qsslstate(engine: Engine, cmd: Command) -> Outcome:
    if cmd.kind is Kind.READ:
        return ERROR
    socks = sorted(engine.sockets.values(), key=lambda s: s.client_id)
    if cmd.kind is Kind.WRITE:
        params = cmd.params
        arity(params, 1, 2)
        if len(params) == 1:
            client_id = params[0].num(0, 11)
            socks = [s for s in socks if s.client_id == client_id]
        else:
            # QISTATE-style form some drivers send: <query_type>,<pdpctxID|clientID>
            hints.state_two_arguments(engine, cmd)
            query_type = params[0].num(0, 1)
            if query_type == 0:
                pdp_id = params[1].num(1, 16)
                socks = [s for s in socks if s.pdp_ctx == pdp_id]
            else:
                client_id = params[1].num(0, 11)
                socks = [s for s in socks if s.client_id == client_id]
    for sock in socks:
        engine.info(state_line(engine, sock))
    return OK


# ---- events from the network ---------------------------------------------------------


def recv_urc(sock: Socket) -> str:
    """The buffer-mode URC: data is waiting for AT+QSSLRECV."""
    return f'+QSSLURC: "recv",{sock.client_id}'


def _push(engine: Engine, sock: Socket, nbytes: int) -> None:
    """The last ``nbytes`` of ``sock``'s buffer go out as direct-push URCs."""
    prefix = f'+QSSLURC: "recv",{sock.client_id},'.encode()
    engine.push(sock, nbytes, lambda n: prefix + str(n).encode())


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
        sock.total_received += len(event.data)
        sock.recv += event.data  # the socket's receive buffer, whatever the access mode
        if engine.transparent is not None and engine.transparent.sock is sock:
            pass  # the engine moves it to the port as the host takes it
        elif sock.access_mode is AccessMode.PUSH:
            _push(engine, sock, len(event.data))
        elif sock.urc_armed:
            sock.urc_armed = False
            engine.urc(recv_urc(sock))
        update_reading(engine, sock)
    elif isinstance(event, Sent):
        sock.unsent = max(0, sock.unsent - event.nbytes)
        if engine.transparent is not None and engine.transparent.sock is sock:
            engine.transparent.pump()  # room in the send buffer: the host's data waiting goes
    elif isinstance(event, TcpConnected):
        sock.local_port = event.local_port
        sock.remote_ip = event.remote_ip
        _cancel_timer(sock)
        tls_timeout = float(engine.ssl_ctx[sock.ssl_ctx].negotiatetime)
        sock.timer = engine.call_later(
            tls_timeout,
            lambda: _open_failed(
                engine,
                sock,
                QiError.TIMEOUT,
                "TLS handshake not done within negotiatetime",
                abort=True,
            ),
        )
    elif isinstance(event, Connected):
        _cancel_timer(sock)
        sock.state = SocketState.CONNECTED
        engine.note(f"QSSLOPEN {sock.client_id}: {event.version} {event.cipher}")
        if sock.access_mode is AccessMode.TRANSPARENT:
            engine.finish(Transparent(sock.client_id))
        else:
            engine.urc(f"+QSSLOPEN: {sock.client_id},0")
    elif isinstance(event, ConnectFailed):
        _open_failed(engine, sock, event.code, event.reason, abort=False)
    elif isinstance(event, PeerClosed):
        if sock.state is SocketState.OPENING:
            _open_failed(
                engine,
                sock,
                QiError.CONNECT,
                event.reason or "closed during handshake",
                abort=False,
            )
            return
        if sock.state is SocketState.CONNECTED:
            sock.state = SocketState.CLOSING
            engine.note(f"connection {sock.client_id} closed by peer: {event.reason}")
            if engine.transparent is not None and engine.transparent.sock is sock:
                engine.carrier_lost(sock)
            else:
                engine.urc(f'+QSSLURC: "closed",{sock.client_id}')


def close_for_pdp(engine: Engine, pdp_id: int | None, *, urc: bool) -> None:
    """Close the sockets of a PDP context (all when ``pdp_id`` is None).

    ``urc``: the network took the context away, so the host hears of each socket; else
    the host asked (AT+QIDEACT) and the IDs are simply free again.
    """
    for sock in list(engine.sockets.values()):
        if pdp_id is not None and sock.pdp_ctx != pdp_id:
            continue
        if not urc:
            release(engine, sock, abort=True)
        elif sock.state is SocketState.OPENING:
            _open_failed(engine, sock, QiError.PDP_BROKEN, "PDP context lost", abort=True)
        elif sock.state is SocketState.CONNECTED:
            _cancel_timer(sock)
            engine.emit(Close(sock.client_id, sock.conn_seq, abort=True))
            sock.state = SocketState.CLOSING
            if engine.transparent is not None and engine.transparent.sock is sock:
                engine.carrier_lost(sock)
            else:
                engine.urc(f'+QSSLURC: "closed",{sock.client_id}')


def drop_all(engine: Engine) -> None:
    """A restart: every connection is gone without a word."""
    for sock in engine.sockets.values():
        _cancel_timer(sock)
        engine.emit(Close(sock.client_id, sock.conn_seq, abort=True))
    engine.sockets.clear()
    engine.closing.clear()


@command("+QISWTMD", qi=True, test="+QISWTMD: (0-11),(0-2)", forms=WRITE)
def qiswtmd(engine: Engine, cmd: Command) -> Outcome:
    """Switch a connection's access mode; data buffered so far follows it into the new mode."""
    params = cmd.params
    arity(params, 2, 2)
    client_id = params[0].num(0, 11)
    mode = AccessMode(params[1].num(0, 2))
    sock = _connected_socket(engine, client_id)
    if sock is None:
        engine.note(f"QISWTMD {client_id}: no established connection")
        engine.last_error = QiError.SOCKET_CLOSED
        return ERROR
    if mode is AccessMode.TRANSPARENT:
        return Transparent(client_id)
    if mode is sock.access_mode:
        return OK
    sock.access_mode = mode
    if mode is AccessMode.PUSH:
        engine.unpush(sock)
        sock.urc_armed = True
        if sock.recv:
            _push(engine, sock, len(sock.recv))
    else:
        engine.unpush(sock)  # what was not pushed yet stays, for AT+QSSLRECV
        if sock.recv and sock.urc_armed:
            sock.urc_armed = False
            engine.urc(recv_urc(sock))
    return OK
