"""TLS for the virtual module: the BG96's cipher-suite and version tables and a sans-IO client.

``TlsClientSession`` runs each connection with OpenSSL (Python's ``ssl``) when OpenSSL can
make the configured offer, and with tlslite-ng when it needs SSL 3.0, RC4 or 3DES.

Each name loads its submodule on first use: a module that never opens TLS never loads the
backends or ``cryptography.x509``.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_names

if TYPE_CHECKING:
    from .common import KeyLog, TlsPlan, make_plan
    from .errors import (
        SSL_CONNECTION_FAILED,
        TlsConfigError,
        TlsFailure,
        TlsStep,
        TlsUnsupported,
    )
    from .session import BACKENDS, Backend, TlsClientSession, build_context
    from .suites import (
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
    "BACKENDS",
    "SSL_CONNECTION_FAILED",
    "SSL_VERSIONS",
    "SUITES",
    "Backend",
    "CipherSuite",
    "KeyLog",
    "TlsClientSession",
    "TlsConfigError",
    "TlsFailure",
    "TlsPlan",
    "TlsStep",
    "TlsUnsupported",
    "build_context",
    "expand_suites",
    "format_code",
    "make_plan",
    "suite_by_code",
    "suite_by_openssl_name",
    "suite_name",
]

_HOME = {
    "KeyLog": ".common",
    "TlsPlan": ".common",
    "make_plan": ".common",
    "SSL_CONNECTION_FAILED": ".errors",
    "TlsConfigError": ".errors",
    "TlsFailure": ".errors",
    "TlsStep": ".errors",
    "TlsUnsupported": ".errors",
    "BACKENDS": ".session",
    "Backend": ".session",
    "TlsClientSession": ".session",
    "build_context": ".session",
    "ALL_SUITES": ".suites",
    "SSL_VERSIONS": ".suites",
    "SUITES": ".suites",
    "CipherSuite": ".suites",
    "expand_suites": ".suites",
    "format_code": ".suites",
    "suite_by_code": ".suites",
    "suite_by_openssl_name": ".suites",
    "suite_name": ".suites",
}
__getattr__ = lazy_names(__name__, _HOME, globals())
