"""MQTT commands (BG96 MQTT Application Note, MQTT_COMMANDS.md): AT+QMTOPEN, QMTCLOSE,
QMTCONN, QMTDISC, QMTSUB, QMTUNS, QMTPUB, and the URCs +QMTRECV and +QMTSTAT (AT+QMTCFG is
``mqtt_config.py``).

Six clients, 0-5. Each open one has a network link (plain TCP, or TLS through an SSL context
as AT+QSSLOPEN's) named in intents and events by ``MQTT_LINK_BASE`` + its index, so it never
meets the 12 socket IDs; MQTT itself is ``engine/mqtt_client.py``'s. Choices the sheet marks
unverified are in docs/fidelity.md, "MQTT".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeGuard

from ...protocol.mqtt import describe, valid_topic_filter, valid_topic_name
from ..cmdline import Command, Kind
from ..codes import QiError
from ..events import (
    MQTT_LINK_BASE,
    Close,
    Closed,
    Connect,
    Connected,
    ConnectFailed,
    PeerClosed,
    Received,
    Send,
    Sent,
    SetReading,
    SocketEvent,
    TcpConnected,
)
from ..mqtt_client import (
    MAX_INFLIGHT,
    AckResult,
    ConnResult,
    LinkFailed,
    Message,
    MqttClient,
    Phase,
    Report,
    Stat,
    Trace,
)
from ..outcome import ERROR, OK, Outcome
from ..params import ParamError, arity, check_host
from ..registry import ALL_FORMS, WRITE, command
from ..timers import Timer
from . import ssl
from .mqtt_config import CLIENTS, MAX_TOPIC, MqttConfig, client_index

if TYPE_CHECKING:
    from ..core import Engine

OPEN_TIMEOUT = 75.0  # s: QMTOPEN's maximum response time
MAX_HOST = 100
MAX_PROMPT_PAYLOAD = 1548  # bytes a Ctrl-Z publish carries; the rest is dropped
MAX_LENGTH_PAYLOAD = 4096  # the length form's limit (sibling-derived)
MAX_TOPICS = 5  # topics of one QMTSUB/QMTUNS (unverified)
MAX_ID_TEXT = 256  # client ID, username, password (unverified)
URC_HIGH = 64  # queued URCs above which the links stop reading until the host catches up
OUT_HIGH = 16384  # bytes waiting for the UART above which they stop too (the engine's own)
POLL = 0.05  # s between looks at whether the host has caught up
CTRL_Z = 0x1A
ESC = 0x1B

# DNS failures are +QMTOPEN result 4; any other failure to open is -1 (TLS included)
_OPEN_RESULT = {int(QiError.DNS_PARSE): 4}


@dataclass(eq=False)
class MqttLink:
    """An MQTT client's network link, from QMTOPEN until it ends."""

    index: int
    conn_seq: int
    host: str
    port: int
    pdp_ctx: int
    tls: bool
    ssl_ctx: int = 0
    client: MqttClient | None = None  # once the link is up
    timer: Timer | None = None  # QMTOPEN's deadline
    remote_ip: str = ""
    local_port: int = 0
    unsent: int = 0
    reading: bool = True
    poll: Timer | None = None
    bytes_sent: int = 0
    bytes_received: int = 0

    @property
    def link_id(self) -> int:
        return MQTT_LINK_BASE + self.index

    @property
    def opened(self) -> bool:
        return self.client is not None


@dataclass
class Clients:
    """The six MQTT clients: their settings and their links (volatile)."""

    config: dict[int, MqttConfig] = field(
        default_factory=lambda: {i: MqttConfig() for i in range(CLIENTS)}
    )
    links: dict[int, MqttLink] = field(default_factory=dict)


# ---- AT+QMTOPEN / AT+QMTCLOSE -----------------------------------------------------------------


@command("+QMTOPEN", test='+QMTOPEN: (0-5),"host_name",(1-65536)', forms=ALL_FORMS)
def qmtopen(engine: Engine, cmd: Command) -> Outcome:
    if cmd.kind is Kind.READ:
        for link in _links(engine):
            if link.opened:
                engine.info(f'+QMTOPEN: {link.index},"{link.host}",{link.port}')
        return OK
    if cmd.kind is not Kind.WRITE:
        return ERROR
    params = cmd.params
    arity(params, 3, 3)
    index = client_index(params[0])
    host = params[1].string(MAX_HOST)
    port = params[2].num(1, 65535)
    cfg = engine.mqtt.config[index]
    result: int | None = None
    try:
        check_host(host)
    except ParamError as exc:
        engine.note(f"QMTOPEN {index}: {exc}")
        result = 1
    if result is None:
        if index in engine.mqtt.links:
            engine.note(f"QMTOPEN {index}: the client is open already (AT+QMTCLOSE first)")
            result = 2
        elif not engine.registered:
            engine.note(f"QMTOPEN {index}: the module is not registered on a network")
            result = 5
        elif not engine.pdp[cfg.pdpcid].active:
            engine.note(f"QMTOPEN {index}: PDP context {cfg.pdpcid} is not active (AT+QIACT)")
            result = 3
    if result is not None:
        engine.urc(f"+QMTOPEN: {index},{result}")
        return OK
    link = MqttLink(
        index, engine.next_conn_seq(), host, port, cfg.pdpcid, bool(cfg.ssl), cfg.ssl_ctx
    )
    engine.mqtt.links[index] = link
    tls = ssl.tls_snapshot(engine, cfg.ssl_ctx, host) if cfg.ssl else None
    engine.emit(Connect(link.link_id, link.conn_seq, host, port, tls))
    link.timer = engine.call_later(
        OPEN_TIMEOUT, lambda: _open_failed(engine, link, -1, "no connection within 75 s")
    )
    return OK


@command("+QMTCLOSE", test="+QMTCLOSE: (0-5)", forms=WRITE)
def qmtclose(engine: Engine, cmd: Command) -> Outcome:
    arity(cmd.params, 1, 1)
    index = client_index(cmd.params[0])
    link = engine.mqtt.links.get(index)
    if link is None:
        engine.note(f"QMTCLOSE {index}: the client is not open")
        engine.urc(f"+QMTCLOSE: {index},-1")
        return OK
    _release(engine, link, abort=False)
    engine.urc(f"+QMTCLOSE: {index},0")
    return OK


# ---- AT+QMTCONN / AT+QMTDISC ------------------------------------------------------------------


@command("+QMTCONN", test='+QMTCONN: (0-5),"clientid","username","password"', forms=ALL_FORMS)
def qmtconn(engine: Engine, cmd: Command) -> Outcome:
    if cmd.kind is Kind.READ:
        for link in _links(engine):
            if link.client is not None:
                engine.info(f"+QMTCONN: {link.index},{int(link.client.phase)}")
        return OK
    if cmd.kind is not Kind.WRITE:
        return ERROR
    params = cmd.params
    arity(params, 2, 4)
    index = client_index(params[0])
    client_id = params[1].string(MAX_ID_TEXT)
    username = params[2].string(MAX_ID_TEXT) if len(params) > 2 else None
    password = params[3].string(MAX_ID_TEXT) if len(params) > 3 else None
    opened = engine.mqtt.links.get(index)
    client = opened.client if opened is not None else None
    if client is None:
        engine.note(f"QMTCONN {index}: the client is not open (AT+QMTOPEN first)")
        return ERROR
    if client.phase is not Phase.INITIAL or client.refused:
        engine.note(f"QMTCONN {index}: the client is {client.phase.name.lower()} already")
        return ERROR
    client.options = engine.mqtt.config[index].options()
    client.connect(client_id, username, password)
    return OK


@command("+QMTDISC", test="+QMTDISC: (0-5)", forms=WRITE)
def qmtdisc(engine: Engine, cmd: Command) -> Outcome:
    arity(cmd.params, 1, 1)
    index = client_index(cmd.params[0])
    link = engine.mqtt.links.get(index)
    if link is None or link.client is None or link.client.phase is not Phase.CONNECTED:
        engine.note(f"QMTDISC {index}: the client is not connected")
        engine.urc(f"+QMTDISC: {index},-1")
        return OK
    link.client.disconnect()
    _release(engine, link, abort=False)
    engine.urc(f"+QMTDISC: {index},0")
    return OK


# ---- AT+QMTSUB / AT+QMTUNS --------------------------------------------------------------------


def _connected(engine: Engine, index: int, name: str) -> MqttLink | None:
    link = engine.mqtt.links.get(index)
    if link is None or link.client is None or link.client.phase is not Phase.CONNECTED:
        engine.note(f"{name} {index}: the client is not connected (AT+QMTCONN first)")
        return None
    return link


def _free_id(engine: Engine, link: MqttLink, msg_id: int, name: str) -> bool:
    assert link.client is not None
    if link.client.busy(msg_id):
        engine.note(f"{name} {link.index}: message ID {msg_id} is still in flight")
        return False
    return True


@command("+QMTSUB", test='+QMTSUB: (0-5),(1-65535),"<topic>",(0-2)', forms=WRITE)
def qmtsub(engine: Engine, cmd: Command) -> Outcome:
    params = cmd.params
    arity(params, 4, 2 + 2 * MAX_TOPICS)
    if len(params) % 2:
        raise ParamError("a topic without its QoS")
    index = client_index(params[0])
    msg_id = params[1].num(1, 65535)
    topics: list[tuple[str, int]] = []
    for i in range(2, len(params), 2):
        topic = params[i].string(MAX_TOPIC)
        if not valid_topic_filter(topic):
            raise ParamError(f"{topic!r} is not a topic filter")
        topics.append((topic, params[i + 1].num(0, 2)))
    link = _connected(engine, index, "QMTSUB")
    if link is None or not _free_id(engine, link, msg_id, "QMTSUB"):
        return ERROR
    assert link.client is not None
    link.client.subscribe(msg_id, tuple(topics))
    return OK


@command("+QMTUNS", test='+QMTUNS: (0-5),(1-65535),"<topic>"', forms=WRITE)
def qmtuns(engine: Engine, cmd: Command) -> Outcome:
    params = cmd.params
    arity(params, 3, 2 + MAX_TOPICS)
    index = client_index(params[0])
    msg_id = params[1].num(1, 65535)
    topics = tuple(p.string(MAX_TOPIC) for p in params[2:])
    if not all(valid_topic_filter(t) for t in topics):
        raise ParamError("not a topic filter")
    link = _connected(engine, index, "QMTUNS")
    if link is None or not _free_id(engine, link, msg_id, "QMTUNS"):
        return ERROR
    assert link.client is not None
    link.client.unsubscribe(msg_id, topics)
    return OK


# ---- AT+QMTPUB --------------------------------------------------------------------------------


@dataclass
class PubPhase:
    """The data after QMTPUB's ``>`` prompt: exactly ``length`` bytes (the length form), or
    bytes up to Ctrl-Z, of which the first 1548 are sent (ESC cancels)."""

    engine: Engine
    link: MqttLink
    length: int | None
    then: Callable[[bytes], Outcome]
    data: bytearray = field(default_factory=bytearray)
    dropped: int = 0

    def feed(self, data: bytes) -> int:
        engine = self.engine
        if self.length is not None:
            take = min(len(data), self.length - len(self.data))
            self.data += data[:take]
            engine.echo_data(data[:take])
            if len(self.data) == self.length:
                engine.finish(self.then(bytes(self.data)))
            return take
        stops = [i for i in (data.find(CTRL_Z), data.find(ESC)) if i >= 0]
        end = min(stops) if stops else len(data)
        chunk = data[:end]
        room = MAX_PROMPT_PAYLOAD - len(self.data)
        self.data += chunk[:room]
        self.dropped += max(0, len(chunk) - room)
        engine.echo_data(chunk)
        if end == len(data):
            return end
        if data[end] == ESC:
            engine.note(f"QMTPUB {self.link.index}: ESC, nothing published")
            engine.finish(OK)
        else:
            if self.dropped:
                engine.note(
                    f"QMTPUB {self.link.index}: {self.dropped} bytes over "
                    f"{MAX_PROMPT_PAYLOAD} dropped"
                )
            engine.finish(self.then(bytes(self.data)))
        return end + 1

    def abort(self) -> None:
        self.engine.note(f"QMTPUB {self.link.index}: host left, nothing published")


@command("+QMTPUB", test='+QMTPUB: (0-5),(0-65535),(0-2),(0,1),"<topic>"', forms=WRITE)
def qmtpub(engine: Engine, cmd: Command) -> Outcome:
    params = cmd.params
    arity(params, 5, 6)
    index = client_index(params[0])
    msg_id = params[1].num(0, 65535)
    qos = params[2].num(0, 2)
    retain = params[3].num(0, 1)
    topic = params[4].string(MAX_TOPIC)
    length = params[5].num(1, MAX_LENGTH_PAYLOAD) if len(params) == 6 else None
    if not valid_topic_name(topic):
        raise ParamError(f"{topic!r}: a PUBLISH names one topic, without wildcards")
    if (qos == 0) != (msg_id == 0):
        raise ParamError("msgID is 0 exactly for QoS 0")
    link = _connected(engine, index, "QMTPUB")
    if link is None or (qos and not _free_id(engine, link, msg_id, "QMTPUB")):
        return ERROR
    client = link.client
    assert client is not None
    if qos and client.inflight >= MAX_INFLIGHT:
        engine.note(f"QMTPUB {index}: {MAX_INFLIGHT} messages in flight already")
        return ERROR
    if link.unsent > engine.config.send_buffer:
        engine.note(f"QMTPUB {index}: the send buffer is full")
        return ERROR

    def then(payload: bytes) -> Outcome:
        if engine.mqtt.links.get(index) is not link or client.phase is not Phase.CONNECTED:
            engine.note(f"QMTPUB {index}: the client is no longer connected")
            return ERROR
        client.publish(msg_id, qos, bool(retain), topic, payload)
        return OK

    engine.prompt()
    return engine.enter_data_phase(PubPhase(engine, link, length, then))


# ---- the links' events ------------------------------------------------------------------------


def owns(event: object) -> TypeGuard[SocketEvent]:
    """``event`` belongs to an MQTT link (not to a socket)."""
    return isinstance(event, SocketEvent) and event.client_id >= MQTT_LINK_BASE


def on_event(engine: Engine, event: SocketEvent) -> None:
    link = engine.mqtt.links.get(event.client_id - MQTT_LINK_BASE)
    if link is None or link.conn_seq != event.conn_seq or isinstance(event, Closed):
        return
    if isinstance(event, TcpConnected):
        link.local_port, link.remote_ip = event.local_port, event.remote_ip
    elif isinstance(event, Connected):
        _opened(engine, link, event)
    elif isinstance(event, ConnectFailed):
        code = _OPEN_RESULT.get(event.code, -1)
        _open_failed(engine, link, code, event.reason or f"error {event.code}")
    elif isinstance(event, Received):
        link.bytes_received += len(event.data)
        if link.client is not None:
            link.client.receive(event.data)
            _throttle(engine, link)
    elif isinstance(event, Sent):
        link.unsent = max(0, link.unsent - event.nbytes)
    elif isinstance(event, PeerClosed):
        if link.client is None:
            _open_failed(engine, link, -1, event.reason or "closed during the open")
            return
        client = link.client
        if client.refused or client.phase is Phase.CONNECTING:
            code = Stat.CONNECT_FAILED
        else:
            code = Stat.PEER_CLOSED
        _lost(engine, link, code, f"closed by the broker: {event.reason}", abort=False)


def _opened(engine: Engine, link: MqttLink, event: Connected) -> None:
    if link.timer is not None:
        link.timer.cancel()
        link.timer = None
    if event.version:
        engine.note(f"QMTOPEN {link.index}: {event.version} {event.cipher}")
    index = link.index
    link.client = MqttClient(
        engine.mqtt.config[index].options(),
        engine,
        lambda data: _send(engine, link, data),
        lambda report: _report(engine, link, report),
    )
    engine.urc(f"+QMTOPEN: {index},0")


def _open_failed(engine: Engine, link: MqttLink, code: int, reason: str) -> None:
    if engine.mqtt.links.get(link.index) is not link:
        return
    engine.note(f"QMTOPEN {link.index} failed ({code}): {reason}")
    _release(engine, link, abort=True)
    engine.urc(f"+QMTOPEN: {link.index},{code}")


def _send(engine: Engine, link: MqttLink, data: bytes) -> None:
    link.unsent += len(data)
    link.bytes_sent += len(data)
    engine.emit(Send(link.link_id, link.conn_seq, data))


def _report(engine: Engine, link: MqttLink, report: Report) -> None:
    i = link.index
    if isinstance(report, Trace):
        arrow = "->" if report.outgoing else "<-"
        engine.note(f"MQTT {i} {arrow} {describe(report.packet)}")
    elif isinstance(report, ConnResult):
        code = "" if report.code is None else f",{report.code}"
        engine.urc(f"+QMTCONN: {i},{report.result}{code}")
    elif isinstance(report, AckResult):
        value = f",{report.value}" if report.value else ""
        engine.urc(f"{report.command}: {i},{report.msg_id},{report.result}{value}")
    elif isinstance(report, Message):
        _recv_urc(engine, link, report)
    elif isinstance(report, LinkFailed):
        _lost(engine, link, report.code, report.reason, abort=True)


def _recv_urc(engine: Engine, link: MqttLink, message: Message) -> None:
    """``+QMTRECV: <id>,<msgID>,"<topic>","<payload>"``: the payload's bytes as they are
    (a quote, CR or LF in it is not escaped), its length before it with "recv/mode" ,,1."""
    head = f'+QMTRECV: {link.index},{message.msg_id},"{message.topic}",'.encode()
    if engine.mqtt.config[link.index].recv_mode[1]:
        head += f"{len(message.payload)},".encode()
    engine.urc(head + b'"' + message.payload + b'"')


def _lost(engine: Engine, link: MqttLink, code: Stat, reason: str, *, abort: bool) -> None:
    """The link ended without the host asking: ``+QMTSTAT: <id>,<code>``; the index is free."""
    if engine.mqtt.links.get(link.index) is not link:
        return
    engine.note(f"MQTT {link.index}: link ended ({int(code)}): {reason}")
    _release(engine, link, abort=abort)
    engine.urc(f"+QMTSTAT: {link.index},{int(code)}")


def _release(engine: Engine, link: MqttLink, *, abort: bool) -> None:
    if engine.mqtt.links.get(link.index) is link:
        del engine.mqtt.links[link.index]
    for timer in (link.timer, link.poll):
        if timer is not None:
            timer.cancel()
    if link.client is not None:
        link.client.stop()
    engine.emit(Close(link.link_id, link.conn_seq, abort=abort))


def _throttle(engine: Engine, link: MqttLink) -> None:
    """Stop reading the broker while the host has not taken the URCs already waiting."""
    if not link.reading or engine.mqtt.links.get(link.index) is not link:
        return
    if engine.urcs_waiting > URC_HIGH or engine.output_waiting >= OUT_HIGH:
        link.reading = False
        engine.emit(SetReading(link.link_id, link.conn_seq, False))
        link.poll = engine.call_later(POLL, lambda: _resume(engine, link))


def _resume(engine: Engine, link: MqttLink) -> None:
    link.poll = None
    if engine.mqtt.links.get(link.index) is not link:
        return
    if engine.urcs_waiting > URC_HIGH // 2 or engine.output_waiting >= OUT_HIGH // 2:
        link.poll = engine.call_later(POLL, lambda: _resume(engine, link))
        return
    link.reading = True
    engine.emit(SetReading(link.link_id, link.conn_seq, True))


def _links(engine: Engine) -> list[MqttLink]:
    return [engine.mqtt.links[i] for i in sorted(engine.mqtt.links)]


# ---- the module's own events: PDP loss, restart ------------------------------------------------


def close_for_pdp(engine: Engine, pdp_id: int | None) -> None:
    """The PDP context under the links went away: each ends with ``+QMTSTAT: <id>,7`` (or
    ``+QMTOPEN: <id>,-1`` while opening)."""
    for link in _links(engine):
        if pdp_id is not None and link.pdp_ctx != pdp_id:
            continue
        if link.client is None:
            _open_failed(engine, link, -1, f"PDP context {link.pdp_ctx} lost")
        else:
            _lost(engine, link, Stat.LINK_DEAD, f"PDP context {link.pdp_ctx} lost", abort=True)


def drop_all(engine: Engine) -> None:
    """A restart: every link is gone without a word."""
    for link in _links(engine):
        _release(engine, link, abort=True)
