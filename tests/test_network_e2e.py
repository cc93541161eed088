"""Network profiles end to end: real TLS through a shaped link, timed; the same run twice.

The nb-iot download waits out what 32 KiB take at 32 kbit/s (about 8 s, 13 s with its
handshake's round trips): the one slow test here, kept in the default suite because it is
the measurement the profiles promise.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator

import pytest

from bg96 import AsyncModem, AsyncSslConnection, VirtualModule
from bg96.host import Modem, ModemTimeout
from bg96.module.connections import StreamConnection
from bg96.module.faults import FaultScript
from bg96.module.trace import JsonlTrace
from bg96.network import NetworkProfile, profile
from bg96.testing import TestPki
from bg96.testing.at_client import AtClient
from bg96.testing.tls_server import ThreadedTlsEchoServer

SIZE = 32 * 1024


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return TestPki("bg96 network tests CA")


class DownloadServer:
    """On ``GET <n>\\n`` sends n bytes over TLS (127.0.0.1 only), to each connection."""

    def __init__(self, ctx: ssl.SSLContext) -> None:
        self._ctx = ctx
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._threads = [threading.Thread(target=self._accept, daemon=True)]

    def __enter__(self) -> DownloadServer:
        self._threads[0].start()
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the accept (close alone does not)
        self._sock.close()
        deadline = time.monotonic() + 5
        for thread in list(self._threads):
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def _accept(self) -> None:
        while True:
            try:
                raw, _ = self._sock.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(raw,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, raw: socket.socket) -> None:
        with contextlib.suppress(OSError), self._ctx.wrap_socket(raw, server_side=True) as conn:
            request = b""
            while not request.endswith(b"\n"):
                chunk = conn.recv(100)
                if not chunk:
                    return
                request += chunk
            n = int(request.split()[1])
            conn.sendall(bytes(i % 251 for i in range(n)))
            conn.settimeout(60)
            conn.recv(1)  # until the module closes


@pytest.fixture
def nb_iot_module() -> Iterator[tuple[VirtualModule, NetworkProfile]]:
    # the nb-iot link; registration and AT+QIACT delays are not what is measured here
    net = profile("nb-iot").with_values(attach_time=0.0, pdp_activation_time=0.0, seed=1)
    with VirtualModule(network=net) as module:
        yield module, net


def test_nb_iot_32k_download_takes_the_time_its_rates_imply(
    pki: TestPki, nb_iot_module: tuple[VirtualModule, NetworkProfile]
) -> None:
    module, net = nb_iot_module
    assert net.down is not None
    with DownloadServer(pki.server_ctx()) as server, Modem.open(module.url) as modem:
        modem.sync()
        modem.activate(1)
        modem.ssl_config(1, version=3)
        started = time.monotonic()
        conn = modem.open_ssl(0, "127.0.0.1", server.port, ssl_ctx=1)
        handshake = time.monotonic() - started
        # a TLS 1.2 handshake is three round trips at least (TCP, two TLS flights)
        assert handshake >= 3 * net.rtt - 4 * net.jitter
        started = time.monotonic()
        conn.send(f"GET {SIZE}\n".encode())
        got = bytearray()
        while len(got) < SIZE:
            got += conn.recv(1500, timeout=60)
        elapsed = time.monotonic() - started
        conn.close()
    assert bytes(got) == bytes(i % 251 for i in range(SIZE))
    implied = net.rtt + SIZE * 8 / net.down
    assert abs(elapsed / implied - 1) < 0.10, (elapsed, implied)


def test_twelve_connections_share_the_nb_iot_rate(
    pki: TestPki, nb_iot_module: tuple[VirtualModule, NetworkProfile]
) -> None:
    """The profile's rates are the module's: 12 downloads at once take 12 times one's time."""
    module, net = nb_iot_module
    assert net.down is not None
    each = 1000

    async def main(port: int) -> float:
        async with await AsyncModem.open(module.url) as modem:
            await modem.sync()
            await modem.command("AT+QIACT=1")
            await modem.command('AT+QSSLCFG="sslversion",1,3')
            await modem.command('AT+QSSLCFG="ciphersuite",1,0X0035')
            conns = await asyncio.gather(
                *(modem.open_ssl(i, "127.0.0.1", port, ssl_ctx=1) for i in range(12))
            )
            loop = asyncio.get_running_loop()
            started = loop.time()
            for conn in conns:
                await conn.send(f"GET {each}\n".encode())

            async def download(conn: AsyncSslConnection) -> bytes:
                got = bytearray()
                while len(got) < each:
                    got += await conn.recv(1500, timeout=60)
                return bytes(got)

            results = await asyncio.gather(*(download(c) for c in conns))
            elapsed = loop.time() - started
            for conn in conns:
                await conn.close(timeout=0)  # at once: the server's threads end
            assert all(r == bytes(i % 251 for i in range(each)) for r in results)
            return elapsed

    with DownloadServer(pki.server_ctx()) as server:
        elapsed = asyncio.run(main(server.port))
    shared = 12 * each * 8 / net.down  # one link's time for all of it (3 s)
    alone = each * 8 / net.down  # what each would take with a link of its own
    assert elapsed >= 0.9 * shared, f"{elapsed:.2f} s: faster than the link allows"
    assert elapsed > net.rtt + 4 * alone
    assert elapsed < net.rtt + 2 * shared, f"{elapsed:.2f} s"


def test_a_shaped_link_delays_an_echo_by_a_round_trip(pki: TestPki) -> None:
    net = NetworkProfile(name="custom", latency=0.15, seed=3)
    with (
        ThreadedTlsEchoServer(pki.server_ctx()) as server,
        VirtualModule(network=net) as module,
        Modem.open(module.url) as modem,
    ):
        modem.sync()
        modem.activate(1)
        modem.ssl_config(1, version=3)
        conn = modem.open_ssl(0, "127.0.0.1", server.port, ssl_ctx=1)
        started = time.monotonic()
        conn.send(b"ping\n")
        assert conn.recv(100, timeout=10) == b"ping\n"
        elapsed = time.monotonic() - started
        conn.close()
    assert 0.3 <= elapsed < 0.6


# ---- the same seed, profile, fault script and host input give the same trace -------------------

FAULTS = FaultScript.parse("after 3000 bytes on 1 server-reset 1\n")
PROFILE = NetworkProfile(
    name="custom", latency=0.03, jitter=0.02, down=400_000, up=200_000, loss=0.05, seed=11
)


async def scripted_session(port: int) -> None:
    """The same host bytes every run; it reads an echo once its URC says it is there (each
    echo is one segment, so it arrives whole)."""
    at = await AtClient.connect("127.0.0.1", port)
    try:
        await at.read_until(b"APP RDY\r\n")
        for line in ("ATE0", "AT+CMEE=2", "AT+QIACT=1", 'AT+QSSLCFG="sslversion",1,3'):
            await at.command(line)
        await at.command(f'AT+QSSLOPEN=1,1,1,"127.0.0.1",{port_of_server},0')
        await at.wait_urc(b"+QSSLOPEN:")
        await at.command("AT+QSSLSTATE=1")
        for i in range(3):
            payload = bytes([65 + i]) * 1200
            at.write(b"AT+QSSLSEND=1,1200\r")
            await at.read_until(b"> ")
            at.write(payload)
            await at.response()
            await at.wait_urc(b'+QSSLURC: "recv",1')  # one segment: all of the echo
            await at.command("AT+QSSLRECV=1,1500")
        await asyncio.sleep(0.3)
        await at.command("AT+QSSLSTATE=1")
        await at.command("AT+QSSLCLOSE=1")
    finally:
        await at.close()


port_of_server = 0


def run_once(server_port: int) -> list[dict[str, object]]:
    global port_of_server
    port_of_server = server_port
    stream = io.StringIO()

    async def main() -> None:
        trace = JsonlTrace(stream, clock=time.monotonic)
        async with VirtualModule(network=PROFILE, faults=FAULTS, trace=trace) as module:
            port = int(module.url.rsplit(":", 1)[1])
            await scripted_session(port)
            await asyncio.sleep(0.2)
        trace.flush()

    asyncio.run(main())
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    for event in events:
        event.pop("t")
    return events


def test_same_seed_profile_faults_and_input_give_the_same_trace(pki: TestPki) -> None:
    with ThreadedTlsEchoServer(pki.server_ctx()) as server:
        first = run_once(server.port)
        second = run_once(server.port)
    texts = [e["text"] for e in first]
    assert any("server-reset" in str(t) for t in texts), texts  # the fault acted
    assert any(e["kind"] == "tls_in" for e in first)
    assert first == second


# ---- closing on a slow link ---------------------------------------------------------------------

SLOW_UP = NetworkProfile(name="custom", latency=0.05, down=200_000, up=20_000)


async def open_client_0(module: VirtualModule, server_port: int) -> AtClient:
    at = await AtClient.connect("127.0.0.1", int(module.url.rsplit(":", 1)[1]))
    await at.read_until(b"APP RDY\r\n")
    for line in ("ATE0", "AT+QIACT=1", 'AT+QSSLCFG="sslversion",1,3'):
        assert (await at.command(line)).endswith(b"OK\r\n")
    await at.command(f'AT+QSSLOPEN=1,1,0,"127.0.0.1",{server_port},0')
    assert await at.wait_urc(b"+QSSLOPEN:", timeout=20) == b"+QSSLOPEN: 0,0"
    return at


async def qsslsend(at: AtClient, data: bytes) -> bytes:
    at.write(f"AT+QSSLSEND=0,{len(data)}\r".encode())
    await at.read_until(b"> ")
    at.write(data)
    return await at.response()


@pytest.mark.parametrize("network", [SLOW_UP, None], ids=["shaped", "unshaped"])
def test_data_right_before_a_close_reaches_the_server(
    pki: TestPki, network: NetworkProfile | None
) -> None:
    async def main(server: ThreadedTlsEchoServer) -> None:
        async with VirtualModule(network=network) as module:
            at = await open_client_0(module, server.port)
            at.write(b"AT+QSSLSEND=0,500\r")
            await at.read_until(b"> ")
            at.write(b"X" * 500 + b"AT+QSSLCLOSE=0\r")  # the close right behind the data
            assert await at.response() == b"\r\nSEND OK\r\n"
            assert await at.response(timeout=15) == b"\r\nOK\r\n"
            await at.close()

    with ThreadedTlsEchoServer(pki.server_ctx()) as server:
        asyncio.run(main(server))
        # the module's OK means its side closed; the server's thread reads in its own time
        deadline = time.monotonic() + 10
        while len(server.received) < 500 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert bytes(server.received) == b"X" * 500


def test_a_close_timeout_aborts_a_close_still_draining_the_uplink(pki: TestPki) -> None:
    async def main(server: ThreadedTlsEchoServer) -> None:
        async with VirtualModule(network=SLOW_UP) as module:
            at = await open_client_0(module, server.port)
            for i in range(8):  # 11.7 KB: about 5 s at 20 kbit/s
                assert await qsslsend(at, bytes([65 + i]) * 1460) == b"\r\nSEND OK\r\n"
            assert await at.command("AT+QSSLCLOSE=0,1", timeout=5) == b"\r\nOK\r\n"
            assert module.runner is not None
            await asyncio.sleep(0.3)
            stopped_at = len(server.received)
            await asyncio.sleep(1.0)
            assert len(server.received) == stopped_at  # aborted: nothing more goes out
            assert stopped_at < 8 * 1460
            assert module.runner.connections == 0
            await at.close()

    with ThreadedTlsEchoServer(pki.server_ctx()) as server:
        asyncio.run(main(server))


def test_stopping_the_module_ends_shaped_connections_and_their_timers(pki: TestPki) -> None:
    async def main(server: ThreadedTlsEchoServer) -> None:
        module = VirtualModule(network=SLOW_UP)
        await module.start()
        at = await open_client_0(module, server.port)
        for i in range(8):
            await qsslsend(at, bytes([65 + i]) * 1460)
        assert module.runner is not None
        [conn] = module.runner._conns.values()
        assert isinstance(conn, StreamConnection)
        await module.stop()
        assert conn.up is not None and conn.down is not None
        assert conn.up.closed and conn.down.closed  # no timer left to fire
        assert conn.transport is not None and conn.transport.is_closing()
        await at.close()

    with ThreadedTlsEchoServer(pki.server_ctx()) as server:
        asyncio.run(main(server))


def test_the_driver_waits_for_registration() -> None:
    net = NetworkProfile(name="custom", attach_time=0.5)
    with VirtualModule(network=net) as module, Modem.open(module.url) as modem:
        modem.sync()
        with pytest.raises(ModemTimeout, match="still stat 2"):
            modem.wait_registered(timeout=0.1, poll=0.05)
        assert modem.wait_registered(poll=0.05) == 1
        modem.activate(1)


def test_the_async_driver_waits_for_registration() -> None:
    async def main() -> None:
        net = NetworkProfile(name="custom", attach_time=0.5)
        async with (
            VirtualModule(network=net) as module,
            await AsyncModem.open(module.url) as modem,
        ):
            await modem.sync()
            assert await modem.wait_registered(poll=0.05) == 1
            await modem.activate(1)

    asyncio.run(main())
