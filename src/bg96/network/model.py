"""``Network``: a profile turned into shapers and delays, every draw from a seeded generator.

Each connection direction draws from its own generator, seeded by the profile's seed, the
connection's sequence number and the direction, so what one connection draws does not shift
another's: the same host input gives the same delays whatever else runs.
"""

from __future__ import annotations

import random

from .link import Shaper
from .profile import NetworkProfile


class Network:
    def __init__(self, profile: NetworkProfile) -> None:
        self.profile = profile
        self._rng = random.Random(f"{profile.seed}/exchanges")

    @property
    def shaped(self) -> bool:
        return not self.profile.ideal

    def shaper(self, conn_seq: int, direction: str) -> Shaper:
        """``direction``: ``"up"`` (module to server) or ``"down"``."""
        p = self.profile
        return Shaper(
            rate=p.up if direction == "up" else p.down,
            latency=p.latency,
            jitter=p.jitter,
            loss=p.loss,
            rng=random.Random(f"{p.seed}/{conn_seq}/{direction}"),
        )

    def round_trip(self) -> float:
        """One exchange there and back (a TCP SYN and its SYN-ACK, a DNS query and answer)."""
        p = self.profile
        total = 0.0
        for _ in range(2):
            delay = p.latency
            if p.jitter:
                delay = max(0.0, delay + self._rng.uniform(-p.jitter, p.jitter))
            total += delay
        return total
