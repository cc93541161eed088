"""Every sslversion (table 1) with every cipher suite (table 2), offered and negotiated exactly.

Each possible (sslversion, suite) pair runs a real handshake and an echo over loopback
against a server that speaks only that pair (Python's ssl where OpenSSL can serve it,
tlslite-ng for SSL 3.0, RC4 and 3DES); each impossible pair and each mismatch fails the
open with 566 and a reason that names the mismatch. The ClientHello itself is parsed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from bg96.engine.events import TlsParams
from bg96.testing import TestPki, ThreadedTlsEchoServer
from bg96.tls import (
    SUITES,
    CipherSuite,
    TlsClientSession,
    TlsUnsupported,
    expand_suites,
    format_code,
    suite_by_code,
)
from bg96.tls.common import GROUPS, SIGNATURE_ALGORITHMS
from bg96.tls.session import Backend

from .tls_support import (
    SSL_TLS_VERSIONS,
    LegacyEchoServer,
    openssl_server_ctx,
    parse_hello,
    raw_server,
    run_client,
    server_for,
    u16_list,
)

ALL = expand_suites([0xFFFF])
SCSV = 0x00FF
LABEL = {"SSLv3": "SSL3.0", "TLSv1": "TLS1.0", "TLSv1.1": "TLS1.1", "TLSv1.2": "TLS1.2"}
SINGLE = {0: "SSLv3", 1: "TLSv1", 2: "TLSv1.1", 3: "TLSv1.2"}


def params(**kw: object) -> TlsParams:
    base = TlsParams(ssl_ctx_id=1, sslversion=4, ciphersuites=ALL, seclevel=0)
    return replace(base, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return TestPki()  # RSA 2048 CA and server keys, made once for the module


def possible(version: int, suite: CipherSuite) -> bool:
    if version == 0:
        return suite.min_version == "SSLv3"
    if version in (1, 2):
        return not suite.tls12_only
    return True


PAIRS = [(v, s) for v in range(5) for s in SUITES]
POSSIBLE = [(v, s) for v, s in PAIRS if possible(v, s)]
IMPOSSIBLE = [(v, s) for v, s in PAIRS if not possible(v, s)]


def pair_id(pair: tuple[int, CipherSuite]) -> str:
    return f"v{pair[0]}-{pair[1].openssl}"


def expected_backend(version: int, suite: CipherSuite) -> str:
    """OpenSSL 3 runs TLS 1.0-1.2 AES offers; SSL 3.0 (in 0 and 4), RC4, 3DES need tlslite."""
    return "openssl" if version in (1, 2, 3) and suite.cipher == "AES" else "tlslite-ng"


# ---- the matrix -----------------------------------------------------------------------


def test_matrix_counts() -> None:
    assert len(PAIRS) == 65
    assert len(POSSIBLE) == 5 + 9 + 9 + 13 + 13
    assert len(IMPOSSIBLE) == 16


@pytest.mark.parametrize(("version", "suite"), POSSIBLE, ids=[pair_id(p) for p in POSSIBLE])
def test_pair_handshake_and_echo(version: int, suite: CipherSuite, pki: TestPki) -> None:
    # sslversion 4 offers every version: its server speaks the newest the suite allows
    served = SINGLE.get(version, "TLSv1.2")
    payload = bytes(range(256)) * 80  # 20 KiB: two records each way
    p = params(sslversion=version, ciphersuites=(suite.code,), seclevel=1, cacert=pki.ca_pem)
    with server_for(pki, served, [suite]) as srv:
        out = run_client(p, srv.port, payload)
        if isinstance(srv, LegacyEchoServer):
            assert [(s.suite, s.error) for s in srv.served] == [(suite.code, "")]
    assert out.failure is None, out.failure
    assert out.session.backend == expected_backend(version, suite)
    assert out.session.version == served
    assert out.session.cipher_code == suite.code
    assert out.session.cipher == suite.openssl
    assert out.echoed == payload
    assert out.close_reason == "the server sent a TLS close_notify"
    hello = parse_hello(out.hello)
    assert hello.suites == [suite.code, SCSV]


@pytest.mark.parametrize(
    ("version", "suite"),
    [(v, s) for v, s in POSSIBLE if expected_backend(v, s) == "openssl"],
    ids=lambda x: str(x) if isinstance(x, int) else x.openssl,
)
def test_pair_on_tlslite_too(version: int, suite: CipherSuite, pki: TestPki) -> None:
    """The pairs OpenSSL runs, run by tlslite-ng against the same OpenSSL server."""
    p = params(sslversion=version, ciphersuites=(suite.code,), seclevel=1, cacert=pki.ca_pem)
    with server_for(pki, SINGLE[version], [suite]) as srv:
        out = run_client(p, srv.port, b"x" * 5000, backend="tlslite")
    assert out.failure is None, out.failure
    assert out.session.backend == "tlslite-ng"
    assert (out.session.version, out.session.cipher_code) == (SINGLE[version], suite.code)
    assert out.echoed == b"x" * 5000


@pytest.mark.parametrize(("version", "suite"), IMPOSSIBLE, ids=[pair_id(p) for p in IMPOSSIBLE])
def test_impossible_pair_fails_the_open(version: int, suite: CipherSuite) -> None:
    with pytest.raises(TlsUnsupported) as info:
        TlsClientSession(params(sslversion=version, ciphersuites=(suite.code,)), None)
    assert info.value.failure.code == 566
    reason = info.value.reason
    assert f"no configured cipher suite can be used with sslversion {version}" in reason
    assert f"{suite.iana} ({format_code(suite.code)})" in reason
    assert ("needs TLS 1.2" if suite.tls12_only else "needs TLS 1.0 or later") in reason


@pytest.mark.parametrize("served", ["SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2"])
def test_sslversion_4_takes_each_version(served: str, pki: TestPki) -> None:
    """One ClientHello offers SSL 3.0 to TLS 1.2 and all 13 suites; servers pick."""
    suites = [s for s in SUITES if served == "TLSv1.2" or not s.tls12_only]
    if served == "SSLv3":
        suites = [s for s in suites if s.min_version == "SSLv3"]
    p = params(seclevel=1, cacert=pki.ca_pem)
    with server_for(pki, served, suites) as srv:
        out = run_client(p, srv.port, b"all versions")
    assert out.failure is None, out.failure
    assert out.session.backend == "tlslite-ng"
    assert out.session.version == served
    assert out.session.cipher_code in {s.code for s in suites}
    assert out.echoed == b"all versions"


@pytest.mark.parametrize("suite", SUITES, ids=lambda s: s.openssl)
def test_all_suites_each_chosen_by_server(suite: CipherSuite, pki: TestPki) -> None:
    """0XFFFF with sslversion 4 (the defaults): whichever suite the server insists on."""
    with server_for(pki, "TLSv1.2", [suite]) as srv:
        out = run_client(params(), srv.port)
    assert out.failure is None, out.failure
    assert out.session.cipher_code == suite.code


# ---- mismatches -----------------------------------------------------------------------

VERSION_MISMATCHES = [
    (client, server)
    for client in (0, 1, 2, 3)
    for server in ("SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2")
    if SINGLE[client] != server
]


@pytest.mark.parametrize(("client", "server"), VERSION_MISMATCHES)
def test_version_mismatch(client: int, server: str, pki: TestPki) -> None:
    suite = suite_by_code(0x002F)  # AES128-SHA runs on every version
    assert suite is not None
    p = params(sslversion=client, ciphersuites=(suite.code,))
    with server_for(pki, server, [suite]) as srv:
        out = run_client(p, srv.port)
    assert out.failure is not None
    assert out.failure.code == 566
    reason = out.failure.reason
    assert reason.startswith("protocol version mismatch"), reason
    order = ("SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2")
    if client == 0:
        # SSL 3.0 has no protocol_version alert: a newer server answers handshake_failure
        assert "the server refused the SSL3.0-only ClientHello" in reason
        assert "SSL 3.0 has no protocol_version alert" in reason
    elif order.index(SINGLE[client]) > order.index(server):
        # an older server answers with its own version, which the client refuses
        assert f"the server chose {LABEL[server]}, which sslversion {client}" in reason
    else:
        # a newer server refuses the ClientHello
        assert "the server does not accept the offered version(s)" in reason
        assert f"sslversion {client} ({LABEL[SINGLE[client]]})" in reason


def test_version_mismatch_sslversion_4_against_tls13_only(pki: TestPki) -> None:
    v13 = SSL_TLS_VERSIONS["TLSv1.3"]
    with ThreadedTlsEchoServer(pki.server_ctx(versions=(v13, v13))) as srv:
        out = run_client(params(), srv.port)
    assert out.failure is not None
    assert out.failure.code == 566
    assert "protocol version mismatch: the server does not accept the offered version(s)" in (
        out.failure.reason
    )
    assert "SSL3.0 to TLS1.2" in out.failure.reason


def _other(suite: CipherSuite) -> CipherSuite:
    return SUITES[(SUITES.index(suite) + 1) % len(SUITES)]


@pytest.mark.parametrize("suite", SUITES, ids=lambda s: s.openssl)
def test_suite_mismatch(suite: CipherSuite, pki: TestPki) -> None:
    """The server insists on another suite than the one configured: no shared suite."""
    p = params(sslversion=3, ciphersuites=(suite.code,))
    with server_for(pki, "TLSv1.2", [_other(suite)]) as srv:
        out = run_client(p, srv.port)
    assert out.failure is not None
    assert out.failure.code == 566
    assert out.failure.reason.startswith("no shared cipher suite: "), out.failure.reason
    assert f"{suite.iana} ({format_code(suite.code)})" in out.failure.reason


def _server_hello(version: int, suite: int) -> bytes:
    body = version.to_bytes(2, "big") + bytes(32) + b"\x00" + suite.to_bytes(2, "big") + b"\x00"
    hs = b"\x02" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x03" + len(hs).to_bytes(2, "big") + hs


@pytest.mark.parametrize("backend", ["exact", "tlslite"])
def test_server_chooses_a_suite_not_offered(backend: Backend) -> None:
    with raw_server(_server_hello(0x0303, 0x0004)) as port:
        out = run_client(params(sslversion=3, ciphersuites=(0x0035,)), port, backend=backend)
    assert out.failure is not None
    assert out.failure.code == 566
    assert out.failure.reason.startswith(
        "the server chose TLS_RSA_WITH_RC4_128_MD5 (0X0004), which is not among the "
        "configured cipher suites"
    ), out.failure.reason


@pytest.mark.parametrize("backend", ["exact", "tlslite"])
def test_server_chooses_a_version_not_offered(backend: Backend) -> None:
    with raw_server(_server_hello(0x0301, 0x0035)) as port:
        out = run_client(params(sslversion=3, ciphersuites=(0x0035,)), port, backend=backend)
    assert out.failure is not None
    assert out.failure.reason.startswith(
        "protocol version mismatch: the server chose TLS1.0, which sslversion 3 (TLS1.2) "
        "does not allow"
    ), out.failure.reason


# ---- the ClientHello ------------------------------------------------------------------

EXT_SNI, EXT_GROUPS, EXT_POINTS, EXT_SIGALGS = 0, 10, 11, 13
TLS13_ONLY = {41, 42, 43, 44, 45, 49, 50, 51}  # psk .. key_share, supported_versions


def hello_of(
    p: TlsParams, host: str | None = "device.example", backend: Backend = "exact"
) -> bytes:
    return TlsClientSession(p, host, backend=backend).start()


def test_hello_default_context_offers_everything_in_table_order() -> None:
    session = TlsClientSession(params(), "device.example")
    hello = parse_hello(session.start())
    assert session.backend == "tlslite-ng"
    assert hello.record_version == 0x0301
    assert hello.client_version == 0x0303  # TLS 1.2 at most, SSL 3.0 accepted
    assert hello.suites == [*ALL, SCSV]
    assert hello.session_id == b""
    assert hello.compression == b"\x00"
    assert hello.ext_types == [EXT_POINTS, EXT_GROUPS, EXT_SIGALGS]  # no SNI unless asked
    assert not TLS13_ONLY & set(hello.ext_types)
    assert u16_list(hello.ext(EXT_GROUPS) or b"") == list(GROUPS)
    assert u16_list(hello.ext(EXT_SIGALGS) or b"") == list(SIGNATURE_ALGORITHMS)
    assert hello.ext(EXT_POINTS) == b"\x03\x00\x01\x02"


@pytest.mark.parametrize("backend", ["exact", "tlslite"])
def test_hello_sni_only_when_asked(backend: Backend) -> None:
    p = params(sslversion=3, ciphersuites=(0xC02F,))
    plain = parse_hello(hello_of(p, backend=backend))
    assert EXT_SNI not in plain.ext_types
    named = parse_hello(hello_of(replace(p, sni=True), backend=backend))
    assert named.ext_types[0] == EXT_SNI
    assert named.ext(EXT_SNI) == b"\x00\x11\x00\x00\x0edevice.example"
    ip = parse_hello(hello_of(replace(p, sni=True), host="192.0.2.7", backend=backend))
    assert EXT_SNI not in ip.ext_types  # SNI carries names, not addresses


def test_hello_ssl3_only() -> None:
    session = TlsClientSession(params(sslversion=0, sni=True), "device.example")
    hello = parse_hello(session.start())
    assert (hello.record_version, hello.client_version) == (0x0300, 0x0300)
    assert hello.suites == [0x0035, 0x002F, 0x0005, 0x0004, 0x000A, SCSV]
    assert hello.extensions is None  # SSL 3.0 has no extensions


def test_hello_tls10_leaves_tls12_suites_out() -> None:
    hello = parse_hello(hello_of(params(sslversion=1)))
    assert hello.client_version == 0x0301
    assert hello.suites == [s.code for s in SUITES if not s.tls12_only] + [SCSV]
    assert hello.ext_types == [EXT_POINTS, EXT_GROUPS]  # signature_algorithms is TLS 1.2


@pytest.mark.parametrize("backend", ["exact", "tlslite"])
def test_hello_rsa_only_has_no_ecc_extensions(backend: Backend) -> None:
    hello = parse_hello(hello_of(params(sslversion=3, ciphersuites=(0x0035,)), backend=backend))
    assert hello.suites == [0x0035, SCSV]
    assert hello.ext_types == [EXT_SIGALGS]
    hello = parse_hello(hello_of(params(sslversion=2, ciphersuites=(0x002F,)), backend=backend))
    assert hello.client_version == 0x0302
    assert hello.extensions is None


@pytest.mark.parametrize("sni", [False, True])
@pytest.mark.parametrize(
    "config",
    [(1, (0x0035,)), (2, (0xC013, 0x002F)), (3, (0xC02F, 0x0035, 0x003D)), (3, (0xC028,))],
    ids=str,
)
def test_hello_same_bytes_from_both_libraries(
    config: tuple[int, tuple[int, ...]], sni: bool
) -> None:
    """Where OpenSSL can make the offer, tlslite-ng's ClientHello is byte for byte OpenSSL's
    (but for the random), so a server cannot tell which library runs a connection."""
    version, codes = config
    p = params(sslversion=version, ciphersuites=codes, sni=sni)
    ours = TlsClientSession(p, "device.example")
    assert ours.backend == "openssl"
    a = bytearray(ours.start())
    b = bytearray(hello_of(p, backend="tlslite"))
    a[11:43] = b[11:43] = bytes(32)
    assert a == b


@pytest.mark.parametrize("version", range(5))
def test_hello_never_offers_what_the_bg96_lacks(version: int) -> None:
    backends: list[Backend] = ["exact", "tlslite"]
    for backend in backends:
        hello = parse_hello(hello_of(params(sslversion=version), backend=backend))
        assert set(hello.suites) <= {*ALL, SCSV}  # no ECDSA, no TLS 1.3 suites
        assert hello.suites[-1] == SCSV
        assert hello.client_version <= 0x0303
        assert not TLS13_ONLY & set(hello.ext_types)
        assert not {35, 22, 23, 16, 21, 5, 15} & set(hello.ext_types)  # ticket, ETM, EMS...


# ---- speed ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def modern_server(pki: TestPki) -> Iterator[ThreadedTlsEchoServer]:
    suite = suite_by_code(0xC02F)
    assert suite is not None
    with ThreadedTlsEchoServer(openssl_server_ctx(pki, "TLSv1.2", [suite])) as srv:
        yield srv


def test_tlslite_handshake_is_not_slow(modern_server: ThreadedTlsEchoServer) -> None:
    """A handshake by tlslite-ng (with OpenSSL's X25519 and ciphers) stays in milliseconds."""
    run_client(params(), modern_server.port)  # warm up (imports)
    started = time.perf_counter()
    for _ in range(5):
        assert run_client(params(), modern_server.port).failure is None
    assert (time.perf_counter() - started) / 5 < 0.25
