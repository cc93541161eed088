"""TcpTransport: one host at a time over loopback, bytes both ways, pyserial's socket:// URL."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import serial

from bg96.module.transports import HostSink, TcpTransport, Transport
from bg96.module.transports.tcp import WRITE_HIGH

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
        assert sink.events[0] == "connected"
        assert sink.events[1].startswith("note connection from 127.0.0.1:")
        assert sink.events[1].endswith(
            "refused: another host has the port (one host at a time, like a serial port)"
        )
        assert len(sink.events) == 2
        assert sink.data == b"AT\r"
        await hang_up(writer1)
        await until(lambda: sink.events[-1] == "disconnected")

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


def test_a_host_that_does_not_read_pauses_the_writer_and_loses_nothing() -> None:
    async def body(transport: TcpTransport, sink: RecordingSink) -> None:
        reader, writer = await connect(transport)
        await until(lambda: sink.events == ["connected"])
        stream = b"".join(i.to_bytes(4, "big") for i in range(2 * 1024 * 1024))  # 8 MiB
        written = 0
        # the kernel's loopback buffers take a few MiB, then asyncio's up to WRITE_HIGH
        while "pause writing" not in sink.events and written < len(stream):
            transport.write(stream[written : written + 65536])
            written += 65536
            await asyncio.sleep(0)
        assert "pause writing" in sink.events, "never asked to stop"
        active = transport._active
        assert active is not None
        assert active.get_write_buffer_size() <= WRITE_HIGH + 65536
        got = bytearray()
        while len(got) < written:  # the host reads: the writer may go on
            got += await asyncio.wait_for(reader.read(1 << 20), 5)
            if "resume writing" in sink.events and written < len(stream):
                transport.write(stream[written : written + 65536])
                written += 65536
        assert got == stream[:written]  # every byte, in order
        assert sink.events[-1] == "resume writing"
        await hang_up(writer)

    run_with(body)
