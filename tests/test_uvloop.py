"""The module on uvloop (``bg96 serve --loop uvloop``, ``bg96 fleet --loop``): every transport
and every kind of connection works on it as on asyncio's loop."""

from __future__ import annotations

import asyncio
import hashlib
import signal
import socket
import sys
from pathlib import Path
from typing import Any, cast

import pytest

from bg96 import AsyncModem, VirtualModule
from bg96.module import loops
from bg96.module.virtual import TransportKind
from bg96.testing import EchoServer, TestPki, ThreadedTlsEchoServer, UdpEchoServer
from bg96.testing.ntp_server import SntpServer

from .aio import read_exactly
from .test_cli import ServeProcess, read_until

uvloop = pytest.importorskip("uvloop")
DATA = bytes(range(256)) * 256  # 64 KiB, every byte value
HOST = "127.0.0.1"


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return TestPki("bg96 uvloop tests CA")


async def round_trip(conn: Any, data: bytes) -> None:
    await conn.send(data)
    got = await read_exactly(conn, len(data))
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()


transports = ["tcp", "memory", "rfc2217"]
if sys.platform.startswith("linux"):
    transports.append("pty")


@pytest.mark.parametrize("kind", transports)
def test_every_transport_and_connection_kind_on_uvloop(pki: TestPki, kind: str) -> None:
    async def main() -> None:
        assert type(asyncio.get_running_loop()).__module__.startswith("uvloop")
        with (
            ThreadedTlsEchoServer(pki.server_ctx()) as tls,
            EchoServer() as tcp,
            UdpEchoServer() as udp,
        ):
            async with VirtualModule(
                transport=cast(TransportKind, kind), system_resolver=False
            ) as module:
                if kind == "memory":
                    modem = await AsyncModem.attach(module)
                else:
                    modem = await AsyncModem.open(module.url)
                async with modem:
                    await modem.sync()
                    await modem.activate()
                    await modem.upload("ca.pem", pki.ca_pem)
                    await modem.ssl_config(1, seclevel=1, cacert="ca.pem")
                    ssl_conn = await modem.open_ssl(0, HOST, tls.port, ssl_ctx=1)
                    await round_trip(ssl_conn, DATA)
                    plain = await modem.open_tcp(1, HOST, tcp.port, access_mode=1)
                    await round_trip(plain, DATA)
                    dgram = await modem.create_udp_connection((HOST, udp.port))
                    await dgram.send(b"one datagram")
                    assert await dgram.recv(1500, timeout=10) == b"one datagram"
                    for conn in (dgram, plain, ssl_conn):
                        await conn.close()
                    if kind == "memory":  # the module's own ICMP and SNTP exchanges
                        ping = await modem.ping(HOST, timeout=5, count=2)
                        assert (ping.sent, ping.received) == (2, 2), ping
                        with SntpServer() as ntp:
                            await modem.ntp_sync(HOST, port=ntp.port, timeout=10)
                    if kind == "tcp":  # transparent mode takes the port (+++: 2 s of guard times)
                        through = await modem.open_tcp(2, HOST, tcp.port, access_mode=2)
                        await round_trip(through, DATA)
                        await through.leave_transparent()
                        await through.close()

    loops.run(main(), "uvloop")


def test_auto_is_uvloop_when_installed_and_asyncio_is_asyncio() -> None:
    assert loops.loop_factory("auto") is uvloop.new_event_loop
    assert loops.loop_factory("uvloop") is uvloop.new_event_loop
    assert loops.loop_factory("asyncio") is None
    with pytest.raises(ValueError, match="unknown event loop"):
        loops.loop_factory("trio")


def test_without_uvloop_auto_falls_back_and_uvloop_says_how_to_get_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop raises ImportError
    assert loops.loop_factory("auto") is None
    with pytest.raises(loops.LoopUnavailable, match=r"pip install 'bg96\[uvloop\]'"):
        loops.loop_factory("uvloop")

    async def never() -> None:
        raise AssertionError("not run")

    with pytest.raises(loops.LoopUnavailable):
        loops.run(never(), "uvloop")  # and the coroutine is closed, not left unawaited


def test_serve_on_uvloop_answers(tmp_path: Path) -> None:
    with ServeProcess("--loop", "uvloop", "--tcp", f"{HOST}:0", "--files", str(tmp_path)) as serve:
        port = int(serve.line().split(f"socket://{HOST}:")[1].split()[0])
        with socket.create_connection((HOST, port), timeout=10) as sock:
            read_until(sock, b"SMS DONE\r\n", 10)
            sock.sendall(b"ATE0\r")
            assert read_until(sock, b"OK\r\n", 10) == b"ATE0\r\r\nOK\r\n"
        assert serve.stop(signal.SIGTERM) == 0
