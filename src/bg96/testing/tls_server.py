"""A loopback TLS echo server (asyncio, or in its own thread) for tests and the demo.

It listens on 127.0.0.1 only, on a port the OS picks.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import ssl
import threading
from types import TracebackType
from typing import Self

from .certs import TestPki

LOOPBACK = "127.0.0.1"


def server_context(
    pki: TestPki,
    *extra_names: str,
    versions: tuple[ssl.TLSVersion, ssl.TLSVersion] | None = None,
    ciphers: str | None = None,
    require_client_cert: bool = False,
) -> ssl.SSLContext:
    """A server context for ``pki``'s server certificate: TLS 1.0+ and every suite by default.

    ``versions`` is (minimum, maximum); ``ciphers`` an OpenSSL cipher string.
    """
    return pki.server_ctx(
        *extra_names,
        versions=versions,
        ciphers=ciphers,
        require_client_cert=require_client_cert,
    )


class LoopbackServer(abc.ABC):
    """``async with``: an asyncio server on 127.0.0.1 (a port the OS picks) that tracks its
    connection handlers and cancels them on exit. Subclasses implement ``_connection``."""

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.host = LOOPBACK
        self.port = 0

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._on_connection, LOOPBACK, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await self._connection(reader, writer)
        except asyncio.CancelledError:
            pass  # the server is stopping
        finally:
            if task is not None:
                self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()

    @abc.abstractmethod
    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one client; the base class closes its writer afterwards."""


class TlsEchoServer(LoopbackServer):
    """``async with TlsEchoServer(ctx) as srv``: echoes every byte back, records what it got.

    TLS runs over MemoryBIOs (not asyncio's ssl=) so that a failed handshake still sends its
    alert to the client, as a real server does.
    """

    def __init__(self, ssl_ctx: ssl.SSLContext) -> None:
        super().__init__()
        self._ctx = ssl_ctx
        self.received = bytearray()  # all plaintext received, across connections
        self.connections = 0  # TCP connections accepted (TLS handshake done or not)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        with contextlib.suppress(ConnectionError, ssl.SSLError):  # a broken client
            await self._serve(reader, writer)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = self._ctx.wrap_bio(incoming, outgoing, server_side=True)

        async def flush() -> None:
            if out := outgoing.read():
                writer.write(out)
                await writer.drain()

        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                await flush()
            except ssl.SSLError:
                await flush()  # the alert
                return
            data = await reader.read(65536)
            if not data:
                return
            incoming.write(data)
        await flush()
        while data := await reader.read(65536):
            incoming.write(data)
            chunks: list[bytes] = []
            closed = False
            while True:
                try:
                    chunk = tls.read(65536)
                except ssl.SSLWantReadError:
                    break
                except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                    closed = True
                    break
                if not chunk:
                    closed = True
                    break
                chunks.append(chunk)
            if chunks:
                plain = b"".join(chunks)
                self.received += plain
                tls.write(plain)
            if closed:
                with contextlib.suppress(ssl.SSLError):
                    tls.unwrap()
            await flush()
            if closed:
                return


class ThreadedTlsEchoServer:
    """A TlsEchoServer on its own event loop in a daemon thread, for synchronous callers."""

    def __init__(self, ssl_ctx: ssl.SSLContext) -> None:
        self._server = TlsEchoServer(ssl_ctx)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return self._server.host

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def received(self) -> bytearray:
        return self._server.received

    @property
    def connections(self) -> int:
        return self._server.connections

    def __enter__(self) -> Self:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="tls-echo", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._server.__aenter__(), loop).result(timeout=10)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            stop = self._server.__aexit__(None, None, None)
            asyncio.run_coroutine_threadsafe(stop, loop).result(timeout=10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            if not thread.is_alive():
                loop.close()
            self._loop = self._thread = None


__all__ = [
    "LOOPBACK",
    "LoopbackServer",
    "ThreadedTlsEchoServer",
    "TlsEchoServer",
    "server_context",
]
