"""``TlsClientSession``: one sans-IO TLS client, run by whichever library can make the offer.

The caller moves the bytes (``start``, ``receive``, ``send``, ``close``) and never learns
which library runs the connection. OpenSSL (Python's ``ssl``) runs it when it can offer
exactly the configured versions and suites; tlslite-ng runs it when the offer needs what
OpenSSL 3 lacks: SSL 3.0 (every ``sslversion`` 0 and 4 offer), RC4 or 3DES (0XFFFF holds
both). ``backend="fast"`` trades exactness for speed: OpenSSL with the part of the offer it
has, whenever that part is not empty.

No sockets and no clock: the certificate validity window is judged against the module's
own clock (``TlsParams.module_time``), as the BG96 does, not against the host's.
"""

from __future__ import annotations

from typing import Literal

from ..engine.events import TlsParams
from . import openssl_backend
from .certs import check_validity
from .common import BackendSession, KeyLog, TlsPlan, make_plan
from .errors import (
    SSL_CONNECTION_FAILED,
    TlsConfigError,
    TlsFailure,
    TlsStep,
    TlsUnsupported,
)
from .openssl_backend import OPENSSL_VERSION, build_context
from .suites import CipherSuite, version_label

Backend = Literal["exact", "fast", "openssl", "tlslite"]
BACKENDS: tuple[Backend, ...] = ("exact", "fast", "openssl", "tlslite")


def _legacy(plan: TlsPlan, server_hostname: str | None, keylog: KeyLog | None) -> BackendSession:
    from .legacy_backend import LegacySession  # tlslite-ng loads in ~70 ms: on demand

    return LegacySession(plan, server_hostname, keylog)


def _why_legacy(plan: TlsPlan) -> str:
    versions, suites = openssl_backend.missing(plan)
    lacking = [version_label(v) for v in versions]
    lacking += sorted({s.cipher for s in suites}, key=("RC4", "3DES").index)
    return f"OpenSSL {OPENSSL_VERSION} has no " + ", ".join(lacking)


def open_backend(
    params: TlsParams,
    server_hostname: str | None,
    keylog: KeyLog | None = None,
    backend: Backend = "exact",
) -> tuple[BackendSession, str]:
    """The backend session for ``params`` and a note saying what runs it and why."""
    plan = make_plan(params)
    if backend == "tlslite":
        return _legacy(plan, server_hostname, keylog), "tlslite-ng (forced)"
    exact = openssl_backend.can_run(plan)
    if exact:
        return openssl_backend.OpenSslSession(plan, server_hostname, keylog), "OpenSSL"
    if backend == "exact":
        return _legacy(plan, server_hostname, keylog), f"tlslite-ng ({_why_legacy(plan)})"
    try:
        part = openssl_backend.subset(plan)
    except TlsUnsupported:
        if backend == "openssl":
            raise
        return _legacy(plan, server_hostname, keylog), f"tlslite-ng ({_why_legacy(plan)})"
    dropped = [x for x in part.left_out if x not in plan.left_out]
    session = openssl_backend.OpenSslSession(part, server_hostname, keylog)
    return session, "OpenSSL, leaving out " + ", ".join(version_label(d) for d in dropped)


class TlsClientSession:
    """One TLS client connection driven by the caller: ``start``, then ``receive``/``send``.

    ``keylog`` receives an NSS key-log line (``CLIENT_RANDOM <random> <master secret>``)
    when the handshake completes. ``backend`` picks the library (see the module doc).
    Raises TlsConfigError (or its subclass TlsUnsupported) when the settings cannot work.
    """

    __slots__ = ("_impl", "note")
    immediate = False  # established once the handshake is done, not when TCP is

    def __init__(
        self,
        params: TlsParams,
        server_hostname: str | None,
        *,
        keylog: KeyLog | None = None,
        backend: Backend = "exact",
    ) -> None:
        self._impl, self.note = open_backend(params, server_hostname, keylog, backend)

    @property
    def backend(self) -> str:
        """``"openssl"`` or ``"tlslite-ng"``: which library runs this connection."""
        return self._impl.backend_name

    @property
    def plan(self) -> TlsPlan:
        """What the ClientHello offers (versions and suites)."""
        return self._impl.plan

    @property
    def handshake_done(self) -> bool:
        return self._impl.handshake_done

    @property
    def failure(self) -> TlsFailure | None:
        return self._impl.failure

    @property
    def version(self) -> str:
        """The negotiated protocol version (``"TLSv1.2"``), empty before the handshake."""
        return self._impl.version

    @property
    def cipher(self) -> str:
        """The negotiated suite's OpenSSL name, empty before the handshake."""
        return self._impl.cipher

    @property
    def cipher_code(self) -> int | None:
        """The negotiated suite's table-2 code, None before the handshake."""
        return self._impl.cipher_code

    def start(self) -> bytes:
        """Begin the handshake; returns the ClientHello to write to TCP."""
        return self._impl.start()

    def receive(self, data: bytes) -> TlsStep:
        """Feed bytes read from TCP (``b""`` is TCP EOF); returns what they produced."""
        return self._impl.receive(data)

    def send(self, data: bytes) -> bytes:
        """Encrypt application data; returns the records to write to TCP."""
        return self._impl.send(data)

    def close(self) -> bytes:
        """Start the TLS close: returns the close_notify to write (empty if none is due)."""
        return self._impl.close()


def offered_versions(params: TlsParams) -> tuple[str, ...]:
    """The protocol versions one ClientHello offers for ``params`` (oldest first)."""
    return make_plan(params).versions


def offered_suites(params: TlsParams) -> tuple[CipherSuite, ...]:
    """The configured suites one ClientHello offers, in the module's order."""
    return make_plan(params).suites


__all__ = [
    "BACKENDS",
    "SSL_CONNECTION_FAILED",
    "Backend",
    "TlsClientSession",
    "TlsConfigError",
    "TlsFailure",
    "TlsStep",
    "TlsUnsupported",
    "build_context",
    "check_validity",
    "offered_suites",
    "offered_versions",
    "open_backend",
]
