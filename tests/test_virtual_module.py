"""``VirtualModule``'s own checks: the AT port stays on loopback unless asked otherwise."""

from __future__ import annotations

import pytest

from bg96 import VirtualModule
from bg96.module.virtual import RemoteBindError, TransportKind

from .aio import run


@pytest.mark.parametrize("host", ["0.0.0.0", "", "::", "192.0.2.1", "bg96.example"])
@pytest.mark.parametrize("transport", ["tcp", "rfc2217"])
def test_a_non_loopback_at_port_needs_allow_remote(transport: TransportKind, host: str) -> None:
    with pytest.raises(RemoteBindError, match=r"allow_remote=True") as refused:
        VirtualModule(transport=transport, host=host)
    assert isinstance(refused.value, ValueError)
    assert "would be reachable from other machines, with no authentication" in str(refused.value)
    VirtualModule(transport=transport, host=host, allow_remote=True)  # asked for: made (not run)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_addresses_need_nothing(host: str) -> None:
    VirtualModule(host=host)
    VirtualModule(transport="rfc2217", host=host)


def test_a_pty_has_no_address_to_check() -> None:
    VirtualModule(transport="pty", host="0.0.0.0")


def test_localhost_serves_on_loopback() -> None:
    async def main() -> None:
        async with VirtualModule(host="localhost") as module:
            assert module.url.startswith("socket://")

    run(main)
