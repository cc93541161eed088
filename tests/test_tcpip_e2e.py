"""Plain TCP and UDP sockets end to end: the virtual module's real connections to loopback
servers, listeners reached from this machine, ping and NTP, and the 12 client IDs shared by
TCP, UDP and SSL sockets moving data at once."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import re
import socket
from pathlib import Path
from typing import cast

import pytest

from bg96 import VirtualModule
from bg96.cli.app import main as cli_main
from bg96.engine import ModuleConfig
from bg96.module.virtual import exposed_ports
from bg96.testing import TestPki, TlsEchoServer
from bg96.testing.at_client import AtClient
from bg96.testing.ntp_server import SntpServer

OK = b"\r\nOK\r\n"
LOOPBACK = "127.0.0.1"


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return TestPki("bg96 tcpip tests CA")


class TcpEcho:
    """A plain TCP echo server in the test's loop."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.port = 0
        self.received = bytearray()

    async def __aenter__(self) -> TcpEcho:
        self.server = await asyncio.start_server(self._serve, LOOPBACK, 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                self.received += data
                writer.write(data)
                await writer.drain()
        writer.close()


class UdpEcho(asyncio.DatagramProtocol):
    """A UDP echo server: each datagram back to its sender, prefixed with ``echo:``."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.got: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self.got.append(data)
        assert self.transport is not None
        self.transport.sendto(b"echo:" + data, addr)


async def udp_echo() -> tuple[UdpEcho, int]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(UdpEcho, local_addr=(LOOPBACK, 0))
    return protocol, transport.get_extra_info("sockname")[1]


async def booted(module: VirtualModule) -> AtClient:
    at = await AtClient.connect(LOOPBACK, int(module.url.rsplit(":", 1)[1]))
    await at.read_until(b"+QIND: SMS DONE\r\n")
    assert await at.command("ATE0") == b"ATE0\r" + OK
    assert await at.command("AT+QIACT=1") == OK
    return at


async def qisend(at: AtClient, cid: int, data: bytes, dest: str = "") -> None:
    at.write(f"AT+QISEND={cid},{len(data)}{dest}\r".encode())
    assert (await at.read_until(b"> ")).endswith(b"\r\n> ")  # a URC may come first
    at.write(data)
    assert (await at.response()).endswith(b"\r\nSEND OK\r\n")


async def read_block(at: AtClient, line: str, prefix: bytes) -> tuple[bytes, bytes]:
    """Send a read command and take its answer: (its ``prefix`` header line, the data);
    URCs that come first are skipped."""
    at.write(line.encode() + b"\r")
    while not (head := (await at.read_until(b"\r\n", 10)).strip()).startswith(prefix):
        pass
    m = re.match(rb"[^:]+: (\d+)", head)
    assert m is not None, head
    n = int(m.group(1))
    data = await at.read_exactly(n) if n else b""
    assert (await at.response()).endswith(OK)
    return head, data


async def qird(at: AtClient, cid: int, length: int | None = 1500) -> tuple[bytes, bytes]:
    """(the +QIRD header line, the data)."""
    tail = "" if length is None else f",{length}"
    return await read_block(at, f"AT+QIRD={cid}{tail}", b"+QIRD:")


def test_a_tcp_client_moves_data_both_ways() -> None:
    payload = bytes(range(256)) * 400  # 100 KiB

    async def main() -> None:
        async with TcpEcho() as echo, VirtualModule(system_resolver=False) as module:
            at = await booted(module)
            line = f'AT+QIOPEN=1,0,"TCP","{LOOPBACK}",{echo.port},0,0'
            assert await at.command(line) == OK
            assert await at.wait_urc(b"+QIOPEN:") == b"+QIOPEN: 0,0"
            state = await at.command("AT+QISTATE=1,0")
            assert f',"TCP","{LOOPBACK}",{echo.port},65344,2,1,0,0,"uart1"'.encode() in state
            for start in range(0, len(payload), 1460):
                await qisend(at, 0, payload[start : start + 1460])
            got = bytearray()
            while len(got) < len(payload):
                _, data = await qird(at, 0)
                if not data:
                    await at.wait_urc(b'+QIURC: "recv",0')
                got += data
            assert hashlib.sha256(got).digest() == hashlib.sha256(payload).digest()
            assert await at.command("AT+QISEND=0,0") == (
                f"\r\n+QISEND: {len(payload)},{len(payload)},0\r\n".encode() + OK
            )
            assert await at.command("AT+QICLOSE=0") == OK
            await at.close()

    asyncio.run(main())


def test_udp_keeps_datagram_boundaries_both_ways() -> None:
    async def main() -> None:
        server, port = await udp_echo()
        async with VirtualModule(system_resolver=False) as module:
            at = await booted(module)
            line = 'AT+QIOPEN=1,2,"UDP SERVICE","127.0.0.1",0,3030,0'
            assert await at.command(line) == OK
            assert await at.wait_urc(b"+QIOPEN:") == b"+QIOPEN: 2,0"
            sizes = [1, 10, 1460, 7]
            for i, size in enumerate(sizes):
                await qisend(at, 2, bytes([65 + i]) * size, f',"{LOOPBACK}",{port}')
            for i, size in enumerate(sizes):
                head, data = await qird(at, 2, None)
                assert data == b"echo:" + bytes([65 + i]) * size
                assert head == f'+QIRD: {size + 5},"{LOOPBACK}",{port}'.encode()
            assert server.got == [bytes([65 + i]) * s for i, s in enumerate(sizes)]
            # a connected UDP client, in push mode
            line = f'AT+QIOPEN=1,3,"UDP","{LOOPBACK}",{port},0,1'
            assert await at.command(line) == OK
            assert await at.wait_urc(b"+QIOPEN:") == b"+QIOPEN: 3,0"
            for word in (b"one", b"two"):
                await qisend(at, 3, word)
                urc = await at.read_until(b"echo:" + word + b"\r\n")
                assert urc == b'\r\n+QIURC: "recv",3,8\r\necho:' + word + b"\r\n"
            await at.close()

    asyncio.run(main())


def test_a_listener_takes_two_clients_from_this_machine() -> None:
    async def main() -> None:
        async with VirtualModule(system_resolver=False, expose=[0]) as module:
            at = await booted(module)
            assert await at.command('AT+QIOPEN=1,1,"TCP LISTENER","127.0.0.1",0,2020,0') == OK
            assert await at.wait_urc(b"+QIOPEN:") == b"+QIOPEN: 1,0"
            host_port = module.host_port(2020)
            assert host_port is not None
            clients = []
            for n in range(2):
                reader, writer = await asyncio.open_connection(LOOPBACK, host_port)
                urc = await at.wait_urc(b'+QIURC: "incoming"')
                local = writer.get_extra_info("sockname")[1]
                assert urc == f'+QIURC: "incoming",{11 - n},1,"127.0.0.1",{local}'.encode()
                clients.append((reader, writer))
            state = await at.command("AT+QISTATE")
            assert state.count(b'"TCP INCOMING"') == 2 and b'"TCP LISTENER"' in state
            for n, (reader, writer) in enumerate(clients):
                writer.write(f"hello {n}".encode())
                await writer.drain()
                cid = 11 - n
                await at.wait_urc(f'+QIURC: "recv",{cid}'.encode())
                assert (await qird(at, cid))[1] == f"hello {n}".encode()
                await qisend(at, cid, f"back {n}".encode())
                assert await reader.readexactly(6) == f"back {n}".encode()
            writer = clients[0][1]
            writer.close()
            assert await at.wait_urc(b'+QIURC: "closed"') == b'+QIURC: "closed",11'
            for cid in (11, 10, 1):
                assert await at.command(f"AT+QICLOSE={cid}") == OK
            await at.close()

    asyncio.run(main())


def test_a_listener_on_a_host_port_already_taken_fails_with_556() -> None:
    taken = socket.socket()
    taken.bind((LOOPBACK, 0))
    taken.listen()
    port = taken.getsockname()[1]

    async def main() -> None:
        async with VirtualModule(system_resolver=False, expose={2020: port}) as module:
            at = await booted(module)
            assert await at.command('AT+QIOPEN=1,1,"TCP LISTENER","127.0.0.1",0,2020,0') == OK
            assert await at.wait_urc(b"+QIOPEN:") == b"+QIOPEN: 1,556"
            assert (await at.command("AT+QIGETERROR")).startswith(b"\r\n+QIGETERROR: 556,")
            await at.close()

    try:
        asyncio.run(main())
    finally:
        taken.close()


def test_one_host_port_for_two_module_ports_is_refused_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ValueError, match="host port 40141 is given to module ports 2020 and"):
        VirtualModule(expose={2020: 40141, 2021: 40141})
    assert exposed_ports([(2020, 40141), (2020, 40141), (80, 80)]) == {2020: 40141, 80: 80}
    with pytest.raises(ValueError, match="module port 2020 is exposed on host ports 1 and 2"):
        exposed_ports([(2020, 1), (2020, 2)])
    args = ["serve", "--tcp", "127.0.0.1:0", "--files", str(tmp_path)]
    code = cli_main([*args, "--expose", "2020:40141", "--expose", "2021:40141"])
    assert code == 2
    assert capsys.readouterr().err.startswith("bg96: --expose: host port 40141 is given to")


def test_ping_a_loopback_address_and_a_name_that_does_not_resolve() -> None:
    async def main() -> None:
        async with VirtualModule(resolve={"here.test": LOOPBACK}, system_resolver=False) as m:
            at = await booted(m)
            assert await at.command('AT+QPING=1,"here.test",2,2') == OK
            for _ in range(2):
                urc = await at.wait_urc(b"+QPING:")
                assert re.fullmatch(rb'\+QPING: 0,"127\.0\.0\.1",32,\d+,\d+', urc), urc
            summary = await at.wait_urc(b"+QPING:")
            assert re.fullmatch(rb"\+QPING: 0,2,2,0,\d+,\d+,\d+", summary), summary
            assert await at.command('AT+QPING=1,"nowhere.test"') == OK
            assert await at.wait_urc(b"+QPING:") == b"+QPING: 565"
            assert await at.command('AT+QPING=2,"here.test"') == OK
            assert await at.wait_urc(b"+QPING:") == b"+QPING: 561"  # context 2 is not active
            await at.close()

    asyncio.run(main())


def test_ntp_sets_the_module_clock_and_a_silent_server_times_out() -> None:
    offset = 200 * 86400.0  # the server says 200 days from now

    async def main(port: int, silent_port: int) -> None:
        config = ModuleConfig(ntp_timeout=0.5)
        async with VirtualModule(system_resolver=False, config=config) as module:
            at = await booted(module)
            assert (await at.command("AT+CCLK?")).startswith(b'\r\n+CCLK: "80/01/06,')
            assert await at.command(f'AT+QNTP=1,"{LOOPBACK}",{port}') == OK
            urc = await at.wait_urc(b"+QNTP:")
            expected = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=offset)
            assert urc.startswith(f'+QNTP: 0,"{expected:%Y/%m/%d},'.encode()), urc
            clock = await at.command("AT+CCLK?")
            assert f'+CCLK: "{expected:%y/%m/%d},'.encode() in clock
            assert await at.command(f'AT+QNTP=1,"{LOOPBACK}",{silent_port}') == OK
            assert await at.wait_urc(b"+QNTP:") == b"+QNTP: 569"
            await at.close()

    with SntpServer(offset=offset) as ntp, SntpServer(silent=True) as silent:
        asyncio.run(main(ntp.port, silent.port))
        assert silent.requests == 1


def test_twelve_mixed_sockets_move_data_both_ways(pki: TestPki) -> None:
    """4 TCP, 4 UDP and 4 SSL sockets at once, each echoing its own data: all sha256-equal."""

    async def main() -> None:
        udp, udp_port = await udp_echo()
        async with (
            TcpEcho() as tcp,
            TlsEchoServer(pki.server_ctx()) as tls,
            VirtualModule(system_resolver=False) as module,
        ):
            at = await booted(module)
            assert await at.command('AT+QSSLCFG="sslversion",1,3') == OK
            assert await at.command('AT+QSSLCFG="ciphersuite",1,0X0035') == OK
            kinds = {}
            seen = bytearray()  # the open URCs may come inside the next command's answer
            for cid in range(12):
                if cid % 3 == 0:
                    line = f'AT+QIOPEN=1,{cid},"TCP","{LOOPBACK}",{tcp.port},0,0'
                    kinds[cid] = "tcp"
                elif cid % 3 == 1:
                    line = f'AT+QIOPEN=1,{cid},"UDP","{LOOPBACK}",{udp_port},0,0'
                    kinds[cid] = "udp"
                else:
                    line = f'AT+QSSLOPEN=1,1,{cid},"{LOOPBACK}",{tls.port},0'
                    kinds[cid] = "ssl"
                answer = await at.command(line)
                assert answer.endswith(OK)
                seen += answer
            opened = {int(n) for n in re.findall(rb"\+Q(?:SSL|I)OPEN: (\d+),0", seen)}
            while len(opened) < 12:
                urc = await at.wait_urc(b"+Q")
                m = re.fullmatch(rb"\+Q(?:SSL|I)OPEN: (\d+),0", urc)
                if m:
                    opened.add(int(m.group(1)))
            sent: dict[int, bytes] = {}
            for cid, kind in kinds.items():
                data = bytes([cid]) * 700 + f"#{cid}".encode()
                sent[cid] = data
                if kind == "ssl":
                    at.write(f"AT+QSSLSEND={cid},{len(data)}\r".encode())
                    await at.read_until(b"> ")
                    at.write(data)
                    assert (await at.response()).endswith(b"\r\nSEND OK\r\n")
                else:
                    await qisend(at, cid, data)
            for cid, kind in kinds.items():
                expected = b"echo:" + sent[cid] if kind == "udp" else sent[cid]
                got = bytearray()
                while len(got) < len(expected):
                    if kind == "ssl":
                        line = f"AT+QSSLRECV={cid},1500"
                        _, data = await read_block(at, line, b"+QSSLRECV:")
                    else:
                        _, data = await qird(at, cid)
                    got += data
                    if not data:
                        await asyncio.sleep(0.01)  # polling a buffer the echo fills
                assert hashlib.sha256(got).digest() == hashlib.sha256(expected).digest(), cid
            for cid, kind in kinds.items():
                close = "AT+QSSLCLOSE" if kind == "ssl" else "AT+QICLOSE"
                assert await at.command(f"{close}={cid}") == OK
            await at.close()
        assert udp.transport is not None
        udp.transport.close()

    asyncio.run(main())
