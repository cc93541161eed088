"""The ``bg96`` command: ``serve`` a virtual module, or run the ``demo``."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from .. import __version__
from ..module.control import ControlError, ControlServer
from ..module.control import request as control_request
from ..module.faults import FaultError, FaultScript
from ..module.filestore import default_files_dir
from ..module.keylog import keylog_from_env, open_keylog
from ..module.resolve import parse_override
from ..module.trace import FORMATS, Trace, open_trace
from ..module.virtual import (
    RemoteBindError,
    TransportKind,
    VirtualModule,
    check_bind,
    is_loopback,
)
from ..network.options import add_network_arguments, profile_from_args
from . import files as files_cli
from . import fleet as fleet_cli
from . import shell

SERVE_HELP = """\
Serve a virtual BG96 on a pseudo-terminal (default), a TCP port or an RFC 2217 port.

A pty looks like a serial device (/dev/pts/N) to any program, but carries no modem
control lines: DTR and RTS cannot reach the module through it, so AT&D has nothing to act
on. Use --rfc2217 for DTR/RTS in, DCD/DSR/CTS out and baud-rate changes
(pyserial: serial.serial_for_url("rfc2217://HOST:PORT")).

--tcp and --rfc2217 listen on loopback addresses only: the AT port has no
authentication, and whoever reaches it can read, write and delete the module's files
and open TLS connections from this machine. --allow-remote serves it on any address,
with a warning.
"""


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def _expose(text: str) -> tuple[int, int]:
    module, sep, host = text.partition(":")
    ports = (module, host if sep else module)
    if not all(p.isascii() and p.isdigit() and 1 <= int(p) <= 65535 for p in ports):
        raise argparse.ArgumentTypeError(f"expected MODULE_PORT[:HOST_PORT], got {text!r}")
    return int(ports[0]), int(ports[1])


def _override(text: str) -> tuple[str, str]:
    try:
        return parse_override(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _fault_script(text: str) -> FaultScript:
    try:
        return FaultScript.load(text)
    except FaultError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bg96", description="A virtual Quectel BG96 modem.")
    parser.add_argument("--version", action="version", version=f"bg96 {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser(
        "serve",
        help="serve a virtual module",
        description=SERVE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = serve.add_mutually_exclusive_group()
    where.add_argument("--pty", action="store_true", help="serve on a pseudo-terminal (default)")
    where.add_argument(
        "--tcp",
        metavar="HOST:PORT",
        type=_host_port,
        help="serve on a TCP port, one host at a time (pyserial URL socket://HOST:PORT)",
    )
    where.add_argument(
        "--rfc2217",
        metavar="HOST:PORT",
        type=_host_port,
        help="serve on an RFC 2217 port: like --tcp, plus DTR/RTS, DCD and baud rate",
    )
    serve.add_argument(
        "--allow-remote",
        action="store_true",
        help="let --tcp/--rfc2217 listen on a non-loopback address (0.0.0.0, a LAN address): "
        "anyone who reaches the port can use the module's files and TLS, unauthenticated",
    )
    serve.add_argument(
        "--pace",
        action="store_true",
        help="send to the host no faster than a UART at the AT+IPR rate (115200 baud, 8N1)",
    )
    serve.add_argument("--link", type=Path, help="with --pty: make a symlink to the device here")
    serve.add_argument(
        "--files",
        type=Path,
        default=None,
        help=f"directory holding the module's UFS files (default {default_files_dir()})",
    )
    serve.add_argument(
        "--resolve",
        metavar="NAME=ADDR",
        type=_override,
        action="append",
        default=[],
        help="resolve NAME to ADDR for AT+QSSLOPEN, like curl --resolve (repeatable)",
    )
    serve.add_argument(
        "--trace", metavar="-|FILE", help="write a timestamped AT trace to stdout (-) or FILE"
    )
    serve.add_argument(
        "--trace-format",
        choices=sorted(FORMATS),
        default="text",
        help="text (escaped bytes), hex (a hex dump) or jsonl (docs/trace.md)",
    )
    serve.add_argument(
        "--trace-time",
        choices=["relative", "absolute"],
        default="relative",
        help="seconds since start (default) or wall-clock time, both to the microsecond",
    )
    serve.add_argument(
        "--expose",
        metavar="MODULE_PORT[:HOST_PORT]",
        type=_expose,
        action="append",
        default=[],
        help='a "TCP LISTENER" or "UDP SERVICE" on this module port is reached at '
        "127.0.0.1:HOST_PORT (default the same port); others take a free one (repeatable)",
    )
    serve.add_argument(
        "--control",
        metavar="HOST:PORT",
        type=_host_port,
        help="serve the control endpoint here (bg96 fault); loopback only without a token",
    )
    serve.add_argument(
        "--control-token", default="", help="a token every control request must carry"
    )
    serve.add_argument(
        "--keylog",
        metavar="FILE",
        help="append NSS key-log lines for every TLS connection (default: $SSLKEYLOGFILE)",
    )
    serve.add_argument(
        "--faults",
        metavar="FILE",
        type=_fault_script,
        help="a fault script (docs/faults.md), armed when the module powers on: "
        "'at 5s pdp-deactivate 1', 'after 1000 bytes on 0 server-reset 0', ...",
    )
    add_network_arguments(serve)

    demo = sub.add_parser(
        "demo",
        help="virtual module + local TLS echo server + scripted host session, with its trace",
    )
    add_network_arguments(demo)
    shell.add_subcommand(sub)
    files_cli.add_subcommand(sub)
    fleet_cli.add_subcommand(sub)

    fault = sub.add_parser(
        "fault",
        help="inject faults into a running bg96 serve through its control endpoint",
        description="Send fault script lines (docs/faults.md) to `bg96 serve --control`.",
    )
    fault.add_argument(
        "--control", metavar="HOST:PORT", type=_host_port, required=True, help="the endpoint"
    )
    fault.add_argument("--token", default="", help="the endpoint's --control-token")
    fault.add_argument("--status", action="store_true", help="print the module's state")
    fault.add_argument("lines", nargs="*", help='fault lines, e.g. "pdp-deactivate 1"')

    monitor = sub.add_parser(
        "monitor",
        help="a live terminal view of a running bg96 serve, through its control endpoint",
        description="Sockets, PDP and SSL contexts, files and the AT trace of `bg96 serve "
        "--control`, live; type fault lines (docs/faults.md) to inject them. q quits.",
    )
    monitor.add_argument(
        "--control", metavar="HOST:PORT", type=_host_port, required=True, help="the endpoint"
    )
    monitor.add_argument(
        "--control-token", "--token", dest="token", default="", help="its --control-token"
    )
    return parser


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
        expose=dict(args.expose),
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


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in ("shell", "files", "fleet"):
        return int(args.run(args))
    if args.command == "fault":
        return asyncio.run(fault_command(args))
    if args.command == "monitor":
        from .monitor import run as monitor_main  # textual loads only for the monitor

        monitor_host, monitor_port = args.control
        return monitor_main(monitor_host, monitor_port, args.token)
    if args.command == "demo":
        from .demo import main as demo_main

        return demo_main(network=profile_from_args(args))
    try:
        return asyncio.run(serve(args))
    except (ControlError, RemoteBindError) as exc:
        print(f"bg96: {exc}", file=sys.stderr)
        return 2
    except (OSError, FileExistsError) as exc:
        print(f"bg96: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
