"""The RFC 2217 port under hostile input, and a pyserial host that sees the boot URCs."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time

import serial

from bg96 import VirtualModule
from bg96.module.trace import Trace

IAC, SB, SE, WILL, DO = 0xFF, 0xFA, 0xF0, 0xFB, 0xFD
COM_PORT = 44
SET_PARITY = 3


def telnet(*parts: int | bytes) -> bytes:
    return b"".join(bytes([p]) if isinstance(p, int) else p for p in parts)


MALFORMED = [
    telnet(IAC, SE),  # a subnegotiation end with no start
    telnet(IAC, SB, COM_PORT, SET_PARITY, 9, IAC, SE),  # an unknown parity code
    telnet(IAC, SB, COM_PORT, 1, 7, IAC, SE),  # a baud rate of one byte instead of four
    telnet(IAC, SB, COM_PORT) + b"x" * 5000,  # a subnegotiation that never ends
    telnet(IAC, SB, IAC, SE),  # an empty one
]


def ask(url: str, line: bytes, timeout: float = 5.0) -> bytes:
    """Open a pyserial port on ``url``, send ``line`` and read until OK."""
    port = serial.serial_for_url(url, timeout=0.1)
    try:
        port.write(line)
        got = bytearray()
        deadline = time.monotonic() + timeout
        while b"OK\r\n" not in got and time.monotonic() < deadline:
            got += port.read(4096)
        return bytes(got)
    finally:
        threading.Thread(target=port.close, daemon=True).start()


def test_malformed_telnet_is_noted_and_the_connection_goes_on() -> None:
    with VirtualModule(transport="rfc2217", trace=Trace.null()) as vm:
        notes: list[str] = []
        vm.trace.listen(lambda event: notes.append(str(event.get("text", ""))))
        host, port = vm.url.removeprefix("rfc2217://").rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=5) as raw:
            raw.settimeout(5)
            for garbage in MALFORMED:
                raw.sendall(garbage)
            # data right behind the garbage still counts (the over-long subnegotiation became
            # data: a line too long, answered ERROR; the next line is fine)
            raw.sendall(telnet(IAC, SE) + b"\rAT\r")
            got = bytearray()
            deadline = time.monotonic() + 5
            while b"\r\nOK\r\n" not in got and time.monotonic() < deadline:
                got += raw.recv(4096)
            assert b"AT\r\r\nOK\r\n" in got
        malformed = [n for n in notes if n.startswith("RFC 2217: malformed Telnet")]
        assert len(malformed) >= len(MALFORMED)


def test_a_flood_of_bad_and_refused_connections_leaves_the_port_serving() -> None:
    with VirtualModule(transport="rfc2217") as vm:
        host, port = vm.url.removeprefix("rfc2217://").rsplit(":", 1)
        first = socket.create_connection((host, int(port)), timeout=5)  # holds the port
        try:
            for _ in range(200):  # refused, each with garbage it sends before the close
                with (
                    socket.create_connection((host, int(port)), timeout=5) as extra,
                    contextlib.suppress(OSError),  # refused first: a broken pipe
                ):
                    extra.sendall(telnet(IAC, SE, IAC, SB, COM_PORT, SET_PARITY, 9, IAC, SE))
        finally:
            first.close()
        for _ in range(50):  # connections that each send garbage and go
            with (
                socket.create_connection((host, int(port)), timeout=5) as bad,
                contextlib.suppress(OSError),  # the one before may still hold the port
            ):
                bad.sendall(b"".join(MALFORMED))
        # the last of them may still hold the port for a moment: a host is refused until then
        deadline = time.monotonic() + 10
        while True:
            try:
                answer = ask(vm.url, b"ATE0\r")
                break
            except (serial.SerialException, OSError):  # refused: the port is still taken
                assert time.monotonic() < deadline, "the port never became free"
        # the module may power on with this host: APP RDY can follow the OK
        assert b"OK\r\n" in answer and b"ERROR" not in answer, answer


def test_a_pyserial_host_sees_the_boot_urcs() -> None:
    """pyserial's rfc2217 open() purges its input at the end: the module powers on after."""
    with VirtualModule(transport="rfc2217") as vm:
        port = serial.serial_for_url(vm.url, timeout=0.1)
        try:
            got = bytearray()
            deadline = time.monotonic() + 5
            while b"APP RDY" not in got and time.monotonic() < deadline:
                got += port.read(4096)
            assert got.startswith(b"\r\nRDY\r\n"), bytes(got)
            assert b"\r\nAPP RDY\r\n" in got
        finally:
            threading.Thread(target=port.close, daemon=True).start()


def test_a_raw_client_that_never_purges_is_connected_on_its_first_byte() -> None:
    async def main() -> None:
        async with VirtualModule(transport="rfc2217") as vm:
            host, port = vm.url.removeprefix("rfc2217://").rsplit(":", 1)
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(b"AT\r")
            got = bytearray()
            async with asyncio.timeout(5):
                while b"\r\nOK\r\n" not in got:
                    got += await reader.read(4096)
            # Telnet negotiation first, then the boot URCs and the answer
            assert b"\r\nRDY\r\n" in got and b"AT\r\r\nOK\r\n" in got
            writer.close()

    asyncio.run(main())
