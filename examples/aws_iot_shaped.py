"""An AWS-IoT-shaped session through a virtual BG96's own MQTT client (AT+QMT*).

What a device does to reach AWS IoT Core, as MQTT_COMMANDS.md's corrected transcript goes:
upload the CA, its client certificate and key (AT+QFUPL), set SSL context 2 to seclevel 2
with them (AT+QSSLCFG), point MQTT client 0 at that context (AT+QMTCFG="ssl",0,1,2), open
port 8883, connect as the thing, subscribe to its command topic, publish telemetry, and
receive a command the cloud sends. The "cloud" here is a broker on 127.0.0.1 that requires
a client certificate from the device's CA, as AWS IoT does: Eclipse Mosquitto when it is
installed, else amqtt; its port stands for 8883 and the module resolves the endpoint's
name to 127.0.0.1.

    pip install -e '.[examples]'
    python examples/aws_iot_shaped.py
"""

from __future__ import annotations

import asyncio
import json
import ssl

from bg96 import VirtualModule
from bg96.host import Modem
from bg96.testing import TestPki
from bg96.testing.mqtt_broker import BrokerKind, broker, mosquitto_path
from bg96.testing.mqtt_peer import MqttPeer

ENDPOINT = "a1b2c3d4e5f6g7-ats.iot.eu-west-1.amazonaws.com"
THING = "bg96-thing-0001"
SSL_CTX = 2


def cloud_sends(pki: TestPki, port: int, topic: str, command: bytes) -> None:
    """The cloud side: another client (with its own certificate) publishes a command."""

    async def send() -> None:
        context = ssl.create_default_context(cadata=pki.ca_pem.decode())
        context.check_hostname = False
        pki.client_cert("cloud-console").configure(context)
        peer = await MqttPeer.connect(port, "cloud-console", tls=context)
        await peer.publish(topic, command, qos=1)
        await peer.close()

    asyncio.run(send())


def main() -> int:
    pki = TestPki("example IoT CA")
    thing = pki.client_cert(THING)
    kind: BrokerKind = "mosquitto" if mosquitto_path() else "amqtt"
    with (
        broker(kind, pki, client_certs=True) as cloud,
        VirtualModule(resolve={ENDPOINT: "127.0.0.1"}, system_resolver=False) as module,
        Modem.open(module.url) as modem,
    ):
        modem.sync()
        modem.configure_pdp(1, apn="iot.example")
        modem.activate(1)
        modem.upload("cacert.pem", pki.ca_pem)
        modem.upload("client.pem", thing.cert_pem)
        modem.upload("user_key.pem", thing.key_pem)
        modem.ssl_config(
            SSL_CTX,
            version=4,
            ciphersuite=0xFFFF,
            seclevel=2,
            cacert="cacert.pem",
            clientcert="client.pem",
            clientkey="user_key.pem",
            ignore_localtime=True,
        )
        mqtt = modem.mqtt(0)
        mqtt.configure(ssl_ctx=SSL_CTX, version=4, keepalive=60)
        mqtt.open(ENDPOINT, cloud.port)
        print(f"open: mqtts://{ENDPOINT}:{cloud.port} ({kind}, client certificate required)")
        mqtt.connect(THING)
        commands = f"cmd/{THING}"
        granted = mqtt.subscribe(commands, qos=1)
        print(f"connected as {THING}; subscribed to {commands} (QoS {granted[0]})")
        telemetry = json.dumps({"thing": THING, "temperature": 21.5}).encode()
        mqtt.publish(f"dt/{THING}/telemetry", telemetry, qos=1)
        print(f"published dt/{THING}/telemetry: {telemetry.decode()} (PUBACK received)")
        cloud_sends(pki, cloud.port, commands, b'{"led": "on"}')
        message = mqtt.receive(10)
        print(f"received on {message.topic}: {message.payload.decode()}")
        mqtt.disconnect()

    if (message.topic, message.payload) != (commands, b'{"led": "on"}'):
        print("FAILED: the command did not arrive")
        return 1
    print(f"OK: mutual TLS to the broker, telemetry published, command received ({kind})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
