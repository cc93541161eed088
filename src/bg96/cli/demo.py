"""``bg96 demo``: the SSL manual's chapter 3.1-3.3 against a local TLS echo server.

A throw-away RSA CA, a loopback TLS echo server, a virtual BG96 on a loopback TCP port and
a scripted host session; the AT trace is printed as it happens.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from ..engine import Engine, MemoryStore, ModuleConfig
from ..module.resolve import Resolver
from ..module.runner import Runner
from ..module.trace import Trace
from ..module.transports.tcp import TcpTransport
from ..network import Network, NetworkProfile
from ..testing.at_client import AtClient
from ..testing.certs import TestPki
from ..testing.tls_server import TlsEchoServer

SERVER_NAME = "echo.bg96.test"
PAYLOAD = b"Test data from SSL"


class DemoFailed(Exception):
    """A step of the scripted session did not get the answer the manual shows."""


def _expect(response: bytes, wanted: bytes) -> bytes:
    if wanted not in response:
        raise DemoFailed(f"expected {wanted!r} in {response!r}")
    return response


async def host_session(at: AtClient, port: int, ca_pem: bytes) -> None:
    """The host's side: PDP, SSL context, CA upload, open, send, receive, state, close."""
    await at.read_until(b"+QIND: SMS DONE\r\n")
    for line in ("AT", "ATI", "AT+CPIN?"):
        _expect(await at.command(line), b"OK")
    await registered(at)
    # 3.1 PDP context
    _expect(await at.command('AT+QICSGP=1,1,"CMCIOT","","",1'), b"OK")
    _expect(await at.command("AT+QIACT=1"), b"OK")
    _expect(await at.command("AT+QIACT?"), b"+QIACT: 1,1,1,")
    # the CA certificate goes into the module's file system
    _expect(await at.command(f'AT+QFUPL="cacert.pem",{len(ca_pem)},5'), b"CONNECT")
    at.write(ca_pem)
    _expect(await at.response(), b"+QFUPL: ")
    # 3.2 SSL context
    for line in (
        'AT+QSSLCFG="sslversion",1,1',
        'AT+QSSLCFG="ciphersuite",1,0X0035',
        'AT+QSSLCFG="seclevel",1,1',  # real firmware's spelling (the manual's: secllevel)
        'AT+QSSLCFG="cacert",1,"cacert.pem"',
    ):
        _expect(await at.command(line), b"OK")
    # 3.3 buffer access mode
    _expect(await at.command(f'AT+QSSLOPEN=1,1,4,"{SERVER_NAME}",{port},0'), b"OK")
    _expect(await at.wait_urc(b"+QSSLOPEN: "), b"+QSSLOPEN: 4,0")
    _expect(await at.command("AT+QSSLSTATE"), b'+QSSLSTATE: 4,"SSLClient"')
    at.write(b"AT+QSSLSEND=4\r")
    await at.read_until(b"> ")
    at.write(PAYLOAD + b"\x1a")
    _expect(await at.response(), b"SEND OK")
    await at.wait_urc(b'+QSSLURC: "recv",4')
    _expect(await at.command("AT+QSSLRECV=4,1500"), b"+QSSLRECV: 18\r\n" + PAYLOAD)
    at.write(f"AT+QSSLSEND=4,{len(PAYLOAD)}\r".encode())
    await at.read_until(b"> ")
    at.write(PAYLOAD)
    _expect(await at.response(), b"SEND OK")
    await at.wait_urc(b'+QSSLURC: "recv",4')
    _expect(await at.command("AT+QSSLRECV=4,1500"), PAYLOAD)
    _expect(await at.command("AT+QSSLRECV=4,1500"), b"+QSSLRECV: 0")
    _expect(await at.command("AT+QSSLCLOSE=4"), b"OK")
    _expect(await at.command("AT+QIDEACT=1"), b"OK")
    _expect(await at.command("AT+QIGETERROR"), b"+QIGETERROR: 0,")


async def registered(at: AtClient, timeout: float = 60.0) -> None:
    """Ask AT+CEREG? until the module is registered (at once on the ideal network)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while b"+CEREG: 0,1" not in _expect(await at.command("AT+CEREG?"), b"OK"):
        if loop.time() > deadline:
            raise DemoFailed("not registered on the network")
        await asyncio.sleep(0.5)


async def run_demo(out: TextIO, network: NetworkProfile | None = None) -> int:
    pki = TestPki("bg96 demo CA")
    loop = asyncio.get_running_loop()
    trace = Trace(out, clock=loop.time, autoflush=True)
    net = network or NetworkProfile()
    config = ModuleConfig(attach_time=net.attach_time, pdp_activation_time=net.pdp_activation_time)
    async with TlsEchoServer(pki.server_ctx(SERVER_NAME)) as server:
        engine = Engine(store=MemoryStore(), config=config, now=loop.time())
        transport = TcpTransport("127.0.0.1", 0)
        resolver = Resolver({SERVER_NAME: server.host})
        trace.note(f"TLS echo server on {server.host}:{server.port} ({SERVER_NAME})")
        if not net.ideal or net.attach_time or net.pdp_activation_time:
            trace.note(net.describe())
        runner = Runner(engine, transport, resolver=resolver, trace=trace, network=Network(net))
        async with runner:
            trace.note(f"virtual BG96 on {transport.url}")
            at = await AtClient.connect("127.0.0.1", transport.port)
            try:
                await host_session(at, server.port, pki.ca_pem)
            except (DemoFailed, TimeoutError, ConnectionError) as exc:
                trace.note(f"demo failed: {exc!r}")
                return 1
            finally:
                await at.close()
        trace.note(f"server received {len(server.received)} bytes; demo finished")
    return 0


def main(out: TextIO | None = None, network: NetworkProfile | None = None) -> int:
    return asyncio.run(run_demo(out or sys.stdout, network))
