"""The BG96 SSL manual's tables 1 (SSL versions) and 2 (cipher suites) as data."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

ALL_SUITES = 0xFFFF  # QSSLCFG "ciphersuite" value meaning every suite of table 2


# Protocol versions as ``SSLObject.version()`` names them, oldest first, and how the manual
# writes them (table 1).
VERSION_ORDER: tuple[str, ...] = ("SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2")
VERSION_LABELS: dict[str, str] = {
    "SSLv3": "SSL3.0",
    "TLSv1": "TLS1.0",
    "TLSv1.1": "TLS1.1",
    "TLSv1.2": "TLS1.2",
}
# The two bytes a ServerHello carries for each version.
VERSION_WIRE: dict[str, int] = {
    "SSLv3": 0x0300,
    "TLSv1": 0x0301,
    "TLSv1.1": 0x0302,
    "TLSv1.2": 0x0303,
}


@dataclass(frozen=True)
class CipherSuite:
    """One row of table 2: the module's code, the IANA name and OpenSSL's name.

    ``min_version`` is the oldest protocol the suite runs on: SHA256/SHA384 MACs and GCM
    exist from TLS 1.2 on, ECDHE (RFC 4492, carried in TLS extensions) from TLS 1.0 on.
    """

    code: int
    iana: str
    openssl: str
    min_version: str = "SSLv3"

    @property
    def tls12_only(self) -> bool:
        return self.min_version == "TLSv1.2"

    @property
    def cipher(self) -> str:
        """The bulk cipher: ``AES``, ``RC4`` or ``3DES``."""
        return "RC4" if "_RC4_" in self.iana else "3DES" if "_3DES_" in self.iana else "AES"


_T10, _T12 = "TLSv1", "TLSv1.2"
SUITES: tuple[CipherSuite, ...] = (
    CipherSuite(0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA", "AES256-SHA"),
    CipherSuite(0x002F, "TLS_RSA_WITH_AES_128_CBC_SHA", "AES128-SHA"),
    CipherSuite(0x0005, "TLS_RSA_WITH_RC4_128_SHA", "RC4-SHA"),
    CipherSuite(0x0004, "TLS_RSA_WITH_RC4_128_MD5", "RC4-MD5"),
    CipherSuite(0x000A, "TLS_RSA_WITH_3DES_EDE_CBC_SHA", "DES-CBC3-SHA"),
    CipherSuite(0x003D, "TLS_RSA_WITH_AES_256_CBC_SHA256", "AES256-SHA256", _T12),
    CipherSuite(0xC011, "TLS_ECDHE_RSA_WITH_RC4_128_SHA", "ECDHE-RSA-RC4-SHA", _T10),
    CipherSuite(0xC012, "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", "ECDHE-RSA-DES-CBC3-SHA", _T10),
    CipherSuite(0xC013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA", _T10),
    CipherSuite(0xC014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA", _T10),
    CipherSuite(0xC027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE-RSA-AES128-SHA256", _T12),
    CipherSuite(0xC028, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", "ECDHE-RSA-AES256-SHA384", _T12),
    CipherSuite(
        0xC02F, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256", _T12
    ),
)

_BY_CODE = {s.code: s for s in SUITES}
_BY_OPENSSL = {s.openssl: s for s in SUITES}

# Table 1: QSSLCFG "sslversion" -> the protocol versions it allows, as ``SSLObject.version()``
# names them. The BG96 has no TLS 1.3.
SSL_VERSIONS: dict[int, tuple[str, ...]] = {
    0: ("SSLv3",),
    1: ("TLSv1",),
    2: ("TLSv1.1",),
    3: ("TLSv1.2",),
    4: VERSION_ORDER,
}

# How the manual names each sslversion value, for trace lines.
SSL_VERSION_LABELS: dict[int, str] = {
    0: "SSL3.0",
    1: "TLS1.0",
    2: "TLS1.1",
    3: "TLS1.2",
    4: "all (SSL3.0..TLS1.2)",
}


def format_code(code: int) -> str:
    """A suite code written as the manual and the AT commands write it: ``0X0035``."""
    return f"0X{code:04X}"


def suite_by_code(code: int) -> CipherSuite | None:
    """The table-2 row for ``code``, or None when the module does not know it."""
    return _BY_CODE.get(code)


def suite_by_openssl_name(name: str) -> CipherSuite | None:
    """The table-2 row for an OpenSSL cipher name (as ``SSLObject.cipher()`` gives it)."""
    return _BY_OPENSSL.get(name)


def suite_name(code: int) -> str:
    """The IANA name of a table-2 code, for trace lines (unknown codes are shown in hex)."""
    if code == ALL_SUITES:
        return "all cipher suites (0XFFFF)"
    suite = _BY_CODE.get(code)
    return suite.iana if suite is not None else f"unknown cipher suite {format_code(code)}"


def expand_suites(codes: Iterable[int]) -> tuple[int, ...]:
    """Replace 0XFFFF by every table-2 code in the module's order and drop duplicates."""
    out: list[int] = []
    for code in codes:
        for c in (s.code for s in SUITES) if code == ALL_SUITES else (code,):
            if c not in out:
                out.append(c)
    return tuple(out)


def version_label(name: str) -> str:
    """How the manual writes a protocol version (``TLSv1.2`` -> ``TLS1.2``)."""
    return VERSION_LABELS.get(name, name)


__all__ = [
    "ALL_SUITES",
    "SSL_VERSIONS",
    "SSL_VERSION_LABELS",
    "SUITES",
    "VERSION_LABELS",
    "VERSION_ORDER",
    "VERSION_WIRE",
    "CipherSuite",
    "expand_suites",
    "format_code",
    "suite_by_code",
    "suite_by_openssl_name",
    "suite_name",
    "version_label",
]
