"""The MQTT commands as procedures, once for ``Modem`` and ``AsyncModem``: configure
(AT+QMTCFG), open, connect, subscribe, publish, receive, disconnect, close. Each write form
answers ``OK`` and its result later in a URC (``+QMTOPEN: <id>,<result>``...), which may
come while other commands run; ``mqtt_state`` keeps it for the procedure that waits.

A failure raises a typed ``MqttError`` carrying the module's code; a link that ends while a
procedure waits raises ``MqttLinkLost`` with the ``+QMTSTAT`` code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .core import ModemCore
from .errors import (
    CommandError,
    ModemTimeout,
    MqttConnectRefused,
    MqttError,
    MqttLinkLost,
    MqttOpenFailed,
    UnexpectedResponse,
)
from .exchange import command as _command
from .mqtt_state import MqttMessage, MqttState, StatusCallback
from .parser import Response
from .requests import Procedure, Wait

OPEN_WAIT = 75.0  # s: AT+QMTOPEN's maximum
RESULT_WAIT = 60.0  # s: what drivers give QMTCONN, QMTSUB and QMTPUB (the module retries)
CLOSE_WAIT = 5.0
MAX_PAYLOAD = 4096  # the length form's limit


@dataclass(frozen=True)
class Will:
    """The message the broker publishes when the link ends without a DISCONNECT."""

    topic: str
    message: str = ""
    qos: int = 0
    retain: bool = False


@dataclass(eq=False)
class MqttHandle:
    """What the MQTT procedures act on: the driver's state and one client index (0-5)."""

    core: ModemCore
    client_id: int

    def __post_init__(self) -> None:
        if not 0 <= self.client_id <= 5:
            raise ValueError("MQTT clients are 0-5")

    @property
    def state(self) -> MqttState:
        state = self.core.mqtt.get(self.client_id)
        if state is None:
            state = self.core.mqtt[self.client_id] = MqttState(self.client_id)
        return state


def command(core: ModemCore, line: str, payload: bytes | None = None) -> Procedure[Response]:
    """The command; its ``ERROR`` (a bad parameter, a client in the wrong state) raises
    ``MqttError`` without a code."""
    try:
        return (yield from _command(core, line, payload=payload))
    except UnexpectedResponse:
        raise
    except CommandError as exc:
        if isinstance(exc, MqttError):
            raise
        raise MqttError(line, exc.response, exc.code, exc.text) from None


def _quoted(text: str, what: str) -> str:
    if '"' in text or "\r" in text or "\n" in text:
        raise ValueError(f"{what} cannot hold a quote, CR or LF (AT strings have no escapes)")
    return f'"{text}"'


def configure(
    h: MqttHandle,
    *,
    version: int = 4,
    pdp_ctx: int = 1,
    ssl_ctx: int | None = None,
    keepalive: int = 120,
    clean_session: bool = True,
    packet_timeout: int = 5,
    retries: int = 3,
    retry_notice: bool = False,
    will: Will | None = None,
    recv_length: bool = True,
) -> Procedure[None]:
    """AT+QMTCFG: every setting of the client, written out (so the module's defaults do not
    matter). ``ssl_ctx``: TLS through that SSL context (AT+QSSLCFG), None for plain TCP.
    ``recv_length`` (``"recv/mode",0,1``) makes ``+QMTRECV`` carry the payload's length,
    so payloads with quotes, CR, LF or any byte arrive whole."""
    i = h.client_id
    lines = [
        f'AT+QMTCFG="version",{i},{version}',
        f'AT+QMTCFG="pdpcid",{i},{pdp_ctx}',
        f'AT+QMTCFG="ssl",{i},1,{ssl_ctx}' if ssl_ctx is not None else f'AT+QMTCFG="ssl",{i},0',
        f'AT+QMTCFG="keepalive",{i},{keepalive}',
        f'AT+QMTCFG="session",{i},{int(clean_session)}',
        f'AT+QMTCFG="timeout",{i},{packet_timeout},{retries},{int(retry_notice)}',
        f'AT+QMTCFG="recv/mode",{i},0,{int(recv_length)}',
    ]
    if will is None:
        lines.append(f'AT+QMTCFG="will",{i},0')
    else:
        topic, message = _quoted(will.topic, "the will topic"), _quoted(will.message, "the will")
        lines.append(f'AT+QMTCFG="will",{i},1,{will.qos},{int(will.retain)},{topic},{message}')
    for line in lines:
        yield from command(h.core, line)


def open(
    h: MqttHandle, host: str, port: int = 1883, *, timeout: float = OPEN_WAIT
) -> Procedure[None]:
    """AT+QMTOPEN: the network link to the broker (TCP, or TLS as configured).
    ``MqttOpenFailed`` with ``+QMTOPEN``'s result when it fails."""
    line = f"AT+QMTOPEN={h.client_id},{_quoted(host, 'the host')},{port}"
    state = h.state
    state.results.pop("OPEN", None)
    state.stat = None
    yield from command(h.core, line)
    result, _ = yield from _result(h, "OPEN", line, timeout, stat_ends=False)
    if result != 0:
        raise MqttOpenFailed(line, f"+QMTOPEN: {h.client_id},{result}".encode(), result)


def connect(
    h: MqttHandle,
    identifier: str,
    username: str | None = None,
    password: str | None = None,
    *,
    timeout: float = RESULT_WAIT,
) -> Procedure[None]:
    """AT+QMTCONN: CONNECT as ``identifier`` (the MQTT client ID). ``MqttConnectRefused``
    with the CONNACK code when the broker refuses; ``MqttError`` (result 2) when the CONNECT
    could not be sent; ``MqttLinkLost`` when the link ends meanwhile."""
    line = f"AT+QMTCONN={h.client_id},{_quoted(identifier, 'the client ID')}"
    if username is not None:
        line += f",{_quoted(username, 'the user name')}"
        if password is not None:
            line += f",{_quoted(password, 'the password')}"
    elif password is not None:
        raise ValueError("a password needs a user name")
    h.state.results.pop("CONN", None)
    yield from command(h.core, line)
    result, code = yield from _result(h, "CONN", line, timeout)
    answer = f"+QMTCONN: {h.client_id},{result}" + ("" if code is None else f",{code}")
    if result != 0:
        raise MqttError(line, answer.encode(), result)
    if code:
        raise MqttConnectRefused(line, answer.encode(), code)


def subscribe(
    h: MqttHandle,
    topics: str | Sequence[tuple[str, int]],
    qos: int = 0,
    *,
    timeout: float = RESULT_WAIT,
) -> Procedure[list[int]]:
    """AT+QMTSUB: one topic filter (with ``qos``) or several ``(filter, qos)`` pairs; the QoS
    the broker granted each (128: refused)."""
    pairs = [(topics, qos)] if isinstance(topics, str) else list(topics)
    msg_id = h.state.msg_id()
    args = ",".join(f"{_quoted(t, 'a topic')},{q}" for t, q in pairs)
    line = f"AT+QMTSUB={h.client_id},{msg_id},{args}"
    _, values = yield from _acked(h, "SUB", msg_id, line, timeout)
    return list(values)


def unsubscribe(
    h: MqttHandle, topics: str | Sequence[str], *, timeout: float = RESULT_WAIT
) -> Procedure[None]:
    """AT+QMTUNS: one topic filter or several."""
    names = [topics] if isinstance(topics, str) else list(topics)
    msg_id = h.state.msg_id()
    line = f"AT+QMTUNS={h.client_id},{msg_id}," + ",".join(_quoted(t, "a topic") for t in names)
    yield from _acked(h, "UNS", msg_id, line, timeout)


def publish(
    h: MqttHandle,
    topic: str,
    payload: bytes | str,
    qos: int = 0,
    retain: bool = False,
    *,
    timeout: float = RESULT_WAIT,
) -> Procedure[int]:
    """AT+QMTPUB with the payload's length (any bytes, up to 4096): returns once the module
    reports it published (QoS 0), or the broker acknowledged it (QoS 1: PUBACK, QoS 2:
    PUBCOMP). Returns the message ID used (0 for QoS 0)."""
    data = payload.encode() if isinstance(payload, str) else bytes(payload)
    if not 1 <= len(data) <= MAX_PAYLOAD:
        raise ValueError(f"a payload is 1-{MAX_PAYLOAD} bytes")
    msg_id = h.state.msg_id() if qos else 0
    line = f"AT+QMTPUB={h.client_id},{msg_id},{qos},{int(retain)},{_quoted(topic, 'the topic')}"
    yield from _acked(h, "PUB", msg_id, f"{line},{len(data)}", timeout, data)
    return msg_id


def receive(h: MqttHandle, timeout: float | None = None) -> Procedure[MqttMessage]:
    """The next message the broker delivered (``+QMTRECV``), waiting up to ``timeout`` s
    (None: as long as it takes). ``MqttLinkLost`` when the link ends first, ``ModemTimeout``
    when nothing came in time."""
    state = h.state
    deadline = None if timeout is None else h.core.clock() + timeout
    while not state.messages:
        _lost(h, state, "receive")
        if deadline is None:
            yield Wait(None)
            continue
        left = deadline - h.core.clock()
        if left <= 0:
            raise ModemTimeout(f"MQTT client {h.client_id}: no message", timeout or 0.0)
        yield Wait(left)
    return state.messages.popleft()


def disconnect(h: MqttHandle, *, timeout: float = CLOSE_WAIT) -> Procedure[None]:
    """AT+QMTDISC: DISCONNECT, and the link closes. ``MqttError`` (-1) when not connected."""
    line = f"AT+QMTDISC={h.client_id}"
    h.state.results.pop("DISC", None)
    yield from command(h.core, line)
    result, _ = yield from _result(h, "DISC", line, timeout, stat_ends=False)
    if result != 0:
        raise MqttError(line, f"+QMTDISC: {h.client_id},{result}".encode(), result)


def close(h: MqttHandle, *, timeout: float = CLOSE_WAIT) -> Procedure[bool]:
    """AT+QMTCLOSE: the link closes (no DISCONNECT: the broker publishes the will). False
    when the client was not open."""
    line = f"AT+QMTCLOSE={h.client_id}"
    h.state.results.pop("CLOSE", None)
    yield from command(h.core, line)
    result, _ = yield from _result(h, "CLOSE", line, timeout, stat_ends=False)
    return result == 0


def status(h: MqttHandle) -> Procedure[int]:
    """AT+QMTCONN?: the client's state: 0 not open, 1 open (not connected), 2 connecting,
    3 connected, 4 disconnecting."""
    response = yield from command(h.core, "AT+QMTCONN?")
    prefix = f"+QMTCONN: {h.client_id},".encode()
    for line in response.lines:
        if line.startswith(prefix):
            try:
                return int(line[len(prefix) :])
            except ValueError:
                raise UnexpectedResponse("AT+QMTCONN?", line, None, "not a state") from None
    return 0


def on_status(h: MqttHandle, callback: StatusCallback) -> None:
    """Call ``callback`` with the ``+QMTSTAT`` code whenever the client's link ends."""
    h.state.callbacks.append(callback)


# ---- waiting for results ----------------------------------------------------------------------


def _lost(h: MqttHandle, state: MqttState, line: str) -> None:
    stat = state.take_stat()
    if stat is not None:
        answer = f"+QMTSTAT: {h.client_id},{stat}" if stat else "RDY"
        raise MqttLinkLost(line, answer.encode(), stat)


def _result(
    h: MqttHandle, kind: str, line: str, timeout: float, *, stat_ends: bool = True
) -> Procedure[tuple[int, int | None]]:
    """The URC result ``kind`` of the command just sent (``MqttLinkLost`` if the link ends
    first and ``stat_ends``)."""
    state = h.state
    deadline = h.core.clock() + timeout
    while True:
        got = state.take(kind)
        if got is not None:
            return got
        if stat_ends:
            _lost(h, state, line)
        left = deadline - h.core.clock()
        if left <= 0:
            raise ModemTimeout(f"{line} (waiting for its result)", timeout)
        yield Wait(left)


def _acked(
    h: MqttHandle,
    kind: str,
    msg_id: int,
    line: str,
    timeout: float,
    payload: bytes | None = None,
) -> Procedure[tuple[int, tuple[int, ...]]]:
    state = h.state
    key = (kind, msg_id)
    state.acks.pop(key, None)
    state.retries.pop(key, None)
    yield from command(h.core, line, payload=payload)
    deadline = h.core.clock() + timeout
    while (got := state.acks.pop(key, None)) is None:
        _lost(h, state, line)
        left = deadline - h.core.clock()
        if left <= 0:
            raise ModemTimeout(f"{line} (waiting for its result)", timeout)
        yield Wait(left)
    state.retries.pop(key, None)
    result = got[0]
    if result != 0:
        answer = f"+QMT{kind}: {h.client_id},{msg_id},{result}"
        raise MqttError(line, answer.encode(), result)
    return got
