"""End to end: the real Runner on a real transport, against loopback TLS servers.

Every test drives a virtual BG96 the way a host program does, over its TCP transport (or the
pty), and checks the module's bytes exactly wherever the test controls them. ``ATE0`` comes
first so that responses carry no echo.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import random
import re
import socket
import ssl
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import serial

from bg96.engine import Engine, MemoryStore
from bg96.module.connections import LocalPorts
from bg96.module.resolve import Resolver
from bg96.module.runner import Runner
from bg96.module.trace import Trace
from bg96.module.transports.pty import PtyTransport
from bg96.module.transports.tcp import TcpTransport
from bg96.testing import TestPki, TlsEchoServer
from bg96.testing.at_client import AtClient
from bg96.testing.tls_server import LoopbackServer
from tests.aio import run, until

SERVER_NAME = "echo.bg96.test"
BOOT = (
    b"\r\nRDY\r\n\r\n+CFUN: 1\r\n\r\nAPP RDY\r\n\r\n+CPIN: READY\r\n\r\n+QUSIM: 1\r\n"
    b"\r\n+QIND: SMS DONE\r\n"
)
OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
MANUAL_DATA = b"Test data from SSL"

URC_LINE = re.compile(rb'\r\n(\+QSSLURC: "[a-z]+",\d+|\+QSSLOPEN: \d+,\d+|\+QIURC: [^\r]*)\r\n')


def ufs_checksum(data: bytes) -> str:
    """FILE manual checksum: XOR of big-endian 16-bit words (odd tail byte is a high byte)."""
    if len(data) % 2:
        data += b"\x00"
    value = 0
    for i in range(0, len(data), 2):
        value ^= (data[i] << 8) | data[i + 1]
    return f"{value:x}"


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return TestPki("bg96 e2e CA")


# ---- a TLS server whose behaviour the tests script ---------------------------------------


class ScriptedTlsServer(LoopbackServer):
    """A loopback TLS server over MemoryBIOs: echoes, or greets and hangs up at once.

    It records each client's port (``peers``) and how each connection ended (``endings``:
    ``"close_notify"``, ``"eof without close_notify"``, ``"server hung up"``, ...).
    """

    def __init__(self, ctx: ssl.SSLContext, *, greeting: bytes = b"", hang_up: bool = False):
        super().__init__()
        self._ctx = ctx
        self._greeting = greeting
        self._hang_up = hang_up
        self.peers: list[int] = []
        self.endings: list[str] = []
        self.received = bytearray()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.peers.append(writer.get_extra_info("peername")[1])
        try:
            self.endings.append(await self._serve(reader, writer))
        except ConnectionError as exc:
            self.endings.append(f"connection error: {exc!r}")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = self._ctx.wrap_bio(incoming, outgoing, server_side=True)

        async def flush() -> None:
            if out := outgoing.read():
                writer.write(out)
                await writer.drain()

        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                await flush()
            except ssl.SSLError as exc:
                await flush()
                return f"handshake failed: {exc.reason}"
            data = await reader.read(65536)
            if not data:
                return "eof during the handshake"
            incoming.write(data)
        await flush()
        if self._greeting:
            tls.write(self._greeting)
        if self._hang_up:
            with contextlib.suppress(ssl.SSLWantReadError):
                tls.unwrap()  # close_notify, sent with the greeting; FIN follows
            await flush()
            return "server hung up"
        await flush()
        while True:
            data = await reader.read(65536)
            if data:
                incoming.write(data)
            else:
                incoming.write_eof()
            plain = bytearray()
            ending = ""
            while True:
                try:
                    chunk = tls.read(65536)
                except ssl.SSLWantReadError:
                    break
                except ssl.SSLEOFError:
                    ending = "eof without close_notify"
                    break
                except ssl.SSLError as exc:
                    ending = f"TLS error: {exc.reason}"
                    break
                if not chunk:
                    ending = "close_notify"
                    break
                plain += chunk
            if plain:
                self.received += plain
                tls.write(bytes(plain))
            if ending == "close_notify":
                with contextlib.suppress(ssl.SSLError):
                    tls.unwrap()
            with contextlib.suppress(ConnectionError):
                await flush()
            if ending:
                return ending


# ---- the module and a host talking to it -----------------------------------------------


@dataclass
class Host:
    """An AtClient plus the URCs seen in front of responses (which it strips)."""

    at: AtClient
    urcs: list[bytes] = field(default_factory=list)

    def strip(self, data: bytes) -> bytes:
        while m := URC_LINE.match(data):
            self.urcs.append(m.group(1))
            data = data[m.end() :]
        return data

    async def cmd(self, line: str) -> bytes:
        """The response to ``line`` without the URCs that came before it."""
        return self.strip(await self.at.command(line))

    async def next_urc(self, timeout: float = 10.0) -> bytes:
        """The next URC on the wire (only URCs may be pending when this is called)."""
        start = await self.at.read_exactly(2, timeout)
        assert start == b"\r\n", start
        return (await self.at.read_until(b"\r\n", timeout))[:-2]

    async def urc(self, wanted: bytes, timeout: float = 10.0) -> None:
        """Wait for (and consume) the URC ``wanted``, seen already or still to come."""
        while wanted not in self.urcs:
            self.urcs.append(await self.next_urc(timeout))
        self.urcs.remove(wanted)

    async def send(self, cid: int, data: bytes) -> None:
        """Fixed-length AT+QSSLSEND, waiting for the prompt before the data, like a host."""
        self.at.write(f"AT+QSSLSEND={cid},{len(data)}\r".encode())
        assert self.strip(await self.at.read_until(b"> ")) == b"\r\n> "
        self.at.write(data)
        assert self.strip(await self.at.response()) == b"\r\nSEND OK\r\n"

    async def recv(self, cid: int, size: int = 1500) -> bytes:
        """AT+QSSLRECV, parsed by length so binary data cannot fool it."""
        self.at.write(f"AT+QSSLRECV={cid},{size}\r".encode())
        assert self.strip(await self.at.read_until(b"+QSSLRECV: ")) == b"\r\n+QSSLRECV: "
        count = int((await self.at.read_until(b"\r\n"))[:-2])
        data = await self.at.read_exactly(count)
        tail = await self.at.read_exactly(8 if count else 6)
        assert tail == (b"\r\n\r\nOK\r\n" if count else OK)
        return data

    async def open(self, ctx: int, cid: int, host: str, port: int, pdp: int = 1) -> bytes:
        """AT+QSSLOPEN in buffer mode; returns its ``+QSSLOPEN`` URC."""
        assert await self.cmd(f'AT+QSSLOPEN={pdp},{ctx},{cid},"{host}",{port},0') == OK
        while True:
            for urc in self.urcs:
                if urc.startswith(f"+QSSLOPEN: {cid},".encode()):
                    self.urcs.remove(urc)
                    return urc
            self.urcs.append(await self.next_urc())

    async def upload(self, name: str, data: bytes) -> None:
        assert await self.cmd(f'AT+QFUPL="{name}",{len(data)},5') == b"\r\nCONNECT\r\n"
        self.at.write(data)
        want = f"\r\n+QFUPL: {len(data)},{ufs_checksum(data)}\r\n\r\nOK\r\n".encode()
        assert self.strip(await self.at.response()) == want


@dataclass
class Module:
    engine: Engine
    transport: TcpTransport
    runner: Runner
    trace: io.StringIO

    @property
    def port(self) -> int:
        return self.transport.port

    async def host(self, *, boot: bool = True) -> Host:
        """Connect a host; with ``boot`` read the boot URCs; then ATE0."""
        at = await AtClient.connect("127.0.0.1", self.port)
        if boot:
            assert await at.read_until(b"SMS DONE\r\n") == BOOT
        response = await at.command("ATE0")
        assert response.endswith(OK), response
        return Host(at)


@contextlib.asynccontextmanager
async def virtual_bg96(resolver: Resolver | None = None) -> AsyncIterator[Module]:
    loop = asyncio.get_running_loop()
    engine = Engine(store=MemoryStore(), now=loop.time())
    transport = TcpTransport("127.0.0.1", 0)
    log = io.StringIO()
    trace = Trace(log, clock=loop.time)
    runner = Runner(
        engine,
        transport,
        resolver=resolver or Resolver({SERVER_NAME: "127.0.0.1"}, system=False),
        trace=trace,
    )
    async with runner:
        yield Module(engine, transport, runner, log)


async def activate(host: Host) -> None:
    assert await host.cmd('AT+QICSGP=1,1,"CMCIOT","","",1') == OK
    assert await host.cmd("AT+QIACT=1") == OK


# ---- the manual's chapter 3.1-3.3 --------------------------------------------------------


def test_manual_chapter_3_flow(pki: TestPki) -> None:
    async def main() -> None:
        async with (
            ScriptedTlsServer(pki.server_ctx()) as server,
            virtual_bg96() as bg96,
        ):
            at = AtClient(*await asyncio.open_connection("127.0.0.1", bg96.port))
            assert await at.read_until(b"SMS DONE\r\n") == BOOT
            assert await at.command("ATE0") == b"ATE0\r\r\nOK\r\n"
            assert await at.command("AT") == OK
            # 3.1 PDP context
            assert await at.command('AT+QICSGP=1,1,"CMCIOT","","",1') == OK
            assert await at.command("AT+QIACT=1") == OK
            assert await at.command("AT+QIACT?") == b'\r\n+QIACT: 1,1,1,"10.7.157.1"\r\n' + OK
            # the CA goes into UFS
            ca = pki.ca_pem
            assert await at.command(f'AT+QFUPL="cacert.pem",{len(ca)},5') == b"\r\nCONNECT\r\n"
            at.write(ca)
            assert await at.response() == (
                f"\r\n+QFUPL: {len(ca)},{ufs_checksum(ca)}\r\n".encode() + OK
            )
            assert (
                await at.command("AT+QFLST")
                == f'\r\n+QFLST: "cacert.pem",{len(ca)}\r\n'.encode() + OK
            )
            # 3.2 SSL context
            for line in (
                'AT+QSSLCFG="sslversion",1,1',
                'AT+QSSLCFG="ciphersuite",1,0X0035',
                'AT+QSSLCFG="secllevel",1,1',
                'AT+QSSLCFG="cacert",1,"cacert.pem"',
            ):
                assert await at.command(line) == OK, line
            assert await at.command('AT+QSSLCFG="secllevel",1') == (
                b'\r\n+QSSLCFG: "secllevel",1,1\r\n' + OK
            )
            # 3.3.1 open in buffer access mode
            port = server.port
            assert await at.command(f'AT+QSSLOPEN=1,1,4,"{SERVER_NAME}",{port},0') == OK
            assert await at.read_until(b"\r\n", 10) == b"\r\n"
            assert await at.read_until(b"\r\n", 10) == b"+QSSLOPEN: 4,0\r\n"
            assert len(server.peers) == 1
            local_port = LocalPorts.FIRST  # the module's own port, not the host's
            assert await at.command("AT+QSSLSTATE") == (
                f'\r\n+QSSLSTATE: 4,"SSLClient","{SERVER_NAME}",{port},{local_port},'
                f'2,1,4,0,"uart1",1\r\n'.encode()
                + OK
            )
            # 3.3.2 send, variable length (Ctrl-Z) ...
            at.write(b"AT+QSSLSEND=4\r")
            assert await at.read_exactly(4) == b"\r\n> "
            at.write(MANUAL_DATA + b"\x1a")
            assert await at.response() == b"\r\nSEND OK\r\n"
            # 3.3.3 ... the URC, then read
            assert await at.read_exactly(22) == b'\r\n+QSSLURC: "recv",4\r\n'
            assert await at.command("AT+QSSLRECV=4,1500") == (
                b"\r\n+QSSLRECV: 18\r\nTest data from SSL\r\n\r\nOK\r\n"
            )
            assert await at.command("AT+QSSLRECV=4,1500") == b"\r\n+QSSLRECV: 0\r\n" + OK
            # ... and fixed length
            at.write(b"AT+QSSLSEND=4,18\r")
            assert await at.read_exactly(4) == b"\r\n> "
            at.write(MANUAL_DATA)
            assert await at.response() == b"\r\nSEND OK\r\n"
            assert await at.read_exactly(22) == b'\r\n+QSSLURC: "recv",4\r\n'
            assert (
                await at.command("AT+QSSLRECV=4,10") == b"\r\n+QSSLRECV: 10\r\nTest data \r\n" + OK
            )
            assert (
                await at.command("AT+QSSLRECV=4,1500") == b"\r\n+QSSLRECV: 8\r\nfrom SSL\r\n" + OK
            )
            assert await at.command("AT+QSSLRECV=4,0") == b"\r\n+QSSLRECV: 36,36,0\r\n" + OK
            assert bytes(server.received) == MANUAL_DATA * 2
            # 3.3.4 close; 3.1.3 deactivate
            assert await at.command("AT+QSSLCLOSE=4") == OK
            await until(lambda: server.endings == ["close_notify"])
            assert await at.command("AT+QSSLSTATE") == OK
            assert await at.command("AT+QIDEACT=1") == OK
            assert await at.command("AT+QIACT?") == OK
            assert await at.command("AT+QIGETERROR") == (
                b"\r\n+QIGETERROR: 0,operate successfully\r\n" + OK
            )
            await at.close()

    run(main)


# ---- twelve connections at once ---------------------------------------------------------

CONNECTIONS = 12
PAYLOAD_SIZE = 20 * 1024
CHUNK = 1460
# A spread of what the six contexts can be configured with (all within table 1 and 2).
CONTEXTS = (
    ("4", "0XFFFF"),
    ("3", "0X0035"),
    ("3", "0XC02F"),
    ("4", "0X002F"),
    ("1", "0XC013"),
    ("3", "0X003D"),
)


def payload_for(cid: int) -> bytes:
    """Pseudo-random bytes; some chunks start with what a command line or data phase could
    mistake for its own (LF, CR LF, Ctrl-Z, ESC, ``AT``, ``+++``)."""
    data = bytearray(random.Random(f"bg96 client {cid}").randbytes(PAYLOAD_SIZE))
    tricky = (b"\n", b"\r\n", b"\x1a", b"\x1b", b"AT\r", b"+++")
    for n, i in enumerate(range(0, PAYLOAD_SIZE, CHUNK)):
        if (n + cid) % 2 == 0:
            start = tricky[(n // 2 + cid) % len(tricky)]
            data[i : i + len(start)] = start
    return bytes(data)


def test_twelve_connections_over_six_contexts(pki: TestPki) -> None:
    async def main() -> None:
        started = time.monotonic()
        async with TlsEchoServer(pki.server_ctx()) as server, virtual_bg96() as bg96:
            host = await bg96.host()
            await activate(host)
            await host.upload("ca.pem", pki.ca_pem)
            for ctx, (version, suite) in enumerate(CONTEXTS):
                for line in (
                    f'AT+QSSLCFG="sslversion",{ctx},{version}',
                    f'AT+QSSLCFG="ciphersuite",{ctx},{suite}',
                    f'AT+QSSLCFG="seclevel",{ctx},1',
                    f'AT+QSSLCFG="cacert",{ctx},"ca.pem"',
                ):
                    assert await host.cmd(line) == OK, line
            # all twelve opens are in flight together
            for cid in range(CONNECTIONS):
                line = f'AT+QSSLOPEN=1,{cid % 6},{cid},"{SERVER_NAME}",{server.port},0'
                assert await host.cmd(line) == OK
            for cid in range(CONNECTIONS):
                await host.urc(f"+QSSLOPEN: {cid},0".encode())
            state = await host.cmd("AT+QSSLSTATE")
            rows = re.findall(
                rb'\+QSSLSTATE: (\d+),"SSLClient",[^\r]*,2,1,\d+,0,"uart1",(\d)', state
            )
            assert [(int(a), int(b)) for a, b in rows] == [(c, c % 6) for c in range(CONNECTIONS)]

            payloads = {cid: payload_for(cid) for cid in range(CONNECTIONS)}
            sent = dict.fromkeys(payloads, 0)
            echoed = {cid: bytearray() for cid in payloads}

            async def drain(cid: int) -> None:
                while data := await host.recv(cid, 1500):
                    echoed[cid] += data

            while any(sent[c] < PAYLOAD_SIZE for c in payloads):
                for cid, data in payloads.items():
                    if sent[cid] < PAYLOAD_SIZE:
                        await host.send(cid, data[sent[cid] : sent[cid] + CHUNK])
                        sent[cid] += min(CHUNK, PAYLOAD_SIZE - sent[cid])
                for cid in payloads:
                    await drain(cid)
            deadline = time.monotonic() + 10
            while any(len(echoed[c]) < PAYLOAD_SIZE for c in payloads):
                assert time.monotonic() < deadline, {c: len(e) for c, e in echoed.items()}
                await asyncio.sleep(0.01)
                for cid in payloads:
                    await drain(cid)
            for cid, data in payloads.items():
                assert bytes(echoed[cid]) == data, f"client {cid}"
                assert await host.cmd(f"AT+QSSLRECV={cid},0") == (
                    f"\r\n+QSSLRECV: {PAYLOAD_SIZE},{PAYLOAD_SIZE},0\r\n".encode() + OK
                )
            assert len(server.received) == CONNECTIONS * PAYLOAD_SIZE
            assert server.connections == CONNECTIONS
            for cid in payloads:
                assert await host.cmd(f"AT+QSSLCLOSE={cid}") == OK
            assert await host.cmd("AT+QSSLSTATE") == OK
            await host.at.close()
        assert time.monotonic() - started < 15

    run(main)


# ---- failures ---------------------------------------------------------------------------


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize("case", ["unknown CA", "closed port", "unknown name", "inactive PDP"])
def test_failed_open_reports_the_cause_and_the_module_goes_on(pki: TestPki, case: str) -> None:
    async def main() -> None:
        other = TestPki("a CA that signed nothing here")
        async with TlsEchoServer(pki.server_ctx()) as server, virtual_bg96() as bg96:
            host = await bg96.host()
            await activate(host)
            await host.upload("good.pem", pki.ca_pem)
            await host.upload("other.pem", other.ca_pem)
            for ctx, ca in ((1, "good.pem"), (2, "other.pem")):
                assert await host.cmd(f'AT+QSSLCFG="seclevel",{ctx},1') == OK
                assert await host.cmd(f'AT+QSSLCFG="cacert",{ctx},"{ca}"') == OK
            cid = 3
            if case == "inactive PDP":
                line = f'AT+QSSLOPEN=2,1,{cid},"{SERVER_NAME}",{server.port},0'
                assert await host.at.command(line) == OK
                urc = f"\r\n+QSSLOPEN: {cid},561\r\n".encode()
                assert await host.at.read_exactly(len(urc)) == urc
                code = 561
            else:
                ctx, name, port, code = {
                    "unknown CA": (2, SERVER_NAME, server.port, 566),
                    "closed port": (1, "127.0.0.1", closed_port(), 566),
                    "unknown name": (1, "nowhere.bg96.test", server.port, 565),
                }[case]
                assert await host.open(ctx, cid, name, port) == f"+QSSLOPEN: {cid},{code}".encode()
            assert (await host.cmd("AT+QIGETERROR")).startswith(
                f"\r\n+QIGETERROR: {code},".encode()
            )
            assert await host.cmd("AT+QSSLSTATE") == OK
            assert await host.cmd("AT") == OK
            # the same client ID opens fine afterwards
            assert (
                await host.open(1, cid, SERVER_NAME, server.port) == f"+QSSLOPEN: {cid},0".encode()
            )
            assert await host.cmd("AT+QIGETERROR") == (
                b"\r\n+QIGETERROR: 0,operate successfully\r\n" + OK
            )
            await host.send(cid, b"still working")
            await host.urc(f'+QSSLURC: "recv",{cid}'.encode())
            assert await host.recv(cid) == b"still working"
            assert await host.cmd(f"AT+QSSLCLOSE={cid}") == OK
            assert host.urcs == []
            await host.at.close()

    run(main)


# ---- the server closes -----------------------------------------------------------------


def test_server_closes_after_sending(pki: TestPki) -> None:
    greeting = b"goodbye from the server"

    async def main() -> None:
        async with (
            ScriptedTlsServer(pki.server_ctx(), greeting=greeting, hang_up=True) as server,
            virtual_bg96() as bg96,
        ):
            host = await bg96.host()
            await activate(host)
            assert await host.cmd(f'AT+QSSLOPEN=1,0,1,"127.0.0.1",{server.port},0') == OK
            assert await host.next_urc() == b"+QSSLOPEN: 1,0"
            assert await host.next_urc() == b'+QSSLURC: "recv",1'
            assert await host.next_urc() == b'+QSSLURC: "closed",1'
            assert server.endings == ["server hung up"]
            assert len(server.peers) == 1
            local_port = LocalPorts.FIRST
            assert await host.cmd("AT+QSSLSTATE") == (
                f'\r\n+QSSLSTATE: 1,"SSLClient","127.0.0.1",{server.port},{local_port},'
                f'4,1,1,0,"uart1",0\r\n'.encode()
                + OK
            )
            assert await host.cmd("AT+QSSLSEND=1,5") == ERROR
            assert await host.recv(1, 8) == greeting[:8]
            assert await host.recv(1) == greeting[8:]
            assert await host.recv(1) == b""
            assert await host.cmd("AT+QSSLCLOSE=1") == OK
            assert await host.cmd("AT+QSSLSTATE") == OK
            assert await host.cmd("AT") == OK
            await host.at.close()

    run(main)


def test_server_floods_past_the_receive_buffer_and_the_host_reads_it_all(pki: TestPki) -> None:
    flood = random.Random("flood").randbytes(300_000)  # well past the 64 KiB receive buffer

    async def main() -> None:
        async with (
            ScriptedTlsServer(pki.server_ctx(), greeting=flood) as server,
            virtual_bg96() as bg96,
        ):
            host = await bg96.host()
            await activate(host)
            assert await host.open(0, 7, "127.0.0.1", server.port) == b"+QSSLOPEN: 7,0"
            await host.urc(b'+QSSLURC: "recv",7')
            got = bytearray()
            async with asyncio.timeout(10):
                while len(got) < len(flood):
                    data = await host.recv(7)
                    if not data:
                        await asyncio.sleep(0.005)
                    got += data
            assert bytes(got) == flood
            assert await host.cmd("AT+QSSLRECV=7,0") == b"\r\n+QSSLRECV: 300000,300000,0\r\n" + OK
            assert host.urcs == []  # one URC until the buffer was read empty, none since
            assert await host.cmd("AT+QSSLCLOSE=7") == OK
            await host.at.close()

    run(main)


# ---- the host side: disconnects, a second host, the pty -------------------------------


def test_host_leaves_at_the_prompt_and_the_next_host_finds_the_module_in_sync(
    pki: TestPki,
) -> None:
    async def main() -> None:
        async with TlsEchoServer(pki.server_ctx()) as server, virtual_bg96() as bg96:
            host = await bg96.host()
            await activate(host)
            await host.upload("keep.pem", pki.ca_pem)
            assert await host.open(0, 0, SERVER_NAME, server.port) == b"+QSSLOPEN: 0,0"
            host.at.write(b"AT+QSSLSEND=0,100\r")
            assert await host.at.read_exactly(4) == b"\r\n> "
            host.at.write(b"only ten b")
            await asyncio.sleep(0.05)
            await host.at.close()
            await until(lambda: "-- host disconnected" in bg96.trace.getvalue())

            at = await AtClient.connect("127.0.0.1", bg96.port)
            # no reboot: no boot URCs, and ATE0 still holds
            assert await at.command("AT") == OK
            assert await at.command("AT+QFLST") == (
                f'\r\n+QFLST: "keep.pem",{len(pki.ca_pem)}\r\n'.encode() + OK
            )
            second = Host(at)
            state = await second.cmd("AT+QSSLSTATE=0")
            assert re.fullmatch(
                rb'\r\n\+QSSLSTATE: 0,"SSLClient",[^\r]*,2,1,0,0,"uart1",0\r\n\r\nOK\r\n', state
            )
            assert bytes(server.received) == b""  # the half-typed data was never sent
            await second.send(0, b"after the reconnect")
            await second.urc(b'+QSSLURC: "recv",0')
            assert await second.recv(0) == b"after the reconnect"
            assert bytes(server.received) == b"after the reconnect"
            assert await second.cmd("AT+QSSLCLOSE=0") == OK
            await at.close()

    run(main)


def test_a_second_tcp_host_is_refused_while_the_first_is_connected() -> None:
    async def main() -> None:
        async with virtual_bg96() as bg96:
            host = await bg96.host()
            reader, writer = await asyncio.open_connection("127.0.0.1", bg96.port)
            writer.write(b"AT\r")
            try:
                got = await asyncio.wait_for(reader.read(), 5)
            except ConnectionResetError:
                got = b""
            assert got == b""  # closed at once, nothing written to it
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            assert await host.cmd("AT") == OK
            assert await host.cmd("ATI") == (
                b"\r\nQuectel\r\nBG96\r\nRevision: BG96MAR02A07M1G\r\n" + OK
            )
            await host.at.close()

    run(main)


async def read_fd(fd: int, until_marker: bytes, timeout: float = 5.0) -> bytes:
    got = bytearray()
    async with asyncio.timeout(timeout):
        while until_marker not in got:
            try:
                got += os.read(fd, 4096)
            except BlockingIOError:
                await asyncio.sleep(0.002)
    return bytes(got)


def serial_at(path: str) -> bytes:
    """Open the device with pyserial (blocking, so in a thread), send AT, read to OK."""
    with serial.Serial(path, 115200, timeout=0.2) as port:
        port.write(b"AT\r")
        got = bytearray()
        deadline = time.monotonic() + 5
        while not got.endswith(b"OK\r\n") and time.monotonic() < deadline:
            got += port.read(64)
    return bytes(got)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux pty")
def test_pty_transport_boots_and_answers() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        transport = PtyTransport()
        engine = Engine(store=MemoryStore(), now=loop.time())
        async with Runner(engine, transport, resolver=Resolver(system=False)):
            assert transport.path.startswith("/dev/pts/")
            fd = os.open(transport.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
            try:
                assert await read_fd(fd, b"SMS DONE\r\n") == BOOT
                os.write(fd, b"AT\r")
                assert await read_fd(fd, b"OK\r\n") == b"AT\r\r\nOK\r\n"
            finally:
                os.close(fd)
            # a pyserial host opening the device afterwards
            answer = await asyncio.to_thread(serial_at, transport.path)
            assert answer == b"AT\r\r\nOK\r\n"

    run(main)


# ---- stopping ---------------------------------------------------------------------------


def test_runner_stop_sends_close_notify_on_every_connection(pki: TestPki) -> None:
    async def main() -> None:
        async with ScriptedTlsServer(pki.server_ctx()) as server, virtual_bg96() as bg96:
            host = await bg96.host()
            await activate(host)
            for cid in (0, 5, 11):
                assert await host.open(cid % 6, cid, SERVER_NAME, server.port) == (
                    f"+QSSLOPEN: {cid},0".encode()
                )
            assert bg96.runner.connections == 3
            await bg96.runner.stop()
            assert bg96.runner.connections == 0
            await until(lambda: len(server.endings) == 3)
            assert server.endings == ["close_notify"] * 3
            with contextlib.suppress(ConnectionError):
                assert await asyncio.wait_for(host.at.reader.read(), 5) == b""
            await host.at.close()

    run(main)


# ---- line ends around the prompt -------------------------------------------------------


def test_lf_after_the_prompt_is_data_but_crlf_ends_the_command_line(pki: TestPki) -> None:
    """A host that waited for ``> `` sends data: a leading LF is payload. A host that ends
    the command with CR LF in one write (TinyGSM) does not send that LF as payload."""

    async def main() -> None:
        async with TlsEchoServer(pki.server_ctx()) as server, virtual_bg96() as bg96:
            host = await bg96.host()
            await activate(host)
            assert await host.open(0, 0, SERVER_NAME, server.port) == b"+QSSLOPEN: 0,0"
            host.at.write(b"AT+QSSLSEND=0,4\r")
            assert await host.at.read_exactly(4) == b"\r\n> "
            host.at.write(b"\nabc")
            assert await host.at.response(timeout=2) == b"\r\nSEND OK\r\n"
            await host.urc(b'+QSSLURC: "recv",0')
            assert await host.recv(0) == b"\nabc"
            host.at.write(b"AT+QSSLSEND=0,4\r\n")
            assert await host.at.read_exactly(4) == b"\r\n> "
            host.at.write(b"wxyz")
            assert await host.at.response(timeout=2) == b"\r\nSEND OK\r\n"
            await host.urc(b'+QSSLURC: "recv",0')
            assert await host.recv(0) == b"wxyz"
            assert bytes(server.received) == b"\nabcwxyz"
            assert await host.cmd("AT") == OK
            await host.at.close()

    run(main)
