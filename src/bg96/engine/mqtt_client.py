"""The module's own MQTT client, sans-IO on the engine's clock: bytes from the broker in,
bytes for the broker and reports for the AT layer out, timers for keep-alive and the packet
timeout.

One ``MqttClient`` lives for one network link of one of the six MQTT client indexes (from
+QMTOPEN to +QMTSTAT, QMTDISC or QMTCLOSE). It knows MQTT, not AT: ``commands/mqtt.py``
turns its reports into ``+QMTCONN``, ``+QMTSUB``, ``+QMTPUB``, ``+QMTRECV`` and ``+QMTSTAT``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

from ..protocol import mqtt
from ..protocol.mqtt import Ack, Bare, Connack, Packet, PacketType, Publish, Suback, Will
from .timers import Timer

MAX_INFLIGHT = 5  # messages the module has in flight at once (the application note)


class Clock(Protocol):
    """What the client needs of the engine: its time and its timers."""

    @property
    def now(self) -> float: ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer: ...


class Phase(IntEnum):
    """``AT+QMTCONN?``'s <state>."""

    INITIAL = 1
    CONNECTING = 2
    CONNECTED = 3
    DISCONNECTING = 4


class Stat(IntEnum):
    """``+QMTSTAT`` <err_code>: why the link ended (MQTT_COMMANDS.md section 9)."""

    PEER_CLOSED = 1
    PING_FAILED = 2
    CONNECT_FAILED = 3
    CONNACK_FAILED = 4
    DISCONNECTED = 5
    SEND_FAILED = 6
    LINK_DEAD = 7


@dataclass(frozen=True)
class Options:
    """The ``AT+QMTCFG`` settings a connection uses, taken at QMTCONN."""

    version: int = 4
    keepalive: int = 120
    clean_session: bool = True
    pkt_timeout: int = 5
    retry_times: int = 3
    timeout_notice: bool = False
    will: Will | None = None
    max_packet: int = 10240


# ---- reports: client -> AT layer --------------------------------------------------------


@dataclass(frozen=True)
class ConnResult:
    """``+QMTCONN: <id>,<result>[,<ret_code>]``."""

    result: int
    code: int | None = None


@dataclass(frozen=True)
class AckResult:
    """``+QMTSUB``/``+QMTUNS``/``+QMTPUB: <id>,<msgID>,<result>[,<value>]``."""

    command: str
    msg_id: int
    result: int
    value: str = ""


@dataclass(frozen=True)
class Message:
    """A PUBLISH from the broker (``+QMTRECV``); msg_id is 0 for QoS 0."""

    msg_id: int
    topic: str
    payload: bytes
    qos: int = 0


@dataclass(frozen=True)
class LinkFailed:
    """The link must end: ``+QMTSTAT: <id>,<code>``."""

    code: Stat
    reason: str


@dataclass(frozen=True)
class Trace:
    """A packet went out or came in (decoded, for the trace)."""

    outgoing: bool
    packet: Packet


Report = ConnResult | AckResult | Message | LinkFailed | Trace


@dataclass
class _Outstanding:
    """A packet waiting for its answer, resent on the packet timeout."""

    command: str  # the AT command its answer goes to: "+QMTPUB", "+QMTSUB", "+QMTUNS"
    msg_id: int
    packet: Packet
    awaits: PacketType
    tries: int = 0
    timer: Timer | None = None


class MqttClient:
    """MQTT over one established link."""

    def __init__(
        self,
        options: Options,
        clock: Clock,
        send: Callable[[bytes], None],
        report: Callable[[Report], None],
    ) -> None:
        self.options = options
        self.clock = clock
        self._send = send
        self._report = report
        self.phase = Phase.INITIAL
        self.decoder = mqtt.Decoder(max_packet=options.max_packet)
        self.outstanding: dict[int, _Outstanding] = {}
        self.incoming_qos2: set[int] = set()  # PUBREC sent, PUBREL not yet in
        self.subscriptions: dict[str, int] = {}  # topic filter -> QoS granted
        self._pending_subs: dict[int, tuple[tuple[str, int], ...]] = {}
        self._connect: _Outstanding | None = None
        self._keepalive: Timer | None = None
        self._ping: Timer | None = None
        self.refused = False  # the broker refused the CONNECT (its code came back)
        self.done = False  # the link has failed or ended: nothing more is done
        self.sent_packets = 0
        self.received_packets = 0
        self.published = 0
        self.delivered = 0

    # ---- commands ------------------------------------------------------------------------

    def connect(self, client_id: str, username: str | None, password: str | None) -> None:
        o = self.options
        packet = mqtt.Connect(
            client_id,
            o.keepalive,
            o.clean_session,
            username,
            None if password is None else password.encode("utf-8"),
            o.will,
            o.version,
        )
        self.phase = Phase.CONNECTING
        self._connect = _Outstanding("+QMTCONN", 0, packet, PacketType.CONNACK)
        self._transmit(self._connect)

    def publish(self, msg_id: int, qos: int, retain: bool, topic: str, payload: bytes) -> None:
        packet = Publish(topic, payload, qos, retain, False, msg_id if qos else 0)
        self.published += 1
        if qos == 0:
            self._write(packet)
            self._report(AckResult("+QMTPUB", msg_id, 0))
            return
        awaits = PacketType.PUBACK if qos == 1 else PacketType.PUBREC
        self._start(_Outstanding("+QMTPUB", msg_id, packet, awaits))

    def subscribe(self, msg_id: int, topics: tuple[tuple[str, int], ...]) -> None:
        self._pending_subs[msg_id] = topics
        packet = mqtt.Subscribe(msg_id, topics)
        self._start(_Outstanding("+QMTSUB", msg_id, packet, PacketType.SUBACK))

    def unsubscribe(self, msg_id: int, topics: tuple[str, ...]) -> None:
        packet = mqtt.Unsubscribe(msg_id, topics)
        self._start(_Outstanding("+QMTUNS", msg_id, packet, PacketType.UNSUBACK))
        for topic in topics:
            self.subscriptions.pop(topic, None)

    def disconnect(self) -> None:
        """DISCONNECT, after which the link closes; nothing more is sent or awaited."""
        self.phase = Phase.DISCONNECTING
        self._write(Bare(PacketType.DISCONNECT))
        self.stop()

    def busy(self, msg_id: int) -> bool:
        """``msg_id`` is in flight (a new packet may not take it)."""
        return msg_id in self.outstanding

    @property
    def inflight(self) -> int:
        return sum(1 for o in self.outstanding.values() if o.command == "+QMTPUB")

    def stop(self) -> None:
        """The link is gone or going: every timer stops, nothing more is reported."""
        self.done = True
        for o in [*self.outstanding.values(), self._connect]:
            if o is not None and o.timer is not None:
                o.timer.cancel()
        for t in (self._keepalive, self._ping):
            if t is not None:
                t.cancel()

    # ---- the broker's bytes --------------------------------------------------------------

    def receive(self, data: bytes) -> None:
        if self.done:
            return
        try:
            packets = self.decoder.feed(data)
        except mqtt.MqttError as exc:
            self._fail(Stat.LINK_DEAD, f"the broker sent a broken packet: {exc}")
            return
        for packet in packets:
            if self.done:
                return
            self.received_packets += 1
            self._report(Trace(False, packet))
            self._handle(packet)

    def _handle(self, packet: Packet) -> None:
        if isinstance(packet, Connack):
            if self.phase is not Phase.CONNECTING or self._connect is None:
                self._fail(Stat.LINK_DEAD, "CONNACK out of turn")
                return
            self._cancel(self._connect)
            self._connect = None
            self._report(ConnResult(0, packet.return_code))
            if packet.return_code == 0:
                self.phase = Phase.CONNECTED
                self._arm_keepalive()
            else:
                self.phase = Phase.INITIAL
                self.refused = True
            return
        if self.phase is not Phase.CONNECTED:
            self._fail(Stat.LINK_DEAD, f"{mqtt.describe(packet)} before the CONNACK")
            return
        if isinstance(packet, Publish):
            self._incoming(packet)
        elif isinstance(packet, Ack) and packet.type is PacketType.PUBREL:
            self.incoming_qos2.discard(packet.packet_id)
            self._write(Ack(PacketType.PUBCOMP, packet.packet_id))
        elif isinstance(packet, Ack | Suback):
            self._answer(packet)
        elif isinstance(packet, Bare) and packet.type is PacketType.PINGRESP:
            if self._ping is not None:
                self._ping.cancel()
                self._ping = None
        else:
            self._fail(Stat.LINK_DEAD, f"the broker sent {mqtt.describe(packet)}")

    def _incoming(self, packet: Publish) -> None:
        pid = packet.packet_id
        if packet.qos == 2:
            fresh = pid not in self.incoming_qos2
            self.incoming_qos2.add(pid)
            self._write(Ack(PacketType.PUBREC, pid))
            if not fresh:
                return  # a duplicate before PUBREL: delivered once already
        elif packet.qos == 1:
            self._write(Ack(PacketType.PUBACK, pid))
        self.delivered += 1
        self._report(Message(pid, packet.topic, packet.payload, packet.qos))

    def _answer(self, packet: Ack | Suback) -> None:
        kind = PacketType.SUBACK if isinstance(packet, Suback) else packet.type
        o = self.outstanding.get(packet.packet_id)
        if o is None or o.awaits is not kind:
            return  # a late or duplicate answer: nothing waits for it
        self._cancel(o)
        if kind is PacketType.PUBREC:
            o.packet = Ack(PacketType.PUBREL, o.msg_id)
            o.awaits = PacketType.PUBCOMP
            o.tries = 0
            self._transmit(o)
            return
        del self.outstanding[o.msg_id]
        value = ""
        if isinstance(packet, Suback):
            value = ",".join(str(c) for c in packet.return_codes)
            asked = self._pending_subs.pop(o.msg_id, ())
            for (topic, _), code in zip(asked, packet.return_codes, strict=False):
                if code != 0x80:
                    self.subscriptions[topic] = code
        self._report(AckResult(o.command, o.msg_id, 0, value))

    # ---- sending and timers --------------------------------------------------------------

    def _start(self, o: _Outstanding) -> None:
        self.outstanding[o.msg_id] = o
        self._transmit(o)

    def _transmit(self, o: _Outstanding) -> None:
        self._write(o.packet)
        o.timer = self.clock.call_later(float(self.options.pkt_timeout), lambda: self._expired(o))

    def _expired(self, o: _Outstanding) -> None:
        if self.done:
            return
        o.timer = None
        if o.tries >= self.options.retry_times:
            if o is self._connect:
                self._report(ConnResult(2))
                self._fail(Stat.CONNACK_FAILED, "no CONNACK: the broker does not answer")
                return
            self.outstanding.pop(o.msg_id, None)
            self._report(AckResult(o.command, o.msg_id, 2))
            self._fail(Stat.SEND_FAILED, f"{o.command[1:]} {o.msg_id}: no answer after retries")
            return
        o.tries += 1
        if isinstance(o.packet, Publish):
            p = o.packet
            o.packet = Publish(p.topic, p.payload, p.qos, p.retain, True, p.packet_id)
        if self.options.timeout_notice:
            if o is self._connect:
                self._report(ConnResult(1))
            else:
                self._report(AckResult(o.command, o.msg_id, 1, str(o.tries)))
        self._transmit(o)

    def _cancel(self, o: _Outstanding) -> None:
        if o.timer is not None:
            o.timer.cancel()
            o.timer = None

    def _write(self, packet: Packet) -> None:
        self.sent_packets += 1
        self._report(Trace(True, packet))
        self._send(mqtt.encode(packet))
        if self.phase is Phase.CONNECTED:
            self._arm_keepalive()

    def _arm_keepalive(self) -> None:
        """The module pings once ``keepalive`` s have passed without a packet from it."""
        if self._keepalive is not None:
            self._keepalive.cancel()
            self._keepalive = None
        if self.options.keepalive and not self.done:
            self._keepalive = self.clock.call_later(float(self.options.keepalive), self._idle)

    def _idle(self) -> None:
        self._keepalive = None
        if self.done or self.phase is not Phase.CONNECTED:
            return
        if self._ping is None:
            self._ping = self.clock.call_later(float(self.options.pkt_timeout), self._no_pong)
        self._write(Bare(PacketType.PINGREQ))

    def _no_pong(self) -> None:
        self._ping = None
        if not self.done:
            self._fail(Stat.PING_FAILED, "no PINGRESP: the broker or the link is gone")

    def _fail(self, code: Stat, reason: str) -> None:
        self.stop()
        self._report(LinkFailed(code, reason))
