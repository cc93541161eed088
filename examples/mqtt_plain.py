"""MQTT over plain TCP through a virtual BG96: the module's own TCP socket (AT+QIOPEN "TCP",
QISEND, QIRD), no TLS anywhere.

``mqtt_publish.py`` does this over TLS; here the same MiniMQTT client and amqtt broker run
without it, as on an MQTT broker's port 1883: ``Modem.create_connection(address)`` without an
SSL context opens a plain TCP connection. The broker listens on a free loopback port (not
1883 itself, so that runs side by side do not collide), and the module resolves the name
``broker.example`` to 127.0.0.1, as the field's DNS would to the real broker.

    pip install -e '.[examples]'
    python examples/mqtt_plain.py
"""

from __future__ import annotations

import logging

from adafruit_minimqtt.adafruit_minimqtt import MQTT
from mqtt_publish import ModemSocketPool, broker, round_trip

from bg96 import VirtualModule
from bg96.host import Modem

BROKER = "broker.example"


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    with (
        broker(None) as port,
        VirtualModule(resolve={BROKER: "127.0.0.1"}) as module,
        Modem.open(module.url) as modem,
    ):
        modem.sync()
        modem.configure_pdp(1, apn="internet")
        print("PDP context 1 active:", modem.activate(1))
        print(f"{BROKER} is", modem.dns_lookup(BROKER), "for the module (AT+QIDNSGIP)")

        client = MQTT(
            broker=BROKER,
            port=port,
            client_id="bg96-plain-example",
            is_ssl=False,
            socket_pool=ModemSocketPool(modem, ssl_ctx=None),  # plain TCP in the module
            socket_timeout=0.2,
            recv_timeout=5,
            connect_retries=1,
        )
        print(f"connecting to mqtt://{BROKER}:{port} through the virtual BG96 (AT+QIOPEN)")
        return round_trip(client, "over plain TCP")


if __name__ == "__main__":
    raise SystemExit(main())
