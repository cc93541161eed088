"""The event loop a command runs on: asyncio's, or uvloop's when it is installed and chosen.

``bg96 serve --loop`` and ``bg96 fleet --loop`` take ``auto`` (the default: uvloop's when it
is installed, ``pip install 'bg96[uvloop]'``, else asyncio's), ``asyncio`` or ``uvloop``.
Measured (``docs/performance.md``): uvloop costs the module less CPU per command (``AT``
-18%, a QSSLSEND+QSSLRECV cycle -7%), and moves bulk transparent-mode data slower (-19%
on plain TCP: it copies each socket read once more); ``--loop asyncio`` is the choice for
the latter. The module's transports and
connections work on both: they use only the protocol, transport and ``add_reader``
interfaces both loops have.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
LOOPS = ("auto", "asyncio", "uvloop")


class LoopUnavailable(RuntimeError):
    """``--loop uvloop`` without uvloop installed."""


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The factory for ``name`` (None: asyncio's default)."""
    if name not in LOOPS:
        raise ValueError(f"unknown event loop {name!r}: one of {', '.join(LOOPS)}")
    if name == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if name == "auto":
            return None
        raise LoopUnavailable(
            "--loop uvloop: uvloop is not installed (pip install 'bg96[uvloop]')"
        ) from None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run(main: Coroutine[Any, Any, T], name: str = "auto") -> T:
    """``asyncio.run(main)`` on the loop ``name`` names."""
    try:
        factory = loop_factory(name)
    except Exception:
        main.close()  # never awaited
        raise
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)
