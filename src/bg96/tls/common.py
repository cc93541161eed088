"""What the TLS backends share: the offer (plan), the ClientHello profile, failure reasons,
and the sans-IO session logic around a library's handshake and record layer.

A backend (OpenSSL through ``ssl``, or tlslite-ng) only moves bytes through its library;
everything the module decides (what to offer, what counts as success, how a failure is
worded) lives here, so a connection behaves the same whichever library runs it.
"""

from __future__ import annotations

import abc
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509

from ..engine.events import TlsParams
from .certs import check_host, check_validity
from .errors import (
    SSL_CONNECTION_FAILED,
    TlsConfigError,
    TlsFailure,
    TlsStep,
    TlsUnsupported,
)
from .suites import (
    SSL_VERSION_LABELS,
    SSL_VERSIONS,
    VERSION_ORDER,
    VERSION_WIRE,
    CipherSuite,
    expand_suites,
    format_code,
    suite_by_code,
    suite_name,
    version_label,
)

KeyLog = Callable[[str], None]  # receives NSS key-log lines (no line end)

# ---- what the ClientHello carries -----------------------------------------------------
#
# Besides the versions and suites: SNI only when asked, the two ECC extensions only when an
# ECDHE suite is offered, signature_algorithms only when TLS 1.2 is offered, and nothing
# else (no session ticket, encrypt-then-MAC, extended master secret, ALPN, padding,
# heartbeat, TLS 1.3 extensions). The renegotiation SCSV ends the suite list (OpenSSL
# always sends it). The lists below are OpenSSL 3.0's defaults, which Python's ssl cannot
# change; tlslite-ng is made to send the same, so the server sees one ClientHello shape.

SCSV_RENEGOTIATION = 0x00FF
EXT_SERVER_NAME = 0
EXT_SUPPORTED_GROUPS = 10
EXT_EC_POINT_FORMATS = 11
EXT_SIGNATURE_ALGORITHMS = 13
EXTENSION_ORDER = (
    EXT_SERVER_NAME,
    EXT_EC_POINT_FORMATS,
    EXT_SUPPORTED_GROUPS,
    EXT_SIGNATURE_ALGORITHMS,
)
GROUPS = (0x001D, 0x0017, 0x001E, 0x0019, 0x0018)  # x25519, P-256, x448, P-521, P-384
GROUP_NAMES = ("x25519", "secp256r1", "x448", "secp521r1", "secp384r1")
POINT_FORMATS = (0, 1, 2)  # uncompressed, ansiX962_compressed_prime, ..._char2
SIGNATURE_ALGORITHMS = (
    0x0403, 0x0503, 0x0603, 0x0807, 0x0808, 0x0809, 0x080A, 0x080B, 0x0804, 0x0805, 0x0806,
    0x0401, 0x0501, 0x0601, 0x0303, 0x0203, 0x0301, 0x0201, 0x0302, 0x0202, 0x0402, 0x0502,
    0x0602,
)  # fmt: skip


# ---- the plan: what one ClientHello offers --------------------------------------------


@dataclass(frozen=True)
class TlsPlan:
    """The versions (oldest first) and suites (module order) one ClientHello offers."""

    params: TlsParams
    versions: tuple[str, ...]
    suites: tuple[CipherSuite, ...]
    left_out: tuple[str, ...] = ()  # configured suites this version range cannot carry

    @property
    def codes(self) -> tuple[int, ...]:
        return tuple(s.code for s in self.suites)

    @property
    def wire_versions(self) -> tuple[int, ...]:
        return tuple(VERSION_WIRE[v] for v in self.versions)

    @property
    def label(self) -> str:
        n = self.params.sslversion
        return f"sslversion {n} ({SSL_VERSION_LABELS[n]})"

    @property
    def versions_text(self) -> str:
        if len(self.versions) == 1:
            return version_label(self.versions[0])
        return f"{version_label(self.versions[0])} to {version_label(self.versions[-1])}"

    @property
    def suites_text(self) -> str:
        if len(self.suites) == 1:
            return f"{self.suites[0].iana} ({format_code(self.suites[0].code)})"
        return ", ".join(format_code(c) for c in self.codes)

    @property
    def has_ecdhe(self) -> bool:
        return any("_ECDHE_" in s.iana for s in self.suites)


def make_plan(params: TlsParams) -> TlsPlan:
    """What the module offers for ``params``, as one ClientHello.

    Raises TlsConfigError for values outside the manual and TlsUnsupported when the
    configured suites cannot be offered with the configured versions (a TLS 1.2 suite with
    ``sslversion`` 1, an ECDHE suite with SSL 3.0 only).
    """
    wanted = SSL_VERSIONS.get(params.sslversion)
    if wanted is None:
        raise TlsConfigError(f"sslversion {params.sslversion} is not a BG96 SSL version (0..4)")
    if params.seclevel not in (0, 1, 2):
        raise TlsConfigError(f"seclevel {params.seclevel} is not a BG96 security level (0..2)")
    codes = expand_suites(params.ciphersuites)  # 0XFFFF, should it reach here unexpanded
    known = [s for s in (suite_by_code(c) for c in codes) if s is not None]
    if not known:
        shown = ", ".join(format_code(c) for c in params.ciphersuites) or "none"
        raise TlsConfigError(f"no known cipher suite is configured ({shown})")
    newest = max(VERSION_ORDER.index(v) for v in wanted)
    offered = [s for s in known if VERSION_ORDER.index(s.min_version) <= newest]
    left_out = tuple(
        f"{s.iana} ({format_code(s.code)}) needs "
        + ("TLS 1.2" if s.tls12_only else "TLS 1.0 or later (ECDHE is TLS-only)")
        for s in known
        if s not in offered
    )
    label = SSL_VERSION_LABELS[params.sslversion]
    if not offered:
        raise TlsUnsupported(
            f"no configured cipher suite can be used with sslversion {params.sslversion} "
            f"({label} only): " + "; ".join(left_out)
        )
    return TlsPlan(params, wanted, tuple(offered), left_out)


# ---- watching the server's first flight -----------------------------------------------


class ServerHelloWatch:
    """Reads the protocol version and suite out of the server's ServerHello, in passing.

    Both libraries report a version or suite the client did not offer in their own words;
    with the ServerHello's own fields the failure reason can name what the server chose.
    """

    __slots__ = ("_buf", "_hs", "done", "suite", "version")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._hs = bytearray()
        self.done = False
        self.version: int | None = None
        self.suite: int | None = None

    def feed(self, data: bytes) -> None:
        if self.done:
            return
        self._buf += data
        while len(self._buf) >= 5 and not self.done:
            length = int.from_bytes(self._buf[3:5], "big")
            if len(self._buf) < 5 + length:
                break
            ctype = self._buf[0]
            fragment = self._buf[5 : 5 + length]
            del self._buf[: 5 + length]
            if ctype != 22:  # an alert (or anything else) before the ServerHello
                self.done = True
                break
            self._hs += fragment
            self._parse()
        if len(self._buf) > 1 << 15:
            self.done = True

    def release(self) -> None:
        """The handshake is over: the buffered handshake bytes go."""
        self._buf = bytearray()
        self._hs = bytearray()

    def _parse(self) -> None:
        hs = self._hs
        if not hs:
            return
        if hs[0] != 2:  # not a ServerHello
            self.done = True
            return
        if len(hs) < 4 + 2 + 32 + 1:
            return
        sid = hs[38]
        if len(hs) < 39 + sid + 2:
            return
        self.version = int.from_bytes(hs[4:6], "big")
        self.suite = int.from_bytes(hs[39 + sid : 41 + sid], "big")
        self.done = True


# ---- failure reasons ------------------------------------------------------------------

ALERT_NAMES: dict[int, str] = {
    0: "close_notify",
    10: "unexpected_message",
    20: "bad_record_mac",
    21: "decryption_failed",
    22: "record_overflow",
    30: "decompression_failure",
    40: "handshake_failure",
    41: "no_certificate",
    42: "bad_certificate",
    43: "unsupported_certificate",
    44: "certificate_revoked",
    45: "certificate_expired",
    46: "certificate_unknown",
    47: "illegal_parameter",
    48: "unknown_ca",
    49: "access_denied",
    50: "decode_error",
    51: "decrypt_error",
    70: "protocol_version",
    71: "insufficient_security",
    80: "internal_error",
    86: "inappropriate_fallback",
    90: "user_canceled",
    100: "no_renegotiation",
    110: "unsupported_extension",
    112: "unrecognized_name",
    116: "certificate_required",
}

LATE_HANDSHAKE_FAILURE = (
    "the server rejected the handshake after its certificate (handshake_failure alert): "
    "it probably requires a client certificate"
)


def alert_name(description: int) -> str:
    return ALERT_NAMES.get(description, f"alert {description}")


def alert_reason(description: int, plan: TlsPlan, answered: bool) -> str:
    """Why the handshake failed when the server sent the fatal alert ``description``.

    ``answered``: the client had already sent its key exchange (a late alert is about the
    client's certificate or the key exchange, not about the offer).
    """
    name = alert_name(description)
    if description in (40, 71) and answered:
        reason = LATE_HANDSHAKE_FAILURE
        if plan.params.clientcert is None:
            reason += f", and clientcert is not set (seclevel {plan.params.seclevel})"
        return reason
    if description in (40, 71) and plan.versions == ("SSLv3",):
        return (
            "protocol version mismatch or no shared cipher suite: the server refused the "
            f"SSL3.0-only ClientHello ({plan.suites_text}; {name} alert: SSL 3.0 has no "
            "protocol_version alert)"
        )
    if description in (40, 71):
        return (
            f"no shared cipher suite: the server accepts none of the offered suites "
            f"({plan.suites_text}; {name} alert)"
        )
    if description == 70:
        return (
            "protocol version mismatch: the server does not accept the offered version(s) "
            f"({plan.label}: {plan.versions_text}; protocol_version alert)"
        )
    if description == 86:
        return "protocol version mismatch: the server refused a fallback to an older version"
    fixed = {
        48: "the server does not trust the client certificate (unknown_ca)",
        42: "the server rejected the client certificate (bad_certificate)",
        45: "the server says the client certificate has expired",
        116: "the server requires a client certificate",
        51: "decrypt_error alert: the server could not verify the handshake",
        20: "bad record MAC: the handshake data was corrupted",
        112: "the server does not know the name sent in SNI (unrecognized_name alert)",
    }
    if description in fixed and (answered or description in (20, 112)):
        return fixed[description]
    return f"the server sent a fatal {name} alert"


def version_chosen_reason(plan: TlsPlan, wire: int) -> str:
    names = {w: v for v, w in VERSION_WIRE.items()}
    chosen = version_label(names[wire]) if wire in names else f"version 0x{wire:04X}"
    return (
        f"protocol version mismatch: the server chose {chosen}, which {plan.label} does not allow"
    )


def suite_chosen_reason(code: int) -> str:
    return (
        f"the server chose {suite_name(code)} ({format_code(code)}), which is not among the "
        "configured cipher suites"
    )


def sni_name(host: str | None) -> str | None:
    """The name to send in SNI for ``host`` (as Python's ssl encodes it), None for none.

    IP addresses are never sent (RFC 6066); a name that cannot be encoded is a config error.
    """
    if not host:
        return None
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        return None
    try:
        name = host.encode("idna").decode("ascii")
    except UnicodeError:
        name = ""
    if not name or name.startswith("."):
        raise TlsConfigError(f"SNI: {host!r} is not a host name that can be sent")
    return name


def looks_like_tls(first: bytes) -> bool:
    """Whether the server's first bytes can start a TLS record (handshake or alert)."""
    if not first:
        return True
    if first[0] not in (0x15, 0x16):
        return False
    return len(first) < 2 or first[1] == 0x03


class HandshakeError(Exception):
    """A backend's handshake failed. Exactly one of ``reason``, ``alert`` or ``eof`` says why.

    ``detail`` names the library's own words, appended in parentheses.
    """

    def __init__(
        self, reason: str = "", *, alert: int | None = None, eof: bool = False, detail: str = ""
    ) -> None:
        super().__init__(reason or detail)
        self.reason = reason
        self.alert = alert
        self.eof = eof
        self.detail = detail


@dataclass
class ReadResult:
    """What a backend's record layer produced from the bytes fed so far."""

    data: bytes = b""
    closed: bool = False
    why: str = ""


# ---- the session ----------------------------------------------------------------------


class BackendSession(abc.ABC):
    """One TLS client connection driven by the caller: ``start``, then ``receive``/``send``.

    Subclasses run a TLS library over in-memory buffers; this class holds the state
    machine, the module's checks (suite, host name, validity window) and the key log.
    """

    backend_name = ""

    def __init__(self, plan: TlsPlan, keylog: KeyLog | None) -> None:
        self.plan = plan
        self._params = plan.params
        self._keylog = keylog
        self._watch = ServerHelloWatch()
        self._started = False
        self._done = False
        self._failed: TlsFailure | None = None
        self._peer_closed = False
        self._closing = False
        self._first = b""  # the server's first 16 bytes, to tell garbage from TLS
        self._received = 0  # bytes the server sent during the handshake
        self._answered = False  # we answered the server's first flight (key exchange sent)
        self._eof = False

    # -- what a backend provides

    @abc.abstractmethod
    def _hello(self) -> bytes:
        """Begin the handshake; the ClientHello bytes."""

    @abc.abstractmethod
    def _feed(self, data: bytes) -> None:
        """Buffer bytes read from TCP (``b""``: TCP EOF)."""

    @abc.abstractmethod
    def _advance(self) -> tuple[bytes, bool]:
        """Run the handshake on what is buffered: (bytes to send, finished?).

        Raises HandshakeError.
        """

    @abc.abstractmethod
    def _pending(self) -> bytes:
        """Bytes the library queued for TCP (an alert after a failure, a reply...)."""

    @abc.abstractmethod
    def _read(self) -> ReadResult:
        """Decrypt what is buffered, after the handshake."""

    @abc.abstractmethod
    def _encrypt(self, data: bytes) -> bytes: ...

    @abc.abstractmethod
    def _close_notify(self) -> bytes: ...

    @abc.abstractmethod
    def _negotiated(self) -> tuple[str, int | None]:
        """(version as ``SSLObject.version()`` names it, suite code) after the handshake."""

    @abc.abstractmethod
    def _peer_certificate(self) -> bytes | None:
        """The server's certificate (DER) after the handshake."""

    @abc.abstractmethod
    def _keylog_lines(self) -> list[str]:
        """NSS key-log lines for this connection (called once, after the handshake)."""

    def _trust_anchors(self) -> list[x509.Certificate]:
        """cacert's certificates (for the validity window), empty at seclevel 0."""
        return []

    def _established(self) -> None:  # noqa: B027  (a hook: most backends keep nothing)
        """The handshake is done and checked: let go of what only it needed (a fleet holds
        thousands of connections)."""

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
        return self._negotiated()[0] if self._done else ""

    @property
    def cipher_code(self) -> int | None:
        """The negotiated suite's table-2 code, None before the handshake."""
        return self._negotiated()[1] if self._done else None

    @property
    def cipher(self) -> str:
        """The negotiated suite's OpenSSL name, empty before the handshake."""
        code = self.cipher_code
        suite = suite_by_code(code) if code is not None else None
        return suite.openssl if suite is not None else ""

    # -- driving

    def start(self) -> bytes:
        """Begin the handshake; returns the ClientHello to write to TCP."""
        if self._started:
            raise RuntimeError("TLS session already started")
        self._started = True
        return self._hello()

    def receive(self, data: bytes) -> TlsStep:
        """Feed bytes read from TCP (``b""`` is TCP EOF); returns what they produced.

        After a failure or the peer's close, further input is ignored (empty steps).
        """
        if not self._started:
            raise RuntimeError("TLS session not started")
        if self._failed is not None or self._peer_closed:
            return TlsStep()
        if not data:
            self._eof = True
        self._feed(data)
        if self._done:
            return self._app_step()
        return self._handshake(data)

    def send(self, data: bytes) -> bytes:
        """Encrypt application data; returns the records to write to TCP."""
        if not self._done or self._failed is not None:
            raise RuntimeError("TLS handshake not completed")
        if self._closing:
            raise RuntimeError("TLS session is closing")
        return self._encrypt(data)

    def close(self) -> bytes:
        """Start the TLS close: returns the close_notify to write (empty if none is due)."""
        if not self._done or self._closing or self._failed is not None:
            self._closing = True
            return b""
        self._closing = True
        return self._close_notify()

    # -- internals

    def _fail(self, reason: str) -> TlsStep:
        self._failed = TlsFailure(SSL_CONNECTION_FAILED, reason)
        return TlsStep(outgoing=self._pending(), failure=self._failed)

    def _handshake(self, data: bytes) -> TlsStep:
        self._received += len(data)
        if data:
            self._watch.feed(data)
            if len(self._first) < 16:
                self._first = (self._first + data)[:16]
                if not looks_like_tls(self._first):
                    return self._fail(
                        "the server did not answer the ClientHello with TLS (garbage instead "
                        f"of a ServerHello): it sent {self._first!r}"
                    )
        try:
            outgoing, finished = self._advance()
        except HandshakeError as exc:
            return self._fail(self._reason(exc))
        if not finished:
            if self._eof:
                return self._fail(self._eof_reason())
            self._answered = self._answered or bool(outgoing)
            return TlsStep(outgoing=outgoing)
        self._done = True
        if self._keylog is not None:
            for line in self._keylog_lines():
                self._keylog(line)
        problem = self._check_established()
        if problem is not None:
            self._failed = TlsFailure(SSL_CONNECTION_FAILED, problem)
            return TlsStep(outgoing=outgoing, failure=self._failed)
        self._watch.release()
        self._established()
        step = self._app_step()
        return TlsStep(
            outgoing=outgoing + step.outgoing,
            app_data=step.app_data,
            handshake_completed=True,
            peer_closed=step.peer_closed,
            close_reason=step.close_reason,
        )

    def _reason(self, exc: HandshakeError) -> str:
        """The failure reason: what the ServerHello shows first, then the library's view."""
        detail = f" ({exc.detail})" if exc.detail else ""
        if exc.eof:
            return self._eof_reason()
        watch = self._watch
        if watch.version is not None and watch.version not in self.plan.wire_versions:
            return version_chosen_reason(self.plan, watch.version) + detail
        if watch.suite is not None and watch.suite not in self.plan.codes:
            return suite_chosen_reason(watch.suite) + detail
        if exc.alert is not None:
            return alert_reason(exc.alert, self.plan, self._answered) + detail
        return (exc.reason or "TLS handshake failed") + detail

    def _eof_reason(self) -> str:
        if self._received == 0:
            return "the server closed the connection during the handshake, before a ServerHello"
        return (
            "the server closed the connection during the handshake "
            f"(after {self._received} bytes of handshake data)"
        )

    def _check_established(self) -> str | None:
        """The module's own checks once the library says the handshake is done."""
        _version, code = self._negotiated()
        if code is None or code not in self.plan.codes:
            shown = format_code(code) if code is not None else "an unknown suite"
            return f"the negotiated cipher suite {shown} is not among the configured ones"
        params = self._params
        check_time = params.seclevel != 0 and not params.ignore_localtime
        if not params.checkhost and not check_time:
            return None
        der = self._peer_certificate()
        if der is None:
            return "the server sent no certificate"
        leaf = x509.load_der_x509_certificate(der)
        if params.checkhost:
            problem = check_host(leaf, params.checkhost)
            if problem is not None:
                return problem
        if check_time:
            return check_validity(leaf, self._trust_anchors(), params.module_time)
        return None

    def _app_step(self) -> TlsStep:
        result = self._read()
        if result.closed:
            self._peer_closed = True
        return TlsStep(
            outgoing=self._pending(),
            app_data=result.data,
            peer_closed=result.closed,
            close_reason=result.why,
        )


def keylog_line(client_random: bytes, master_secret: bytes) -> str:
    """The NSS key-log line for a TLS 1.2-or-older connection."""
    return f"CLIENT_RANDOM {client_random.hex()} {master_secret.hex()}"


__all__ = [
    "EXTENSION_ORDER",
    "GROUPS",
    "GROUP_NAMES",
    "POINT_FORMATS",
    "SCSV_RENEGOTIATION",
    "SIGNATURE_ALGORITHMS",
    "BackendSession",
    "HandshakeError",
    "KeyLog",
    "ReadResult",
    "ServerHelloWatch",
    "TlsPlan",
    "alert_reason",
    "keylog_line",
    "make_plan",
]
