"""The host side's sans-IO parser: module bytes in, responses, prompts, URCs and data out.

It knows the BG96's framing: ``\\r\\n``-framed lines, final result codes, ``+CME ERROR``,
the ``> `` prompt, length-prefixed binary blocks (``+QSSLRECV: <n>``, ``+QIRD: <n>`` and a
UDP service's ``+QIRD: <n>,"<ip>",<port>``, push-mode ``+QSSLURC: "recv",<id>,<n>`` and
``+QIURC: "recv",<id>,<n>[,"<ip>",<port>]``), ``CONNECT`` data phases, and URCs that may
arrive at any time, also in the middle of a response. Bytes may be split anywhere.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from enum import Enum

# The HTTP client's results: URCs whenever they come (after the write or execution form)
HTTP_RESULTS = (
    b"+QHTTPGET:",
    b"+QHTTPPOST:",
    b"+QHTTPPOSTFILE:",
    b"+QHTTPREAD:",
    b"+QHTTPREADFILE:",
)
FINALS = (b"OK", b"ERROR", b"SEND OK", b"SEND FAIL", b"NO CARRIER", b"NO DIALTONE", b"BUSY")
FINAL_PREFIXES = (b"+CME ERROR:", b"+CMS ERROR:")
# the MQTT commands' results: each write form answers OK, then one of these later
MQTT_URCS = (
    b"+QMTOPEN:",
    b"+QMTCLOSE:",
    b"+QMTCONN:",
    b"+QMTDISC:",
    b"+QMTSUB:",
    b"+QMTUNS:",
    b"+QMTPUB:",
    b"+QMTSTAT:",
    b"+QMTRECV:",
)
URC_PREFIXES = (
    b"+QSSLURC:",
    b"+QIURC:",
    b"+QSSLOPEN:",
    b"+QIOPEN:",
    b"+CFUN:",
    b"+CPIN:",
    b"+QUSIM:",
    b"+QIND:",
    b"+CREG:",
    b"+CGREG:",
    b"+CEREG:",
    b"+CTZV:",
    b"+CTZE:",
    b"+QPING:",
    b"+QNTP:",
    *HTTP_RESULTS,
    *MQTT_URCS,
)
URC_WORDS = (b"RDY", b"APP RDY", b"POWERED DOWN")
# Lines of these prefixes are URCs after the write form (``AT+QIOPEN=1,0,...``: the open's
# result, ``AT+QPING=1,"host"``: the echoes, ``AT+QNTP=...``: the time), which may come
# while another command runs; they answer only the test and read forms.
URC_AFTER_WRITE = (b"+QSSLOPEN:", b"+QIOPEN:", b"+QPING:", b"+QNTP:", *MQTT_URCS)
MAX_LINE = 8192  # no BG96 line is longer: a module sending garbage without LF cannot grow us
# Binary blocks (+QSSLRECV and push URCs) are 1500 bytes at most on a BG96; a longer one
# announced is garbage, and reading it as a block would swallow everything after it.
MAX_BLOCK = 65536
# a block length has at most 9 digits: more is garbage (and int() refuses over 4300 of them)
_PUSH = re.compile(rb'\+Q(?:SSL|I)URC: "recv",(\d+),(\d{1,9})(?:,"[^"]*",\d{1,5})?\Z')
_RECV = re.compile(rb'\+Q(?:SSLRECV|IRD): (\d{1,9})(?:,"[^"]*",\d{1,5})?\Z')
_NAME = re.compile(rb"([+&$%^][A-Za-z0-9_]+)")
# +QMTRECV: <id>,<msgID>,"<topic>", then the payload: <len>,"<bytes>" ("recv/mode" with the
# length) or "<bytes>" (ended by the first quote, CR, LF: the module does not escape them)
_QMTRECV = re.compile(rb'\+QMTRECV: (\d{1,2}),(\d{1,9}),"([^"\r\n]*)",(?:(\d{1,9}),)?"')
QMTRECV = b"+QMTRECV:"
_READ_END = b"\r\nOK\r\n\r\n+"  # the final OK, and a URC (+QHTTPREAD: 0) after it
_READ_ERROR = re.compile(rb"\r\n(\+CME ERROR: [^\r\n]{1,40})\r\n")


class DataPhase(Enum):
    """What follows a ``CONNECT`` for the command under way."""

    UPLOAD = "upload"  # the host sends (QFUPL): the module answers afterwards
    DOWNLOAD = "download"  # a known number of raw bytes, then the response (QFDWL)
    TRANSPARENT = "transparent"  # everything is connection data from here on
    HTTP_READ = "http read"  # an HTTP response of unknown length, then OK or +CME ERROR


@dataclass(frozen=True)
class Response:
    """A command's whole answer: information lines (binary blocks as items) and its final code."""

    command: bytes
    lines: tuple[bytes, ...]
    final: bytes

    @property
    def ok(self) -> bool:
        return self.final in (b"OK", b"SEND OK", b"CONNECT")

    def raw(self) -> bytes:
        return b"\r\n".join((*self.lines, self.final))


@dataclass(frozen=True)
class Urc:
    """An unsolicited result code; ``data`` holds a push-mode payload."""

    line: bytes
    data: bytes = b""

    @property
    def name(self) -> bytes:
        return self.line.split(b":", 1)[0]


@dataclass(frozen=True)
class Prompt:
    """The ``> `` of QSSLSEND or QISEND: the module waits for the data."""


@dataclass(frozen=True)
class Connect:
    """``CONNECT``: a data phase starts (upload, download or transparent mode)."""


@dataclass(frozen=True)
class Data:
    """Raw bytes of a data phase (a QFDWL file, transparent-mode traffic)."""

    data: bytes


Event = Response | Urc | Prompt | Connect | Data


@dataclass
class _Pending:
    command: bytes
    prefix: bytes  # this command's own information lines start with it (``+CPIN:``)
    phase: DataPhase | None
    download: int
    payload: bytes = b""  # what the host writes after the ``> `` prompt (ATE1 echoes it)
    echoed: bool = False  # the module echoed the command line: echo is on
    lines: list[bytes] = field(default_factory=list)


def response_prefix(command: bytes) -> bytes:
    """``AT+CPIN?`` -> ``+CPIN:``: lines with it answer the command even if URC-like."""
    body = command[2:] if command[:2].upper() == b"AT" else command
    m = _NAME.match(body)
    return m.group(1).upper() + b":" if m else b"\x00"


class DteParser:
    """Feed module bytes with ``feed``; take events with ``events``."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._events: deque[Event] = deque()
        self._pending: _Pending | None = None
        self._raw_left = 0  # bytes of a binary block still to read
        self._raw = bytearray()
        self._raw_for: bytes | None = None  # the line that announced the block
        self._transparent = False
        self._http_read: int | None = None  # AT+QHTTPREAD's output: body bytes expected
        self._scanned = 0  # bytes of it searched for its end already
        self._echo_left = b""  # payload bytes whose echo may still come (ATE1 after ``> ``)
        self.prompt_expected = False

    # ---- what the host is doing ------------------------------------------------------

    def begin(
        self,
        command: bytes,
        *,
        phase: DataPhase | None = None,
        download: int = 0,
        payload: bytes = b"",
    ) -> None:
        """The host sent ``command``: its answer (and echo) come next.

        ``payload`` is what the host will write after a QSSLSEND or QISEND ``> `` prompt: with
        echo on (ATE1) the module echoes it, and those bytes are not lines of the answer.
        """
        line = command.rstrip(b"\r\n")
        prefix = response_prefix(line)
        after_write = prefix in URC_AFTER_WRITE and b"=" in line
        if (after_write or prefix in HTTP_RESULTS) and not line.endswith(b"=?"):
            prefix = b"\x00"
        self._pending = _Pending(line, prefix, phase, download, payload)
        self._echo_left = b""
        name = line[:11].upper()
        self.prompt_expected = (
            name == b"AT+QSSLSEND"
            or (name[:9] == b"AT+QISEND" and name[9:10] != b"E")  # AT+QISENDEX has no prompt
            or (name[:9] == b"AT+QMTPUB" and name[9:10] == b"=")
        )

    def leave_transparent(self) -> None:
        """The host left transparent mode (+++, DTR): lines again from here on."""
        self._transparent = False

    @property
    def block_received(self) -> int:
        """Bytes of the binary block being read so far (a QFDWL file, a QSSLRECV or QIRD
        payload)."""
        return len(self._raw) if self._raw_left or self._http_read is not None else 0

    @property
    def transparent(self) -> bool:
        return self._transparent

    @property
    def unparsed(self) -> bytes:
        """Bytes received that make no event yet (a partial line): what a timeout shows."""
        return bytes(self._buf)

    @property
    def busy(self) -> bool:
        """A command is under way."""
        return self._pending is not None

    # ---- bytes in, events out --------------------------------------------------------

    def feed(self, data: bytes) -> None:
        if self._transparent:
            self._events.append(Data(bytes(data)))
            return
        self._buf += data
        self._parse()

    def events(self) -> list[Event]:
        out = list(self._events)
        self._events.clear()
        return out

    def _parse(self) -> None:
        buf = self._buf
        while buf:
            if self._transparent:
                self._events.append(Data(bytes(buf)))
                buf.clear()
                return
            if self._http_read is not None:
                if not self._http_body():
                    return
                continue
            if self._raw_left:
                take = min(self._raw_left, len(buf))
                self._raw += buf[:take]
                del buf[:take]
                self._raw_left -= take
                if self._raw_left == 0:
                    self._block_done()
                continue
            if self._echo_left:
                self._skip_payload_echo()
                continue
            if self.prompt_expected and (buf.startswith(b"> ") or buf.startswith(b"\r\n> ")):
                del buf[: 2 if buf[0] == ord(">") else 4]
                self._prompt()
                continue
            if buf.startswith(QMTRECV):
                taken = self._qmtrecv()
                if taken is None:
                    return  # its payload is not all in yet
                if taken:
                    continue
            end = buf.find(b"\n")
            if end < 0:
                if len(buf) > MAX_LINE:  # garbage without line ends: report it as a line
                    line = bytes(buf[:MAX_LINE])
                    del buf[:MAX_LINE]
                    self._line(line)
                    continue
                return
            line = bytes(buf[:end]).rstrip(b"\r")
            del buf[: end + 1]
            if line:
                self._line(line)

    def _qmtrecv(self) -> bool | None:
        """A +QMTRECV URC, whose payload may hold any byte: True when it was taken whole (a
        ``Urc`` with the head as its line and the payload as its data), None when its payload
        is not all in yet, False when its head is not (or not of that form: a plain line)."""
        buf = self._buf
        m = _QMTRECV.match(buf)
        if m is None:
            return False  # incomplete (no LF yet: wait) or another form (a line)
        start = m.end()
        if m.group(4) is not None:
            size = int(m.group(4))
            end = start + size
            if size > MAX_BLOCK or (len(buf) >= end + 3 and buf[end : end + 3] != b'"\r\n'):
                return False
            if len(buf) < end + 3:
                return None
        else:
            found = buf.find(b'"\r\n', start)
            if found < 0:
                if len(buf) - start > MAX_BLOCK:
                    return False
                return None
            end = found
        head = bytes(buf[: m.end() - 1]).rstrip(b",")
        payload = bytes(buf[start:end])
        del buf[: end + 3]
        self._events.append(Urc(head, payload))
        return True

    def _http_body(self) -> bool:
        """AT+QHTTPREAD's output: raw bytes up to ``\r\nOK\r\n`` (right after the length
        announced, when it is known (``download``); else where a URC follows it, its
        ``+QHTTPREAD:``), or up to a ``+CME ERROR`` line; True when it ended (the rest of
        the buffer is lines again)."""
        raw, buf = self._raw, self._buf
        raw += buf
        buf.clear()
        expect = self._http_read or 0
        start = max(0, self._scanned - 64)  # an end may have begun in the bytes before
        error = _READ_ERROR.search(raw, start)
        if expect:
            ok = b"\r\nOK\r\n"
            done = expect if raw[expect : expect + len(ok)] == ok else -1
        else:
            done = raw.find(_READ_END, start)
        ends = [(m, kind) for m, kind in ((done, "ok"), (error.start() if error else -1, "cme"))]
        found = sorted((at, kind) for at, kind in ends if at >= 0)
        if not found:
            self._scanned = len(raw)
            return False
        at, kind = found[0]
        pending = self._pending
        body = bytes(raw[:at])
        if kind == "ok":
            final, rest = b"OK", raw[at + len(b"\r\nOK\r\n") :]
        else:
            assert error is not None
            final, rest = error.group(1), raw[error.end() :]
        self._http_read = None
        self._scanned = 0
        self._raw = bytearray()
        buf += rest
        if pending is not None:
            pending.lines.append(body)
            self._finish(final)
        return True

    def _prompt(self) -> None:
        self.prompt_expected = False
        self._events.append(Prompt())
        pending = self._pending
        if pending is not None and pending.echoed:
            self._echo_left = pending.payload

    def _skip_payload_echo(self) -> None:
        """Drop the echo of the payload: the bytes that match it, up to the first that does not
        (a variable-length send's Ctrl-Z is not echoed; a module may not echo at all)."""
        buf, expect = self._buf, self._echo_left
        n = 0
        limit = min(len(buf), len(expect))
        while n < limit and buf[n] == expect[n]:
            n += 1
        del buf[:n]
        self._echo_left = b"" if n < limit or n == len(expect) else expect[n:]

    def _line(self, line: bytes) -> None:
        pending = self._pending
        if pending is not None and line == pending.command and not pending.echoed:
            pending.echoed = True
            return  # the echo
        push = _PUSH.match(line)
        if push and int(push.group(2)) <= MAX_BLOCK:
            self._start_block(line, int(push.group(2)))
            return
        if pending is not None:
            if line in FINALS or line.startswith(FINAL_PREFIXES):
                self._finish(line)
                return
            if line == b"CONNECT" or line.startswith(b"CONNECT "):
                self._connect(pending)
                return
            if line.startswith(pending.prefix):
                recv = _RECV.match(line)
                pending.lines.append(line)
                if recv and 0 < int(recv.group(1)) <= MAX_BLOCK:
                    self._start_block(None, int(recv.group(1)))
                return
        if line.startswith(URC_PREFIXES) or line in URC_WORDS:
            self._events.append(Urc(line))
            return
        if pending is not None:
            pending.lines.append(line)
        else:
            self._events.append(Urc(line))  # unexpected text: report it rather than lose it

    def _start_block(self, announced_by: bytes | None, size: int) -> None:
        self._raw_for = announced_by
        self._raw_left = size
        self._raw = bytearray()
        if size == 0:
            self._block_done()

    def _block_done(self) -> None:
        data = bytes(self._raw)
        self._raw = bytearray()
        if self._raw_for is not None:
            self._events.append(Urc(self._raw_for, data))
        elif self._pending is not None:
            self._pending.lines.append(data)
        self._raw_for = None

    def _connect(self, pending: _Pending) -> None:
        self._events.append(Connect())
        if pending.phase is DataPhase.TRANSPARENT:
            self._pending = None
            self._transparent = True
        elif pending.phase is DataPhase.DOWNLOAD:
            self._start_block(None, pending.download)
        elif pending.phase is DataPhase.HTTP_READ:
            self._http_read = pending.download
            self._raw = bytearray()
            self._scanned = 0

    def _finish(self, final: bytes) -> None:
        pending = self._pending
        assert pending is not None
        self._pending = None
        self.prompt_expected = False
        self._echo_left = b""
        self._events.append(Response(pending.command, tuple(pending.lines), final))
