"""PtyTransport: raw bytes through a pseudo-terminal, reopening, the symlink, a stuck host."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import serial

from bg96.module.transports import HostSink, PtyTransport, Transport
from bg96.module.transports.pty import WRITE_HIGH

from .sinks import RecordingSink, until

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux pty")

ALL_BYTES = bytes(range(256))


async def until_received(sink: RecordingSink, expected: bytes) -> None:
    await until(lambda: sink.data == expected)


def run_with(
    test: Callable[[PtyTransport, RecordingSink], Awaitable[None]], link: Path | None = None
) -> PtyTransport:
    """Start a transport, run ``test``, close the transport; returns it for after-checks."""
    transport = PtyTransport(link)

    async def main() -> None:
        sink = RecordingSink()
        await transport.start(sink)
        try:
            await test(transport, sink)
        finally:
            await transport.close()

    asyncio.run(main())
    return transport


def open_host(path: str) -> int:
    """Open the device like a host program that does no termios set-up of its own."""
    return os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)


async def read_exactly(fd: int, count: int, timeout: float = 2.0) -> bytes:
    """Read ``count`` bytes from a non-blocking fd without blocking the loop."""
    got = bytearray()
    async with asyncio.timeout(timeout):
        while len(got) < count:
            try:
                got += os.read(fd, count - len(got))
            except BlockingIOError:
                await asyncio.sleep(0.002)
    return bytes(got)


async def nothing_to_read(fd: int, wait: float = 0.05) -> bool:
    await asyncio.sleep(wait)
    try:
        os.read(fd, 1)
    except BlockingIOError:
        return True
    return False


def test_satisfies_the_protocols() -> None:
    transport: Transport = PtyTransport()
    sink: HostSink = RecordingSink()
    assert transport.description == ""
    assert sink is not None


def test_path_and_connected_once_at_start() -> None:
    async def body(transport: PtyTransport, sink: RecordingSink) -> None:
        assert transport.path.startswith("/dev/pts/")
        assert transport.description == transport.path
        assert os.path.exists(transport.path)
        assert sink.events == ["connected"]

    transport = run_with(body)
    assert transport.buffered == 0


def test_all_byte_values_both_ways_with_os_open() -> None:
    async def body(transport: PtyTransport, sink: RecordingSink) -> None:
        fd = open_host(transport.path)
        try:
            os.write(fd, ALL_BYTES)
            await until(lambda: sink.data == ALL_BYTES)
            transport.write(ALL_BYTES)
            assert await read_exactly(fd, 256) == ALL_BYTES
            assert await nothing_to_read(fd)  # no echo, no CR/LF expansion
            assert sink.data == ALL_BYTES  # and nothing echoed back to the module
        finally:
            os.close(fd)

    run_with(body)


def test_all_byte_values_both_ways_with_pyserial_in_a_thread() -> None:
    async def body(transport: PtyTransport, sink: RecordingSink) -> None:
        sink.reply = transport.write  # echo, like ATE1

        def host() -> bytes:
            with serial.Serial(transport.path, 115200, timeout=2) as port:
                port.write(b"AT\r")
                first = port.read(3)
                port.write(ALL_BYTES)
                return first + port.read(256)

        assert await asyncio.to_thread(host) == b"AT\r" + ALL_BYTES
        assert sink.data == b"AT\r" + ALL_BYTES

    run_with(body)


def test_host_closes_and_reopens_the_device() -> None:
    async def body(transport: PtyTransport, sink: RecordingSink) -> None:
        for round_ in range(3):
            fd = open_host(transport.path)
            try:
                message = f"AT+ROUND={round_}\r".encode()
                os.write(fd, message)
                expected = bytes(sink.data) + message
                await until_received(sink, expected)
                transport.write(b"\r\nOK\r\n")
                assert await read_exactly(fd, 6) == b"\r\nOK\r\n"
            finally:
                os.close(fd)
            await asyncio.sleep(0.01)  # the module keeps running with no host
        sink.reply = transport.write

        def host() -> bytes:
            with serial.Serial(transport.path, timeout=2) as port:
                port.write(b"ping")
                return port.read(4)

        assert await asyncio.to_thread(host) == b"ping"
        assert await asyncio.to_thread(host) == b"ping"
        assert sink.events == ["connected"]  # a pty cannot see opens and closes

    run_with(body)


def test_symlink_created_and_removed(tmp_path: Path) -> None:
    link = tmp_path / "ttyBG96"

    async def body(transport: PtyTransport, sink: RecordingSink) -> None:
        assert link.is_symlink()
        assert os.readlink(link) == transport.path
        fd = open_host(str(link))
        try:
            transport.write(b"via link")
            assert await read_exactly(fd, 8) == b"via link"
        finally:
            os.close(fd)

    run_with(body, link)
    assert not link.exists()
    assert not link.is_symlink()


def test_existing_symlink_is_replaced(tmp_path: Path) -> None:
    link = tmp_path / "ttyBG96"
    link.symlink_to("/dev/pts/stale-and-missing")

    async def body(transport: PtyTransport, sink: RecordingSink) -> None:
        assert os.readlink(link) == transport.path

    run_with(body, link)
    assert not link.is_symlink()


def test_regular_file_is_not_replaced(tmp_path: Path) -> None:
    link = tmp_path / "ttyBG96"
    link.write_text("precious")

    async def main() -> None:
        transport = PtyTransport(link)
        sink = RecordingSink()
        with pytest.raises(FileExistsError):
            await transport.start(sink)
        assert sink.events == []
        await transport.close()

    asyncio.run(main())
    assert link.read_text() == "precious"


def test_a_host_that_does_not_read_pauses_the_writer_and_loses_nothing() -> None:
    async def body(transport: PtyTransport, sink: RecordingSink) -> None:
        fd = open_host(transport.path)
        try:
            # Distinct 4-byte counters so that what arrives can be checked for order.
            stream = b"".join(i.to_bytes(4, "big") for i in range(256 * 1024))  # 1 MiB
            started = time.monotonic()
            written = 0
            while "pause writing" not in sink.events:
                transport.write(stream[written : written + 4096])
                written += 4096
            assert time.monotonic() - started < 1  # writing never blocks
            assert WRITE_HIGH < transport.buffered <= WRITE_HIGH + 4096
            got = bytearray()
            while len(got) < written:  # the host reads everything, in order
                try:
                    got += os.read(fd, 65536)
                except BlockingIOError:
                    await asyncio.sleep(0.002)
            assert got == stream[:written]
            assert sink.events[-1] == "resume writing"
        finally:
            os.close(fd)

    run_with(body)


def test_close_is_idempotent_and_write_after_close_is_ignored() -> None:
    async def main() -> None:
        transport = PtyTransport()
        await transport.start(RecordingSink())
        path = transport.path
        await transport.close()
        await transport.close()
        transport.write(b"ignored")
        assert transport.path == path

    asyncio.run(main())
