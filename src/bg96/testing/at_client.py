"""A minimal asyncio AT client for the demo and the tests (the full host driver is separate).

It writes a command line and collects the module's bytes up to the final result code,
keeping URCs that arrive in between for ``wait_urc``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re

FINAL = re.compile(rb"\r\n(OK|ERROR|\+CME ERROR: [^\r]*|SEND OK|SEND FAIL|NO CARRIER|CONNECT)\r\n")


class AtClient:
    """Talks to a module over an asyncio stream pair (e.g. its TCP transport)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.buffer = bytearray()

    @classmethod
    async def connect(cls, host: str, port: int) -> AtClient:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()

    def write(self, data: bytes) -> None:
        self.writer.write(data)

    async def _fill(self, timeout: float) -> None:
        chunk = await asyncio.wait_for(self.reader.read(65536), timeout)
        if not chunk:
            raise ConnectionError("the module closed the connection")
        self.buffer += chunk

    async def read_until(self, marker: bytes, timeout: float = 10.0) -> bytes:
        """Everything up to and including ``marker``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (i := self.buffer.find(marker)) < 0:
            await self._fill(max(0.0, deadline - loop.time()))
        out = bytes(self.buffer[: i + len(marker)])
        del self.buffer[: i + len(marker)]
        return out

    async def read_exactly(self, n: int, timeout: float = 10.0) -> bytes:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.buffer) < n:
            await self._fill(max(0.0, deadline - loop.time()))
        out = bytes(self.buffer[:n])
        del self.buffer[:n]
        return out

    async def response(self, timeout: float = 10.0) -> bytes:
        """Bytes up to and including the first final result code."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (m := FINAL.search(self.buffer)) is None:
            await self._fill(max(0.0, deadline - loop.time()))
        out = bytes(self.buffer[: m.end()])
        del self.buffer[: m.end()]
        return out

    async def command(self, line: str | bytes, timeout: float = 10.0) -> bytes:
        """Send ``line`` with CR and return the response up to its final result code."""
        data = line.encode() if isinstance(line, str) else line
        self.write(data + b"\r")
        return await self.response(timeout)

    async def wait_urc(self, prefix: bytes, timeout: float = 10.0) -> bytes:
        """The next ``\\r\\n<prefix>...\\r\\n`` line (whole line, without its CR LF frame)."""
        line = await self.read_until(b"\r\n" + prefix, timeout)
        del line
        rest = await self.read_until(b"\r\n", timeout)
        return prefix + rest[:-2]
