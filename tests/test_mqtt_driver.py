"""The host driver's MQTT: the parser fed every +QMT URC split at every byte, and
``modem.mqtt()`` on both drivers (``Modem``, ``AsyncModem``) against a virtual module and a
broker on 127.0.0.1, with the typed errors carrying the module's codes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from bg96.host import (
    DteParser,
    MqttConnectRefused,
    MqttError,
    MqttLinkLost,
    MqttMessage,
    MqttOpenFailed,
    Urc,
    Will,
)
from bg96.host.core import ModemCore
from bg96.module.virtual import VirtualModule
from bg96.testing.blocking import DRIVERS, open_driver
from bg96.testing.mqtt_broker import RunningBroker, broker, free_port
from bg96.testing.mqtt_peer import MqttPeer

BROKER = "broker.example"
EVERY_BYTE = bytes(range(256))

URCS: list[tuple[bytes, Urc]] = [
    (b"\r\n+QMTOPEN: 0,0\r\n", Urc(b"+QMTOPEN: 0,0")),
    (b"\r\n+QMTOPEN: 5,-1\r\n", Urc(b"+QMTOPEN: 5,-1")),
    (b"\r\n+QMTCONN: 0,0,4\r\n", Urc(b"+QMTCONN: 0,0,4")),
    (b"\r\n+QMTSUB: 0,1,0,0,1,128\r\n", Urc(b"+QMTSUB: 0,1,0,0,1,128")),
    (b"\r\n+QMTUNS: 0,2,0\r\n", Urc(b"+QMTUNS: 0,2,0")),
    (b"\r\n+QMTPUB: 0,3,1,2\r\n", Urc(b"+QMTPUB: 0,3,1,2")),
    (b"\r\n+QMTDISC: 0,0\r\n", Urc(b"+QMTDISC: 0,0")),
    (b"\r\n+QMTCLOSE: 0,-1\r\n", Urc(b"+QMTCLOSE: 0,-1")),
    (b"\r\n+QMTSTAT: 0,2\r\n", Urc(b"+QMTSTAT: 0,2")),
    (b'\r\n+QMTRECV: 1,0,"a/b","hello"\r\n', Urc(b'+QMTRECV: 1,0,"a/b"', b"hello")),
    (b'\r\n+QMTRECV: 1,7,"a/b",""\r\n', Urc(b'+QMTRECV: 1,7,"a/b"', b"")),
    (b'\r\n+QMTRECV: 0,1,"t","a "q" b"\r\n', Urc(b'+QMTRECV: 0,1,"t"', b'a "q" b')),
    (
        b'\r\n+QMTRECV: 0,9,"bin",256,"' + EVERY_BYTE + b'"\r\n',
        Urc(b'+QMTRECV: 0,9,"bin",256', EVERY_BYTE),
    ),
    (
        b'\r\n+QMTRECV: 2,0,"t",6,"a"\r\n\r\n"\r\n',
        Urc(b'+QMTRECV: 2,0,"t",6', b'a"\r\n\r\n'),
    ),
]


@pytest.mark.parametrize(("wire", "urc"), URCS, ids=[u.line.decode()[:24] for _, u in URCS])
def test_every_urc_split_at_every_byte(wire: bytes, urc: Urc) -> None:
    for cut in range(len(wire) + 1):
        for pending in (False, True):  # outside a command, or while one waits for its answer
            parser = DteParser()
            if pending:
                parser.begin(b"AT+CSQ")
            parser.feed(wire[:cut])
            parser.feed(wire[cut:])
            if pending:
                parser.feed(b"\r\nOK\r\n")
            events = parser.events()
            assert events[0] == urc, (cut, pending, events)
            assert len(events) == (2 if pending else 1)


def test_all_urcs_in_one_stream_byte_by_byte() -> None:
    stream = b"".join(w for w, _ in URCS)
    parser = DteParser()
    for i in range(len(stream)):
        parser.feed(stream[i : i + 1])
    assert parser.events() == [u for _, u in URCS]


def test_the_core_sorts_them_into_the_clients() -> None:
    core = ModemCore()
    seen: list[int] = []
    core.receive(b"\r\n+QMTOPEN: 0,0\r\n+QMTCONN: 0,0,0\r\n")
    core.mqtt[0].callbacks.append(seen.append)
    core.receive(b'\r\n+QMTSUB: 0,1,0,2\r\n+QMTPUB: 0,2,1,1\r\n+QMTRECV: 0,0,"t","x"\r\n')
    core.receive(b"\r\n+QMTSTAT: 0,1\r\n")
    state = core.mqtt[0]
    assert state.results == {"OPEN": (0, None), "CONN": (0, 0)}
    assert state.acks == {("SUB", 1): (0, (2,))}
    assert state.retries == {("PUB", 2): 1}
    assert list(state.messages) == [MqttMessage(0, 0, "t", b"x")]
    assert seen == [1] and state.stat == 1


# ---- against a broker, on both drivers --------------------------------------------------------


@pytest.fixture(scope="module")
def amqtt() -> Iterator[RunningBroker]:
    with broker("amqtt", users=None) as running:
        yield running


@pytest.fixture(params=DRIVERS)
def driver(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def vm() -> Iterator[VirtualModule]:
    with VirtualModule(resolve={BROKER: "127.0.0.1"}, system_resolver=False) as module:
        yield module


def test_configure_open_connect_subscribe_publish_receive(
    driver: str, vm: VirtualModule, amqtt: RunningBroker
) -> None:
    with open_driver(driver, vm.url) as modem:
        modem.sync()
        modem.activate(1)
        mqtt = modem.mqtt(0)
        mqtt.configure(keepalive=30, will=Will("dev/status", "offline", qos=1))
        mqtt.open(BROKER, amqtt.port)
        mqtt.connect(f"dev-{driver}")
        assert mqtt.status() == 3
        assert mqtt.subscribe([("echo/#", 1), ("other", 0)]) == [1, 0]
        for payload in (EVERY_BYTE, b'a "quoted"\r\nline', b"\x1a\x1b"):
            assert mqtt.publish("echo/bin", payload, qos=1) > 0
            got = mqtt.receive(10)
            assert (got.topic, got.payload) == ("echo/bin", payload)
        assert mqtt.publish("echo/zero", "qos 0") == 0
        assert mqtt.receive(10).payload == b"qos 0"
        mqtt.unsubscribe("echo/#")
        mqtt.disconnect()
        assert mqtt.status() == 0


def test_typed_errors_carry_the_codes(driver: str, vm: VirtualModule) -> None:
    with (
        broker("amqtt", users={"device": "s3cret"}) as strict,
        open_driver(driver, vm.url) as modem,
    ):
        modem.sync()
        modem.activate(1)
        mqtt = modem.mqtt(1)
        mqtt.configure()
        with pytest.raises(MqttOpenFailed) as failed:
            mqtt.open(BROKER, free_port())  # nobody listens there
        assert failed.value.code == -1
        with pytest.raises(MqttOpenFailed) as failed:
            mqtt.open("no-such-name.invalid", 1883)
        assert failed.value.code == 4
        mqtt.open(BROKER, strict.port)
        with pytest.raises(MqttConnectRefused) as refused:
            mqtt.connect("dev", "device", "wrong")
        assert refused.value.code in (4, 5)
        with pytest.raises(MqttError):  # refused: not connected
            mqtt.subscribe("t")
        mqtt.close()  # the broker closes the link too (+QMTSTAT: 1,3): whichever comes first
        mqtt.open(BROKER, strict.port)
        mqtt.connect("dev", "device", "s3cret")
        codes: list[int] = []
        mqtt.on_status(codes.append)
        vm.faults.broker_reset(1)
        with pytest.raises(MqttLinkLost) as gone:
            mqtt.receive(10)
        assert gone.value.code == 1 and codes == [1]


def test_a_command_from_the_broker_reaches_the_host(
    driver: str, vm: VirtualModule, amqtt: RunningBroker
) -> None:
    with open_driver(driver, vm.url) as modem:
        modem.sync()
        modem.activate(1)
        mqtt = modem.mqtt(2)
        mqtt.configure()
        mqtt.open(BROKER, amqtt.port)
        mqtt.connect("thing")
        mqtt.subscribe("cmd/thing", 2)

        async def send() -> None:
            peer = await MqttPeer.connect(amqtt.port, "cloud")
            await peer.publish("cmd/thing", b'{"led":"on"}', qos=2)
            await peer.close()

        asyncio.run(send())
        for message in mqtt.messages(timeout=10):
            assert message.topic == "cmd/thing" and message.payload == b'{"led":"on"}'
            assert message.msg_id > 0
            break
        else:
            raise AssertionError("no message")
        mqtt.close()
