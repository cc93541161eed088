"""The TCP/IP manual's services, once, as procedures: a name lookup (AT+QIDNSGIP), a ping
(AT+QPING), the clock from an NTP server (AT+QNTP). Each answers ``OK`` at once and its
result later, in URCs that may come while other commands run; the core keeps them for the
procedure (``ModemCore.await_urcs``) as well as queueing them as every URC.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from typing import NoReturn

from .answers import PingReply, PingResult, PingSummary, dns_address, dns_head, ntp_time, ping_line
from .core import ModemCore
from .errors import (
    CommandError,
    DnsFailed,
    ModemTimeout,
    NtpFailed,
    PingFailed,
    UnexpectedResponse,
)
from .exchange import command, last_error
from .parser import Urc
from .requests import Procedure, Wait

DNS_WAIT = 60.0  # s: AT+QIDNSGIP's maximum (TCP/IP AN)
NTP_WAIT = 125.0  # s: AT+QNTP's maximum
PING_SLACK = 30.0  # s beyond timeout x count for the name lookup and the summary
TIMED_OUT = 569  # an echo that got no reply in time

__all__ = ["dns_lookup", "ntp_sync", "ping"]


def dns_lookup(
    core: ModemCore, host: str, *, pdp_ctx: int = 1, timeout: float = DNS_WAIT
) -> Procedure[list[str]]:
    """AT+QIDNSGIP: the addresses of ``host``, as the module's DNS servers give them
    (``+QIURC: "dnsgip",0,<count>,<ttl>``, then one line per address). ``DnsFailed`` with the
    module's code when it finds none (565), or refuses the lookup (564: one is under way)."""
    line = f'AT+QIDNSGIP={pdp_ctx},"{host}"'
    prefix = b'+QIURC: "dnsgip"'
    got = core.await_urcs(prefix)
    try:
        yield from _start(core, line, DnsFailed)
        deadline = core.clock() + timeout
        addresses: list[str] = []
        count: int | None = None
        while count is None or len(addresses) < count:
            urc = yield from _next(core, got, line, deadline, timeout)
            head = dns_head(urc.line)
            if head is not None:
                err, count = head
                if err:
                    yield from _failed(core, DnsFailed, line, urc, err)
            elif (address := dns_address(urc.line)) is not None and count is not None:
                addresses.append(address)
            else:
                raise UnexpectedResponse(line, urc.line, None, "not a dnsgip line")
        return addresses
    finally:
        core.stop_awaiting(prefix)


def ping(
    core: ModemCore, host: str, timeout: int = 4, count: int = 4, *, pdp_ctx: int = 1
) -> Procedure[PingResult]:
    """AT+QPING: ``count`` echoes (1-10) to ``host``, each waited for up to ``timeout`` s
    (1-255). An echo that times out (``+QPING: 569``) counts as lost; ``PingFailed`` with the
    module's code when the ping fails as a whole (565: the name is unknown, 561: the PDP
    context is not active)."""
    if not 1 <= timeout <= 255 or not 1 <= count <= 10:
        raise ValueError("timeout is 1-255 s, count 1-10")
    line = f'AT+QPING={pdp_ctx},"{host}",{timeout},{count}'
    prefix = b"+QPING:"
    got = core.await_urcs(prefix)
    try:
        yield from _start(core, line, PingFailed)
        wait = timeout * count + PING_SLACK
        deadline = core.clock() + wait
        replies: list[PingReply] = []
        errors: list[int] = []
        while True:
            urc = yield from _next(core, got, line, deadline, wait)
            try:
                item = ping_line(urc.line)
            except ValueError:
                raise UnexpectedResponse(line, urc.line, None, "not a +QPING line") from None
            if isinstance(item, PingReply):
                replies.append(item)
            elif isinstance(item, PingSummary):
                if item.result:
                    yield from _failed(core, PingFailed, line, urc, item.result)
                return PingResult(
                    host,
                    tuple(replies),
                    tuple(errors),
                    item.sent,
                    item.received,
                    item.lost,
                    item.min_ms,
                    item.max_ms,
                    item.avg_ms,
                )
            elif item == TIMED_OUT and len(replies) + len(errors) < count:
                errors.append(item)
            else:
                yield from _failed(core, PingFailed, line, urc, item)
    finally:
        core.stop_awaiting(prefix)


def ntp_sync(
    core: ModemCore, server: str, port: int = 123, *, pdp_ctx: int = 1, timeout: float = NTP_WAIT
) -> Procedure[dt.datetime]:
    """AT+QNTP: the module sets its clock (AT+CCLK) from the NTP ``server``; the time it got,
    an aware ``datetime`` in the module's time zone (``+QNTP: 0,"YYYY/MM/DD,hh:mm:ss±zz"``).
    ``NtpFailed`` with the module's code when it got none (``+QNTP: <err>``)."""
    line = f'AT+QNTP={pdp_ctx},"{server}",{port}'
    prefix = b"+QNTP:"
    got = core.await_urcs(prefix)
    try:
        yield from _start(core, line, NtpFailed)
        urc = yield from _next(core, got, line, core.clock() + timeout, timeout)
        try:
            err, when = ntp_time(urc.line)
        except ValueError:
            raise UnexpectedResponse(line, urc.line, None, "not a +QNTP line") from None
        if err:
            yield from _failed(core, NtpFailed, line, urc, err)
        if when is None:
            raise UnexpectedResponse(line, urc.line, None, "no time in the +QNTP line")
        return when
    finally:
        core.stop_awaiting(prefix)


def _start(core: ModemCore, line: str, error: type[CommandError]) -> Procedure[None]:
    """The command, whose ``ERROR`` (AT+QIGETERROR's code) raises ``error``."""
    try:
        yield from command(core, line)
    except UnexpectedResponse:
        raise
    except CommandError as exc:
        raise error(line, exc.response, exc.code, exc.text) from None


def _next(
    core: ModemCore, got: deque[Urc], line: str, deadline: float, wait: float
) -> Procedure[Urc]:
    """The next awaited URC before ``deadline`` (``ModemTimeout``: none within ``wait`` s)."""
    while not got:
        left = deadline - core.clock()
        if left <= 0:
            raise ModemTimeout(f"{line} (waiting for its result)", wait)
        yield Wait(left)
    return got.popleft()


def _failed(
    core: ModemCore, error: type[CommandError], line: str, urc: Urc, code: int
) -> Procedure[NoReturn]:
    """Raise ``error`` for the failure ``urc`` reports, with AT+QIGETERROR's words for its
    code (when it reports the same one)."""
    known, text = yield from last_error(core)
    raise error(line, urc.line, code, text if known == code else "")
