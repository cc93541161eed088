"""A sans-IO TLS client over ``ssl.MemoryBIO``: the caller moves the bytes, this does TLS.

No sockets and no clock: the certificate validity window is judged against the module's
own clock (``TlsParams.module_time``), as the BG96 does, not against the host's.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
import ssl
import tempfile
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from bg96.engine.events import TlsParams
from bg96.tls.suites import (
    SSL_VERSION_LABELS,
    SSL_VERSIONS,
    CipherSuite,
    format_code,
    suite_by_code,
    suite_by_openssl_name,
)

SSL_CONNECTION_FAILED = 566  # table 3: "socket connection failed", what real modules report

_X509_V_FLAG_NO_CHECK_TIME = 0x200000  # OpenSSL's flag; Python 3.11 has no name for it
_SSL_OP_LEGACY_SERVER_CONNECT = 0x4  # old servers without RFC 5746: the BG96 talks to them

_TLS_VERSIONS: dict[str, ssl.TLSVersion] = {
    "SSLv3": ssl.TLSVersion.SSLv3,  # only used if an OpenSSL with SSL 3.0 ever shows up
    "TLSv1": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
}
_VERSION_ORDER = ("SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2")
_OPENSSL = ssl.OPENSSL_VERSION.split()[1] if " " in ssl.OPENSSL_VERSION else "?"
_OPENSSL_SERIES = ".".join(_OPENSSL.split(".")[:2]) + ".x"
_NOT_YET = "not supported by this virtual module yet"


class TlsConfigError(Exception):
    """The SSL context's settings cannot make a connection; the open fails with ``failure``."""

    def __init__(self, reason: str, code: int = SSL_CONNECTION_FAILED) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code

    @property
    def failure(self) -> TlsFailure:
        return TlsFailure(self.code, self.reason)


class TlsUnsupported(TlsConfigError):
    """The configured (version, suites) are valid for a BG96 but the OpenSSL here lacks them."""


@dataclass(frozen=True)
class TlsFailure:
    """Why an open failed: a table-3 ``code`` for the URC and a precise ``reason`` for the trace."""

    code: int
    reason: str


@dataclass(frozen=True)
class TlsStep:
    """What one ``receive`` produced: bytes to write to TCP, plaintext, and state changes."""

    outgoing: bytes = b""
    app_data: bytes = b""
    handshake_completed: bool = False  # True on the step that finished the handshake
    peer_closed: bool = False
    failure: TlsFailure | None = None  # the handshake (or its checks) failed: close TCP
    close_reason: str = ""  # with peer_closed: close_notify, EOF without it, or a fatal alert


# ---- versions and suites ----------------------------------------------------------------


@functools.cache
def _openssl_has(openssl_name: str) -> bool:
    """Whether the OpenSSL here can offer a TLS 1.2-or-older suite (at security level 0)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        ctx.set_ciphers(f"{openssl_name}:@SECLEVEL=0")
    except ssl.SSLError:
        return False
    return any(c["name"] == openssl_name for c in ctx.get_ciphers())


def _version_available(name: str) -> bool:
    if name == "SSLv3":
        return ssl.HAS_SSLv3
    return bool({"TLSv1": ssl.HAS_TLSv1, "TLSv1.1": ssl.HAS_TLSv1_1}.get(name, True))


def _missing_why(suite: CipherSuite) -> str:
    for algo in ("RC4", "3DES", "DES"):
        if algo in suite.iana.split("_"):
            return f"OpenSSL {_OPENSSL} here has no {algo}"
    return f"OpenSSL {_OPENSSL} here does not offer {suite.openssl}"


def _describe(suite: CipherSuite) -> str:
    return f"{suite.iana} ({format_code(suite.code)})"


def offered_versions(params: TlsParams) -> tuple[str, ...]:
    """The protocol versions the client will offer for ``params.sslversion``.

    Raises TlsConfigError for an unknown value and TlsUnsupported when none is available.
    """
    wanted = SSL_VERSIONS.get(params.sslversion)
    if wanted is None:
        raise TlsConfigError(f"sslversion {params.sslversion} is not a BG96 SSL version (0..4)")
    have = tuple(v for v in wanted if _version_available(v))
    if not have:
        raise TlsUnsupported(
            f"sslversion {params.sslversion} ({SSL_VERSION_LABELS[params.sslversion]}) is "
            f"{_NOT_YET}: SSL 3.0 is not available in OpenSSL {_OPENSSL_SERIES}; "
            "a later release adds a legacy TLS library"
        )
    return have


def offered_suites(params: TlsParams) -> tuple[CipherSuite, ...]:
    """The configured suites the client will offer, in the module's order.

    Suites OpenSSL lacks, or that need TLS 1.2 when it is not allowed, are left out; when
    nothing is left this raises TlsUnsupported naming what is missing.
    """
    versions = offered_versions(params)
    tls12 = "TLSv1.2" in versions
    known = [s for s in (suite_by_code(c) for c in params.ciphersuites) if s is not None]
    if not known:
        codes = ", ".join(format_code(c) for c in params.ciphersuites) or "none"
        raise TlsConfigError(f"no known cipher suite is configured ({codes})")
    offered: list[CipherSuite] = []
    missing: list[str] = []
    too_new: list[str] = []
    label = SSL_VERSION_LABELS[params.sslversion]
    for suite in known:
        if not _openssl_has(suite.openssl):
            missing.append(f"{_describe(suite)}: {_missing_why(suite)}")
        elif suite.tls12_only and not tls12:
            too_new.append(f"{_describe(suite)} needs TLS 1.2")
        else:
            offered.append(suite)
    if offered:
        return tuple(offered)
    if missing:
        raise TlsUnsupported(f"cipher suites {_NOT_YET}: " + "; ".join(missing + too_new))
    raise TlsUnsupported(
        f"no configured cipher suite can be used with sslversion {params.sslversion} "
        f"({label} only): " + "; ".join(too_new)
    )


# ---- certificates ---------------------------------------------------------------------


_TRAILER = b"\x00 \t\r\n"


def _der_item(data: bytes) -> bytes:
    """The first DER SEQUENCE in ``data``; what follows may only be NUL or white space.

    Stripping trailing bytes blindly would cut a DER certificate that ends in 0x00 or 0x20.
    """
    if len(data) < 2 or data[0] != 0x30:
        raise ValueError("not a DER SEQUENCE")
    first = data[1]
    if first < 0x80:
        total = 2 + first
    else:
        n = first & 0x7F
        total = 2 + n + int.from_bytes(data[2 : 2 + n], "big")
    if total > len(data) or data[total:].strip(_TRAILER):
        raise ValueError("DER length does not match the file")
    return data[:total]


def _load_certs(data: bytes) -> list[x509.Certificate]:
    """PEM (one or more, CRLF or LF) or DER, as users upload it (maybe with a trailing NUL)."""
    if b"-----BEGIN" in data:
        pem = data.rstrip(_TRAILER).replace(b"\r\n", b"\n")
        return x509.load_pem_x509_certificates(pem)
    return [x509.load_der_x509_certificate(_der_item(data))]


def _ca_certs(params: TlsParams) -> list[x509.Certificate]:
    name = f' "{params.cacert_name}"' if params.cacert_name else ""
    if params.cacert is None or not params.cacert.strip(b"\x00 \t\r\n"):
        state = "is not set" if params.cacert is None else f"file{name} is empty"
        raise TlsConfigError(f"seclevel {params.seclevel} needs a CA certificate: cacert {state}")
    try:
        return _load_certs(params.cacert)
    except ValueError as exc:
        raise TlsConfigError(f"cacert{name} is not a PEM or DER certificate ({exc})") from None


def _load_key(data: bytes) -> PrivateKeyTypes:
    try:
        if b"-----BEGIN" in data:
            pem = data.rstrip(_TRAILER).replace(b"\r\n", b"\n")
            return serialization.load_pem_private_key(pem, password=None)
        return serialization.load_der_private_key(_der_item(data), password=None)
    except TypeError:
        raise TlsConfigError(
            "clientkey is encrypted; the BG96 needs an unencrypted private key"
        ) from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise TlsConfigError(f"clientkey is not a usable private key ({exc})") from None


def _load_client_cert(ctx: ssl.SSLContext, params: TlsParams) -> None:
    """Put clientcert/clientkey into ``ctx`` after checking they parse and belong together."""
    if params.clientcert is None and params.clientkey is None:
        return
    if params.clientcert is None or params.clientkey is None:
        missing = "clientcert" if params.clientcert is None else "clientkey"
        raise TlsConfigError(f"seclevel 2 client authentication needs {missing}: it is not set")
    try:
        chain = _load_certs(params.clientcert)
    except ValueError as exc:
        raise TlsConfigError(f"clientcert is not a PEM or DER certificate ({exc})") from None
    key = _load_key(params.clientkey)
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.PEM
    if key.public_key().public_bytes(enc, pub) != chain[0].public_key().public_bytes(enc, pub):
        raise TlsConfigError("clientkey does not match clientcert (different public keys)")
    pem = key.private_bytes(
        enc, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ) + b"".join(c.public_bytes(enc) for c in chain)
    # load_cert_chain reads files only; the file lives for the duration of this call.
    fd, path = tempfile.mkstemp(prefix="bg96-client-", suffix=".pem")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        ctx.load_cert_chain(path, password=lambda: b"")
    except ssl.SSLError as exc:
        raise TlsConfigError(f"OpenSSL rejected clientcert/clientkey ({exc})") from None
    finally:
        os.unlink(path)


def build_context(params: TlsParams) -> ssl.SSLContext:
    """An SSLContext that offers exactly what the BG96 SSL context is configured to offer.

    Raises TlsUnsupported (OpenSSL lacks it) or TlsConfigError (the settings cannot work).
    """
    return _build(params)[0]


def _build(params: TlsParams) -> tuple[ssl.SSLContext, list[x509.Certificate]]:
    """The context and the parsed cacert certificates (empty for seclevel 0)."""
    versions = offered_versions(params)
    suites = offered_suites(params)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False  # this BG96 firmware never checks the host name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0/1.1 are deprecated
        ctx.minimum_version = _TLS_VERSIONS[min(versions, key=_VERSION_ORDER.index)]
        ctx.maximum_version = _TLS_VERSIONS[max(versions, key=_VERSION_ORDER.index)]
    ctx.set_ciphers(":".join(s.openssl for s in suites) + ":@SECLEVEL=0")
    ctx.options |= _SSL_OP_LEGACY_SERVER_CONNECT
    if params.seclevel == 0:
        ctx.verify_mode = ssl.CERT_NONE
        return ctx, []
    if params.seclevel not in (1, 2):
        raise TlsConfigError(f"seclevel {params.seclevel} is not a BG96 security level (0..2)")
    cas = _ca_certs(params)
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
        _load_client_cert(ctx, params)
    return ctx, cas


def _utc(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S UTC")


def _subject(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or "(empty subject)"


def _issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    if cert.issuer != ca.subject:
        return False
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def check_validity(
    leaf: x509.Certificate, cas: Iterable[x509.Certificate], module_time: float
) -> str | None:
    """Judge the leaf and the cacert CAs that issued it against the module clock.

    Returns a failure reason, or None when every certificate is within its window.
    """
    now = dt.datetime.fromtimestamp(module_time, dt.UTC)
    judged = [("server certificate", leaf)]
    judged += [("CA certificate", ca) for ca in cas if _issued_by(leaf, ca)]
    for what, cert in judged:
        nb, na = cert.not_valid_before_utc, cert.not_valid_after_utc
        window = f"notBefore {_utc(nb)}, notAfter {_utc(na)}"
        if now < nb:
            return (
                f"certificate not yet valid: {what} {_subject(cert)} ({window}) "
                f"but the module time is {_utc(now)}"
            )
        if now > na:
            return (
                f"certificate expired: {what} {_subject(cert)} ({window}) "
                f"but the module time is {_utc(now)}"
            )
    return None


# ---- failure reasons ------------------------------------------------------------------

_VERIFY_REASONS: dict[int, str] = {
    2: "unknown CA: the issuer of a certificate in the server's chain is not in cacert",
    4: "bad signature: a certificate's signature could not be decrypted",
    7: "bad signature: a certificate's signature does not verify",
    18: "unknown CA: the server's certificate is self-signed and not in cacert",
    19: "unknown CA: the server's chain ends in a self-signed root that is not in cacert",
    20: "unknown CA: the server's certificate was not issued by a CA in cacert",
    21: "unknown CA: the server's certificate cannot be verified by a CA in cacert",
    24: "invalid CA: an issuing certificate is not a CA certificate",
    26: "the server's certificate is not for TLS server use (key usage/extended key usage)",
}


def _verify_reason(exc: ssl.SSLCertVerificationError) -> str:
    code = exc.verify_code
    text = _VERIFY_REASONS.get(code)
    detail = f"{exc.verify_message} (X509 error {code})"
    if text is None:
        return f"certificate verification failed: {detail}"
    return f"{text}; OpenSSL: {detail}"


_SSL_REASONS: dict[str, str] = {
    "SSLV3_ALERT_HANDSHAKE_FAILURE": (
        "no shared cipher suite: the server rejected the ClientHello (handshake_failure alert)"
    ),
    "NO_SHARED_CIPHER": "no shared cipher suite with the server",
    "NO_CIPHERS_AVAILABLE": "no cipher suite can be offered for this protocol version",
    "TLSV1_ALERT_PROTOCOL_VERSION": (
        "protocol version mismatch: the server does not accept the offered TLS version(s)"
    ),
    "UNSUPPORTED_PROTOCOL": (
        "protocol version mismatch: the server chose a TLS version that is not configured"
    ),
    "WRONG_SSL_VERSION": (
        "protocol version mismatch: the server chose a TLS version that is not configured"
    ),
    "TLSV1_ALERT_INAPPROPRIATE_FALLBACK": (
        "protocol version mismatch: the server refused a fallback to an older TLS version"
    ),
    "WRONG_CIPHER_RETURNED": (
        "the server chose a cipher suite that is not among the configured ones"
    ),
    "BAD_SIGNATURE": "bad signature on the server's key exchange",
    "WRONG_SIGNATURE_TYPE": "the server signed its key exchange with an unexpected algorithm",
    "DH_KEY_TOO_SMALL": "the server's Diffie-Hellman key is too small",
    "UNSAFE_LEGACY_RENEGOTIATION_DISABLED": "the server does not support secure renegotiation",
    "TLSV1_ALERT_UNKNOWN_CA": "the server does not trust the client certificate (unknown_ca)",
    "SSLV3_ALERT_BAD_CERTIFICATE": "the server rejected the client certificate (bad_certificate)",
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": "the server says the client certificate has expired",
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "the server requires a client certificate",
    "TLSV1_ALERT_DECRYPT_ERROR": "decrypt_error alert: the server could not verify the handshake",
    "DECRYPTION_FAILED_OR_BAD_RECORD_MAC": "bad record MAC: the handshake data was corrupted",
    "PACKET_LENGTH_TOO_LONG": "the server sent a record too long for TLS (not TLS data?)",
    "WRONG_VERSION_NUMBER": "the server's record has a wrong version number (not TLS data?)",
}


_LATE_HANDSHAKE_FAILURE = (
    "the server rejected the handshake after its certificate (handshake_failure alert): "
    "it probably requires a client certificate"
)


def _ssl_reason(exc: ssl.SSLError, after_server_hello: bool = False) -> str:
    """A precise reason for an OpenSSL error; ``after_server_hello`` tells late alerts apart."""
    code = str(exc.reason or "")
    text = _SSL_REASONS.get(code)
    if code == "SSLV3_ALERT_HANDSHAKE_FAILURE" and after_server_hello:
        text = _LATE_HANDSHAKE_FAILURE
    if text is None and code.startswith(("SSLV3_ALERT_", "TLSV1_ALERT_", "TLSV13_ALERT_")):
        alert = code.split("_ALERT_", 1)[1].lower()
        text = f"the server sent a fatal {alert} alert"
    if text is None:
        return f"TLS handshake failed: {exc.reason or exc}"
    return f"{text} (OpenSSL: {code})"


def _looks_like_tls(first: bytes) -> bool:
    """Whether the server's first bytes can start a TLS record (handshake or alert)."""
    if not first:
        return True
    if first[0] not in (0x15, 0x16):
        return False
    return len(first) < 2 or first[1] == 0x03


# ---- the session ----------------------------------------------------------------------


class TlsClientSession:
    """One TLS client connection driven by the caller: ``start``, then ``receive``/``send``.

    Raises TlsConfigError (or its subclass TlsUnsupported) when the settings cannot work.
    """

    def __init__(self, params: TlsParams, server_hostname: str | None) -> None:
        self._params = params
        self._ctx, self._cas = _build(params)
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._obj = self._ctx.wrap_bio(
            self._in,
            self._out,
            server_side=False,
            server_hostname=server_hostname if params.sni else None,
        )
        self._started = False
        self._done = False
        self._failed: TlsFailure | None = None
        self._peer_closed = False
        self._closing = False
        self._first = b""  # the server's first 16 bytes, to tell garbage from TLS
        self._received = 0  # bytes the server sent during the handshake
        self._answered = False  # we answered the server's first flight (key exchange sent)
        self._eof = False

    # -- state

    @property
    def handshake_done(self) -> bool:
        return self._done

    @property
    def failure(self) -> TlsFailure | None:
        return self._failed

    @property
    def version(self) -> str:
        """The negotiated protocol version (``"TLSv1.2"``), empty before the handshake."""
        return (self._obj.version() or "") if self._done else ""

    @property
    def cipher(self) -> str:
        """The negotiated suite's OpenSSL name, empty before the handshake."""
        c = self._obj.cipher() if self._done else None
        return c[0] if c else ""

    @property
    def cipher_code(self) -> int | None:
        """The negotiated suite's table-2 code, None before the handshake."""
        suite = suite_by_openssl_name(self.cipher)
        return suite.code if suite is not None else None

    # -- driving

    def start(self) -> bytes:
        """Begin the handshake; returns the ClientHello to write to TCP."""
        if self._started:
            raise RuntimeError("TLS session already started")
        self._started = True
        with contextlib.suppress(ssl.SSLWantReadError):
            self._obj.do_handshake()
        return self._out.read()

    def receive(self, data: bytes) -> TlsStep:
        """Feed bytes read from TCP (``b""`` is TCP EOF); returns what they produced.

        After a failure or the peer's close, further input is ignored (empty steps).
        """
        if not self._started:
            raise RuntimeError("TLS session not started")
        if self._failed is not None or self._peer_closed:
            return TlsStep()
        if data:
            self._in.write(data)
        else:
            self._eof = True
            self._in.write_eof()
        if self._done:
            return self._read_app()
        return self._handshake(data)

    def send(self, data: bytes) -> bytes:
        """Encrypt application data; returns the records to write to TCP."""
        if not self._done or self._failed is not None:
            raise RuntimeError("TLS handshake not completed")
        if self._closing:
            raise RuntimeError("TLS session is closing")
        view = memoryview(data)
        while view:
            n = self._obj.write(view)
            view = view[n:]
        return self._out.read()

    def close(self) -> bytes:
        """Start the TLS close: returns the close_notify to write (empty if none is due)."""
        if not self._done or self._closing or self._failed is not None:
            self._closing = True
            return b""
        self._closing = True
        with contextlib.suppress(ssl.SSLError):  # usually SSLWantReadError: no reply yet
            self._obj.unwrap()
        return self._out.read()

    # -- internals

    def _fail(self, reason: str) -> TlsStep:
        self._failed = TlsFailure(SSL_CONNECTION_FAILED, reason)
        return TlsStep(outgoing=self._out.read(), failure=self._failed)

    def _handshake(self, data: bytes) -> TlsStep:
        self._received += len(data)
        if len(self._first) < 16 and data:
            self._first = (self._first + data)[:16]
            if not _looks_like_tls(self._first):
                return self._fail(self._garbage_reason())
        try:
            self._obj.do_handshake()
        except ssl.SSLWantReadError:
            if self._eof:
                return self._fail(self._eof_reason())
            outgoing = self._out.read()
            self._answered = self._answered or bool(outgoing)
            return TlsStep(outgoing=outgoing)
        except ssl.SSLCertVerificationError as exc:
            return self._fail(_verify_reason(exc))
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLSyscallError):
            return self._fail(self._eof_reason())
        except ssl.SSLError as exc:
            why = _ssl_reason(exc, after_server_hello=self._answered)
            if why.startswith(_LATE_HANDSHAKE_FAILURE) and self._params.clientcert is None:
                hint = f", and clientcert is not set (seclevel {self._params.seclevel})"
                why = why.replace(_LATE_HANDSHAKE_FAILURE, _LATE_HANDSHAKE_FAILURE + hint)
            return self._fail(why)
        self._done = True
        problem = self._check_established()
        if problem is not None:
            return self._fail(problem)
        outgoing = self._out.read()
        step = self._read_app()
        return TlsStep(
            outgoing=outgoing + step.outgoing,
            app_data=step.app_data,
            handshake_completed=True,
            peer_closed=step.peer_closed,
            close_reason=step.close_reason,
        )

    def _garbage_reason(self) -> str:
        return (
            "the server did not answer the ClientHello with TLS (garbage instead of a "
            f"ServerHello): it sent {self._first!r}"
        )

    def _eof_reason(self) -> str:
        if self._received == 0:
            return "the server closed the connection during the handshake, before a ServerHello"
        return (
            "the server closed the connection during the handshake "
            f"(after {self._received} bytes of handshake data)"
        )

    def _check_established(self) -> str | None:
        """Checks OpenSSL does not do for us: the negotiated suite and the validity window."""
        cipher = self.cipher
        suite = suite_by_openssl_name(cipher)
        if suite is None or suite.code not in self._params.ciphersuites:
            return f"the negotiated cipher suite {cipher} is not among the configured ones"
        if self._params.seclevel == 0 or self._params.ignore_localtime:
            return None
        der = self._obj.getpeercert(binary_form=True)
        if der is None:
            return "the server sent no certificate"
        leaf = x509.load_der_x509_certificate(der)
        return check_validity(leaf, self._cas, self._params.module_time)

    def _read_app(self) -> TlsStep:
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
                closed, why = True, f"TLS error: {_ssl_reason(exc)}"
                break
            if not chunk:
                closed, why = True, "the server sent a TLS close_notify"
                break
            chunks.append(chunk)
        self._peer_closed = closed
        return TlsStep(
            outgoing=self._out.read(),
            app_data=b"".join(chunks),
            peer_closed=closed,
            close_reason=why,
        )


__all__ = [
    "SSL_CONNECTION_FAILED",
    "TlsClientSession",
    "TlsConfigError",
    "TlsFailure",
    "TlsStep",
    "TlsUnsupported",
    "build_context",
    "check_validity",
    "offered_suites",
    "offered_versions",
]
