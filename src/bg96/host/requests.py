"""What a procedure asks of the runner that drives it: the only I/O the host side does.

A procedure is a generator: it yields these requests, the runner carries each out (the sync
``Modem`` in the caller's thread, ``AsyncModem`` by awaiting) and resumes it with ``None``, or
throws the runner's failure into it (``PortClosed``). Whatever the runner read meanwhile is
in the ``ModemCore`` by then; the procedure looks there.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TypeVar

T = TypeVar("T")


class Write:
    """Write ``data`` to the module."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


class Wait:
    """Let the module's bytes in: return once some were read, or after at most ``timeout`` s
    (None: a runner's own short quantum). Procedures loop on their own deadlines."""

    __slots__ = ("timeout",)

    def __init__(self, timeout: float | None) -> None:
        self.timeout = timeout


class Sleep:
    """Let ``seconds`` pass (the ``+++`` guard times, a poll interval)."""

    __slots__ = ("seconds",)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds


class SetDtr:
    """Set the DTR line (AT&D1: dropping it leaves transparent mode)."""

    __slots__ = ("on",)

    def __init__(self, on: bool) -> None:
        self.on = on


class Claim:
    """The port is this procedure's until it yields ``RELEASE`` (or ends): a command and its
    data phase are never interleaved with another task's (the async runner's lock)."""

    __slots__ = ()


class Release:
    """The command under way has its answer: another procedure may use the port."""

    __slots__ = ()


class Reopen:
    """Reopen the port if it closed or failed (``sync()``); ``PortClosed`` if it cannot be."""

    __slots__ = ()


CLAIM = Claim()
RELEASE = Release()
REOPEN = Reopen()

Request = Write | Wait | Sleep | SetDtr | Claim | Release | Reopen
Procedure = Generator[Request, None, T]
