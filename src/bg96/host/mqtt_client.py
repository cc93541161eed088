"""The faces of one of the module's MQTT clients: ``MqttClient`` for ``Modem``,
``AsyncMqttClient`` for ``AsyncModem``. Both are ``mqtt_operations`` run by their modem."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, TypeVar

from . import mqtt_operations as mops
from .connection import AsyncRunner, SyncRunner
from .core import ModemCore
from .errors import ModemTimeout
from .faces import awaitable, blocking
from .mqtt_operations import MqttHandle
from .mqtt_state import MqttMessage, StatusCallback
from .requests import Procedure

T = TypeVar("T")


class MqttClient:
    """MQTT client ``client_id`` (0-5) of the module behind a ``Modem``::

    mqtt = modem.mqtt(0)
    mqtt.configure(ssl_ctx=2, keepalive=60)
    mqtt.open("broker.example", 8883)
    mqtt.connect("thing-1")
    mqtt.subscribe("cmd/thing-1", qos=1)
    mqtt.publish("dt/thing-1", b'{"t": 21.5}', qos=1)
    for message in mqtt.messages(timeout=30):
        ...
    """

    def __init__(self, modem: SyncRunner, core: ModemCore, client_id: int) -> None:
        self._modem = modem
        self._state = MqttHandle(core, client_id)

    @property
    def client_id(self) -> int:
        return self._state.client_id

    def _run(self, proc: Procedure[T]) -> T:
        return self._modem._run(proc)

    configure = blocking(mops.configure)
    open = blocking(mops.open)
    connect = blocking(mops.connect)
    subscribe = blocking(mops.subscribe)
    unsubscribe = blocking(mops.unsubscribe)
    publish = blocking(mops.publish)
    receive = blocking(mops.receive)
    disconnect = blocking(mops.disconnect)
    close = blocking(mops.close)
    status = blocking(mops.status)

    def on_status(self, callback: StatusCallback) -> None:
        """Call ``callback`` with the ``+QMTSTAT`` code whenever the link ends."""
        mops.on_status(self._state, callback)

    def messages(self, timeout: float | None = None) -> Iterator[MqttMessage]:
        """Messages as they come; the iteration ends after ``timeout`` s without one."""
        while True:
            try:
                yield self.receive(timeout)
            except ModemTimeout:
                return

    def __enter__(self) -> MqttClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class AsyncMqttClient:
    """``MqttClient`` for ``AsyncModem``: the same methods, awaited."""

    def __init__(self, modem: AsyncRunner, core: ModemCore, client_id: int) -> None:
        self._modem = modem
        self._state = MqttHandle(core, client_id)

    @property
    def client_id(self) -> int:
        return self._state.client_id

    async def _run(self, proc: Procedure[T]) -> T:
        return await self._modem._run(proc)

    configure = awaitable(mops.configure)
    open = awaitable(mops.open)
    connect = awaitable(mops.connect)
    subscribe = awaitable(mops.subscribe)
    unsubscribe = awaitable(mops.unsubscribe)
    publish = awaitable(mops.publish)
    receive = awaitable(mops.receive)
    disconnect = awaitable(mops.disconnect)
    close = awaitable(mops.close)
    status = awaitable(mops.status)

    def on_status(self, callback: StatusCallback) -> None:
        """Call ``callback`` with the ``+QMTSTAT`` code whenever the link ends."""
        mops.on_status(self._state, callback)

    async def messages(self, timeout: float | None = None) -> AsyncIterator[MqttMessage]:
        """Messages as they come; the iteration ends after ``timeout`` s without one."""
        while True:
            try:
                yield await self.receive(timeout)
            except ModemTimeout:
                return

    async def __aenter__(self) -> AsyncMqttClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
