"""A starter fleet scenario: what a field device does, from power-on to a fault and back.

Each device boots (``AT`` answers), waits for registration, activates its PDP context,
uploads the CA certificate (AT+QFUPL), opens TLS (AT+QSSLOPEN), then sends a reading and
reads the echo every ``interval`` seconds for ``rounds`` rounds. One device in
``fault_every`` has its PDP context taken down by the network half-way (``pdp-deactivate``):
it recovers by activating the context again and reopening TLS, as firmware must.

    bg96 fleet examples/fleet_scenario.py -n 100 --network lte-m --seed 7
    bg96 fleet examples/fleet_scenario.py -n 1000 -o rounds=20 -o interval=0.5 --jsonl out.jsonl

With ``-o protocol=mqtt`` (or ``BG96_FLEET_PROTOCOL=mqtt``) each device uses the module's
own MQTT client instead (AT+QMTCFG "ssl" on the same SSL context, QMTOPEN, QMTCONN, a QoS 1
QMTPUB of a reading every ``interval``) and recovers from the fault (``+QMTSTAT``) by
activating the context again and reopening and reconnecting the client:

    bg96 fleet examples/fleet_scenario.py -n 100 -o protocol=mqtt

The target is a loopback TLS echo server (an MQTT broker over TLS with ``protocol=mqtt``:
Eclipse Mosquitto when installed, else amqtt) started here, with a CA made now, unless
``-o target=HOST:PORT -o ca=CA.pem`` (or ``BG96_FLEET_TARGET`` / ``BG96_FLEET_CA``) names a
real one. ``examples/locustfile.py`` runs this same scenario as Locust users.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from bg96 import AsyncModem, AsyncSslConnection, ConnectionClosedByPeer, ModemError
from bg96.fleet import DeviceContext
from bg96.host.mqtt_client import AsyncMqttClient
from bg96.testing import TestPki, TlsEchoServer
from bg96.testing.mqtt_broker import broker, mosquitto_path

SSL_CTX = 1
CLIENT_ID = 0


@contextlib.asynccontextmanager
async def resources(options: Mapping[str, str]) -> AsyncIterator[Mapping[str, Any]]:
    """The TLS server every device talks to, and its CA: given, or a loopback echo server."""
    target = options.get("target") or os.environ.get("BG96_FLEET_TARGET")
    ca = options.get("ca") or os.environ.get("BG96_FLEET_CA")
    protocol = options.get("protocol") or os.environ.get("BG96_FLEET_PROTOCOL", "tls")
    if target:
        host, _, port = target.rpartition(":")
        yield {
            "host": host,
            "port": int(port),
            "ca_pem": Path(ca).read_bytes() if ca else b"",
            "protocol": protocol,
        }
        return
    pki = TestPki("bg96 fleet CA")
    if protocol == "mqtt":
        with broker("mosquitto" if mosquitto_path() else "amqtt", pki) as running:
            yield {
                "host": "127.0.0.1",
                "port": running.port,
                "ca_pem": pki.ca_pem,
                "protocol": protocol,
            }
        return
    async with TlsEchoServer(pki.server_ctx()) as echo:
        yield {"host": "127.0.0.1", "port": echo.port, "ca_pem": pki.ca_pem, "protocol": protocol}


async def device(modem: AsyncModem, ctx: DeviceContext) -> None:
    rounds = int(ctx.option("rounds", "5"))
    interval = float(ctx.option("interval", "1.0"))
    size = int(ctx.option("size", "256"))
    fault_every = int(ctx.option("fault_every", "10"))  # 0: no faults
    async with ctx.step("boot"):
        await modem.sync()
    async with ctx.step("register"):
        await modem.wait_registered()
    async with ctx.step("activate"):
        await modem.activate()
    ca_pem: bytes = ctx.shared["ca_pem"]
    if ca_pem:
        async with ctx.step("upload_ca"):
            await modem.upload("ca.pem", ca_pem)
    async with ctx.step("ssl_config"):
        if ca_pem:
            await modem.ssl_config(SSL_CTX, seclevel=1, cacert="ca.pem")
        else:
            await modem.ssl_config(SSL_CTX, seclevel=0)
    if ctx.shared.get("protocol") == "mqtt":
        await mqtt_variant(modem, ctx)
        return
    conn = await open_tls(modem, ctx)
    faulty = fault_every > 0 and ctx.index % fault_every == 0
    for n in range(rounds):
        if faulty and n == rounds // 2:
            ctx.faults.pdp_deactivate(1)  # the network takes the context down
        reading = ctx.rng.randbytes(size)
        try:
            async with ctx.step("send"):
                await conn.send(reading)
            async with ctx.step("recv"):
                await read_exactly(conn, len(reading))
        except (ConnectionClosedByPeer, ModemError):
            conn = await recover(modem, ctx, conn)
        if n + 1 < rounds and not await ctx.sleep(interval):
            break
    async with ctx.step("close"):
        await conn.close()


async def open_tls(modem: AsyncModem, ctx: DeviceContext) -> AsyncSslConnection:
    async with ctx.step("tls_open"):
        return await modem.open_ssl(
            CLIENT_ID, ctx.shared["host"], ctx.shared["port"], ssl_ctx=SSL_CTX
        )


async def read_exactly(conn: AsyncSslConnection, size: int) -> bytes:
    got = b""
    while len(got) < size:
        chunk = await conn.recv(size - len(got), timeout=10)
        if not chunk:
            raise ConnectionClosedByPeer(f"closed after {len(got)} of {size} bytes")
        got += chunk
    return got


async def recover(
    modem: AsyncModem, ctx: DeviceContext, conn: AsyncSslConnection
) -> AsyncSslConnection:
    """What firmware does after a lost connection: close it, bring the PDP context back if
    the network took it, open again."""
    async with ctx.step("recover"):
        with contextlib.suppress(ModemError):
            await conn.close()
        if await modem.ip_address() is None:
            await modem.activate()
    return await open_tls(modem, ctx)


async def mqtt_variant(modem: AsyncModem, ctx: DeviceContext) -> None:
    """The module's own MQTT client over the SSL context: open, connect, publish a reading
    (QoS 1) every ``interval``; after a lost link (``+QMTSTAT``, e.g. the PDP fault) bring
    the context back, reopen and reconnect, as firmware must."""
    rounds = int(ctx.option("rounds", "5"))
    interval = float(ctx.option("interval", "1.0"))
    size = int(ctx.option("size", "256"))
    fault_every = int(ctx.option("fault_every", "10"))
    mqtt = modem.mqtt(CLIENT_ID)
    async with ctx.step("mqtt_config"):
        await mqtt.configure(ssl_ctx=SSL_CTX, keepalive=60)
    await mqtt_connect(mqtt, ctx)
    faulty = fault_every > 0 and ctx.index % fault_every == 0
    topic = f"fleet/{ctx.index}/reading"
    for n in range(rounds):
        if faulty and n == rounds // 2:
            ctx.faults.pdp_deactivate(1)  # the network takes the context down
        try:
            async with ctx.step("publish"):
                await mqtt.publish(topic, ctx.rng.randbytes(size), qos=1)
        except ModemError:
            async with ctx.step("recover"):
                with contextlib.suppress(ModemError):
                    await mqtt.close()
                if await modem.ip_address() is None:
                    await modem.activate()
            await mqtt_connect(mqtt, ctx)
        if n + 1 < rounds and not await ctx.sleep(interval):
            break
    async with ctx.step("mqtt_disconnect"):
        await mqtt.disconnect()


async def mqtt_connect(mqtt: AsyncMqttClient, ctx: DeviceContext) -> None:
    async with ctx.step("mqtt_open"):
        await mqtt.open(ctx.shared["host"], ctx.shared["port"])
    async with ctx.step("mqtt_connect"):
        await mqtt.connect(f"bg96-fleet-{ctx.index}")
