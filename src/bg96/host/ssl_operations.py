"""A connection's operations, once, as procedures on its ``SslLink``: send and receive in the
three access modes (buffer: ``+QSSLURC: "recv"`` then QSSLRECV; push: the data comes with the
URC; transparent: the port is the connection's), leaving and resuming transparent mode,
its QSSLSTATE, closing. ``SslConnection`` and ``AsyncSslConnection`` run them.
"""

from __future__ import annotations

from .answers import qsslrecv_data
from .core import BUFFER, NO_CARRIER, SETTLE, TRANSPARENT, SslLink
from .errors import CommandError, ConnectionClosedByPeer, ModemTimeout, SendFailed
from .exchange import check_carrier, command, exchange, last_error
from .operations import GUARD, ssl_state
from .parser import DataPhase, Response
from .requests import CLAIM, Procedure, SetDtr, Sleep, Wait, Write

MAX_SEND = 1460  # fixed-length QSSLSEND chunk (the variable-length maximum, safe everywhere)
MAX_RECV = 1500
_OK = b"\r\nOK\r\n"


def send(link: SslLink, data: bytes) -> Procedure[None]:
    """Send everything (fixed-length QSSLSEND in chunks; raw bytes in transparent mode)."""
    if link.closed:
        raise ConnectionClosedByPeer(f"connection {link.client_id} is closed")
    if link.access_mode == TRANSPARENT:
        if link.closed_by_peer:  # NO CARRIER: the port is in command mode
            raise ConnectionClosedByPeer(f"connection {link.client_id}: NO CARRIER")
        yield Write(data)
        return
    for start in range(0, len(data), MAX_SEND):
        chunk = data[start : start + MAX_SEND]
        line = f"AT+QSSLSEND={link.client_id},{len(chunk)}"
        answer = yield from exchange(link.core, line, payload=chunk)
        if answer.final != b"SEND OK":
            yield from _send_failed(link, line, answer)


def _send_failed(link: SslLink, line: str, answer: Response) -> Procedure[None]:
    if answer.final == b"SEND FAIL":
        raise SendFailed(line, answer.raw(), None, "the module's send buffer is full")
    code, text = yield from last_error(link.core)
    if link.closed_by_peer:
        raise ConnectionClosedByPeer(f"{line}: the server closed the connection")
    raise CommandError(line, answer.raw(), code, text)


def recv(link: SslLink, size: int = MAX_RECV, timeout: float | None = None) -> Procedure[bytes]:
    """Up to ``size`` bytes; ``b""`` once the server closed and all was read.

    Waits up to ``timeout`` seconds (None: forever) for data to arrive; ``ModemTimeout``
    when none did."""
    core = link.core
    deadline = None if timeout is None else core.clock() + timeout
    while True:
        if link.buffer:
            return link.take(size)
        if link.access_mode == BUFFER and link.module_has_data and not link.closed:
            yield from _fetch(link)
            if link.buffer or link.module_has_data:
                continue  # data, or a recv URC came in during the read: read again
        if link.access_mode == TRANSPARENT or link.tail:
            link.pull_transparent()
            if link.buffer:
                continue
        if (link.closed_by_peer or link.closed) and not link.tail:
            return b""
        left = None if deadline is None else deadline - core.clock()
        if left is not None and left <= 0:
            raise ModemTimeout(f"recv on connection {link.client_id}", timeout or 0.0)
        if link.tail:  # a NO CARRIER may be coming: look again once it had time to
            left = SETTLE if left is None else min(left, SETTLE)
        yield Wait(left)


def _fetch(link: SslLink) -> Procedure[None]:
    """QSSLRECV until the module's buffer is empty (that re-arms its recv URC).

    The flag is cleared before each read, not after: a ``+QSSLURC: "recv"`` that arrives
    inside the reply (real modules do that) sets it again, and the next ``recv`` reads.
    """
    line = f"AT+QSSLRECV={link.client_id},{MAX_RECV}"
    while True:
        link.module_has_data = False
        try:
            response = yield from command(link.core, line)
            data = qsslrecv_data(line, response)
        except BaseException:
            link.module_has_data = True  # unknown: try again at the next recv
            raise
        link.buffer += data
        if len(data) < MAX_RECV:
            return


def state(link: SslLink) -> Procedure[dict[str, str | int] | None]:
    """This connection's AT+QSSLSTATE fields, or None when the module has no such socket."""
    found = yield from ssl_state(link.core, link.client_id)
    return found[0] if found else None


def leave_transparent(link: SslLink, *, use_dtr: bool = False) -> Procedure[None]:
    """Back to command mode: ``+++`` with its guard times, or a DTR drop (AT&D1). The
    connection stays open, in buffer mode (``resume_transparent`` returns)."""
    core = link.core
    yield CLAIM
    link.leaving = True
    try:
        if use_dtr:
            yield SetDtr(False)
        else:
            yield Sleep(GUARD + 0.1)
            yield Write(b"+++")
        wait = GUARD * 2 + core.min_timeout
        deadline = core.clock() + wait
        tail = bytes(link.tail) + core.take_data()
        link.tail.clear()
        while not tail.endswith(_OK):
            if tail.endswith(NO_CARRIER):  # the connection ended first
                link.buffer += tail[: -len(NO_CARRIER)]
                link.carrier_lost()
                break
            if core.clock() > deadline:
                raise ModemTimeout("+++", wait, tail[-64:])
            yield Wait(0.05)
            tail += core.take_data()
        else:
            link.buffer += tail[: -len(_OK)]
            core.parser.leave_transparent()
            link.access_mode = BUFFER
        if use_dtr:
            yield SetDtr(True)
    finally:
        link.leaving = False


def resume_transparent(link: SslLink) -> Procedure[None]:
    """ATO: back into transparent mode."""
    if link.closed or link.closed_by_peer:
        raise ConnectionClosedByPeer(f"connection {link.client_id} is closed")
    answer = yield from command(link.core, "ATO", phase=DataPhase.TRANSPARENT, check=False)
    if answer.final != b"CONNECT":
        raise ConnectionClosedByPeer(f"ATO: {answer.raw()!r}")
    link.access_mode = TRANSPARENT


def close(link: SslLink, timeout: int = 10) -> Procedure[None]:
    """AT+QSSLCLOSE (a no-op when already closed); from transparent mode it leaves first
    (at once when the server hung up: NO CARRIER), since the command would be data."""
    if link.closed:
        return
    core = link.core
    if link.access_mode == TRANSPARENT:
        yield from check_carrier(link)
        if link.access_mode == TRANSPARENT:
            yield from leave_transparent(link)
    link.closed = True
    if core.links.get(link.client_id) is link:
        del core.links[link.client_id]
    yield from command(
        core,
        f"AT+QSSLCLOSE={link.client_id},{timeout}",
        timeout=max(core.min_timeout, timeout + 1.0),
    )
