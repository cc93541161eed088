"""AsyncModem against the virtual module, end to end, in all three access modes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from bg96 import AsyncModem, CommandError, OpenFailed, VirtualModule
from bg96.host import Urc
from bg96.testing import TestPki
from bg96.testing.tls_server import TlsEchoServer

PAYLOAD = bytes(range(256)) * 40


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return TestPki()


def run(pki: TestPki, body: Callable[[AsyncModem, TlsEchoServer], Awaitable[None]]) -> None:
    async def main() -> None:
        async with (
            TlsEchoServer(pki.server_ctx()) as echo,
            VirtualModule(system_resolver=False) as vm,
            await AsyncModem.open(vm.url) as modem,
        ):
            await modem.sync()
            await modem.activate()
            await body(modem, echo)

    asyncio.run(main())


async def read_all(conn: object, size: int) -> bytes:
    from bg96 import AsyncSslConnection

    assert isinstance(conn, AsyncSslConnection)
    got = b""
    while len(got) < size:
        got += await conn.recv(4096, timeout=5)
    return got


@pytest.mark.parametrize("mode", [0, 1, 2])
def test_all_byte_values_round_trip_in_every_mode(pki: TestPki, mode: int) -> None:
    async def body(modem: AsyncModem, echo: TlsEchoServer) -> None:
        if mode == 2:
            await modem.command('AT+QICFG="transwaittm",0')
        conn = await modem.open_ssl(mode + 1, "127.0.0.1", echo.port, access_mode=mode)
        await conn.send(PAYLOAD)
        assert await read_all(conn, len(PAYLOAD)) == PAYLOAD
        assert bytes(echo.received) == PAYLOAD

    run(pki, body)


def test_verified_open_urc_iterator_and_errors(pki: TestPki) -> None:
    async def body(modem: AsyncModem, echo: TlsEchoServer) -> None:
        seen: list[Urc] = []
        modem.on_urc(seen.append)
        await modem.upload("ca.pem", pki.ca_pem)
        await modem.ssl_config(1, sslversion=3, seclevel=1, cacert="ca.pem")
        conn = await modem.open_ssl(0, "127.0.0.1", echo.port, ssl_ctx=1)
        urcs = modem.urcs()
        await conn.send(b"ping")
        urc = await asyncio.wait_for(urcs.__anext__(), 5)
        while not urc.line.startswith(b'+QSSLURC: "recv"'):
            urc = await asyncio.wait_for(urcs.__anext__(), 5)
        assert urc.line == b'+QSSLURC: "recv",0'
        assert await conn.recv(100, timeout=5) == b"ping"
        await conn.close()
        assert any(u.line == b"+QSSLOPEN: 0,0" for u in seen)
        # a CA that did not sign the server: the open fails with the module's code
        other = TestPki("another CA")
        await modem.upload("other.pem", other.ca_pem)
        await modem.ssl_config(2, seclevel=1, cacert="other.pem")
        with pytest.raises(OpenFailed) as failed:
            await modem.open_ssl(1, "127.0.0.1", echo.port, ssl_ctx=2)
        assert failed.value.code == 566
        with pytest.raises(CommandError) as missing:
            await modem.command('AT+QFDEL="nothere"')
        assert missing.value.code == 405

    run(pki, body)
