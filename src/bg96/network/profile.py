"""Network profiles: what the cellular link between the module and the internet is like.

A profile gives the one-way latency and jitter of each direction, the downlink and uplink
rates, a segment loss rate, and how long registration (attach) and ``AT+QIACT`` take.
``ideal`` (the default) is as fast as the host allows; ``lte-m`` and ``nb-iot`` use the
figures cited in docs/network.md. Values parse from the forms people write:
``600ms``, ``1.5s``, ``32kbit``, ``1.2mbit``, ``1%``.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass


class ProfileError(ValueError):
    """A profile name or a value that does not parse."""


@dataclass(frozen=True)
class NetworkProfile:
    """One link. Rates are bits per second (``None``: unlimited); times are seconds."""

    name: str = "ideal"
    latency: float = 0.0  # one way, each direction
    jitter: float = 0.0  # each segment's delay varies uniformly by up to this much, either way
    down: float | None = None  # bits per second, server to module
    up: float | None = None  # bits per second, module to server
    loss: float = 0.0  # fraction of segments lost once (each costs a retransmission timeout)
    attach_time: float = 0.0  # power-on (or AT+CFUN=1) to registered
    pdp_activation_time: float = 0.0  # AT+QIACT to OK
    seed: int = 0  # makes jitter and loss the same run after run

    @property
    def ideal(self) -> bool:
        """No shaping at all: the runner hands bytes straight through."""
        return (
            self.latency == 0
            and self.jitter == 0
            and self.down is None
            and self.up is None
            and self.loss == 0
        )

    @property
    def rtt(self) -> float:
        return 2 * self.latency

    def with_values(self, **values: object) -> NetworkProfile:
        """This profile with some values replaced (``name`` becomes ``custom`` unless given)."""
        changes = {k: v for k, v in values.items() if v is not None}
        if not changes:
            return self
        changes.setdefault("name", self.name if set(changes) == {"seed"} else "custom")
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def describe(self) -> str:
        def rate(bps: float | None) -> str:
            return "unlimited" if bps is None else f"{bps / 1000:g} kbit/s"

        return (
            f"network {self.name}: latency {self.latency * 1000:g} ms +/- "
            f"{self.jitter * 1000:g} ms each way, down {rate(self.down)}, up {rate(self.up)}, "
            f"loss {self.loss * 100:g}%, attach {self.attach_time:g} s, "
            f"QIACT {self.pdp_activation_time:g} s, seed {self.seed}"
        )


PROFILES: dict[str, NetworkProfile] = {
    "ideal": NetworkProfile(),
    # LTE Cat-M1 on a BG96 (half duplex): docs/network.md gives the sources
    "lte-m": NetworkProfile(
        name="lte-m",
        latency=0.100,
        jitter=0.030,
        down=300_000,
        up=375_000,
        loss=0.0,
        attach_time=2.0,
        pdp_activation_time=0.5,
    ),
    # LTE Cat-NB1 on a BG96
    "nb-iot": NetworkProfile(
        name="nb-iot",
        latency=0.400,
        jitter=0.100,
        down=32_000,
        up=70_000,
        loss=0.0,
        attach_time=6.0,
        pdp_activation_time=1.5,
    ),
}


def profile(name: str) -> NetworkProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ProfileError(
            f"unknown network profile {name!r} (one of: {', '.join(PROFILES)})"
        ) from None


_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)"
_TIME = re.compile(_NUMBER + r"\s*(us|ms|s)?", re.IGNORECASE)
_RATE = re.compile(_NUMBER + r"\s*(bit|kbit|mbit|gbit|bps|kbps|mbps|gbps)?(?:/s)?", re.IGNORECASE)
_PERCENT = re.compile(_NUMBER + r"\s*(%)?")
_TIME_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}
_RATE_UNITS = {
    "bit": 1, "bps": 1, "kbit": 1e3, "kbps": 1e3, "mbit": 1e6, "mbps": 1e6, "gbit": 1e9, "gbps": 1e9
}  # fmt: skip


def parse_time(text: str) -> float:
    """``600ms``, ``1.5s``, ``250us``; a bare number is milliseconds (as tc-netem reads it)."""
    m = _TIME.fullmatch(text.strip())
    if m is None:
        raise ProfileError(f"not a time: {text!r} (e.g. 600ms, 1.5s)")
    unit = (m.group(2) or "ms").lower()
    return float(m.group(1)) * _TIME_UNITS[unit]


def parse_rate(text: str) -> float | None:
    """``32kbit``, ``1.2mbit``, ``9600bit``; ``unlimited`` or ``0`` is no limit."""
    if text.strip().lower() in ("unlimited", "none", "0"):
        return None
    m = _RATE.fullmatch(text.strip())
    if m is None:
        raise ProfileError(f"not a rate: {text!r} (e.g. 32kbit, 1.2mbit)")
    value = float(m.group(1)) * _RATE_UNITS[(m.group(2) or "bit").lower()]
    if value <= 0:
        return None
    return value


def parse_loss(text: str) -> float:
    """``1%`` or ``0.01``: the fraction of segments lost once."""
    m = _PERCENT.fullmatch(text.strip())
    if m is None:
        raise ProfileError(f"not a loss rate: {text!r} (e.g. 1%)")
    value = float(m.group(1)) / (100 if m.group(2) else 1)
    if not 0 <= value < 1:
        raise ProfileError(f"loss must be at least 0% and below 100%, not {text!r}")
    return value
