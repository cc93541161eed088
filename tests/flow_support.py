"""Servers and a host for the flow-control tests: a TLS server that floods, one that stops
reading, and a host socket with small kernel buffers (so what the kernel holds is small and
what the module holds shows)."""

from __future__ import annotations

import contextlib
import hashlib
import socket
import ssl
import threading
import time
from types import TracebackType
from typing import Self

from bg96.testing.at_client import AtClient

SMALL = 1 << 16  # kernel buffer bytes on the test's own sockets


def stream(n: int) -> bytes:
    """``n`` bytes that show their own order (4-byte counters)."""
    return b"".join(i.to_bytes(4, "big") for i in range((n + 3) // 4))[:n]


class _ThreadedTlsServer:
    """One TLS connection at a time on 127.0.0.1, served by ``_serve`` in a thread."""

    def __init__(self, ctx: ssl.SSLContext) -> None:
        self._ctx = ctx
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port: int = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.errors: list[BaseException] = []

    def __enter__(self) -> Self:
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept (close alone does not)
        self._listener.close()
        deadline = time.monotonic() + 5
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                raw, _ = self._listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._one, args=(raw,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _one(self, raw: socket.socket) -> None:
        try:
            with self._ctx.wrap_socket(raw, server_side=True) as tls:
                self._serve(tls)
        except (OSError, ssl.SSLError) as exc:
            if not self._stop.is_set():
                self.errors.append(exc)

    def _serve(self, tls: ssl.SSLSocket) -> None:
        raise NotImplementedError


class FloodServer(_ThreadedTlsServer):
    """Sends ``payload`` to each client as fast as it is taken (``sent`` counts), then
    closes (close_notify)."""

    def __init__(self, ctx: ssl.SSLContext, payload: bytes) -> None:
        super().__init__(ctx)
        self.payload = payload
        self.sent = 0
        self.done = threading.Event()

    def _serve(self, tls: ssl.SSLSocket) -> None:
        view = memoryview(self.payload)
        for start in range(0, len(view), 16384):
            tls.sendall(view[start : start + 16384])
            self.sent = start + len(view[start : start + 16384])
        self.done.set()
        tls.unwrap()


class SinkServer(_ThreadedTlsServer):
    """Reads nothing until ``drain`` is set, then reads to the end; ``received`` counts and
    ``digest`` hashes what came."""

    def __init__(self, ctx: ssl.SSLContext) -> None:
        super().__init__(ctx)
        self.drain = threading.Event()
        self.received = 0
        self._hash = hashlib.sha256()
        self.finished = threading.Event()

    def _serve(self, tls: ssl.SSLSocket) -> None:
        self.drain.wait()
        while data := tls.recv(65536):
            self.received += len(data)
            self._hash.update(data)
        self.finished.set()

    @property
    def digest(self) -> str:
        return self._hash.hexdigest()


async def small_host(port: int) -> AtClient:
    """An AT client on the module's TCP port whose socket buffers are small."""
    import asyncio

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock)
    return AtClient(reader, writer)
