"""``bg96 fault``: fault lines, or a status request, to a running module's control endpoint."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from ..module.control import ControlError
from ..module.control import request as control_request


def run(args: argparse.Namespace) -> int:
    """Exit status: 0 done, 1 refused by the module, 2 usage, 3 no endpoint."""
    return asyncio.run(fault_command(args))


async def fault_command(args: argparse.Namespace) -> int:
    """``bg96 fault``: one request to a running module's control endpoint."""
    host, port = args.control
    payload: dict[str, str] = {"op": "status"}
    if not args.status:
        if not args.lines:
            print("bg96 fault: give fault lines or --status", file=sys.stderr)
            return 2
        payload = {"op": "fault", "script": "\n".join(args.lines)}
    try:
        answer = await control_request(host, port, payload, args.token)
    except (OSError, ControlError, ValueError) as exc:
        print(f"bg96 fault: {exc}", file=sys.stderr)
        return 3
    if not answer.get("ok"):
        print(f"bg96 fault: {answer.get('error')}", file=sys.stderr)
        return 1
    if args.status:
        print(json.dumps(answer["status"], indent=2))
    return 0
