"""``bg96 serve``: a virtual module on a pty, a TCP or an RFC 2217 port until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from ..module import heap, loops
from ..module.control import ControlError, ControlServer
from ..module.filestore import default_files_dir
from ..module.keylog import keylog_from_env, open_keylog
from ..module.trace import Trace, open_trace
from ..module.virtual import (
    RemoteBindError,
    TransportKind,
    VirtualModule,
    check_bind,
    exposed_ports,
    is_loopback,
)
from ..network.options import profile_from_args


def run(args: argparse.Namespace) -> int:
    """Exit status: 0 stopped by a signal, 1 a port could not be opened, 2 a refused bind or
    a bad argument."""
    try:
        exposed_ports(args.expose)  # before anything starts
    except ValueError as exc:
        print(f"bg96: --expose: {exc}", file=sys.stderr)
        return 2
    heap.tune()  # this process relays socket data: see module/heap.py
    try:
        return loops.run(serve(args), args.loop)
    except (ControlError, RemoteBindError, loops.LoopUnavailable) as exc:
        print(f"bg96: {exc}", file=sys.stderr)
        return 2
    except (OSError, FileExistsError) as exc:
        print(f"bg96: {exc}", file=sys.stderr)
        return 1


async def serve(args: argparse.Namespace) -> int:
    loop = asyncio.get_running_loop()
    files = args.files or default_files_dir()
    kind: TransportKind = "pty"
    host, port = "127.0.0.1", 0
    if args.tcp is not None:
        kind, (host, port) = "tcp", args.tcp
    elif args.rfc2217 is not None:
        kind, (host, port) = "rfc2217", args.rfc2217
    check_bind(kind, host, allow_remote=args.allow_remote)  # before anything is opened
    trace = (
        open_trace(args.trace, fmt=args.trace_format, relative=args.trace_time == "relative")
        if args.trace
        else Trace.null()
    )
    keylog = open_keylog(args.keylog) if args.keylog else keylog_from_env()
    network = profile_from_args(args)
    module = VirtualModule(
        transport=kind,
        host=host,
        port=port,
        link=args.link,
        files=files,
        resolve=dict(args.resolve),
        trace=trace,
        pace=args.pace,
        keylog=keylog,
        faults=args.faults,
        network=network,
        allow_remote=args.allow_remote,
        expose=exposed_ports(args.expose),
    )
    if kind != "pty" and not is_loopback(host):
        print(
            f"bg96: warning: --{kind} {host}:{port} serves the AT port to the network with no "
            "authentication: anyone who reaches it can read, write and delete the files in "
            f"{Path(files).resolve()} and open TLS connections from this machine",
            file=sys.stderr,
            flush=True,
        )
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    control = None
    if args.control is not None:
        control_host, control_port = args.control
        control = ControlServer(module, control_host, control_port, token=args.control_token)
    await module.start()
    print(f"bg96: virtual BG96 on {module.url} (files in {Path(files).resolve()})", flush=True)
    if control is not None:
        await control.start()
        print(f"bg96: control endpoint on {control.host}:{control.port}", flush=True)
    if args.link is not None and kind == "pty":
        print(f"bg96: linked {args.link} -> {module.url}", flush=True)
    if args.faults is not None:
        print(f"bg96: {len(args.faults)} faults from {args.faults.source}", flush=True)
    if not network.ideal or network.attach_time or network.pdp_activation_time:
        print(f"bg96: {network.describe()}", flush=True)
    await stop.wait()
    print("bg96: stopping, closing connections", flush=True)
    if control is not None:
        await control.stop()
    await module.stop()
    trace.close()
    return 0
