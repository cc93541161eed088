"""``Network``: a profile turned into the module's radio link and delays, every draw from a
seeded generator.

Each connection direction, and each connect or lookup, draws from its own generator, seeded
by the profile's seed and what it is (``<conn_seq>/up``, ``connect/<conn_seq>``), so what
one draws does not shift another's. The rates belong to the module's one radio link, which
its connections share.
"""

from __future__ import annotations

import asyncio
import random

from .link import Link
from .pipe import RadioLink
from .profile import NetworkProfile


class Network:
    def __init__(self, profile: NetworkProfile) -> None:
        self.profile = profile

    @property
    def shaped(self) -> bool:
        return not self.profile.ideal

    def link(self, direction: str) -> Link:
        """One direction of the radio link: ``"up"`` (module to server) or ``"down"``."""
        p = self.profile
        rate = p.up if direction == "up" else p.down
        return Link(rate=rate, latency=p.latency, jitter=p.jitter, loss=p.loss)

    def radio(self, loop: asyncio.AbstractEventLoop) -> RadioLink:
        """The module's radio link on ``loop``, both directions."""
        return RadioLink(self.link("up"), self.link("down"), loop)

    def flow_rng(self, conn_seq: int, direction: str) -> random.Random:
        """The generator of one connection direction's jitter and loss."""
        return random.Random(f"{self.profile.seed}/{conn_seq}/{direction}")

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
