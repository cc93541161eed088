"""The module's sockets, as sync and asyncio code hold them.

Each class shows a ``Link`` (the state) and runs the ``socket_operations`` procedures through
the modem that opened it, which it knows only as something that runs procedures: this module
does not import the clients. The procedures are the same for SSL and plain TCP (the link's
command family names the commands), so ``SslConnection`` and ``TcpConnection`` are one
``StreamConnection``; UDP sockets and listeners have their own few operations.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol, TypeVar

from . import socket_operations as ops
from .core import BUFFER, PUSH, TRANSPARENT, Address, Link
from .faces import awaitable, blocking
from .requests import Procedure
from .socket_operations import MAX_RECV, MAX_SEND
from .socketlike import AsyncSocketLike, SocketLike

__all__ = [
    "BUFFER",
    "MAX_RECV",
    "MAX_SEND",
    "PUSH",
    "TRANSPARENT",
    "AsyncFace",
    "AsyncModuleSocket",
    "AsyncRunner",
    "AsyncSslConnection",
    "AsyncStreamConnection",
    "AsyncTcpConnection",
    "AsyncTcpListener",
    "AsyncUdpConnection",
    "AsyncUdpSocket",
    "ModuleSocket",
    "SslConnection",
    "StreamConnection",
    "SyncFace",
    "SyncRunner",
    "TcpConnection",
    "TcpListener",
    "UdpConnection",
    "UdpSocket",
]

T = TypeVar("T")


class SyncRunner(Protocol):
    """Runs a procedure to completion in the caller's thread (``Modem``)."""

    def _run(self, proc: Procedure[T]) -> T: ...


class AsyncRunner(Protocol):
    """Runs a procedure on the event loop (``AsyncModem``)."""

    def _run(self, proc: Procedure[T]) -> Awaitable[T]: ...


class _Shown:
    """What every face shows of its link: its ID, mode, peer and how it ended."""

    def __init__(self, link: Link) -> None:
        self._state = link
        link.face = self

    @property
    def client_id(self) -> int:
        return self._state.client_id

    @property
    def access_mode(self) -> int:
        """0 buffer, 1 direct push, 2 transparent (buffer again after ``leave_transparent``)."""
        return self._state.access_mode

    @property
    def service(self) -> str:
        """``"SSLClient"``, ``"TCP"``, ``"UDP"``, ``"TCP LISTENER"``, ``"UDP SERVICE"`` or
        ``"TCP INCOMING"`` (a connection a listener accepted)."""
        return self._state.service.value

    @property
    def peer(self) -> Address:
        """The remote end: the server a client was opened to, the client an incoming
        connection came from (``("", 0)`` for a listener or a UDP service)."""
        return self._state.peer

    @property
    def closed(self) -> bool:
        """``close()`` was called, or the module restarted."""
        return self._state.closed

    @property
    def closed_by_peer(self) -> bool:
        """The server closed it (``+QSSLURC: "closed"``, ``+QIURC: "closed"``, ``NO
        CARRIER``), or the module did (its PDP context went down, it restarted); what was
        received before can still be read."""
        return self._state.closed_by_peer

    def __repr__(self) -> str:
        state = "closed" if self.closed else "closed by peer" if self.closed_by_peer else "open"
        return f"<{type(self).__name__} {self.client_id} mode {self.access_mode} {state}>"


class SyncFace(_Shown):
    """A socket whose operations run in the caller's thread, through a ``Modem``."""

    def __init__(self, modem: SyncRunner, link: Link) -> None:
        super().__init__(link)
        self.modem = modem

    def _run(self, proc: Procedure[T]) -> T:
        return self.modem._run(proc)


class AsyncFace(_Shown):
    """A socket whose operations are awaited, through an ``AsyncModem``."""

    def __init__(self, modem: AsyncRunner, link: Link) -> None:
        super().__init__(link)
        self.modem = modem

    def _run(self, proc: Procedure[T]) -> Awaitable[T]:
        return self.modem._run(proc)


class _Served:
    """A listener's or UDP service's port."""

    _state: Link

    @property
    def local_port(self) -> int:
        """The module's port it was opened on."""
        return self._state.local_port


# ---- sync ---------------------------------------------------------------------------------


class StreamConnection(SyncFace):
    """``send``/``recv``/``close`` on a client ID, in buffer, push or transparent mode."""

    send = blocking(ops.send)
    recv = blocking(ops.recv)
    state = blocking(ops.state)
    leave_transparent = blocking(ops.leave_transparent)
    resume_transparent = blocking(ops.resume_transparent)
    close = blocking(ops.close)


class SslConnection(StreamConnection):
    """A TLS connection the module makes (AT+QSSLOPEN; QSSLSEND, QSSLRECV, QSSLCLOSE)."""


class TcpConnection(StreamConnection):
    """A plain TCP connection (AT+QIOPEN ``"TCP"``, or one a listener accepted; QISEND,
    QIRD, QICLOSE)."""


class UdpConnection(SyncFace):
    """A UDP socket that talks to one peer (AT+QIOPEN ``"UDP"``): ``send`` and ``recv`` a
    datagram at a time."""

    send = blocking(ops.send_datagram)
    recv = blocking(ops.recv_datagram)
    state = blocking(ops.state)
    close = blocking(ops.close)


class UdpSocket(_Served, SyncFace):
    """A UDP socket on a port of the module (AT+QIOPEN ``"UDP SERVICE"``): ``sendto`` any
    address, ``recvfrom`` whoever sends, a datagram at a time."""

    sendto = blocking(ops.sendto)
    recvfrom = blocking(ops.recvfrom)
    state = blocking(ops.state)
    close = blocking(ops.close)


def _accepted(
    listener: TcpListener, accepted: tuple[Link, Address]
) -> tuple[SocketLike[TcpConnection], Address]:
    link, peer = accepted
    return SocketLike(TcpConnection(listener.modem, link)), peer


class TcpListener(_Served, SyncFace):
    """A TCP listener on a port of the module (AT+QIOPEN ``"TCP LISTENER"``)."""

    accept = blocking(ops.accept, _accepted)
    accept.__doc__ = (ops.accept.__doc__ or "") + (
        "\n\n    Returns ``(SocketLike, (ip, port))``, as ``socket.accept`` does; its"
        " ``connection`` is the ``TcpConnection``."
    )
    state = blocking(ops.state)
    close = blocking(ops.close)


ModuleSocket = SslConnection | TcpConnection | UdpConnection | UdpSocket | TcpListener


# ---- asyncio ------------------------------------------------------------------------------


class AsyncStreamConnection(AsyncFace):
    """``await send``/``recv``/``close`` on a client ID, in buffer, push or transparent mode.

    A task may wait in ``recv`` while others send on this or other connections."""

    send = awaitable(ops.send)
    recv = awaitable(ops.recv)
    state = awaitable(ops.state)
    leave_transparent = awaitable(ops.leave_transparent)
    resume_transparent = awaitable(ops.resume_transparent)
    close = awaitable(ops.close)


class AsyncSslConnection(AsyncStreamConnection):
    """A TLS connection the module makes (AT+QSSLOPEN; QSSLSEND, QSSLRECV, QSSLCLOSE)."""


class AsyncTcpConnection(AsyncStreamConnection):
    """A plain TCP connection (AT+QIOPEN ``"TCP"``, or one a listener accepted; QISEND,
    QIRD, QICLOSE)."""


class AsyncUdpConnection(AsyncFace):
    """A UDP socket that talks to one peer (AT+QIOPEN ``"UDP"``): ``await send`` and
    ``await recv`` a datagram at a time."""

    send = awaitable(ops.send_datagram)
    recv = awaitable(ops.recv_datagram)
    state = awaitable(ops.state)
    close = awaitable(ops.close)


class AsyncUdpSocket(_Served, AsyncFace):
    """A UDP socket on a port of the module (AT+QIOPEN ``"UDP SERVICE"``): ``await sendto``
    any address, ``await recvfrom`` whoever sends, a datagram at a time."""

    sendto = awaitable(ops.sendto)
    recvfrom = awaitable(ops.recvfrom)
    state = awaitable(ops.state)
    close = awaitable(ops.close)


def _accepted_async(
    listener: AsyncTcpListener, accepted: tuple[Link, Address]
) -> tuple[AsyncSocketLike[AsyncTcpConnection], Address]:
    link, peer = accepted
    return AsyncSocketLike(AsyncTcpConnection(listener.modem, link)), peer


class AsyncTcpListener(_Served, AsyncFace):
    """A TCP listener on a port of the module (AT+QIOPEN ``"TCP LISTENER"``)."""

    accept = awaitable(ops.accept, _accepted_async)
    accept.__doc__ = (ops.accept.__doc__ or "") + (
        "\n\n    Returns ``(AsyncSocketLike, (ip, port))``; its ``connection`` is the"
        " ``AsyncTcpConnection``."
    )
    state = awaitable(ops.state)
    close = awaitable(ops.close)


AsyncModuleSocket = (
    AsyncSslConnection | AsyncTcpConnection | AsyncUdpConnection | AsyncUdpSocket | AsyncTcpListener
)
