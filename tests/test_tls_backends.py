"""Both TLS backends behave alike: certificates, host names, SNI, client certificates,
key logs, closes and failure reasons are the same whichever library runs a connection."""

from __future__ import annotations

import datetime as dt
import functools
import pathlib
import re
import ssl
from collections.abc import Iterator
from dataclasses import replace

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from bg96.engine.events import TlsParams
from bg96.testing import TestPki, ThreadedTlsEchoServer, server_context
from bg96.tls import TlsClientSession, TlsConfigError, TlsUnsupported, expand_suites
from bg96.tls.certs import ChainError, check_host, verify_chain
from bg96.tls.session import Backend

from .tls_support import LegacyEchoServer, parse_hello, run_client

ALL = expand_suites([0xFFFF])
BACKENDS: list[Backend] = ["exact", "tlslite"]
NOW = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)


def params(**kw: object) -> TlsParams:
    """TLS 1.2 with AES suites: OpenSSL runs it ("exact"), unless tlslite-ng is forced."""
    base = TlsParams(ssl_ctx_id=1, sslversion=3, ciphersuites=(0xC02F, 0x0035), seclevel=0)
    return replace(base, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return TestPki()


@pytest.fixture(scope="module")
def echo(pki: TestPki) -> Iterator[ThreadedTlsEchoServer]:
    with ThreadedTlsEchoServer(server_context(pki)) as srv:
        yield srv


def _backend_of(backend: Backend) -> str:
    return "tlslite-ng" if backend == "tlslite" else "openssl"


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@functools.cache
def _spare_key() -> rsa.RSAPrivateKey:
    """A key for certificates whose key does not matter (made once)."""
    return _key()


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(
    subject: str,
    key: rsa.RSAPrivateKey,
    issuer: tuple[x509.Certificate, rsa.RSAPrivateKey] | None,
    *,
    ca: bool | None = None,
    eku: list[x509.ObjectIdentifier] | None = None,
    sans: list[str] | None = None,
) -> x509.Certificate:
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer[0].subject if issuer else _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2999, 1, 1, tzinfo=dt.UTC))
    )
    if ca is not None:
        b = b.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    if eku is not None:
        b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    if sans is not None:
        b = b.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False
        )
    return b.sign(issuer[1] if issuer else key, hashes.SHA256())


def _pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class Chain:
    """root -> intermediate -> leaf, plus odd certificates OpenSSL refuses."""

    def __init__(self) -> None:
        self.root_key, self.inter_key, self.leaf_key = _key(), _key(), _key()
        self.root = _cert("root", self.root_key, None, ca=True)
        self.inter = _cert("inter", self.inter_key, (self.root, self.root_key), ca=True)
        self.leaf = _cert("localhost", self.leaf_key, (self.inter, self.inter_key), ca=False)
        # a "CA" that is not one, issuing a leaf
        self.fake_ca = _cert("fake", self.inter_key, (self.root, self.root_key), ca=False)
        self.under_fake = _cert("localhost", self.leaf_key, (self.fake_ca, self.inter_key))
        # a leaf for client use only
        self.client_only = _cert(
            "localhost",
            self.leaf_key,
            (self.root, self.root_key),
            eku=[ExtendedKeyUsageOID.CLIENT_AUTH],
        )

    def server(self, tmp: pathlib.Path, *certs: x509.Certificate) -> ThreadedTlsEchoServer:
        path = tmp / "chain.pem"
        path.write_bytes(_key_pem(self.leaf_key) + _pem(*certs))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.set_ciphers("ALL:@SECLEVEL=0")
        ctx.load_cert_chain(path)
        return ThreadedTlsEchoServer(ctx)


@pytest.fixture(scope="module")
def chain() -> Chain:
    return Chain()


def _verify_case(chain: Chain, case: str) -> tuple[list[x509.Certificate], bytes, str | None]:
    """(what the server presents, cacert, expected reason start or None for success)"""
    c = chain
    return {
        "root-anchor": ([c.leaf, c.inter], _pem(c.root), None),
        "intermediate-anchor": ([c.leaf, c.inter], _pem(c.inter), None),
        "leaf-in-cacert": ([c.leaf], _pem(c.leaf), None),
        "missing-intermediate": ([c.leaf], _pem(c.root), "unknown CA: the server's certificate"),
        "other-ca": ([c.leaf, c.inter], TestPki("x").ca_pem, "unknown CA: the server's"),
        "root-in-chain": ([c.leaf, c.inter, c.root], TestPki("x").ca_pem, "unknown CA: the"),
        "self-signed": ([c.root], TestPki("x").ca_pem, "unknown CA: the server's certificate is"),
        "issuer-not-a-ca": ([c.under_fake, c.fake_ca], _pem(c.root), "invalid CA: "),
        "client-only-leaf": ([c.client_only], _pem(c.root), "the server's certificate is not"),
        "bad-signature": ([_tampered(c.leaf), c.inter], _pem(c.root), "bad signature"),
        "chain-out-of-order": ([c.leaf, c.root, c.inter], _pem(c.root), None),
    }[case]


def _tampered(cert: x509.Certificate) -> x509.Certificate:
    """``cert`` with one bit of its signature flipped: it no longer verifies."""
    der = bytearray(cert.public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01
    return x509.load_der_x509_certificate(bytes(der))


CASES = [
    "root-anchor",
    "intermediate-anchor",
    "leaf-in-cacert",
    "missing-intermediate",
    "other-ca",
    "root-in-chain",
    "self-signed",
    "issuer-not-a-ca",
    "client-only-leaf",
    "bad-signature",
    "chain-out-of-order",
]


@pytest.mark.parametrize("case", CASES)
def test_chain_verification_matches_openssl(
    case: str, chain: Chain, tmp_path: pathlib.Path
) -> None:
    presented, cacert, expected = _verify_case(chain, case)
    if case == "self-signed":
        key = chain.root_key
        path = tmp_path / "chain.pem"
        path.write_bytes(_key_pem(key) + _pem(*presented))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(path)
        server = ThreadedTlsEchoServer(ctx)
    elif case == "issuer-not-a-ca":
        path = tmp_path / "chain.pem"
        path.write_bytes(_key_pem(chain.leaf_key) + _pem(*presented))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(path)
        server = ThreadedTlsEchoServer(ctx)
    else:
        server = chain.server(tmp_path, *presented)
    p = params(seclevel=1, cacert=cacert)
    with server as srv:
        outs = {b: run_client(p, srv.port, backend=b) for b in BACKENDS}
    reasons = {b: o.failure.reason if o.failure else None for b, o in outs.items()}
    if expected is None:
        assert reasons == {"exact": None, "tlslite": None}
        return
    openssl, ours = reasons["exact"], reasons["tlslite"]
    assert openssl is not None and ours is not None
    assert openssl.startswith(expected), openssl
    # the same words; only the verifier named at the end differs
    assert openssl.split("; OpenSSL:")[0] == ours.split("; bg96 verifier:")[0], (openssl, ours)
    assert openssl.split("(X509 error")[1] == ours.split("(X509 error")[1]


def test_verify_chain_directly(chain: Chain) -> None:
    verify_chain([chain.leaf, chain.inter], [chain.root])
    with pytest.raises(ChainError) as info:
        verify_chain([chain.leaf], [chain.root])
    assert info.value.code == 20
    stranger = _cert("stranger", _spare_key(), None, ca=True)
    with pytest.raises(ChainError) as info:
        verify_chain([chain.leaf, chain.inter, chain.root], [stranger])
    assert info.value.code == 19
    with pytest.raises(ChainError) as info:
        verify_chain([chain.root], [stranger])
    assert info.value.code == 18


# ---- validity window, host name, SNI --------------------------------------------------


@pytest.fixture(scope="module")
def dated(pki: TestPki) -> Iterator[ThreadedTlsEchoServer]:
    cert = pki.issue(
        "localhost",
        not_before=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
        not_after=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    )
    with ThreadedTlsEchoServer(pki.server_ctx(cert=cert)) as srv:
        yield srv


@pytest.mark.parametrize("backend", BACKENDS)
def test_module_clock(backend: Backend, dated: ThreadedTlsEchoServer, pki: TestPki) -> None:
    p = params(seclevel=1, cacert=pki.ca_pem, ignore_localtime=False)
    late = dt.datetime(2026, 6, 1, tzinfo=dt.UTC).timestamp()
    out = run_client(replace(p, module_time=late), dated.port, backend=backend)
    assert out.failure is not None
    assert out.failure.reason.startswith("certificate expired: server certificate ")
    inside = dt.datetime(2025, 6, 1, tzinfo=dt.UTC).timestamp()
    out = run_client(replace(p, module_time=inside), dated.port, backend=backend)
    assert out.failure is None
    assert out.session.backend == _backend_of(backend)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("checkhost", "ok"),
    [("localhost", True), ("LOCALHOST.", True), ("127.0.0.1", True), ("wrong.example", False)],
)
def test_checkhost(
    checkhost: str, ok: bool, backend: Backend, echo: ThreadedTlsEchoServer, pki: TestPki
) -> None:
    for seclevel in (0, 1):
        p = params(seclevel=seclevel, cacert=pki.ca_pem, checkhost=checkhost)
        out = run_client(p, echo.port, backend=backend)
        if ok:
            assert out.failure is None, out.failure
            continue
        assert out.failure is not None
        assert out.failure.code == 566
        assert out.failure.reason == (
            "host name mismatch: the server's certificate is for localhost, 127.0.0.1, "
            f"not {checkhost}"
        )


def test_host_name_not_checked_without_checkhost(echo: ThreadedTlsEchoServer) -> None:
    for backend in BACKENDS:
        out = run_client(params(), echo.port, host="wrong.example", backend=backend)
        assert out.failure is None


@pytest.mark.parametrize(
    ("names", "host", "ok"),
    [
        (["*.example.org"], "a.example.org", True),
        (["*.example.org"], "example.org", False),
        (["*.example.org"], "a.b.example.org", False),
        (["*.org"], "example.org", False),
        (["a*.example.org"], "ab.example.org", False),
        (["Device.Example"], "device.example", True),
    ],
)
def test_check_host_patterns(names: list[str], host: str, ok: bool) -> None:
    cert = _cert("cn.example", _spare_key(), None, sans=names)
    assert (check_host(cert, host) is None) is ok


def test_check_host_common_name_only_without_dns_names() -> None:
    key = _spare_key()
    assert check_host(_cert("device.example", key, None), "device.example") is None
    with_san = _cert("device.example", key, None, sans=["other.example"])
    assert check_host(with_san, "device.example") == (
        "host name mismatch: the server's certificate is for other.example, not device.example"
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_sni(backend: Backend, pki: TestPki) -> None:
    seen: list[str | None] = []
    ctx = server_context(pki)

    def note(_obj: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        seen.append(name)

    ctx.sni_callback = note
    with ThreadedTlsEchoServer(ctx) as srv:
        assert run_client(params(), srv.port, host="localhost", backend=backend).failure is None
        p = params(sni=True)
        assert run_client(p, srv.port, host="localhost", backend=backend).failure is None
        assert run_client(p, srv.port, host="127.0.0.1", backend=backend).failure is None
    assert seen == [None, "localhost", None]


# ---- client certificates --------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_client_certificate(backend: Backend, pki: TestPki) -> None:
    client = pki.client_cert()
    p = params(seclevel=2, cacert=pki.ca_pem, clientcert=client.cert_pem, clientkey=client.key_pem)
    with ThreadedTlsEchoServer(server_context(pki, require_client_cert=True)) as srv:
        assert run_client(p, srv.port, backend=backend).failure is None
        out = run_client(replace(p, clientcert=None, clientkey=None), srv.port, backend=backend)
        assert out.failure is not None
        assert "requires a client certificate, and clientcert is not set" in out.failure.reason
        other = TestPki("other CA").client_cert()
        p2 = replace(p, clientcert=other.cert_pem, clientkey=other.key_pem)
        out = run_client(p2, srv.port, backend=backend)
        assert out.failure is not None
        assert "does not trust the client certificate" in out.failure.reason


def test_client_certificate_to_legacy_server(pki: TestPki) -> None:
    """SSL 3.0 with a client certificate (the server asks for one)."""
    client = pki.client_cert()
    p = TlsParams(
        ssl_ctx_id=0,
        sslversion=0,
        ciphersuites=(0x000A,),
        seclevel=2,
        cacert=pki.ca_pem,
        clientcert=client.cert_pem,
        clientkey=client.key_pem,
    )
    suites = [s for s in TlsClientSession(p, None).plan.suites]
    with LegacyEchoServer(pki, ["SSLv3"], suites, require_client_cert=True) as srv:
        out = run_client(p, srv.port)
    assert out.failure is None, out.failure
    assert (out.session.version, out.session.cipher) == ("SSLv3", "DES-CBC3-SHA")


# ---- key log --------------------------------------------------------------------------

KEYLOG_LINE = re.compile(r"^CLIENT_RANDOM ([0-9a-f]{64}) ([0-9a-f]{96})$")


@pytest.mark.parametrize("backend", BACKENDS)
def test_keylog_matches_the_server(backend: Backend, pki: TestPki, tmp_path: pathlib.Path) -> None:
    ctx = server_context(pki)
    server_log = tmp_path / "server.keys"
    ctx.keylog_filename = str(server_log)
    with ThreadedTlsEchoServer(ctx) as srv:
        out = run_client(params(), srv.port, backend=backend)
    assert out.failure is None
    assert len(out.keylog) == 1
    m = KEYLOG_LINE.match(out.keylog[0])
    assert m is not None, out.keylog
    assert bytes.fromhex(m.group(1)) == parse_hello(out.hello).random
    server_lines = [ln for ln in server_log.read_text().splitlines() if ln.startswith("CLIENT_")]
    assert server_lines == out.keylog


def test_keylog_for_legacy_suites_matches_the_server(pki: TestPki) -> None:
    p = TlsParams(ssl_ctx_id=0, sslversion=0, ciphersuites=(0x0005,), seclevel=0)
    suites = list(TlsClientSession(p, None).plan.suites)
    with LegacyEchoServer(pki, ["SSLv3"], suites) as srv:
        out = run_client(p, srv.port)
    assert out.failure is None
    assert len(out.keylog) == 1 and KEYLOG_LINE.match(out.keylog[0])


def test_keylog_temp_files_are_gone(echo: ThreadedTlsEchoServer, tmp_path: pathlib.Path) -> None:
    import tempfile

    before = set(pathlib.Path(tempfile.gettempdir()).glob("bg96-keylog-*"))
    for _ in range(3):
        assert len(run_client(params(), echo.port).keylog) == 1
        TlsClientSession(params(), None, keylog=print).start()  # never finished
    after = set(pathlib.Path(tempfile.gettempdir()).glob("bg96-keylog-*"))
    assert after <= before


# ---- choosing the backend --------------------------------------------------------------


def test_backend_choice_and_notes() -> None:
    defaults = replace(params(), sslversion=4, ciphersuites=ALL)
    s = TlsClientSession(defaults, None)
    assert s.backend == "tlslite-ng"
    assert s.note == "tlslite-ng (OpenSSL " + s.note.split("OpenSSL ")[1]
    assert s.note.endswith("has no SSL3.0, RC4, 3DES)")
    fast = TlsClientSession(defaults, None, backend="fast")
    assert fast.backend == "openssl"
    assert fast.plan.versions == ("TLSv1", "TLSv1.1", "TLSv1.2")
    assert [s.cipher for s in fast.plan.suites] == ["AES"] * 8
    assert fast.note.startswith("OpenSSL, leaving out SSL3.0, TLS_RSA_WITH_RC4_128_SHA")
    rc4 = replace(params(), ciphersuites=(0x0005,))
    assert TlsClientSession(rc4, None, backend="fast").backend == "tlslite-ng"
    with pytest.raises(TlsUnsupported, match="cannot offer TLS_RSA_WITH_RC4_128_SHA"):
        TlsClientSession(rc4, None, backend="openssl")
    assert TlsClientSession(params(), None).backend == "openssl"
    assert TlsClientSession(params(), None, backend="tlslite").backend == "tlslite-ng"


@pytest.mark.parametrize("backend", BACKENDS)
def test_config_errors_are_the_same(backend: Backend) -> None:
    with pytest.raises(TlsConfigError, match="sslversion 7 is not a BG96 SSL version"):
        TlsClientSession(params(sslversion=7), None, backend=backend)
    with pytest.raises(TlsConfigError, match="seclevel 1 needs a CA certificate"):
        TlsClientSession(params(seclevel=1), None, backend=backend)
    with pytest.raises(TlsConfigError, match="no known cipher suite"):
        TlsClientSession(params(ciphersuites=(0x1234,)), None, backend=backend)


# ---- data and closes ------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("version", [0, 1, 3])
def test_large_echo(backend: Backend, version: int, pki: TestPki) -> None:
    payload = bytes(range(256)) * 1024
    p = replace(params(), sslversion=version, ciphersuites=(0x0035,))
    if version == 0:
        suites = list(TlsClientSession(p, None).plan.suites)
        with LegacyEchoServer(pki, ["SSLv3"], suites) as srv:
            out = run_client(p, srv.port, payload, backend=backend)
    else:
        with ThreadedTlsEchoServer(server_context(pki)) as srv:
            out = run_client(p, srv.port, payload, backend=backend)
    assert out.failure is None
    assert out.echoed == payload


def _memory_server(pki: TestPki) -> tuple[ssl.SSLObject, ssl.MemoryBIO, ssl.MemoryBIO]:
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = server_context(pki).wrap_bio(incoming, outgoing, server_side=True)
    return obj, incoming, outgoing


def _server_done(
    backend: Backend, pki: TestPki
) -> tuple[ssl.SSLObject, ssl.MemoryBIO, ssl.MemoryBIO, TlsClientSession]:
    """An in-memory server and a client session, up to the server's end of the handshake
    (the server's last flight is still in its outgoing BIO for the client to read)."""
    server, s_in, s_out = _memory_server(pki)
    client = TlsClientSession(params(), None, backend=backend)
    s_in.write(client.start())
    with pytest.raises(ssl.SSLWantReadError):
        server.do_handshake()
    step = client.receive(s_out.read())
    assert not step.handshake_completed and step.outgoing
    s_in.write(step.outgoing)
    server.do_handshake()
    return server, s_in, s_out, client


@pytest.mark.parametrize("backend", BACKENDS)
def test_in_memory_flights_and_closes(backend: Backend, pki: TestPki) -> None:
    server, s_in, s_out, client = _server_done(backend, pki)
    server.write(b"hello from the server")
    step = client.receive(s_out.read())  # CCS, Finished and application data at once
    assert step.handshake_completed
    assert step.app_data == b"hello from the server"
    # a record split across reads
    server.write(b"x" * 3000)
    records = s_out.read()
    assert client.receive(records[:7]).app_data == b""
    assert client.receive(records[7:]).app_data == b"x" * 3000
    s_in.write(client.send(b"y"))
    assert server.read() == b"y"
    # the server closes
    with pytest.raises(ssl.SSLWantReadError):
        server.unwrap()
    step = client.receive(s_out.read())
    assert step.peer_closed
    assert step.close_reason == "the server sent a TLS close_notify"
    assert client.receive(b"more").peer_closed is False  # ignored after the close


@pytest.mark.parametrize("backend", BACKENDS)
def test_client_close_then_server_reply(backend: Backend, pki: TestPki) -> None:
    server, s_in, s_out, client = _server_done(backend, pki)
    client.receive(s_out.read())
    s_in.write(client.close())
    assert server.read() == b""  # close_notify
    with pytest.raises(RuntimeError):
        client.send(b"late")
    server.unwrap()
    step = client.receive(s_out.read())
    assert step.peer_closed
    assert step.close_reason == "the server sent a TLS close_notify"


@pytest.mark.parametrize("backend", BACKENDS)
def test_eof_without_close_notify(backend: Backend, echo: ThreadedTlsEchoServer) -> None:
    import socket

    client = TlsClientSession(params(), None, backend=backend)
    with socket.create_connection(("127.0.0.1", echo.port)) as sock:
        sock.sendall(client.start())
        while not client.handshake_done:
            sock.sendall(client.receive(sock.recv(65536)).outgoing)
    step = client.receive(b"")
    assert step.peer_closed
    assert step.close_reason == "the server closed TCP without a TLS close_notify"


@pytest.mark.parametrize("backend", BACKENDS)
def test_garbage_and_early_eof(backend: Backend) -> None:
    client = TlsClientSession(params(), None, backend=backend)
    client.start()
    step = client.receive(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    assert step.failure is not None
    assert "garbage instead of a ServerHello" in step.failure.reason
    client = TlsClientSession(params(), None, backend=backend)
    client.start()
    step = client.receive(b"")
    assert step.failure is not None
    assert step.failure.reason == (
        "the server closed the connection during the handshake, before a ServerHello"
    )
    client = TlsClientSession(params(), None, backend=backend)
    client.start()
    assert client.receive(b"\x16\x03\x03\x00\x40" + bytes(20)).failure is None
    step = client.receive(b"")
    assert step.failure is not None
    assert "(after 25 bytes of handshake data)" in step.failure.reason


def test_trustme_chain_with_intermediate(tmp_path: pathlib.Path) -> None:
    ca = trustme.CA(key_type=trustme.KeyType.RSA)
    child = ca.create_child_ca(key_type=trustme.KeyType.RSA)
    leaf = child.issue_cert("localhost", key_type=trustme.KeyType.RSA)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    leaf.configure_cert(ctx)
    p = params(seclevel=1, cacert=ca.cert_pem.bytes())
    with ThreadedTlsEchoServer(ctx) as srv:
        for backend in BACKENDS:
            assert run_client(p, srv.port, backend=backend).failure is None


@pytest.mark.parametrize("backend", BACKENDS)
def test_sni_names_are_encoded_alike(backend: Backend) -> None:
    p = params(sni=True)
    for host, sent in (("my_host.example", b"my_host.example"), ("bücher.example", None)):
        hello = parse_hello(TlsClientSession(p, host, backend=backend).start())
        name = sent if sent is not None else host.encode("idna")
        entry = b"\x00" + len(name).to_bytes(2, "big") + name
        assert hello.ext(0) == (len(entry)).to_bytes(2, "big") + entry
    with pytest.raises(TlsConfigError, match=r"SNI: '\.leading' is not a host name"):
        TlsClientSession(p, ".leading", backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_corrupted_record_closes(backend: Backend, pki: TestPki) -> None:
    server, _, s_out, client = _server_done(backend, pki)
    assert client.receive(s_out.read()).handshake_completed
    server.write(b"secret")
    record = bytearray(s_out.read())
    record[-1] ^= 1
    step = client.receive(bytes(record))
    assert step.peer_closed
    assert "bad record MAC" in step.close_reason
    assert step.app_data == b""


def test_tlslite_ignores_a_hello_request(pki: TestPki) -> None:
    """A server asking to renegotiate gets a no_renegotiation warning; data flows on."""
    from tlslite.messages import Message  # type: ignore[import-untyped]

    from bg96.tls.legacy_backend import BufferSocket, FastTLSConnection

    from .tls_support import legacy_server_settings

    sock = BufferSocket()
    server = FastTLSConnection(sock)
    chain, key, settings = legacy_server_settings(pki, ["TLSv1.2"], [0xC02F])
    hs = server.handshakeServerAsync(certChain=chain, privateKey=key, settings=settings)
    client = TlsClientSession(params(), None, backend="tlslite")
    data = client.start()
    done = False
    while not client.handshake_done:
        sock.feed(data)
        if not done:
            for result in hs:
                if result == 0:
                    break
            else:
                done = True
        step = client.receive(sock.take())
        data = step.outgoing
    for _ in server._recordLayer.sendRecord(Message(22, bytearray(b"\x00\x00\x00\x00"))):
        pass
    for _ in server.writeAsync(b"still here"):
        pass
    step = client.receive(sock.take())
    assert step.app_data == b"still here"
    assert not step.peer_closed
    assert step.outgoing[:3] == b"\x15\x03\x03"  # an (encrypted) alert record
