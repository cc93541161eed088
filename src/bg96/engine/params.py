"""The one parameter parser every command handler shares.

A command's argument text (``"sslversion",1,1``) splits at commas outside quotes into
``Param`` values; handlers then ask each for the type and range the manual gives. Any
mismatch raises ``ParamError``, which the engine turns into the real module's answer.
"""

from __future__ import annotations

import ipaddress
import re
import string
from dataclasses import dataclass

_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
MAX_HOST_NAME = 253  # RFC 1035 2.3.4: 255 octets on the wire are 253 characters written out
MAX_LABEL = 63  # RFC 1035 2.3.4
_NAME_CHARS = frozenset(string.ascii_letters + string.digits + "-_.")
_NUMERIC_PART = re.compile(r"[0-9]+|0[xX][0-9a-fA-F]*")  # what inet_aton reads as a number


class ParamError(ValueError):
    """A parameter is missing, of the wrong type or out of range."""


MAX_DIGITS = 18  # no number of the manuals comes near; int() refuses over 4300 digits


def decimal(text: str) -> int | None:
    """``text`` as an ASCII decimal number, or None: not one, or too long to be a parameter."""
    if not (text.isdigit() and text.isascii()):
        return None
    if len(text) <= MAX_DIGITS:
        return int(text)
    digits = text.lstrip("0") or "0"
    return int(digits) if len(digits) <= MAX_DIGITS else None


@dataclass(frozen=True, slots=True)
class Param:
    """One comma-separated parameter: its text without quotes, and whether it was quoted."""

    text: str
    quoted: bool

    @property
    def omitted(self) -> bool:
        return not self.quoted and self.text == ""

    def num(self, lo: int, hi: int) -> int:
        """A decimal number in ``lo..hi``; quoted numbers are not numbers."""
        t = self.text
        if not self.quoted and len(t) <= MAX_DIGITS and t.isdigit() and t.isascii():
            value: int | None = int(t)  # the common case, without a call
        else:
            value = None if self.quoted else decimal(t)
        if value is None:
            raise ParamError(f"not a number in range {lo}-{hi}: {t[:24]!r}")
        if not lo <= value <= hi:
            raise ParamError(f"{value} out of range {lo}-{hi}")
        return value

    def choice(self, *allowed: int) -> int:
        """A decimal number that must be one of ``allowed``."""
        value = self.num(min(allowed), max(allowed))
        if value not in allowed:
            raise ParamError(f"{value} not one of {allowed}")
        return value

    def hex(self) -> int:
        """An unquoted hexadecimal number written ``0X0035`` or ``0x0035``."""
        t = self.text
        digits = t[2:]
        if (
            self.quoted
            or t[:2] not in ("0X", "0x")
            or not digits
            or not all(c in _HEX_DIGITS for c in digits)
        ):
            raise ParamError(f"not a 0X hex number: {t!r}")
        return int(digits, 16)

    def string(self, max_len: int = 1024) -> str:
        """A quoted string."""
        if not self.quoted:
            raise ParamError(f"string must be quoted: {self.text!r}")
        if len(self.text) > max_len:
            raise ParamError("string too long")
        return self.text

    def host(self, what: str = "host name") -> str:
        """A quoted server address (``<serveraddr>``, ``<hostname>``): see ``check_host``."""
        if not self.quoted:
            raise ParamError(f"{what} must be quoted: {self.text[:64]!r}")
        return check_host(self.text, what)


def check_host(text: str, what: str = "host name") -> str:
    """``text`` if it is an IP address or a host name a resolver looks up as written.

    Refused (``ParamError``): NUL and other control bytes (a C resolver would stop at a
    NUL and look up what precedes it), an empty name or label, a label over 63 or a name
    over 253 characters (RFC 1035), characters outside letters, digits, ``-``, ``_`` and
    ``.`` (``\\`` escapes and spaces are read otherwise by resolvers), and numbers that are
    not a dotted-quad IPv4 address (``2130706433``, ``0x7f.1``: ``inet_aton`` would make
    them 127.0.0.1; RFC 1123 2.1 rules out an all-numeric top label).
    docs/fidelity.md has the choice."""
    for c in text:
        if c < " " or c == "\x7f":
            raise ParamError(f"{what} contains the control byte 0x{ord(c):02X}")
    if not text:
        raise ParamError(f"empty {what}")
    if ":" in text and "%" not in text:  # an IPv6 literal (a zone ID names a host interface)
        try:
            ipaddress.IPv6Address(text)
        except ValueError:
            raise ParamError(f"{what} is not an IPv6 address: {text[:64]!r}") from None
        return text
    name = text[:-1] if text.endswith(".") else text
    if len(name) > MAX_HOST_NAME:
        raise ParamError(f"{what} longer than {MAX_HOST_NAME} characters")
    bad = sorted(set(name) - _NAME_CHARS)
    if bad:
        raise ParamError(f"{what} {text[:64]!r} has characters a host name cannot have: {bad}")
    labels = name.split(".")
    if any(not label for label in labels):
        raise ParamError(f"{what} {text[:64]!r} has an empty label")
    if any(len(label) > MAX_LABEL for label in labels):
        raise ParamError(f"{what} has a label longer than {MAX_LABEL} characters")
    if all(_NUMERIC_PART.fullmatch(label) for label in labels) or labels[-1].isdigit():
        try:
            ipaddress.IPv4Address(text)
        except ValueError:
            raise ParamError(f"{what} {text!r} is numeric but not an IPv4 address") from None
    return text


def parse_params(text: str) -> list[Param]:
    """Split ``text`` at commas outside double quotes; an empty text gives no parameters."""
    params: list[Param] = []
    if text == "":
        return params
    i, n = 0, len(text)
    while True:
        # leading blanks before a parameter are not part of it
        while i < n and text[i] == " ":
            i += 1
        if i < n and text[i] == '"':
            end = text.find('"', i + 1)
            if end < 0:
                raise ParamError("unterminated string")
            params.append(Param(text[i + 1 : end], True))
            i = end + 1
            while i < n and text[i] == " ":
                i += 1
            if i < n and text[i] != ",":
                raise ParamError("text after a quoted string")
        else:
            end = text.find(",", i)
            if end < 0:
                end = n
            params.append(Param(text[i:end].strip(" "), False))
            i = end
        if i >= n:
            return params
        i += 1  # the comma
        if i == n:
            params.append(Param("", False))
            return params


def arity(params: list[Param], lo: int, hi: int) -> None:
    """Check the parameter count is within ``lo..hi``."""
    if not lo <= len(params) <= hi:
        raise ParamError(f"expected {lo}-{hi} parameters, got {len(params)}")
