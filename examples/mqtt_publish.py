"""MQTT over TLS through a virtual BG96: Adafruit MiniMQTT with the modem as its network.

MiniMQTT takes its network as a ``socket_pool`` (and an ``ssl_context``), so it runs over
network stacks that are not the host's: Wi-Fi co-processors, cellular modules, and here a
BG96, whose sockets are SSL connections opened with ``AT+QSSLOPEN``. The broker is amqtt,
on 127.0.0.1 with TLS (a server certificate from a throw-away CA made now); the client
subscribes, publishes with QoS 1, and gets its message back from the broker.
``mqtt_plain.py`` does the same over plain TCP with this file's pool and broker.

    pip install -e '.[examples]'
    python examples/mqtt_publish.py
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Iterator
from typing import Any

from adafruit_minimqtt.adafruit_minimqtt import MQTT

from bg96 import VirtualModule
from bg96.host import Modem, SocketLike, StreamConnection
from bg96.testing import TestPki, mqtt_broker

TOPIC = "bg96/example/temperature"
SSL_CTX = 1  # the module's SSL context (AT+QSSLCFG) every connection uses


# ---- the modem as MiniMQTT's network ------------------------------------------------------


class ModemSocket:
    """A socket of the pool: ``connect`` opens a connection in the module, TLS on SSL context
    ``ssl_ctx`` (AT+QSSLOPEN) or plain TCP without one (AT+QIOPEN)."""

    def __init__(self, modem: Modem, ssl_ctx: int | None) -> None:
        self.modem = modem
        self.ssl_ctx = ssl_ctx
        self.timeout: float | None = None
        self.conn: SocketLike[StreamConnection] | None = None

    def settimeout(self, timeout: float | None) -> None:
        self.timeout = timeout
        if self.conn is not None:
            self.conn.settimeout(timeout)

    def connect(self, address: tuple[str, int]) -> None:
        self.conn = self.modem.create_connection(
            address, ssl_ctx=self.ssl_ctx, timeout=self.timeout
        )

    def send(self, data: bytes) -> int:
        assert self.conn is not None
        return self.conn.send(data)

    def recv_into(self, buffer: Any, nbytes: int = 0) -> int:
        assert self.conn is not None
        return self.conn.recv_into(buffer, nbytes)  # TimeoutError when nothing came in time

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


class ModemSocketPool:
    """MiniMQTT's ``socket_pool``: the parts of the ``socket`` module it uses."""

    AF_INET, SOCK_STREAM = socket.AF_INET, socket.SOCK_STREAM
    timeout = TimeoutError  # what a read that times out raises

    def __init__(self, modem: Modem, ssl_ctx: int | None = SSL_CTX) -> None:
        self.modem = modem
        self.ssl_ctx = ssl_ctx

    def getaddrinfo(self, host: str, port: int, *args: Any) -> list[tuple[Any, ...]]:
        return [(self.AF_INET, self.SOCK_STREAM, 0, "", (host, port))]  # the module resolves

    def socket(self, *args: Any) -> ModemSocket:
        return ModemSocket(self.modem, self.ssl_ctx)


class ModuleTls:
    """MiniMQTT's ``ssl_context``: the module does the TLS, so wrapping changes nothing."""

    def wrap_socket(self, sock: ModemSocket, server_hostname: str | None = None) -> ModemSocket:
        return sock


# ---- a loopback MQTT broker ----------------------------------------------------------------


@contextlib.contextmanager
def broker(pki: TestPki | None) -> Iterator[int]:
    """amqtt on 127.0.0.1 (``bg96.testing.mqtt_broker``), with TLS (a server certificate of
    ``pki``) or without (None), on its own event loop in a thread; yields its port."""
    with mqtt_broker.broker("amqtt", pki) as running:
        yield running.port


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    pki = TestPki("example CA")

    with broker(pki) as port, VirtualModule() as module, Modem.open(module.url) as modem:
        modem.sync()
        modem.configure_pdp(1, apn="internet")
        print("PDP context 1 active:", modem.activate(1))
        modem.upload("cacert.pem", pki.ca_pem)
        modem.ssl_config(SSL_CTX, version=3, seclevel=1, cacert="cacert.pem")

        client = MQTT(
            broker="127.0.0.1",
            port=port,
            client_id="bg96-example",
            is_ssl=True,
            ssl_context=ModuleTls(),
            socket_pool=ModemSocketPool(modem),
            socket_timeout=0.2,
            recv_timeout=5,
            connect_retries=1,
        )
        print(f"connecting to mqtts://127.0.0.1:{port} through the virtual BG96")
        return round_trip(client, "from the broker")


def round_trip(client: MQTT, how: str) -> int:
    """Connect, subscribe to TOPIC, publish 21.5 to it and wait for it to come back."""
    received: list[tuple[str, str]] = []
    client.on_message = lambda _client, topic, message: received.append((topic, message))
    client.connect()
    client.subscribe(TOPIC, qos=1)
    client.publish(TOPIC, "21.5", qos=1)
    print(f"published {TOPIC} = 21.5 (QoS 1, acknowledged)")
    for _ in range(25):
        if received:
            break
        client.loop(timeout=0.2)
    client.disconnect()
    if received != [(TOPIC, "21.5")]:
        print("FAILED: the broker did not deliver the message back:", received)
        return 1
    print(f"OK: received {received[0][0]} = {received[0][1]} back {how}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
