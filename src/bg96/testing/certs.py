"""A throw-away RSA PKI (trustme) for tests and the demo: a CA and certificates it issues."""

from __future__ import annotations

import datetime as dt
import ssl
import warnings
from dataclasses import dataclass

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization

DEFAULT_SERVER_NAMES = ("localhost", "127.0.0.1")
ALL_CIPHERS = "ALL:@SECLEVEL=0"  # every suite this OpenSSL has, including RSA key exchange


@dataclass(frozen=True)
class IssuedCert:
    """A certificate issued by the test CA, with its key (PEM, unencrypted)."""

    cert_pem: bytes
    key_pem: bytes
    _leaf: trustme.LeafCert

    @property
    def cert_der(self) -> bytes:
        return x509.load_pem_x509_certificate(self.cert_pem).public_bytes(
            serialization.Encoding.DER
        )

    def configure(self, ctx: ssl.SSLContext) -> None:
        """Make ``ctx`` present this certificate (and key)."""
        self._leaf.configure_cert(ctx)


class TestPki:
    """An RSA certificate authority (all BG96 suites are RSA-authenticated) and its issuing.

    The CA is valid from 2000-01-01 to 3000-01-01 (trustme's defaults).
    """

    __test__ = False  # not a pytest test class

    def __init__(self, organization: str = "bg96 test CA") -> None:
        self._ca = trustme.CA(organization_name=organization, key_type=trustme.KeyType.RSA)
        self._default_server: IssuedCert | None = None

    @property
    def ca_pem(self) -> bytes:
        return self._ca.cert_pem.bytes()

    @property
    def ca_der(self) -> bytes:
        return x509.load_pem_x509_certificate(self.ca_pem).public_bytes(serialization.Encoding.DER)

    @property
    def ca_key_pem(self) -> bytes:
        return self._ca.private_key_pem.bytes()

    @property
    def ca_cert(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.ca_pem)

    def issue(
        self,
        *names: str,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        common_name: str | None = None,
    ) -> IssuedCert:
        """A leaf certificate for ``names`` (DNS names or IPs) with a chosen validity window."""
        leaf = self._ca.issue_cert(
            *names,
            common_name=common_name,
            not_before=not_before,
            not_after=not_after,
            key_type=trustme.KeyType.RSA,
        )
        cert_pem = leaf.cert_chain_pems[0].bytes()
        return IssuedCert(cert_pem, leaf.private_key_pem.bytes(), leaf)

    def server_cert(self, *extra_names: str) -> IssuedCert:
        """A server certificate for localhost, 127.0.0.1 and ``extra_names`` (cached)."""
        if extra_names:
            return self.issue(*DEFAULT_SERVER_NAMES, *extra_names)
        if self._default_server is None:
            self._default_server = self.issue(*DEFAULT_SERVER_NAMES)
        return self._default_server

    def client_cert(self, name: str = "bg96-client") -> IssuedCert:
        """A client certificate for seclevel 2 (client authentication)."""
        return self.issue(name, common_name=name)

    def server_ctx(
        self,
        *extra_names: str,
        cert: IssuedCert | None = None,
        versions: tuple[ssl.TLSVersion, ssl.TLSVersion] | None = None,
        ciphers: str | None = None,
        require_client_cert: bool = False,
    ) -> ssl.SSLContext:
        """A server context: TLS 1.0 and up, every suite OpenSSL has, unless restricted.

        ``versions`` is (minimum, maximum); ``cert`` defaults to ``server_cert(*extra_names)``.
        With ``require_client_cert`` the server asks for a certificate issued by this CA.
        """
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        lo, hi = versions if versions is not None else (ssl.TLSVersion.TLSv1, None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0/1.1 are deprecated
            ctx.minimum_version = lo
            if hi is not None:
                ctx.maximum_version = hi
        ctx.set_ciphers(ciphers if ciphers is not None else ALL_CIPHERS)
        (cert if cert is not None else self.server_cert(*extra_names)).configure(ctx)
        if require_client_cert:
            ctx.verify_mode = ssl.CERT_REQUIRED
            self._ca.configure_trust(ctx)
        return ctx


__all__ = ["ALL_CIPHERS", "DEFAULT_SERVER_NAMES", "IssuedCert", "TestPki"]
