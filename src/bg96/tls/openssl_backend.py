"""The OpenSSL backend: Python's ``ssl`` over ``ssl.MemoryBIO``, for what OpenSSL can offer.

OpenSSL 3 has no SSL 3.0, RC4 or 3DES (not even at security level 0), so it runs a
connection only when the whole offer is within what it has; ``can_run`` says whether.
"""

from __future__ import annotations

import contextlib
import functools
import os
import ssl
import tempfile
import threading
import warnings
import weakref
from collections import OrderedDict

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ..engine.events import TlsParams
from .certs import ca_certs, client_credentials, credentials_pem
from .common import (
    BackendSession,
    HandshakeError,
    KeyLog,
    ReadResult,
    TlsPlan,
    make_plan,
    sni_name,
)
from .errors import TlsConfigError, TlsUnsupported
from .suites import CipherSuite, format_code, suite_by_openssl_name

_X509_V_FLAG_NO_CHECK_TIME = 0x200000  # OpenSSL's flag; Python 3.11 has no name for it
_SSL_OP_LEGACY_SERVER_CONNECT = 0x4  # old servers without RFC 5746: the BG96 talks to them
_SSL_OP_NO_EXTENDED_MASTER_SECRET = 0x1  # OpenSSL 3.0's SSL_OP_NO_EXTENDED_MASTER_SECRET
_SSL_OP_NO_ENCRYPT_THEN_MAC = 0x80000

_TLS_VERSIONS: dict[str, ssl.TLSVersion] = {
    "SSLv3": ssl.TLSVersion.SSLv3,  # only used if an OpenSSL with SSL 3.0 ever shows up
    "TLSv1": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
}
OPENSSL_VERSION = ssl.OPENSSL_VERSION.split()[1] if " " in ssl.OPENSSL_VERSION else "?"


@functools.cache
def openssl_has_suite(openssl_name: str) -> bool:
    """Whether the OpenSSL here can offer a TLS 1.2-or-older suite (at security level 0)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        ctx.set_ciphers(f"{openssl_name}:@SECLEVEL=0")
    except ssl.SSLError:
        return False
    return any(c["name"] == openssl_name for c in ctx.get_ciphers())


def openssl_has_version(name: str) -> bool:
    if name == "SSLv3":
        return ssl.HAS_SSLv3
    return bool({"TLSv1": ssl.HAS_TLSv1, "TLSv1.1": ssl.HAS_TLSv1_1}.get(name, True))


def missing(plan: TlsPlan) -> tuple[list[str], list[CipherSuite]]:
    """The versions and suites of ``plan`` that this OpenSSL cannot offer."""
    versions = [v for v in plan.versions if not openssl_has_version(v)]
    suites = [s for s in plan.suites if not openssl_has_suite(s.openssl)]
    return versions, suites


def can_run(plan: TlsPlan) -> bool:
    """Whether OpenSSL can send exactly this offer and accept every answer to it."""
    versions, suites = missing(plan)
    return not versions and not suites


def subset(plan: TlsPlan) -> TlsPlan:
    """The part of ``plan`` OpenSSL can run (the "fast" choice); TlsUnsupported if none."""
    versions = tuple(v for v in plan.versions if openssl_has_version(v))
    suites = tuple(s for s in plan.suites if openssl_has_suite(s.openssl))
    newest = versions[-1] if versions else ""
    if newest != "TLSv1.2":
        suites = tuple(s for s in suites if not s.tls12_only)
    if not versions or not suites:
        lacking = [f"{s.iana} ({format_code(s.code)})" for s in plan.suites if s not in suites]
        what = ", ".join(lacking) if versions else "SSL 3.0"
        raise TlsUnsupported(f"OpenSSL {OPENSSL_VERSION} here cannot offer {what}")
    dropped = [v for v in plan.versions if v not in versions]
    dropped += [s.iana for s in plan.suites if s not in suites]
    return TlsPlan(plan.params, versions, suites, plan.left_out + tuple(dropped))


# ---- contexts -------------------------------------------------------------------------


def _build(plan: TlsPlan) -> tuple[ssl.SSLContext, list[x509.Certificate]]:
    """The context and the parsed cacert certificates (empty for seclevel 0)."""
    params = plan.params
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False  # checkhost is judged by the session, SNI or not
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0/1.1 are deprecated
        ctx.minimum_version = _TLS_VERSIONS[plan.versions[0]]
        ctx.maximum_version = _TLS_VERSIONS[plan.versions[-1]]
    ctx.set_ciphers(":".join(s.openssl for s in plan.suites) + ":@SECLEVEL=0")
    ctx.options |= (
        _SSL_OP_LEGACY_SERVER_CONNECT
        | ssl.OP_NO_TICKET
        | _SSL_OP_NO_EXTENDED_MASTER_SECRET
        | _SSL_OP_NO_ENCRYPT_THEN_MAC
    )
    if params.seclevel == 0:
        ctx.verify_mode = ssl.CERT_NONE
        return ctx, []
    cas = ca_certs(params)
    try:
        ctx.load_verify_locations(
            cadata=b"".join(c.public_bytes(serialization.Encoding.DER) for c in cas)
        )
    except ssl.SSLError as exc:
        raise TlsConfigError(f"OpenSSL rejected cacert ({exc})") from None
    ctx.verify_mode = ssl.CERT_REQUIRED
    # The validity window is judged against the module clock after the handshake; a CA
    # certificate in cacert is a trust anchor even when it is not self-signed.
    ctx.verify_flags |= _X509_V_FLAG_NO_CHECK_TIME | ssl.VERIFY_X509_PARTIAL_CHAIN
    if params.seclevel == 2:
        creds = client_credentials(params)
        if creds is not None:
            _load_client_cert(ctx, *credentials_pem(*creds))
    return ctx, cas


def _load_client_cert(ctx: ssl.SSLContext, chain_pem: bytes, key_pem: bytes) -> None:
    # load_cert_chain reads files only; the file lives for the duration of this call.
    fd, path = tempfile.mkstemp(prefix="bg96-client-", suffix=".pem")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(key_pem + chain_pem)
        ctx.load_cert_chain(path, password=lambda: b"")
    except ssl.SSLError as exc:
        raise TlsConfigError(f"OpenSSL rejected clientcert/clientkey ({exc})") from None
    finally:
        os.unlink(path)


_CacheKey = tuple[object, ...]
_CACHE_SIZE = 32
_cache: OrderedDict[_CacheKey, tuple[ssl.SSLContext, list[x509.Certificate]]] = OrderedDict()
_cache_lock = threading.Lock()  # sessions may be made on several threads (drivers, tests)


def _cache_key(plan: TlsPlan) -> _CacheKey:
    p = plan.params
    return (plan.versions, plan.codes, p.seclevel, p.cacert, p.clientcert, p.clientkey)


def _context(plan: TlsPlan) -> tuple[ssl.SSLContext, list[x509.Certificate]]:
    """A shared context for this offer and these certificates (building one costs ~0.2 ms)."""
    key = _cache_key(plan)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    built = _build(plan)
    with _cache_lock:
        _cache[key] = built
        if len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return built


def build_context(params: TlsParams) -> ssl.SSLContext:
    """An SSLContext offering what the SSL context is configured to offer, as far as OpenSSL
    can (the "fast" choice: SSL 3.0, RC4 and 3DES left out).

    Raises TlsUnsupported (OpenSSL has none of it) or TlsConfigError (the settings cannot
    work).
    """
    return _build(subset(make_plan(params)))[0]


# ---- key log --------------------------------------------------------------------------


class _KeylogFile:
    """A private, already unlinked file for ``SSLContext.keylog_filename`` (it takes paths).

    OpenSSL appends each secret line (and flushes); the session reads them back after the
    handshake through its own descriptor.
    """

    def __init__(self, ctx: ssl.SSLContext) -> None:
        fd, path = tempfile.mkstemp(prefix="bg96-keylog-", suffix=".txt")
        self._fd = fd
        try:
            ctx.keylog_filename = path  # OpenSSL opens it now, in append mode
        except OSError:
            os.close(fd)
            os.unlink(path)
            raise
        left: str | None = path
        with contextlib.suppress(OSError):  # Windows cannot unlink an open file
            os.unlink(path)
            left = None
        self._finalizer = weakref.finalize(self, _KeylogFile._cleanup, fd, left)

    @staticmethod
    def _cleanup(fd: int, path: str | None) -> None:
        with contextlib.suppress(OSError):
            os.close(fd)
        if path is not None:
            with contextlib.suppress(OSError):
                os.unlink(path)

    def lines(self) -> list[str]:
        chunks = []
        while chunk := os.read(self._fd, 65536):
            chunks.append(chunk)
        text = b"".join(chunks).decode("ascii", "replace")
        self._finalizer()
        return [ln for ln in text.splitlines() if ln and not ln.startswith("#")]


# ---- the session ----------------------------------------------------------------------

_SSL_REASONS: dict[str, str] = {
    "NO_SHARED_CIPHER": "no shared cipher suite with the server",
    "NO_CIPHERS_AVAILABLE": "no cipher suite can be offered for this protocol version",
    "UNSUPPORTED_PROTOCOL": (
        "protocol version mismatch: the server chose a TLS version that is not configured"
    ),
    "WRONG_SSL_VERSION": (
        "protocol version mismatch: the server chose a TLS version that is not configured"
    ),
    "WRONG_CIPHER_RETURNED": (
        "the server chose a cipher suite that is not among the configured ones"
    ),
    "BAD_SIGNATURE": "bad signature on the server's key exchange",
    "WRONG_SIGNATURE_TYPE": "the server signed its key exchange with an unexpected algorithm",
    "DH_KEY_TOO_SMALL": "the server's Diffie-Hellman key is too small",
    "UNSAFE_LEGACY_RENEGOTIATION_DISABLED": "the server does not support secure renegotiation",
    "DECRYPTION_FAILED_OR_BAD_RECORD_MAC": "bad record MAC: the handshake data was corrupted",
    "PACKET_LENGTH_TOO_LONG": "the server sent a record too long for TLS (not TLS data?)",
    "WRONG_VERSION_NUMBER": "the server's record has a wrong version number (not TLS data?)",
}

_ALERT_PREFIXES = ("SSLV3_ALERT_", "TLSV1_ALERT_", "TLSV13_ALERT_")
_ALERT_CODES = {
    "CLOSE_NOTIFY": 0,
    "UNEXPECTED_MESSAGE": 10,
    "BAD_RECORD_MAC": 20,
    "DECRYPTION_FAILED": 21,
    "RECORD_OVERFLOW": 22,
    "DECOMPRESSION_FAILURE": 30,
    "HANDSHAKE_FAILURE": 40,
    "NO_CERTIFICATE": 41,
    "BAD_CERTIFICATE": 42,
    "UNSUPPORTED_CERTIFICATE": 43,
    "CERTIFICATE_REVOKED": 44,
    "CERTIFICATE_EXPIRED": 45,
    "CERTIFICATE_UNKNOWN": 46,
    "ILLEGAL_PARAMETER": 47,
    "UNKNOWN_CA": 48,
    "ACCESS_DENIED": 49,
    "DECODE_ERROR": 50,
    "DECRYPT_ERROR": 51,
    "PROTOCOL_VERSION": 70,
    "INSUFFICIENT_SECURITY": 71,
    "INTERNAL_ERROR": 80,
    "INAPPROPRIATE_FALLBACK": 86,
    "USER_CANCELLED": 90,
    "NO_RENEGOTIATION": 100,
    "UNSUPPORTED_EXTENSION": 110,
    "UNRECOGNIZED_NAME": 112,
    "CERTIFICATE_REQUIRED": 116,
}

VERIFY_REASONS: dict[int, str] = {
    2: "unknown CA: the issuer of a certificate in the server's chain is not in cacert",
    4: "bad signature: a certificate's signature could not be decrypted",
    7: "bad signature: a certificate's signature does not verify",
    18: "unknown CA: the server's certificate is self-signed and not in cacert",
    19: "unknown CA: the server's chain ends in a self-signed root that is not in cacert",
    20: "unknown CA: the server's certificate was not issued by a CA in cacert",
    21: "unknown CA: the server's certificate cannot be verified by a CA in cacert",
    24: "bad signature: an issuing certificate has no usable public key",
    26: "the server's certificate is not for TLS server use (key usage/extended key usage)",
    79: "invalid CA: an issuing certificate is not a CA certificate",
}


def verify_reason(code: int, message: str, who: str) -> str:
    """The failure reason for X509 error ``code``; ``who`` names the verifier."""
    text = VERIFY_REASONS.get(code)
    detail = f"{message} (X509 error {code})"
    if text is None:
        return f"certificate verification failed: {detail}"
    return f"{text}; {who}: {detail}"


def _error(exc: ssl.SSLError) -> HandshakeError:
    code = str(exc.reason or "")
    detail = f"OpenSSL: {code}" if code else f"OpenSSL: {exc}"
    if code.startswith(_ALERT_PREFIXES):
        name = code.split("_ALERT_", 1)[1]
        alert = _ALERT_CODES.get(name)
        if alert is not None:
            return HandshakeError(alert=alert, detail=detail)
        return HandshakeError(f"the server sent a fatal {name.lower()} alert", detail=detail)
    text = _SSL_REASONS.get(code)
    if text is None:
        return HandshakeError(f"TLS handshake failed: {exc.reason or exc}")
    return HandshakeError(text, detail=detail)


class OpenSslSession(BackendSession):
    """A BackendSession run by OpenSSL (Python's ``ssl`` over memory BIOs)."""

    backend_name = "openssl"

    def __init__(
        self, plan: TlsPlan, server_hostname: str | None, keylog: KeyLog | None = None
    ) -> None:
        super().__init__(plan, keylog)
        self._keyfile: _KeylogFile | None = None
        if keylog is not None:  # a context of its own, so that its key-log file is too
            self._ctx, self._cas = _build(plan)
            try:
                self._keyfile = _KeylogFile(self._ctx)
            except OSError as exc:  # a diagnostic must not fail the connection
                keylog(f"# bg96: no key log for this connection ({exc})")
        else:
            self._ctx, self._cas = _context(plan)
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._obj = self._ctx.wrap_bio(
            self._in,
            self._out,
            server_side=False,
            server_hostname=sni_name(server_hostname) if plan.params.sni else None,
        )

    def _hello(self) -> bytes:
        with contextlib.suppress(ssl.SSLWantReadError):
            self._obj.do_handshake()
        return self._out.read()

    def _feed(self, data: bytes) -> None:
        if data:
            self._in.write(data)
        else:
            self._in.write_eof()

    def _advance(self) -> tuple[bytes, bool]:
        try:
            self._obj.do_handshake()
        except ssl.SSLWantReadError:
            return self._out.read(), False
        except ssl.SSLCertVerificationError as exc:
            reason = verify_reason(exc.verify_code, exc.verify_message, "OpenSSL")
            raise HandshakeError(reason) from None
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLSyscallError):
            raise HandshakeError(eof=True) from None
        except ssl.SSLError as exc:
            raise _error(exc) from None
        return self._out.read(), True

    def _pending(self) -> bytes:
        return self._out.read()

    def _read(self) -> ReadResult:
        chunks: list[bytes] = []
        closed = False
        why = ""
        while True:
            try:
                chunk = self._obj.read(65536)
            except ssl.SSLWantReadError:
                if self._eof:
                    closed, why = True, "the server closed TCP without a TLS close_notify"
                break
            except ssl.SSLZeroReturnError:
                closed, why = True, "the server sent a TLS close_notify"
                break
            except ssl.SSLEOFError:
                closed, why = True, "the server closed TCP without a TLS close_notify"
                break
            except ssl.SSLError as exc:
                err = _error(exc)
                text = err.reason or f"the server sent a fatal alert {err.alert}"
                closed, why = True, f"TLS error: {text} ({err.detail})"
                break
            if not chunk:
                closed, why = True, "the server sent a TLS close_notify"
                break
            chunks.append(chunk)
        return ReadResult(b"".join(chunks), closed, why)

    def _encrypt(self, data: bytes) -> bytes:
        view = memoryview(data)
        while view:
            n = self._obj.write(view)
            view = view[n:]
        return self._out.read()

    def _close_notify(self) -> bytes:
        with contextlib.suppress(ssl.SSLError):  # usually SSLWantReadError: no reply yet
            self._obj.unwrap()
        return self._out.read()

    def _negotiated(self) -> tuple[str, int | None]:
        c = self._obj.cipher()
        suite = suite_by_openssl_name(c[0]) if c else None
        return self._obj.version() or "", suite.code if suite is not None else None

    def _peer_certificate(self) -> bytes | None:
        return self._obj.getpeercert(binary_form=True)

    def _keylog_lines(self) -> list[str]:
        return self._keyfile.lines() if self._keyfile is not None else []

    def _trust_anchors(self) -> list[x509.Certificate]:
        return self._cas


__all__ = [
    "OPENSSL_VERSION",
    "OpenSslSession",
    "build_context",
    "can_run",
    "missing",
    "openssl_has_suite",
    "openssl_has_version",
    "subset",
    "verify_reason",
]
