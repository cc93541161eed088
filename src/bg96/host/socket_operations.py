"""A socket's operations, once, as procedures on its ``Link``, for both command families (the
link's ``Family`` names the commands: QSSLSEND/QSSLRECV/QSSLCLOSE or QISEND/QIRD/QICLOSE):
send and receive in the three access modes (buffer: a ``"recv"`` URC then a read; push: the
data comes with the URC; transparent: the port is the connection's), leaving and resuming
transparent mode, its state, closing; UDP datagrams (``send``/``recv`` to one peer,
``sendto``/``recvfrom`` on a UDP service) and a listener's ``accept``. The connection
classes (``connection.py``) run them.
"""

from __future__ import annotations

import ipaddress

from .answers import recv_data
from .core import BUFFER, NO_CARRIER, SETTLE, SSL, TRANSPARENT, Address, Link, Service
from .errors import CommandError, ConnectionClosedByPeer, ModemTimeout, SendFailed
from .exchange import check_carrier, command, exchange, last_error
from .operations import GUARD, ssl_state, tcpip_state
from .parser import DataPhase, Response
from .requests import CLAIM, Procedure, SetDtr, Sleep, Wait, Write

MAX_SEND = 1460  # fixed-length send chunk (the variable-length maximum, safe everywhere)
MAX_RECV = 1500
_OK = b"\r\nOK\r\n"


# ---- streams: TCP, SSL ----------------------------------------------------------------------


def send(link: Link, data: bytes) -> Procedure[None]:
    """Send everything (fixed-length QSSLSEND or QISEND in chunks; raw bytes in
    transparent mode)."""
    if link.closed:
        raise ConnectionClosedByPeer(f"connection {link.client_id} is closed")
    if link.access_mode == TRANSPARENT:
        if link.closed_by_peer:  # NO CARRIER: the port is in command mode
            raise ConnectionClosedByPeer(f"connection {link.client_id}: NO CARRIER")
        yield Write(data)
        return
    head = f"{link.family.send}={link.client_id},"
    for start in range(0, len(data), MAX_SEND):
        chunk = data[start : start + MAX_SEND]
        line = head + str(len(chunk))
        answer = yield from exchange(link.core, line, payload=chunk)
        if answer.final != b"SEND OK":
            yield from _send_failed(link, line, answer)


def _send_failed(link: Link, line: str, answer: Response) -> Procedure[None]:
    if answer.final == b"SEND FAIL":
        raise SendFailed(line, answer.raw(), None, "the module's send buffer is full")
    code, text = yield from last_error(link.core)
    if link.closed_by_peer:
        raise ConnectionClosedByPeer(f"{line}: the server closed the connection")
    raise CommandError(line, answer.raw(), code, text)


def recv(link: Link, size: int = MAX_RECV, timeout: float | None = None) -> Procedure[bytes]:
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


def _fetch(link: Link) -> Procedure[None]:
    """QSSLRECV or QIRD until the module's buffer is empty (that re-arms its recv URC).

    The flag is cleared before each read, not after: a ``"recv"`` URC that arrives inside
    the reply (real modules do that) sets it again, and the next ``recv`` reads.
    """
    line = f"{link.family.recv}={link.client_id},{MAX_RECV}"
    while True:
        link.module_has_data = False
        try:
            response = yield from command(link.core, line)
            data, _ = recv_data(line, response)
        except BaseException:
            link.module_has_data = True  # unknown: try again at the next recv
            raise
        link.buffer += data
        if len(data) < MAX_RECV:
            return


def leave_transparent(link: Link, *, use_dtr: bool = False) -> Procedure[None]:
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


def resume_transparent(link: Link) -> Procedure[None]:
    """ATO: back into transparent mode."""
    if link.closed or link.closed_by_peer:
        raise ConnectionClosedByPeer(f"connection {link.client_id} is closed")
    answer = yield from command(link.core, "ATO", phase=DataPhase.TRANSPARENT, check=False)
    if answer.final != b"CONNECT":
        raise ConnectionClosedByPeer(f"ATO: {answer.raw()!r}")
    link.access_mode = TRANSPARENT


# ---- datagrams: UDP ------------------------------------------------------------------------


def send_datagram(link: Link, data: bytes) -> Procedure[int]:
    """Send ``data`` as one datagram to the peer (AT+QISEND, at most 1460 bytes, not empty:
    ``AT+QISEND=<id>,0`` asks for the totals); its length."""
    line = f"AT+QISEND={link.client_id},{_datagram_size(link, data)}"
    return (yield from _send_datagram(link, line, data))


def sendto(link: Link, data: bytes, address: Address) -> Procedure[int]:
    """Send ``data`` as one datagram to ``address`` (a dotted IPv4 address and a port, as
    AT+QISEND takes them; ``dns_lookup`` finds one for a name); its length."""
    ip, port = address
    try:
        ipaddress.IPv4Address(ip)
    except ValueError:
        raise ValueError(f"{ip!r}: a UDP service sends to a dotted IPv4 address") from None
    if not 0 < port < 65536:
        raise ValueError(f"port {port}: 1-65535")
    line = f'AT+QISEND={link.client_id},{_datagram_size(link, data)},"{ip}",{port}'
    return (yield from _send_datagram(link, line, data))


def _datagram_size(link: Link, data: bytes) -> int:
    if not 0 < len(data) <= MAX_SEND:
        raise ValueError(f"a datagram through the module holds 1-{MAX_SEND} bytes, not {len(data)}")
    if link.closed or link.closed_by_peer:
        raise ConnectionClosedByPeer(f"socket {link.client_id} is closed")
    return len(data)


def _send_datagram(link: Link, line: str, data: bytes) -> Procedure[int]:
    answer = yield from exchange(link.core, line, payload=data)
    if answer.final != b"SEND OK":
        yield from _send_failed(link, line, answer)
    return len(data)


def recv_datagram(
    link: Link, size: int = MAX_RECV, timeout: float | None = None
) -> Procedure[bytes]:
    """The next datagram (its first ``size`` bytes, as a socket gives them). Waits up to
    ``timeout`` s (None: forever); ``ModemTimeout`` when none came,
    ``ConnectionClosedByPeer`` once the module closed the socket. A datagram over 1500 bytes
    comes in pieces of 1500, as the module hands it out."""
    data, _ = yield from _next_datagram(link, timeout)
    return data[:size]


def recvfrom(
    link: Link, size: int = MAX_RECV, timeout: float | None = None
) -> Procedure[tuple[bytes, Address]]:
    """The next datagram (its first ``size`` bytes) and who sent it, ``(ip, port)``. Waits
    up to ``timeout`` s (None: forever); ``ModemTimeout`` when none came. A datagram over
    1500 bytes comes in pieces of 1500, as the module hands it out."""
    data, sender = yield from _next_datagram(link, timeout)
    return data[:size], sender


def _next_datagram(link: Link, timeout: float | None) -> Procedure[tuple[bytes, Address]]:
    core = link.core
    deadline = None if timeout is None else core.clock() + timeout
    while True:
        if link.datagrams:
            return link.datagrams.popleft()
        if link.access_mode == BUFFER and link.module_has_data and not link.closed:
            yield from _fetch_datagram(link)
            continue
        if link.closed or link.closed_by_peer:
            raise ConnectionClosedByPeer(f"socket {link.client_id} is closed")
        left = None if deadline is None else deadline - core.clock()
        if left is not None and left <= 0:
            raise ModemTimeout(f"recv on socket {link.client_id}", timeout or 0.0)
        yield Wait(left)


def _fetch_datagram(link: Link) -> Procedure[None]:
    """One AT+QIRD: a datagram (a UDP service's with its sender), or nothing. After a
    datagram the module may hold more, so the next read asks again; an empty read waits
    for the next ``"recv"`` URC."""
    line = f"AT+QIRD={link.client_id}"  # a UDP service reads whole datagrams, no length
    if link.service is not Service.UDP_SERVICE:
        line += f",{MAX_RECV}"
    link.module_has_data = False
    try:
        response = yield from command(link.core, line)
        data, sender = recv_data(line, response)
    except BaseException:
        link.module_has_data = True
        raise
    if data:
        link.datagrams.append((data, sender or link.peer))
        link.module_has_data = True


# ---- listeners -----------------------------------------------------------------------------


def accept(link: Link, timeout: float | None = None) -> Procedure[tuple[Link, Address]]:
    """The next connection the listener took (``+QIURC: "incoming"``) and its peer's address.
    Waits up to ``timeout`` s (None: forever); ``ModemTimeout`` when none came."""
    core = link.core
    deadline = None if timeout is None else core.clock() + timeout
    while not link.incoming:
        if link.closed or link.closed_by_peer:
            raise ConnectionClosedByPeer(f"listener {link.client_id} is closed")
        left = None if deadline is None else deadline - core.clock()
        if left is not None and left <= 0:
            raise ModemTimeout(f"accept on listener {link.client_id}", timeout or 0.0)
        yield Wait(left)
    incoming = link.incoming.popleft()
    return incoming, incoming.peer


# ---- every socket ---------------------------------------------------------------------------


def state(link: Link) -> Procedure[dict[str, str | int] | None]:
    """This socket's AT+QSSLSTATE or AT+QISTATE fields, or None when the module has no such
    socket."""
    if link.family is SSL:
        found = yield from ssl_state(link.core, link.client_id)
    else:
        found = yield from tcpip_state(link.core, link.client_id)
    return found[0] if found else None


def close(link: Link, timeout: int = 10) -> Procedure[None]:
    """AT+QSSLCLOSE or AT+QICLOSE (a no-op when already closed); from transparent mode it
    leaves first (at once when the server hung up: NO CARRIER), since the command would be
    data. A listener's connections nobody accepted are closed with it."""
    if link.closed:
        return
    core = link.core
    if link.access_mode == TRANSPARENT:
        yield from check_carrier(link)
        if link.access_mode == TRANSPARENT:
            yield from leave_transparent(link)
    link.closed = True
    try:  # registered until the answer: a listener's "incoming" URC may come before it
        yield from command(
            core,
            f"{link.family.close}={link.client_id},{timeout}",
            timeout=max(core.min_timeout, timeout + 1.0),
        )
    finally:
        if core.links.get(link.client_id) is link:
            del core.links[link.client_id]
    while link.incoming:
        yield from close(link.incoming.popleft(), timeout)
