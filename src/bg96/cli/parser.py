"""Every ``bg96`` subcommand's arguments, and nothing else: parsing a command line loads no
subcommand's code (the engine, the host driver, pyserial, textual, the fleet); ``app.main``
imports what the chosen command runs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from .. import __version__
from ..module.filestore import default_files_dir
from ..module.loops import LOOPS
from ..module.resolve import parse_override
from ..module.trace import FORMATS
from ..network.options import add_network_arguments

if TYPE_CHECKING:
    from ..module.faults import FaultScript

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

SHELL_HELP = """\
An interactive AT console: type command lines, see the module's answers as they arrive.
Works with the virtual module (socket://HOST:PORT) and real hardware (/dev/ttyUSB2, COM5,
rfc2217://...). Unsolicited result codes are shown in another colour (no colour when
stdout is not a terminal or NO_COLOR is set). Tab completes the manual's commands, the
keys of AT+QSSLCFG, AT+QICFG, AT+QCFG, AT+QURCCFG, AT+QHTTPCFG and AT+QMTCFG, and AT+QIOPEN's
service types. Ctrl-D exits.

Each line is sent with a CR, except after a prompt: once QSSLSEND has answered "> " (or
QFUPL "CONNECT", or the module is in transparent mode) lines are data, sent as typed with
no line end, until the module answers. Escapes, on any line:

  ^Z  or  \\x1a    Ctrl-Z: ends QSSLSEND data ("hello^Z"); no CR is added after it
  ^[  or  \\e      ESC: cancels a QSSLSEND prompt without sending; no CR is added after it
  \\r  \\n  \\t      CR, LF, TAB (e.g. "GET / HTTP/1.0\\r\\n\\r\\n^Z")
  \\xNN           any byte;  \\\\ is a backslash

Outside a data phase a line holding ^Z or ^[ is still a command line: it is sent with a
CR, as a module needs to end the line (otherwise its bytes would join the next command),
and the module's answer (usually ERROR) is shown.

Pressing Ctrl-Z (on a terminal) sends the line typed so far followed by Ctrl-Z; the shell
is not suspended. In a data phase a line holding only "+++" is sent with the 1 s guard
times before and after, to leave transparent mode or abort an upload.

With --raw every byte in both directions is shown escaped, as in the trace of
"bg96 serve --trace": ">>" host to module, "<<" module to host.

Without a terminal (stdin piped) the lines are read from stdin, each one sent after the
previous command has answered, and the shell exits at end of input once the module is
quiet: "printf 'ATI\\nAT+CSQ\\n' | bg96 shell socket://127.0.0.1:5555".

Exit status: 0 at the end of input (Ctrl-D); 1 the port closed; 2 bad arguments; 3 the
port cannot be opened; 4 (stdin piped) a command answered ERROR or +CME ERROR.
"""

FILES_HELP = """\
List, upload, download and delete the module's files (UFS: where AT+QSSLCFG finds its
certificates and keys) through the AT FILE commands, on the virtual module or a real BG96.
The module's checksum (+QFUPL/+QFDWL) is compared with the data's.

  bg96 files socket://127.0.0.1:5555 ls          # NAME SIZE lines; "no files" on stderr
  bg96 files /dev/ttyUSB2 put ca.pem cacert.pem
  bg96 files /dev/ttyUSB2 get cacert.pem -        # to stdout
  bg96 files /dev/ttyUSB2 rm cacert.pem

Exit status: 0 done; 1 the module or the local file system refused (file not found,
file exists, no space, checksum mismatch...); 2 bad arguments; 3 no module (the port
cannot be opened, closes, or the module does not answer).
"""

FLEET_HELP = """\
Run SCENARIO (a Python file with `async def device(modem, ctx)`, e.g.
examples/fleet_scenario.py) on N virtual BG96 modules in this process, each with an
AsyncModem attached in memory. --seed gives every device its own seed (network jitter and
loss, ctx.rng); -o KEY=VALUE options reach the scenario as ctx.options."""


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
    from ..module.faults import FaultError, FaultScript  # the engine loads only for --faults

    try:
        return FaultScript.load(text)
    except FaultError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _option(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


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
        help="resolve NAME to ADDR for every lookup the module makes (QSSLOPEN, QIOPEN, "
        "QIDNSGIP, QPING, QNTP, MQTT, HTTP), like curl --resolve (repeatable)",
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
    _add_loop(serve)
    add_network_arguments(serve)

    demo = sub.add_parser(
        "demo",
        help="virtual module + local TLS echo server + scripted host session, with its trace",
    )
    add_network_arguments(demo)
    _add_shell(sub)
    _add_files(sub)
    _add_fleet(sub)

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


def _add_shell(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``bg96 shell``'s arguments."""
    shell = sub.add_parser(
        "shell",
        help="an interactive AT console on a module (virtual or real)",
        description=SHELL_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_port(shell)
    shell.add_argument("--raw", action="store_true", help="show every byte escaped, as the trace")
    shell.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour URCs and results (auto: on a terminal unless NO_COLOR is set)",
    )


def _add_files(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``bg96 files``'s arguments."""
    files = sub.add_parser(
        "files",
        help="list, upload, download, delete the module's files (virtual or real)",
        description=FILES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_port(files)
    actions = files.add_subparsers(dest="action", required=True, metavar="ls|put|get|rm")
    actions.add_parser("ls", help="list the files with their sizes (or say there are none)")
    put = actions.add_parser("put", help="upload LOCAL as NAME (default: LOCAL's file name)")
    put.add_argument("local", metavar="LOCAL")
    put.add_argument("name", metavar="NAME", nargs="?")
    put.add_argument("-f", "--force", action="store_true", help="replace NAME if it exists")
    get = actions.add_parser("get", help="download NAME to LOCAL (default ./NAME; - stdout)")
    get.add_argument("name", metavar="NAME")
    get.add_argument("local", metavar="LOCAL", nargs="?")
    rm = actions.add_parser("rm", help="delete NAME ...")
    rm.add_argument("names", metavar="NAME", nargs="+")


def _add_fleet(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    _add_loop(fleet)
    add_network_arguments(fleet)


def _add_loop(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--loop",
        choices=LOOPS,
        default="auto",
        help="the event loop: auto (the default) is uvloop when installed "
        "(pip install 'bg96[uvloop]'), else asyncio; uvloop costs less CPU per command, "
        "asyncio moves bulk transparent-mode data faster (docs/performance.md)",
    )


def _add_port(parser: argparse.ArgumentParser) -> None:
    """The module a host-side command talks to: any pyserial URL or device."""
    parser.add_argument("url", help="pyserial URL or device: socket://HOST:PORT, /dev/ttyUSB2...")
    parser.add_argument("--baudrate", type=int, default=115200, help="for serial ports (115200)")
