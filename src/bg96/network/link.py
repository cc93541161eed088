"""One direction of the module's radio link, sans-IO like the engine: bytes in with the time
they arrived, bytes out at the time the far end would have them. Every connection of the
module (a *flow*) shares it: the profile's rate is the module's, not each connection's.

The model, in order:

* **Segments.** Bytes wait for the radio; when it is free, it takes the next flow in turn
  (round robin, among flows with bytes waiting by then) and sends a segment of what that flow
  has by then, up to ``MSS`` bytes. How the bytes were cut on arrival does not matter while
  the link is busy, and a run is the same run after run.
* **Rate.** A segment occupies the link for ``(len + HEADER) * 8 / rate`` seconds (the 40
  bytes of IPv4 and TCP headers are carried too); segments queue behind each other, whichever
  flow they belong to.
* **Latency and jitter.** Once sent, a segment arrives ``latency`` later, give or take a
  uniform ``jitter``.
* **Loss.** A lost segment arrives one retransmission timeout later (RFC 6298: at least 1 s).
* **Order.** TCP delivers in order: a segment never arrives before the one of its flow ahead
  of it (a late one holds up those behind it, as a real retransmission does).
* **Datagrams.** A UDP flow's datagrams each take a segment of their own (28 header bytes),
  are never merged or split, and a lost one is gone: UDP does not retransmit.

Jitter and loss draw from each flow's own ``random.Random``, which the caller seeds, so one
connection's draws do not shift another's.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Container, Hashable

MSS = 1460  # bytes of payload in one segment (Ethernet-sized MTU, as LTE carries)
HEADER = 40  # IPv4 + TCP header bytes each segment carries
MIN_RTO = 1.0  # RFC 6298 2.4: the retransmission timeout is at least 1 s
UDP_HEADER = 28  # IPv4 + UDP header bytes each datagram carries

Tag = object  # what a datagram carries along (its address), opaque to the link


class _Flow:
    __slots__ = (
        "datagram",
        "flight",
        "flight_size",
        "last_arrival",
        "rng",
        "waiting",
        "waiting_size",
    )

    def __init__(self, rng: random.Random, datagram: bool) -> None:
        self.rng = rng
        self.datagram = datagram
        # (arrived, bytes, tag) not yet sent
        self.waiting: deque[tuple[float, bytearray, Tag]] = deque()
        self.waiting_size = 0
        # (arrives at the far end, segment, tag)
        self.flight: deque[tuple[float, bytes, Tag]] = deque()
        self.flight_size = 0
        self.last_arrival = 0.0


class Link:
    """Bytes of many flows through one direction of the link."""

    def __init__(self, *, rate: float | None, latency: float, jitter: float, loss: float) -> None:
        self.rate = rate
        self.latency = latency
        self.jitter = jitter
        self.loss = loss
        self.rto = max(MIN_RTO, 2 * latency + 4 * jitter)
        self._flows: dict[Hashable, _Flow] = {}
        self._turn: deque[Hashable] = deque()  # round-robin order of the flows
        self._line_free = 0.0  # when the segment being sent has left
        self.segments = 0
        self.lost = 0

    def add(self, key: Hashable, rng: random.Random, *, datagram: bool = False) -> None:
        """A new flow (a connection), drawing jitter and loss from ``rng``; ``datagram``:
        UDP, whose pushes are datagrams."""
        self._flows[key] = _Flow(rng, datagram)
        self._turn.append(key)

    def remove(self, key: Hashable) -> None:
        """The flow is gone: what it had waiting or in flight is dropped."""
        if self._flows.pop(key, None) is not None:
            self._turn.remove(key)

    def __contains__(self, key: object) -> bool:
        return key in self._flows

    def __len__(self) -> int:
        """Bytes not yet delivered, all flows."""
        return sum(f.waiting_size + f.flight_size for f in self._flows.values())

    def size(self, key: Hashable) -> int:
        """Bytes of ``key`` not yet delivered."""
        flow = self._flows.get(key)
        return 0 if flow is None else flow.waiting_size + flow.flight_size

    def push(self, key: Hashable, data: bytes, now: float, tag: Tag = None) -> None:
        """Bytes of ``key`` (a datagram of a datagram flow, with its ``tag``)."""
        flow = self._flows[key]
        if not data and not flow.datagram:
            return
        flow.waiting.append((now, bytearray(data), tag))
        flow.waiting_size += len(data)
        self.advance(now)

    def take(self, key: Hashable, now: float) -> bytes:
        """The bytes of ``key`` that have reached the far end by ``now``."""
        self.advance(now)
        flow = self._flows.get(key)
        if flow is None:
            return b""
        out = bytearray()
        flight = flow.flight
        while flight and flight[0][0] <= now:
            out += flight.popleft()[1]
        flow.flight_size -= len(out)
        return bytes(out)

    def take_datagrams(self, key: Hashable, now: float) -> list[tuple[bytes, Tag]]:
        """The datagrams of ``key`` that have reached the far end by ``now``, with tags."""
        self.advance(now)
        flow = self._flows.get(key)
        if flow is None:
            return []
        out = []
        flight = flow.flight
        while flight and flight[0][0] <= now:
            _, data, tag = flight.popleft()
            flow.flight_size -= len(data)
            out.append((data, tag))
        return out

    def next_time(self, held: Container[Hashable] = ()) -> float | None:
        """When ``take`` next has something new: a segment of a flow not ``held`` arrives,
        or the link can send one."""
        times = []
        start = self._next_start()
        if start is not None:
            times.append(start)
        for key, flow in self._flows.items():
            if flow.flight and key not in held:
                times.append(flow.flight[0][0])
        return min(times) if times else None

    def _next_start(self) -> float | None:
        heads = [f.waiting[0][0] for f in self._flows.values() if f.waiting]
        return max(self._line_free, min(heads)) if heads else None

    def advance(self, now: float) -> None:
        """Put segments on the link for every moment up to ``now`` it was free."""
        while (start := self._next_start()) is not None and start <= now:
            flow = self._next_flow(start)
            waiting = flow.waiting
            tag: Tag = None
            if flow.datagram:
                _, segment, tag = waiting.popleft()
                header = UDP_HEADER
            else:
                header = HEADER
                segment = bytearray()
                while waiting and waiting[0][0] <= start and len(segment) < MSS:
                    chunk = waiting[0][1]
                    room = MSS - len(segment)
                    segment += chunk[:room]
                    if len(chunk) > room:
                        del chunk[:room]
                    else:
                        waiting.popleft()
            flow.waiting_size -= len(segment)
            sent = start
            if self.rate is not None:
                sent += (len(segment) + header) * 8 / self.rate
            self._line_free = sent
            delay = self._delay(flow.rng, reliable=not flow.datagram)
            self.segments += 1
            if delay is None:
                continue  # a lost datagram: gone
            arrival = max(sent + delay, flow.last_arrival)
            flow.last_arrival = arrival
            flow.flight.append((arrival, bytes(segment), tag))
            flow.flight_size += len(segment)

    def _next_flow(self, start: float) -> _Flow:
        """The next flow in turn with bytes waiting by ``start`` (then it goes last)."""
        turn = self._turn
        for _ in range(len(turn)):
            key = turn[0]
            turn.rotate(-1)
            flow = self._flows[key]
            if flow.waiting and flow.waiting[0][0] <= start:
                return flow
        raise AssertionError("no flow has bytes waiting")  # _next_start said one has

    def _delay(self, rng: random.Random, *, reliable: bool = True) -> float | None:
        """How long a segment takes; a lost one takes a retransmission timeout more, or is
        gone (None) when nothing retransmits it (a datagram)."""
        delay = self.latency
        if self.jitter:
            delay = max(0.0, delay + rng.uniform(-self.jitter, self.jitter))
        if self.loss and rng.random() < self.loss:
            self.lost += 1
            if not reliable:
                return None
            delay += self.rto
        return delay
