"""The host driver end to end, written only against the bg96 pytest plugin's fixtures.

Every test runs twice: on ``bg96.Modem`` and on ``bg96.AsyncModem`` (behind blocking calls,
``bg96.testing.blocking``), so a method missing on one side, or meaning something else
there, fails. The same file runs against whatever module the plugin hands out::

    pytest tests/test_driver_portable.py                                     # virtual
    pytest tests/test_driver_portable.py --bg96-url socket://127.0.0.1:7000  # bg96 serve --tcp
    pytest tests/test_driver_portable.py --bg96-url /dev/ttyUSB2             # a real BG96

A module behind ``--bg96-url`` outlives each test, so every test here runs on a module in any
state (the PDP context may be active already, a file may be there from an aborted run) and
leaves it as it found it: its connections closed, its files deleted. Only the tests marked
``bg96_virtual_only`` look inside the module (``bg96_module``); they are skipped with
``--bg96-url``. The servers (the plugin's TLS echo server, an HTTPS server started here) listen
on 127.0.0.1: with a module that cannot reach it (hardware, or ``bg96 serve`` elsewhere) the
tests that need one are skipped by the plugin.

One test waits out the real ``+++`` guard times (about 2 s).
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import ipaddress
import threading
import time
from collections.abc import Iterator
from typing import Any, cast

import pytest

from bg96 import VirtualModule
from bg96.host import (
    CommandError,
    Modem,
    ModemError,
    OpenFailed,
    StreamConnection,
    Urc,
)
from bg96.host.core import TRANSPARENT
from bg96.testing import TestPki
from bg96.testing.blocking import DRIVERS, open_driver
from bg96.testing.loopback import LoopbackTlsServer

CA_FILE = "pytest_ca.pem"  # names a real module's own files are unlikely to have
BLOB_FILE = "pytest_blob.bin"
OTHER_CA_FILE = "pytest_other_ca.pem"
SSL_CTX = 1  # verifies servers against the plugin's test CA
OTHER_CTX = 2  # verifies them against a CA that signed nothing here
PDP_CTX = 1
ALL_BYTES = bytes(range(256)) * 16  # 4 KiB: every byte value, 16 times (3 QSSLSEND chunks)
# data that looks like the module's own answers and URCs (it must pass through untouched)
TRICKY = (
    b'\r\nOK\r\n\r\nSEND OK\r\n\r\nERROR\r\n+QSSLURC: "recv",0,3\r\n> \r\n+QSSLRECV: 9\r\n'
    b"RDY\r\nCONNECT\r\n\r\nNO CARRIER\r\n+++\x1a\x1b"
)
HELLO = b"hello over a BG96\n" + bytes(range(256))


# ---- the driver under test -----------------------------------------------------------------------


@pytest.fixture(params=DRIVERS)
def driver(request: pytest.FixtureRequest) -> str:
    """Which driver runs the test: ``Modem`` or ``AsyncModem``."""
    return str(request.param)


@pytest.fixture
def modem(request: pytest.FixtureRequest, driver: str, bg96_url: str) -> Iterator[Modem]:
    """The plugin's ``bg96_modem``, or an ``AsyncModem`` prepared the same way: synced,
    registered, and (on a module that outlives the test) its connections closed after."""
    if driver == "Modem":
        yield request.getfixturevalue("bg96_modem")
        return
    handle = open_driver(driver, bg96_url)
    try:
        handle.sync()
        handle.wait_registered()
        yield handle
        if request.config.getoption("bg96_url"):
            for conn in list(handle.connections.values()):
                with contextlib.suppress(ModemError):
                    if conn.access_mode == TRANSPARENT and not conn.closed_by_peer:
                        cast(StreamConnection, conn).leave_transparent()  # only they can be
                    conn.close()
    finally:
        handle.close()


# ---- the module's files, its PDP context, its SSL context ----------------------------------------


class Ufs:
    """Uploads that are deleted after the test, whatever state it left the port in."""

    def __init__(self, modem: Modem) -> None:
        self.modem = modem
        self.names: list[str] = []

    def claim(self, name: str) -> None:
        """Delete ``name`` now if an aborted run left it behind, and after the test."""
        self.names.append(name)
        if name in self.modem.list_files():
            self.modem.delete(name)

    def upload(self, name: str, data: bytes) -> None:
        self.claim(name)
        self.modem.upload(name, data)

    def clean(self) -> None:
        try:
            present = self.modem.list_files()
        except ModemError:  # the test failed mid-transparent, mid-prompt...
            self.modem.sync()
            present = self.modem.list_files()
        for name in self.names:
            if name in present:
                self.modem.delete(name)
                present.pop(name)


@pytest.fixture
def ufs(modem: Modem) -> Iterator[Ufs]:
    files = Ufs(modem)
    yield files
    files.clean()


def ensure_active(modem: Modem) -> str:
    """PDP context 1 up, as it may already be on a module that outlives the test."""
    address = modem.ip_address(PDP_CTX)
    return address if address is not None else modem.activate(PDP_CTX)


@pytest.fixture
def online(bg96_tls_server: LoopbackTlsServer, modem: Modem, ufs: Ufs) -> Modem:
    """PDP context 1 active; SSL context 1 verifies servers against the plugin's test CA.

    The server comes first: with a module that cannot reach it the test is skipped before
    the port is opened."""
    ensure_active(modem)
    ufs.upload(CA_FILE, bg96_tls_server.ca_pem)
    modem.ssl_config(SSL_CTX, seclevel=1, cacert=CA_FILE)
    return modem


def read_exactly(conn: StreamConnection, size: int, timeout: float = 10.0) -> bytes:
    out = bytearray()
    deadline = time.monotonic() + timeout
    while len(out) < size:
        chunk = conn.recv(size - len(out), timeout=max(0.0, deadline - time.monotonic()))
        assert chunk, f"connection closed after {len(out)} of {size} bytes"
        out += chunk
    return bytes(out)


def round_trip(conn: StreamConnection, data: bytes) -> None:
    conn.send(data)
    assert read_exactly(conn, len(data)) == data


def client_ids(modem: Modem) -> list[int]:
    """The client IDs the module has sockets on (AT+QSSLSTATE)."""
    return [int(state["clientID"]) for state in modem.ssl_state()]


# ---- an HTTPS server the module can reach --------------------------------------------------------


class HttpsHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive unless the client says "Connection: close"

    def do_GET(self) -> None:
        self._reply(HELLO)

    def do_POST(self) -> None:
        self._reply(self.rfile.read(int(self.headers["Content-Length"])))  # an echo

    def _reply(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def https(bg96_tls_server: LoopbackTlsServer) -> Iterator[http.server.ThreadingHTTPServer]:
    """An HTTPS server on 127.0.0.1 with a certificate of the plugin's test CA: GET answers
    ``HELLO``, POST echoes the body. Asking for ``bg96_tls_server`` brings the plugin's rule
    along: skipped when the module under test cannot reach this machine's loopback."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HttpsHandler)
    server.daemon_threads = True
    server.socket = bg96_tls_server.pki.server_ctx().wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def post(conn: http.client.HTTPConnection, body: bytes, **headers: str) -> bytes:
    conn.request("POST", "/echo", body=body, headers=headers)
    response = conn.getresponse()
    assert response.status == 200
    return response.read()


# ---- start-up, identity, PDP ---------------------------------------------------------------------


def test_identify_and_sync(modem: Modem) -> None:
    manufacturer, model, revision = modem.identify()
    assert (manufacturer, model) == ("Quectel", "BG96")
    assert revision.startswith("Revision: BG96")
    assert modem.query("AT+CMEE?", "+CMEE:") == ["1"]  # the fixture's sync() did that
    modem.command("AT+CMEE=0")
    modem.command("ATE1")
    modem.sync()  # back to numeric errors and no echo
    assert modem.query("AT+CMEE?", "+CMEE:") == ["1"]
    assert modem.command("AT").lines == ()
    modem.sync()  # idempotent


@pytest.mark.bg96_virtual_only
def test_sync_turns_the_echo_off_inside_the_module(
    bg96_module: VirtualModule, modem: Modem
) -> None:
    engine = bg96_module.engine
    assert engine is not None
    modem.command("ATE1")
    assert bg96_module.call(lambda: engine.settings.echo) is True
    modem.sync()
    assert bg96_module.call(lambda: engine.settings.echo) is False


def test_pdp_activate_is_idempotent(modem: Modem) -> None:
    """Context 1 may be active already (hardware, ``bg96 serve``): activate only if not."""
    address = ensure_active(modem)
    assert ipaddress.ip_address(address).version == 4
    assert modem.ip_address(PDP_CTX) == address
    assert ensure_active(modem) == address  # the second time: nothing to do
    # left active on purpose: the next test would only activate it again


# ---- files ---------------------------------------------------------------------------------------


def test_upload_list_download_delete_with_checksums(modem: Modem, ufs: Ufs) -> None:
    odd = bytes(range(256)) * 4 + b"\x7f"  # odd length: the checksum pads the last byte
    ufs.claim(BLOB_FILE)  # deleted after the test too, should it fail half-way
    progress: list[tuple[int, int]] = []
    modem.upload(BLOB_FILE, odd, progress=lambda done, total: progress.append((done, total)))
    assert progress == [(1024, len(odd)), (len(odd), len(odd))]
    assert modem.list_files()[BLOB_FILE] == len(odd)
    assert modem.download(BLOB_FILE) == odd  # the driver checks the module's checksum
    assert modem.download(f"UFS:{BLOB_FILE}") == odd

    with pytest.raises(CommandError) as exists:
        modem.upload(BLOB_FILE, b"x")
    assert exists.value.code == 407  # file already exists
    assert exists.value.command == f'AT+QFUPL="{BLOB_FILE}",1,5'
    assert modem.download(BLOB_FILE) == odd  # untouched

    modem.delete(BLOB_FILE)
    assert BLOB_FILE not in modem.list_files()


def test_a_missing_file_is_error_405(modem: Modem) -> None:
    name = "pytest_missing.bin"
    assert name not in modem.list_files()
    with pytest.raises(CommandError) as delete:
        modem.delete(name)
    assert (delete.value.command, delete.value.response, delete.value.code) == (
        f'AT+QFDEL="{name}"',
        b"+CME ERROR: 405",
        405,
    )
    with pytest.raises(CommandError) as download:
        modem.download(name)
    assert download.value.code == 405 and download.value.command == f'AT+QFDWL="{name}"'


@pytest.mark.bg96_virtual_only
def test_uploads_land_in_the_module(bg96_module: VirtualModule, modem: Modem) -> None:
    modem.upload(BLOB_FILE, ALL_BYTES)
    assert bg96_module.store.read(BLOB_FILE) == ALL_BYTES
    modem.delete(BLOB_FILE)
    assert bg96_module.store.names() == []


# ---- SSL: configuration and the three access modes -----------------------------------------------


def test_ssl_context_and_buffer_mode_all_byte_values(
    online: Modem, bg96_tls_server: LoopbackTlsServer
) -> None:
    assert online.query(f'AT+QSSLCFG="seclevel",{SSL_CTX}', "+QSSLCFG:") == [
        f'"seclevel",{SSL_CTX},1'
    ]
    (cacert,) = online.query(f'AT+QSSLCFG="cacert",{SSL_CTX}', "+QSSLCFG:")
    assert cacert.startswith(f'"cacert",{SSL_CTX},') and CA_FILE in cacert

    urcs: list[Urc] = []
    online.on_urc(urcs.append)
    conn = online.open_ssl(0, bg96_tls_server.host, bg96_tls_server.port, ssl_ctx=SSL_CTX)
    state = conn.state()
    assert state is not None
    assert (state["socket_state"], state["access_mode"], state["sslctxID"]) == (2, 0, SSL_CTX)
    with pytest.raises(ValueError, match="in use"):
        online.open_ssl(0, bg96_tls_server.host, bg96_tls_server.port, ssl_ctx=SSL_CTX)
    round_trip(conn, ALL_BYTES)
    round_trip(conn, TRICKY)
    conn.close()
    assert conn.state() is None
    assert bg96_tls_server.received == ALL_BYTES + TRICKY
    assert Urc(b"+QSSLOPEN: 0,0") in urcs
    assert Urc(b'+QSSLURC: "recv",0') in urcs


def test_push_mode_all_byte_values(online: Modem, bg96_tls_server: LoopbackTlsServer) -> None:
    client_id = 4
    pushed: list[bytes] = []

    def on_urc(urc: Urc) -> None:
        if urc.line.startswith(f'+QSSLURC: "recv",{client_id},'.encode()):
            assert int(urc.line.rsplit(b",", 1)[1]) == len(urc.data)
            pushed.append(urc.data)

    online.on_urc(on_urc)
    conn = online.open_ssl(
        client_id, bg96_tls_server.host, bg96_tls_server.port, ssl_ctx=SSL_CTX, access_mode=1
    )
    state = conn.state()
    assert state is not None and state["access_mode"] == 1
    round_trip(conn, ALL_BYTES)
    round_trip(conn, TRICKY)
    assert b"".join(pushed) == ALL_BYTES + TRICKY
    conn.close()
    assert client_id not in client_ids(online)


def test_transparent_mode_leave_with_plus_plus_plus_and_resume_with_ato(
    online: Modem, https: http.server.ThreadingHTTPServer
) -> None:
    """Requests in transparent mode, in buffer mode after ``+++``, in transparent mode again
    after ``ATO``. The last asks the server to hang up: NO CARRIER ends transparent mode, so
    the close needs no second ``+++`` (2 s more)."""
    host, port = "127.0.0.1", https.server_address[1]
    sock = online.create_connection((host, port), ssl_ctx=SSL_CTX, access_mode=2, timeout=10)
    conn = sock.connection
    web = http.client.HTTPConnection(host, port)
    web.sock = sock
    assert post(web, ALL_BYTES + TRICKY) == ALL_BYTES + TRICKY
    with pytest.raises(ModemError, match="transparent mode"):
        online.command("AT")  # would be sent to the server as data

    started = time.monotonic()
    conn.leave_transparent()  # 1 s of silence, +++, 1 s of silence, OK
    assert 2.0 <= time.monotonic() - started < 3.5
    state = conn.state()
    assert state is not None and state["access_mode"] == 0  # buffer mode after +++
    assert post(web, ALL_BYTES) == ALL_BYTES

    conn.resume_transparent()
    assert conn.access_mode == 2
    assert post(web, TRICKY, Connection="close") == TRICKY
    assert sock.recv(100) == b""  # NO CARRIER
    assert conn.closed_by_peer
    started = time.monotonic()
    web.close()
    assert time.monotonic() - started < 1.0
    assert conn.client_id not in client_ids(online)


# ---- create_connection and http.client -----------------------------------------------------------


def test_http_client_over_create_connection(
    online: Modem, https: http.server.ThreadingHTTPServer
) -> None:
    host, port = "127.0.0.1", https.server_address[1]
    sock = online.create_connection((host, port), ssl_ctx=SSL_CTX, timeout=10)
    web = http.client.HTTPConnection(host, port)
    web.sock = sock
    web.request("GET", "/hello")
    response = web.getresponse()
    assert response.status == 200
    assert response.read() == HELLO
    assert post(web, ALL_BYTES) == ALL_BYTES  # the same connection (keep-alive)
    web.close()
    assert sock.connection.closed
    assert sock.connection.client_id not in client_ids(online)


# ---- failures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def other_ca() -> bytes:
    return TestPki("some other CA").ca_pem


def test_an_unknown_ca_fails_the_open_with_566(
    online: Modem, bg96_tls_server: LoopbackTlsServer, ufs: Ufs, other_ca: bytes
) -> None:
    host, port = bg96_tls_server.host, bg96_tls_server.port
    ufs.upload(OTHER_CA_FILE, other_ca)
    online.ssl_config(OTHER_CTX, seclevel=1, cacert=OTHER_CA_FILE)
    with pytest.raises(OpenFailed) as failed:
        online.open_ssl(3, host, port, ssl_ctx=OTHER_CTX)
    assert failed.value.command == f'AT+QSSLOPEN={PDP_CTX},{OTHER_CTX},3,"{host}",{port},0'
    assert failed.value.response == b"+QSSLOPEN: 3,566"
    assert failed.value.code == 566
    with pytest.raises(OpenFailed) as transparent:  # answered ERROR: AT+QIGETERROR says why
        online.open_ssl(3, host, port, ssl_ctx=OTHER_CTX, access_mode=2)
    assert transparent.value.code == 566
    assert online.connections == {}
    assert 3 not in client_ids(online)
    conn = online.open_ssl(3, host, port, ssl_ctx=SSL_CTX)  # the ID is free again
    round_trip(conn, b"the ID is free again")
    conn.close()
    assert bg96_tls_server.received == b"the ID is free again"


@pytest.mark.bg96_virtual_only
def test_create_connection_skips_an_id_another_host_left_open(
    bg96_module: VirtualModule, bg96_tls_server: LoopbackTlsServer, driver: str
) -> None:
    with open_driver(driver, bg96_module.url) as first:
        first.sync()
        if first.ip_address(1) is None:
            first.activate(1)
        first.open_ssl(0, bg96_tls_server.host, bg96_tls_server.port)
    with open_driver(driver, bg96_module.url) as second:  # knows nothing of ID 0
        second.sync()
        sock = second.create_connection((bg96_tls_server.host, bg96_tls_server.port), ssl_ctx=0)
        assert sock.connection.client_id == 1
        sock.close()
        second.command("AT+QSSLCLOSE=0")
