"""``bg96 fleet``: N virtual modules on one event loop, each running a scenario file.

A face over ``bg96.fleet.Fleet``: progress on stderr while it runs, the summary table at the
end, JSON lines to ``--jsonl``. Ctrl-C (or SIGTERM) once stops the run and lets scenarios
finish their loops for ``--grace`` s; twice cancels them at once. The partial results are
written either way.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from typing import TextIO

from ..fleet import Fleet, ScenarioError, load_scenario
from ..fleet.report import progress_line, summary_table
from ..module import heap, loops
from ..module.faults import FaultError, FaultScript
from ..network.options import profile_from_args


def run(args: argparse.Namespace) -> int:
    """Exit status: 0 every device ok, 1 some failed or hung, 2 usage, 130 interrupted."""
    from ..fleet import Fleet  # loaded for this command only

    try:
        scenario = load_scenario(args.scenario)
        faults = FaultScript.load(args.faults) if args.faults is not None else None
        loops.loop_factory(args.loop)  # uvloop asked for and not installed: say so now
    except (ScenarioError, FaultError, OSError, loops.LoopUnavailable) as exc:
        print(f"bg96 fleet: {exc}", file=sys.stderr)
        return 2
    with contextlib.ExitStack() as stack:
        output: TextIO | None = None
        if args.jsonl is not None:
            output = (
                sys.stdout
                if str(args.jsonl) == "-"
                else stack.enter_context(args.jsonl.open("w", encoding="utf-8"))
            )
        fleet = Fleet(
            scenario,
            args.devices,
            seed=args.seed or 0,
            options=dict(args.option),
            network=profile_from_args(args),
            faults=faults,
            duration=args.duration,
            ramp=args.ramp,
            device_timeout=args.device_timeout,
            grace=args.grace,
            output=output,
            step_lines=args.steps,
            progress=lambda p: print(progress_line(p), file=sys.stderr, flush=True),
            progress_every=args.progress,
        )
        heap.tune()  # this process relays socket data: see module/heap.py
        return loops.run(_run(fleet), args.loop)


async def _run(fleet: Fleet) -> int:

    loop = asyncio.get_running_loop()
    asked = 0

    def interrupt() -> None:
        nonlocal asked
        asked += 1
        if asked == 1:
            print("bg96 fleet: stopping (again to cancel at once)", file=sys.stderr, flush=True)
            fleet.stop()
        else:
            running.cancel()

    running = loop.create_task(fleet.run())
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, interrupt)
    try:
        await running
    except asyncio.CancelledError:
        pass  # cancelled by a second Ctrl-C: the partial report is there
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    report = fleet.report
    if report is None:
        return 130
    print(summary_table(report.summary), file=sys.stderr, flush=True)
    if report.interrupted:
        return 130
    return 0 if set(report.outcomes) <= {"ok"} else 1
