"""The MQTT codec: every packet type round-trips, byte splits do not matter, broken packets
are errors (never a crash, never an unbounded buffer)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bg96.protocol import mqtt
from bg96.protocol.mqtt import (
    Ack,
    Bare,
    Connack,
    Connect,
    Decoder,
    MqttError,
    PacketType,
    Publish,
    Suback,
    Subscribe,
    Unsubscribe,
    Will,
)

PACKETS: list[mqtt.Packet] = [
    Connect("dev", 60, True),
    Connect("", 0, False, "user", b"pw", Will("w/t", b"bye", 1, True), 3),
    Connack(0),
    Connack(5, True),
    Publish("a/b", b"", 0),
    Publish("a/b", bytes(range(256)), 1, True, True, 7),
    Publish("t", b"x" * 300, 2, False, False, 65535),
    Ack(PacketType.PUBACK, 1),
    Ack(PacketType.PUBREC, 2),
    Ack(PacketType.PUBREL, 3),
    Ack(PacketType.PUBCOMP, 4),
    Ack(PacketType.UNSUBACK, 5),
    Subscribe(9, (("a/+", 0), ("b/#", 2))),
    Suback(9, (0, 2, 0x80)),
    Unsubscribe(10, ("a/+", "b/#")),
    Bare(PacketType.PINGREQ),
    Bare(PacketType.PINGRESP),
    Bare(PacketType.DISCONNECT),
]


@pytest.mark.parametrize("packet", PACKETS, ids=lambda p: mqtt.describe(p)[:30])
def test_every_packet_round_trips(packet: mqtt.Packet) -> None:
    assert mqtt.decode(mqtt.encode(packet)) == packet
    assert mqtt.packet_type(packet).name in mqtt.describe(packet)


def test_known_bytes() -> None:
    assert mqtt.encode(Bare(PacketType.PINGREQ)) == b"\xc0\x00"
    assert mqtt.encode(Connack(0)) == b"\x20\x02\x00\x00"
    assert mqtt.encode(Ack(PacketType.PUBREL, 1)) == b"\x62\x02\x00\x01"
    assert mqtt.encode(Connect("c", 120)) == b"\x10\x0d\x00\x04MQTT\x04\x02\x00\x78\x00\x01c"
    big = mqtt.encode(Publish("t", b"x" * 200))
    assert big[:3] == b"\x30\xcb\x01"  # remaining length 203 in two bytes


@given(st.lists(st.integers(0, len(PACKETS) - 1), max_size=8), st.data())
def test_any_split_gives_the_same_packets(picks: list[int], data: st.DataObject) -> None:
    wire = b"".join(mqtt.encode(PACKETS[i]) for i in picks)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=6)))
    decoder = Decoder()
    got: list[mqtt.Packet] = []
    last = 0
    for cut in [*cuts, len(wire)]:
        got += decoder.feed(wire[last:cut])
        last = cut
    assert got == [PACKETS[i] for i in picks]
    assert decoder.buffered == 0


@given(st.binary(max_size=64))
def test_garbage_is_an_error_or_packets_never_a_crash(data: bytes) -> None:
    decoder = Decoder(max_packet=32)
    try:
        decoder.feed(data)
    except MqttError:
        assert decoder.buffered == 0  # a broken stream keeps nothing
    else:
        assert decoder.buffered <= 32 + 5  # at most one packet, not yet whole


@pytest.mark.parametrize(
    "wire",
    [
        b"\x00\x00",  # type 0
        b"\xf0\x00",  # type 15
        b"\x36\x03\x00\x01t",  # QoS 3
        b"\x20\x03\x00\x00\x00",  # CONNACK too long
        b"\x40\x02\x00\x00",  # packet id 0
        b"\x61\x02\x00\x01",  # PUBREL with flags 1
        b"\x90\x02\x00\x01",  # SUBACK without codes
        b"\x90\x03\x00\x01\x05",  # SUBACK code 5
        b"\xc0\x01\x00",  # PINGREQ with a body
        b"\x30\xff\xff\xff\xff\x01",  # five length bytes
        b"\x30\x05\x00\x09abc",  # a topic longer than the packet
        b"\x30\x05\x00\x02\xff\xfe\x00",  # not UTF-8
    ],
)
def test_broken_packets(wire: bytes) -> None:
    with pytest.raises(MqttError):
        Decoder().feed(wire)


def test_a_packet_over_the_limit_is_refused_from_its_header() -> None:
    decoder = Decoder(max_packet=100)
    with pytest.raises(MqttError, match="over 100"):
        decoder.feed(b"\x30\xe8\x07")  # 1000 bytes announced, none sent


def test_topic_rules() -> None:
    assert mqtt.valid_topic_name("a/b") and not mqtt.valid_topic_name("a/+")
    assert not mqtt.valid_topic_name("") and not mqtt.valid_topic_name("a/#")
    for good in ("#", "+", "a/+/b", "a/#", "+/+", "$aws/things/x/shadow/update/accepted"):
        assert mqtt.valid_topic_filter(good), good
    for bad in ("", "a/#/b", "a+", "a/b#", "#/a"):
        assert not mqtt.valid_topic_filter(bad), bad
