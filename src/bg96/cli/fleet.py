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
from pathlib import Path
from typing import TextIO

from ..fleet import Fleet, ScenarioError, load_scenario
from ..fleet.report import progress_line, summary_table
from ..module.faults import FaultError, FaultScript
from ..network.options import add_network_arguments, profile_from_args

FLEET_HELP = """\
Run SCENARIO (a Python file with `async def device(modem, ctx)`, e.g.
examples/fleet_scenario.py) on N virtual BG96 modules in this process, each with an
AsyncModem attached in memory. --seed gives every device its own seed (network jitter and
loss, ctx.rng); -o KEY=VALUE options reach the scenario as ctx.options."""


def _option(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def add_subcommand(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``bg96 fleet``'s arguments."""
    fleet = sub.add_parser(
        "fleet",
        help="run a scenario on N virtual modules in one process (docs/fleet.md)",
        description=FLEET_HELP,
    )
    fleet.add_argument("scenario", help="scenario file (path.py or path.py:function)")
    fleet.add_argument("-n", "--devices", type=int, default=10, help="how many (10)")
    fleet.add_argument(
        "-o", "--option", type=_option, action="append", default=[], metavar="KEY=VALUE"
    )
    fleet.add_argument("--duration", type=float, help="stop the run after this many seconds")
    fleet.add_argument("--ramp", type=float, default=0.0, help="start devices over S seconds")
    fleet.add_argument(
        "--device-timeout", type=float, help="a device still running then is reported hung"
    )
    fleet.add_argument(
        "--grace", type=float, default=5.0, help="s scenarios get to end once stopping (5)"
    )
    fleet.add_argument("--faults", type=Path, help="a fault script every module arms")
    fleet.add_argument("--jsonl", type=Path, help="write JSON lines here (- for stdout)")
    fleet.add_argument("--steps", action="store_true", help="a JSON line per step too")
    fleet.add_argument(
        "--progress", type=float, default=2.0, help="seconds between progress lines (2)"
    )
    add_network_arguments(fleet)
    fleet.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Exit status: 0 every device ok, 1 some failed or hung, 2 usage, 130 interrupted."""
    from ..fleet import Fleet  # loaded for this command only

    try:
        scenario = load_scenario(args.scenario)
        faults = FaultScript.load(args.faults) if args.faults is not None else None
    except (ScenarioError, FaultError, OSError) as exc:
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
        return asyncio.run(_run(fleet))


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
