"""One direction of a shaped link, sans-IO like the engine: bytes in with the time they
arrived, bytes out at the time the far end would have them.

The model, in order:

* **Segments.** Bytes wait for the radio; when it is free, a segment takes what has arrived
  by then, up to ``MSS`` bytes. So how the bytes were cut on arrival does not matter while the
  link is busy, and a run is the same run after run.
* **Rate.** A segment occupies the link for ``(len + HEADER) * 8 / rate`` seconds (the 40
  bytes of IPv4 and TCP headers are carried too); segments queue behind each other.
* **Latency and jitter.** Once sent, a segment arrives ``latency`` later, give or take a
  uniform ``jitter``.
* **Loss.** A lost segment arrives one retransmission timeout later (RFC 6298: at least 1 s).
* **Order.** TCP delivers in order: a segment never arrives before the one ahead of it (a
  late one holds up those behind it, as a real retransmission does).

Jitter and loss draw from a ``random.Random`` the caller seeds.
"""

from __future__ import annotations

import random
from collections import deque

MSS = 1460  # bytes of payload in one segment (Ethernet-sized MTU, as LTE carries)
HEADER = 40  # IPv4 + TCP header bytes each segment carries
MIN_RTO = 1.0  # RFC 6298 2.4: the retransmission timeout is at least 1 s


class Shaper:
    """Bytes through one direction of the link."""

    def __init__(
        self,
        *,
        rate: float | None,
        latency: float,
        jitter: float,
        loss: float,
        rng: random.Random,
    ) -> None:
        self.rate = rate
        self.latency = latency
        self.jitter = jitter
        self.loss = loss
        self.rto = max(MIN_RTO, 2 * latency + 4 * jitter)
        self._rng = rng
        self._waiting: deque[tuple[float, bytearray]] = deque()  # (arrived, bytes) not yet sent
        self._waiting_size = 0
        self._flight: deque[tuple[float, bytes]] = deque()  # (arrives at far end, segment)
        self._flight_size = 0
        self._line_free = 0.0  # when the segment being sent has left
        self._last_arrival = 0.0
        self.segments = 0
        self.lost = 0

    def __len__(self) -> int:
        """Bytes not yet delivered."""
        return self._waiting_size + self._flight_size

    def push(self, data: bytes, now: float) -> None:
        if not data:
            return
        self._waiting.append((now, bytearray(data)))
        self._waiting_size += len(data)
        self._send(now)

    def take(self, now: float) -> bytes:
        """The bytes that have reached the far end by ``now``."""
        self._send(now)
        out = bytearray()
        flight = self._flight
        while flight and flight[0][0] <= now:
            out += flight.popleft()[1]
        self._flight_size -= len(out)
        return bytes(out)

    def next_time(self) -> float | None:
        """When ``take`` has something new to give (a segment arrives, or one can be sent)."""
        times = []
        if self._flight:
            times.append(self._flight[0][0])
        if self._waiting:
            times.append(max(self._line_free, self._waiting[0][0]))
        return min(times) if times else None

    def clear(self) -> None:
        """Drop what is waiting or in flight (the connection is gone)."""
        self._waiting.clear()
        self._flight.clear()
        self._waiting_size = self._flight_size = 0

    def _send(self, now: float) -> None:
        """Put segments on the link for every moment up to ``now`` it was free."""
        waiting = self._waiting
        while waiting:
            start = max(self._line_free, waiting[0][0])
            if start > now:
                return
            segment = bytearray()
            while waiting and waiting[0][0] <= start and len(segment) < MSS:
                chunk = waiting[0][1]
                room = MSS - len(segment)
                segment += chunk[:room]
                if len(chunk) > room:
                    del chunk[:room]
                else:
                    waiting.popleft()
            self._waiting_size -= len(segment)
            sent = start
            if self.rate is not None:
                sent += (len(segment) + HEADER) * 8 / self.rate
            self._line_free = sent
            arrival = sent + self._delay()
            arrival = max(arrival, self._last_arrival)
            self._last_arrival = arrival
            self._flight.append((arrival, bytes(segment)))
            self._flight_size += len(segment)
            self.segments += 1

    def _delay(self) -> float:
        delay = self.latency
        if self.jitter:
            delay = max(0.0, delay + self._rng.uniform(-self.jitter, self.jitter))
        if self.loss and self._rng.random() < self.loss:
            self.lost += 1
            delay += self.rto
        return delay
