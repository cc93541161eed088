"""``bg96 files URL ls|put|get|rm``: the module's UFS files from the command line.

Runs the host driver (``Modem``) against any pyserial URL, the virtual module's or a real
BG96's. Uploads and downloads are checked against the module's checksum by the driver.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from ..host import CommandError, Modem, ModemError, ModemTimeout, PortClosed
from ..protocol.checksum import checksum
from ..protocol.cme import CME_TEXT

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NO_MODULE = 3
MAX_NAME = 80  # bytes, the FILE manual's limit


class Failed(Exception):
    """A failure to report with an exit status."""

    def __init__(self, message: str, status: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.status = status


class ProgressBar:
    """``label [#####.....]  45%  512/1188 B`` redrawn in place on a terminal; silent
    otherwise (no bar in logs)."""

    def __init__(self, label: str, stream: TextIO | None = None, width: int = 30) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.label = label
        self.width = width
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = bool(isatty is not None and isatty())
        self.drawn = False
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if done < total and now - self._last < 0.05:
            return  # redraw at most 20 times a second
        self._last = now
        frac = done / total if total else 1.0
        fill = int(frac * self.width)
        bar = "#" * fill + "." * (self.width - fill)
        self.stream.write(f"\r{self.label} [{bar}] {frac:4.0%} {done}/{total} B")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False


def describe(exc: CommandError) -> str:
    """A driver error as a person reads it: ``file not found (+CME ERROR: 405)``."""
    if exc.code is not None and exc.code in CME_TEXT:
        return f"{CME_TEXT[exc.code]} (+CME ERROR: {exc.code})"
    if exc.code is not None:
        return f"{exc.text or 'error'} (+CME ERROR: {exc.code})"
    if exc.text:
        return exc.text
    answer = exc.response.decode("latin-1").strip().replace("\r\n", " ")
    return f"the module answered {answer or 'nothing'}"


def module_name(name: str) -> str:
    """Check a UFS file name (the ``UFS:`` prefix is optional)."""
    bare = name.removeprefix("UFS:")
    if not bare or '"' in bare or "\r" in bare or "\n" in bare:
        raise Failed(f"{name!r}: not a valid UFS file name", EXIT_USAGE)
    if len(bare.encode()) > MAX_NAME:
        raise Failed(f"{name!r}: longer than {MAX_NAME} bytes", EXIT_USAGE)
    return name


# ---- the actions ---------------------------------------------------------------------------


def do_ls(modem: Modem, args: argparse.Namespace, out: TextIO) -> None:
    files = modem.list_files()
    if not files:  # said on stderr, so a script reading the listing sees no line at all
        print("no files", file=sys.stderr)
        return
    width = max(len(name) for name in files)
    size_width = max(len(str(size)) for size in files.values())
    for name in sorted(files):
        out.write(f"{name:<{width}}  {files[name]:>{size_width}}\n")


def check_args(args: argparse.Namespace) -> None:
    """What can be checked before talking to the module; ``put`` reads its file here."""
    if args.action == "put":
        local = Path(args.local)
        try:
            args.data = local.read_bytes()
        except OSError as exc:
            raise Failed(f"cannot read {local}: {exc.strerror or exc}") from None
        args.name = module_name(args.name or local.name)
        if not args.data:
            raise Failed(f"put {args.name}: {local} is empty; AT+QFUPL takes 1 byte or more")
    elif args.action == "get":
        module_name(args.name)
    elif args.action == "rm":
        for name in args.names:
            module_name(name)


def do_put(modem: Modem, args: argparse.Namespace, out: TextIO) -> None:
    name: str = args.name
    data: bytes = args.data
    if args.force:
        try:
            modem.delete(name)
        except CommandError as exc:
            if exc.code != 405:
                raise
    bar = ProgressBar(f"put {name}")
    try:
        modem.upload(name, data, progress=bar)
    except CommandError as exc:
        bar.close()
        if exc.code == 407:
            raise Failed(f"put {name}: {describe(exc)}; use --force to replace it") from None
        raise
    bar.close()
    out.write(f"{name}: {len(data)} bytes, checksum {checksum(data):x} verified\n")


def do_get(modem: Modem, args: argparse.Namespace, out: TextIO) -> None:
    name: str = args.name
    bar = ProgressBar(f"get {name}")
    try:
        data = modem.download(name, progress=bar)
    finally:
        bar.close()
    if args.local == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    bare = Path(name.removeprefix("UFS:")).name
    target = Path(args.local) if args.local else Path(bare)
    if target.is_dir():
        target = target / bare
    try:
        target.write_bytes(data)
    except OSError as exc:
        raise Failed(f"cannot write {target}: {exc.strerror or exc}") from None
    out.write(f"{target}: {len(data)} bytes, checksum {checksum(data):x} verified\n")


def do_rm(modem: Modem, args: argparse.Namespace, out: TextIO) -> None:
    failed = []
    for name in args.names:  # like rm(1): try them all, report each failure
        try:
            modem.delete(name)
        except CommandError as exc:
            failed.append(f"rm {name}: {describe(exc)}")
    if failed:
        raise Failed("\nbg96 files: ".join(failed))


ACTIONS: dict[str, Callable[[Modem, argparse.Namespace, TextIO], None]] = {
    "ls": do_ls,
    "put": do_put,
    "get": do_get,
    "rm": do_rm,
}


# ---- the command -------------------------------------------------------------------------


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``bg96 files``: the exit status (0, 1 refused, 2 usage, 3 no module)."""
    out = out if out is not None else sys.stdout
    subject = getattr(args, "name", None) or getattr(args, "local", None) or ""
    what = f"{args.action} {subject}".strip()
    try:
        check_args(args)
    except Failed as exc:
        return _fail(str(exc), exc.status)
    try:
        modem = Modem.open(args.url, baudrate=args.baudrate)
    except (PortClosed, ValueError) as exc:
        return _fail(str(exc), EXIT_NO_MODULE)
    try:
        with modem:
            modem.sync()
            ACTIONS[args.action](modem, args, out)
    except Failed as exc:
        return _fail(str(exc), exc.status)
    except CommandError as exc:
        return _fail(f"{what}: {describe(exc)}", EXIT_FAILED)
    except ModemTimeout as exc:
        return _fail(f"{what}: the module does not answer ({exc})", EXIT_NO_MODULE)
    except PortClosed as exc:
        return _fail(f"{what}: the port closed ({exc})", EXIT_NO_MODULE)
    except ModemError as exc:
        return _fail(f"{what}: {exc}", EXIT_FAILED)
    return 0


def _fail(message: str, status: int) -> int:
    print(f"bg96 files: {message}", file=sys.stderr)
    return status
