"""HTTP(S) commands (BG96 HTTP(S) AT Commands Manual, chapter 2): AT+QHTTPCFG, QHTTPURL,
QHTTPGET, QHTTPPOST, QHTTPPOSTFILE, QHTTPREAD, QHTTPREADFILE. Each parses its parameters
and checks the client may start; the request's life is ``http_request.py``'s.

AT+QHTTPSTOP and AT+QHTTPPUT are not in the BG96 manual: unknown commands, ``ERROR``.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from ..cmdline import Command, Kind
from ..codes import FileError, HttpError, Result
from ..files import normalize_name
from ..httpclient import Url, UrlError
from ..outcome import ERROR, OK, Error, Outcome, cme
from ..params import Param, ParamError, arity
from ..registry import WRITE, WRITE_EXEC, command
from .http_request import (
    CONNECT_WAIT,
    SEND_CHUNK,
    FileSink,
    HttpState,
    InputPhase,
    Reader,
    Request,
    Stage,
    describe,
    drop,
    on_event,
    owns,
    replace,
)

if TYPE_CHECKING:
    from ..core import Engine

__all__ = ["HttpState", "drop", "on_event", "owns"]

CRLF = b"\r\n"
MAX_URL = 700
MAX_GET_HEADER = 2048
MAX_POST = 1024000
DEFAULT_TIME = 60

# key -> (lowest, highest) value; the test form lists them in this order
_CFG_RANGES: dict[str, tuple[int, int]] = {
    "contextid": (1, 16),
    "requestheader": (0, 1),
    "responseheader": (0, 1),
    "sslctxid": (0, 5),
    "contenttype": (0, 3),
}
_CFG_TEST = tuple(f'+QHTTPCFG: "{key}",({lo}-{hi})' for key, (lo, hi) in _CFG_RANGES.items())
_CFG_TEST = tuple(t.replace("(0-1)", "(0,1)") for t in _CFG_TEST)


def _cfg_line(engine: Engine, key: str) -> str:
    cfg = engine.http.cfg
    if key == "prefix":
        return f'+QHTTPCFG: "prefix","{cfg.prefix[0]}",{cfg.prefix[1]}'
    return f'+QHTTPCFG: "{key}",{getattr(cfg, key)}'


@command("+QHTTPCFG", test=_CFG_TEST, forms=frozenset({Kind.READ, Kind.WRITE}))
def qhttpcfg(engine: Engine, cmd: Command) -> Outcome:
    if cmd.kind is Kind.READ:
        # the order a real BG96MAR02A07M1G printed, "prefix" included (JCLOG)
        for key in ("contextid", "requestheader", "responseheader", "prefix", "sslctxid"):
            engine.info(_cfg_line(engine, key))
        engine.info(_cfg_line(engine, "contenttype"))
        return OK
    params = cmd.params
    arity(params, 1, 3)
    asked = params[0].string(32)
    key = asked.lower()
    if key != "prefix" and key not in _CFG_RANGES:
        engine.note(f'AT+QHTTPCFG: key "{asked}" is not known to the BG96')
        return ERROR
    if len(params) == 1:
        engine.info(_cfg_line(engine, key))
        return OK
    cfg = engine.http.cfg
    if key == "prefix":
        arity(params, 3, 3)
        cfg.prefix = (_ipv6(params[1]), params[2].num(0, 128))
        return OK
    arity(params, 2, 2)
    lo, hi = _CFG_RANGES[key]
    setattr(cfg, key, params[1].num(lo, hi))
    return OK


def _ipv6(param: Param) -> str:
    text = param.string(64)
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        raise ParamError(f"not an IPv6 prefix: {text!r}") from None
    return text


# ---- the URL -------------------------------------------------------------------------------


@command("+QHTTPURL", test="+QHTTPURL: (1-700),(1-65535)")
def qhttpurl(engine: Engine, cmd: Command) -> Outcome:
    http = engine.http
    if cmd.kind is Kind.READ:
        if http.url is not None:
            engine.info(f"+QHTTPURL: {http.url_text}")
        return OK
    if cmd.kind is not Kind.WRITE:
        return ERROR
    params = cmd.params
    arity(params, 1, 2)
    length = params[0].num(1, MAX_URL)
    timeout = _opt(params, 1, DEFAULT_TIME)
    if http.busy():
        engine.note("QHTTPURL: a request is under way")
        return cme(HttpError.BUSY)
    typed = bytearray()

    def done() -> Outcome:
        text = typed.decode("latin-1")
        try:
            url = Url.parse(text)
        except UrlError as exc:
            engine.note(f"QHTTPURL: {exc}")
            return cme(HttpError.URL_ERROR)
        http.url, http.url_text = url, text
        return OK

    phase = InputPhase(engine, length, timeout, typed.extend, done, lambda: None, name="QHTTPURL")
    phase.start()
    return engine.enter_data_phase(phase)


def _opt(params: list[Param], i: int, default: int, hi: int = 65535) -> int:
    if len(params) > i and not params[i].omitted:
        return params[i].num(1, hi)
    return default


def _may_start(engine: Engine, name: str) -> Url | Error:
    """The URL to request, or why the client cannot start one now."""
    http = engine.http
    if http.busy():
        engine.note(f"{name}: a request is under way")
        return cme(HttpError.BUSY)
    if http.url is None:
        engine.note(f"{name}: no URL (AT+QHTTPURL)")
        return cme(HttpError.EMPTY_URL)
    ctx = http.cfg.contextid
    if engine.cfun != 1 or not engine.pdp[ctx].active:
        engine.note(f"{name}: PDP context {ctx} is not active (AT+QIACT)")
        return cme(HttpError.NETWORK_DEACTIVATED)
    return http.url


def _new(engine: Engine, urc: str, url: Url) -> Request:
    req = Request(engine, urc, url)
    replace(engine, req)
    return req


def _typed_request(
    engine: Engine,
    req: Request,
    length: int,
    input_time: int,
    rsptime: int,
    *,
    module_header: bool,
) -> None:
    """Once connected: CONNECT, and the host's ``length`` bytes go to the server as they
    come (the body after the module's header, or the host's whole request)."""
    exchange = req.exchange
    name = req.urc[1:]
    first = True

    def take(data: bytes) -> None:
        nonlocal first
        if module_header:
            req.send(exchange.body(data))
            return
        if first:
            exchange.own_request(data)  # its method frames the response
            first_line = data.split(b"\r\n", 1)[0]
            engine.note(f"HTTP request (the host's): {describe(first_line)}")
            first = False
        req.send(data)

    def done() -> Outcome:
        if module_header:
            exchange.end()
        req.waiting(float(rsptime))
        return OK

    def aborted() -> None:
        if engine.http.request is req:
            replace(engine, None)

    def on_connected() -> None:
        req.stage = Stage.INPUT
        if module_header:
            cfg = engine.http.cfg
            head = exchange.request("POST", req.url, content_type=cfg.contenttype, length=length)
            req.send_head(head)
        phase = InputPhase(
            engine, length, input_time, take, done, aborted, room=req.room, name=name
        )
        engine.enter_data_phase(phase)
        phase.start()
        engine.receive_data(b"")  # what the host sent ahead of CONNECT is the phase's now

    req.on_connected = on_connected
    req.awaiting_connect = True
    req.arm(CONNECT_WAIT, HttpError.TIMEOUT, f"not connected within {CONNECT_WAIT:g} s")


# ---- GET, POST, POSTFILE -------------------------------------------------------------------


@command("+QHTTPGET", test="+QHTTPGET: (1-65535),(1-2048),(1-65535)", forms=WRITE_EXEC)
def qhttpget(engine: Engine, cmd: Command) -> Outcome:
    params = cmd.params
    arity(params, 0, 3)
    rsptime = _opt(params, 0, DEFAULT_TIME)
    length = params[1].num(1, MAX_GET_HEADER) if len(params) > 1 else None
    input_time = _opt(params, 2, DEFAULT_TIME)
    url = _may_start(engine, "QHTTPGET")
    if isinstance(url, Error):
        return url
    req = _new(engine, "+QHTTPGET", url)
    if length is None:

        def on_connected() -> None:
            req.send_head(req.exchange.request("GET", url))
            req.exchange.end()
            req.waiting(None)

        req.on_connected = on_connected
        req.arm(float(rsptime), HttpError.RESPONSE_TIMEOUT, f"no response within {rsptime} s")
        req.start()
        return OK
    _typed_request(engine, req, length, input_time, rsptime, module_header=False)
    req.start()
    return engine.wait()


@command("+QHTTPPOST", test="+QHTTPPOST: (1-1024000),(1-65535),(1-65535)", forms=WRITE)
def qhttppost(engine: Engine, cmd: Command) -> Outcome:
    params = cmd.params
    arity(params, 1, 3)
    length = params[0].num(1, MAX_POST)
    input_time = _opt(params, 1, DEFAULT_TIME)
    rsptime = _opt(params, 2, DEFAULT_TIME)
    url = _may_start(engine, "QHTTPPOST")
    if isinstance(url, Error):
        return url
    req = _new(engine, "+QHTTPPOST", url)
    module_header = engine.http.cfg.requestheader == 0
    _typed_request(engine, req, length, input_time, rsptime, module_header=module_header)
    req.start()
    return engine.wait()


def _file_name(param: Param) -> str | Error:
    name = normalize_name(param.string(255))
    return cme(FileError.INVALID_NAME) if name is None else name


@command("+QHTTPPOSTFILE", test="+QHTTPPOSTFILE: <file_name>,(1-65535)", forms=WRITE)
def qhttppostfile(engine: Engine, cmd: Command) -> Outcome:
    params = cmd.params
    arity(params, 1, 2)
    name = _file_name(params[0])
    rsptime = _opt(params, 1, DEFAULT_TIME)
    if isinstance(name, Error):
        return name
    url = _may_start(engine, "QHTTPPOSTFILE")
    if isinstance(url, Error):
        return url
    data = engine.store.read(name)
    if data is None:
        engine.note(f"QHTTPPOSTFILE: no file {name}")
        return cme(FileError.NOT_FOUND)
    req = _new(engine, "+QHTTPPOSTFILE", url)
    module_header = engine.http.cfg.requestheader == 0
    exchange = req.exchange
    offset = 0

    def pump() -> None:
        nonlocal offset
        if req.stage is not Stage.SENDING:
            return
        while offset < len(data) and req.room() > 0:
            chunk = data[offset : offset + min(SEND_CHUNK, req.room())]
            offset += len(chunk)
            req.send(exchange.body(chunk) if module_header else chunk)
        if offset >= len(data):
            if module_header:
                exchange.end()
            req.waiting(None)

    def on_connected() -> None:
        req.stage = Stage.SENDING
        if module_header:
            ctype = engine.http.cfg.contenttype
            req.send_head(exchange.request("POST", url, content_type=ctype, length=len(data)))
        else:
            exchange.own_request(data[:32])
            engine.note(f"HTTP request (from {name}): {describe(data.split(CRLF, 1)[0])}")
        pump()

    req.on_connected = on_connected
    req.on_sent = pump
    req.arm(float(rsptime), HttpError.RESPONSE_TIMEOUT, f"no response within {rsptime} s")
    req.start()
    return OK


# ---- reading the response ------------------------------------------------------------------


def _readable(engine: Engine, name: str) -> Request | Error:
    req = engine.http.request
    if req is None or req.taken or (req.head is None and req.stage is Stage.DONE):
        engine.note(f"{name}: no response to read")
        return cme(HttpError.NO_REQUEST)
    if req.head is None or req.consumer is not None:
        engine.note(f"{name}: the request is still under way")
        return cme(HttpError.BUSY)
    return req


@command("+QHTTPREAD", test="+QHTTPREAD: (1-65535)", forms=WRITE_EXEC)
def qhttpread(engine: Engine, cmd: Command) -> Outcome:
    params = cmd.params
    arity(params, 0, 1)
    wait_time = _opt(params, 0, DEFAULT_TIME)
    req = _readable(engine, "QHTTPREAD")
    if isinstance(req, Error):
        return req
    req.taken = True
    engine.intermediate(Result.CONNECT)
    reader = Reader(engine, req, wait_time)
    req.consumer = reader
    pending = engine.enter_data_phase(reader)
    engine.stream_from(reader)
    return pending


@command("+QHTTPREADFILE", test="+QHTTPREADFILE: <file_name>,(1-65535)", forms=WRITE)
def qhttpreadfile(engine: Engine, cmd: Command) -> Outcome:
    params = cmd.params
    arity(params, 1, 2)
    name = _file_name(params[0])
    wait_time = _opt(params, 1, DEFAULT_TIME)
    if isinstance(name, Error):
        return name
    req = _readable(engine, "QHTTPREADFILE")
    if isinstance(req, Error):
        return req
    store, config = engine.store, engine.config
    used = sum(store.size(n) or 0 for n in store.names())
    free = config.file_capacity - used + (store.size(name) or 0)  # a file of that name goes
    limit = min(config.max_file_size, free)
    assert req.head is not None
    announced = req.head.content_length
    if announced is not None and announced > limit:
        engine.note(f"QHTTPREADFILE: {announced} bytes do not fit (at most {limit})")
        too_large = announced > config.max_file_size
        return cme(FileError.TOO_LARGE if too_large else FileError.DRIVE_FULL)
    req.taken = True
    sink = FileSink(engine, req, name, wait_time, limit)
    req.consumer = sink
    sink.wake()
    return OK
