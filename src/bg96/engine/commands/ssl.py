"""SSL commands (BG96 SSL AT Commands Manual, chapter 2) and the connection events behind them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import hints
from ..cmdline import Command, Kind
from ..codes import QiError
from ..events import Connect, TlsParams
from ..files import normalize_name
from ..outcome import ERROR, OK, Outcome
from ..params import ParamError, arity
from ..registry import WRITE, command
from ..state import SSL_FAMILY, AccessMode, Service, Socket, SocketState
from . import sockets

if TYPE_CHECKING:
    from ..core import Engine

SUITES = (
    0x0035, 0x002F, 0x0005, 0x0004, 0x000A, 0x003D,
    0xC011, 0xC012, 0xC013, 0xC014, 0xC027, 0xC028, 0xC02F,
)  # fmt: skip
ALL_SUITES = 0xFFFF
MAX_FIXED_SEND = 1500
MAX_RECV = 1500

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
    refusal = sockets.open_refusal(engine, SSL_FAMILY, client_id, pdp_id)
    if refusal is None and engine.faults.open_refused:
        engine.note(f"QSSLOPEN {client_id}: the SSL stack is exhausted (fault open-leak)")
        refusal = QiError.INVALID_PARAMETER
    if refusal is not None:
        return sockets.refuse_open(engine, SSL_FAMILY, client_id, refusal, transparent)
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
        lambda: sockets.open_failed(
            engine, sock, QiError.TIMEOUT, "TCP connect timed out", abort=True
        ),
    )
    return engine.wait() if transparent else OK


@command("+QSSLSEND", qi=True, test="+QSSLSEND: (0-11)[,(1-1460)]", forms=WRITE)
def qsslsend(engine: Engine, cmd: Command) -> Outcome:
    params = cmd.params
    arity(params, 1, 2)
    client_id = params[0].num(0, 11)
    try:
        length = params[1].num(1, MAX_FIXED_SEND) if len(params) == 2 else None
    except ParamError:
        hints.send_length(engine, cmd)  # only a refused length needs the hint
        raise
    sock = _ssl_socket(engine, client_id, "QSSLSEND")
    if (
        sock is None
        or sock.state is not SocketState.CONNECTED
        or sock.access_mode is AccessMode.TRANSPARENT
    ):
        engine.note(f"QSSLSEND {client_id}: no established connection")
        engine.last_error = QiError.SOCKET_CLOSED
        return ERROR
    target = sock
    return sockets.prompt(
        engine,
        sock,
        length,
        "QSSLSEND",
        engine.settings.echo,
        lambda data: sockets.send(engine, target, data, "QSSLSEND"),
    )


def _ssl_socket(engine: Engine, client_id: int, name: str) -> Socket | None:
    """The SSL socket on ``client_id`` (a plain socket there is not one: a hint says so)."""
    sock = engine.sockets.get(client_id)
    if sock is not None and sock.service is not Service.SSL:
        hints.wrong_family_id(engine, name, sock)
        return None
    return sock


@command("+QSSLRECV", qi=True, test=f"+QSSLRECV: (0-11),(1-{MAX_RECV})", forms=WRITE)
def qsslrecv(engine: Engine, cmd: Command) -> Outcome:
    params = cmd.params
    arity(params, 2, 2)
    client_id = params[0].num(0, 11)
    try:
        length = params[1].num(0, MAX_RECV)
    except ParamError:
        hints.recv_length(engine, cmd)  # only a refused length needs the hint
        raise
    sock = _ssl_socket(engine, client_id, "QSSLRECV")
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
    data = sockets.take(sock, length)
    hints.recv_polled(engine, sock, len(data))
    engine.info(f"+QSSLRECV: {len(data)}")
    if data:
        engine.info(data)
    sockets.read_done(engine, sock)
    return OK


@command("+QSSLCLOSE", qi=True, test="+QSSLCLOSE: (0-11),(0-65535)", forms=WRITE)
def qsslclose(engine: Engine, cmd: Command) -> Outcome:
    return sockets.close_command(engine, cmd, tls=True, name="QSSLCLOSE")


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
    socks = sorted(
        (s for s in engine.sockets.values() if s.service is Service.SSL),
        key=lambda s: s.client_id,
    )
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
