"""Socket-shaped wrappers around a TCP or SSL connection of the module, so socket-taking code
runs over the modem: ``SocketLike`` for sync code (``http.client`` can use it),
``AsyncSocketLike`` for asyncio."""

from __future__ import annotations

import io
from types import TracebackType
from typing import Any, Generic, Protocol, TypeVar

from .errors import ModemTimeout


class Stream(Protocol):
    """What ``SocketLike`` needs of a connection (``SslConnection`` and ``TcpConnection``
    have it)."""

    def send(self, data: bytes) -> None: ...
    def recv(self, size: int = ..., timeout: float | None = ...) -> bytes: ...
    def close(self, timeout: int = ...) -> None: ...


class AsyncStream(Protocol):
    """What ``AsyncSocketLike`` needs of a connection (``AsyncSslConnection`` and
    ``AsyncTcpConnection`` have it)."""

    async def send(self, data: bytes) -> None: ...
    async def recv(self, size: int = ..., timeout: float | None = ...) -> bytes: ...
    async def close(self, timeout: int = ...) -> None: ...


C = TypeVar("C", bound=Stream)
A = TypeVar("A", bound=AsyncStream)


class _RawFile(io.RawIOBase):
    """A ``makefile`` raw layer; it holds the socket open until it is closed (as sockets do)."""

    def __init__(self, owner: SocketLike[Any]) -> None:
        self._owner = owner
        owner._io_refs += 1

    def close(self) -> None:
        if not self.closed:
            super().close()
            self._owner._release()


class _RawReader(_RawFile):
    """``makefile("rb")``'s raw layer: reads come from the connection."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._owner.recv(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _RawWriter(_RawFile):
    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        payload = bytes(data)
        self._owner.sendall(payload)
        return len(payload)


class SocketLike(Generic[C]):
    """``sendall``, ``send``, ``recv``, ``makefile``, ``settimeout``, ``close`` over the modem.

    Timeouts raise ``socket.timeout`` (``TimeoutError``) like a real socket.
    """

    def __init__(self, connection: C, timeout: float | None = None) -> None:
        self.connection = connection
        self._timeout = timeout
        self._io_refs = 0  # open makefile() objects
        self._closing = False

    def settimeout(self, timeout: float | None) -> None:
        self._timeout = timeout

    def gettimeout(self) -> float | None:
        return self._timeout

    def setblocking(self, flag: bool) -> None:
        self._timeout = None if flag else 0.0

    def sendall(self, data: bytes | bytearray | memoryview) -> None:
        self.connection.send(bytes(data))

    def send(self, data: bytes | bytearray | memoryview) -> int:
        self.sendall(data)
        return len(data)

    def recv(self, size: int, flags: int = 0) -> bytes:
        try:
            return self.connection.recv(size, self._timeout)
        except ModemTimeout as exc:
            raise TimeoutError(str(exc)) from exc

    def recv_into(self, buffer: Any, size: int = 0, flags: int = 0) -> int:
        data = self.recv(size or len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def makefile(self, mode: str = "r", buffering: int | None = None, **kwargs: Any) -> Any:
        """A file over the connection: ``"rb"``/``"wb"`` binary, text otherwise."""
        size: int = buffering if buffering is not None and buffering > 0 else io.DEFAULT_BUFFER_SIZE
        if "w" in mode:
            raw_w = _RawWriter(self)
            binary_w: io.BufferedIOBase = io.BufferedWriter(raw_w, size)
            return binary_w if "b" in mode else io.TextIOWrapper(binary_w, **kwargs)
        raw_r = _RawReader(self)
        binary_r: io.BufferedIOBase = io.BufferedReader(raw_r, size)
        return binary_r if "b" in mode else io.TextIOWrapper(binary_r, **kwargs)

    def close(self) -> None:
        """Close; like ``socket.close``, the connection lasts while a ``makefile`` is open
        (``http.client`` closes the socket and then reads the body from its file)."""
        self._closing = True
        if self._io_refs == 0:
            self.connection.close()

    def _release(self) -> None:
        self._io_refs -= 1
        if self._closing and self._io_refs == 0:
            self.connection.close()

    def shutdown(self, how: int) -> None:
        pass

    def fileno(self) -> int:
        return -1

    def __enter__(self) -> SocketLike[C]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncSocketLike(Generic[A]):
    """``await sendall``, ``send``, ``recv``, ``close`` over the modem, for asyncio code.

    Timeouts (``settimeout``; None waits forever) raise ``TimeoutError`` like a socket's; the
    driver's other exceptions (``ConnectionClosedByPeer``, ``CommandError``...) pass through.
    ``recv`` returns ``b""`` once the server closed and everything was read.
    """

    def __init__(self, connection: A, timeout: float | None = None) -> None:
        self.connection = connection
        self._timeout = timeout

    def settimeout(self, timeout: float | None) -> None:
        self._timeout = timeout

    def gettimeout(self) -> float | None:
        return self._timeout

    async def sendall(self, data: bytes | bytearray | memoryview) -> None:
        await self.connection.send(bytes(data))

    async def send(self, data: bytes | bytearray | memoryview) -> int:
        await self.sendall(data)
        return len(data)

    async def recv(self, size: int, flags: int = 0) -> bytes:
        try:
            return await self.connection.recv(size, self._timeout)
        except ModemTimeout as exc:
            raise TimeoutError(str(exc)) from exc

    async def close(self) -> None:
        await self.connection.close()

    async def __aenter__(self) -> AsyncSocketLike[A]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
