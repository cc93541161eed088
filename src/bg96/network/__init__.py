"""Cellular network emulation: profiles (latency, jitter, rates, loss, attach and activation
times) and the shaper that makes the module's TLS traffic take that time."""

from .link import HEADER, MSS, Shaper
from .model import Network
from .pipe import ShapedPipe
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
    "Network",
    "NetworkProfile",
    "ProfileError",
    "ShapedPipe",
    "Shaper",
    "parse_loss",
    "parse_rate",
    "parse_time",
    "profile",
]
