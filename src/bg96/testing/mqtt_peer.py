"""The test's own side of an MQTT broker: a small asyncio client (``MqttPeer``) and a proxy
that sees every packet between the module and the broker and can drop or stall them
(``MqttProxy``), both on ``bg96.protocol.mqtt``."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

from ..protocol import mqtt
from ..protocol.mqtt import Ack, Bare, Connack, PacketType, Publish, Suback

LOOPBACK = "127.0.0.1"


class MqttError(RuntimeError):
    """The broker refused or broke the peer's connection."""


class MqttPeer:
    """A QoS 0-2 MQTT 3.1.1 client for tests: publish, subscribe, wait for messages."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.decoder = mqtt.Decoder()
        self.messages: asyncio.Queue[Publish] = asyncio.Queue()
        self._waiting: dict[tuple[PacketType, int], asyncio.Future[mqtt.Packet]] = {}
        self._connack: asyncio.Future[Connack] = asyncio.get_running_loop().create_future()
        self._next_id = 0
        self._task = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def connect(
        cls,
        port: int,
        client_id: str,
        *,
        host: str = LOOPBACK,
        tls: ssl.SSLContext | None = None,
        username: str | None = None,
        password: str | None = None,
        clean: bool = True,
        timeout: float = 10.0,
    ) -> MqttPeer:
        reader, writer = await asyncio.open_connection(host, port, ssl=tls)
        peer = cls(reader, writer)
        pw = None if password is None else password.encode()
        peer._write(mqtt.Connect(client_id, 0, clean, username, pw))
        connack = await asyncio.wait_for(peer._connack, timeout)
        if connack.return_code:
            await peer.close()
            raise MqttError(f"CONNACK {connack.return_code}")
        return peer

    def _write(self, packet: mqtt.Packet) -> None:
        self.writer.write(mqtt.encode(packet))

    def _id(self) -> int:
        self._next_id = self._next_id % 65535 + 1
        return self._next_id

    def _expect(self, kind: PacketType, pid: int) -> asyncio.Future[mqtt.Packet]:
        future: asyncio.Future[mqtt.Packet] = asyncio.get_running_loop().create_future()
        self._waiting[(kind, pid)] = future
        return future

    async def subscribe(self, topic: str, qos: int = 0, timeout: float = 10.0) -> int:
        """The QoS granted."""
        pid = self._id()
        waiter = self._expect(PacketType.SUBACK, pid)
        self._write(mqtt.Subscribe(pid, ((topic, qos),)))
        suback = await asyncio.wait_for(waiter, timeout)
        assert isinstance(suback, Suback)
        return suback.return_codes[0]

    async def publish(
        self, topic: str, payload: bytes, qos: int = 0, retain: bool = False, timeout: float = 10.0
    ) -> None:
        """Returns once the broker has the message (its acknowledgement for QoS 1 and 2)."""
        if qos == 0:
            self._write(Publish(topic, payload, 0, retain))
            await self.writer.drain()
            return
        pid = self._id()
        last = PacketType.PUBACK if qos == 1 else PacketType.PUBCOMP
        waiter = self._expect(last, pid)
        self._write(Publish(topic, payload, qos, retain, False, pid))
        await asyncio.wait_for(waiter, timeout)

    async def message(self, timeout: float = 10.0) -> Publish:
        return await asyncio.wait_for(self.messages.get(), timeout)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            self._write(Bare(PacketType.DISCONNECT))
            self.writer.close()
            await self.writer.wait_closed()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task

    async def _read(self) -> None:
        while data := await self.reader.read(65536):
            for packet in self.decoder.feed(data):
                self._handle(packet)
        error = MqttError("the broker closed the connection")
        futures: list[asyncio.Future[Connack] | asyncio.Future[mqtt.Packet]] = [
            self._connack,
            *self._waiting.values(),
        ]
        for future in futures:
            if not future.done():
                future.set_exception(error)

    def _handle(self, packet: mqtt.Packet) -> None:
        if isinstance(packet, Connack):
            if not self._connack.done():
                self._connack.set_result(packet)
            return
        if isinstance(packet, Publish):
            if packet.qos == 1:
                self._write(Ack(PacketType.PUBACK, packet.packet_id))
            elif packet.qos == 2:
                self._write(Ack(PacketType.PUBREC, packet.packet_id))
            self.messages.put_nowait(packet)
            return
        if isinstance(packet, Ack) and packet.type is PacketType.PUBREC:
            self._write(Ack(PacketType.PUBREL, packet.packet_id))
            return
        if isinstance(packet, Ack) and packet.type is PacketType.PUBREL:
            self._write(Ack(PacketType.PUBCOMP, packet.packet_id))
            return
        if isinstance(packet, Ack | Suback):
            kind = PacketType.SUBACK if isinstance(packet, Suback) else packet.type
            future = self._waiting.pop((kind, packet.packet_id), None)
            if future is not None and not future.done():
                future.set_result(packet)


@dataclass
class ProxyLog:
    """What passed the proxy, decoded: ``up`` towards the broker, ``down`` towards the module."""

    up: list[mqtt.Packet] = field(default_factory=list)
    down: list[mqtt.Packet] = field(default_factory=list)
    dropped: list[mqtt.Packet] = field(default_factory=list)


class MqttProxy:
    """A plain TCP proxy in front of a broker that decodes the packets both ways.

    ``drop_first``: packet types towards the module whose first one is dropped (a lost
    PUBACK or PUBREC); ``drop_up``: packet types towards the broker always dropped (pings
    that never arrive); ``stall()``: from now on nothing passes either way (a dead link).
    ``on_packet`` is called for every packet that passes, with its direction.
    """

    def __init__(
        self,
        upstream_port: int,
        drop_first: set[PacketType] | None = None,
        drop_up: set[PacketType] | None = None,
    ) -> None:
        self.upstream_port = upstream_port
        self.drop_first = set(drop_first or ())
        self.drop_up = set(drop_up or ())
        self.log = ProxyLog()
        self.stalled = False
        self.port = 0
        self.server: asyncio.Server | None = None
        self.on_packet: Callable[[bool, mqtt.Packet], None] | None = None
        self.broker_closed = asyncio.Event()  # the broker ended a connection (after DISCONNECT)
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> MqttProxy:
        self.server = await asyncio.start_server(self._serve, LOOPBACK, 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self._writers:
            writer.close()
        for task in list(self._tasks):
            task.cancel()

    def stall(self) -> None:
        self.stalled = True

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(LOOPBACK, self.upstream_port)
        self._writers += [writer, up_writer]
        for src, dst, up in ((reader, up_writer, True), (up_reader, writer, False)):
            task = asyncio.get_running_loop().create_task(self._pump(src, dst, up))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, up: bool) -> None:
        decoder = mqtt.Decoder()
        with contextlib.suppress(ConnectionError, mqtt.MqttError):
            while data := await src.read(65536):
                for packet in decoder.feed(data):
                    if self.stalled:
                        continue
                    kind = mqtt.packet_type(packet)
                    if (not up and kind in self.drop_first) or (up and kind in self.drop_up):
                        if not up:
                            self.drop_first.discard(kind)
                        self.log.dropped.append(packet)
                        continue
                    (self.log.up if up else self.log.down).append(packet)
                    if self.on_packet is not None:
                        self.on_packet(up, packet)
                    dst.write(mqtt.encode(packet))
                await dst.drain()
        if not up:
            self.broker_closed.set()
        if not self.stalled:
            dst.close()
