"""MQTT 3.1 / 3.1.1 control packets: encode, decode, describe. Pure, no state beyond a
decoder's buffer.

The module's MQTT client (``engine/mqtt_client.py``), the trace (packets decoded beside the
bytes) and the tests' small brokers share it. No PyPI codec fitted (the sans-IO ones are not
packaged for this machine's index), so this is the codec, with its own tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum


class PacketType(IntEnum):
    CONNECT = 1
    CONNACK = 2
    PUBLISH = 3
    PUBACK = 4
    PUBREC = 5
    PUBREL = 6
    PUBCOMP = 7
    SUBSCRIBE = 8
    SUBACK = 9
    UNSUBSCRIBE = 10
    UNSUBACK = 11
    PINGREQ = 12
    PINGRESP = 13
    DISCONNECT = 14


class MqttError(ValueError):
    """A packet that breaks the protocol (malformed, or larger than the buffer allows)."""


MAX_REMAINING = 268_435_455  # the largest Remaining Length the encoding can carry


@dataclass(frozen=True)
class Will:
    topic: str
    message: bytes
    qos: int = 0
    retain: bool = False


@dataclass(frozen=True)
class Connect:
    client_id: str
    keepalive: int = 120
    clean_session: bool = True
    username: str | None = None
    password: bytes | None = None
    will: Will | None = None
    version: int = 4  # 3: MQTT 3.1 ("MQIsdp"), 4: MQTT 3.1.1 ("MQTT")


@dataclass(frozen=True)
class Connack:
    return_code: int
    session_present: bool = False


@dataclass(frozen=True)
class Publish:
    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False
    dup: bool = False
    packet_id: int = 0  # QoS 1 and 2 only


@dataclass(frozen=True)
class Ack:
    """PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK: a packet identifier and nothing else."""

    type: PacketType
    packet_id: int


@dataclass(frozen=True)
class Subscribe:
    packet_id: int
    topics: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Suback:
    packet_id: int
    return_codes: tuple[int, ...]


@dataclass(frozen=True)
class Unsubscribe:
    packet_id: int
    topics: tuple[str, ...]


@dataclass(frozen=True)
class Bare:
    """PINGREQ, PINGRESP, DISCONNECT: the fixed header alone."""

    type: PacketType


Packet = Connect | Connack | Publish | Ack | Subscribe | Suback | Unsubscribe | Bare

_ACKS = (
    PacketType.PUBACK,
    PacketType.PUBREC,
    PacketType.PUBREL,
    PacketType.PUBCOMP,
    PacketType.UNSUBACK,
)
_BARE = (PacketType.PINGREQ, PacketType.PINGRESP, PacketType.DISCONNECT)


# ---- encoding ------------------------------------------------------------------------------


def _length(n: int) -> bytes:
    if not 0 <= n <= MAX_REMAINING:
        raise MqttError(f"remaining length {n} cannot be encoded")
    out = bytearray()
    while True:
        digit, n = n % 128, n // 128
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _str(text: str) -> bytes:
    return _blob(text.encode("utf-8"))


def _blob(data: bytes) -> bytes:
    if len(data) > 0xFFFF:
        raise MqttError("a string of more than 65535 bytes")
    return len(data).to_bytes(2, "big") + data


def _packet(kind: PacketType, flags: int, body: bytes) -> bytes:
    return bytes([(kind << 4) | flags]) + _length(len(body)) + body


def encode(packet: Packet) -> bytes:
    """The bytes of ``packet`` on the wire."""
    if isinstance(packet, Connect):
        name, level = (b"MQIsdp", 3) if packet.version == 3 else (b"MQTT", 4)
        flags = 0x02 if packet.clean_session else 0
        payload = _str(packet.client_id)
        if packet.will is not None:
            w = packet.will
            flags |= 0x04 | (w.qos << 3) | (0x20 if w.retain else 0)
            payload += _str(w.topic) + _blob(w.message)
        if packet.username is not None:
            flags |= 0x80
            payload += _str(packet.username)
        if packet.password is not None:
            flags |= 0x40
            payload += _blob(packet.password)
        head = _blob(name) + bytes([level, flags]) + packet.keepalive.to_bytes(2, "big")
        return _packet(PacketType.CONNECT, 0, head + payload)
    if isinstance(packet, Connack):
        body = bytes([1 if packet.session_present else 0, packet.return_code])
        return _packet(PacketType.CONNACK, 0, body)
    if isinstance(packet, Publish):
        flags = (0x08 if packet.dup else 0) | (packet.qos << 1) | (1 if packet.retain else 0)
        body = _str(packet.topic)
        if packet.qos:
            body += packet.packet_id.to_bytes(2, "big")
        return _packet(PacketType.PUBLISH, flags, body + packet.payload)
    if isinstance(packet, Ack):
        flags = 0x02 if packet.type is PacketType.PUBREL else 0
        return _packet(packet.type, flags, packet.packet_id.to_bytes(2, "big"))
    if isinstance(packet, Subscribe):
        body = packet.packet_id.to_bytes(2, "big")
        body += b"".join(_str(t) + bytes([q]) for t, q in packet.topics)
        return _packet(PacketType.SUBSCRIBE, 0x02, body)
    if isinstance(packet, Suback):
        body = packet.packet_id.to_bytes(2, "big") + bytes(packet.return_codes)
        return _packet(PacketType.SUBACK, 0, body)
    if isinstance(packet, Unsubscribe):
        body = packet.packet_id.to_bytes(2, "big") + b"".join(_str(t) for t in packet.topics)
        return _packet(PacketType.UNSUBSCRIBE, 0x02, body)
    return _packet(packet.type, 0, b"")


# ---- decoding ------------------------------------------------------------------------------


@dataclass
class _Reader:
    data: bytes
    pos: int = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise MqttError("packet shorter than its fields")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def blob(self) -> bytes:
        return self.take(self.u16())

    def text(self) -> str:
        try:
            return self.blob().decode("utf-8")
        except UnicodeDecodeError:
            raise MqttError("a string that is not UTF-8") from None

    def rest(self) -> bytes:
        out = self.data[self.pos :]
        self.pos = len(self.data)
        return out

    @property
    def left(self) -> int:
        return len(self.data) - self.pos


def _packet_id(r: _Reader) -> int:
    pid = r.u16()
    if pid == 0:
        raise MqttError("packet identifier 0")
    return pid


def _decode_body(kind: PacketType, flags: int, body: bytes) -> Packet:
    r = _Reader(body)
    if kind is PacketType.PUBLISH:
        qos = (flags >> 1) & 3
        if qos == 3:
            raise MqttError("PUBLISH with QoS 3")
        topic = r.text()
        pid = _packet_id(r) if qos else 0
        return Publish(topic, r.rest(), qos, bool(flags & 1), bool(flags & 8), pid)
    expected = (
        0x02 if kind in (PacketType.PUBREL, PacketType.SUBSCRIBE, PacketType.UNSUBSCRIBE) else 0
    )
    if flags != expected:
        raise MqttError(f"{kind.name} with reserved flags 0x{flags:X}")
    packet: Packet
    if kind is PacketType.CONNECT:
        name, level, cflags, keepalive = r.blob(), r.u8(), r.u8(), r.u16()
        if (name, level) not in ((b"MQIsdp", 3), (b"MQTT", 4)):
            raise MqttError(f"CONNECT for protocol {name!r} level {level}")
        client_id = r.text()
        will = None
        if cflags & 0x04:
            will = Will(r.text(), r.blob(), (cflags >> 3) & 3, bool(cflags & 0x20))
        username = r.text() if cflags & 0x80 else None
        password = r.blob() if cflags & 0x40 else None
        packet = Connect(client_id, keepalive, bool(cflags & 2), username, password, will, level)
    elif kind is PacketType.CONNACK:
        if len(body) != 2:
            raise MqttError("CONNACK is not 2 bytes long")
        flags_byte, code = r.u8(), r.u8()
        packet = Connack(code, bool(flags_byte & 1))
    elif kind in _ACKS:
        if len(body) != 2:
            raise MqttError(f"{kind.name} is not 2 bytes long")
        packet = Ack(kind, _packet_id(r))
    elif kind is PacketType.SUBSCRIBE:
        pid = _packet_id(r)
        topics: list[tuple[str, int]] = []
        while r.left:
            topics.append((r.text(), r.u8()))
        if not topics:
            raise MqttError("SUBSCRIBE without a topic")
        packet = Subscribe(pid, tuple(topics))
    elif kind is PacketType.SUBACK:
        pid = _packet_id(r)
        codes = tuple(r.rest())
        if not codes or any(c not in (0, 1, 2, 0x80) for c in codes):
            raise MqttError(f"SUBACK return codes {codes}")
        packet = Suback(pid, codes)
    elif kind is PacketType.UNSUBSCRIBE:
        pid = _packet_id(r)
        names: list[str] = []
        while r.left:
            names.append(r.text())
        if not names:
            raise MqttError("UNSUBSCRIBE without a topic")
        packet = Unsubscribe(pid, tuple(names))
    else:
        if body:
            raise MqttError(f"{kind.name} with a body")
        packet = Bare(kind)
    if r.left:
        raise MqttError(f"{kind.name} longer than its fields")
    return packet


@dataclass
class Decoder:
    """Bytes in, whole packets out. A packet over ``max_packet`` bytes is an error as soon as
    its length is known, so nothing is buffered beyond that bound."""

    max_packet: int = MAX_REMAINING + 5
    _buf: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[Packet]:
        """Packets completed by ``data``; ``MqttError`` for a broken one, after which the
        stream is unusable and nothing of it is kept."""
        self._buf += data
        try:
            return self._packets()
        except MqttError:
            self._buf.clear()
            raise

    def _packets(self) -> list[Packet]:
        out: list[Packet] = []
        while True:
            head = self._header()
            if head is None:
                return out
            kind, flags, start, size = head
            if len(self._buf) < start + size:
                return out
            body = bytes(self._buf[start : start + size])
            del self._buf[: start + size]
            out.append(_decode_body(kind, flags, body))

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def _header(self) -> tuple[PacketType, int, int, int] | None:
        buf = self._buf
        if not buf:
            return None
        try:
            kind = PacketType(buf[0] >> 4)
        except ValueError:
            raise MqttError(f"packet type {buf[0] >> 4}") from None
        size = 0
        for i in range(1, 5):
            if i >= len(buf):
                return None
            size |= (buf[i] & 0x7F) << (7 * (i - 1))
            if not buf[i] & 0x80:
                if size + i + 1 > self.max_packet:
                    raise MqttError(f"{kind.name} of {size + i + 1} bytes, over {self.max_packet}")
                return kind, buf[0] & 0x0F, i + 1, size
        raise MqttError("remaining length of more than 4 bytes")


def decode(data: bytes) -> Packet:
    """Exactly one packet."""
    decoder = Decoder()
    packets = decoder.feed(data)
    if len(packets) != 1 or decoder.buffered:
        raise MqttError("not exactly one packet")
    return packets[0]


# ---- description (the trace) ---------------------------------------------------------------


def packet_type(packet: Packet) -> PacketType:
    if isinstance(packet, Ack | Bare):
        return packet.type
    return {
        Connect: PacketType.CONNECT,
        Connack: PacketType.CONNACK,
        Publish: PacketType.PUBLISH,
        Subscribe: PacketType.SUBSCRIBE,
        Suback: PacketType.SUBACK,
        Unsubscribe: PacketType.UNSUBSCRIBE,
    }[type(packet)]


def describe(packet: Packet) -> str:
    """One line: type, packet id, topic, QoS (what a trace reader looks for)."""
    if isinstance(packet, Connect):
        v = "3.1" if packet.version == 3 else "3.1.1"
        will = f" will {packet.will.topic!r}" if packet.will else ""
        user = f" user {packet.username!r}" if packet.username is not None else ""
        clean = "clean" if packet.clean_session else "persistent"
        return (
            f"CONNECT {packet.client_id!r} MQTT {v} keepalive {packet.keepalive} {clean}"
            f"{user}{will}"
        )
    if isinstance(packet, Connack):
        return f"CONNACK code {packet.return_code}" + (
            " session present" if packet.session_present else ""
        )
    if isinstance(packet, Publish):
        pid = f" id {packet.packet_id}" if packet.qos else ""
        flags = (" retain" if packet.retain else "") + (" dup" if packet.dup else "")
        return f"PUBLISH{pid} {packet.topic!r} qos {packet.qos}{flags} {len(packet.payload)} bytes"
    if isinstance(packet, Ack):
        return f"{packet.type.name} id {packet.packet_id}"
    if isinstance(packet, Subscribe):
        topics = ", ".join(f"{t!r} qos {q}" for t, q in packet.topics)
        return f"SUBSCRIBE id {packet.packet_id} {topics}"
    if isinstance(packet, Suback):
        return f"SUBACK id {packet.packet_id} granted {','.join(map(str, packet.return_codes))}"
    if isinstance(packet, Unsubscribe):
        return f"UNSUBSCRIBE id {packet.packet_id} " + ", ".join(map(repr, packet.topics))
    return packet.type.name


def valid_topic_name(topic: str) -> bool:
    """A topic a PUBLISH may name: not empty, no wildcards, no NUL."""
    return bool(topic) and not any(c in topic for c in "+#\x00")


def valid_topic_filter(topic: str) -> bool:
    """A SUBSCRIBE filter: ``+`` fills a whole level, ``#`` only the last one."""
    if not topic or "\x00" in topic:
        return False
    levels = topic.split("/")
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            return False
        if "+" in level and level != "+":
            return False
    return True
