"""Cellular network emulation: profiles (latency, jitter, rates, loss, attach and activation
times) and the module's radio link, shared by its connections, that makes their traffic take
that time."""

from .link import HEADER, MSS, Link
from .model import Network
from .pipe import Flow, LinkPipe, RadioLink
from .profile import (
    PROFILES,
    NetworkProfile,
    ProfileError,
    parse_loss,
    parse_rate,
    parse_time,
    profile,
)

__all__ = [
    "HEADER",
    "MSS",
    "PROFILES",
    "Flow",
    "Link",
    "LinkPipe",
    "Network",
    "NetworkProfile",
    "ProfileError",
    "RadioLink",
    "parse_loss",
    "parse_rate",
    "parse_time",
    "profile",
]
