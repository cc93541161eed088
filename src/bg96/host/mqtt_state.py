"""The host's view of the module's MQTT clients, sans-IO: the +QMTxxx URCs sorted into
results the MQTT procedures wait for, received messages, and status callbacks."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from .parser import Urc

# +QMTOPEN/+QMTCONN/+QMTDISC/+QMTCLOSE/+QMTSTAT: <id>,<result>[,<more>]
_RESULT = re.compile(rb"\+QMT(OPEN|CONN|DISC|CLOSE|STAT): (\d),(-?\d+)(?:,(\d+))?\Z")
# +QMTSUB/+QMTUNS/+QMTPUB: <id>,<msgID>,<result>[,<value>[,<value>...]]
_ACK = re.compile(rb"\+QMT(SUB|UNS|PUB): (\d),(\d+),(\d)((?:,\d+)*)\Z")
_RECV = re.compile(rb'\+QMTRECV: (\d),(\d+),"([^"]*)"(?:,(\d+))?\Z')

StatusCallback = Callable[[int], None]
"""Called with the ``+QMTSTAT`` code when a client's link ends."""


@dataclass(frozen=True)
class MqttMessage:
    """A message the broker delivered (``+QMTRECV``); ``msg_id`` is 0 for QoS 0."""

    client_id: int
    msg_id: int
    topic: str
    payload: bytes


@dataclass
class MqttState:
    """One client (0-5) as its URCs tell it."""

    client_id: int
    results: dict[str, tuple[int, int | None]] = field(default_factory=dict)
    """"OPEN", "CONN", "DISC", "CLOSE": the last result (and CONNACK code) not yet taken."""
    acks: dict[tuple[str, int], tuple[int, tuple[int, ...]]] = field(default_factory=dict)
    """("SUB" | "UNS" | "PUB", msgID): the final result (0 or 2) and its values."""
    retries: dict[tuple[str, int], int] = field(default_factory=dict)
    """The retransmissions reported (result 1) per packet so far."""
    stat: int | None = None  # the last +QMTSTAT code not yet taken by a procedure
    messages: deque[MqttMessage] = field(default_factory=deque)
    callbacks: list[StatusCallback] = field(default_factory=list)
    next_id: int = 0

    def msg_id(self) -> int:
        """A message ID for the next QoS 1-2 publish or (un)subscribe: 1-65535 in turn."""
        self.next_id = self.next_id % 65535 + 1
        return self.next_id

    def take(self, kind: str) -> tuple[int, int | None] | None:
        return self.results.pop(kind, None)

    def take_stat(self) -> int | None:
        stat, self.stat = self.stat, None
        return stat


def mqtt_urc(states: dict[int, MqttState], urc: Urc, failed: list[Exception]) -> None:
    """Sort a ``+QMT`` URC into its client's state (a state is made on first sight)."""
    line = urc.line
    m = _RECV.match(line)
    if m is not None:
        state = _state(states, int(m.group(1)))
        topic = m.group(3).decode("utf-8", "surrogateescape")
        state.messages.append(MqttMessage(state.client_id, int(m.group(2)), topic, urc.data))
        return
    m = _ACK.match(line)
    if m is not None:
        state = _state(states, int(m.group(2)))
        key = (m.group(1).decode(), int(m.group(3)))
        result = int(m.group(4))
        values = tuple(int(v) for v in m.group(5).split(b",")[1:])
        if result == 1:
            state.retries[key] = values[0] if values else state.retries.get(key, 0) + 1
        else:
            state.acks[key] = (result, values)
        return
    m = _RESULT.match(line)
    if m is None:
        return
    state = _state(states, int(m.group(2)))
    kind, result = m.group(1).decode(), int(m.group(3))
    if kind == "STAT":
        state.stat = result
        for callback in state.callbacks:
            try:
                callback(result)
            except Exception as exc:
                failed.append(exc)
        return
    if kind == "CONN" and result == 1:
        return  # a retransmission notice: the result comes later
    state.results[kind] = (result, None if m.group(4) is None else int(m.group(4)))


def module_reset(states: dict[int, MqttState]) -> None:
    """The module restarted (RDY): every link is gone without a +QMTSTAT."""
    for state in states.values():
        state.stat = 0
        state.results.clear()


def _state(states: dict[int, MqttState], client_id: int) -> MqttState:
    state = states.get(client_id)
    if state is None:
        state = states[client_id] = MqttState(client_id)
    return state
