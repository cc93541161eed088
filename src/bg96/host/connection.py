"""One SSL connection of the module, as sync and asyncio code hold it.

``SslConnection`` and ``AsyncSslConnection`` show an ``SslLink`` (the state) and run the
``ssl_operations`` procedures through the modem that opened them, which they know only as
something that runs procedures: this module does not import the clients.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol, TypeVar

from . import ssl_operations as ops
from .core import BUFFER, PUSH, TRANSPARENT, SslLink
from .faces import awaitable, blocking
from .requests import Procedure
from .ssl_operations import MAX_RECV, MAX_SEND

__all__ = [
    "BUFFER",
    "MAX_RECV",
    "MAX_SEND",
    "PUSH",
    "TRANSPARENT",
    "AsyncRunner",
    "AsyncSslConnection",
    "SslConnection",
    "SyncRunner",
]

T = TypeVar("T")


class SyncRunner(Protocol):
    """Runs a procedure to completion in the caller's thread (``Modem``)."""

    def _run(self, proc: Procedure[T]) -> T: ...


class AsyncRunner(Protocol):
    """Runs a procedure on the event loop (``AsyncModem``)."""

    def _run(self, proc: Procedure[T]) -> Awaitable[T]: ...


class _Shown:
    """What both faces show of the link: its ID, mode and how it ended."""

    def __init__(self, link: SslLink) -> None:
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
    def closed(self) -> bool:
        """``close()`` was called, or the module restarted."""
        return self._state.closed

    @property
    def closed_by_peer(self) -> bool:
        """The server closed it (``+QSSLURC: "closed"``, ``NO CARRIER``), or the module
        restarted; what was received before can still be read."""
        return self._state.closed_by_peer

    def __repr__(self) -> str:
        state = "closed" if self.closed else "closed by peer" if self.closed_by_peer else "open"
        return f"<{type(self).__name__} {self.client_id} mode {self.access_mode} {state}>"


class SslConnection(_Shown):
    """``send``/``recv``/``close`` on a client ID, in buffer, push or transparent mode."""

    def __init__(self, modem: SyncRunner, link: SslLink) -> None:
        super().__init__(link)
        self.modem = modem

    def _run(self, proc: Procedure[T]) -> T:
        return self.modem._run(proc)

    send = blocking(ops.send)
    recv = blocking(ops.recv)
    state = blocking(ops.state)
    leave_transparent = blocking(ops.leave_transparent)
    resume_transparent = blocking(ops.resume_transparent)
    close = blocking(ops.close)


class AsyncSslConnection(_Shown):
    """``await send``/``recv``/``close`` on a client ID, in buffer, push or transparent mode.

    A task may wait in ``recv`` while others send on this or other connections."""

    def __init__(self, modem: AsyncRunner, link: SslLink) -> None:
        super().__init__(link)
        self.modem = modem

    def _run(self, proc: Procedure[T]) -> Awaitable[T]:
        return self.modem._run(proc)

    send = awaitable(ops.send)
    recv = awaitable(ops.recv)
    state = awaitable(ops.state)
    leave_transparent = awaitable(ops.leave_transparent)
    resume_transparent = awaitable(ops.resume_transparent)
    close = awaitable(ops.close)
