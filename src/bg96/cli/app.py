"""The ``bg96`` command: parse the line (``parser``), then load and run only the chosen
subcommand's module, so that ``bg96 serve`` does not load the host driver, pyserial or
textual, and ``bg96 shell`` not the engine."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from .parser import build_parser

__all__ = ["build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "monitor":
        from .monitor import run as monitor_main  # textual loads only for the monitor

        monitor_host, monitor_port = args.control
        return monitor_main(monitor_host, monitor_port, args.token)
    if args.command == "demo":
        from ..network.options import profile_from_args
        from .demo import main as demo_main

        return demo_main(network=profile_from_args(args))
    command = importlib.import_module(f"{__package__}.{args.command}")
    return int(command.run(args))


if __name__ == "__main__":
    sys.exit(main())
