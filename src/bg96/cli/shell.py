"""``bg96 shell URL``: an interactive AT console for a person, on any pyserial URL.

Three layers, so that everything but the terminal can be tested headless:

``ShellCore``
    sans-IO: typed lines in (``input_line`` returns the bytes to write), module bytes in
    (``receive``), rendered display lines out through an injected ``emit`` callable. It
    knows the BG96's framing well enough to colour URCs, find the ``>`` prompt, read the
    binary blocks of ``+QSSLRECV`` and push mode, and follow data phases (QSSLSEND data,
    QFUPL upload, transparent mode). It also completes command lines.
``ShellSession``
    a core joined to an open serial port: a reader thread feeds it, ``send_line`` writes,
    ``wait_ready`` waits for the answer of the command just sent.
``run``
    the terminal: ``readline`` line editing, history and completion; output from the reader
    thread is printed above the line being typed, which is then redrawn.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, ModuleType
from typing import TextIO

import platformdirs
import serial

from ..host.answers import DEFAULT_RESPONSE, MAX_RESPONSE, command_name
from ..host.parser import FINAL_PREFIXES, FINALS, URC_PREFIXES, URC_WORDS, response_prefix
from ..module.trace import Trace, escape

EXIT_PORT_CLOSED = 1
EXIT_NO_PORT = 3
EXIT_COMMAND_FAILED = 4

# The manuals' commands: the SSL manual, and the general, PDP/TCP and FILE commands a host
# uses around it (COMPANION_COMMANDS.md). Completion offers these names.
GENERAL_COMMANDS = (
    "AT", "ATI", "ATE0", "ATE1", "ATV0", "ATV1", "ATQ0", "ATQ1", "ATX", "ATZ", "ATO",
    "AT&F", "AT&W", "AT&V", "AT&C", "AT&D", "ATS0", "ATS3", "ATS4", "ATS5", "ATS6", "ATS7",
    "ATS8", "ATS10",
    "AT+GMI", "AT+GMM", "AT+GMR", "AT+GSN", "AT+CGMI", "AT+CGMM", "AT+CGMR", "AT+CGSN",
    "AT+QGMR", "AT+CMEE", "AT+IPR", "AT+IFC", "AT+CPIN", "AT+CIMI", "AT+QCCID", "AT+CSQ",
    "AT+CREG", "AT+CGREG", "AT+CEREG", "AT+COPS", "AT+CFUN", "AT+CCLK", "AT+CTZR",
    "AT+CTZU", "AT+QURCCFG", "AT+QCFG", "AT+QPOWD",
)  # fmt: skip
PDP_COMMANDS = (
    "AT+CGATT", "AT+CGDCONT", "AT+CGPADDR", "AT+QICSGP", "AT+QIACT", "AT+QIDEACT",
    "AT+QIDNSCFG", "AT+QIDNSGIP", "AT+QIGETERROR", "AT+QISWTMD", "AT+QICFG", "AT+QPING",
    "AT+QNTP",
)  # fmt: skip
FILE_COMMANDS = (
    "AT+QFLDS", "AT+QFLST", "AT+QFDEL", "AT+QFUPL", "AT+QFDWL", "AT+QFOPEN", "AT+QFREAD",
    "AT+QFWRITE", "AT+QFSEEK", "AT+QFPOSITION", "AT+QFTUCAT", "AT+QFCLOSE",
)  # fmt: skip
SSL_COMMANDS = (
    "AT+QSSLCFG", "AT+QSSLOPEN", "AT+QSSLSEND", "AT+QSSLRECV", "AT+QSSLCLOSE",
    "AT+QSSLSTATE",
)  # fmt: skip
TCPIP_COMMANDS = (
    "AT+QIOPEN", "AT+QICLOSE", "AT+QISTATE", "AT+QISEND", "AT+QISENDEX", "AT+QIRD",
    "AT+QISDE",
)  # fmt: skip
HTTP_COMMANDS = (
    "AT+QHTTPCFG", "AT+QHTTPURL", "AT+QHTTPGET", "AT+QHTTPPOST", "AT+QHTTPPOSTFILE",
    "AT+QHTTPREAD", "AT+QHTTPREADFILE",
)  # fmt: skip
MQTT_COMMANDS = (
    "AT+QMTCFG", "AT+QMTOPEN", "AT+QMTCLOSE", "AT+QMTCONN", "AT+QMTDISC", "AT+QMTSUB",
    "AT+QMTUNS", "AT+QMTPUB",
)  # fmt: skip
COMMANDS: tuple[str, ...] = tuple(
    sorted(
        set(
            GENERAL_COMMANDS
            + PDP_COMMANDS
            + FILE_COMMANDS
            + SSL_COMMANDS
            + TCPIP_COMMANDS
            + HTTP_COMMANDS
            + MQTT_COMMANDS
        )
    )
)

# Keys of the "key"-style commands. QSSLCFG's "seclevel" is the real module's spelling
# (the manual's "secllevel" is a typo: FIELD_NOTES.md).
KEYS: dict[str, tuple[str, ...]] = {
    "+QSSLCFG": (
        "sslversion", "ciphersuite", "seclevel", "cacert", "clientcert", "clientkey",
        "ignorelocaltime", "negotiatetime",
    ),
    "+QICFG": ("transpktsize", "transwaittm", "dataformat", "viewmode", "tcp/retranscfg"),
    "+QCFG": (
        "nwscanmode", "nwscanseq", "iotopmode", "band", "servicedomain", "nbsibscramble",
    ),
    "+QURCCFG": ("urcport",),
    "+QMTCFG": (
        "version", "pdpcid", "ssl", "keepalive", "session", "prefix", "timeout", "will",
        "recv/mode", "aliauth",
    ),
    "+QFLDS": ("UFS",),
    "+QHTTPCFG": ("contextid", "requestheader", "responseheader", "sslctxid", "contenttype"),
}  # fmt: skip
CIPHERSUITES = (
    "0X0035", "0X002F", "0X0005", "0X0004", "0X000A", "0X003D", "0XC011", "0XC012",
    "0XC013", "0XC014", "0XC027", "0XC028", "0XC02F", "0XFFFF",
)  # fmt: skip

CTRL_Z = 0x1A
ESC = 0x1B
_CONTROL = bytes(range(0x21)) + b"\x7f"  # what a line of nothing but control bytes holds
GUARD = 1.0  # s of silence around +++
IDLE_FLUSH = 0.1  # s without bytes before a partial line (no LF yet) is shown

_KEY_FORM = re.compile(r'(AT\+[A-Z]+)="?([^",]*)', re.IGNORECASE)
_SUITE_FORM = re.compile(r'(AT\+QSSLCFG="ciphersuite",\d+,)(\S*)', re.IGNORECASE)
# AT+QIOPEN=<contextID>,<connectID>,"<service_type>": the third parameter
_SERVICE_FORM = re.compile(r'(AT\+QIOPEN=\d+,\d+,)"?([^",]*)', re.IGNORECASE)
SERVICE_TYPES = ("TCP", "UDP", "TCP LISTENER", "UDP SERVICE")
# a send with a "> " prompt (not AT+QISENDEX, which takes hex on its command line)
_SEND_FORM = re.compile(rb"AT\+Q(?:SSL|I)SEND=|AT\+QMTPUB=")
_PUSH = re.compile(rb'\+Q(?:SSL|I)URC: "recv",(\d+),(\d+)\Z')
_BLOCK = re.compile(rb"\+Q(?:SSLRECV|IRD): (\d+)\Z")
_LINE_END = re.compile(rb"\n|\r(?=[^\n])")  # LF, or a CR that no LF follows
NUMERIC_FINALS = (b"0", b"2", b"3", b"4", b"6", b"7", b"8", b"1")  # ATV0: OK, RING, ...
_CONNECT_LEN = re.compile(rb"CONNECT (\d+)\Z")
_OPEN_URCS = (b"+QSSLOPEN:", b"+QIOPEN:")
_ERRORS = (b"ERROR", b"SEND FAIL", b"NO CARRIER", b"NO DIALTONE", b"BUSY")

# ---- escapes ---------------------------------------------------------------------------

_ESCAPE = re.compile(r"\^[Zz\[]|\\(?:x[0-9A-Fa-f]{2}|[erntZz\\])")
_ESCAPE_BYTES = {
    "^Z": b"\x1a",
    "^z": b"\x1a",
    "^[": b"\x1b",
    "\\e": b"\x1b",
    "\\r": b"\r",
    "\\n": b"\n",
    "\\t": b"\t",
    "\\\\": b"\\",
}


def decode_escapes(text: str) -> bytes:
    """A typed line to bytes: ``^Z``, ``^[``, ``\\e``, ``\\r``, ``\\n``, ``\\t``, ``\\xNN``
    and ``\\\\`` are replaced, everything else is encoded as UTF-8."""
    out = bytearray()
    pos = 0
    for m in _ESCAPE.finditer(text):
        out += text[pos : m.start()].encode()
        token = m.group()
        if token.startswith("\\x"):
            out.append(int(token[2:], 16))
        else:
            out += _ESCAPE_BYTES.get(token, token.encode())
        pos = m.end()
    out += text[pos:].encode()
    return bytes(out)


# ---- colours ---------------------------------------------------------------------------

STYLES = {
    "urc": "\x1b[33m",  # yellow
    "error": "\x1b[31m",  # red
    "ok": "\x1b[32m",  # green
    "data": "\x1b[35m",  # magenta
    "prompt": "\x1b[1m",  # bold
    "info": "\x1b[2m",  # dim
    "sent": "\x1b[36m",  # cyan (--raw, host to module)
}
RESET = "\x1b[0m"


def use_colour(choice: str, stream: TextIO, environ: dict[str, str] | None = None) -> bool:
    """``always``/``never``, or ``auto``: a terminal, and NO_COLOR unset or empty."""
    if choice != "auto":
        return choice == "always"
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty is not None and isatty())


@dataclass(frozen=True)
class Outgoing:
    """Bytes to write; ``guard``: with a second of silence before and after (``+++``)."""

    data: bytes
    guard: bool = False


class _TraceSink(io.StringIO):
    """A stream for ``Trace`` that hands each finished line to a callable."""

    def __init__(self, line: Callable[[str], None]) -> None:
        super().__init__()
        self._line = line
        self._part = ""

    def write(self, s: str) -> int:
        text = self._part + s
        *lines, self._part = text.split("\n")
        for item in lines:
            self._line(item)
        return len(s)


# ---- the core ------------------------------------------------------------------------


class ShellCore:
    """The console's logic, without I/O: feed it typed lines and module bytes.

    ``emit`` receives each display line, already coloured when ``colour`` is set.
    """

    def __init__(
        self,
        emit: Callable[[str], None],
        *,
        colour: bool = False,
        raw: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._emit_line = emit
        self.colour = colour
        self.raw = raw
        self._buf = bytearray()
        self._echo = b""  # bytes the module is expected to echo back
        self._pending: bytes | None = None  # the command under way (for echo and prefix)
        self._prefix = b"\x00"
        self._pending_kind = ""  # "send", "upload", "transparent", or ""
        self._data_left: int | None = None  # bytes of a fixed-length data phase still due
        self._prompt_expected = False
        self._block_left = 0
        self._block = bytearray()
        self.data_mode = False  # input lines are data (after "> " or an upload's CONNECT)
        self.failures = 0  # commands answered ERROR or +CME ERROR
        self.transparent = False  # the port is a connection's (after CONNECT)
        self._carrier = b""  # the tail of transparent data, to see NO CARRIER
        self._trace = Trace(_TraceSink(self._raw_line), clock=clock, autoflush=True)

    # ---- state ---------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """A command was sent and neither its final result nor its prompt has come yet."""
        return self._pending is not None and not self.data_mode and not self.transparent

    @property
    def pending(self) -> str | None:
        return None if self._pending is None else self._pending.decode("latin-1")

    def answer_timeout(self) -> float:
        """How long the command under way may take: the manual's maximum, at least 1 s."""
        if self._pending is None:
            return 0.0
        name = command_name(self._pending.decode("latin-1"))
        return max(1.0, MAX_RESPONSE.get(name, DEFAULT_RESPONSE))

    @property
    def prompt(self) -> str:
        """The input prompt for the current state."""
        if self.transparent:
            return "transparent> "
        return "data> " if self.data_mode else "bg96> "

    # ---- typed lines ---------------------------------------------------------------------

    def input_line(self, line: str) -> list[Outgoing]:
        """A line the person typed: what to write to the module (nothing for a blank line)."""
        if self.data_mode or self.transparent:
            return self._data_line(line)
        data = decode_escapes(line)
        if not data.strip():
            return []
        out = data + b"\r"  # the CR ends the module's line, a Ctrl-Z or ESC in it or not
        if data.strip(_CONTROL):
            self._begin(data)
            if CTRL_Z in data:
                self.info("no data phase: ^Z is sent as part of this command line")
        else:
            self._echo += out  # control bytes only: a module may not answer such a line
        self._sent(out)
        return [Outgoing(out)]

    def _data_line(self, line: str) -> list[Outgoing]:
        if line.strip() == "+++":
            self.transparent = False
            self.data_mode = False
            self._pending = None
            self._sent(b"+++")
            return [Outgoing(b"+++", guard=True)]
        data = decode_escapes(line)
        if not data:
            return []
        if self.data_mode:
            if self._pending_kind == "send":
                self._echo += data  # QSSLSEND data is echoed (ATE1), like a command line
                if self._data_left is None and data[-1] in (CTRL_Z, ESC):
                    self.data_mode = False  # the module answers next
            if self._data_left is not None:
                self._data_left -= len(data)
                if self._data_left <= 0:
                    self.data_mode = False  # all the announced bytes are sent
        self._sent(data)
        return [Outgoing(data)]

    def _begin(self, command: bytes) -> None:
        # after a line of control bytes its echo may still be due, ahead of this one's
        leftover = self._echo if self._pending is None else b""
        self._pending = command.strip()
        upper = self._pending.upper()
        self._prefix = response_prefix(upper)
        if self._prefix in _OPEN_URCS and not upper.endswith(b"=?"):
            self._prefix = b"\x00"  # only the test form answers with it; else it is the URC
        self._echo = leftover + command + b"\r"
        self._prompt_expected = _SEND_FORM.match(upper) is not None
        self._pending_kind = _kind_of(upper)
        self._data_left = _data_length(upper)

    def _sent(self, data: bytes) -> None:
        if self.raw:
            self._trace.host_to_module(data)

    # ---- module bytes --------------------------------------------------------------------

    def receive(self, data: bytes) -> None:
        """Bytes from the module, as they arrived (split anywhere)."""
        if self.raw:
            self._trace.module_to_host(data)
        data = self._strip_echo(data)
        if not data:
            return
        if self.transparent:
            self._transparent_data(data)
            return
        self._buf += data
        self._parse()

    def idle(self) -> None:
        """The module has been quiet for a while: show a partial line (``0\\r`` of ATV0)."""
        if self._block_left or not self._buf:
            return
        if self._prompt_expected and bytes(self._buf).strip(b"\r\n") in (b"", b">"):
            return
        text = bytes(self._buf).strip(b"\r\n")
        self._buf.clear()
        if text:
            self._line(text, numeric=True)

    def _strip_echo(self, data: bytes) -> bytes:
        echo = self._echo
        if not echo:
            return data
        n = 0
        while n < len(data) and n < len(echo) and data[n] == echo[n]:
            n += 1
        if n == len(data) or n == len(echo):
            self._echo = echo[n:]
        else:
            self._echo = b""  # not an echo after all (ATE0): show everything
        return data[n:]

    def _transparent_data(self, data: bytes) -> None:
        self._show("data", escape(data))
        tail = (self._carrier + data)[-16:]
        self._carrier = tail
        if b"NO CARRIER\r\n" in tail:
            self.transparent = False
            self._carrier = b""

    def _parse(self) -> None:
        buf = self._buf
        while buf:
            if self._block_left:
                take = min(self._block_left, len(buf))
                self._block += buf[:take]
                del buf[:take]
                self._block_left -= take
                if not self._block_left:
                    self._show("data", escape(bytes(self._block)))
                    self._block = bytearray()
                continue
            if self._prompt_expected:
                lead = len(buf) - len(buf.lstrip(b"\r\n"))
                if buf[lead : lead + 2] == b"> ":
                    del buf[: lead + 2]
                    self._prompt_expected = False
                    self.data_mode = True
                    self._show("prompt", ">")
                    continue
            end = _LINE_END.search(buf)
            if end is None:
                return
            line = bytes(buf[: end.start()]).rstrip(b"\r")
            lone_cr = end.group() == b"\r"  # ATV0 ends a result code with CR alone
            del buf[: end.end()]
            if line:
                self._line(line, numeric=lone_cr)
            if self.transparent and buf:
                rest = bytes(buf)
                buf.clear()
                self._transparent_data(rest)
                return

    def _line(self, line: bytes, *, numeric: bool = False) -> None:
        """A whole line; ``numeric``: it ended without LF, as ATV0 result codes do."""
        pending = self._pending
        if pending is not None and line == pending:
            return  # an echo the byte-wise match missed (a URC came first)
        if numeric and pending is not None and line in NUMERIC_FINALS:
            if line == b"1":  # CONNECT
                self._show("ok", "1")
                self._connect(b"CONNECT")
                return
            self._finish()
            self.failures += line == b"4"  # ERROR
            self._show("error" if line not in (b"0", b"1") else "ok", escape(line))
            return
        push = _PUSH.match(line)
        if push:
            self._show("urc", escape(line))
            self._start_block(int(push.group(2)))
            return
        if pending is not None:
            if line in FINALS or line.startswith(FINAL_PREFIXES):
                self._finish()
                self.failures += line == b"ERROR" or line.startswith(FINAL_PREFIXES)
                self._show("error" if _is_error(line) else "ok", escape(line))
                return
            if line == b"CONNECT" or line.startswith(b"CONNECT "):
                self._show("ok", escape(line))
                self._connect(line)
                return
            if line.startswith(self._prefix):
                self._show("response", escape(line))
                block = _BLOCK.match(line)
                if block:
                    self._start_block(int(block.group(1)))
                return
        if line.startswith(URC_PREFIXES) or line in URC_WORDS:
            self._show("urc", escape(line))
            return
        self._show("error" if _is_error(line) else "response", escape(line))

    def _start_block(self, size: int) -> None:
        self._block_left = size
        self._block = bytearray()

    def _connect(self, line: bytes) -> None:
        kind = self._pending_kind
        if kind == "transparent":
            self._pending = None
            self.transparent = True
            self._carrier = b""
        elif kind == "upload":
            self.data_mode = True
        else:
            size = _CONNECT_LEN.match(line)  # QFREAD: CONNECT <n>, then n raw bytes
            if size:
                self._start_block(int(size.group(1)))

    def _finish(self) -> None:
        self._pending = None
        self._pending_kind = ""
        self._prompt_expected = False
        self.data_mode = False
        self._echo = b""

    # ---- display -------------------------------------------------------------------------

    def info(self, text: str) -> None:
        """A message of the shell's own (not from the module)."""
        for line in text.splitlines() or [""]:
            self._emit(self.style("info", line))

    def style(self, kind: str, text: str) -> str:
        if not self.colour or kind not in STYLES:
            return text
        return f"{STYLES[kind]}{text}{RESET}"

    def _show(self, kind: str, text: str) -> None:
        if not self.raw:
            self._emit(self.style(kind, text))

    def _raw_line(self, line: str) -> None:
        kind = "sent" if " >> " in line[:20] else ""
        body = line.split(" << ", 1)[-1].removeprefix("\\r\\n")
        if " << " in line and body.encode().startswith(URC_PREFIXES + URC_WORDS):
            kind = "urc"
        self._emit(self.style(kind, line))

    def _emit(self, text: str) -> None:
        self._emit_line(text)

    # ---- completion ----------------------------------------------------------------------

    def complete(self, text: str) -> list[str]:
        """Completions of a command line typed up to the cursor (``text``): whole lines."""
        if self.data_mode or self.transparent:
            return []
        suite = _SUITE_FORM.fullmatch(text)
        if suite:
            head, part = suite.groups()
            return [head + s for s in CIPHERSUITES if s.startswith(part.upper())]
        service = _SERVICE_FORM.fullmatch(text)
        if service:
            head, part = service.groups()
            return [f'{head}"{s}",' for s in SERVICE_TYPES if s.startswith(part.upper())]
        keyed = _KEY_FORM.fullmatch(text)
        if keyed:
            name, part = keyed.groups()
            keys = KEYS.get(name.upper()[2:], ())
            head = text[: text.index("=") + 1]
            return [f'{head}"{k}",' for k in keys if k.lower().startswith(part.lower())]
        if "=" in text or "?" in text:
            return []
        upper = text.upper()
        return [c for c in COMMANDS if c.startswith(upper)]


def _kind_of(upper: bytes) -> str:
    """What a CONNECT (or prompt) of this command starts."""
    if _SEND_FORM.match(upper):
        return "send"
    if upper.startswith((b"AT+QFUPL", b"AT+QFWRITE", b"AT+QHTTPURL", b"AT+QHTTPPOST")):
        return "upload"  # QHTTPPOSTFILE has no CONNECT: it answers OK at once
    if upper.startswith(b"AT+QHTTPGET=") and upper.count(b",") >= 1:
        return "upload"  # the host's own request
    if re.fullmatch(rb"ATO0?", upper):
        return "transparent"
    args = upper.split(b"=", 1)[1].split(b",") if b"=" in upper else []
    if upper.startswith(b"AT+QSSLOPEN") and len(args) >= 6 and args[5].strip() == b"2":
        return "transparent"
    if upper.startswith(b"AT+QIOPEN") and len(args) >= 7 and args[6].strip() == b"2":
        return "transparent"
    if upper.startswith(b"AT+QISWTMD") and len(args) >= 2 and args[1].strip() == b"2":
        return "transparent"
    return ""


def _data_length(upper: bytes) -> int | None:
    """The byte count a fixed-length data phase takes (QSSLSEND=id,len, QFUPL, QFWRITE)."""
    args = upper.split(b"=", 1)[1].split(b",") if b"=" in upper else []
    if upper.startswith(b"AT+QMTPUB="):  # the length form: a sixth parameter
        return int(args[5]) if len(args) == 6 and args[5].strip().isdigit() else None
    if upper.startswith((b"AT+QHTTPURL=", b"AT+QHTTPPOST=")) and args[0].strip().isdigit():
        return int(args[0])  # the URL's or the body's length
    if not upper.startswith(
        (b"AT+QSSLSEND=", b"AT+QISEND=", b"AT+QFUPL=", b"AT+QFWRITE=", b"AT+QHTTPGET=")
    ):
        return None
    if len(args) >= 2 and args[1].strip().isdigit():
        return int(args[1])
    return 10240 if upper.startswith(b"AT+QFUPL") else None  # QFUPL's default size


def _is_error(line: bytes) -> bool:
    return line in _ERRORS or line.startswith(FINAL_PREFIXES)


# ---- a core on a serial port ---------------------------------------------------------------


class ShellSession:
    """A ``ShellCore`` on an open port: a reader thread feeds it; ``send_line`` writes."""

    def __init__(self, port: serial.SerialBase, core: ShellCore) -> None:
        self.port = port
        self.core = core
        self.changed = threading.Condition()
        self.closed: str | None = None  # why the port stopped working
        self.last_rx = time.monotonic()
        self._last_tx = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._reader, name="bg96-shell", daemon=True)

    def start(self) -> None:
        self.port.timeout = 0.05
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        self.port.close()

    def _reader(self) -> None:
        flushed = True
        while not self._stop.is_set():
            try:
                data = self._read()
            except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
                # pyserial's socket:// raises TypeError/AttributeError once closed under it
                if not self._stop.is_set():
                    self._lost(str(exc) or type(exc).__name__)
                return
            now = time.monotonic()
            with self.changed:
                if data:
                    self.last_rx = now
                    flushed = False
                    self.core.receive(data)
                    self.changed.notify_all()
                elif not flushed and now - self.last_rx >= IDLE_FLUSH:
                    flushed = True
                    self.core.idle()
                    self.changed.notify_all()

    def _read(self) -> bytes:
        """What the port has: waits up to its timeout for a first byte, then takes the
        rest of what is there (socket:// reports 1 byte waiting whenever any is)."""
        data = self.port.read(1)
        while data and len(data) < 65536:
            waiting = int(getattr(self.port, "in_waiting", 0))
            if not waiting:
                break
            data += self.port.read(waiting)
        return data

    def _lost(self, why: str) -> None:
        with self.changed:
            self.closed = why
            self.core.info(f"port closed: {why}")
            self.changed.notify_all()

    def send_line(self, line: str) -> None:
        with self.changed:
            outs = self.core.input_line(line)
        for out in outs:
            if out.guard:
                time.sleep(max(0.0, GUARD - (time.monotonic() - self._last_tx)))
            self.write(out.data)
            if out.guard:
                time.sleep(GUARD)

    def write(self, data: bytes) -> None:
        try:
            self.port.write(data)
            self.port.flush()
        except (serial.SerialException, OSError) as exc:
            self._lost(str(exc))
        self._last_tx = time.monotonic()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait until the command sent last has answered (or prompted); False on timeout."""
        with self.changed:
            limit = self.core.answer_timeout() if timeout is None else timeout
            return self.changed.wait_for(
                lambda: not self.core.busy or self.closed is not None, limit
            )

    def wait_quiet(self, quiet: float = 0.3, limit: float = 5.0) -> None:
        """Wait until no byte has come for ``quiet`` s (at most ``limit`` s)."""
        deadline = time.monotonic() + limit
        while self.closed is None:
            now = time.monotonic()
            if now >= deadline or now - self.last_rx >= quiet:
                return
            time.sleep(0.02)


# ---- the terminal --------------------------------------------------------------------------


class _CtrlZ(Exception):
    """Ctrl-Z pressed: the line typed so far, to be sent with a Ctrl-Z."""

    def __init__(self, typed: str) -> None:
        super().__init__(typed)
        self.typed = typed


class TerminalPrinter:
    """Prints lines from any thread; while a line is being typed it is redrawn below them."""

    def __init__(self, stream: TextIO, rl: ModuleType | None) -> None:
        self.stream = stream
        self.rl = rl
        self.lock = threading.Lock()
        self.reading = False
        self.prompt = ""

    def __call__(self, text: str) -> None:
        with self.lock:
            if self.reading and self.rl is not None:
                typed = self.rl.get_line_buffer()
                self.stream.write(f"\r\x1b[K{text}\n{self.prompt}{typed}")
            else:
                self.stream.write(text + "\n")
            self.stream.flush()


def history_path() -> Path:
    return Path(platformdirs.user_data_dir("bg96")) / "shell_history"


def _setup_readline(core: ShellCore) -> ModuleType | None:
    try:
        import readline
    except ImportError:  # Windows without pyreadline: plain input()
        return None
    path = history_path()
    with contextlib.suppress(OSError):
        readline.read_history_file(path)
    readline.set_history_length(1000)
    matches: list[str] = []

    def completer(text: str, state: int) -> str | None:
        if state == 0:
            matches[:] = core.complete(readline.get_line_buffer()[: readline.get_endidx()])
        return matches[state] if state < len(matches) else None

    readline.set_completer_delims("")  # complete the whole line: keys sit after '=' and '"'
    readline.set_completer(completer)
    if "libedit" in (readline.__doc__ or ""):
        readline.parse_and_bind("bind ^I rl_complete")
    else:
        readline.parse_and_bind("tab: complete")
    return readline


def _save_history(rl: ModuleType) -> None:
    path = history_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        rl.write_history_file(path)
    except OSError:
        pass


def open_port(url: str, baudrate: int) -> serial.SerialBase:
    if url.startswith("loop://"):
        raise ValueError("loop:// echoes what is written: it is not a module")
    return serial.serial_for_url(url, baudrate=baudrate, timeout=0.05)


def run(args: argparse.Namespace) -> int:
    """``bg96 shell URL``: 0 at end of input (Ctrl-D), 1 if the port closed, 3 if it
    cannot be opened, 4 if a command read from a pipe answered ERROR or +CME ERROR."""
    try:
        port = open_port(args.url, args.baudrate)
    except (serial.SerialException, ValueError, OSError) as exc:
        print(f"bg96 shell: cannot open {args.url}: {exc}", file=sys.stderr)
        return EXIT_NO_PORT
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    colour = use_colour(args.color, sys.stdout)
    printer = TerminalPrinter(sys.stdout, None)
    core = ShellCore(printer, colour=colour, raw=args.raw)
    rl = _setup_readline(core) if interactive else None
    printer.rl = rl
    session = ShellSession(port, core)
    session.start()
    old_tstp = None
    restore_tty: Callable[[], None] | None = None
    if interactive:
        core.info(f"bg96 shell on {args.url}: Tab completes, ^Z sends Ctrl-Z, Ctrl-D exits")
        prepared = _terminal_for_readline(rl)
        ctrl_z_key = False
        if prepared is not None:
            restore_tty, ctrl_z_key = prepared
        if rl is not None and not ctrl_z_key and hasattr(signal, "SIGTSTP"):

            def on_ctrl_z(signum: int, frame: FrameType | None) -> None:
                raise _CtrlZ(rl.get_line_buffer() if printer.reading else "")

            old_tstp = signal.signal(signal.SIGTSTP, on_ctrl_z)
    try:
        return _loop(session, printer, rl, interactive)
    finally:
        if old_tstp is not None:
            signal.signal(signal.SIGTSTP, old_tstp)
        if restore_tty is not None:
            restore_tty()
        if rl is not None:
            _save_history(rl)
        session.close()


def _terminal_for_readline(rl: ModuleType | None) -> tuple[Callable[[], None], bool] | None:
    """Turn the terminal's canonical mode off for the whole session, not only while readline
    reads a line, and make Ctrl-Z a key: returns what restores the terminal, and whether
    Ctrl-Z is a key now; None without readline or termios.

    Keys typed while a command runs (or a URC is printed) then wait for readline as they
    are: a canonical terminal takes a Ctrl-D for its own end of file and hands readline a NUL
    byte once readline switches modes, so the shell would not exit. Echo stays on: readline
    shows what is typed only on a terminal that echoes. With GNU readline the suspend
    character is off and Ctrl-Z types ``^Z`` and ends the line (the line so far is sent with
    a Ctrl-Z, no signal involved); elsewhere a SIGTSTP handler does that job."""
    if rl is None:
        return None
    try:
        import termios
    except ImportError:  # not a POSIX terminal
        return None
    gnu = "libedit" not in (rl.__doc__ or "")
    try:
        fd = sys.stdin.fileno()
        saved = termios.tcgetattr(fd)
        changed = termios.tcgetattr(fd)
        changed[3] &= ~termios.ICANON
        changed[6][termios.VMIN] = 1
        changed[6][termios.VTIME] = 0
        if gnu:
            changed[6][termios.VSUSP] = b"\x00"  # _POSIX_VDISABLE on Linux and the BSDs
        termios.tcsetattr(fd, termios.TCSANOW, changed)
    except (OSError, termios.error, ValueError):
        return None
    if gnu:
        rl.parse_and_bind(r'"\C-z": "^Z\n"')

    def restore() -> None:
        with contextlib.suppress(OSError, termios.error):
            termios.tcsetattr(fd, termios.TCSANOW, saved)

    return restore, gnu


def _loop(
    session: ShellSession, printer: TerminalPrinter, rl: ModuleType | None, interactive: bool
) -> int:
    core = session.core
    while session.closed is None:
        try:
            line = _read_line(printer, core, interactive)
            if line is None:
                break
            if rl is not None and (core.data_mode or core.transparent):
                n = rl.get_current_history_length()
                if n and line:
                    rl.remove_history_item(n - 1)  # data is not worth recalling
            session.send_line(line)
            session.wait_ready()
        except KeyboardInterrupt:
            printer("")  # Ctrl-C: drop the line (or stop waiting), keep the shell
        except _CtrlZ as exc:
            printer.reading = False
            printer("^Z")
            try:
                session.send_line(exc.typed + "^Z")
                session.wait_ready()
            except (KeyboardInterrupt, _CtrlZ):
                printer("")
    if session.closed is not None:
        return EXIT_PORT_CLOSED
    if not interactive:
        session.wait_ready()
        session.wait_quiet()
        if core.failures:
            return EXIT_COMMAND_FAILED
    return 0


def _read_line(printer: TerminalPrinter, core: ShellCore, interactive: bool) -> str | None:
    """The next typed line, or None at end of input."""
    prompt = core.prompt
    printer.prompt = prompt
    if not interactive:
        text = sys.stdin.readline()
        if not text:
            return None
        line = text.rstrip("\r\n")
        printer(core.style("prompt", prompt) + line)
        return line
    printer.reading = True
    try:
        return input(prompt)
    except EOFError:
        printer.reading = False
        printer("")
        return None
    finally:
        printer.reading = False
