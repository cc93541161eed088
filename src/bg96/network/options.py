"""The command-line options that choose a network profile (``bg96 serve --network ...``)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeVar

from .profile import (
    PROFILES,
    NetworkProfile,
    ProfileError,
    parse_loss,
    parse_rate,
    parse_time,
    profile,
)

T = TypeVar("T")


def _checked(parse: Callable[[str], T]) -> Callable[[str], T]:
    def check(text: str) -> T:
        try:
            return parse(text)
        except ProfileError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    check.__name__ = parse.__name__
    return check


def add_network_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "network", "the cellular link the module's TLS traffic takes (docs/network.md)"
    )
    group.add_argument(
        "--network",
        choices=sorted(PROFILES),
        default="ideal",
        help="a profile: ideal (default, as fast as the host), lte-m or nb-iot",
    )
    group.add_argument(
        "--latency", type=_checked(parse_time), help="one-way delay each direction, e.g. 600ms"
    )
    group.add_argument(
        "--jitter", type=_checked(parse_time), help="each segment's delay varies by up to this"
    )
    group.add_argument("--down", type=_checked(parse_rate), help="downlink rate, e.g. 32kbit")
    group.add_argument("--up", type=_checked(parse_rate), help="uplink rate, e.g. 16kbit")
    group.add_argument(
        "--loss", type=_checked(parse_loss), help="segments lost once (retransmitted), e.g. 1%%"
    )
    group.add_argument(
        "--attach-time", type=_checked(parse_time), help="power-on to registered, e.g. 3s"
    )
    group.add_argument(
        "--qiact-time", type=_checked(parse_time), help="how long AT+QIACT takes, e.g. 1s"
    )
    group.add_argument("--seed", type=int, help="makes jitter and loss repeat run after run")


def profile_from_args(args: argparse.Namespace) -> NetworkProfile:
    """The chosen profile with the values given on the command line put in."""
    base = profile(args.network)
    return base.with_values(
        latency=args.latency,
        jitter=args.jitter,
        down=args.down,
        up=args.up,
        loss=args.loss,
        attach_time=args.attach_time,
        pdp_activation_time=args.qiact_time,
        seed=args.seed,
    )
