"""End to end: transparent and direct push modes, mode switches, RFC 2217 lines, pacing.

The real Runner on a real transport (TCP, or RFC 2217 driven by pyserial in a thread) against
a loopback TLS server the tests script (:class:`TlsServer`). Engine-level versions of the same
features, on a virtual clock, are in ``test_access_modes.py``; here the runner's wiring is
what is under test. Only ``test_transparent_mode_over_tcp`` waits out real ``+++`` guard
times; ``test_pacing_*`` waits for a 9600-baud UART (about 2 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import random
import re
import ssl
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import pytest
import serial
from serial import rfc2217

from bg96.engine import Engine, MemoryStore
from bg96.module.connections import LocalPorts
from bg96.module.resolve import Resolver
from bg96.module.runner import Runner
from bg96.module.trace import Trace
from bg96.module.transports.rfc2217 import Rfc2217Transport
from bg96.module.transports.tcp import TcpTransport
from bg96.testing import TestPki
from bg96.testing.at_client import AtClient
from bg96.testing.tls_server import LoopbackServer
from tests import aio
from tests.aio import until

OK = b"\r\nOK\r\n"
CONNECT = b"\r\nCONNECT\r\n"
NO_CARRIER = b"\r\nNO CARRIER\r\n"
LOOPBACK = "127.0.0.1"

# pyserial 3.5's RFC 2217 client still calls Thread.setDaemon/setName
pytestmark = pytest.mark.filterwarnings(
    r"ignore:set(Daemon|Name)\(\) is deprecated:DeprecationWarning"
)

# Every byte value, several times over, and what a command line, a data phase or the
# escape sequence could mistake for its own.
TRICKY = (
    b"+",
    b"++",
    b"+++",
    b"\x1a",
    b"\x1b",
    b"\r\n",
    b"\r",
    b"\n",
    b"AT\r",
    b"AT+QSSLCLOSE=4\r",
)
ALL_BYTES = bytes(range(256)) * 3 + b"".join(TRICKY) + bytes(reversed(range(256))) * 3


def run(main: Callable[[], Coroutine[Any, Any, None]], timeout: float = 20.0) -> None:
    aio.run(main, timeout)


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
    """``until`` for a host thread."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.005)


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return TestPki("bg96 e2e modes CA")


# ---- a TLS server the tests drive ---------------------------------------------------------


class Peer:
    """The server end of one TLS (or, with no ``tls``, plain TCP) connection: what it
    received, ``send``, ``close``.

    ``ending`` says how the connection ended once it has: ``"close_notify"`` (the module
    closed cleanly), ``"eof"`` (TCP FIN without close_notify), ``"server closed"``, ...
    """

    def __init__(
        self, tls: ssl.SSLObject | None, outgoing: ssl.MemoryBIO, writer: asyncio.StreamWriter
    ):
        self._tls = tls
        self._outgoing = outgoing
        self._writer = writer
        self.received = bytearray()
        self.ending: str | None = None
        self.closed_by_server = False

    def send(self, data: bytes) -> None:
        if self.ending is not None or self.closed_by_server:
            raise ConnectionError("the connection is over")
        if self._tls is None:
            self._writer.write(data)
            return
        self._tls.write(data)
        self._flush()

    async def drain(self) -> None:
        await self._writer.drain()

    def close(self) -> None:
        """close_notify, then FIN."""
        self.closed_by_server = True
        with contextlib.suppress(ssl.SSLError):
            if self._tls is not None:
                self._tls.unwrap()
        self._flush()
        self._writer.close()

    def _flush(self) -> None:
        if out := self._outgoing.read():
            self._writer.write(out)


class TlsServer(LoopbackServer):
    """A loopback TLS server over MemoryBIOs (plain TCP with no ``ctx``); echoes what it
    receives unless ``echo=False``."""

    def __init__(self, ctx: ssl.SSLContext | None, *, echo: bool = True) -> None:
        super().__init__()
        self._ctx = ctx
        self._echo = echo
        self.peers: list[Peer] = []

    async def peer(self, index: int = 0, timeout: float = 5.0) -> Peer:
        """The ``index``-th connection that completed its handshake."""
        await until(lambda: len(self.peers) > index, timeout)
        return self.peers[index]

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await self._serve(reader, writer)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        if self._ctx is None:
            plain = Peer(None, outgoing, writer)
            self.peers.append(plain)
            while data := await reader.read(65536):
                plain.received += data
                if self._echo and not plain.closed_by_server:
                    plain.send(data)
                    await plain.drain()
            plain.ending = "server closed" if plain.closed_by_server else "eof"
            return
        tls = self._ctx.wrap_bio(incoming, outgoing, server_side=True)
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                if out := outgoing.read():
                    writer.write(out)
            data = await reader.read(65536)
            if not data:
                return
            incoming.write(data)
        if out := outgoing.read():
            writer.write(out)
        peer = Peer(tls, outgoing, writer)
        self.peers.append(peer)
        try:
            peer.ending = await self._relay(peer, tls, incoming, reader)
        except ConnectionError as exc:
            peer.ending = f"connection error: {exc!r}"

    async def _relay(
        self, peer: Peer, tls: ssl.SSLObject, incoming: ssl.MemoryBIO, reader: asyncio.StreamReader
    ) -> str:
        while True:
            data = await reader.read(65536)
            if not data:
                return "server closed" if peer.closed_by_server else "eof"
            incoming.write(data)
            while True:
                try:
                    chunk = tls.read(65536)
                except ssl.SSLWantReadError:
                    break
                except ssl.SSLZeroReturnError:
                    return "close_notify"
                except ssl.SSLError as exc:
                    return f"TLS error: {exc.reason}"
                if not chunk:
                    return "close_notify"
                peer.received += chunk
                if self._echo and not peer.closed_by_server:
                    peer.send(chunk)
            if self._echo:
                await peer.drain()


# ---- the module ----------------------------------------------------------------------------


@dataclass
class Module:
    engine: Engine
    transport: TcpTransport
    runner: Runner
    log: io.StringIO

    @property
    def trace(self) -> str:
        return self.log.getvalue()


@contextlib.asynccontextmanager
async def virtual_bg96(*, rfc2217: bool = False, pace: bool = False) -> AsyncIterator[Module]:
    loop = asyncio.get_running_loop()
    engine = Engine(store=MemoryStore(), now=loop.time())
    transport = Rfc2217Transport(LOOPBACK, 0) if rfc2217 else TcpTransport(LOOPBACK, 0)
    log = io.StringIO()
    trace = Trace(log, clock=loop.time)
    runner = Runner(engine, transport, resolver=Resolver(system=False), trace=trace, pace=pace)
    async with runner:
        yield Module(engine, transport, runner, log)


async def tcp_host(bg96: Module, *, boot: bool = True) -> AtClient:
    """A host on the TCP transport after ``ATE0`` (and, with ``boot``, the boot URCs)."""
    at = await AtClient.connect(LOOPBACK, bg96.transport.port)
    if boot:
        await at.read_until(b"APP RDY\r\n")
    assert (await at.command("ATE0")).endswith(OK)
    return at


def open_line(cid: int, port: int, mode: int) -> bytes:
    return f'AT+QSSLOPEN=1,0,{cid},"{LOOPBACK}",{port},{mode}\r'.encode()


def state_row(cid: int, port: int, local: int, state: int, mode: int) -> bytes:
    """One ``+QSSLSTATE`` line (PDP 1, SSL context 0, the ``uart1`` port)."""
    return (
        f'+QSSLSTATE: {cid},"SSLClient","{LOOPBACK}",{port},{local},'
        f'{state},1,{cid},{mode},"uart1",0\r\n'
    ).encode()


# ---- transparent mode over TCP, with real +++ guard times ----------------------------------


def test_transparent_mode_over_tcp(pki: TestPki) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        async with TlsServer(pki.server_ctx()) as server, virtual_bg96() as bg96:
            host = await tcp_host(bg96)
            assert await host.command("AT+QIACT=1") == OK
            host.write(open_line(4, server.port, 2))
            assert await host.read_exactly(len(CONNECT)) == CONNECT
            peer = await server.peer()
            assert bg96.engine.dcd  # AT&C1: DCD follows the connection

            # every byte value, in chunks of several sizes, echoed byte for byte
            sent = bytearray()
            for size in (1, 7, 300, 1024, 1500, len(ALL_BYTES)):
                for i in range(0, len(ALL_BYTES), size):
                    chunk = ALL_BYTES[i : i + size]
                    host.write(chunk)
                    sent += chunk
                assert await host.read_exactly(len(ALL_BYTES)) == ALL_BYTES
            assert bytes(peer.received) == bytes(sent)
            # "+++" with no silence before it is data
            host.write(b"+++")
            assert await host.read_exactly(3) == b"+++"

            # +++ with 1 s of silence on either side: command mode, the connection kept
            await asyncio.sleep(1.1)
            before = len(peer.received)
            host.write(b"+++")
            started = loop.time()
            assert await host.read_exactly(len(OK), timeout=3) == OK
            assert loop.time() - started >= 0.99  # the guard time after the third +
            assert len(peer.received) == before  # the escape is not data
            assert await host.command("AT+QSSLSTATE") == (
                b"\r\n" + state_row(4, server.port, LocalPorts.FIRST, 2, 0) + OK
            )
            assert bg96.engine.dcd  # the connection is still up
            # what the server sends meanwhile is buffered, announced by a URC
            away = b"while away \x00\xff+++"
            peer.send(away)
            assert await host.read_exactly(22) == b'\r\n+QSSLURC: "recv",4\r\n'
            # ATO: back to the connection, what was buffered first
            assert await host.command("ATO") == CONNECT
            assert await host.read_exactly(len(away)) == away
            host.write(ALL_BYTES)
            assert await host.read_exactly(len(ALL_BYTES)) == ALL_BYTES
            peer.send(b"from the server")
            assert await host.read_exactly(15) == b"from the server"
            host.write(b"AT\r")  # data, not a command
            assert await host.read_exactly(3) == b"AT\r"

            # the server closes: NO CARRIER, command mode
            peer.close()
            assert await host.read_exactly(len(NO_CARRIER)) == NO_CARRIER
            assert await host.command("AT+QSSLSTATE") == (
                b"\r\n" + state_row(4, server.port, LocalPorts.FIRST, 4, 2) + OK
            )
            assert await host.command("AT+QSSLCLOSE=4") == OK
            assert await host.command("AT+QSSLSTATE") == OK
            assert await host.command("ATO") == NO_CARRIER
            assert not bg96.engine.dcd
            assert bytes(peer.received) == bytes(sent) + b"+++" + ALL_BYTES + b"AT\r"
            await host.close()

    run(main)


# ---- direct push mode --------------------------------------------------------------------


async def read_push(at: AtClient, cid: int) -> bytes:
    """One ``+QSSLURC: "recv",<id>,<len>`` URC with its data; checks the framing."""
    head = f'\r\n+QSSLURC: "recv",{cid},'.encode()
    assert await at.read_exactly(len(head)) == head
    length = int((await at.read_until(b"\r\n"))[:-2])
    assert 1 <= length <= 1500, length
    data = await at.read_exactly(length)
    assert await at.read_exactly(2) == b"\r\n"
    return data


def test_direct_push_mode_binary_data(pki: TestPki) -> None:
    pushed = bytes(range(256)) * 24 + b"".join(TRICKY)  # 6144 + bytes: several URCs

    async def main() -> None:
        async with TlsServer(pki.server_ctx()) as server, virtual_bg96() as bg96:
            host = await tcp_host(bg96)
            assert await host.command("AT+QIACT=1") == OK
            assert await host.command(open_line(2, server.port, 1)[:-1]) == OK
            assert await host.read_exactly(18) == b"\r\n+QSSLOPEN: 2,0\r\n"
            peer = await server.peer()
            # from the server, in records of several sizes
            records = [
                (pushed[i * 997 :] + pushed[: i * 997])[:size]
                for i, size in enumerate((1, 1499, 1500, 1501, 4000, 16384))
            ]
            for record in records:
                peer.send(record)
            expected = b"".join(records)
            got = bytearray()
            while len(got) < len(expected):
                got += await read_push(host, 2)
            assert bytes(got) == expected
            # the host's QSSLSEND data comes back (echo) as pushes too
            for i in range(0, len(pushed), 1460):
                chunk = pushed[i : i + 1460]
                host.write(f"AT+QSSLSEND=2,{len(chunk)}\r".encode())
                assert await host.read_exactly(4) == b"\r\n> "
                host.write(chunk)
                assert await host.read_exactly(11) == b"\r\nSEND OK\r\n"
                echoed = bytearray()
                while len(echoed) < len(chunk):
                    echoed += await read_push(host, 2)
                assert bytes(echoed) == chunk
            assert bytes(peer.received) == pushed
            # AT+QSSLRECV is for buffer mode only
            assert await host.command("AT+QSSLRECV=2,1500") == b"\r\nERROR\r\n"
            assert await host.command("AT+QSSLCLOSE=2") == OK
            await until(lambda: peer.ending is not None)
            assert peer.ending == "close_notify"
            await host.close()

    run(main)


# ---- a host on pyserial (blocking, in a thread), with framing ------------------------------


class SerialHost:
    """A pyserial port (``socket://`` or ``rfc2217://``) with a read buffer and a parser."""

    FINAL = re.compile(rb"\r\n(OK|ERROR|\+CME ERROR: [^\r]*|SEND OK|NO CARRIER|CONNECT)\r\n")

    def __init__(self, port: serial.SerialBase) -> None:
        self.port = port
        self.buf = bytearray()

    def write(self, data: bytes) -> None:
        self.port.write(data)

    def _fill(self, deadline: float, what: object) -> None:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what!r}; have {bytes(self.buf[-200:])!r}")
        self._read()

    def _read(self) -> None:
        """What has arrived (the port is non-blocking: ``timeout=0``)."""
        chunk = self.port.read(65536)
        if chunk:
            self.buf += chunk
        else:
            time.sleep(0.001)

    def read_exactly(self, n: int, timeout: float = 5.0) -> bytes:
        deadline = time.monotonic() + timeout
        while len(self.buf) < n:
            self._fill(deadline, n)
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_until(self, marker: bytes, timeout: float = 5.0) -> bytes:
        deadline = time.monotonic() + timeout
        while (i := self.buf.find(marker)) < 0:
            self._fill(deadline, marker)
        out = bytes(self.buf[: i + len(marker)])
        del self.buf[: i + len(marker)]
        return out

    def expect(self, data: bytes, timeout: float = 5.0) -> None:
        got = self.read_exactly(len(data), timeout)
        assert got == data, (got, data)

    def response(self, timeout: float = 5.0) -> bytes:
        deadline = time.monotonic() + timeout
        while (m := self.FINAL.search(self.buf)) is None:
            self._fill(deadline, "a final result code")
        out = bytes(self.buf[: m.end()])
        del self.buf[: m.end()]
        return out

    def command(self, line: str | bytes, timeout: float = 5.0) -> bytes:
        self.write((line.encode() if isinstance(line, str) else line) + b"\r")
        return self.response(timeout)

    def quiet(self, seconds: float) -> bytes:
        """Whatever arrives within ``seconds`` (expected: nothing)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._read()
        out = bytes(self.buf)
        self.buf.clear()
        return out

    def available(self) -> bytes:
        """What has arrived so far (raw, in transparent mode)."""
        self.buf += self.port.read(65536)
        out = bytes(self.buf)
        self.buf.clear()
        return out

    def item(self, timeout: float = 5.0) -> tuple[str, bytes]:
        """The next response element (ATV1, ATE0): a result line, the ``> `` prompt, a
        ``+QSSLRECV`` response with its data, a push URC with its data, a ``recv`` URC."""
        self.expect(b"\r\n", timeout)
        first = self.read_exactly(2, timeout)
        if first == b"> ":
            return "prompt", b""
        line = first + self.read_until(b"\r\n", timeout)[:-2]
        if line.startswith((b'+QSSLURC: "recv",', b'+QIURC: "recv",')):
            fields = line.split(b",")
            if len(fields) == 2:
                return "recv urc", line
            data = self.read_exactly(int(fields[2]), timeout)
            self.expect(b"\r\n", timeout)
            return "push", data
        if line.startswith((b"+QSSLRECV: ", b"+QIRD: ")):
            count = int(line.split(b": ")[1])
            data = self.read_exactly(count, timeout) if count else b""
            self.expect(b"\r\n" + OK if count else OK, timeout)
            return "recv", data
        return "line", line


@dataclass
class Stream:
    """One direction's bytes: a running SHA-256 and count."""

    sha: Any = None
    count: int = 0

    def __post_init__(self) -> None:
        self.sha = hashlib.sha256()

    def add(self, data: bytes) -> None:
        self.sha.update(data)
        self.count += len(data)

    @property
    def digest(self) -> str:
        return str(self.sha.hexdigest())


class SwitchingHost:
    """Drives connection ``cid`` through access modes while data flows both ways.

    Everything the server sent reaches ``got`` in order, whatever the mode: push URCs,
    ``AT+QSSLRECV`` responses, raw bytes in transparent mode. Host data goes out through
    ``AT+QSSLSEND`` or raw, and is hashed into ``sent``.
    """

    def __init__(self, host: SerialHost, cid: int, seed: str, *, ssl: bool = True) -> None:
        self.h = host
        self.cid = cid
        self.send_cmd, self.recv_cmd = ("QSSLSEND", "QSSLRECV") if ssl else ("QISEND", "QIRD")
        self.rng = random.Random(seed)
        self.got = Stream()
        self.sent = Stream()
        self.mode = 0
        self.switches: list[int] = []

    def _until(self, kind: str, line: bytes = b"") -> None:
        """Parse elements, keeping server data, up to the ``kind`` (``line``) one."""
        while True:
            got_kind, data = self.h.item()
            if got_kind == "push":
                assert self.mode == 1, "a push URC outside direct push mode"
                self.got.add(data)
            elif got_kind == "recv urc":
                assert self.mode == 0, "a recv URC outside buffer mode"
            elif got_kind == kind and (kind != "line" or data == line):
                return
            else:
                raise AssertionError(f"unexpected {got_kind} {data[:60]!r}")

    def payload(self) -> bytes:
        data = self.rng.randbytes(self.rng.randint(4, 1460))
        self.sent.add(data)
        return data

    def qsslsend(self) -> None:
        data = self.payload()
        self.h.write(f"AT+{self.send_cmd}={self.cid},{len(data)}\r".encode())
        self._until("prompt")
        self.h.write(data)
        self._until("line", b"SEND OK")

    def qsslrecv(self, reads: int) -> None:
        for _ in range(reads):
            self.h.write(f"AT+{self.recv_cmd}={self.cid},1500\r".encode())
            while True:
                kind, data = self.h.item()
                if kind == "recv":
                    break
                assert kind == "recv urc", (kind, data[:60])
            self.got.add(data)
            if not data:
                return

    def switch(self, mode: int) -> None:
        """AT+QISWTMD to buffer (0) or push (1) mode."""
        self.h.write(f"AT+QISWTMD={self.cid},{mode}\r".encode())
        self._until("line", b"OK")
        self.mode = mode
        self.switches.append(mode)

    def enter_transparent(self, ato: bool) -> None:
        self.h.write(b"ATO\r" if ato else f"AT+QISWTMD={self.cid},2\r".encode())
        self._until("line", b"CONNECT")
        self.mode = 2
        self.switches.append(2)

    def transparent_traffic(self, seconds: float) -> None:
        """Raw bytes both ways for a while (the server never sends CR LF, so the host can
        tell its data from the module's result codes)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.h.write(self.payload())
            time.sleep(0.005)
            self.raw(self.h.available())

    def raw(self, data: bytes) -> None:
        assert b"\r\n" not in data, "a result code in transparent mode"
        self.got.add(data)

    def leave_by_dtr(self) -> None:
        """DTR off (AT&D1): ``OK``, buffer mode; what came before it is server data."""
        self.h.port.dtr = False
        data = self.h.read_until(OK)
        self.raw(data[: -len(OK)])
        self.h.port.dtr = True
        self.mode = 0
        self.switches.append(0)

    def traffic(self) -> None:
        """Some of both directions in buffer or push mode."""
        for _ in range(self.rng.randint(1, 3)):
            self.qsslsend()
            if self.mode == 0:
                self.qsslrecv(self.rng.randint(1, 4))
        time.sleep(0.005)


def no_crlf(chunk: bytearray, previous_last: int) -> None:
    """Remove CR LF pairs (also across chunks): every byte value stays, only the pair goes."""
    if previous_last == 0x0D and chunk[:1] == b"\n":
        chunk[0] = 0
    for i in range(len(chunk) - 1):
        if chunk[i] == 0x0D and chunk[i + 1] == 0x0A:
            chunk[i + 1] = 0


async def pump(
    peer: Peer, stop: threading.Event, done: threading.Event, out: Stream, seed: str
) -> None:
    """Server data in random-sized records every few ms until ``stop``; then ``done``."""
    rng = random.Random(seed)
    last = 0
    try:
        while not stop.is_set():
            chunk = bytearray(rng.randbytes(rng.randint(1, 2000)))
            no_crlf(chunk, last)
            last = chunk[-1]
            peer.send(bytes(chunk))
            out.add(bytes(chunk))
            await peer.drain()
            await asyncio.sleep(0.004)
    finally:
        done.set()


def open_serial(url: str) -> SerialHost:
    """pyserial on ``url``; after the boot output (pyserial's RFC 2217 client purges what came
    before its negotiation ended, so the boot URCs are not asserted here) and ``ATE0``."""
    port = serial.serial_for_url(url, baudrate=115200, timeout=0)
    host = SerialHost(port)
    time.sleep(0.15)  # APP RDY comes 50 ms after the host attached
    host.quiet(0.05)
    assert host.command("ATE0").endswith(OK)
    assert host.command("AT") == OK
    return host


@pytest.mark.parametrize(
    ("transport", "family"), [("tcp", "ssl"), ("rfc2217", "ssl"), ("tcp", "plain")]
)
def test_mode_switches_under_load_lose_nothing(pki: TestPki, transport: str, family: str) -> None:
    """Buffer, push and transparent mode in turn on one connection while both sides send.

    Over TCP the host switches 0 <-> 1 many times and ends in 2; over RFC 2217 it also
    leaves transparent mode by dropping DTR (AT&D1) and returns with ATO or AT+QISWTMD.
    SHA-256 of each direction: no byte lost, duplicated or reordered. ``family`` ``plain``: a
    plain TCP socket (AT+QIOPEN, QISEND, QIRD) to a plain server, through the same mechanics.
    """
    rfc2217 = transport == "rfc2217"
    ssl_socket = family == "ssl"

    async def main() -> None:
        async with (
            TlsServer(pki.server_ctx() if ssl_socket else None, echo=False) as server,
            virtual_bg96(rfc2217=rfc2217) as bg96,
        ):
            stop, done = threading.Event(), threading.Event()
            from_server = Stream()
            connected = threading.Event()
            pump_task: list[asyncio.Task[None]] = []
            loop = asyncio.get_running_loop()

            def start_pump() -> None:
                peer = server.peers[0]
                pump_task.append(loop.create_task(pump(peer, stop, done, from_server, "s")))
                connected.set()

            def host_side() -> SwitchingHost:
                h = open_serial(bg96.transport.url)
                assert h.command("AT+QIACT=1") == OK
                if ssl_socket:
                    h.write(open_line(0, server.port, 0))
                    h.expect(OK)
                    h.expect(b"\r\n+QSSLOPEN: 0,0\r\n")
                else:
                    h.write(f'AT+QIOPEN=1,0,"TCP","{LOOPBACK}",{server.port},0,0\r'.encode())
                    h.expect(OK)
                    h.expect(b"\r\n+QIOPEN: 0,0\r\n")
                wait_for(lambda: bool(server.peers), what="the server's side")
                loop.call_soon_threadsafe(start_pump)
                assert connected.wait(5)
                s = SwitchingHost(h, 0, f"host {transport}", ssl=ssl_socket)
                if rfc2217:
                    for n in range(6):
                        s.traffic()
                        s.switch(1)
                        s.traffic()
                        s.enter_transparent(ato=n % 2 == 1)
                        s.transparent_traffic(0.05)
                        s.leave_by_dtr()
                else:
                    for _ in range(20):
                        s.traffic()
                        s.switch(1)
                        s.traffic()
                        s.switch(0)
                s.traffic()
                s.switch(1)
                s.traffic()
                s.enter_transparent(ato=False)
                s.transparent_traffic(0.05)
                stop.set()
                assert done.wait(5)
                deadline = time.monotonic() + 5
                while s.got.count < from_server.count:
                    assert time.monotonic() < deadline, (s.got.count, from_server.count)
                    s.raw(h.read_exactly(1) + h.available())
                assert h.quiet(0.05) == b""
                h.port.close()
                return s

            s = await asyncio.to_thread(host_side)
            await asyncio.gather(*pump_task)
            peer = server.peers[0]
            await until(lambda: len(peer.received) >= s.sent.count)
            assert len(server.peers) == 1
            assert s.switches.count(1) >= 7 and s.switches[-1] == 2
            assert s.got.count == from_server.count
            assert s.got.digest == from_server.digest
            assert len(peer.received) == s.sent.count
            assert hashlib.sha256(peer.received).hexdigest() == s.sent.digest
            assert peer.ending is None  # still open
            assert from_server.count > 20_000  # there was load to lose

    run(main, timeout=25)


# ---- RFC 2217: DTR, DCD and the baud rate --------------------------------------------------


def test_rfc2217_dtr_dcd_and_baud_rate(pki: TestPki) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        async with TlsServer(pki.server_ctx()) as server, virtual_bg96(rfc2217=True) as bg96:

            def cd(port: rfc2217.Serial, want: bool) -> None:
                wait_for(lambda: port.cd is want, what=f"DCD {'on' if want else 'off'}")

            def echo(h: SerialHost, data: bytes) -> None:
                h.write(data)
                h.expect(data)

            def host_side() -> None:
                h = open_serial(bg96.transport.url)
                port = h.port
                assert isinstance(port, rfc2217.Serial)
                assert h.command("AT&D1") == OK
                assert h.command("AT+QIACT=1") == OK
                cd(port, False)  # AT&C1 (default): off without a connection
                h.write(open_line(0, server.port, 2))
                h.expect(CONNECT)
                cd(port, True)
                echo(h, ALL_BYTES)  # 0xFF is doubled by telnet and undone on the other side
                # AT&D1: DTR off -> OK, command mode, the connection kept
                port.dtr = False
                h.expect(OK)
                state = h.command("AT+QSSLSTATE")
                assert re.fullmatch(
                    rb'\r\n\+QSSLSTATE: 0,"SSLClient",[^\r]*,2,1,0,0,"uart1",0'
                    rb"\r\n\r\nOK\r\n",
                    state,
                ), state
                assert port.cd  # still connected
                port.dtr = True
                assert h.quiet(0.05) == b""  # raising DTR does nothing
                assert h.command("ATO") == CONNECT
                echo(h, b"after ATO " + ALL_BYTES)
                port.dtr = False
                h.expect(OK)
                # AT&D2: DTR off -> NO CARRIER, the connection closed
                assert h.command("AT&D2") == OK
                port.dtr = True
                assert h.command("ATO") == CONNECT
                echo(h, b"before the drop")
                port.dtr = False
                h.expect(NO_CARRIER)
                cd(port, False)
                wait_for(lambda: server.peers[0].ending is not None, what="the server's end")
                assert server.peers[0].ending == "close_notify"
                assert h.command("AT+QSSLSTATE") == OK
                assert h.command("ATO") == NO_CARRIER
                port.dtr = True
                # AT&D0: a DTR drop does nothing at all
                assert h.command("AT&D0") == OK
                h.write(open_line(1, server.port, 2))
                h.expect(CONNECT)
                cd(port, True)
                port.dtr = False
                assert h.quiet(0.3) == b""
                echo(h, b"still transparent " + ALL_BYTES)
                port.dtr = True
                # the baud rate: the module runs at AT+IPR's, whatever the host sets
                port.baudrate = 9600
                wait_for(lambda: "host UART set to 9600 baud" in bg96.trace, what="the note")
                echo(h, b"at 9600?")
                # the server ends it: NO CARRIER
                loop.call_soon_threadsafe(server.peers[1].close)
                h.expect(NO_CARRIER)
                cd(port, False)
                assert h.command("AT+QSSLCLOSE=1") == OK
                # AT+IPR=9600 and the host at 9600 agree
                assert h.command("AT+IPR=9600") == OK
                port.baudrate = 115200
                port.baudrate = 9600
                wait_for(lambda: bg96.trace.count("host UART set to 9600 baud") == 2)
                port.close()

            await asyncio.to_thread(host_side)
            notes = [line.split(" -- ", 1)[1] for line in bg96.trace.splitlines() if " -- " in line]
            uart = [n for n in notes if n.startswith("host UART set to ")]
            assert len(uart) == 3, uart
            # the host at 9600, the module at 115200: the note says so
            assert "9600 baud" in uart[0] and "runs at 115200 (AT+IPR)" in uart[0], uart
            assert "runs at 9600 (AT+IPR)" in uart[1]  # the host at 115200 after AT+IPR=9600
            assert uart[2] == "host UART set to 9600 baud"  # now they agree: no complaint
            assert any(n.startswith("DTR dropped with AT&D1") for n in notes)
            assert any(n.startswith("DTR dropped with AT&D2") for n in notes)
            assert "host lines: DTR off, RTS on" in notes
            assert notes.count("DCD on") == 2 and notes.count("DCD off") >= 2

    run(main)


def test_rfc2217_dtr_drop_works_for_a_host_after_one_that_left_dtr_off(pki: TestPki) -> None:
    async def main() -> None:
        async with TlsServer(pki.server_ctx()) as server, virtual_bg96(rfc2217=True) as bg96:

            def host_side() -> bytes:
                first = open_serial(bg96.transport.url)
                first.port.dtr = False  # e.g. a terminal program that closes with DTR low
                first.port.close()
                wait_for(lambda: "host disconnected" in bg96.trace)
                second = open_serial(bg96.transport.url)  # pyserial raises DTR on open
                assert second.command("AT+QIACT=1") == OK
                second.write(open_line(0, server.port, 2))
                second.expect(CONNECT)
                second.port.dtr = False  # AT&D1: should leave transparent mode with OK
                answer = second.quiet(0.5)
                second.port.close()
                return answer

            assert await asyncio.to_thread(host_side) == OK

    run(main)


# ---- pacing ------------------------------------------------------------------------------


async def timed_push(pace: bool, pki: TestPki, size: int) -> tuple[float, list[tuple[float, int]]]:
    """AT+IPR=9600, transparent mode, ``size`` bytes from the server: (seconds until the host
    had them all, [(time after the send, bytes so far)])."""
    loop = asyncio.get_running_loop()
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    async with TlsServer(pki.server_ctx()) as server, virtual_bg96(pace=pace) as bg96:
        host = await tcp_host(bg96)
        assert await host.command("AT+IPR=9600") == OK
        assert await host.command("AT+QIACT=1") == OK
        host.write(open_line(0, server.port, 2))
        assert await host.read_exactly(len(CONNECT)) == CONNECT
        peer = await server.peer()
        await asyncio.sleep(0.05)  # the line is idle
        assert not host.buffer
        progress: list[tuple[float, int]] = []
        got = bytearray()
        start = loop.time()
        peer.send(data)
        while len(got) < len(data):
            chunk = await asyncio.wait_for(host.reader.read(65536), 5)
            assert chunk
            got += chunk
            progress.append((loop.time() - start, len(got)))
        elapsed = loop.time() - start
        assert bytes(got) == data
        await host.close()
    return elapsed, progress


def test_pacing_holds_the_host_to_the_ipr_rate(pki: TestPki) -> None:
    size = 2000
    rate = 9600 / 10  # bytes per second, 8N1
    least = size / rate  # 2.083 s

    async def main() -> None:
        elapsed, progress = await timed_push(True, pki, size)
        assert elapsed >= least - 0.01, elapsed
        assert elapsed < least + 1.0, elapsed  # paced, not stalled
        for when, count in progress:  # never ahead of the UART
            assert count <= when * rate + 1, (when, count)
        assert len(progress) >= 20  # it trickled in
        unpaced, _ = await timed_push(False, pki, size)
        assert unpaced < least / 10, unpaced

    run(main)


# ---- the host goes away in transparent mode -----------------------------------------------


def test_host_leaving_in_transparent_mode_keeps_the_connection(pki: TestPki) -> None:
    async def main() -> None:
        async with TlsServer(pki.server_ctx()) as server, virtual_bg96() as bg96:
            host = await tcp_host(bg96)
            assert await host.command("AT+QIACT=1") == OK
            host.write(open_line(4, server.port, 2))
            assert await host.read_exactly(len(CONNECT)) == CONNECT
            peer = await server.peer()
            host.write(ALL_BYTES)
            assert await host.read_exactly(len(ALL_BYTES)) == ALL_BYTES
            host.write(b"typed just before leaving")  # waits for transwaittm (200 ms)
            await host.close()
            await until(lambda: "-- host disconnected" in bg96.trace)
            # like a DTR drop with AT&D1: what the host typed still goes out, and its echo
            # and what the server sends now wait in the receive buffer
            await until(lambda: peer.received.endswith(b"typed just before leaving"))
            assert peer.ending is None
            later = b"arrived while no host was there " + ALL_BYTES
            peer.send(later)
            sock = bg96.engine.sockets[4]
            await until(lambda: sock.total_received == len(ALL_BYTES) + 25 + len(later))

            second = await AtClient.connect(LOOPBACK, bg96.transport.port)
            assert await second.command("AT") == OK  # no reboot: ATE0 still holds
            assert await second.command("AT+QSSLSTATE") == (
                b"\r\n" + state_row(4, server.port, LocalPorts.FIRST, 2, 0) + OK
            )
            got = bytearray()
            while True:
                second.write(b"AT+QSSLRECV=4,1500\r")
                assert await second.read_until(b"+QSSLRECV: ") == b"\r\n+QSSLRECV: "
                count = int((await second.read_until(b"\r\n"))[:-2])
                if not count:
                    assert await second.read_exactly(len(OK)) == OK
                    break
                got += await second.read_exactly(count)
                assert await second.read_exactly(8) == b"\r\n" + OK
            assert bytes(got) == b"typed just before leaving" + later
            # and the connection carries on in transparent mode
            assert await second.command("ATO") == CONNECT
            second.write(b"the second host")
            assert await second.read_exactly(15) == b"the second host"
            await second.close()

    run(main)
