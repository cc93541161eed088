"""``AsyncModem`` driven from synchronous code, so one test body runs against both drivers.

``open_driver("AsyncModem", url)`` gives a handle with ``Modem``'s API whose every call runs
the ``AsyncModem`` coroutine of the same name to completion on an event loop in a thread of
its own; the connections and sockets it hands out are wrapped alike. A method ``AsyncModem``
lacks, or one that means something else there, fails the test that uses it.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import AsyncGenerator, Coroutine, Iterator
from types import TracebackType
from typing import Any, TypeVar, cast

import serial

from ..host import (
    AsyncModem,
    AsyncMqttClient,
    AsyncSocketLike,
    Modem,
    SocketLike,
    StreamConnection,
)
from ..host.connection import AsyncFace

DRIVERS = ("Modem", "AsyncModem")
T = TypeVar("T")


class LoopThread:
    """An event loop running in a daemon thread; ``run`` waits for a coroutine's result."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="bg96-blocking-loop", daemon=True
        )
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def close(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        self.loop.close()


class Blocking:
    """An async object (``AsyncModem``, ``AsyncSslConnection``, ``AsyncUdpSocket``...) with
    blocking calls."""

    def __init__(self, target: object, loop: LoopThread, *, owns_loop: bool = False) -> None:
        self._target = target
        self._loop = loop
        self._owns_loop = owns_loop

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if not callable(value):
            return self._wrap(value)
        loop = self._loop

        def call(*args: Any, **kwargs: Any) -> Any:
            result = value(*args, **kwargs)
            if inspect.iscoroutine(result):
                result = loop.run(result)
            elif inspect.isasyncgen(result):  # an async iteration (MQTT messages)
                return _iterate(result, loop)
            return self._wrap(result)

        return call

    def _wrap(self, value: Any) -> Any:
        if isinstance(value, AsyncFace | AsyncMqttClient):  # a connection, socket, MQTT client
            return Blocking(value, self._loop)
        if isinstance(value, AsyncSocketLike):
            connection = cast(StreamConnection, Blocking(value.connection, self._loop))
            return SocketLike(connection, value.gettimeout())
        if isinstance(value, tuple) and any(isinstance(v, AsyncSocketLike) for v in value):
            return tuple(self._wrap(v) for v in value)  # what accept() gives
        if isinstance(value, dict) and any(isinstance(v, AsyncFace) for v in value.values()):
            return {k: self._wrap(v) for k, v in value.items()}
        return value

    def close(self, *args: Any, **kwargs: Any) -> Any:
        """The target's ``close``, then the loop's (when this handle started it)."""
        try:
            return self.__getattr__("close")(*args, **kwargs)
        finally:
            if self._owns_loop:
                self._loop.close()

    def __enter__(self) -> Blocking:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Blocking({self._target!r})"


def _iterate(agen: AsyncGenerator[Any, None], loop: LoopThread) -> Iterator[Any]:
    while True:
        try:
            yield loop.run(agen.__anext__())
        except StopAsyncIteration:
            return


def open_driver(kind: str, url: str, **options: Any) -> Modem:
    """``Modem.open(url)``, or an ``AsyncModem.open(url)`` behind blocking calls (typed as
    ``Modem``: it has its API)."""
    if kind == "Modem":
        return Modem.open(url, **options)
    loop = LoopThread()
    try:
        modem = loop.run(AsyncModem.open(url, **options))
    except BaseException:
        loop.close()
        raise
    return cast(Modem, Blocking(modem, loop, owns_loop=True))


def driver_on_port(kind: str, port: serial.SerialBase, **options: Any) -> Modem:
    """``Modem(port)`` or ``AsyncModem(port)`` (blocking calls), on an open pyserial port."""
    if kind == "Modem":
        return Modem(port, **options)
    return cast(Modem, Blocking(AsyncModem(port, **options), LoopThread(), owns_loop=True))
