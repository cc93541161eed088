"""TlsClientSession against real TLS servers on loopback (and in memory)."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import pathlib
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace

import pytest
from cryptography.hazmat.primitives import serialization

from bg96.engine.events import TlsParams
from bg96.testing import TestPki, ThreadedTlsEchoServer, TlsEchoServer, server_context
from bg96.tls import (
    SUITES,
    TlsClientSession,
    TlsConfigError,
    TlsFailure,
    TlsUnsupported,
    build_context,
    expand_suites,
    format_code,
    suite_name,
)

ALL = expand_suites([0xFFFF])
FRESH_MODULE = 315964800.0  # 1980-01-06: the clock of a module without network time
NOW_2024 = dt.datetime(2024, 5, 1, tzinfo=dt.UTC).timestamp()
EXPECTED_VERSION = {1: "TLSv1", 2: "TLSv1.1", 3: "TLSv1.2", 4: "TLSv1.2"}


def params(**kw: object) -> TlsParams:
    base = TlsParams(ssl_ctx_id=1, sslversion=4, ciphersuites=ALL, seclevel=0)
    return replace(base, **kw)  # type: ignore[arg-type]


@functools.cache
def openssl_has(name: str) -> bool:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        ctx.set_ciphers(name + ":@SECLEVEL=0")
    except ssl.SSLError:
        return False
    return True


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return TestPki()


@pytest.fixture(scope="module")
def echo(pki: TestPki) -> Iterator[ThreadedTlsEchoServer]:
    with ThreadedTlsEchoServer(server_context(pki)) as srv:
        yield srv


@dataclass
class Outcome:
    session: TlsClientSession
    failure: TlsFailure | None
    echoed: bytes = b""


def run(p: TlsParams, port: int, payload: bytes = b"ping", host: str = "localhost") -> Outcome:
    """Handshake over real TCP, then send ``payload`` and read the echo back."""
    session = TlsClientSession(p, host)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(session.start())
        while not session.handshake_done:
            step = session.receive(sock.recv(65536))
            sock.sendall(step.outgoing)
            if step.failure is not None:
                return Outcome(session, step.failure)
        assert step.handshake_completed
        sock.sendall(session.send(payload))
        got = bytearray()
        while len(got) < len(payload):
            step = session.receive(sock.recv(65536))
            sock.sendall(step.outgoing)
            got += step.app_data
            assert not step.peer_closed
        sock.sendall(session.close())
        return Outcome(session, None, bytes(got))


# ---- tables ---------------------------------------------------------------------------


def test_table2_order_and_names() -> None:
    assert [format_code(s.code) for s in SUITES] == [
        "0X0035", "0X002F", "0X0005", "0X0004", "0X000A", "0X003D", "0XC011",
        "0XC012", "0XC013", "0XC014", "0XC027", "0XC028", "0XC02F",
    ]  # fmt: skip
    assert tuple(s.code for s in SUITES) == ALL
    assert expand_suites([0x002F, 0xFFFF])[:2] == (0x002F, 0x0035)
    assert suite_name(0xC02F) == "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
    assert "0X1234" in suite_name(0x1234)
    assert {s.openssl for s in SUITES if s.tls12_only} == {
        "AES256-SHA256",
        "ECDHE-RSA-AES128-SHA256",
        "ECDHE-RSA-AES256-SHA384",
        "ECDHE-RSA-AES128-GCM-SHA256",
    }


def test_context_offers_only_configured_suites_in_module_order() -> None:
    ctx = build_context(params(sslversion=3))
    names = [c["name"] for c in ctx.get_ciphers() if c["protocol"] != "TLSv1.3"]
    assert names == [s.openssl for s in SUITES if openssl_has(s.openssl)]
    assert ctx.maximum_version == ssl.TLSVersion.TLSv1_2
    ctx = build_context(params(sslversion=1, ciphersuites=(0xC02F, 0x002F)))
    assert [c["name"] for c in ctx.get_ciphers() if c["protocol"] != "TLSv1.3"] == ["AES128-SHA"]


# ---- every (version, suite) pair: tests/test_tls_matrix.py ------------------------------


def test_all_suites_with_missing_ones_still_connect(echo: ThreadedTlsEchoServer) -> None:
    out = run(params(sslversion=1), echo.port)
    assert out.failure is None
    assert out.session.version == "TLSv1"
    assert out.session.cipher_code in ALL


def test_large_echo_round_trip(echo: ThreadedTlsEchoServer) -> None:
    payload = bytes(range(256)) * 1024
    out = run(params(), echo.port, payload=payload)
    assert out.echoed == payload


def test_an_established_tlslite_session_lets_go_of_its_handshake_state(
    echo: ThreadedTlsEchoServer, pki: TestPki
) -> None:
    """A fleet holds thousands of connections: hashes, chains and anchors go once checked."""
    out = run(params(seclevel=1, cacert=pki.ca_pem), echo.port, payload=b"x" * 5000)
    assert out.failure is None and out.echoed == b"x" * 5000
    impl = out.session._impl
    assert impl.backend_name == "tlslite-ng"  # the default offer (sslversion 4, 0XFFFF)
    conn = impl._conn  # type: ignore[attr-defined]
    assert conn._handshake_hash is None and conn.session.serverCertChain is None
    assert out.session.version == "TLSv1.2" and out.session.cipher  # still known


# ---- certificates ---------------------------------------------------------------------


def test_seclevel1_right_ca_passes(echo: ThreadedTlsEchoServer, pki: TestPki) -> None:
    assert run(params(seclevel=1, cacert=pki.ca_pem), echo.port).failure is None


def test_seclevel1_other_ca_fails(echo: ThreadedTlsEchoServer) -> None:
    out = run(params(seclevel=1, cacert=TestPki("other CA").ca_pem), echo.port)
    assert out.failure is not None
    assert out.failure.code == 566
    assert "unknown CA" in out.failure.reason


def test_seclevel0_accepts_unknown_ca(echo: ThreadedTlsEchoServer) -> None:
    other = TestPki("other CA").ca_pem
    assert run(params(seclevel=0, cacert=other), echo.port).failure is None


def test_host_name_is_never_checked(pki: TestPki) -> None:
    with ThreadedTlsEchoServer(server_context(pki)) as srv:
        out = run(params(seclevel=1, cacert=pki.ca_pem), srv.port, host="wrong.example")
    assert out.failure is None


@pytest.mark.parametrize(
    "cacert",
    [
        pytest.param(lambda p: p.ca_der, id="der"),
        pytest.param(lambda p: p.ca_pem.replace(b"\n", b"\r\n") + b"\x00", id="pem-crlf-nul"),
        pytest.param(lambda p: p.ca_der + b"\x00", id="der-nul"),
        pytest.param(lambda p: TestPki("x").ca_pem + p.ca_pem, id="pem-bundle"),
    ],
)
def test_cacert_formats(
    cacert: Callable[[TestPki], bytes], echo: ThreadedTlsEchoServer, pki: TestPki
) -> None:
    assert run(params(seclevel=1, cacert=cacert(pki)), echo.port).failure is None


@pytest.mark.parametrize(
    ("cacert", "message"),
    [
        (None, "seclevel 1 needs a CA certificate: cacert is not set"),
        (b"\x00", "cacert file is empty"),
        (b"not a certificate", "cacert is not a PEM or DER certificate"),
    ],
)
def test_cacert_missing_or_bad(cacert: bytes | None, message: str) -> None:
    with pytest.raises(TlsConfigError) as info:
        TlsClientSession(params(seclevel=1, cacert=cacert), "localhost")
    assert not isinstance(info.value, TlsUnsupported)
    assert message in info.value.reason
    assert info.value.failure.code == 566


@pytest.fixture(scope="module")
def dated_server(pki: TestPki) -> Iterator[ThreadedTlsEchoServer]:
    cert = pki.issue(
        "localhost",
        not_before=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
        not_after=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    )
    with ThreadedTlsEchoServer(pki.server_ctx(cert=cert)) as srv:
        yield srv


@pytest.mark.parametrize(
    ("when", "message"),
    [
        (dt.datetime(2024, 6, 1, tzinfo=dt.UTC).timestamp(), "certificate not yet valid"),
        (dt.datetime(2026, 6, 1, tzinfo=dt.UTC).timestamp(), "certificate expired"),
        (FRESH_MODULE, "certificate not yet valid"),
    ],
)
def test_module_clock_outside_window(
    when: float, message: str, dated_server: ThreadedTlsEchoServer, pki: TestPki
) -> None:
    p = params(seclevel=1, cacert=pki.ca_pem, ignore_localtime=False, module_time=when)
    out = run(p, dated_server.port)
    assert out.failure is not None
    assert out.failure.code == 566
    assert out.failure.reason.startswith(message)
    assert "notBefore 2025-01-01 00:00:00 UTC" in out.failure.reason
    assert "notAfter 2026-01-01 00:00:00 UTC" in out.failure.reason
    stamp = dt.datetime.fromtimestamp(when, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    assert f"module time is {stamp}" in out.failure.reason
    ok = run(replace(p, ignore_localtime=True), dated_server.port)
    assert ok.failure is None


def test_module_clock_inside_window(dated_server: ThreadedTlsEchoServer, pki: TestPki) -> None:
    when = dt.datetime(2025, 6, 1, tzinfo=dt.UTC).timestamp()
    p = params(seclevel=1, cacert=pki.ca_pem, ignore_localtime=False, module_time=when)
    assert run(p, dated_server.port).failure is None


def test_module_clock_before_ca_window(echo: ThreadedTlsEchoServer, pki: TestPki) -> None:
    # The leaf and the CA both start in 2000; a fresh module's clock says 1980.
    p = params(seclevel=1, cacert=pki.ca_pem, ignore_localtime=False, module_time=FRESH_MODULE)
    out = run(p, echo.port)
    assert out.failure is not None
    assert "not yet valid" in out.failure.reason
    assert "1980-01-06 00:00:00 UTC" in out.failure.reason


def test_module_clock_before_ca_window_with_older_leaf(pki: TestPki) -> None:
    # A leaf valid since 1990 from a CA valid since 2000: the CA's window fails.
    cert = pki.issue("localhost", not_before=dt.datetime(1990, 1, 1, tzinfo=dt.UTC))
    when = dt.datetime(1995, 1, 1, tzinfo=dt.UTC).timestamp()
    p = params(seclevel=1, cacert=pki.ca_pem, ignore_localtime=False, module_time=when)
    with ThreadedTlsEchoServer(pki.server_ctx(cert=cert)) as srv:
        out = run(p, srv.port)
    assert out.failure is not None
    assert out.failure.reason.startswith("certificate not yet valid: CA certificate")


def test_self_signed_server_certificate(pki: TestPki, tmp_path: pathlib.Path) -> None:
    # The server presents a self-signed certificate (the CA's own) that cacert does not hold.
    chain = tmp_path / "self-signed.pem"
    chain.write_bytes(pki.ca_key_pem + pki.ca_pem)
    ctx = server_context(pki)
    ctx.load_cert_chain(chain)
    with ThreadedTlsEchoServer(ctx) as srv:
        out = run(params(seclevel=1, cacert=TestPki("other CA").ca_pem), srv.port)
        assert run(params(seclevel=1, cacert=pki.ca_pem), srv.port).failure is None
    assert out.failure is not None
    assert "self-signed" in out.failure.reason


# ---- seclevel 2 -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def mtls_server(pki: TestPki) -> Iterator[ThreadedTlsEchoServer]:
    with ThreadedTlsEchoServer(server_context(pki, require_client_cert=True)) as srv:
        yield srv


def test_seclevel2_client_cert(mtls_server: ThreadedTlsEchoServer, pki: TestPki) -> None:
    client = pki.client_cert()
    p = params(seclevel=2, cacert=pki.ca_pem, clientcert=client.cert_pem, clientkey=client.key_pem)
    assert run(p, mtls_server.port).failure is None
    out = run(replace(p, clientcert=None, clientkey=None), mtls_server.port)
    assert out.failure is not None
    assert out.failure.code == 566
    assert "requires a client certificate, and clientcert is not set" in out.failure.reason
    other = TestPki("other CA").client_cert()
    out = run(replace(p, clientcert=other.cert_pem, clientkey=other.key_pem), mtls_server.port)
    assert out.failure is not None
    assert "does not trust the client certificate" in out.failure.reason


def test_seclevel2_bad_client_key(pki: TestPki) -> None:
    a, b = pki.client_cert("a"), pki.client_cert("b")
    p = params(seclevel=2, cacert=pki.ca_pem, clientcert=a.cert_pem, clientkey=b.key_pem)
    with pytest.raises(TlsConfigError, match="does not match"):
        TlsClientSession(p, None)
    key = serialization.load_pem_private_key(a.key_pem, None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    with pytest.raises(TlsConfigError, match="encrypted"):
        TlsClientSession(replace(p, clientkey=encrypted), None)


# ---- servers that misbehave -----------------------------------------------------------


def test_protocol_version_mismatch(pki: TestPki) -> None:
    v12 = (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2)
    with ThreadedTlsEchoServer(server_context(pki, versions=v12)) as srv:
        out = run(params(sslversion=1), srv.port)
    assert out.failure is not None
    assert out.failure.code == 566
    assert "protocol version mismatch" in out.failure.reason


def test_no_shared_cipher(pki: TestPki) -> None:
    with ThreadedTlsEchoServer(server_context(pki, ciphers="AES128-SHA:@SECLEVEL=0")) as srv:
        out = run(params(sslversion=3, ciphersuites=(0x0035,)), srv.port)
    assert out.failure is not None
    assert out.failure.code == 566
    assert "no shared cipher suite" in out.failure.reason


@contextmanager
def raw_server(behaviour: Callable[[socket.socket], None]) -> Iterator[int]:
    """A plain TCP server on loopback that runs ``behaviour`` on one connection."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            behaviour(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        thread.join(timeout=5)
        listener.close()


def _garbage(conn: socket.socket) -> None:
    conn.recv(65536)
    conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")


def _close_at_once(conn: socket.socket) -> None:
    conn.recv(65536)


def test_garbage_instead_of_server_hello() -> None:
    with raw_server(_garbage) as port:
        out = run(params(), port)
    assert out.failure is not None
    assert out.failure.code == 566
    assert "garbage instead of a ServerHello" in out.failure.reason
    assert "HTTP/1.1" in out.failure.reason


def test_server_closes_before_server_hello() -> None:
    with raw_server(_close_at_once) as port:
        out = run(params(), port)
    assert out.failure is not None
    assert out.failure.code == 566
    assert "closed the connection during the handshake, before a ServerHello" in (
        out.failure.reason
    )


def test_server_closes_mid_handshake(pki: TestPki) -> None:
    def partial(conn: socket.socket) -> None:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        server = server_context(pki).wrap_bio(incoming, outgoing, server_side=True)
        flight = b""
        while not flight:
            incoming.write(conn.recv(65536))
            with suppress(ssl.SSLWantReadError):
                server.do_handshake()
            flight = outgoing.read()
        conn.sendall(flight[:100])

    with raw_server(partial) as port:
        out = run(params(), port)
    assert out.failure is not None
    assert out.failure.code == 566
    assert "during the handshake (after 100 bytes" in out.failure.reason


# ---- in memory ------------------------------------------------------------------------


def _memory_server(
    ctx: ssl.SSLContext,
) -> tuple[ssl.SSLObject, ssl.MemoryBIO, ssl.MemoryBIO]:
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    return ctx.wrap_bio(incoming, outgoing, server_side=True), incoming, outgoing


def test_app_data_with_final_flight_is_kept_and_sni(pki: TestPki) -> None:
    names: list[str | None] = []
    ctx = server_context(pki)
    ctx.sni_callback = lambda _obj, name, _ctx: names.append(name)
    for sni, expected in ((True, "example.org"), (False, None)):
        server, s_in, s_out = _memory_server(ctx)
        client = TlsClientSession(params(sslversion=3, sni=sni), "example.org")
        s_in.write(client.start())
        with pytest.raises(ssl.SSLWantReadError):
            server.do_handshake()
        step = client.receive(s_out.read())  # ServerHello .. ServerHelloDone
        assert not step.handshake_completed
        s_in.write(step.outgoing)
        server.do_handshake()
        server.write(b"hello from the server")
        step = client.receive(s_out.read())  # CCS, Finished and application data at once
        assert step.handshake_completed
        assert step.app_data == b"hello from the server"
        assert client.version == "TLSv1.2"
        assert names[-1] == expected
        s_in.write(client.send(b"x"))
        assert server.read() == b"x"
        s_in.write(client.close())
        assert server.read() == b""  # close_notify
        step = client.receive(b"")
        assert step.peer_closed
        assert "without a TLS close_notify" in step.close_reason


def test_send_before_handshake_is_an_error() -> None:
    client = TlsClientSession(params(), None)
    client.start()
    with pytest.raises(RuntimeError):
        client.send(b"x")


def test_asyncio_echo_server(pki: TestPki) -> None:
    async def main() -> tuple[bytes, bytes, int]:
        async with TlsEchoServer(server_context(pki)) as srv:
            reader, writer = await asyncio.open_connection(srv.host, srv.port)
            session = TlsClientSession(params(sslversion=2), None)
            writer.write(session.start())
            got = bytearray()
            while not (session.handshake_done and got):
                step = session.receive(await reader.read(65536))
                assert step.failure is None
                writer.write(step.outgoing)
                if step.handshake_completed:
                    writer.write(session.send(b"over asyncio"))
                got += step.app_data
            writer.write(session.close())
            step = session.receive(await reader.read(65536))
            assert step.peer_closed
            assert step.close_reason == "the server sent a TLS close_notify"
            writer.close()
            await writer.wait_closed()
            return bytes(got), bytes(srv.received), srv.connections

    assert asyncio.run(main()) == (b"over asyncio", b"over asyncio", 1)
