"""Flow control end to end: a host that does not read slows the module and the server, a
server that does not read slows the host, and nothing is lost or held without bound."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bg96 import VirtualModule
from bg96.engine import ModuleConfig
from bg96.engine.core import OUT_HIGH
from bg96.module.connections import SOCKET_BUFFER, StreamConnection
from bg96.network import NetworkProfile
from bg96.testing import TestPki
from bg96.testing.at_client import AtClient

from .flow_support import FloodServer, SinkServer, small_host, stream

OK = b"\r\nOK\r\n"
SIZE = 8 << 20
HELD = 3 << 20  # what may sit between a server and a host that does not read: kernel
# buffers of the small sockets, the module's socket buffer, UART side and transport queue,
# and the module connection's receive buffer as the kernel had tuned it when the module
# stopped reading (then fixed at its TCP window: connections.WINDOW_DELAY); 1.5-2.2 MB here
PUSH = re.compile(rb'\r\n\+QSSLURC: "recv",0,(\d+)\r\n')


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return TestPki("bg96 flow tests CA")


async def settled(count: Callable[[], int], quiet: float = 0.3, limit: float = 20.0) -> int:
    """Wait until ``count()`` stops growing for ``quiet`` s (or ``limit`` s pass)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    last, since = count(), loop.time()
    while loop.time() < deadline:
        await asyncio.sleep(0.02)
        now = count()
        if now != last:
            last, since = now, loop.time()
        elif loop.time() - since >= quiet:
            break
    return last


async def booted(module: VirtualModule) -> AtClient:
    at = await small_host(int(module.url.rsplit(":", 1)[1]))
    await at.read_until(b"+QIND: SMS DONE\r\n")
    assert await at.command("ATE0") == b"ATE0\r" + OK
    assert await at.command("AT+QIACT=1") == OK
    assert await at.command('AT+QSSLCFG="sslversion",1,3') == OK
    assert await at.command('AT+QSSLCFG="ciphersuite",1,0X0035') == OK
    return at


async def read_push(at: AtClient, total: int) -> bytes:
    got = bytearray()
    while len(got) < total:
        head = await at.read_until(b"\r\n", 20)
        if head == b"\r\n":
            head += await at.read_until(b"\r\n", 20)
        m = PUSH.fullmatch(head)
        assert m is not None, head
        n = int(m.group(1))
        got += await at.read_exactly(n, 20)
        assert await at.read_exactly(2, 20) == b"\r\n"
    return bytes(got)


@pytest.mark.parametrize("mode", [1, 2], ids=["push", "transparent"])
def test_a_host_that_does_not_read_holds_the_server_and_gets_every_byte(
    pki: TestPki, mode: int
) -> None:
    payload = stream(SIZE)

    async def main(server: FloodServer) -> None:
        async with VirtualModule(system_resolver=False) as module:
            at = await booted(module)
            line = f'AT+QSSLOPEN=1,1,0,"127.0.0.1",{server.port},{mode}'
            if mode == 2:
                assert await at.command(line) == b"\r\nCONNECT\r\n"
            else:
                assert await at.command(line) == OK
                assert await at.wait_urc(b"+QSSLOPEN: ") == b"+QSSLOPEN: 0,0"
            held = await settled(lambda: server.sent)  # the host reads nothing meanwhile
            assert held < HELD, f"{held} bytes left the server for a host that reads nothing"
            engine = module.engine
            assert engine is not None
            sock = engine.sockets[0]
            assert len(sock.recv) <= engine.config.recv_buffer + 262144  # + one socket read
            assert engine.output_waiting <= OUT_HIGH + 1600  # + one push URC
            assert module.runner is not None
            (conn,) = module.runner._conns.values()
            assert isinstance(conn, StreamConnection) and conn.transport is not None
            kernel = conn.transport.get_extra_info("socket")  # held: the module's TCP window
            assert kernel.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) == 2 * SOCKET_BUFFER
            if mode == 2:
                got = await at.read_exactly(SIZE, 60)
                assert await at.read_until(b"\r\nNO CARRIER\r\n") == b"\r\nNO CARRIER\r\n"
            else:
                got = await read_push(at, SIZE)
                assert await at.wait_urc(b'+QSSLURC: "closed"') == b'+QSSLURC: "closed",0'
            assert hashlib.sha256(got).digest() == hashlib.sha256(payload).digest()
            await at.close()

    with FloodServer(pki.server_ctx(), payload) as server:
        asyncio.run(main(server))
        assert server.done.is_set() and not server.errors


def test_a_server_that_does_not_read_holds_a_transparent_host(pki: TestPki) -> None:
    payload = stream(SIZE)

    async def main(server: SinkServer) -> None:
        async with VirtualModule(system_resolver=False) as module:
            at = await booted(module)
            line = f'AT+QSSLOPEN=1,1,0,"127.0.0.1",{server.port},2'
            assert await at.command(line) == b"\r\nCONNECT\r\n"
            taken = 0
            with contextlib.suppress(TimeoutError):
                while taken < SIZE:  # until the module stops taking the host's bytes
                    at.write(payload[taken : taken + 65536])
                    taken += 65536
                    await asyncio.wait_for(at.writer.drain(), 1.0)
            assert taken < HELD, f"the module took {taken} bytes for a server that reads none"
            engine = module.engine
            assert engine is not None
            assert engine.input_room == 0
            assert engine.sockets[0].unsent <= engine.config.send_buffer
            server.drain.set()  # the server reads again: the rest flows
            at.write(payload[taken:])
            await asyncio.wait_for(at.writer.drain(), 60)
            await asyncio.sleep(1.1)  # +++ needs 1 s of silence before and after
            at.write(b"+++")
            assert await at.read_until(OK, 10) == OK
            assert await at.command("AT+QSSLCLOSE=0") == OK
            await at.close()

    with SinkServer(pki.server_ctx()) as server:
        asyncio.run(main(server))
        assert server.finished.wait(10)
        assert server.received == SIZE
        assert server.digest == hashlib.sha256(payload).hexdigest()


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_flood_while_the_host_idles_leaves_the_process_memory_bounded(
    pki: TestPki, tmp_path: Path
) -> None:
    """200 MiB offered in push mode to a host that reads nothing: `bg96 serve` stays small."""
    flood = os.urandom(1 << 20) * 200

    async def main(server: FloodServer, port: int, pid: int) -> None:
        at = await small_host(port)
        await at.read_until(b"+QIND: SMS DONE\r\n")
        assert await at.command("ATE0") == b"ATE0\r" + OK
        assert await at.command("AT+QIACT=1") == OK
        before = _rss_kib(pid)
        assert await at.command(f'AT+QSSLOPEN=1,1,0,"127.0.0.1",{server.port},1') == OK
        held = await settled(lambda: server.sent)
        grown = _rss_kib(pid) - before
        assert held < HELD
        assert grown < 30 * 1024, f"bg96 serve grew by {grown} KiB"
        await at.close()

    with FloodServer(pki.server_ctx(), flood) as server:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bg96",
                "serve",
                "--tcp",
                "127.0.0.1:0",
                "--files",
                str(tmp_path),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()
            m = re.search(r"socket://127\.0\.0\.1:(\d+)", first)
            assert m is not None, first
            asyncio.run(main(server, int(m.group(1)), proc.pid))
        finally:
            proc.terminate()
            proc.wait(10)


@pytest.mark.parametrize("ifc", ["0,0", "2,2"], ids=["no-flow-control", "rts-cts"])
def test_a_paced_uart_faster_than_the_uplink(pki: TestPki, ifc: str) -> None:
    """A UART at 921600 baud feeding a 200 kbit/s uplink: without flow control (AT+IFC=0,0, the
    default) the module drops what overflows its buffers, counts it and says so; with RTS/CTS
    it holds the host and nothing is lost."""
    sent = stream(30_000)
    network = NetworkProfile(name="custom", up=200_000)
    config = ModuleConfig(send_buffer=4096, uart_buffer=4096)

    async def main(server: SinkServer) -> int:
        async with VirtualModule(pace=True, network=network, config=config) as module:
            at = await booted(module)
            assert await at.command("AT+IPR=921600") == OK
            assert await at.command(f"AT+IFC={ifc}") == OK
            line = f'AT+QSSLOPEN=1,1,0,"127.0.0.1",{server.port},2'
            assert await at.command(line, 20) == b"\r\nCONNECT\r\n"
            at.write(sent)
            await asyncio.wait_for(at.writer.drain(), 30)
            engine = module.engine
            assert engine is not None
            await settled(lambda: server.received, quiet=1.0)  # the uplink has carried it
            await asyncio.sleep(1.1)  # +++ needs 1 s of silence before and after
            at.write(b"+++")
            assert await at.read_until(OK, 10) == OK
            assert await at.command("AT+QSSLCLOSE=0") == OK
            await at.close()
            return engine.uart_overruns

    with SinkServer(pki.server_ctx()) as server:
        server.drain.set()
        overruns = asyncio.run(main(server))
        assert server.finished.wait(10)
    if ifc == "2,2":
        assert overruns == 0
        assert server.received == len(sent)
        assert server.digest == hashlib.sha256(sent).hexdigest()
    else:
        assert overruns > 0
        assert server.received + overruns == len(sent)  # dropped exactly there, counted
