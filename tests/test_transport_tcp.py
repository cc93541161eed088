"""TcpTransport: one host at a time over loopback, bytes both ways, pyserial's socket:// URL."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable

import serial

from bg96.module.transports import HostSink, TcpTransport, Transport

from .sinks import RecordingSink, until


def run_with(test: Callable[[TcpTransport, RecordingSink], Awaitable[None]]) -> None:
    """Start a transport on 127.0.0.1, run ``test``, close the transport."""

    async def main() -> None:
        transport = TcpTransport()
        sink = RecordingSink()
        await transport.start(sink)
        try:
            await test(transport, sink)
        finally:
            await transport.close()

    asyncio.run(main())


async def connect(transport: TcpTransport) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", transport.port)


async def hung_up(reader: asyncio.StreamReader) -> bool:
    """True when the server closed the connection (EOF, or RST if we had sent unread bytes)."""
    try:
        return await asyncio.wait_for(reader.read(), 2) == b""
    except ConnectionResetError:
        return True


async def hang_up(writer: asyncio.StreamWriter) -> None:
    writer.close()
    await writer.wait_closed()


def test_satisfies_the_protocols() -> None:
    transport: Transport = TcpTransport()
    sink: HostSink = RecordingSink()
    assert transport.description == ""
    assert sink is not None


def test_port_url_and_description_after_start() -> None:
    async def body(transport: TcpTransport, sink: RecordingSink) -> None:
        assert transport.port > 0
        assert transport.url == f"socket://127.0.0.1:{transport.port}"
        assert transport.description == f"127.0.0.1:{transport.port}"
        assert sink.events == []

    run_with(body)


def test_bytes_both_ways_with_streams() -> None:
    async def body(transport: TcpTransport, sink: RecordingSink) -> None:
        reader, writer = await connect(transport)
        await until(lambda: sink.events == ["connected"])
        writer.write(b"AT\r")
        await until(lambda: sink.data == b"AT\r")
        transport.write(b"\r\nOK\r\n")
        assert await asyncio.wait_for(reader.readexactly(6), 2) == b"\r\nOK\r\n"
        everything = bytes(range(256)) * 4
        writer.write(everything)
        await until(lambda: sink.data == b"AT\r" + everything)
        transport.write(everything)
        assert await asyncio.wait_for(reader.readexactly(1024), 2) == everything
        await hang_up(writer)
        await until(lambda: sink.events == ["connected", "disconnected"])

    run_with(body)


def test_nagle_disabled_on_the_accepted_socket() -> None:
    async def body(transport: TcpTransport, sink: RecordingSink) -> None:
        _reader, writer = await connect(transport)
        await until(lambda: sink.events == ["connected"])
        active = transport._active
        assert active is not None
        sock = active.get_extra_info("socket")
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        await hang_up(writer)

    run_with(body)


def test_pyserial_socket_url_in_a_thread() -> None:
    async def body(transport: TcpTransport, sink: RecordingSink) -> None:
        sink.reply = lambda data: transport.write(data.upper())

        def host() -> bytes:
            with serial.serial_for_url(transport.url, timeout=2) as port:
                port.write(b"ati\r")
                first = port.read(4)
                port.write(bytes(range(256)))
                return first + port.read(256)

        got = await asyncio.to_thread(host)
        assert got == b"ATI\r" + bytes(range(256)).upper()
        await until(lambda: sink.events == ["connected", "disconnected"])
        assert sink.data == b"ati\r" + bytes(range(256))

    run_with(body)


def test_bytes_written_without_a_host_are_dropped() -> None:
    async def body(transport: TcpTransport, sink: RecordingSink) -> None:
        transport.write(b"lost\r\n")
        reader, writer = await connect(transport)
        await until(lambda: sink.events == ["connected"])
        transport.write(b"kept")
        assert await asyncio.wait_for(reader.readexactly(4), 2) == b"kept"
        await hang_up(writer)
        await until(lambda: sink.events == ["connected", "disconnected"])
        transport.write(b"lost again")
        reader, writer = await connect(transport)
        await until(lambda: sink.events[-1] == "connected")
        transport.write(b"new")
        assert await asyncio.wait_for(reader.readexactly(3), 2) == b"new"
        await hang_up(writer)

    run_with(body)


def test_second_client_is_refused_while_the_first_works() -> None:
    async def body(transport: TcpTransport, sink: RecordingSink) -> None:
        reader1, writer1 = await connect(transport)
        await until(lambda: sink.events == ["connected"])
        reader2, writer2 = await connect(transport)
        writer2.write(b"intruder")
        assert await hung_up(reader2)  # nothing was written to it before the close
        await hang_up(writer2)
        writer1.write(b"AT\r")
        await until(lambda: sink.data == b"AT\r")
        transport.write(b"OK\r\n")
        assert await asyncio.wait_for(reader1.readexactly(4), 2) == b"OK\r\n"
        assert sink.events == ["connected"]
        assert sink.data == b"AT\r"
        await hang_up(writer1)
        await until(lambda: sink.events == ["connected", "disconnected"])

    run_with(body)


def test_reconnect_after_the_first_host_leaves() -> None:
    async def body(transport: TcpTransport, sink: RecordingSink) -> None:
        _reader, writer = await connect(transport)
        await until(lambda: sink.events == ["connected"])
        writer.write(b"one")
        await until(lambda: sink.data == b"one")
        await hang_up(writer)
        await until(lambda: sink.events == ["connected", "disconnected"])
        reader, writer = await connect(transport)
        await until(lambda: sink.events == ["connected", "disconnected", "connected"])
        writer.write(b"two")
        await until(lambda: sink.data == b"onetwo")
        transport.write(b"back")
        assert await asyncio.wait_for(reader.readexactly(4), 2) == b"back"
        await hang_up(writer)
        await until(lambda: sink.events == ["connected", "disconnected"] * 2)

    run_with(body)


def test_close_hangs_up_the_host_without_callbacks() -> None:
    async def body(transport: TcpTransport, sink: RecordingSink) -> None:
        reader, writer = await connect(transport)
        await until(lambda: sink.events == ["connected"])
        await transport.close()
        assert await hung_up(reader)
        await asyncio.sleep(0.01)
        assert sink.events == ["connected"]
        transport.write(b"after close")  # ignored, no error
        await hang_up(writer)
        try:
            await connect(transport)
        except OSError:
            pass
        else:
            raise AssertionError("still listening after close()")

    run_with(body)


def test_host_that_never_reads_does_not_grow_memory() -> None:
    async def body(transport: TcpTransport, sink: RecordingSink) -> None:
        transport.max_buffer = 64 * 1024
        _reader, writer = await connect(transport)
        await until(lambda: sink.events == ["connected"])
        chunk = b"x" * 65536
        started = time.monotonic()
        total = 0
        # The kernel's loopback buffers take a few MiB first, then asyncio's, then we drop.
        while transport.dropped == 0 and total < 256 * 1024 * 1024:
            transport.write(chunk)
            total += len(chunk)
            await asyncio.sleep(0)
        assert time.monotonic() - started < 5
        assert transport.dropped > 0
        active = transport._active
        assert active is not None
        assert active.get_write_buffer_size() <= transport.max_buffer
        await hang_up(writer)

    run_with(body)
