"""PDP context commands (BG96 TCP/IP AT Commands Manual, chapter 2.1)."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from ..cmdline import Command, Kind
from ..codes import QI_ERROR_TEXT, QiError
from ..events import Resolved
from ..outcome import ERROR, OK, Outcome
from ..params import ParamError, arity
from ..registry import WRITE, command

if TYPE_CHECKING:
    from ..core import Engine


def pdp_ip(cid: int) -> str:
    """The address the virtual network hands out: the manual's example address for ctx 1."""
    return f"10.7.157.{cid}"


PDP_DNS = ("10.7.0.1", "10.7.0.2")


@command(
    "+QICSGP", qi=True, test="+QICSGP: (1-16),(1,2),<APN>,<username>,<password>,(0-3)", forms=WRITE
)
def qicsgp(engine: Engine, cmd: Command) -> Outcome:
    params = cmd.params
    if len(params) == 1:
        ctx = engine.pdp[params[0].num(1, 16)]
        engine.info(
            f'+QICSGP: {ctx.context_type},"{ctx.apn}","{ctx.username}","{ctx.password}",{ctx.auth}'
        )
        return OK
    arity(params, 3, 6)
    cid = params[0].num(1, 16)
    context_type = params[1].num(1, 2)
    apn = params[2].string(100)
    username = params[3].string(127) if len(params) > 3 else ""
    password = params[4].string(127) if len(params) > 4 else ""
    auth = params[5].num(0, 3) if len(params) > 5 else 0
    if len(params) == 4:
        raise ParamError("username without password")
    ctx = engine.pdp[cid]
    ctx.context_type, ctx.apn, ctx.username, ctx.password, ctx.auth = (
        context_type,
        apn,
        username,
        password,
        auth,
    )
    return OK


@command("+QIACT", qi=True, test="+QIACT: (1-16)")
def qiact(engine: Engine, cmd: Command) -> Outcome:
    if cmd.kind is Kind.READ:
        for cid, ctx in engine.pdp.items():
            if ctx.active:
                engine.info(f'+QIACT: {cid},1,{ctx.context_type},"{ctx.ip}"')
        return OK
    if cmd.kind is not Kind.WRITE:
        return ERROR
    params = cmd.params
    arity(params, 1, 1)
    cid = params[0].num(1, 16)
    ctx = engine.pdp[cid]
    if not engine.registered or not engine.cgatt:
        engine.note(f"QIACT {cid}: not registered on the network")
        engine.last_error = QiError.OPEN_PDP
        return ERROR
    if ctx.active:
        engine.note(f"QIACT {cid}: the context is already active")
        engine.last_error = QiError.NOT_ALLOWED
        return ERROR
    if sum(c.active for c in engine.pdp.values()) >= engine.config.max_active_pdp:
        engine.note(f"QIACT {cid}: {engine.config.max_active_pdp} contexts are active already")
        engine.last_error = QiError.OPEN_PDP
        return ERROR

    def activate() -> None:
        ctx.active = True
        ctx.ip = pdp_ip(cid)
        ctx.dns = PDP_DNS
        engine.note(f"PDP context {cid} active, APN {ctx.apn!r}, address {ctx.ip}")

    delay = engine.config.pdp_activation_time
    if delay <= 0:
        activate()
        return OK

    def done() -> None:
        if not engine.registered:  # registration was lost while activating
            engine.note(f"QIACT {cid}: registration lost during the activation")
            engine.last_error = QiError.OPEN_PDP
            engine.finish(ERROR)
            return
        activate()
        engine.finish(OK)

    engine.call_later(delay, done)
    return engine.wait()


@command("+QIDEACT", qi=True, test="+QIDEACT: (1-16)", forms=WRITE)
def qideact(engine: Engine, cmd: Command) -> Outcome:
    from . import sockets

    params = cmd.params
    arity(params, 1, 1)
    cid = params[0].num(1, 16)
    ctx = engine.pdp[cid]
    # also after the network took the context away ("pdpdeact"): the host's QIDEACT then
    # frees the client IDs its sockets still hold (TCP/IP manual: "reset all connections")
    sockets.close_for_pdp(engine, cid, urc=False)
    if ctx.active:
        ctx.active = False
        ctx.ip = ""
        engine.note(f"PDP context {cid} deactivated")
    return OK


def drop_all_contexts(engine: Engine) -> None:
    """The network is gone (CFUN 0/4, CGATT 0): every active context and its sockets."""
    from . import sockets

    for cid, ctx in engine.pdp.items():
        if ctx.active:
            ctx.active = False
            ctx.ip = ""
            sockets.close_for_pdp(engine, cid, urc=True)


def _ip(text: str) -> str:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise ParamError(f"not an IP address: {text!r}") from None
    return text


@command("+QIDNSCFG", qi=True, test="+QIDNSCFG: (1-16),<pridnsaddr>,<secdnsaddr>", forms=WRITE)
def qidnscfg(engine: Engine, cmd: Command) -> Outcome:
    params = cmd.params
    arity(params, 1, 3)
    cid = params[0].num(1, 16)
    ctx = engine.pdp[cid]
    if not ctx.active:
        engine.last_error = QiError.NOT_ALLOWED
        return ERROR
    if len(params) == 1:
        engine.info(f'+QIDNSCFG: {cid},"{ctx.dns[0]}","{ctx.dns[1]}"')
        return OK
    primary = _ip(params[1].string(64))
    secondary = _ip(params[2].string(64)) if len(params) == 3 else ctx.dns[1]
    ctx.dns = (primary, secondary)
    engine.note("QIDNSCFG: stored; names are resolved by the host's resolver (see --resolve)")
    return OK


@command("+QIGETERROR", test="")
def qigeterror(engine: Engine, cmd: Command) -> Outcome:
    if cmd.kind is not Kind.EXEC:
        return ERROR
    code = engine.last_error
    engine.info(f"+QIGETERROR: {code},{QI_ERROR_TEXT.get(code, 'unknown error')}")
    return OK


@command("+CGPADDR", test="+CGPADDR: (1-16)")
def cgpaddr(engine: Engine, cmd: Command) -> Outcome:
    if cmd.kind is Kind.EXEC:
        cids = [cid for cid, ctx in engine.pdp.items() if ctx.active]
    elif cmd.kind is Kind.WRITE:
        arity(cmd.params, 1, 1)
        cids = [cmd.params[0].num(1, 16)]
    else:
        return ERROR
    for cid in cids:
        ctx = engine.pdp[cid]
        engine.info(f"+CGPADDR: {cid},{ctx.ip if ctx.active else '0.0.0.0'}")
    return OK


DNS_TTL = 600  # seconds, as real captures report it


@command("+QIDNSGIP", qi=True, test="+QIDNSGIP: (1-16),<hostname>", forms=WRITE)
def qidnsgip(engine: Engine, cmd: Command) -> Outcome:
    params = cmd.params
    arity(params, 2, 2)
    cid = params[0].num(1, 16)
    host = params[1].host()
    if not engine.pdp[cid].active:
        engine.note(f"QIDNSGIP: PDP context {cid} is not active")
        engine.last_error = QiError.OPEN_PDP  # as QIOPEN, QPING and QNTP report it
        return ERROR
    if engine.dns_requests:
        engine.last_error = QiError.DNS_BUSY
        return ERROR
    request = engine.resolve(host, lambda event: _resolved(engine, event))
    engine.dns_requests.add(request)
    return OK


def _resolved(engine: Engine, event: Resolved) -> None:
    """The answer to AT+QIDNSGIP, as +QIURC "dnsgip" URCs."""
    engine.dns_requests.discard(event.request)
    if event.code or not event.addresses:
        code = event.code or int(QiError.DNS_PARSE)
        engine.note(f"QIDNSGIP failed: {event.reason}")
        engine.last_error = code
        engine.urc(f'+QIURC: "dnsgip",{code}')
        return
    engine.urc(f'+QIURC: "dnsgip",0,{len(event.addresses)},{DNS_TTL}')
    for address in event.addresses:
        engine.urc(f'+QIURC: "dnsgip","{address}"')


_QICFG_TEST = (
    '+QICFG: "transpktsize",(1-1460)',
    '+QICFG: "transwaittm",(0-20)',
    '+QICFG: "dataformat",(0,1),(0,1)',
    '+QICFG: "viewmode",(0,1)',
    '+QICFG: "tcp/retranscfg",(3-20),(5-1000)',
)


@command("+QICFG", qi=True, test=_QICFG_TEST, forms=WRITE)
def qicfg(engine: Engine, cmd: Command) -> Outcome:
    """TCP/IP settings; the transparent-mode packing ones shape SSL connections too."""
    params = cmd.params
    arity(params, 1, 3)
    key = params[0].string(32).lower()
    cfg = engine.qicfg
    values = params[1:]
    if key == "transpktsize":
        arity(values, 0, 1)
        if values:
            cfg.transpktsize = values[0].num(1, 1460)
        shown = str(cfg.transpktsize)
    elif key == "transwaittm":
        arity(values, 0, 1)
        if values:
            cfg.transwaittm = values[0].num(0, 20)
        shown = str(cfg.transwaittm)
    elif key == "viewmode":
        arity(values, 0, 1)
        if values:
            cfg.viewmode = values[0].num(0, 1)
        shown = str(cfg.viewmode)
    elif key == "dataformat":
        if values:
            arity(values, 2, 2)
            cfg.dataformat = (values[0].num(0, 1), values[1].num(0, 1))
        shown = f"{cfg.dataformat[0]},{cfg.dataformat[1]}"
    elif key == "tcp/retranscfg":
        if values:
            arity(values, 2, 2)
            cfg.retranscfg = (values[0].num(3, 20), values[1].num(5, 1000))
        shown = f"{cfg.retranscfg[0]},{cfg.retranscfg[1]}"
    else:
        return ERROR
    if not values:
        engine.info(f'+QICFG: "{key}",{shown}')
    return OK
