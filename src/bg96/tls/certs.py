"""Certificates for the TLS client: parsing what users upload, and the checks both backends share.

OpenSSL verifies the server's chain itself; tlslite-ng does not verify chains at all, so
``verify_chain`` does for it what OpenSSL's ``X509_verify_cert`` does for this module
(issuer, signature, CA flag, server purpose), with the same X509 error codes and therefore
the same failure reasons. The validity window (against the module clock) and the host name
(``checkhost``) are judged here for both backends.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable, Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..engine.events import TlsParams
from .errors import TlsConfigError

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


def load_certs(data: bytes) -> list[x509.Certificate]:
    """PEM (one or more, CRLF or LF) or DER, as users upload it (maybe with a trailing NUL)."""
    if b"-----BEGIN" in data:
        pem = data.rstrip(_TRAILER).replace(b"\r\n", b"\n")
        return x509.load_pem_x509_certificates(pem)
    return [x509.load_der_x509_certificate(_der_item(data))]


def ca_certs(params: TlsParams) -> list[x509.Certificate]:
    """The cacert file's certificates; TlsConfigError when it is missing or unreadable."""
    name = f' "{params.cacert_name}"' if params.cacert_name else ""
    if params.cacert is None or not params.cacert.strip(_TRAILER):
        state = "is not set" if params.cacert is None else f"file{name} is empty"
        raise TlsConfigError(f"seclevel {params.seclevel} needs a CA certificate: cacert {state}")
    try:
        return load_certs(params.cacert)
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


def client_credentials(params: TlsParams) -> tuple[list[x509.Certificate], PrivateKeyTypes] | None:
    """The seclevel 2 client chain and key, checked to parse and belong together.

    None when neither is configured; TlsConfigError when only one is or they do not match.
    """
    if params.clientcert is None and params.clientkey is None:
        return None
    if params.clientcert is None or params.clientkey is None:
        missing = "clientcert" if params.clientcert is None else "clientkey"
        raise TlsConfigError(f"seclevel 2 client authentication needs {missing}: it is not set")
    try:
        chain = load_certs(params.clientcert)
    except ValueError as exc:
        raise TlsConfigError(f"clientcert is not a PEM or DER certificate ({exc})") from None
    key = _load_key(params.clientkey)
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.PEM
    if key.public_key().public_bytes(enc, pub) != chain[0].public_key().public_bytes(enc, pub):
        raise TlsConfigError("clientkey does not match clientcert (different public keys)")
    return chain, key


def credentials_pem(chain: Sequence[x509.Certificate], key: PrivateKeyTypes) -> tuple[bytes, bytes]:
    """(chain PEM, PKCS#8 key PEM) for libraries that want text."""
    enc = serialization.Encoding.PEM
    key_pem = key.private_bytes(
        enc, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return b"".join(c.public_bytes(enc) for c in chain), key_pem


# ---- the validity window -------------------------------------------------------------


def _utc(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S UTC")


def subject(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or "(empty subject)"


def issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    """Whether ``ca``'s key signed ``cert`` (names match and the signature verifies)."""
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
    judged += [("CA certificate", ca) for ca in cas if issued_by(leaf, ca)]
    for what, cert in judged:
        nb, na = cert.not_valid_before_utc, cert.not_valid_after_utc
        window = f"notBefore {_utc(nb)}, notAfter {_utc(na)}"
        if now < nb:
            return (
                f"certificate not yet valid: {what} {subject(cert)} ({window}) "
                f"but the module time is {_utc(now)}"
            )
        if now > na:
            return (
                f"certificate expired: {what} {subject(cert)} ({window}) "
                f"but the module time is {_utc(now)}"
            )
    return None


# ---- the host name ----------------------------------------------------------------------


_IpValue = (
    ipaddress.IPv4Address | ipaddress.IPv6Address | ipaddress.IPv4Network | ipaddress.IPv6Network
)


def _names(cert: x509.Certificate) -> tuple[list[str], list[_IpValue]]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    return san.get_values_for_type(x509.DNSName), san.get_values_for_type(x509.IPAddress)


def _dns_match(pattern: str, host: str) -> bool:
    """RFC 6125 matching as OpenSSL does it: a wildcard only as the whole leftmost label."""
    pattern = pattern.lower().rstrip(".")
    if pattern == host:
        return True
    if not pattern.startswith("*.") or "*" in pattern[2:]:
        return False
    head, _, rest = host.partition(".")
    return bool(head) and rest == pattern[2:] and rest.count(".") >= 1


def check_host(cert: x509.Certificate, name: str) -> str | None:
    """Whether the certificate is for ``name`` (the ``checkhost`` setting); a reason if not.

    DNS names match the subjectAltName dNSName entries (a leading ``*.`` label matches one
    label); IP addresses match iPAddress entries; the subject CN counts only when the
    certificate has no DNS names, as OpenSSL's ``X509_check_host`` does.
    """
    dns, ips = _names(cert)
    try:
        ip = ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        ip = None
    host = name.lower().rstrip(".")
    if ip is not None:
        if ip in ips:
            return None
    elif any(_dns_match(d, host) for d in dns):
        return None
    elif not dns:
        cns = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        if any(_dns_match(cn, host) for cn in cns):
            return None
    shown = [*dns, *(str(i) for i in ips)]
    if not shown:
        shown = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    names = ", ".join(shown) or "no name"
    return f"host name mismatch: the server's certificate is for {names}, not {name}"


# ---- chain verification (for backends without one) ----------------------------------

MAX_DEPTH = 10  # OpenSSL's default verify depth (plus the leaf)


class ChainError(Exception):
    """A chain that does not verify: ``code`` and ``message`` are OpenSSL 3's X509 error for
    the same case (``X509_V_ERR_*`` and ``X509_verify_cert_error_string``)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return cert.version == x509.Version.v1  # OpenSSL accepts v1 CA certificates
    return bc.ca


def _server_purpose_ok(cert: x509.Certificate) -> bool:
    """OpenSSL's check for the ``sslserver`` purpose: EKU serverAuth, key usage for TLS."""
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        eku = None
    if eku is not None:
        allowed = {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE}
        if not allowed & set(eku):
            return False
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return True
    return bool(ku.digital_signature or ku.key_encipherment or ku.key_agreement)


def verify_chain(
    presented: Sequence[x509.Certificate], anchors: Sequence[x509.Certificate]
) -> None:
    """Verify the server's chain against cacert the way this module's OpenSSL setup does.

    Every cacert certificate is a trust anchor (partial chains allowed); times are not
    judged here. Raises ChainError with OpenSSL's X509 error code for the first problem.
    """
    if not presented:
        raise ChainError(0, "the server sent no certificate")
    leaf = presented[0]
    anchor_der = {a.public_bytes(serialization.Encoding.DER) for a in anchors}
    path = [leaf]
    current = leaf
    while True:
        if current.public_bytes(serialization.Encoding.DER) in anchor_der:
            break  # a certificate of cacert itself: trusted as it is
        anchor = next((a for a in anchors if issued_by(current, a)), None)
        if anchor is not None:
            path.append(anchor)
            break
        if current.issuer == current.subject and issued_by(current, current):
            if current is leaf:
                raise ChainError(18, "self-signed certificate")
            raise ChainError(19, "self-signed certificate in certificate chain")
        named = [c for c in presented if c is not current and c.subject == current.issuer]
        named += [a for a in anchors if a.subject == current.issuer]
        nxt = next((c for c in named if c not in path and issued_by(current, c)), None)
        if nxt is None:
            if named:
                raise ChainError(7, "certificate signature failure")
            raise ChainError(20, "unable to get local issuer certificate")
        if len(path) > MAX_DEPTH:
            raise ChainError(22, "certificate chain too long")
        path.append(nxt)
        current = nxt
    for issuer in path[1:]:
        if not _is_ca(issuer):
            raise ChainError(79, "invalid CA certificate")
    if not _server_purpose_ok(leaf):
        raise ChainError(26, "unsuitable certificate purpose")


__all__ = [
    "ChainError",
    "ca_certs",
    "check_host",
    "check_validity",
    "client_credentials",
    "credentials_pem",
    "issued_by",
    "load_certs",
    "subject",
    "verify_chain",
]
