"""Publishes per second through the module's MQTT client (AT+QMTPUB, QoS 0 and 1) against a
broker reached directly by a Python MQTT client in the same run.

The module is the real command (``python -m bg96 serve --tcp``) in its own process; the
broker is Eclipse Mosquitto when installed, else amqtt in a thread of this process. Each
publish through the module is ``AT+QMTPUB=0,<id>,<qos>,0,"bench/t",64`` -> ``> `` -> 64 bytes
-> ``OK`` -> ``+QMTPUB: 0,<id>,0`` (one at a time, as a host waits for each result); the
baseline publishes the same messages one at a time with ``bg96.testing.mqtt_peer.MqttPeer``
(QoS 1: waiting for each PUBACK; QoS 0: draining the socket after each).

    .venv/bin/python bench/mqtt.py [-n 2000] [--no-pin]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time

from bg96.testing.mqtt_broker import BrokerKind, broker, mosquitto_path
from bg96.testing.mqtt_peer import MqttPeer
from common import AtClient, add_no_pin, cpu_pair, module_cmd, pin_client, server, where

PAYLOAD = bytes(range(64))
TOPIC = "bench/t"


def through_module(at: AtClient, qos: int, n: int) -> float:
    """Publishes per second through AT+QMTPUB."""
    start = time.perf_counter()
    for i in range(n):
        msg_id = i % 65535 + 1 if qos else 0
        at.sock.sendall(f'AT+QMTPUB=0,{msg_id},{qos},0,"{TOPIC}",{len(PAYLOAD)}\r'.encode())
        at.read_until(b"> ")
        at.sock.sendall(PAYLOAD)
        at.read_until(f"+QMTPUB: 0,{msg_id},0\r\n".encode())
    return n / (time.perf_counter() - start)


async def directly(port: int, qos: int, n: int) -> float:
    """Publishes per second from a Python MQTT client on this machine."""
    peer = await MqttPeer.connect(port, f"bench-direct-{qos}")
    try:
        start = time.perf_counter()
        for _ in range(n):
            await peer.publish(TOPIC, PAYLOAD, qos)
        return n / (time.perf_counter() - start)
    finally:
        await peer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=2000, help="publishes per measurement")
    add_no_pin(parser)
    args = parser.parse_args()
    placement = cpu_pair(args.no_pin)
    pin_client(placement[0] if placement else None)
    kind: BrokerKind = "mosquitto" if mosquitto_path() else "amqtt"
    with (
        tempfile.TemporaryDirectory() as files,
        broker(kind) as mqtt_broker,
        server(module_cmd(files), placement[1] if placement else None) as module,
    ):
        at = AtClient(module.port)
        at.ready()
        at.command("AT+QIACT=1")
        at.command('AT+QMTCFG="recv/mode",0,0,1')
        at.command(f'AT+QMTOPEN=0,"127.0.0.1",{mqtt_broker.port}')
        at.read_until(b"+QMTOPEN: 0,0\r\n")
        at.command('AT+QMTCONN=0,"bench-module"')
        at.read_until(b"+QMTCONN: 0,0,0\r\n")
        print(f"broker: {kind}; {where(placement)}; {args.n} publishes of {len(PAYLOAD)} bytes")
        print(f"{'QoS':>3}  {'AT+QMTPUB':>12}  {'direct':>12}  ratio")
        for qos in (0, 1):
            through_module(at, qos, min(200, args.n))  # warm up
            module_rate = through_module(at, qos, args.n)
            direct_rate = asyncio.run(directly(mqtt_broker.port, qos, args.n))
            print(
                f"{qos:>3}  {module_rate:>10.0f}/s  {direct_rate:>10.0f}/s  "
                f"{module_rate / direct_rate:.2f}"
            )
        at.command("AT+QMTDISC=0")
        at.close()


if __name__ == "__main__":
    main()
