"""The TCP/IP manual's network tools: AT+QPING (ICMP echo) and AT+QNTP (the module clock from
an NTP server). Both look the name up first and answer in URCs; the runner does the real
exchange (``Ping``/``NtpQuery`` intents) and the engine's timers decide when it is too late."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..cmdline import Command, Kind
from ..codes import QiError
from ..events import NtpAnswer, NtpQuery, Ping, Pinged, Resolved
from ..outcome import ERROR, OK, Outcome
from ..params import arity
from ..registry import command

if TYPE_CHECKING:
    from ..core import Engine
    from ..timers import Timer

PING_SIZE = 32  # bytes of echo data (the manual's example answers 32)
NTP_PORT = 123


@dataclass
class PingRun:
    """An AT+QPING under way: echoes one after another, each answered or timed out."""

    request: int
    host: str
    timeout: int
    count: int
    address: str = ""
    seq: int = 0
    rtts: list[int] = field(default_factory=list)
    timer: Timer | None = None


@dataclass
class NtpRun:
    request: int
    server: str
    port: int
    autoset: bool
    timer: Timer | None = None


def _context_ready(engine: Engine, cid: int) -> bool:
    return engine.cfun == 1 and engine.pdp[cid].active


@command("+QPING", qi=True, test="+QPING: (1-16),<host>,(1-255),(1-10)")
def qping(engine: Engine, cmd: Command) -> Outcome:
    if cmd.kind is not Kind.WRITE:
        return ERROR
    params = cmd.params
    arity(params, 2, 4)
    cid = params[0].num(1, 16)
    host = params[1].host()
    timeout = params[2].num(1, 255) if len(params) > 2 and not params[2].omitted else 4
    count = params[3].num(1, 10) if len(params) > 3 and not params[3].omitted else 4
    if engine.ping is not None:
        engine.note("QPING: a ping is under way")
        engine.last_error = QiError.BUSY
        return ERROR
    if not _context_ready(engine, cid):
        engine.note(f"QPING: PDP context {cid} is not active")
        engine.last_error = QiError.OPEN_PDP
        engine.urc(f"+QPING: {int(QiError.OPEN_PDP)}")
        return OK
    ping = PingRun(engine.next_conn_seq(), host, timeout, count)
    engine.ping = ping
    engine.resolve(host, lambda event: _resolved(engine, ping, event))
    return OK


def _resolved(engine: Engine, ping: PingRun, event: Resolved) -> None:
    if engine.ping is not ping:
        return
    if event.code or not event.addresses:
        engine.note(f"QPING {ping.host}: {event.reason}")
        engine.ping = None
        engine.last_error = event.code or QiError.DNS_PARSE
        engine.urc(f"+QPING: {int(engine.last_error)}")
        return
    ping.address = event.addresses[0]
    _echo(engine, ping)


def _echo(engine: Engine, ping: PingRun) -> None:
    """The next echo request, and its deadline."""
    ping.seq += 1
    engine.emit(Ping(ping.request, ping.address, ping.seq, PING_SIZE, float(ping.timeout)))
    ping.timer = engine.call_later(float(ping.timeout), lambda: _answered(engine, ping, None))


def _answered(engine: Engine, ping: PingRun, reply: Pinged | None) -> None:
    """An echo came back (``reply``) or its time ran out: its URC, then the next or the end."""
    if engine.ping is not ping:
        return
    if ping.timer is not None:
        ping.timer.cancel()
        ping.timer = None
    if reply is None:
        engine.urc(f"+QPING: {int(QiError.TIMEOUT)}")
    else:
        ping.rtts.append(reply.rtt_ms)
        engine.urc(f'+QPING: 0,"{ping.address}",{reply.size},{reply.rtt_ms},{reply.ttl}')
    if ping.seq < ping.count:
        _echo(engine, ping)
        return
    engine.ping = None
    got = len(ping.rtts)
    if not got:
        engine.urc(f"+QPING: 0,{ping.count},0,{ping.count}")
        return
    average = round(sum(ping.rtts) / got)
    engine.urc(
        f"+QPING: 0,{ping.count},{got},{ping.count - got},"
        f"{min(ping.rtts)},{max(ping.rtts)},{average}"
    )


@command("+QNTP", qi=True, test=f"+QNTP: (1-16),<server>,({NTP_PORT}),(0,1)")
def qntp(engine: Engine, cmd: Command) -> Outcome:
    ntp = engine.ntp
    if cmd.kind is Kind.READ:
        if ntp is not None:
            engine.info(f'+QNTP: "{ntp.server}",{ntp.port}')
        return OK
    if cmd.kind is not Kind.WRITE:
        return ERROR
    params = cmd.params
    arity(params, 2, 4)
    cid = params[0].num(1, 16)
    server = params[1].host("NTP server")
    port = params[2].num(1, 65535) if len(params) > 2 and not params[2].omitted else NTP_PORT
    autoset = params[3].num(0, 1) if len(params) > 3 and not params[3].omitted else 1
    if ntp is not None:
        engine.note("QNTP: a synchronisation is under way")
        engine.last_error = QiError.BUSY
        return ERROR
    if not _context_ready(engine, cid):
        engine.note(f"QNTP: PDP context {cid} is not active")
        engine.last_error = QiError.OPEN_PDP
        engine.urc(f"+QNTP: {int(QiError.OPEN_PDP)}")
        return OK
    query = NtpRun(engine.next_conn_seq(), server, port, bool(autoset))
    engine.ntp = query
    engine.resolve(server, lambda event: _ntp_resolved(engine, query, event))
    query.timer = engine.call_later(engine.config.ntp_timeout, lambda: _ntp_failed(engine, query))
    return OK


def _ntp_resolved(engine: Engine, query: NtpRun, event: Resolved) -> None:
    if engine.ntp is not query:
        return
    if event.code or not event.addresses:
        engine.note(f"QNTP {query.server}: {event.reason}")
        _ntp_failed(engine, query, event.code or int(QiError.DNS_PARSE))
        return
    engine.emit(NtpQuery(query.request, event.addresses[0], query.port, engine.config.ntp_timeout))


def _ntp_failed(engine: Engine, query: NtpRun, code: int = QiError.TIMEOUT) -> None:
    if engine.ntp is not query:
        return
    if query.timer is not None:
        query.timer.cancel()
    engine.ntp = None
    if code == QiError.TIMEOUT:
        engine.note(f"QNTP {query.server}: no answer in {engine.config.ntp_timeout:g} s")
    engine.last_error = code
    engine.urc(f"+QNTP: {code}")


def _ntp_answered(engine: Engine, event: NtpAnswer) -> None:
    query = engine.ntp
    if query is None or query.request != event.request:
        return
    if query.timer is not None:
        query.timer.cancel()
    engine.ntp = None
    tz = engine.clock_tz
    if query.autoset:
        engine.set_module_time(event.time, tz)
        engine.note(f"QNTP {query.server}: the module clock is set")
    local = time.gmtime(event.time + tz * 900)
    sign = "+" if tz >= 0 else "-"
    engine.urc(f'+QNTP: 0,"{time.strftime("%Y/%m/%d,%H:%M:%S", local)}{sign}{abs(tz):02d}"')


def on_event(engine: Engine, event: Pinged | NtpAnswer) -> None:
    if isinstance(event, NtpAnswer):
        _ntp_answered(engine, event)
        return
    ping = engine.ping
    if ping is not None and ping.request == event.request and ping.seq == event.seq:
        _answered(engine, ping, event)
