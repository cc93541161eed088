"""Helpers for the TLS tests: servers forced to one (version, suite), a client driver over
real sockets, and a ClientHello parser."""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from bg96.engine.events import TlsParams
from bg96.testing import TestPki, ThreadedTlsEchoServer
from bg96.tls import CipherSuite, TlsClientSession, TlsFailure, TlsStep
from bg96.tls.legacy_backend import VERSION_TUPLES, FastTLSConnection
from bg96.tls.session import Backend

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from tlslite.errors import TLSError  # type: ignore[import-untyped]
    from tlslite.handshakesettings import HandshakeSettings  # type: ignore[import-untyped]
    from tlslite.utils.keyfactory import parsePEMKey  # type: ignore[import-untyped]
    from tlslite.x509certchain import X509CertChain  # type: ignore[import-untyped]

# tlslite-ng's names for each table-2 suite: (cipher, MAC, key exchange)
TLSLITE_NAMES: dict[int, tuple[str, str, str]] = {
    0x0035: ("aes256", "sha", "rsa"),
    0x002F: ("aes128", "sha", "rsa"),
    0x0005: ("rc4", "sha", "rsa"),
    0x0004: ("rc4", "md5", "rsa"),
    0x000A: ("3des", "sha", "rsa"),
    0x003D: ("aes256", "sha256", "rsa"),
    0xC011: ("rc4", "sha", "ecdhe_rsa"),
    0xC012: ("3des", "sha", "ecdhe_rsa"),
    0xC013: ("aes128", "sha", "ecdhe_rsa"),
    0xC014: ("aes256", "sha", "ecdhe_rsa"),
    0xC027: ("aes128", "sha256", "ecdhe_rsa"),
    0xC028: ("aes256", "sha384", "ecdhe_rsa"),
    0xC02F: ("aes128gcm", "aead", "ecdhe_rsa"),
}
SSL_TLS_VERSIONS = {
    "TLSv1": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}


def openssl_can_serve(version: str, suites: list[CipherSuite]) -> bool:
    """Whether Python's ssl can be the server for this version and these suites."""
    return version in SSL_TLS_VERSIONS and all(s.cipher == "AES" for s in suites)


def openssl_server_ctx(pki: TestPki, version: str, suites: list[CipherSuite]) -> ssl.SSLContext:
    """A server context that speaks only ``version`` and ``suites``."""
    v = SSL_TLS_VERSIONS[version]
    ciphers = ":".join(s.openssl for s in suites) if suites else "ALL"
    return pki.server_ctx(versions=(v, v), ciphers=ciphers + ":@SECLEVEL=0")


@dataclass
class Served:
    """What a LegacyEchoServer saw on one connection."""

    version: tuple[int, int] | None = None
    suite: int | None = None
    error: str = ""
    received: bytearray = field(default_factory=bytearray)


def legacy_server_settings(
    pki: TestPki, versions: list[str], codes: list[int]
) -> tuple[Any, Any, Any]:
    """tlslite-ng server credentials and settings for exactly ``versions`` and ``codes``."""
    cert = pki.server_cert()
    chain = X509CertChain()
    chain.parsePemList(cert.cert_pem.decode())
    key = parsePEMKey(cert.key_pem.decode(), private=True)
    s = HandshakeSettings()
    s.minVersion = VERSION_TUPLES[versions[0]]
    s.maxVersion = VERSION_TUPLES[versions[-1]]
    s.versions = [VERSION_TUPLES[v] for v in reversed(versions)]
    names = [TLSLITE_NAMES[c] for c in codes]
    s.cipherNames = sorted({n[0] for n in names})
    s.macNames = sorted({n[1] for n in names})
    s.keyExchangeNames = sorted({n[2] for n in names})
    s.minKeySize = 512
    return chain, key, s


class LegacyEchoServer:
    """A tlslite-ng echo server in a thread, forced to one version range and suite list.

    It serves what Python's ssl cannot (SSL 3.0, RC4, 3DES); ``served`` records each
    connection's negotiated version and suite.
    """

    def __init__(
        self,
        pki: TestPki,
        versions: list[str],
        suites: list[CipherSuite],
        *,
        require_client_cert: bool = False,
    ) -> None:
        self._chain, self._key, self._settings = legacy_server_settings(
            pki, versions, [x.code for x in suites]
        )
        self._require_client_cert = require_client_cert
        self._ca_chain: Any = None
        if require_client_cert:
            self._ca_chain = X509CertChain()
            self._ca_chain.parsePemList(pki.ca_pem.decode())
        self.served: list[Served] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, name="tlslite-echo", daemon=True)
        self._stopping = False

    def __enter__(self) -> LegacyEchoServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stopping = True
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        self._thread.join(timeout=5)
        self._listener.close()

    def _serve(self) -> None:
        while True:
            conn, _ = self._listener.accept()
            if self._stopping:
                conn.close()
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, sock: socket.socket) -> None:
        served = Served()
        self.served.append(served)
        sock.settimeout(10)
        tls = FastTLSConnection(sock)
        try:
            tls.handshakeServer(
                certChain=self._chain,
                privateKey=self._key,
                settings=self._settings,
                reqCert=self._require_client_cert,
            )
            served.version = tls.version
            served.suite = tls.session.cipherSuite
            while data := tls.read():
                served.received += data
                tls.write(data)
        except (TLSError, OSError, ValueError, AssertionError) as exc:
            served.error = f"{type(exc).__name__}: {exc}"
        finally:
            with contextlib.suppress(Exception):
                tls.close()
            sock.close()


def server_for(
    pki: TestPki, version: str, suites: list[CipherSuite]
) -> contextlib.AbstractContextManager[ThreadedTlsEchoServer | LegacyEchoServer]:
    """Python's ssl when it can serve (version, suites), tlslite-ng otherwise."""
    if openssl_can_serve(version, suites):
        return ThreadedTlsEchoServer(openssl_server_ctx(pki, version, suites))
    return LegacyEchoServer(pki, [version], suites)


@dataclass
class Outcome:
    session: TlsClientSession
    failure: TlsFailure | None
    echoed: bytes = b""
    hello: bytes = b""
    keylog: list[str] = field(default_factory=list)
    close_reason: str = ""


def run_client(
    params: TlsParams,
    port: int,
    payload: bytes = b"ping",
    *,
    host: str | None = "localhost",
    backend: Backend = "exact",
) -> Outcome:
    """Handshake over real TCP, send ``payload``, read the echo back, then close."""
    keylog: list[str] = []
    session = TlsClientSession(params, host, keylog=keylog.append, backend=backend)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        hello = session.start()
        sock.sendall(hello)
        step = TlsStep()
        while not session.handshake_done:
            step = session.receive(sock.recv(65536))
            sock.sendall(step.outgoing)
            if step.failure is not None:
                return Outcome(session, step.failure, hello=hello, keylog=keylog)
        if step.failure is not None:
            return Outcome(session, step.failure, hello=hello, keylog=keylog)
        assert step.handshake_completed
        sock.sendall(session.send(payload))
        got = bytearray(step.app_data)
        while len(got) < len(payload):
            step = session.receive(sock.recv(65536))
            sock.sendall(step.outgoing)
            got += step.app_data
            assert not step.peer_closed, step.close_reason
        sock.sendall(session.close())
        step = session.receive(sock.recv(65536))
        if not step.peer_closed:
            step = session.receive(b"")
        return Outcome(session, None, bytes(got), hello, keylog, step.close_reason)


# ---- the ClientHello ------------------------------------------------------------------


@dataclass
class Hello:
    record_version: int
    client_version: int
    random: bytes
    session_id: bytes
    suites: list[int]
    compression: bytes
    extensions: list[tuple[int, bytes]] | None  # None: no extensions block at all

    def ext(self, kind: int) -> bytes | None:
        return next((d for t, d in self.extensions or () if t == kind), None)

    @property
    def ext_types(self) -> list[int]:
        return [t for t, _ in self.extensions or ()]


def parse_hello(data: bytes) -> Hello:
    """The ClientHello in the first record(s) a client sent."""
    assert data[0] == 22, "not a handshake record"
    record_version = struct.unpack(">H", data[1:3])[0]
    body = bytearray()
    pos = 0
    while pos < len(data):
        length = struct.unpack(">H", data[pos + 3 : pos + 5])[0]
        body += data[pos + 5 : pos + 5 + length]
        pos += 5 + length
    assert body[0] == 1, "not a ClientHello"
    hs_len = int.from_bytes(body[1:4], "big")
    b = bytes(body[4 : 4 + hs_len])
    p = 0
    client_version = struct.unpack(">H", b[p : p + 2])[0]
    p += 2
    random = b[p : p + 32]
    p += 32
    sid_len = b[p]
    session_id = b[p + 1 : p + 1 + sid_len]
    p += 1 + sid_len
    cs_len = struct.unpack(">H", b[p : p + 2])[0]
    p += 2
    suites = [struct.unpack(">H", b[p + i : p + i + 2])[0] for i in range(0, cs_len, 2)]
    p += cs_len
    comp = b[p + 1 : p + 1 + b[p]]
    p += 1 + b[p]
    extensions: list[tuple[int, bytes]] | None = None
    if p < len(b):
        extensions = []
        end = p + 2 + struct.unpack(">H", b[p : p + 2])[0]
        p += 2
        while p < end:
            kind, n = struct.unpack(">HH", b[p : p + 4])
            extensions.append((kind, b[p + 4 : p + 4 + n]))
            p += 4 + n
        assert p == len(b)
    return Hello(record_version, client_version, random, session_id, suites, comp, extensions)


def u16_list(data: bytes, skip: int = 2) -> list[int]:
    """A list of 16-bit values after a ``skip``-byte length prefix."""
    return [struct.unpack(">H", data[i : i + 2])[0] for i in range(skip, len(data), 2)]


@contextlib.contextmanager
def raw_server(reply: bytes) -> Iterator[int]:
    """A TCP server that reads one ClientHello and answers ``reply`` (then waits)."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(5)
            with contextlib.suppress(OSError):
                conn.recv(65536)
                conn.sendall(reply)
                conn.recv(65536)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        thread.join(timeout=5)
        listener.close()
