"""Loopback servers without TLS, for tests and examples: a TCP echo server and a UDP echo
server (the SNTP server is ``ntp_server.SntpServer``). Each listens on 127.0.0.1 only, on a
port the OS picks, in a thread of its own (``with ... as server``), and stops when the block
ends.
"""

from __future__ import annotations

import selectors
import socket
import threading
from types import TracebackType
from typing import Self

LOOPBACK = "127.0.0.1"


class _Served:
    """A listening socket on 127.0.0.1 served by a ``selectors`` loop in a thread; a
    socketpair wakes the loop to stop it (no polling)."""

    kind = socket.SOCK_STREAM

    def __init__(self) -> None:
        self.host = LOOPBACK
        self.port = 0
        self._sock = socket.socket(socket.AF_INET, self.kind)
        self._wake_r, self._wake_w = socket.socketpair()
        self._selector = selectors.DefaultSelector()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> Self:
        self._sock.bind((LOOPBACK, 0))
        self.port = self._sock.getsockname()[1]
        if self.kind == socket.SOCK_STREAM:
            self._sock.listen()
        self._sock.setblocking(False)
        self._selector.register(self._sock, selectors.EVENT_READ, self._ready)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._thread = threading.Thread(target=self._loop, name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._wake_w.send(b"x")
        if self._thread is not None:
            self._thread.join(timeout=10)
        for key in list(self._selector.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        self._selector.close()
        self._wake_w.close()

    def _loop(self) -> None:
        while True:
            for key, _ in self._selector.select():
                if key.data is None:
                    return
                key.data(key.fileobj)

    def _ready(self, sock: socket.socket) -> None:
        raise NotImplementedError


class EchoServer(_Served):
    """A TCP echo server: every byte goes back; ``received`` holds all of them, across
    connections; ``connections`` counts them."""

    def __init__(self) -> None:
        super().__init__()
        self._received = bytearray()
        self.connections = 0

    @property
    def received(self) -> bytes:
        with self._lock:
            return bytes(self._received)

    def _ready(self, sock: socket.socket) -> None:
        try:
            client, _ = sock.accept()
        except BlockingIOError:
            return
        client.setblocking(True)  # the echo writes back whole; reads wait on the selector
        self.connections += 1
        self._selector.register(client, selectors.EVENT_READ, self._echo)

    def _echo(self, client: socket.socket) -> None:
        try:
            data = client.recv(65536)
            if data:
                with self._lock:
                    self._received += data
                client.sendall(data)
                return
        except OSError:
            pass
        self._selector.unregister(client)
        client.close()


class UdpEchoServer(_Served):
    """A UDP echo server: each datagram goes back to its sender as it came; ``datagrams``
    holds what arrived, with the senders."""

    kind = socket.SOCK_DGRAM

    def __init__(self) -> None:
        super().__init__()
        self._datagrams: list[tuple[bytes, tuple[str, int]]] = []

    @property
    def datagrams(self) -> list[tuple[bytes, tuple[str, int]]]:
        with self._lock:
            return list(self._datagrams)

    def _ready(self, sock: socket.socket) -> None:
        try:
            data, sender = sock.recvfrom(65536)
        except OSError:
            return
        with self._lock:
            self._datagrams.append((data, sender))
        sock.sendto(data, sender)
