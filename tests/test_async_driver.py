"""What only asyncio code sees of ``AsyncModem``: ``Modem``'s API method for method, tasks
that wait and send at the same time, cancellation, ``AsyncSocketLike``.

Its behaviour, operation by operation, is tested on both drivers by tests/test_driver.py and
tests/test_driver_portable.py.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

import pytest

from bg96 import (
    AsyncModem,
    AsyncSocketLike,
    AsyncSslConnection,
    AsyncTcpConnection,
    AsyncTcpListener,
    AsyncUdpConnection,
    AsyncUdpSocket,
    Modem,
    ModemTimeout,
    SocketLike,
    SslConnection,
    TcpConnection,
    TcpListener,
    UdpConnection,
    UdpSocket,
    VirtualModule,
)
from bg96.host import AsyncMqttClient, MqttClient, Urc
from bg96.testing import TestPki
from bg96.testing.tls_server import TlsEchoServer

from .aio import read_exactly, run

PAYLOAD = bytes(range(256)) * 40


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return TestPki()


def online(pki: TestPki, body: Callable[[AsyncModem, TlsEchoServer], Awaitable[None]]) -> None:
    """``body`` with an AsyncModem on a virtual module, PDP context 1 active, and a TLS echo
    server; SSL context 1 verifies it."""

    async def main() -> None:
        async with (
            TlsEchoServer(pki.server_ctx()) as echo,
            VirtualModule(system_resolver=False) as vm,
            await AsyncModem.open(vm.url) as modem,
        ):
            await modem.sync()
            await modem.activate()
            await modem.upload("ca.pem", pki.ca_pem)
            await modem.ssl_config(1, seclevel=1, cacert="ca.pem")
            await body(modem, echo)

    run(main)


# ---- the same API ----------------------------------------------------------------------------


def public(cls: type) -> dict[str, object]:
    """Its public members, inherited ones too (``SslConnection``'s are ``StreamConnection``'s)."""
    names = {name for klass in cls.__mro__[:-1] for name in vars(klass)}
    return {n: inspect.getattr_static(cls, n) for n in sorted(names) if not n.startswith("_")}


def parameters(member: object) -> list[tuple[str, object, object]]:
    if isinstance(member, classmethod):
        member = member.__func__
    target = member.fget if isinstance(member, property) else member
    if not callable(target):
        return []
    return [
        (p.name, p.kind, p.default)
        for p in inspect.signature(target).parameters.values()
        if p.name not in ("self", "cls")
    ]


@pytest.mark.parametrize(
    ("sync", "asynchronous"),
    [
        (Modem, AsyncModem),
        (SslConnection, AsyncSslConnection),
        (TcpConnection, AsyncTcpConnection),
        (UdpConnection, AsyncUdpConnection),
        (UdpSocket, AsyncUdpSocket),
        (TcpListener, AsyncTcpListener),
        (MqttClient, AsyncMqttClient),
    ],
    ids=["modem", "ssl", "tcp", "udp", "udp-service", "listener", "mqtt"],
)
def test_the_async_face_has_the_sync_faces_methods_with_the_same_parameters(
    sync: type, asynchronous: type
) -> None:
    ours, theirs = public(sync), public(asynchronous)
    theirs.pop("attach", None)  # an in-memory port to a module on the same loop: asyncio only
    assert sorted(ours) == sorted(theirs)
    for name, member in ours.items():
        assert parameters(member) == parameters(theirs[name]), name
        if name == "messages":  # an iteration: ``async for``
            assert inspect.isasyncgenfunction(theirs[name])
        elif inspect.isfunction(member) and name not in ("on_urc", "on_status", "mqtt"):
            assert inspect.iscoroutinefunction(theirs[name]), f"{name} is not awaitable"


def test_the_async_socket_has_the_socket_calls_asyncio_code_uses() -> None:
    for name in ("sendall", "send", "recv", "close", "settimeout", "gettimeout"):
        assert parameters(getattr(SocketLike, name)) == parameters(getattr(AsyncSocketLike, name))
    for name in ("sendall", "send", "recv", "close"):
        assert inspect.iscoroutinefunction(getattr(AsyncSocketLike, name)), name


def test_the_methods_say_what_they_do() -> None:
    assert inspect.getdoc(AsyncModem.ssl_config) == inspect.getdoc(Modem.ssl_config)
    assert "AT+QSSLCFG" in (inspect.getdoc(AsyncModem.ssl_config) or "")
    assert "AsyncSocketLike" in (inspect.getdoc(AsyncModem.create_connection) or "")
    assert "SocketLike" in (inspect.getdoc(Modem.create_connection) or "")


# ---- tasks at the same time ------------------------------------------------------------------


def test_a_task_waits_in_recv_while_others_send_and_run_commands(pki: TestPki) -> None:
    async def body(modem: AsyncModem, echo: TlsEchoServer) -> None:
        first = await modem.open_ssl(0, "127.0.0.1", echo.port, ssl_ctx=1)
        second = await modem.open_ssl(1, "127.0.0.1", echo.port, ssl_ctx=1, access_mode=1)
        waiting = asyncio.create_task(read_exactly(first, 5))
        await asyncio.sleep(0.05)  # the reader is parked in recv, holding nothing
        assert not waiting.done()
        await second.send(PAYLOAD)  # push mode: the echo comes with the URC
        assert await read_exactly(second, len(PAYLOAD)) == PAYLOAD
        assert (await modem.identify())[1] == "BG96"
        assert not waiting.done()
        await first.send(b"first")
        assert await asyncio.wait_for(waiting, 5) == b"first"
        await first.close()
        await second.close()

    online(pki, body)


def test_tasks_sending_on_two_connections_do_not_mix_their_commands(pki: TestPki) -> None:
    async def body(modem: AsyncModem, echo: TlsEchoServer) -> None:
        conns = [await modem.open_ssl(i, "127.0.0.1", echo.port, ssl_ctx=1) for i in (2, 3)]

        async def echo_through(conn: AsyncSslConnection, data: bytes) -> bytes:
            await conn.send(data)
            return await read_exactly(conn, len(data))

        datas = [PAYLOAD, bytes(reversed(PAYLOAD))]
        got = await asyncio.gather(*(echo_through(c, d) for c, d in zip(conns, datas, strict=True)))
        assert got == datas
        for conn in conns:
            await conn.close()
        assert await modem.ssl_state() == []

    online(pki, body)


def test_a_cancelled_recv_leaves_the_modem_usable(pki: TestPki) -> None:
    async def body(modem: AsyncModem, echo: TlsEchoServer) -> None:
        conn = await modem.open_ssl(4, "127.0.0.1", echo.port, ssl_ctx=1)
        waiting = asyncio.create_task(conn.recv(10))
        await asyncio.sleep(0.05)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await conn.send(b"after")
        assert await read_exactly(conn, 5) == b"after"
        await conn.close()

    online(pki, body)


def test_urcs_reach_callbacks_and_the_queue_while_nothing_else_runs(pki: TestPki) -> None:
    async def body(modem: AsyncModem, echo: TlsEchoServer) -> None:
        seen: list[Urc] = []
        modem.on_urc(seen.append)

        def broken(urc: Urc) -> None:
            raise RuntimeError("a callback that fails")

        modem.on_urc(broken)  # reported to the loop; the reader goes on
        conn = await modem.open_ssl(5, "127.0.0.1", echo.port, ssl_ctx=1)
        await conn.send(b"ping")
        assert await modem.wait_urc(b'+QSSLURC: "recv",5', 5) == Urc(b'+QSSLURC: "recv",5')
        assert Urc(b"+QSSLOPEN: 5,0") in seen and Urc(b'+QSSLURC: "recv",5') in seen
        assert await conn.recv(4, timeout=5) == b"ping"
        await conn.close()

    loop_errors: list[object] = []

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _, ctx: loop_errors.append(ctx))
        async with (
            TlsEchoServer(pki.server_ctx()) as echo,
            VirtualModule(system_resolver=False) as vm,
            await AsyncModem.open(vm.url) as modem,
        ):
            await modem.sync()
            await modem.activate()
            await modem.upload("ca.pem", pki.ca_pem)
            await modem.ssl_config(1, seclevel=1, cacert="ca.pem")
            await body(modem, echo)

    run(main)
    assert loop_errors


# ---- AsyncSocketLike -------------------------------------------------------------------------


def test_async_socket_like_sends_receives_times_out_and_closes(pki: TestPki) -> None:
    async def body(modem: AsyncModem, echo: TlsEchoServer) -> None:
        async with await modem.create_connection(
            ("127.0.0.1", echo.port), ssl_ctx=1, timeout=0.2
        ) as sock:
            assert isinstance(sock, AsyncSocketLike)
            assert sock.connection.client_id == 0
            with pytest.raises(TimeoutError):
                await sock.recv(10)  # nothing came within 0.2 s
            assert await sock.send(b"hello") == 5
            await sock.sendall(memoryview(b" world"))
            sock.settimeout(5)
            got = b""
            while len(got) < 11:
                got += await sock.recv(100)
            assert got == b"hello world"
        assert sock.connection.closed
        assert await modem.ssl_state() == []
        with pytest.raises(ModemTimeout):
            await modem.wait_urc(b"+NOTHING", 0.05)

    online(pki, body)


# ---- plain sockets, listeners, network tools ------------------------------------------------


def test_tasks_wait_in_accept_and_recvfrom_while_others_ping_and_send() -> None:
    """``accept`` and ``recvfrom`` hold nothing while they wait: a ping, a plain connection's
    traffic and the listener's own incoming URC all go by meanwhile."""

    async def main() -> None:
        async with (
            VirtualModule(resolve={"here.test": "127.0.0.1"}, system_resolver=False) as vm,
            await AsyncModem.open(vm.url) as modem,
        ):
            await modem.sync()
            await modem.activate()
            listener = await modem.listen(2020)
            service = await modem.udp_service(3030, access_mode=1)
            accepting = asyncio.create_task(listener.accept(timeout=10))
            receiving = asyncio.create_task(service.recvfrom(timeout=10))
            pinged = await modem.ping("here.test", timeout=2, count=2)
            assert pinged.received == 2 and not accepting.done() and not receiving.done()
            listen_port, udp_port = vm.host_port(2020), vm.host_port(3030, "udp")
            assert listen_port is not None and udp_port is not None
            reader, writer = await asyncio.open_connection("127.0.0.1", listen_port)
            sock, peer = await asyncio.wait_for(accepting, 10)
            assert isinstance(sock, AsyncSocketLike)
            assert isinstance(sock.connection, AsyncTcpConnection)
            assert peer == writer.get_extra_info("sockname")
            sock.settimeout(5)
            writer.write(b"to the module")
            assert await sock.recv(100) == b"to the module"
            await sock.sendall(PAYLOAD)
            assert await reader.readexactly(len(PAYLOAD)) == PAYLOAD
            loop = asyncio.get_running_loop()
            transport, _ = await loop.create_datagram_endpoint(
                asyncio.DatagramProtocol, remote_addr=("127.0.0.1", udp_port)
            )
            transport.sendto(b"datagram")
            data, sender = await asyncio.wait_for(receiving, 10)
            assert (data, sender) == (b"datagram", transport.get_extra_info("sockname"))
            transport.close()
            writer.close()
            await sock.close()
            await listener.close()
            await service.close()
            assert await modem.tcpip_state() == []

    run(main)


def test_an_rfc2217_port_on_the_modules_own_loop_opens_without_blocking_it() -> None:
    """Opening sets the port's read timeout off the loop's thread: on RFC 2217 that is a
    negotiation with the server, which would wait for ever for a module on this loop."""

    async def main() -> None:
        async with (
            VirtualModule(transport="rfc2217", system_resolver=False) as vm,
            await AsyncModem.open(vm.url) as modem,
        ):
            await modem.sync()
            assert (await modem.command("AT")).final == b"OK"

    run(main)
