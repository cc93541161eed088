"""The module's MQTT client against real brokers on 127.0.0.1: amqtt (in-process) always,
Eclipse Mosquitto when it is installed; the same tests run on both."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from bg96 import VirtualModule
from bg96.engine.files import normalize_name
from bg96.protocol.mqtt import PacketType, Publish
from bg96.testing import TestPki
from bg96.testing.at_client import AtClient
from bg96.testing.mqtt_broker import BrokerKind, RunningBroker, broker, mosquitto_path
from bg96.testing.mqtt_peer import MqttPeer, MqttProxy

OK = b"\r\nOK\r\n"
BROKER = "broker.example"
KINDS: list[BrokerKind] = ["amqtt", "mosquitto"]


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return TestPki("bg96 mqtt tests CA")


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> BrokerKind:
    chosen: BrokerKind = request.param
    if chosen == "mosquitto" and mosquitto_path() is None:
        pytest.skip("mosquitto is not installed")
    return chosen


@pytest.fixture
def plain(kind: BrokerKind) -> Iterator[RunningBroker]:
    with broker(kind) as running:
        yield running


def module() -> VirtualModule:
    return VirtualModule(resolve={BROKER: "127.0.0.1"}, system_resolver=False)


async def booted(vm: VirtualModule) -> AtClient:
    at = await AtClient.connect("127.0.0.1", int(vm.url.rsplit(":", 1)[1]))
    await at.read_until(b"+QIND: SMS DONE\r\n")
    assert await at.command("ATE0") == b"ATE0\r" + OK
    assert await at.command("AT+QIACT=1") == OK
    return at


async def open_and_connect(at: AtClient, port: int, client_id: str, index: int = 0) -> None:
    assert await at.command(f'AT+QMTOPEN={index},"{BROKER}",{port}') == OK
    assert await at.wait_urc(b"+QMTOPEN:") == f"+QMTOPEN: {index},0".encode()
    assert await at.command(f'AT+QMTCONN={index},"{client_id}"') == OK
    assert await at.wait_urc(b"+QMTCONN:") == f"+QMTCONN: {index},0,0".encode()


async def urcs(at: AtClient, count: int) -> set[bytes]:
    """The next ``count`` URC lines, in whatever order they come."""
    got: set[bytes] = set()
    while len(got) < count:
        line = (await at.read_until(b"\r\n")).strip()
        if line:
            got.add(line)
    return got


async def publish(at: AtClient, line: str, payload: bytes) -> None:
    at.write(line.encode() + b"\r")
    assert (await at.read_until(b"> ")).endswith(b"\r\n> ")
    at.write(payload)
    assert (await at.response()).endswith(OK)


def test_the_application_note_session(plain: RunningBroker) -> None:
    async def main() -> None:
        async with module() as vm:
            at = await booted(vm)
            peer = await MqttPeer.connect(plain.port, "watcher")
            await peer.subscribe("topic/pub", 1)
            await open_and_connect(at, plain.port, "clientExample")
            assert await at.command('AT+QMTSUB=0,1,"topic/example",2') == OK
            assert await at.wait_urc(b"+QMTSUB:") == b"+QMTSUB: 0,1,0,2"
            await publish(
                at, 'AT+QMTPUB=0,0,0,0,"topic/pub"', b"This is test data, hello MQTT.\x1a"
            )
            assert await at.wait_urc(b"+QMTPUB:") == b"+QMTPUB: 0,0,0"
            got = await peer.message()
            assert (got.topic, got.payload) == ("topic/pub", b"This is test data, hello MQTT.")
            await peer.publish("topic/example", b"a command", qos=2)
            assert await at.wait_urc(b"+QMTRECV:") == b'+QMTRECV: 0,1,"topic/example","a command"'
            for qos in (1, 2):
                line = f'AT+QMTPUB=0,{qos + 10},{qos},0,"topic/pub"'
                await publish(at, line, f"qos {qos}\x1a".encode())
                urc = await at.wait_urc(b"+QMTPUB:")
                assert urc == f"+QMTPUB: 0,{qos + 10},0".encode()
                assert (await peer.message()).payload == f"qos {qos}".encode()
            assert await at.command('AT+QMTUNS=0,2,"topic/example"') == OK
            assert await at.wait_urc(b"+QMTUNS:") == b"+QMTUNS: 0,2,0"
            assert await at.command("AT+QMTDISC=0") == OK
            assert await at.wait_urc(b"+QMTDISC:") == b"+QMTDISC: 0,0"
            await peer.close()
            await at.close()

    asyncio.run(main())


def test_every_byte_value_round_trips(plain: RunningBroker) -> None:
    payload = bytes(range(256))

    async def main() -> None:
        async with module() as vm:
            at = await booted(vm)
            await open_and_connect(at, plain.port, "bytes")
            assert await at.command('AT+QMTSUB=0,1,"echo/bin",1') == OK
            assert await at.wait_urc(b"+QMTSUB:") == b"+QMTSUB: 0,1,0,1"
            await publish(at, f'AT+QMTPUB=0,5,1,0,"echo/bin",{len(payload)}', payload)
            before = await at.read_until(b"\r\n+QMTRECV: 0,")  # +QMTPUB may come first
            assert await at.read_until(b'"echo/bin","') == b'1,"echo/bin","'
            assert await at.read_exactly(len(payload)) == payload
            assert await at.read_exactly(3) == b'"\r\n'
            if b"+QMTPUB: 0,5,0" not in before:
                assert await at.wait_urc(b"+QMTPUB:") == b"+QMTPUB: 0,5,0"
            await at.close()

    asyncio.run(main())


def test_mutual_tls_as_aws_iot_wants_it(kind: BrokerKind, pki: TestPki) -> None:
    client = pki.client_cert("thing-1")

    keys: list[str] = []

    async def main() -> None:
        with broker(kind, pki, client_certs=True) as tls_broker:
            shaped = VirtualModule(
                resolve={BROKER: "127.0.0.1"}, system_resolver=False, keylog=keys.append
            )
            async with shaped as vm:
                for name, data in (
                    ("cacert.pem", pki.ca_pem),
                    ("client.pem", client.cert_pem),
                    ("user_key.pem", client.key_pem),
                ):
                    fname = normalize_name(name)
                    assert fname is not None
                    vm.store.write(fname, data)
                at = await booted(vm)
                # without the client certificate: the broker ends the handshake
                for line in (
                    'AT+QSSLCFG="cacert",2,"cacert.pem"',
                    'AT+QSSLCFG="seclevel",2,1',
                    'AT+QMTCFG="ssl",0,1,2',
                    'AT+QMTCFG="version",0,4',
                ):
                    assert await at.command(line) == OK, line
                assert await at.command(f'AT+QMTOPEN=0,"{BROKER}",{tls_broker.port}') == OK
                assert await at.wait_urc(b"+QMTOPEN:") == b"+QMTOPEN: 0,-1"
                for line in (
                    'AT+QSSLCFG="clientcert",2,"client.pem"',
                    'AT+QSSLCFG="clientkey",2,"user_key.pem"',
                    'AT+QSSLCFG="seclevel",2,2',
                ):
                    assert await at.command(line) == OK, line
                await open_and_connect(at, tls_broker.port, "thing-1")
                assert await at.command('AT+QMTSUB=0,1,"cmd/thing-1",1') == OK
                assert await at.wait_urc(b"+QMTSUB:") == b"+QMTSUB: 0,1,0,1"
                await publish(at, 'AT+QMTPUB=0,1,1,0,"cmd/thing-1"', b'{"t":21.5}\x1a')
                assert await urcs(at, 2) == {
                    b"+QMTPUB: 0,1,0",
                    b'+QMTRECV: 0,1,"cmd/thing-1","{"t":21.5}"',
                }
                await at.close()

    asyncio.run(main())
    assert keys  # the TLS is AT+QSSLOPEN's: its key log too


def test_a_broker_that_refuses_the_credentials(kind: BrokerKind) -> None:
    async def main() -> None:
        with broker(kind, users={"device": "s3cret"}) as strict:
            async with module() as vm:
                at = await booted(vm)
                assert await at.command(f'AT+QMTOPEN=0,"{BROKER}",{strict.port}') == OK
                assert await at.wait_urc(b"+QMTOPEN:") == b"+QMTOPEN: 0,0"
                assert await at.command('AT+QMTCONN=0,"dev","device","wrong"') == OK
                urc = await at.wait_urc(b"+QMTCONN:")
                assert urc in (b"+QMTCONN: 0,0,4", b"+QMTCONN: 0,0,5")
                assert await at.wait_urc(b"+QMTSTAT:") == b"+QMTSTAT: 0,3"
                assert await at.command(f'AT+QMTOPEN=0,"{BROKER}",{strict.port}') == OK
                assert await at.wait_urc(b"+QMTOPEN:") == b"+QMTOPEN: 0,0"
                assert await at.command('AT+QMTCONN=0,"dev","device","s3cret"') == OK
                assert await at.wait_urc(b"+QMTCONN:") == b"+QMTCONN: 0,0,0"
                await at.close()

    asyncio.run(main())


def test_a_broker_that_disappears(kind: BrokerKind) -> None:
    async def main() -> None:
        async with module() as vm:
            at = await booted(vm)
            with broker(kind) as short_lived:
                await open_and_connect(at, short_lived.port, "orphan")
            assert await at.wait_urc(b"+QMTSTAT:") == b"+QMTSTAT: 0,1"
            assert await at.command("AT+QMTCONN?") == OK
            await at.close()

    asyncio.run(main())


def test_lost_acknowledgements_are_resent_with_dup(plain: RunningBroker) -> None:
    async def main() -> None:
        async with (
            MqttProxy(plain.port, {PacketType.PUBACK, PacketType.PUBREC}) as proxy,
            module() as vm,
        ):
            at = await booted(vm)
            assert await at.command('AT+QMTCFG="timeout",0,1,3,1') == OK
            await open_and_connect(at, proxy.port, "lossy")
            for qos in (1, 2):
                await publish(at, f'AT+QMTPUB=0,{qos},{qos},0,"lossy/t"', b"x\x1a")
                assert await at.wait_urc(b"+QMTPUB:") == f"+QMTPUB: 0,{qos},1,1".encode()
                # done (a slow machine may see another retransmission notice first)
                done = f"+QMTPUB: 0,{qos},0".encode()
                assert await at.wait_urc(done) == done
            publishes = [p for p in proxy.log.up if isinstance(p, Publish)]
            for qos in (1, 2):
                sent = [p.dup for p in publishes if p.qos == qos]
                assert sent[0] is False and len(sent) >= 2 and all(sent[1:])  # resent with DUP
            assert {type(p).__name__ for p in proxy.log.dropped} == {"Ack"}
            await at.close()

    asyncio.run(main())


def test_keepalive_over_a_stalled_link(plain: RunningBroker) -> None:
    async def main() -> None:
        async with MqttProxy(plain.port) as proxy, module() as vm:
            at = await booted(vm)
            assert await at.command('AT+QMTCFG="keepalive",0,1') == OK
            assert await at.command('AT+QMTCFG="timeout",0,1,1,0') == OK
            await open_and_connect(at, proxy.port, "pinger")
            pongs = asyncio.get_running_loop().create_future()

            def seen(up: bool, packet: object) -> None:
                if not up and "PINGRESP" in repr(packet) and not pongs.done():
                    pongs.set_result(None)

            proxy.on_packet = seen
            await asyncio.wait_for(pongs, 5)  # the module pings, the broker answers
            proxy.stall()
            assert await at.wait_urc(b"+QMTSTAT:") == b"+QMTSTAT: 0,2"
            await at.close()

    asyncio.run(main())


def test_a_broker_that_enforces_the_keepalive(kind: BrokerKind) -> None:
    if kind == "amqtt":
        pytest.skip("amqtt does not enforce keep-alive (its broker ignores the read timeout)")

    async def main() -> None:
        with broker(kind) as strict:
            async with (
                MqttProxy(strict.port, drop_up={PacketType.PINGREQ}) as proxy,
                module() as vm,
            ):
                at = await booted(vm)
                assert await at.command('AT+QMTCFG="keepalive",0,1') == OK
                assert await at.command('AT+QMTCFG="timeout",0,10,1,0') == OK
                await open_and_connect(at, proxy.port, "silent")
                # the module pings after 1 s; none arrives: the broker drops it after 1.5 s
                assert await at.wait_urc(b"+QMTSTAT:") == b"+QMTSTAT: 0,1"
                assert any("PINGREQ" in repr(p) for p in proxy.log.dropped)
                await at.close()

    asyncio.run(main())


def test_faults_end_the_links_as_the_module_does(plain: RunningBroker) -> None:
    async def main() -> None:
        async with module() as vm:
            at = await booted(vm)
            await open_and_connect(at, plain.port, "victim-a")
            vm.faults.broker_reset(0)
            assert await at.wait_urc(b"+QMTSTAT:") == b"+QMTSTAT: 0,1"
            assert await at.command('AT+QMTCFG="keepalive",1,1') == OK
            assert await at.command('AT+QMTCFG="timeout",1,1,1,0') == OK
            await open_and_connect(at, plain.port, "victim-b", index=1)
            vm.faults.broker_stall(1)
            assert await at.wait_urc(b"+QMTSTAT:") == b"+QMTSTAT: 1,2"
            await open_and_connect(at, plain.port, "victim-d", index=3)
            vm.faults.broker_garbage(3)
            assert await at.wait_urc(b"+QMTSTAT:") == b"+QMTSTAT: 3,7"
            await open_and_connect(at, plain.port, "victim-c", index=2)
            vm.faults.pdp_deactivate(1)
            assert await urcs(at, 2) == {b"+QMTSTAT: 2,7", b'+QIURC: "pdpdeact",1'}
            assert await at.command("AT+QMTOPEN?") == OK
            await at.close()

    asyncio.run(main())


def test_the_will_and_an_empty_client_id(plain: RunningBroker) -> None:
    async def main() -> None:
        async with module() as vm:
            at = await booted(vm)
            peer = await MqttPeer.connect(plain.port, "observer")
            await peer.subscribe("dev/status", 1)
            # the will: published by the broker when the link ends without DISCONNECT
            assert await at.command('AT+QMTCFG="will",0,1,1,0,"dev/status","offline"') == OK
            await open_and_connect(at, plain.port, "mortal")
            assert await at.command("AT+QMTCLOSE=0") == OK
            assert await at.wait_urc(b"+QMTCLOSE:") == b"+QMTCLOSE: 0,0"
            will = await peer.message()
            assert (will.topic, will.payload) == ("dev/status", b"offline")
            # MQTT 3.1.1: an empty client ID with a persistent session is refused (code 2)
            assert await at.command('AT+QMTCFG="session",0,0') == OK
            assert await at.command(f'AT+QMTOPEN=0,"{BROKER}",{plain.port}') == OK
            assert await at.wait_urc(b"+QMTOPEN:") == b"+QMTOPEN: 0,0"
            assert await at.command('AT+QMTCONN=0,""') == OK
            assert await at.wait_urc(b"+QMTCONN:") == b"+QMTCONN: 0,0,2"
            assert await at.wait_urc(b"+QMTSTAT:") == b"+QMTSTAT: 0,3"
            await peer.close()
            await at.close()

    asyncio.run(main())


def test_a_persistent_session_keeps_what_came_while_away(plain: RunningBroker) -> None:
    if plain.kind == "amqtt":
        pytest.skip("amqtt keeps no messages for a client that connected anonymously")

    async def main() -> None:
        async with MqttProxy(plain.port) as proxy, module() as vm:
            at = await booted(vm)
            peer = await MqttPeer.connect(plain.port, "sender")
            assert await at.command('AT+QMTCFG="session",0,0') == OK
            await open_and_connect(at, proxy.port, "sleeper")
            assert await at.command('AT+QMTSUB=0,1,"inbox/sleeper",1') == OK
            assert await at.wait_urc(b"+QMTSUB:") == b"+QMTSUB: 0,1,0,1"
            assert await at.command("AT+QMTDISC=0") == OK
            assert await at.wait_urc(b"+QMTDISC:") == b"+QMTDISC: 0,0"
            await proxy.broker_closed.wait()  # the broker has taken the DISCONNECT
            await peer.publish("inbox/sleeper", b"while you slept", qos=1)
            await open_and_connect(at, proxy.port, "sleeper")
            urc = await at.wait_urc(b"+QMTRECV:")
            assert urc.startswith(b"+QMTRECV: 0,")
            assert urc.endswith(b',"inbox/sleeper","while you slept"')
            await peer.close()
            await at.close()

    asyncio.run(main())


def test_over_the_lte_m_profile_and_losing_registration(plain: RunningBroker) -> None:
    async def main() -> None:
        shaped = VirtualModule(
            resolve={BROKER: "127.0.0.1"}, system_resolver=False, network="lte-m"
        )
        async with shaped as vm:
            at = await AtClient.connect("127.0.0.1", int(vm.url.rsplit(":", 1)[1]))
            await at.read_until(b"+QIND: SMS DONE\r\n")
            assert await at.command("ATE0") == b"ATE0\r" + OK
            assert await at.command("AT+CEREG=1") == OK
            if b"+CEREG: 1,1" not in await at.command("AT+CEREG?"):
                await at.wait_urc(b"+CEREG: 1", 30)  # attaching takes a while on LTE-M
            assert await at.command("AT+QIACT=1", 30) == OK
            await open_and_connect(at, plain.port, "roamer")
            assert await at.command('AT+QMTSUB=0,1,"loop/t",1') == OK
            assert await at.wait_urc(b"+QMTSUB:") == b"+QMTSUB: 0,1,0,1"
            await publish(at, 'AT+QMTPUB=0,2,1,0,"loop/t",5', b"hello")
            assert await urcs(at, 2) == {b"+QMTPUB: 0,2,0", b'+QMTRECV: 0,1,"loop/t","hello"'}
            vm.faults.registration_lost()
            assert await at.wait_urc(b"+QMTSTAT:") == b"+QMTSTAT: 0,7"
            await at.close()

    asyncio.run(main())


def test_the_same_client_id_twice_drops_the_older_link(plain: RunningBroker) -> None:
    if plain.kind == "amqtt":
        pytest.skip("amqtt does not drop the older connection of a client ID taken over")

    async def main() -> None:
        async with module() as vm:
            at = await booted(vm)
            await open_and_connect(at, plain.port, "twin", index=0)
            assert await at.command(f'AT+QMTOPEN=1,"{BROKER}",{plain.port}') == OK
            assert await at.wait_urc(b"+QMTOPEN:") == b"+QMTOPEN: 1,0"
            assert await at.command('AT+QMTCONN=1,"twin"') == OK
            assert await urcs(at, 2) == {b"+QMTCONN: 1,0,0", b"+QMTSTAT: 0,1"}
            assert await at.command("AT+QMTCONN?") == b"\r\n+QMTCONN: 1,3\r\n" + OK
            await at.close()

    asyncio.run(main())
