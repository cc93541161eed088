"""What a TLS session hands back: steps, failures, and the errors that stop an open early."""

from __future__ import annotations

from dataclasses import dataclass

SSL_CONNECTION_FAILED = 566  # table 3: "socket connection failed", what real modules report


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
    """The configured (version, suites) cannot make one ClientHello (or no backend has them)."""


__all__ = [
    "SSL_CONNECTION_FAILED",
    "TlsConfigError",
    "TlsFailure",
    "TlsStep",
    "TlsUnsupported",
]
