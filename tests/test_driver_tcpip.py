"""The host driver's plain sockets and network tools end to end, each test run on both
drivers: ``bg96.Modem`` and ``bg96.AsyncModem`` (behind blocking calls,
``bg96.testing.blocking``).

A ``VirtualModule`` on a loopback TCP port makes real TCP and UDP connections to loopback
servers (a TCP echo server, an HTTP server, a UDP echo server) and takes connections on its
listeners, which this machine reaches on 127.0.0.1 at the port the module's runner took
(read from the engine here). Plain TCP in the three access modes, ``http.client`` over
``create_connection()`` without an SSL context, UDP datagrams with their boundaries and
senders, ``listen``/``accept``, ``dns_lookup``, ``ping``, ``ntp_sync`` (from a loopback SNTP
server), and the failures with their codes.

Only ``test_plain_tcp_in_transparent_mode_with_plus_plus_plus`` waits out real ``+++``
guard times (2 s).
"""

from __future__ import annotations

import datetime as dt
import http.client
import http.server
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from bg96.engine import ModuleConfig
from bg96.host import (
    ConnectionClosedByPeer,
    DnsFailed,
    Modem,
    ModemTimeout,
    NtpFailed,
    OpenFailed,
    PingFailed,
    SocketLike,
    Urc,
)
from bg96.module.virtual import VirtualModule
from bg96.testing import EchoServer, UdpEchoServer
from bg96.testing.blocking import DRIVERS, open_driver
from bg96.testing.mqtt_broker import free_port
from bg96.testing.ntp_server import SntpServer

from .test_driver import ALL_BYTES_50K, HOST, TRICKY, close_soon
from .test_driver_portable import HELLO, HttpsHandler, round_trip

NTP_TIMEOUT = 0.5  # s the virtual module waits for an NTP server
TRICKY_QI = TRICKY + b'+QIURC: "recv",0,3\r\n+QIRD: 9\r\n+QIURC: "closed",0\r\n'


@pytest.fixture(params=DRIVERS)
def driver(request: pytest.FixtureRequest) -> str:
    """Which driver runs the test: ``Modem`` or ``AsyncModem``."""
    return str(request.param)


@pytest.fixture
def vm() -> Iterator[VirtualModule]:
    config = ModuleConfig(ntp_timeout=NTP_TIMEOUT)
    with VirtualModule(resolve={HOST: "127.0.0.1"}, system_resolver=False, config=config) as vm:
        yield vm


@pytest.fixture
def online(vm: VirtualModule, driver: str) -> Iterator[Modem]:
    """A driver on the virtual module, PDP context 1 active."""
    modem = open_driver(driver, vm.url)
    try:
        modem.sync()
        modem.activate(1)
        yield modem
    finally:
        close_soon(modem)


@pytest.fixture(scope="module")
def echo() -> Iterator[EchoServer]:
    with EchoServer() as server:
        yield server


@pytest.fixture(scope="module")
def udp_echo() -> Iterator[UdpEchoServer]:
    with UdpEchoServer() as server:
        yield server


@pytest.fixture(scope="module")
def http_server() -> Iterator[http.server.ThreadingHTTPServer]:
    """A plain HTTP server on 127.0.0.1: GET answers ``HELLO``, POST echoes the body."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HttpsHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def host_port(vm: VirtualModule, module_port: int, protocol: str = "tcp") -> int:
    """Where this machine reaches a listener or UDP service of the module (127.0.0.1)."""
    port = vm.host_port(module_port, protocol)
    assert port is not None
    return port


def post(conn: http.client.HTTPConnection, body: bytes, **headers: str) -> bytes:
    conn.request("POST", "/echo", body=body, headers=headers)
    response = conn.getresponse()
    assert response.status == 200
    return response.read()


# ---- plain TCP in the three access modes ------------------------------------------------------


def test_plain_tcp_in_buffer_mode_all_byte_values(online: Modem, echo: EchoServer) -> None:
    urcs: list[Urc] = []
    online.on_urc(urcs.append)
    before = echo.received
    conn = online.open_tcp(0, HOST, echo.port)
    assert (conn.service, conn.peer) == ("TCP", (HOST, echo.port))
    state = conn.state()
    assert state is not None
    assert (state["service_type"], state["socket_state"], state["access_mode"]) == ("TCP", 2, 0)
    assert (state["IP_address"], state["remote_port"]) == (HOST, echo.port)
    with pytest.raises(ValueError, match="in use"):
        online.open_ssl(0, HOST, echo.port)  # TCP and SSL share the 12 client IDs
    round_trip(conn, ALL_BYTES_50K)
    round_trip(conn, TRICKY_QI)
    conn.close()
    assert conn.state() is None
    assert online.tcpip_state() == []
    assert echo.received[len(before) :] == ALL_BYTES_50K + TRICKY_QI
    assert Urc(b"+QIOPEN: 0,0") in urcs and Urc(b'+QIURC: "recv",0') in urcs


def test_plain_tcp_in_push_mode_all_byte_values(online: Modem, echo: EchoServer) -> None:
    pushed: list[bytes] = []

    def on_urc(urc: Urc) -> None:
        if urc.line.startswith(b'+QIURC: "recv",5,'):
            assert int(urc.line.rsplit(b",", 1)[1]) == len(urc.data)
            pushed.append(urc.data)

    online.on_urc(on_urc)
    conn = online.open_tcp(5, HOST, echo.port, access_mode=1)
    round_trip(conn, ALL_BYTES_50K)
    round_trip(conn, TRICKY_QI)
    assert b"".join(pushed) == ALL_BYTES_50K + TRICKY_QI
    conn.close()


def test_plain_tcp_in_transparent_mode_with_plus_plus_plus(online: Modem, echo: EchoServer) -> None:
    conn = online.open_tcp(2, HOST, echo.port, access_mode=2)
    round_trip(conn, ALL_BYTES_50K)
    round_trip(conn, TRICKY_QI)
    with pytest.raises(Exception, match="transparent mode"):
        online.command("AT")  # would be sent to the server as data
    conn.leave_transparent()  # 1 s of silence, +++, 1 s of silence, OK
    state = conn.state()
    assert state is not None and state["access_mode"] == 0  # buffer mode after +++
    round_trip(conn, b"now in buffer mode")
    conn.resume_transparent()
    round_trip(conn, TRICKY_QI + b"transparent again")


# ---- create_connection and http.client ----------------------------------------------------------


def test_http_client_over_plain_create_connection(
    online: Modem, http_server: http.server.ThreadingHTTPServer
) -> None:
    port = http_server.server_address[1]
    sock = online.create_connection((HOST, port), timeout=10)  # no ssl_ctx: plain TCP
    assert sock.connection.service == "TCP"
    web = http.client.HTTPConnection(HOST, port)
    web.sock = sock
    web.request("GET", "/hello")
    response = web.getresponse()
    assert response.status == 200 and response.read() == HELLO
    assert post(web, ALL_BYTES_50K) == ALL_BYTES_50K  # the same connection (keep-alive)
    web.close()
    assert sock.connection.closed
    assert online.tcpip_state() == []


def test_http_until_the_server_hangs_up(
    online: Modem, http_server: http.server.ThreadingHTTPServer
) -> None:
    """Buffer mode: ``+QIURC: "closed"``, and transparent mode: NO CARRIER; either way recv
    says EOF once all was read, and close() needs no +++."""
    port = http_server.server_address[1]
    for mode in (0, 2):
        sock = online.create_connection((HOST, port), access_mode=mode, timeout=10)
        web = http.client.HTTPConnection(HOST, port)
        web.sock = sock
        assert post(web, TRICKY_QI, Connection="close") == TRICKY_QI
        assert sock.recv(100) == b""
        assert sock.connection.closed_by_peer
        with pytest.raises(ConnectionClosedByPeer):
            sock.sendall(b"more")
        started = time.monotonic()
        web.close()
        assert time.monotonic() - started < 1.0
        assert online.tcpip_state() == []


def test_tcp_and_ssl_share_the_ids_and_create_connection_skips_a_taken_one(
    online: Modem, echo: EchoServer
) -> None:
    """An SSL socket on ID 0 this driver knows nothing of (another host's, say): the module
    answers ``+QIOPEN: 0,563`` and the next ID is tried."""
    with socket.socket() as silent:  # takes the TCP connection, never answers the handshake
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        online.command(f'AT+QSSLOPEN=1,0,0,"127.0.0.1",{silent.getsockname()[1]},0')
        sock = online.create_connection((HOST, echo.port), timeout=5)
        assert sock.connection.client_id == 1
        sock.sendall(b"on ID 1")
        assert read_exactly_sock(sock, 7) == b"on ID 1"
        sock.close()
        online.command("AT+QSSLCLOSE=0")
    assert online.ssl_state() == [] and online.tcpip_state() == []


def read_exactly_sock(sock: SocketLike[Any], size: int) -> bytes:
    got = b""
    while len(got) < size:
        chunk = sock.recv(size - len(got))
        assert chunk, f"closed after {len(got)} of {size} bytes"
        got += chunk
    return got


# ---- failures name their command and code --------------------------------------------------------


def test_open_failures_carry_the_modules_code(online: Modem) -> None:
    refused = free_port()
    with pytest.raises(OpenFailed) as failed:
        online.open_tcp(3, "127.0.0.1", refused)
    assert failed.value.code == 566 and failed.value.response == b"+QIOPEN: 3,566"
    assert failed.value.command == f'AT+QIOPEN=1,3,"TCP","127.0.0.1",{refused},0,0'
    with pytest.raises(OpenFailed) as transparent:  # ERROR: AT+QIGETERROR says why
        online.open_tcp(3, "127.0.0.1", refused, access_mode=2)
    assert transparent.value.code == 566 and transparent.value.response == b"ERROR"
    with pytest.raises(OpenFailed) as unknown:
        online.create_connection(("nowhere.invalid", 80))
    assert unknown.value.code == 565
    assert online.connections == {} and online.tcpip_state() == []
    with pytest.raises(OpenFailed) as no_context:
        online.open_tcp(3, HOST, refused, pdp_ctx=2)
    assert no_context.value.code == 561


# ---- UDP --------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [0, 1], ids=["buffer", "push"])
def test_a_udp_service_keeps_datagrams_and_senders(
    vm: VirtualModule, online: Modem, mode: int
) -> None:
    service = online.udp_service(3030, access_mode=mode)
    assert (service.service, service.local_port) == ("UDP SERVICE", 3030)
    target = ("127.0.0.1", host_port(vm, 3030, "udp"))
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as first,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as second,
    ):
        first.bind(("127.0.0.1", 0))
        second.bind(("127.0.0.1", 0))
        first.settimeout(5)
        first.sendto(b"one", target)
        second.sendto(b"two datagrams", target)
        first.sendto(bytes(range(256)) * 5, target)
        assert service.recvfrom(timeout=5) == (b"one", first.getsockname())
        assert service.recvfrom(timeout=5) == (b"two datagrams", second.getsockname())
        assert service.recvfrom(100, timeout=5) == (bytes(range(100)), first.getsockname())
        with pytest.raises(ModemTimeout):
            service.recvfrom(timeout=0.2)
        assert service.sendto(b"back", first.getsockname()) == 4
        assert service.sendto(TRICKY_QI, first.getsockname()) == len(TRICKY_QI)
        assert first.recvfrom(100) == (b"back", target)
        assert first.recvfrom(1000) == (TRICKY_QI, target)
    state = service.state()
    assert state is not None and state["service_type"] == "UDP SERVICE"
    assert state["local_port"] == 3030 and state["access_mode"] == mode
    service.close()
    assert online.tcpip_state() == []


@pytest.mark.parametrize("mode", [0, 1], ids=["buffer", "push"])
def test_a_udp_client_sends_and_receives_whole_datagrams(
    online: Modem, udp_echo: UdpEchoServer, mode: int
) -> None:
    conn = online.create_udp_connection((HOST, udp_echo.port), access_mode=mode)
    assert conn.service == "UDP" and conn.peer == (HOST, udp_echo.port)
    datagrams = [b"a", TRICKY_QI, bytes(range(256)) * 5, b"\r\nOK\r\n"]
    for datagram in datagrams:
        assert conn.send(datagram) == len(datagram)
    for datagram in datagrams:
        assert conn.recv(timeout=5) == datagram
    conn.send(b"truncated")
    assert conn.recv(4, timeout=5) == b"trun"  # the rest of the datagram is gone
    conn.send(b"next")
    assert conn.recv(timeout=5) == b"next"
    with pytest.raises(ValueError):
        conn.send(b"x" * 1461)
    conn.close()
    with pytest.raises(ConnectionClosedByPeer):
        conn.send(b"after close")


# ---- listeners ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [0, 1], ids=["buffer", "push"])
def test_listen_and_accept(vm: VirtualModule, online: Modem, mode: int) -> None:
    listener = online.listen(2020, access_mode=mode)
    assert (listener.service, listener.local_port) == ("TCP LISTENER", 2020)
    with pytest.raises(ModemTimeout):
        listener.accept(timeout=0.2)
    address = ("127.0.0.1", host_port(vm, 2020))
    with socket.create_connection(address, timeout=5) as client:
        client.sendall(b"hello before accept")
        sock, peer = listener.accept(timeout=5)
        assert peer == client.getsockname()
        conn = sock.connection
        assert (conn.service, conn.access_mode, conn.peer) == ("TCP INCOMING", mode, peer)
        assert conn.client_id == 11  # the module takes the highest free ID
        sock.settimeout(5)
        assert read_exactly_sock(sock, 19) == b"hello before accept"
        sock.sendall(TRICKY_QI)
        got = b""
        while len(got) < len(TRICKY_QI):
            got += client.recv(4096)
        assert got == TRICKY_QI
        state = conn.state()
        assert state is not None and state["serverID"] == listener.client_id
        client.shutdown(socket.SHUT_WR)
        assert sock.recv(10) == b""  # the client closed: EOF
        sock.close()
    with socket.create_connection(address, timeout=5):
        second, _ = listener.accept(timeout=5)
    listener.close()  # a connection nobody accepted would go with it; this one stays
    assert online.tcpip_state(second.connection.client_id) != []
    second.close()
    assert online.tcpip_state() == []


def test_closing_a_listener_closes_what_nobody_accepted(vm: VirtualModule, online: Modem) -> None:
    listener = online.listen(2021)
    address = ("127.0.0.1", host_port(vm, 2021))
    with socket.create_connection(address, timeout=5) as client:
        online.wait_urc(b'+QIURC: "incoming"', 5)
        listener.close()
        assert online.tcpip_state() == []
        client.settimeout(5)
        assert client.recv(10) == b""  # closed by the module
    assert online.connections == {}


# ---- DNS ----------------------------------------------------------------------------------------


def test_dns_lookup(online: Modem) -> None:
    assert online.dns_lookup(HOST) == ["127.0.0.1"]
    with pytest.raises(DnsFailed) as failed:
        online.dns_lookup("nowhere.invalid")
    assert failed.value.code == 565
    assert failed.value.command == 'AT+QIDNSGIP=1,"nowhere.invalid"'


# ---- ping and NTP -------------------------------------------------------------------------------


def test_ping(online: Modem) -> None:
    result = online.ping(HOST, timeout=2, count=3)
    assert (result.host, result.sent, result.received, result.lost) == (HOST, 3, 3, 0)
    assert result.ip == "127.0.0.1" and result.errors == ()
    assert [reply.size for reply in result.replies] == [32, 32, 32]
    assert result.min_ms is not None and result.max_ms is not None and result.avg_ms is not None
    assert result.min_ms <= result.avg_ms <= result.max_ms
    with pytest.raises(PingFailed) as unknown:
        online.ping("nowhere.invalid")
    assert (unknown.value.code, unknown.value.response) == (565, b"+QPING: 565")
    assert unknown.value.text == "dns parse failed"  # AT+QIGETERROR's words
    with pytest.raises(PingFailed) as inactive:
        online.ping(HOST, pdp_ctx=2)
    assert (inactive.value.code, inactive.value.text) == (561, "open pdp context failed")
    assert online.ping(HOST, timeout=1, count=1).received == 1  # nothing was left over


def test_ntp_sync_sets_the_module_clock(vm: VirtualModule, online: Modem) -> None:
    offset = dt.timedelta(days=200)  # the server says 200 days from now
    vm.set_clock(dt.datetime(1980, 1, 6), tz_quarters=32)  # a module in UTC+8
    with SntpServer(offset=offset.total_seconds()) as ntp:
        before = dt.datetime.now(dt.UTC) + offset
        got = online.ntp_sync("127.0.0.1", port=ntp.port)
        after = dt.datetime.now(dt.UTC) + offset
    assert got.utcoffset() == dt.timedelta(hours=8)
    assert before - dt.timedelta(seconds=1) <= got <= after  # whole seconds
    assert abs(vm.clock - got) < dt.timedelta(seconds=5)  # AT+CCLK's clock


def test_ntp_failures_carry_the_code(online: Modem) -> None:
    with SntpServer(silent=True) as silent:
        with pytest.raises(NtpFailed) as timed_out:
            online.ntp_sync("127.0.0.1", port=silent.port)
        assert silent.requests == 1
    assert (timed_out.value.code, timed_out.value.response) == (569, b"+QNTP: 569")
    assert timed_out.value.text == "operation timeout"
    with pytest.raises(NtpFailed) as unknown:
        online.ntp_sync("nowhere.invalid")
    assert unknown.value.code == 565
    assert unknown.value.command == 'AT+QNTP=1,"nowhere.invalid",123'
