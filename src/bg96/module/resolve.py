"""Name resolution for QSSLOPEN: the host's resolver, with curl-style ``NAME=ADDR`` overrides."""

from __future__ import annotations

import asyncio
import ipaddress
import socket


class ResolveError(Exception):
    """The name does not resolve (QSSLOPEN fails with 565, DNS parse failed)."""


def parse_override(text: str) -> tuple[str, str]:
    """``NAME=ADDR`` (``--resolve``) as a pair; ADDR must be an IP address."""
    name, sep, addr = text.partition("=")
    if not sep or not name or not addr:
        raise ValueError(f"expected NAME=ADDR, got {text!r}")
    ipaddress.ip_address(addr)
    return name.lower(), addr


class Resolver:
    """Resolves server names the way the host machine does, overrides first."""

    def __init__(self, overrides: dict[str, str] | None = None, *, system: bool = True) -> None:
        self.overrides = {k.lower(): v for k, v in (overrides or {}).items()}
        self.system = system  # False: only overrides and IP literals (tests stay off the network)

    async def resolve(self, host: str) -> str:
        override = self.overrides.get(host.lower())
        if override is not None:
            return override
        try:
            ipaddress.ip_address(host)
            return host
        except ValueError:
            pass
        if not self.system:
            raise ResolveError(f"cannot resolve {host!r}: not in the --resolve overrides")
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(
                host, None, family=socket.AF_INET, type=socket.SOCK_STREAM
            )
        except (OSError, UnicodeError) as exc:
            raise ResolveError(f"cannot resolve {host!r}: {exc}") from None
        if not infos:
            raise ResolveError(f"cannot resolve {host!r}: no IPv4 address")
        return str(infos[0][4][0])
