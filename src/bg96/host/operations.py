"""Every operation of the driver on the module, once, as a procedure: ``Modem`` runs them in
the caller's thread, ``AsyncModem`` awaits them, and both mean the same by each.

Each takes the ``ModemCore`` first; its other parameters, its docstring and its result are
the faces' method's. A socket's own operations are in ``socket_operations``, the TCP/IP
services (DNS, ping, NTP) in ``net_operations``.
"""

from __future__ import annotations

from collections.abc import Callable

from .answers import (
    REGISTERED,
    cereg_stat,
    check_file_sum,
    info_lines,
    ip_states,
    qflst_files,
    qiact_address,
    ssl_config_lines,
    ssl_states,
)
from .core import TRANSPARENT, Address, Link, ModemCore, Service
from .errors import (
    CommandError,
    ModemError,
    ModemReset,
    ModemTimeout,
    OpenFailed,
    UnexpectedResponse,
)
from .exchange import BLOCK, command, exchange, fail, last_error
from .parser import DataPhase, Urc
from .requests import CLAIM, REOPEN, Procedure, Sleep, Wait, Write

ID_IN_USE = 563  # table 3: socket identity has been used
OPEN_WAIT = 150.0 + 300.0  # s: the TCP connect (150 s) and the longest negotiatetime (300 s)
GUARD = 1.0  # s of silence before and after +++
SERVER_ADDRESS = "127.0.0.1"  # what a TCP LISTENER or UDP SERVICE is opened with (the manual's)

__all__ = [
    "activate",
    "command",
    "configure_pdp",
    "create_connection",
    "create_udp_connection",
    "deactivate",
    "delete",
    "download",
    "identify",
    "ip_address",
    "last_error",
    "list_files",
    "listen",
    "open_ssl",
    "open_tcp",
    "poll",
    "query",
    "reset",
    "ssl_config",
    "ssl_state",
    "sync",
    "tcpip_state",
    "udp_service",
    "upload",
    "wait_registered",
    "wait_urc",
]

# ---- URCs -------------------------------------------------------------------------------------


def poll(core: ModemCore, timeout: float = 0.0) -> Procedure[list[Urc]]:
    """Read for up to ``timeout`` s and return the URCs queued so far (the queue empties)."""
    deadline = core.clock() + timeout
    while True:
        yield Wait(max(0.0, deadline - core.clock()))
        if core.clock() >= deadline:
            break
    out = list(core.urcs)
    core.urcs.clear()
    return out


def wait_urc(core: ModemCore, prefix: bytes, timeout: float) -> Procedure[Urc]:
    """The next queued URC starting with ``prefix`` (others stay queued); ``ModemTimeout``
    when none comes within ``timeout`` s."""
    deadline = core.clock() + timeout
    while True:
        for urc in core.urcs:
            if urc.line.startswith(prefix):
                core.urcs.remove(urc)
                return urc
        left = deadline - core.clock()
        if left <= 0:
            raise ModemTimeout(f"URC {prefix!r}", timeout)
        yield Wait(left)


# ---- commands, state ------------------------------------------------------------------------


def query(core: ModemCore, line: str, prefix: str) -> Procedure[list[str]]:
    """The information lines of ``line`` that start with ``prefix``, prefix removed."""
    return info_lines((yield from command(core, line)), prefix)


def sync(core: ModemCore, attempts: int = 10) -> Procedure[None]:
    """Bring the module into a known state: out of any prompt, ``AT`` answers, no echo,
    numeric errors. Use it at start and after any exception; it reopens a port that
    closed, and leaves transparent mode with ``+++`` (about 2 s) if the port was in it.

    ESC ends a variable-length prompt only: a fixed-length QSSLSEND prompt or a QFUPL
    whose CONNECT went unseen takes sync's first bytes as its data (they go to the server
    or into the file) until it has its length; ``AT`` is repeated until it answers a bare
    ``OK``. Connections read at their next ``recv`` whether or not a URC came, since one
    may have been lost (the module repeats it only after its buffer was read empty); with a
    listener open, AT+QISTATE finds the connections it took whose URC was lost."""
    yield REOPEN
    yield CLAIM
    if core.parser.transparent:
        yield from _escape_transparent(core)
    yield Write(b"\x1b")  # ends a QSSLSEND prompt without sending
    patience = max(core.min_timeout, 0.5)
    for _ in range(attempts):
        yield from _drain(core)
        try:
            # a bare OK: an upload or prompt that took the line as data answers otherwise
            if not (yield from command(core, "AT", timeout=patience)).lines:
                break
        except (ModemTimeout, CommandError, ModemReset):
            continue
    else:
        raise ModemTimeout("AT", attempts * patience)
    yield from command(core, "ATE0")
    yield from command(core, "AT+CMEE=1")
    for link in core.links.values():
        link.urcs_may_be_lost()
    if any(link.service is Service.TCP_LISTENER for link in core.links.values()):
        yield from _find_incoming(core)


def _find_incoming(core: ModemCore) -> Procedure[None]:
    """A listener's ``"incoming"`` URC cut short by a resync is not repeated: the
    connections AT+QISTATE lists as ``"TCP INCOMING"`` that this driver does not know yet go to
    their listener's queue."""
    for entry in (yield from tcpip_state(core)):
        client_id, server_id = int(entry["connectID"]), int(entry["serverID"])
        if entry["service_type"] == Service.TCP_INCOMING.value and client_id not in core.links:
            peer = (str(entry["IP_address"]), int(entry["remote_port"]))
            core.took_incoming(client_id, server_id, peer)


def _escape_transparent(core: ModemCore) -> Procedure[None]:
    """``+++`` with its guard times: the module goes back to command mode."""
    for link in core.links.values():
        if link.access_mode == TRANSPARENT:
            link.access_mode = 0
    yield Sleep(GUARD + 0.1)
    yield Write(b"+++")
    yield Sleep(GUARD + 0.1)
    core.parser.leave_transparent()


def _drain(core: ModemCore, quiet: float = 0.1) -> Procedure[None]:
    """Read and drop whatever the module still sends until it is quiet for ``quiet`` s
    (at most 5 s); URCs are kept. Leaves a fresh parser."""
    core.fresh_parser()
    deadline = core.clock() + 5.0
    last = core.clock()
    while (now := core.clock()) < deadline and now - last < quiet:
        seen = core.bytes_in
        yield Wait(quiet - (now - last))
        if core.bytes_in != seen:
            last = core.clock()
    core.fresh_parser()


def reset(core: ModemCore, timeout: float = 30.0) -> Procedure[None]:
    """AT+CFUN=1,1 and wait until the module is ready again (APP RDY), then ``sync()``."""
    yield CLAIM
    yield Wait(0.0)  # an APP RDY of an earlier boot, still unread, does not count
    ready = core.app_ready
    yield from command(core, "AT+CFUN=1,1")
    for link in core.links.values():
        link.module_reset()
    core.links.clear()
    deadline = core.clock() + timeout
    while core.app_ready == ready:
        left = deadline - core.clock()
        if left <= 0:
            raise ModemTimeout("AT+CFUN=1,1 (waiting for APP RDY)", timeout)
        yield Wait(left)
    yield from poll(core, 0.1)
    yield from sync(core)


# ---- identity and network -------------------------------------------------------------------


def identify(core: ModemCore) -> Procedure[list[str]]:
    """ATI: manufacturer, model, revision."""
    return [x.decode("latin-1") for x in (yield from command(core, "ATI")).lines]


def wait_registered(core: ModemCore, timeout: float = 60.0, poll: float = 0.5) -> Procedure[int]:
    """Ask ``AT+CEREG?`` until the module is registered (stat 1 or 5); its stat.
    ``ModemTimeout`` when it is not within ``timeout`` seconds."""
    deadline = core.clock() + timeout
    while (stat := cereg_stat((yield from command(core, "AT+CEREG?")))) not in REGISTERED:
        if core.clock() >= deadline:
            raise ModemTimeout(f"AT+CEREG? (still stat {stat})", timeout)
        yield Sleep(poll)
    return stat


# ---- PDP ------------------------------------------------------------------------------------


def configure_pdp(
    core: ModemCore,
    ctx: int = 1,
    apn: str = "",
    username: str = "",
    password: str = "",
    auth: int = 0,
    context_type: int = 1,
) -> Procedure[None]:
    """AT+QICSGP: the APN and credentials of a PDP context (checked before anything is sent:
    ``ctx`` 1-16, ``context_type`` 1 IPv4 or 2 IPv6, ``auth`` 0-3)."""
    if not 1 <= ctx <= 16 or context_type not in (1, 2) or not 0 <= auth <= 3:
        raise ValueError("ctx 1-16, context_type 1 or 2, auth 0-3")
    yield from command(
        core, f'AT+QICSGP={ctx},{context_type},"{apn}","{username}","{password}",{auth}'
    )


def activate(core: ModemCore, ctx: int = 1) -> Procedure[str]:
    """AT+QIACT; returns the address the network gave."""
    yield from command(core, f"AT+QIACT={ctx}")
    address = yield from ip_address(core, ctx)
    if address is None:
        raise UnexpectedResponse("AT+QIACT?", b"", None, f"context {ctx} is not active")
    return address


def deactivate(core: ModemCore, ctx: int = 1) -> Procedure[None]:
    """AT+QIDEACT: the context goes down, and the connections on it with it."""
    yield from command(core, f"AT+QIDEACT={ctx}")


def ip_address(core: ModemCore, ctx: int = 1) -> Procedure[str | None]:
    """The context's address, or None when it is not active (AT+QIACT?)."""
    line = "AT+QIACT?"
    return qiact_address(line, (yield from command(core, line)), ctx)


# ---- files ----------------------------------------------------------------------------------


def list_files(core: ModemCore) -> Procedure[dict[str, int]]:
    """AT+QFLST: name -> size."""
    line = "AT+QFLST"
    return qflst_files(line, (yield from command(core, line)))


def delete(core: ModemCore, name: str) -> Procedure[None]:
    """AT+QFDEL (``+CME ERROR: 405`` when there is no such file)."""
    yield from command(core, f'AT+QFDEL="{name}"')


def upload(
    core: ModemCore,
    name: str,
    data: bytes,
    *,
    timeout: int = 5,
    progress: Callable[[int, int], None] | None = None,
    block: int = BLOCK,
) -> Procedure[None]:
    """AT+QFUPL, then the bytes (``block`` at a time, ``progress(done, total)`` after each);
    the module's checksum must match ours. ``timeout``: QFUPL's own idle timeout (s)."""
    line = f'AT+QFUPL="{name}",{len(data)},{timeout}'
    response = yield from exchange(
        core,
        line,
        phase=DataPhase.UPLOAD,
        payload=data,
        progress=progress,
        block=block,
        data_time=timeout,
    )
    if not response.ok:
        yield from fail(core, line, response)
    check_file_sum(line, response, data, b"+QFUPL:")


def download(
    core: ModemCore, name: str, progress: Callable[[int, int], None] | None = None
) -> Procedure[bytes]:
    """AT+QFDWL (after AT+QFLST for its size); the module's checksum must match the bytes
    received. ``progress(done, total)`` hears of them as they come in."""
    files = yield from list_files(core)
    size = files.get(name.removeprefix("UFS:"))
    line = f'AT+QFDWL="{name}"'
    if size is None:  # the size must be known: the raw bytes have no end marker
        raise CommandError(line, b"(not listed by AT+QFLST)", 405, "file not found")
    response = yield from exchange(
        core, line, phase=DataPhase.DOWNLOAD, download=size, progress=progress
    )
    if not response.ok:
        yield from fail(core, line, response)
    data = response.lines[0] if response.lines else b""
    if progress is not None:
        progress(len(data), size)
    check_file_sum(line, response, data, b"+QFDWL:")
    return data


# ---- SSL ------------------------------------------------------------------------------------


def ssl_config(
    core: ModemCore,
    ctx: int,
    *,
    version: int | None = None,
    ciphersuite: int | None = None,
    seclevel: int | None = None,
    cacert: str | None = None,
    clientcert: str | None = None,
    clientkey: str | None = None,
    ignore_localtime: bool | None = None,
    negotiate_time: int | None = None,
) -> Procedure[None]:
    """AT+QSSLCFG for each given setting (``"sslversion"``, ``"ciphersuite"``,
    ``"seclevel"``, ``"cacert"``, ``"clientcert"``, ``"clientkey"``, ``"ignorelocaltime"``,
    ``"negotiatetime"``), all checked against the manual's ranges before any is sent."""
    lines = ssl_config_lines(
        ctx,
        version=version,
        ciphersuite=ciphersuite,
        seclevel=seclevel,
        cacert=cacert,
        clientcert=clientcert,
        clientkey=clientkey,
        ignore_localtime=ignore_localtime,
        negotiate_time=negotiate_time,
    )
    for line in lines:
        yield from command(core, line)


def open_ssl(
    core: ModemCore,
    client_id: int,
    host: str,
    port: int,
    *,
    ssl_ctx: int = 0,
    pdp_ctx: int = 1,
    access_mode: int = 0,
    timeout: float | None = None,
) -> Procedure[Link]:
    """AT+QSSLOPEN and wait for its result (``+QSSLOPEN: <id>,<err>``, or ``CONNECT`` in
    transparent mode, ``access_mode`` 2); ``OpenFailed`` carries the module's code.
    ``ValueError`` when this driver already has a socket on ``client_id``."""
    _check_mode(access_mode, 2)
    line = f'AT+QSSLOPEN={pdp_ctx},{ssl_ctx},{client_id},"{host}",{port},{access_mode}'
    link = Link(core, Service.SSL, client_id, access_mode, (host, port))
    return (yield from _open(core, link, line, timeout))


def open_tcp(
    core: ModemCore,
    client_id: int,
    host: str,
    port: int,
    *,
    pdp_ctx: int = 1,
    local_port: int = 0,
    access_mode: int = 0,
    timeout: float | None = None,
) -> Procedure[Link]:
    """AT+QIOPEN ``"TCP"`` (a plain TCP client) and wait for its result (``+QIOPEN:
    <id>,<err>``, or ``CONNECT`` in transparent mode, ``access_mode`` 2); ``OpenFailed``
    carries the module's code. ``local_port`` 0: the module picks one. ``ValueError`` when
    this driver already has a socket on ``client_id``."""
    _check_mode(access_mode, 2)
    return (
        yield from _qiopen(
            core, Service.TCP, client_id, host, port, local_port, pdp_ctx, access_mode, timeout
        )
    )


def _check_mode(access_mode: int, highest: int) -> None:
    if not 0 <= access_mode <= highest:
        kinds = "0 buffer, 1 push, 2 transparent" if highest == 2 else "0 buffer or 1 push"
        raise ValueError(f"access_mode {access_mode}: {kinds}")


def _qiopen(
    core: ModemCore,
    service: Service,
    client_id: int,
    host: str,
    remote_port: int,
    local_port: int,
    pdp_ctx: int,
    access_mode: int,
    timeout: float | None,
) -> Procedure[Link]:
    line = (
        f'AT+QIOPEN={pdp_ctx},{client_id},"{service.value}","{host}",{remote_port},'
        f"{local_port},{access_mode}"
    )
    server = service in (Service.TCP_LISTENER, Service.UDP_SERVICE)
    link = Link(core, service, client_id, access_mode, ("", 0) if server else (host, remote_port))
    link.local_port = local_port
    return (yield from _open(core, link, line, timeout))


def _open(core: ModemCore, link: Link, line: str, timeout: float | None) -> Procedure[Link]:
    """Send the open command ``line`` for ``link`` and wait for its result: ``CONNECT`` (or
    ``ERROR``) in transparent mode, else ``OK`` and the family's open URC."""
    client_id = link.client_id
    if client_id in core.links or client_id in core.opening:
        raise ValueError(f"client ID {client_id} is in use")
    wait = timeout if timeout is not None else OPEN_WAIT
    core.links[client_id] = link  # registered at once: data may come right behind the URC
    core.opening[client_id] = link
    boots = core.boots
    try:
        try:
            if link.access_mode == TRANSPARENT:
                response = yield from command(core, line, wait, phase=DataPhase.TRANSPARENT)
                if response.final != b"CONNECT":
                    yield from fail(core, line, response)
            else:
                yield from command(core, line)
        except OpenFailed:
            raise
        except CommandError as exc:  # ERROR: AT+QIGETERROR said why
            raise OpenFailed(line, exc.response, exc.code, exc.text) from None
        if link.access_mode != TRANSPARENT:
            yield from _open_result(core, link, line, wait, boots)
    except BaseException:
        if core.links.get(client_id) is link:
            del core.links[client_id]
        raise
    finally:
        if core.opening.get(client_id) is link:
            del core.opening[client_id]
    link.opened = True
    return link


def _open_result(
    core: ModemCore, link: Link, line: str, wait: float, boots: int
) -> Procedure[None]:
    urc = link.family.open_urc.decode()
    deadline = core.clock() + wait
    while link.open_code is None:
        if core.boots != boots:
            raise ModemReset(f"{line!r}: the module restarted (RDY)")
        left = deadline - core.clock()
        if left <= 0:
            raise ModemTimeout(f"{line} (waiting for {urc[:-1]})", wait)
        yield Wait(left)
    err = link.open_code
    if err:
        _, text = yield from last_error(core)
        raise OpenFailed(line, f"{urc} {link.client_id},{err}".encode(), err, text)


def ssl_state(
    core: ModemCore, client_id: int | None = None
) -> Procedure[list[dict[str, str | int]]]:
    """AT+QSSLSTATE as dictionaries with the manual's field names."""
    line = "AT+QSSLSTATE" if client_id is None else f"AT+QSSLSTATE={client_id}"
    return ssl_states((yield from command(core, line)))


def tcpip_state(
    core: ModemCore, client_id: int | None = None
) -> Procedure[list[dict[str, str | int]]]:
    """AT+QISTATE (the plain sockets: TCP, UDP, listeners and what they accepted) as
    dictionaries with the manual's field names."""
    line = "AT+QISTATE" if client_id is None else f"AT+QISTATE=1,{client_id}"
    return ip_states((yield from command(core, line)))


# ---- sockets by address: the client ID picked -----------------------------------------------


def _any_id(
    core: ModemCore, client_id: int | None, open_one: Callable[[int], Procedure[Link]]
) -> Procedure[Link]:
    """``open_one(client_id)``, or without ``client_id`` on the lowest ID this driver does not
    use, then the next when the module says it is taken (563: another host left it open, or
    a listener gave it to an incoming connection meanwhile)."""
    if client_id is not None:
        return (yield from open_one(client_id))
    taken: OpenFailed | None = None
    for candidate in range(12):
        if candidate in core.links or candidate in core.opening:
            continue
        try:
            return (yield from open_one(candidate))
        except OpenFailed as exc:
            if exc.code != ID_IN_USE:
                raise
            taken = exc
    if taken is not None:
        raise taken
    raise ModemError("all 12 client IDs are in use")


def create_connection(
    core: ModemCore,
    address: Address,
    *,
    ssl_ctx: int | None = None,
    pdp_ctx: int = 1,
    client_id: int | None = None,
    access_mode: int = 0,
    timeout: float | None = None,
) -> Procedure[tuple[Link, float | None]]:
    """Open a connection to ``address`` (a pair of host and port) for socket-shaped use:
    plain TCP (AT+QIOPEN ``"TCP"``), or TLS on the module's SSL context ``ssl_ctx``
    (AT+QSSLOPEN); ``timeout`` is then its receive timeout (None: wait forever).

    Without ``client_id`` the lowest ID this driver does not use is tried, then the next
    when the module says it is taken (563: another host left it open)."""
    host, port = address
    _check_mode(access_mode, 2)

    def open_one(candidate: int) -> Procedure[Link]:
        if ssl_ctx is None:
            return open_tcp(core, candidate, host, port, pdp_ctx=pdp_ctx, access_mode=access_mode)
        return open_ssl(
            core, candidate, host, port, ssl_ctx=ssl_ctx, pdp_ctx=pdp_ctx, access_mode=access_mode
        )

    link = yield from _any_id(core, client_id, open_one)
    return link, timeout


def create_udp_connection(
    core: ModemCore,
    address: Address,
    *,
    pdp_ctx: int = 1,
    local_port: int = 0,
    client_id: int | None = None,
    access_mode: int = 0,
) -> Procedure[Link]:
    """A UDP socket that talks to ``address`` only (AT+QIOPEN ``"UDP"``): ``send`` and
    ``recv`` one datagram at a time. ``access_mode`` 0 buffer or 1 push (transparent mode
    would lose the datagrams' boundaries); the client ID is picked as ``create_connection``
    does."""
    host, port = address
    _check_mode(access_mode, 1)
    return (
        yield from _any_id(
            core,
            client_id,
            lambda cid: _qiopen(
                core, Service.UDP, cid, host, port, local_port, pdp_ctx, access_mode, None
            ),
        )
    )


def udp_service(
    core: ModemCore,
    local_port: int,
    *,
    pdp_ctx: int = 1,
    client_id: int | None = None,
    access_mode: int = 0,
) -> Procedure[Link]:
    """A UDP socket on the module's ``local_port`` (AT+QIOPEN ``"UDP SERVICE"``): ``sendto``
    any address, ``recvfrom`` whoever sends, a datagram at a time. ``access_mode`` 0 buffer
    or 1 push; the client ID is picked as ``create_connection`` does."""
    _check_mode(access_mode, 1)
    return (
        yield from _any_id(
            core,
            client_id,
            lambda cid: _qiopen(
                core,
                Service.UDP_SERVICE,
                cid,
                SERVER_ADDRESS,
                0,
                local_port,
                pdp_ctx,
                access_mode,
                None,
            ),
        )
    )


def listen(
    core: ModemCore,
    port: int,
    *,
    pdp_ctx: int = 1,
    client_id: int | None = None,
    access_mode: int = 0,
) -> Procedure[Link]:
    """A TCP listener on the module's ``port`` (AT+QIOPEN ``"TCP LISTENER"``); ``accept``
    takes the connections it gets (``+QIURC: "incoming"``), which run in its
    ``access_mode`` (0 buffer or 1 push). The client ID is picked as ``create_connection``
    does; the module gives each incoming connection a free ID of its own."""
    _check_mode(access_mode, 1)
    return (
        yield from _any_id(
            core,
            client_id,
            lambda cid: _qiopen(
                core,
                Service.TCP_LISTENER,
                cid,
                SERVER_ADDRESS,
                0,
                port,
                pdp_ctx,
                access_mode,
                None,
            ),
        )
    )
