"""``Network``: a profile turned into shapers and delays, every draw from a seeded generator.

Each connection direction, and each connect or lookup, draws from its own generator, seeded
by the profile's seed and what it is (``<conn_seq>/up``, ``connect/<conn_seq>``), so what
one draws does not shift another's: the same host input gives the same delays whatever else
runs.
"""

from __future__ import annotations

import random

from .link import Shaper
from .profile import NetworkProfile


class Network:
    def __init__(self, profile: NetworkProfile) -> None:
        self.profile = profile

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

    def round_trip(self, key: str) -> float:
        """One exchange there and back (a TCP SYN and its SYN-ACK, a DNS query and answer);
        ``key`` names it (``connect/<conn_seq>``), and seeds its jitter."""
        p = self.profile
        rng = random.Random(f"{p.seed}/{key}")
        total = 0.0
        for _ in range(2):
            delay = p.latency
            if p.jitter:
                delay = max(0.0, delay + rng.uniform(-p.jitter, p.jitter))
            total += delay
        return total
