"""TLS for the virtual module: the BG96's cipher-suite and version tables and a sans-IO client."""

from bg96.tls.session import (
    TlsClientSession,
    TlsConfigError,
    TlsFailure,
    TlsStep,
    TlsUnsupported,
    build_context,
)
from bg96.tls.suites import (
    ALL_SUITES,
    SSL_VERSIONS,
    SUITES,
    CipherSuite,
    expand_suites,
    format_code,
    suite_by_code,
    suite_by_openssl_name,
    suite_name,
)

__all__ = [
    "ALL_SUITES",
    "SSL_VERSIONS",
    "SUITES",
    "CipherSuite",
    "TlsClientSession",
    "TlsConfigError",
    "TlsFailure",
    "TlsStep",
    "TlsUnsupported",
    "build_context",
    "expand_suites",
    "format_code",
    "suite_by_code",
    "suite_by_openssl_name",
    "suite_name",
]
