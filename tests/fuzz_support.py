"""The fuzz campaign's machinery: grammars, a model of the runner, the engine harness, bounds.

Everything draws from a ``random.Random``: seeded from the long run's seed and session, or
from a seed hypothesis draws in the short run; hypothesis also draws lists of actions, each
with its own seed, and shrinks a failing list to the fewest actions. The engine harness
records every input it gives as a ``Step``, so a failure prints a transcript that ``replay``
feeds to a fresh engine, without the generator.

- ``command_line``: AT command lines built from ``registry.COMMANDS`` and the manuals' ranges,
  then mutated (out of range, wrong type, quoting, arity, huge numbers, odd bytes, length).
- ``RunnerModel``: what ``module/runner.py`` answers to the engine's intents, as plausible
  network events (a ``Connect`` gets ``TcpConnected`` then ``Connected`` or ``ConnectFailed``,
  a ``Send`` gets ``Sent``, network faults act) plus late events of earlier connections.
- ``Harness``: one engine on a virtual clock; ``run_sequence`` drives it with host bytes,
  data phases, transparent data and ``+++``, events, time, DTR, disconnects and faults;
  ``resync`` brings it back to ``AT`` / ``OK``; ``check_bounded`` holds every bound.
- ``module_output``, ``fault_line``, ``control_line``: inputs for the other three parsers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import random
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bg96 import VirtualModule
from bg96.engine import (
    Close,
    Closed,
    Connect,
    Connected,
    ConnectFailed,
    Engine,
    Intent,
    MemoryStore,
    ModuleConfig,
    NetEvent,
    NetFault,
    Note,
    PeerClosed,
    Received,
    Resolve,
    Resolved,
    Send,
    Sent,
    SetReading,
    TcpConnected,
)
from bg96.engine.core import OUT_HIGH
from bg96.engine.faults import (
    FAULT_TYPES,
    OPEN_LEAK_CYCLES,
    TLS_ALERTS,
    AfterBytes,
    At,
    DnsFailure,
    Fault,
    FaultError,
    HandshakeTimeout,
    OnCommand,
    OpenLeak,
    PdpDeactivate,
    Reboot,
    RegistrationLost,
    RegistrationRecover,
    SendBufferFull,
    ServerFin,
    ServerReset,
    ServerStall,
    TlsAlert,
    Trigger,
    UrcInterleave,
)
from bg96.engine.registry import COMMANDS
from bg96.engine.state import Mode
from bg96.engine.urcs import MAX_URCS
from bg96.host.parser import MAX_BLOCK, MAX_LINE, DataPhase, DteParser, Response

CTRL_Z = b"\x1a"
ESC = b"\x1b"
GUARD = 1.0  # s of silence around +++ (transparent.GUARD)

# ---- AT command lines from the command table ---------------------------------------------

HOSTS = (
    "127.0.0.1",
    "220.180.239.201",
    "10.7.0.1",
    "echo.bg96.test",
    "example.com",
    "::1",
    "localhost",
    "a" * 255,
    "a" * 256,
    "h\u00e9st",
    "",
)
FILES = ("ca.pem", "UFS:ca.pem", "cert.pem", "key.pem", "a.txt", "x" * 80, "x" * 81)
BAD_FILES = ("", "../ca.pem", "d/ca.pem", ".hidden", " sp", "a*b", "UFS:", "RAM:x")
APNS = ("", "internet", "iot.example", "a" * 100, "a" * 101)
IPS = ("8.8.8.8", "1.1.1.1", "::1", "256.0.0.1", "dns", "")
CLOCKS = (
    "24/05/06,12:34:56+08",
    "80/01/01,00:00:00+00",
    "99/12/31,23:59:59-48",
    "23/02/31,00:00:00+00",
    "24/13/01,00:00:00+00",
    "24/05/06,24:00:00+00",
    "24/05/06,12:34:56+57",
    "24/05/06,12:34:56",
    "garbage",
)
SSLCFG_KEYS = {
    "sslversion": (0, 4),
    "seclevel": (0, 2),
    "secllevel": (0, 2),
    "ignorelocaltime": (0, 1),
    "negotiatetime": (10, 300),
    "sni": (0, 1),
}
SSLCFG_FILE_KEYS = ("cacert", "clientcert", "clientkey")
SSLCFG_BAD_KEYS = ("ignoreltime", "negotiate_time", "ciphersuites", "sslversio", "", "x" * 33)
SUITES = ("0X0035", "0X002F", "0XC02F", "0XFFFF", "0x0035", "0X1234", '"0X0035"', "0X", "0XZZ")
QICFG = {
    "transpktsize": ((1, 1460),),
    "transwaittm": ((0, 20),),
    "viewmode": ((0, 1),),
    "dataformat": ((0, 1), (0, 1)),
    "tcp/retranscfg": ((3, 20), (5, 1000)),
}
IPR_RATES = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)
# names that are not commands of this module: manual typos, other vendors', plain sockets
UNKNOWN = ("+QSSSEND", "+QSSLRCV", "+CSSLCFG", "+QIOPEN", "+QISEND", "+QIRD", "+FOO", "$QCPDPP")
# S3/S5 values the generator never writes: resync needs A, T, F (either case) and & to type
# AT&F whatever the host made the line end and backspace characters
RESYNC_CHARS = frozenset(b"AaTtFf&")
ODD_BYTES = b'\x00\x01\x07\x08\t\n\r\x1a\x1b\x7f\x80\xfe\xff",;?= '


@dataclass
class Context:
    """What the generator may aim at: client IDs in use, files uploaded."""

    client_ids: list[int] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, engine: Engine) -> Context:
        return cls(sorted(engine.sockets), engine.store.names())


class Value:
    """A parameter the manual describes; ``valid`` draws one in range, ``mutate`` one not."""

    def valid(self, rng: random.Random, ctx: Context) -> bytes:
        raise NotImplementedError

    def mutate(self, rng: random.Random, ctx: Context) -> bytes:
        return mutation(rng, self.valid(rng, ctx))


@dataclass(frozen=True)
class Num(Value):
    lo: int
    hi: int
    common: tuple[int, ...] = ()

    def valid(self, rng: random.Random, ctx: Context) -> bytes:
        r = rng.random()
        if self.common and r < 0.5:
            return str(rng.choice(self.common)).encode()
        if r < 0.65:
            return str(rng.choice((self.lo, self.hi))).encode()
        return str(rng.randint(self.lo, self.hi)).encode()

    def mutate(self, rng: random.Random, ctx: Context) -> bytes:
        if rng.random() < 0.4:
            return str(rng.choice((self.lo - 1, self.hi + 1, -1, 2**31, 2**32, 2**63))).encode()
        return super().mutate(rng, ctx)


@dataclass(frozen=True)
class ClientId(Value):
    def valid(self, rng: random.Random, ctx: Context) -> bytes:
        if ctx.client_ids and rng.random() < 0.7:
            return str(rng.choice(ctx.client_ids)).encode()
        return str(rng.choice((0, 1, 4, 11, rng.randint(0, 11)))).encode()


@dataclass(frozen=True)
class Choice(Value):
    values: tuple[int, ...]

    def valid(self, rng: random.Random, ctx: Context) -> bytes:
        return str(rng.choice(self.values)).encode()


@dataclass(frozen=True)
class Str(Value):
    """A quoted string from ``options`` (and a few that are always wrong)."""

    options: tuple[str, ...]
    files: bool = False

    def valid(self, rng: random.Random, ctx: Context) -> bytes:
        pool = list(self.options)
        if self.files and ctx.files and rng.random() < 0.5:
            pool = ctx.files
        text = rng.choice(pool)
        if rng.random() < 0.1:  # one of many: names and keys a host may make up
            text = text[: rng.randint(0, len(text))] + str(rng.randrange(1000)) + text[-3:]
        return b'"' + text.encode("utf-8") + b'"'


@dataclass(frozen=True)
class Raw(Value):
    """Text as it is (a hex cipher suite)."""

    options: tuple[str, ...]

    def valid(self, rng: random.Random, ctx: Context) -> bytes:
        return rng.choice(self.options).encode()


def mutation(rng: random.Random, text: bytes) -> bytes:
    """``text`` made wrong in one of the ways host drivers and line noise make it wrong."""
    r = rng.randrange(14)
    if r == 0:
        return b""  # omitted
    if r == 1:
        return b'"' + text.strip(b'"') + b'"'  # quoted
    if r == 2:
        return text.strip(b'"')  # unquoted
    if r == 3:
        return b"9" * rng.choice((10, 20, 100, 1000, 1100, 5000))  # huge (int() refuses 4300)
    if r == 4:
        return rng.choice((b"-1", b"+1", b"0x1F", b"1.5", b"1e3", b" 1", b"01", b"0" * 30 + b"1"))
    if r == 5:  # an odd byte somewhere
        i = rng.randint(0, len(text))
        return text[:i] + bytes([rng.choice(ODD_BYTES)]) + text[i:]
    if r == 6:
        return b'"' + b"A" * rng.choice((255, 256, 1024, 1100, 3000)) + b'"'
    if r == 7:
        return bytes(rng.randrange(256) for _ in range(rng.randint(1, 12)))
    if r == 8:
        return text + b"," + text  # one parameter becomes two
    if r == 9:
        return b'"' + text.strip(b'"')  # unterminated string
    if r == 10:
        return text.upper() if rng.random() < 0.5 else text.lower()
    if r == 11:
        return b" " + text + b" "
    if r == 12:
        return text.replace(b'"', b"")[: rng.randint(0, len(text))]
    return rng.choice((b"\x00", b"\xff", b"\xc3\xa9", b"\r", b"\n", b";", b",", b"?", b"=?"))


def _qicfg_forms() -> list[list[Value]]:
    forms: list[list[Value]] = []
    for key, ranges in QICFG.items():
        forms.append([Str((key,))])
        forms.append([Str((key,)), *(Num(lo, hi) for lo, hi in ranges)])
    forms.append([Str(("transpktsize",)), Num(1, 1460, (1, 2, 3, 1460))])
    forms.append([Str(("transwaittm",)), Num(0, 20, (0, 1))])
    forms.append([Str(("nokey",)), Num(0, 1)])
    return forms


def _qsslcfg_forms() -> list[list[Value]]:
    ctx = Num(0, 5, (1,))
    forms: list[list[Value]] = []
    for key, (lo, hi) in SSLCFG_KEYS.items():
        forms.append([Str((key,)), ctx])
        forms.append([Str((key,)), ctx, Num(lo, hi)])
    for key in SSLCFG_FILE_KEYS:
        forms.append([Str((key,)), ctx, Str(FILES, files=True)])
    forms.append([Str(("ciphersuite",)), ctx, Raw(SUITES)])
    forms.append([Str(("checkhost",)), ctx, Num(0, 1)])
    forms.append([Str(("checkhost",)), ctx, Str(HOSTS)])
    forms.append([Str(SSLCFG_BAD_KEYS), ctx, Num(0, 5)])
    return forms


# the write form's parameter lists, per command, in the manuals' ranges
WRITE_FORMS: dict[str, list[list[Value]]] = {
    "+CMEE": [[Choice((0, 1, 2))]],
    "+CTZR": [[Choice((0, 1, 2))]],
    "+CTZU": [[Choice((0, 1))]],
    "+CPIN": [[Str(("1234",))]],
    "+CREG": [[Choice((0, 1, 2))]],
    "+CGREG": [[Choice((0, 1, 2, 4))]],
    "+CEREG": [[Choice((0, 1, 2, 4))]],
    "+COPS": [
        [Num(0, 4)],
        [Num(0, 4), Num(0, 2), Str(("BG96 Virtual", "00101"))],
        [Num(0, 4), Num(0, 2), Str(("00101",)), Num(0, 9)],
    ],
    "+CFUN": [[Choice((0, 1, 4))], [Choice((0, 1, 4)), Num(0, 1)]],
    "+CCLK": [[Str(CLOCKS)]],
    "+IPR": [[Choice(IPR_RATES)]],
    "+QURCCFG": [
        [Str(("urcport",))],
        [Str(("urcport",)), Str(("usbat", "usbmodem", "uart1", "uart2"))],
    ],
    "+CGATT": [[Choice((0, 1))]],
    "+QICSGP": [
        [Num(1, 16, (1,))],
        [Num(1, 16, (1,)), Num(1, 2), Str(APNS)],
        [Num(1, 16, (1,)), Num(1, 2), Str(APNS), Str(("user",))],
        [Num(1, 16, (1,)), Num(1, 2), Str(APNS), Str(("user",)), Str(("pass",)), Num(0, 3)],
    ],
    "+QIACT": [[Num(1, 16, (1, 1, 2))]],
    "+QIDEACT": [[Num(1, 16, (1,))]],
    "+QIDNSCFG": [
        [Num(1, 16, (1,))],
        [Num(1, 16, (1,)), Str(IPS)],
        [Num(1, 16, (1,)), Str(IPS), Str(IPS)],
    ],
    "+CGPADDR": [[Num(1, 16, (1,))]],
    "+QIDNSGIP": [[Num(1, 16, (1,)), Str(HOSTS)]],
    "+QICFG": _qicfg_forms(),
    "+QSSLCFG": _qsslcfg_forms(),
    "+QSSLOPEN": [
        [Num(1, 16, (1,)), Num(0, 5, (1,)), ClientId(), Str(HOSTS), Num(1, 65535, (443,))],
        [
            Num(1, 16, (1,)),
            Num(0, 5, (1,)),
            ClientId(),
            Str(HOSTS),
            Num(1, 65535, (443,)),
            Num(0, 2),
        ],
    ],
    "+QSSLSEND": [[ClientId()], [ClientId(), Num(1, 1500, (1, 5, 100, 1460))]],
    "+QSSLRECV": [[ClientId(), Num(0, 1500, (1500, 100, 1))]],
    "+QSSLCLOSE": [[ClientId()], [ClientId(), Num(0, 65535, (0, 1, 10))]],
    "+QSSLSTATE": [[ClientId()], [Num(0, 1), Num(0, 16)]],
    "+QISWTMD": [[ClientId(), Num(0, 2)]],
    "+QFLDS": [[Str(("UFS", "ufs", "RAM"))]],
    "+QFLST": [[Str(("*", "UFS:*", "*.pem", "ca.pem", "[a-", ""))]],
    "+QFDEL": [[Str((*FILES, *BAD_FILES, "*", "UFS:*"), files=True)]],
    "+QFUPL": [
        [Str((*FILES, *BAD_FILES), files=True)],
        [Str(FILES, files=True), Num(1, 4096, (1, 5, 1024, 2048))],
        [Str(FILES, files=True), Num(1, 4096, (1, 5, 1024)), Num(1, 65535, (1, 2, 5))],
        [
            Str(FILES, files=True),
            Num(1, 4096, (1024, 2048, 3000)),
            Num(1, 65535, (1, 5)),
            Num(0, 1),
        ],
    ],
    "+QFDWL": [[Str((*FILES, *BAD_FILES), files=True)]],
}
BASIC = ("E", "V", "Q", "X", "I", "O", "Z", "&C", "&D", "&F", "&W", "&V")
S_REGISTERS = tuple(name for name in COMMANDS if name.startswith("S"))
EXTENDED = tuple(name for name in COMMANDS if name[0] in "+$%^")


def _s_value(rng: random.Random) -> bytes:
    value = rng.choice((0, 1, 10, 13, 8, 26, 27, 43, 59, 127, rng.randrange(128)))
    if value in RESYNC_CHARS:
        value = 13
    return str(value).encode()


def basic_command(rng: random.Random) -> bytes:
    r = rng.random()
    if r < 0.15:
        name = rng.choice(S_REGISTERS).encode()
        form = rng.randrange(4)
        if form == 0:
            return name + b"?"
        if form == 1:
            return name + b"=?"
        if form == 2:
            return name + b"=" + _s_value(rng)
        return name + b"=" + rng.choice((b"", b"128", b"999", b"x", b"9" * 40))
    if r < 0.2:
        return b"S" + str(rng.choice((1, 2, 9, 11, 99, 255, 1000))).encode() + b"?"
    name = rng.choice(BASIC).encode()
    if name == b"E" and rng.random() < 0.5:
        return b"E0"  # echo off makes the transcripts of the rest differ
    tail = rng.choice((b"", b"0", b"1", b"2", b"4", b"9", b"00", b"11", b"?", b"=?", b"=1"))
    return name + tail


def extended_command(rng: random.Random, ctx: Context) -> bytes:
    if rng.random() < 0.04:
        name = rng.choice(UNKNOWN)
    else:
        name = rng.choice(EXTENDED)
    if rng.random() < 0.05:
        name = name.lower()
    raw = name.encode()
    forms = WRITE_FORMS.get(name.upper())
    r = rng.random()
    if r < 0.1:
        return raw + b"=?"
    if r < 0.2:
        return raw + b"?"
    if r < 0.27 or (forms is None and r < 0.8):
        return raw
    if forms is None:
        return raw + b"=" + mutation(rng, b"1")
    values = rng.choice(forms)
    params = [v.mutate(rng, ctx) if rng.random() < 0.12 else v.valid(rng, ctx) for v in values]
    a = rng.random()
    if a < 0.05 and params:
        params.pop(rng.randrange(len(params)))  # too few
    elif a < 0.1:
        params.append(rng.choice((b"1", b'"x"', b"", b"0")))  # too many
    return raw + b"=" + b",".join(params)


def command_body(rng: random.Random, ctx: Context) -> bytes:
    """The commands after ``AT``: one mostly, a few joined as V.25ter allows."""
    parts = [
        basic_command(rng) if rng.random() < 0.3 else extended_command(rng, ctx)
        for _ in range(1 if rng.random() < 0.8 else rng.randint(2, 4))
    ]
    out = b""
    for part in parts:
        if out and (part[:1] in b"+$%^" or rng.random() < 0.5):
            out += b";"
        out += part
    return out


def useful_line(rng: random.Random, ctx: Context) -> bytes:
    """A well-formed line of the kind that moves connections along."""
    cid = rng.choice(ctx.client_ids) if ctx.client_ids and rng.random() < 0.8 else rng.randrange(12)
    choices = (
        b"AT+QIACT=1",
        b"AT+QIACT=1",
        b'AT+QSSLOPEN=1,1,%d,"%s",443,%d'
        % (cid, rng.choice((b"127.0.0.1", b"echo.bg96.test")), rng.choice((0, 0, 1, 2))),
        b"AT+QSSLSEND=%d,%d" % (cid, rng.choice((1, 5, 100, 1460, 1500))),
        b"AT+QSSLSEND=%d" % cid,
        b"AT+QSSLRECV=%d,%d" % (cid, rng.choice((0, 1, 100, 1500))),
        b"AT+QSSLCLOSE=%d,%d" % (cid, rng.choice((0, 1, 10))),
        b"AT+QSSLSTATE",
        b"AT+QISWTMD=%d,%d" % (cid, rng.randrange(3)),
        b"ATO",
        b"AT+QIGETERROR",
        b'AT+QFUPL="%s",%d,%d,%d'
        % (
            rng.choice((b"ca.pem", b"a.txt")),
            rng.choice((1, 10, 1024, 2048)),
            rng.choice((1, 5)),
            rng.randrange(2),
        ),
        b'AT+QFDWL="%s"' % rng.choice((b"ca.pem", b"a.txt")),
        b'AT+QICFG="transpktsize",%d' % rng.choice((1, 10, 1460)),
        b'AT+QICFG="transwaittm",%d' % rng.choice((0, 1, 20)),
        b'AT+QIDNSGIP=1,"%s"' % rng.choice((b"example.com", b"127.0.0.1")),
    )
    return rng.choice(choices)


def command_line(rng: random.Random, ctx: Context) -> bytes:
    """One command line without its terminator: a prefix, then the commands."""
    if rng.random() < 0.3:
        return useful_line(rng, ctx)
    prefix = rng.choice((b"AT", b"AT", b"AT", b"at", b"At", b"aT"))
    r = rng.random()
    if r < 0.05:
        prefix = rng.choice((b"\x1a", b"\x1b", b"\x00", b"xx", b" ", b"\r\n")) + prefix
    elif r < 0.08:
        return rng.choice((b"A/", b"a/", b"A", b"T", b"", b"AT" * 600, b"\x08\x08AT"))
    line = prefix + command_body(rng, ctx)
    if rng.random() < 0.03:
        line += rng.choice((b" ", b";", b";;", b"\x08", b"\x7f"))
    return line


def terminator(rng: random.Random, s3: int) -> bytes:
    """The host's line end: S3 mostly, and the CR/LF variants hosts really send."""
    end = bytes([s3])
    r = rng.random()
    if r < 0.6:
        return end
    if r < 0.8:
        return end + b"\n"
    if r < 0.85:
        return b"\n" + end
    if r < 0.9:
        return end + end
    if r < 0.95:
        return b"\n"
    return b""


def splits(rng: random.Random, data: bytes) -> list[bytes]:
    """``data`` cut at random points (each piece one ``receive_data``), now and then byte by
    byte as a slow UART delivers it."""
    if len(data) <= 1 or rng.random() < 0.5:
        return [data]
    r = rng.random()
    if (r < 0.1 and len(data) < 64) or r < 0.01:
        return [data[i : i + 1] for i in range(len(data))]
    cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(1, 4))))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


def random_bytes(rng: random.Random, n: int | None = None) -> bytes:
    size = rng.choice((1, 2, 3, 8, 64, 300, 1500, 5000)) if n is None else n
    if rng.random() < 0.3:  # printable-ish: closer to text the assembler acts on
        return bytes(rng.choice(b'AT+=?,;"0123456789QSLE\r\n\x08\x1a\x1b ') for _ in range(size))
    return rng.randbytes(size)


# ---- faults ------------------------------------------------------------------------------


def random_fault(rng: random.Random, ctx: Context) -> Fault:
    """Any fault type, its arguments in range, aimed at a client ID in use more often than not."""
    cid = rng.choice(ctx.client_ids) if ctx.client_ids and rng.random() < 0.8 else rng.randrange(12)
    kind = rng.choice(FAULT_TYPES)
    fault: Fault
    if kind is PdpDeactivate:
        fault = PdpDeactivate(rng.choice((1, 1, 2, 16)))
    elif kind is RegistrationLost:
        fault = RegistrationLost(rng.choice((None, 0.5, 5.0, 30.0)))
    elif kind is RegistrationRecover:
        fault = RegistrationRecover()
    elif kind is Reboot:
        fault = Reboot()
    elif kind is SendBufferFull:
        fault = SendBufferFull(cid, rng.randint(1, 3))
    elif kind is UrcInterleave:
        fault = UrcInterleave(rng.random() < 0.7)
    elif kind is OpenLeak:
        fault = OpenLeak(rng.choice((0, 1, 2, OPEN_LEAK_CYCLES)))
    elif kind is ServerReset:
        fault = ServerReset(cid)
    elif kind is ServerFin:
        fault = ServerFin(cid)
    elif kind is ServerStall:
        fault = ServerStall(cid)
    elif kind is DnsFailure:
        fault = DnsFailure(rng.randint(1, 3))
    elif kind is HandshakeTimeout:
        fault = HandshakeTimeout(rng.randint(1, 2))
    else:
        fault = TlsAlert(rng.choice(tuple(TLS_ALERTS)), rng.randint(1, 2))
    return fault


def random_trigger(rng: random.Random, ctx: Context) -> Trigger | None:
    r = rng.random()
    if r < 0.45:
        return None
    cid = rng.choice(ctx.client_ids) if ctx.client_ids and rng.random() < 0.8 else rng.randrange(12)
    if r < 0.65:
        return At(rng.choice((0.0, 0.01, 0.5, 1.0, 5.0, 100.0)))
    if r < 0.85:
        return AfterBytes(
            rng.choice((1, 10, 100, 1500, 5000)), cid, rng.choice(("received", "sent"))
        )
    name = rng.choice((None, "AT", "AT+QSSLSEND", "AT+QSSLRECV", "ATE0", "AT+QSSLOPEN", "AT&F"))
    return OnCommand(name)


# ---- the runner, as far as the engine can tell ------------------------------------------------


@dataclass
class _Conn:
    client_id: int
    conn_seq: int
    host: str
    stage: str = "open"  # open, tcp, up, done (failed or peer-closed)
    hang: bool = False
    alert: bool = False
    dns_fails: bool = False
    reading: bool = True
    stalled: bool = False
    closing: bool = False  # a Close intent came
    abort: bool = False
    peer_close: bool = False  # a fault made the server close: PeerClosed is on its way
    unsent: int = 0  # bytes written, not yet reported Sent
    echo: bytearray = field(default_factory=bytearray)


def _is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class RunnerModel:
    """Answers the engine's intents with what ``module/runner.py`` would report, one event at
    a time, in an order the caller leaves to chance (``next_event``)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.conns: dict[int, _Conn] = {}  # conn_seq -> connection
        self.retired: list[tuple[int, int]] = []  # (client_id, conn_seq) of gone connections
        self.resolves: list[Resolve] = []
        self.dns_failures = 0
        self.hangs = 0
        self.alerts = 0
        self.local_port = 65344

    def carry_out(self, intents: Sequence[Intent]) -> None:
        for intent in intents:
            if isinstance(intent, Note):
                continue
            if isinstance(intent, Connect):
                conn = _Conn(intent.client_id, intent.conn_seq, intent.host)
                if not _is_ip(intent.host) and self.dns_failures:
                    self.dns_failures -= 1
                    conn.dns_fails = True
                self.conns[intent.conn_seq] = conn
            elif isinstance(intent, Send):
                c = self.conns.get(intent.conn_seq)
                if c and c.stage == "up" and not (c.closing or c.stalled or c.peer_close):
                    c.unsent += len(intent.data)
                    if len(c.echo) < 200_000:
                        c.echo += intent.data  # an echo server
            elif isinstance(intent, Close):
                c = self.conns.get(intent.conn_seq)
                if c is None:
                    self.conns[intent.conn_seq] = c = _Conn(intent.client_id, intent.conn_seq, "")
                    c.stage = "done"
                c.closing = True
                c.abort = c.abort or intent.abort
            elif isinstance(intent, SetReading):
                c = self.conns.get(intent.conn_seq)
                if c is not None and not c.stalled:
                    c.reading = intent.reading  # the runner pauses the socket at once
            elif isinstance(intent, Resolve):
                self.resolves.append(intent)
            elif isinstance(intent, NetFault):
                self._fault(intent)

    def _fault(self, intent: NetFault) -> None:
        fault = intent.fault
        if isinstance(fault, DnsFailure):
            self.dns_failures += fault.lookups
        elif isinstance(fault, HandshakeTimeout):
            self.hangs += fault.opens
        elif isinstance(fault, TlsAlert):
            self.alerts += fault.opens
        else:
            c = self.conns.get(intent.conn_seq)
            if c is None or c.stage != "up" or c.closing or c.peer_close:
                return
            if isinstance(fault, ServerStall):
                c.stalled = True
            else:
                c.peer_close = True  # reset or FIN: reported soon, nothing more is read

    def _retire(self, c: _Conn) -> None:
        self.conns.pop(c.conn_seq, None)
        self.retired.append((c.client_id, c.conn_seq))
        if len(self.retired) > 50:
            del self.retired[:25]

    def pending(self) -> bool:
        return bool(self.resolves) or any(self._options(c) for c in self.conns.values())

    def _options(self, c: _Conn) -> list[str]:
        if c.closing:
            if c.stalled and not c.abort:
                return []  # close_notify and FIN cannot get out: the engine's timeout aborts
            late = c.stage == "up" and c.unsent and not c.stalled and not c.abort
            return ["closed", "late"] if late else ["closed"]
        if c.stage == "open":
            return ["tcp"]
        if c.stage == "tcp":
            return [] if c.hang else ["handshake"]
        if c.stage != "up":
            return []
        if c.peer_close:
            return ["peer_closed"]
        if c.stalled:
            return []
        options = ["received"] * 3 if c.reading else []
        if c.unsent:
            options += ["sent", "sent"]
        if self.rng.random() < 0.03:
            options.append("server_closes")
        return options

    def next_event(self) -> NetEvent | None:
        """One event the runner could report now, or None when nothing is under way."""
        rng = self.rng
        if self.resolves and rng.random() < 0.5:
            req = self.resolves.pop(rng.randrange(len(self.resolves)))
            if self.dns_failures and not _is_ip(req.host):
                self.dns_failures -= 1
                return Resolved(req.request, code=565, reason="DNS failure (fault)")
            if rng.random() < 0.2:
                return Resolved(req.request, code=565, reason="cannot resolve")
            return Resolved(req.request, (f"10.0.0.{rng.randrange(256)}",))
        choices = [(c, o) for c in self.conns.values() for o in self._options(c)]
        if not choices:
            if self.resolves:
                return self.next_event()
            return None
        c, option = rng.choice(choices)
        cid, seq = c.client_id, c.conn_seq
        if option == "closed":
            self._retire(c)
            return Closed(cid, seq)
        if option == "late":  # a graceful close writes what is batched first: its Sent
            n, c.unsent = c.unsent, 0
            return Sent(cid, seq, n)
        if option == "tcp":
            if c.dns_fails:
                c.stage = "done"
                return ConnectFailed(cid, seq, 565, "DNS failure (fault dns-failure)")
            if rng.random() < 0.08:
                c.stage = "done"
                return ConnectFailed(cid, seq, 566, "TCP connect refused")
            c.stage = "tcp"
            if self.hangs:
                self.hangs -= 1
                c.hang = True
            elif self.alerts:
                self.alerts -= 1
                c.alert = True
            self.local_port += 1
            return TcpConnected(cid, seq, self.local_port, "127.0.0.1")
        if option == "handshake":
            if c.alert or rng.random() < 0.1:
                c.stage = "done"
                code = 566 if c.alert else rng.choice((566, 569, 550, 565))
                return ConnectFailed(cid, seq, code, "handshake failed")
            c.stage = "up"
            return Connected(cid, seq, "TLSv1.2", "AES256-SHA")
        if option == "peer_closed" or option == "server_closes":
            c.stage = "done"
            c.peer_close = False
            return PeerClosed(cid, seq, "closed by server")
        if option == "sent":
            n = c.unsent if rng.random() < 0.7 else rng.randint(1, c.unsent)
            c.unsent -= n
            return Sent(cid, seq, n)
        # received: the echo, or data of the server's own
        size = rng.choice((1, 2, 10, 100, 1000, 1500, 1501, 4000, 16384))
        if rng.random() < 0.02:  # a whole socket read at once, decrypted (asyncio: 256 KiB)
            size = 65536
        if c.echo and rng.random() < 0.6:
            data = bytes(c.echo[:size])
            del c.echo[:size]
        else:
            data = random_bytes(rng, size)
        return Received(cid, seq, data)

    def stale_event(self, engine: Engine) -> NetEvent:
        """An event for a connection that is gone (or never was): the engine must drop it."""
        rng = self.rng
        if self.retired and rng.random() < 0.7:
            cid, seq = rng.choice(self.retired)
        else:
            cid, seq = rng.randrange(12), rng.choice((0, 10**9, rng.randrange(1000)))
            sock = engine.sockets.get(cid)
            if sock is not None and sock.conn_seq == seq:
                seq += 1000  # a live one is not stale
        kind = rng.randrange(8)
        if kind == 0:
            return TcpConnected(cid, seq, 1, "10.0.0.1")
        if kind == 1:
            return Connected(cid, seq)
        if kind == 2:
            return ConnectFailed(cid, seq, 566)
        if kind == 3:
            return Received(cid, seq, rng.randbytes(rng.randint(0, 2000)))
        if kind == 4:
            return Sent(cid, seq, rng.randint(0, 10**6))
        if kind == 5:
            return PeerClosed(cid, seq)
        if kind == 6:
            return Closed(cid, seq)
        return Resolved(rng.randrange(100), ("10.0.0.1",))


# ---- bounds --------------------------------------------------------------------------------

READ = 64 * 1024  # what one transport read may hand the engine after its input filled
HOST_INPUT_SLACK = READ  # host bytes beyond the UART input buffer: one read
OUTPUT_LIMIT = OUT_HIGH + 2 * READ  # output held for the host: the UART side (OUT_HIGH) and
# what one command line or data chunk adds past it (its echo, its answer)
URC_QUEUE_LIMIT = MAX_URCS * 1024  # bytes of plain URCs (push data is not copied in)
RECEIVE_SLACK = 256 * 1024  # one Received may cross the limit: a socket read (asyncio reads
# up to 256 KiB at a time), decrypted, before SetReading(False) pauses the socket
TIMER_LIMIT = 1024  # timers in the heap, cancelled ones included
HINT_LIMIT = 256  # hint keys said, and empty-read counters kept
FAULT_LOG_LIMIT = 1024  # records of faults that acted; faults armed and waiting
INTENT_LIMIT = 4096  # intents not yet taken by the runner


def bound_sizes(engine: Engine) -> dict[str, tuple[int, int]]:
    """Every buffer the engine holds: name -> (size now, its limit)."""
    cfg = engine.config
    sizes: dict[str, tuple[int, int]] = {
        "host input": (len(engine._inbuf), cfg.uart_buffer + HOST_INPUT_SLACK),
        "command line": (len(engine._line), cfg.max_line),
        "last line": (len(engine._last_line), cfg.max_line),
        "queued commands": (len(engine._queue), cfg.max_line),
        "output": (len(engine._out), OUTPUT_LIMIT),
        "urc queue": (sum(len(u) for u in engine._urcs if isinstance(u, bytes)), URC_QUEUE_LIMIT),
        "urcs queued": (len(engine._urcs), MAX_URCS),
        "intents": (len(engine._intents), INTENT_LIMIT),
        "timers": (len(engine._timers._heap), TIMER_LIMIT),
        "sockets": (len(engine.sockets), 12),
        "closing": (len(engine.closing), 12),
        "dns requests": (len(engine.dns_requests), 1),
        "hints said": (len(engine.hints.said), HINT_LIMIT),
        "hints empty reads": (len(engine.hints.empty_reads), HINT_LIMIT),
        "fault log": (len(engine.faults.log), FAULT_LOG_LIMIT),
        "armed faults": (len(engine.faults._armed), FAULT_LOG_LIMIT),
        "files": (sum(engine.store.size(n) or 0 for n in engine.store.names()), cfg.file_capacity),
    }
    recv = unsent = 0
    for sock in engine.sockets.values():
        recv = max(recv, len(sock.recv))
        unsent = max(unsent, sock.unsent)
    sizes["socket receive buffer"] = (recv, cfg.recv_buffer + RECEIVE_SLACK)
    # QSSLSEND stops at send_buffer; leaving transparent mode sends what the link held too
    sizes["socket send buffer"] = (unsent, cfg.send_buffer + cfg.uart_buffer + READ)
    link = engine.transparent
    if link is not None:
        sizes["transparent pending"] = (len(link.pending), cfg.uart_buffer + READ)
        sizes["transparent held +"] = (link.escape.held, 3)
    phase = engine._phase
    if phase is not None:
        data = getattr(phase, "data", b"")
        limit = cfg.max_file_size if hasattr(phase, "size") else 1500
        sizes["data phase"] = (len(data), limit)
    return sizes


# Bounds that do not hold yet (none since the finite module buffers landed); each would name
# what grows it (see docs/testing.md, "Fuzzing").
KNOWN_UNBOUNDED: dict[str, str] = {}


def check_bounded(engine: Engine) -> None:
    """Every buffer the engine holds is below its documented limit (``bound_sizes``), but those
    listed in ``KNOWN_UNBOUNDED``."""
    for name, (size, limit) in bound_sizes(engine).items():
        if name in KNOWN_UNBOUNDED:
            continue
        assert size <= limit, f"bound {name!r}: {size} > {limit}"


def over_bounds(engine: Engine) -> dict[str, int]:
    """The bounds over their limit now (KNOWN_UNBOUNDED ones too): name -> size."""
    return {n: s for n, (s, limit) in bound_sizes(engine).items() if s > limit}


# ---- the engine harness --------------------------------------------------------------------


def random_config(rng: random.Random) -> ModuleConfig:
    """The default module mostly; else small buffers and the slow timings of a real network."""
    if rng.random() < 0.5:
        return ModuleConfig()
    return ModuleConfig(
        max_line=rng.choice((16, 80, 1024, 8192)),
        recv_buffer=rng.choice((1, 100, 1500, 65536)),
        send_buffer=rng.choice((1, 100, 1500, 65536)),
        file_capacity=rng.choice((10, 5000, 14483456)),
        max_file_size=rng.choice((10, 4000, 10 * 1024 * 1024)),
        reboot_time=rng.choice((0.0, 0.05, 3.0)),
        app_ready_time=rng.choice((0.0, 0.05, 2.0)),
        pdp_activation_time=rng.choice((0.0, 0.5, 150.0)),
        attach_time=rng.choice((0.0, 1.0, 20.0)),
        tcp_connect_timeout=rng.choice((0.5, 150.0)),
        max_active_pdp=rng.choice((1, 3)),
    )


@dataclass(frozen=True)
class Step:
    """One input to the engine, as recorded (``replay`` gives it again)."""

    kind: str  # data, advance, event, dtr, disconnect, fault, read
    data: bytes = b""
    seconds: float = 0.0
    event: NetEvent | None = None
    on: bool = False
    fault: Fault | None = None
    trigger: Trigger | None = None
    host_read: bool = True  # the host took the module's output after this input

    def __str__(self) -> str:
        return self.describe()

    def describe(self, full: bool = False) -> str:
        """One line; long data cut short unless ``full``."""
        if self.kind == "data":
            if full or len(self.data) <= 100:
                return f"data {self.data!r}"
            return f"data {self.data[:100]!r}... ({len(self.data)} bytes)"
        if self.kind == "event" and isinstance(self.event, Received) and not full:
            e = self.event
            if len(e.data) > 100:
                return f"event Received({e.client_id}, {e.conn_seq}, {len(e.data)} bytes)"
        if self.kind == "advance":
            return f"advance to {self.seconds!r}"
        if self.kind == "event":
            return f"event {self.event!r}"
        if self.kind == "dtr":
            return f"dtr {'on' if self.on else 'off'}"
        if self.kind == "fault":
            return f"fault {self.fault!r} trigger {self.trigger!r}"
        return self.kind


@dataclass(frozen=True)
class Action:
    """A hypothesis-drawn input for ``Harness.apply``: a kind and the seed of its details."""

    kind: str
    seed: int = 0
    data: bytes = b""
    seconds: float = 0.0


ACTION_KINDS = (
    "line",
    "input",
    "input",
    "net",
    "net",
    "stale",
    "deadline",
    "fault",
    "dtr",
    "disconnect",
    "setup",
    "reader",
)


class Desync(AssertionError):
    """The engine did not come back to answering ``AT`` with ``OK``."""


INPUT_KINDS = frozenset({"data", "advance", "event", "dtr", "disconnect", "fault"})


class Harness:
    """One engine on a virtual clock with a model of the runner; every input is recorded."""

    def __init__(
        self, rng: random.Random, config: ModuleConfig | None = None, *, strict: bool = True
    ) -> None:
        """``strict``: ``check_bounded`` after every input; else only the peaks are kept."""
        self.rng = rng
        self.strict = strict
        self.engine = Engine(store=MemoryStore(), config=config, now=0.0)
        self.model = RunnerModel(rng)
        self.steps: list[Step] = []
        self.inputs = 0
        self.faults_refused = 0
        self.blocked = 0  # host writes held back: the module's input buffer was full
        self.sequences = 0
        self.resync_attempts = 0  # the most attempts a resync took (armed faults cost some)
        self.peaks: dict[str, int] = {}  # bounds over their limit: the largest size seen
        self.peak_steps: dict[str, int] = {}  # ... and the step count when it was seen
        self.host_reads = True  # the host takes what the module sends after each input
        self.received = bytearray()  # ... and keeps it here until ``read``
        self.engine.power_on()
        self.advance(1.0)
        self.read()

    # every input goes through here
    def _record(self, step: Step) -> None:
        if not self.host_reads and step.kind != "read":
            step = dataclasses.replace(step, host_read=False)
        self.steps.append(step)
        if step.kind in INPUT_KINDS:
            self.inputs += 1

    def _after(self) -> None:
        engine = self.engine
        sizes = bound_sizes(engine)
        for name, (size, limit) in sizes.items():
            if size > limit and size > self.peaks.get(name, limit):
                self.peaks[name] = size
                self.peak_steps[name] = len(self.steps)
        if self.strict:
            check_bounded(engine)
        self.model.carry_out(engine.intents())
        if self.host_reads:
            self.received += engine.data_to_send()
            if len(self.received) > OUTPUT_LIMIT:  # nobody asked: keep what a read may want
                del self.received[:-OUTPUT_LIMIT]

    def feed(self, data: bytes, *, force: bool = False) -> None:
        """Host bytes, as the runner gives them: not while the module's input buffer is full
        (the transport stops reading; the host's write waits), one read at a time when it
        has room. ``force``: a few bytes a host gets through anyway (the resync's ``+++``,
        ESC and ``AT``; a UART FIFO holds that much)."""
        if not force and self.engine.input_room <= 0:
            self.blocked += 1
            return
        self._record(Step("data", data=data))
        self.engine.receive_data(data)
        self._after()

    def advance(self, seconds: float) -> None:
        self.advance_to(self.engine.now + seconds)

    def advance_to(self, when: float) -> None:
        when = max(when, self.engine.now)
        self._record(Step("advance", seconds=when))
        self.engine.advance(when)
        self._after()

    def event(self, event: NetEvent) -> None:
        self._record(Step("event", event=event))
        self.engine.network_event(event)
        self._after()

    def dtr(self, on: bool) -> None:
        self._record(Step("dtr", on=on))
        self.engine.set_dtr(on)
        self._after()

    def disconnect(self) -> None:
        self._record(Step("disconnect"))
        self.engine.host_disconnected()
        self._after()

    def fault(self, fault: Fault, trigger: Trigger | None) -> None:
        self._record(Step("fault", fault=fault, trigger=trigger))
        try:
            self.engine.inject_fault(fault, trigger)
        except FaultError:
            self.faults_refused += 1  # nothing to act on now: the documented answer
        self._after()

    def read(self) -> bytes:
        """What the module sent since the last ``read`` (the host takes it all now)."""
        self._record(Step("read"))
        out = bytes(self.received) + self.engine.data_to_send()
        self.received.clear()
        return out

    # ---- the inputs a sequence is made of --------------------------------------------

    def s3(self) -> int:
        return self.engine.settings.s3

    def send_line(self) -> None:
        rng = self.rng
        line = command_line(rng, Context.of(self.engine)) + terminator(rng, self.s3())
        for chunk in splits(rng, line):
            self.feed(chunk)

    def data_phase_input(self) -> None:
        """What a host sends after ``> `` or QFUPL's ``CONNECT``: mostly what it asked for."""
        rng = self.rng
        phase = self.engine._phase
        length = getattr(phase, "length", None)
        size = getattr(phase, "size", None)
        have = len(getattr(phase, "data", b""))
        r = rng.random()
        if isinstance(size, int):  # an upload: its bytes, maybe short (the timeout ends it)
            left = size - have
            n = left if r < 0.6 else rng.randint(0, max(0, left))
            n = min(n, 8192)
            payload = random_bytes(rng, n)
        elif isinstance(length, int):  # a fixed-length send: its bytes, Ctrl-Z and ESC are data
            left = length - have
            n = left if r < 0.7 else rng.randint(0, left + 5)
            payload = random_bytes(rng, n)
        else:  # a variable-length send, ended by Ctrl-Z (send) or ESC (cancel)
            n = rng.choice((0, 1, 10, 100, 1460, 1461, 3000))
            body = bytes(b for b in random_bytes(rng, n) if b not in b"\x1a\x1b")
            payload = body + (CTRL_Z if r < 0.7 else ESC if r < 0.9 else b"")
        if payload:
            for chunk in splits(rng, payload):
                self.feed(chunk)
        else:
            self.advance(rng.choice((0.0, 0.01, 0.03)))

    def transparent_input(self) -> None:
        rng = self.rng
        r = rng.random()
        if r < 0.5:
            for chunk in splits(rng, random_bytes(rng)):
                self.feed(chunk)
        elif r < 0.7:  # +++ with its guard times: the mode ends
            self.advance(GUARD + rng.choice((0.0, 0.01, 0.5)))
            for chunk in splits(rng, b"+++"):
                self.feed(chunk)
            self.advance(GUARD + rng.choice((0.0, 0.01, 0.5)))
        elif r < 0.85:  # +++ without them, or near them: data
            self.advance(rng.choice((0.0, 0.5, 0.999, 1.0)))
            self.feed(rng.choice((b"+++", b"++++", b"+", b"++", b"+++x", b"a+++")))
            self.advance(rng.choice((0.0, 0.3, 0.999, 1.0, 1.5)))
        else:  # the plus signs one by one with gaps
            self.advance(GUARD + 0.1)
            for _ in range(3):
                self.feed(b"+")
                self.advance(rng.choice((0.0, 0.2, 0.5, 0.6)))
            self.advance(rng.choice((0.5, 1.1)))

    def time_jump(self) -> None:
        rng = self.rng
        r = rng.random()
        deadline = self.engine.next_deadline()
        if r < 0.3 and deadline is not None:
            self.advance_to(deadline + rng.choice((0.0, 0.0, -1e-6, 1e-6)))
        elif r < 0.6:
            self.advance(rng.choice((0.0, 0.001, 0.019, 0.02, 0.021, 0.05)))
        elif r < 0.9:
            self.advance(rng.choice((0.1, 0.2, 0.3, 0.999, 1.0, 1.1, 2.0, 5.0)))
        else:
            self.advance(rng.choice((10.0, 150.0, 301.0, 3600.0, 70000.0)))

    def network(self) -> None:
        event = self.model.next_event()
        if event is not None:
            self.event(event)
        else:
            self.time_jump()

    def step(self) -> None:
        """One random input (or a few that belong together), chosen by the engine's mode."""
        rng = self.rng
        mode = self.engine.mode
        r = rng.random()
        if mode is Mode.DATA and r < 0.55:
            self.data_phase_input()
        elif mode is Mode.TRANSPARENT and r < 0.4:
            self.transparent_input()
        elif mode is Mode.EXECUTING and r < 0.15:  # a host that does not wait for the answer
            for chunk in splits(rng, random_bytes(rng)):
                self.feed(chunk)
        elif r < 0.6 and mode not in (Mode.DATA, Mode.TRANSPARENT):
            self.send_line() if rng.random() < 0.65 else self.network()
        elif r < 0.78:
            self.network()
        elif r < 0.88:
            self.time_jump()
        elif r < 0.91:
            for chunk in splits(rng, random_bytes(rng)):
                self.feed(chunk)
        elif r < 0.94:
            ctx = Context.of(self.engine)
            self.fault(random_fault(rng, ctx), random_trigger(rng, ctx))
        elif r < 0.96:
            self.event(self.model.stale_event(self.engine))
        elif r < 0.975:
            self.dtr(not self.engine.dtr)
        elif r < 0.98:
            self.disconnect()
        elif r < 0.985:
            self.host_reads = not self.host_reads
            self.read()
        elif r < 0.99:  # a host that writes a lot without reading what comes back
            for _ in range(rng.randint(1, 12)):
                self.feed(random_bytes(rng, 8192))
        else:
            self.send_line()

    def setup(self) -> None:
        """Well-formed lines that bring the module to where the bugs are: a PDP context and
        connections in the three access modes, the runner answering their opens."""
        rng = self.rng
        s3 = bytes([self.s3()])
        lines = [rng.choice((b"ATE0", b"ATE1")), b"AT+QIACT=1"]
        free = [cid for cid in range(12) if cid not in self.engine.sockets]
        rng.shuffle(free)
        for cid in free[: rng.randint(1, 3)]:
            mode = 2 if rng.random() < 0.3 else rng.choice((0, 1))
            lines.append(b'AT+QSSLOPEN=1,1,%d,"127.0.0.1",443,%d' % (cid, mode))
        for line in lines:
            for chunk in splits(rng, line + s3):
                self.feed(chunk)
            for _ in range(4):
                event = self.model.next_event()
                if event is None:
                    break
                self.event(event)

    def run_sequence(self, steps: int) -> None:
        self.sequences += 1
        if self.rng.random() < 0.7:
            self.setup()
        for _ in range(steps):
            self.step()
        self.resync_attempts = max(self.resync_attempts, self.resync())

    def apply(self, action: Action) -> None:
        """One action of a hypothesis-drawn list: its randomness comes from its own seed, so
        hypothesis can drop actions and the rest still mean what they meant."""
        rng = random.Random(action.seed)
        self.rng = self.model.rng = rng
        kind = action.kind
        if kind == "line":
            self.send_line()
        elif kind == "bytes":
            for chunk in splits(rng, action.data):
                self.feed(chunk)
        elif kind == "input":  # what the mode calls for: a data phase, transparent data, a line
            if self.engine.mode is Mode.DATA:
                self.data_phase_input()
            elif self.engine.mode is Mode.TRANSPARENT:
                self.transparent_input()
            else:
                self.send_line()
        elif kind == "net":
            self.network()
        elif kind == "stale":
            self.event(self.model.stale_event(self.engine))
        elif kind == "advance":
            self.advance(action.seconds)
        elif kind == "deadline":
            self.time_jump()
        elif kind == "fault":
            ctx = Context.of(self.engine)
            self.fault(random_fault(rng, ctx), random_trigger(rng, ctx))
        elif kind == "dtr":
            self.dtr(not self.engine.dtr)
        elif kind == "disconnect":
            self.disconnect()
        elif kind == "setup":
            self.setup()
        elif kind == "reader":
            self.host_reads = not self.host_reads
            self.read()
        else:
            raise ValueError(f"unknown action {kind!r}")

    # ---- resync ----------------------------------------------------------------------

    def resync(self, attempts: int = 60) -> int:
        """What a host does to get the module back: DTR on, ESC, wait past the guard and
        idle times, ``+++`` if in transparent mode, then ``AT&F`` and ``AT``, which must
        answer exactly ``OK``. Returns the attempts it took; ``Desync`` if it never does."""
        engine = self.engine
        self.host_reads = True
        self.read()
        if not engine.dtr:
            self.dtr(True)
        for attempt in range(attempts):
            mode = engine.mode
            if mode is Mode.BOOTING or mode is Mode.EXECUTING:
                deadline = engine.next_deadline()
                if deadline is None:
                    raise Desync(f"{mode.name} with no deadline: nothing will end it")
                self.advance_to(deadline)
            elif mode is Mode.TRANSPARENT:
                self.advance(GUARD + 0.1)
                self.feed(b"+++", force=True)
                self.advance(GUARD + 0.1)
            elif mode is Mode.DATA:
                self.feed(ESC, force=True)
                self.advance(0.05)
                if engine.mode is Mode.DATA:
                    length = getattr(engine._phase, "length", None)
                    if isinstance(length, int):
                        # a fixed-length prompt takes them as data
                        self.feed(ESC * length, force=True)
                    else:
                        deadline = engine.next_deadline()  # an upload's idle timeout
                        if deadline is None:
                            raise Desync("data phase with no deadline")
                        self.advance_to(deadline)
            else:
                s3 = bytes([self.s3()])
                self.feed(ESC + s3, force=True)  # ends a partial line (ERROR) or is an empty line
                if engine.mode is not Mode.COMMAND:
                    continue
                self.read()
                self.feed(reset_line(engine) + s3, force=True)
                if engine.mode is not Mode.COMMAND:
                    continue
                self.read()
                self.feed(b"AT\r", force=True)
                out = self.read()
                if out == b"AT\r\r\nOK\r\n":
                    return attempt
            self.read()
        raise Desync(f"no OK to AT after {attempts} attempts (mode {engine.mode.name})")


def reset_line(engine: Engine) -> bytes:
    """``AT&F`` in the letter cases S3 and S5 leave typeable."""
    taken = {engine.settings.s3, engine.settings.s5}
    out = b""
    for upper in b"AT&F":
        lower = bytes([upper]).lower()[0]
        out += bytes([upper if upper not in taken else lower])
    return out


def replay(steps: Sequence[Step], config: ModuleConfig | None = None) -> Engine:
    """Feed recorded steps to a fresh engine (the generator is not needed)."""
    engine = Engine(store=MemoryStore(), config=config, now=0.0)
    engine.power_on()
    for step in steps:
        if step.kind == "data":
            engine.receive_data(step.data)
        elif step.kind == "advance":
            engine.advance(step.seconds)
        elif step.kind == "event":
            assert step.event is not None
            engine.network_event(step.event)
        elif step.kind == "dtr":
            engine.set_dtr(step.on)
        elif step.kind == "disconnect":
            engine.host_disconnected()
        elif step.kind == "fault":
            assert step.fault is not None
            with contextlib.suppress(FaultError):
                engine.inject_fault(step.fault, step.trigger)
        if step.host_read:
            engine.data_to_send()
        engine.intents()
    return engine


def transcript(steps: Sequence[Step], last: int = 40, *, full: bool = False) -> str:
    """The last ``last`` steps, one a line, for a failure message (``full``: data uncut)."""
    shown = steps[-last:] if last else []
    first = len(steps) - len(shown)
    head = f"... {first} steps before\n" if first else ""
    return head + "\n".join(f"{first + i}: {s.describe(full)}" for i, s in enumerate(shown))


class SessionFailed(AssertionError):
    """A long-run session failed: what happened, how to run it again, its last steps (all of
    them in ``path``)."""

    def __init__(self, seed: int | str, session: int, harness: Harness, exc: BaseException):
        with tempfile.NamedTemporaryFile(
            "w", prefix="bg96-fuzz-", suffix=".txt", delete=False
        ) as out:
            out.write(transcript(harness.steps, len(harness.steps), full=True) + "\n")
        self.harness = harness
        self.path = out.name
        super().__init__(
            f"engine fuzz: seed {seed} session {session}: {exc!r}\n"
            f"reproduce: BG96_FUZZ_SEED={seed} BG96_FUZZ_SESSION={session} "
            "pytest -m slow tests/test_fuzz_engine.py -k long_run -s\n"
            f"  or: tests.fuzz_support.run_session({seed!r}, {session}); "
            f"replay(steps) gives the same inputs without the generator\n"
            f"all {len(harness.steps)} steps: {out.name}; the last ones:\n"
            f"{transcript(harness.steps)}"
        )


def run_session(seed: int | str, session: int, *, strict: bool = True) -> Harness:
    """Session ``session`` of the long run with ``seed``: one engine (its config drawn too)
    through a number of sequences, each ended by a resync. ``SessionFailed`` says how to
    run it again."""
    rng = random.Random(f"{seed}/{session}")
    harness = Harness(rng, random_config(rng), strict=strict)
    # mostly short lives (many configs); now and then a long one, where slow growth shows
    sequences = 2000 if rng.random() < 0.05 else rng.choice((2, 5, 20, 20, 100, 100, 400))
    try:
        for _ in range(sequences):
            harness.run_sequence(rng.randint(10, 200))
    except Exception as exc:
        raise SessionFailed(seed, session, harness, exc) from exc
    return harness


# ---- module output for the host's DteParser ----------------------------------------------------

URC_LINES = (
    b'+QSSLURC: "recv",1',
    b'+QSSLURC: "closed",4',
    b'+QIURC: "pdpdeact",1',
    b'+QIURC: "dnsgip",0,1,600',
    b"+QSSLOPEN: 4,0",
    b"+QSSLOPEN: 2,566",
    b"+CEREG: 1",
    b"+CFUN: 1",
    b"+CPIN: READY",
    b"RDY",
    b"APP RDY",
    b"POWERED DOWN",
)
COMMANDS_ANSWERED = (
    (b"AT", ()),
    (b"ATI", (b"Quectel", b"BG96", b"Revision: BG96MAR02A07M1G")),
    (b"AT+CPIN?", (b"+CPIN: READY",)),
    (b"AT+CEREG?", (b"+CEREG: 0,1",)),
    (b"AT+QSSLSTATE", (b'+QSSLSTATE: 4,"SSLClient","10.0.0.5",443,65344,2,1,4,0,"uart1",1',)),
    (b'AT+QFLST="*"', (b'+QFLST: "ca.pem",1234', b'+QFLST: "k.pem",5')),
    (b"AT+QSSLOPEN=?", (b"+QSSLOPEN: (1-16),(0-5),(0-11),<serveraddr>,<server_port>[,(0-2)]",)),
    (b"AT+QIGETERROR", (b"+QIGETERROR: 0,operate successfully",)),
    (b"AT+QSSLRECV=4,0", (b"+QSSLRECV: 10,5,5",)),
)
FINAL_LINES = (b"OK", b"ERROR", b"+CME ERROR: 4", b"+CME ERROR: 405", b"NO CARRIER", b"BUSY")


@dataclass(frozen=True)
class Exchange:
    """What the host starts (``begin``'s arguments, or None: unsolicited output) and the
    module's bytes for it; ``leave``: the host leaves transparent mode afterwards."""

    command: bytes | None
    wire: bytes
    phase: str | None = None  # a bg96.host.parser.DataPhase value
    download: int = 0
    payload: bytes = b""
    leave: bool = False


def _crlf(line: bytes) -> bytes:
    return b"\r\n" + line + b"\r\n"


def _data(rng: random.Random, n: int) -> bytes:
    """Block data: anything, often what looks like framing."""
    if rng.random() < 0.3:
        piece = rng.choice((b"\r\nOK\r\n", b"\r\n> ", b'+QSSLURC: "recv",1,5\r\n', b"\r\n"))
        return (piece * (n // len(piece) + 1))[:n]
    return rng.randbytes(n)


def _urc(rng: random.Random) -> bytes:
    if rng.random() < 0.3:
        n = rng.choice((0, 1, 5, 1500))
        return _crlf(b'+QSSLURC: "recv",%d,%d' % (rng.randrange(12), n)) + _data(rng, n) + b"\r\n"
    return _crlf(rng.choice(URC_LINES))


def _garbage(rng: random.Random) -> bytes:
    r = rng.random()
    if r < 0.3:
        return rng.randbytes(rng.choice((1, 10, 100, 2000, MAX_LINE + 10)))
    if r < 0.5:  # a block header that lies about its length
        n = rng.choice((b"1", b"1500", b"1501", b"65536", b"65537", b"99999999999", b"9" * 5000))
        head = rng.choice((b'+QSSLURC: "recv",1,', b"+QSSLRECV: "))
        return _crlf(head + n)
    if r < 0.7:  # framing pieces out of place
        return b"".join(
            rng.choice((b"\r\n", b"\r", b"\n", b"> ", b"OK", b"CONNECT", b"\r\nOK\r\n", b"+QSS"))
            for _ in range(rng.randint(1, 10))
        )
    if r < 0.85:
        return rng.choice((b"0\r", b"4\r", b"1\r", b"\r\nCONNECT 115200\r\n", b"\x00" * 50))
    return _crlf(b"x" * rng.choice((MAX_LINE - 1, MAX_LINE, MAX_LINE + 1, 3 * MAX_LINE)))


def _mangle(rng: random.Random, wire: bytes) -> bytes:
    """A response as a noisy line delivers it: cut short, a byte lost or doubled, garbage in."""
    if not wire or rng.random() < 0.85:
        return wire
    i = rng.randrange(len(wire))
    r = rng.random()
    if r < 0.3:
        return wire[:i]
    if r < 0.5:
        return wire[:i] + wire[i + 1 :]
    if r < 0.7:
        return wire[:i] + wire[i : i + 1] + wire[i:]
    return wire[:i] + _garbage(rng) + wire[i:]


def module_output(rng: random.Random) -> Exchange:
    """One exchange: a command's answer (echoed or not, URCs inside), a push block, a
    QSSLRECV block, a prompt, a transparent or download data phase, or garbage."""
    echo = rng.random() < 0.3
    r = rng.random()
    if r < 0.15:
        return Exchange(None, _urc(rng))
    if r < 0.25:
        return Exchange(None, _garbage(rng))
    if r < 0.45:
        command, lines = rng.choice(COMMANDS_ANSWERED)
        body = b""
        for i, line in enumerate(lines):
            body += (b"\r\n" if i == 0 else b"") + line + b"\r\n"
            if rng.random() < 0.2:
                body += _urc(rng)
        wire = body + _crlf(rng.choice(FINAL_LINES))
    elif r < 0.6:
        command = b"AT+QSSLRECV=%d,1500" % rng.randrange(12)
        n = rng.choice((0, 1, 10, 1500))
        wire = _crlf(b"+QSSLRECV: %d" % n) + _data(rng, n) + b"\r\n"
        if rng.random() < 0.3:
            wire += _urc(rng)
        wire += _crlf(b"OK")
    elif r < 0.72:
        command = b"AT+QSSLSEND=%d,5" % rng.randrange(12)
        payload = _data(rng, rng.choice((0, 5, 20)))
        wire = (
            b"\r\n> "
            + (payload if echo else b"")
            + _crlf(rng.choice((b"SEND OK", b"SEND FAIL", b"ERROR")))
        )
        if echo:
            wire = command + b"\r" + wire
        return Exchange(command, _mangle(rng, wire), payload=payload)
    elif r < 0.85:
        command = b'AT+QSSLOPEN=1,1,4,"10.0.0.5",443,2'
        wire = _crlf(b"CONNECT") + _data(rng, rng.choice((0, 10, 3000)))
        if echo:
            wire = command + b"\r" + wire
        return Exchange(command, _mangle(rng, wire), phase="transparent", leave=True)
    else:
        command = b'AT+QFDWL="ca.pem"'
        n = rng.choice((0, 1, 100, 5000))
        wire = _crlf(b"CONNECT") + _data(rng, n) + _crlf(b"+QFDWL: %d,1a2b" % n) + _crlf(b"OK")
        if echo:
            wire = command + b"\r" + wire
        return Exchange(command, _mangle(rng, wire), phase="download", download=n)
    if echo:
        wire = command + b"\r" + wire
    return Exchange(command, _mangle(rng, wire))


def parser_sizes(parser: DteParser) -> dict[str, tuple[int, int]]:
    """The parser's buffers: name -> (size now, its limit)."""
    pending = parser._pending
    download = pending.download if pending is not None else 0
    sizes = {
        "line buffer": (len(parser._buf), MAX_LINE),
        "binary block": (
            max(len(parser._raw), parser._raw_left),
            max(MAX_BLOCK, download),
        ),
        "payload echo": (len(parser._echo_left), len(pending.payload) if pending else 0),
        "events": (len(parser._events), 0),  # the caller took them after every feed
    }
    if pending is not None:
        lines = sum(len(line) for line in pending.lines)
        sizes["response lines"] = (lines, PARSER_RESPONSE_LIMIT)
    return sizes


PARSER_RESPONSE_LIMIT = 1 << 20  # bytes of one response's lines (QFLST of a full UFS: ~100 KB)


def check_parser_bounded(parser: DteParser) -> None:
    for name, (size, limit) in parser_sizes(parser).items():
        assert size <= limit, f"parser bound {name!r}: {size} > {limit}"


# ---- fault script lines ---------------------------------------------------------------------

FAULT_SYNTAX = {
    "pdp-deactivate": ("CTX",),
    "registration-lost": ("DURATION",),
    "registration-recover": (),
    "reboot": (),
    "send-buffer-full": ("CLIENT_ID", "N"),
    "urc-interleave": ("SWITCH",),
    "open-leak": ("N",),
    "server-reset": ("CLIENT_ID",),
    "server-fin": ("CLIENT_ID",),
    "server-stall": ("CLIENT_ID",),
    "dns-failure": ("N",),
    "handshake-timeout": ("N",),
    "tls-alert": ("ALERT", "N"),
}
WORDS = ("at", "after", "on", "next", "bytes", "byte", "sent", "received", "command", "#", "s")


def _duration_text(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.5:
        return rng.choice(("5s", "1.5s", "250ms", "0s", "0ms", ".5s", "5.s", "30s", "1000000s"))
    if r < 0.8:  # digits a short float format loses
        value = rng.choice((rng.uniform(0, 10), rng.uniform(0, 1e-4), rng.uniform(1e5, 1e9)))
        return f"{value:.{rng.randint(0, 12)}f}" + rng.choice(("s", "ms"))
    return rng.choice(("5", "s", "-1s", "1e3s", "1,5s", "9" * 400 + "s", "inf s", "5 s", "5S"))


def _number_text(rng: random.Random, lo: int, hi: int) -> str:
    r = rng.random()
    if r < 0.7:
        return str(rng.randint(lo, hi))
    if r < 0.8:
        return str(rng.choice((lo - 1, hi + 1, 0, 10**30)))
    return rng.choice(("-1", "x", "1.0", "0x1", "\u0661", "9" * 5000, "007", ""))


def _argument(rng: random.Random, kind: str) -> str:
    if kind == "CTX":
        return _number_text(rng, 1, 16)
    if kind == "DURATION":
        return _duration_text(rng)
    if kind == "CLIENT_ID":
        return _number_text(rng, 0, 11)
    if kind == "SWITCH":
        return rng.choice(("on", "off", "ON", "Off", "yes", "1"))
    if kind == "ALERT":
        return rng.choice((*TLS_ALERTS, "HANDSHAKE_FAILURE", "nope", "40"))
    return _number_text(rng, 0, 20)


def _command_text(rng: random.Random) -> str:
    name = rng.choice(("command", "AT", "AT+QSSLSEND", "at+qsslrecv", "ATE0", "AT&F", "AT+"))
    r = rng.random()
    if r < 0.2:
        name = rng.choice(("ATS3=5", "ATS3?", "ATS" + "9" * 5000 + "?", "AT;+A", "AT+A;+B"))
    elif r < 0.3:
        name = "AT" + "".join(rng.choice('+QSL&=?;,"S3') for _ in range(rng.randint(0, 8)))
    return name


def fault_line(rng: random.Random) -> str:
    """A fault script line: a trigger and a fault in the documented syntax, then mutated."""
    words: list[str] = []
    r = rng.random()
    if r < 0.25:
        words += ["at", _duration_text(rng)]
    elif r < 0.45:
        words += ["after", _number_text(rng, 1, 5000), rng.choice(("bytes", "byte", "Bytes"))]
        if rng.random() < 0.6:
            words.append(rng.choice(("received", "sent", "both")))
        words += ["on", _number_text(rng, 0, 11)]
    elif r < 0.6:
        words += ["on", "next", _command_text(rng)]
    name = rng.choice(tuple(FAULT_SYNTAX))
    words.append(name.upper() if rng.random() < 0.05 else name)
    for kind in FAULT_SYNTAX[name]:
        if rng.random() < 0.8:
            words.append(_argument(rng, kind))
    m = rng.random()
    if m < 0.1 and words:
        words.pop(rng.randrange(len(words)))
    elif m < 0.2:
        words.insert(rng.randint(0, len(words)), rng.choice(WORDS))
    elif m < 0.25:
        words.append("# " + rng.choice(("a comment", "at 5s reboot", "")))
    sep = rng.choice((" ", " ", "  ", "\t", "\u00a0", "\u3000"))
    line = sep.join(words)
    if rng.random() < 0.05:
        line = "".join(
            rng.choice(("at", "5s", " ", "#", "\x00", "\u2028", "-", "reboot", "\x0b", "ms"))
            for _ in range(rng.randint(0, 12))
        )
    return line


# ---- control endpoint requests --------------------------------------------------------------


def _json_value(rng: random.Random, depth: int = 0) -> Any:
    r = rng.random()
    if depth > 3 or r < 0.4:
        return rng.choice(
            (
                None,
                True,
                False,
                0,
                -1,
                10**30,
                1.5,
                float("nan"),
                float("inf"),
                "",
                "status",
                "fault",
                "\ud800",
                "x" * 1000,
                "reboot",
            )
        )
    if r < 0.7:
        return [_json_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {
        rng.choice(("op", "script", "token", "x", "")): _json_value(rng, depth + 1)
        for _ in range(rng.randint(0, 4))
    }


def control_line(rng: random.Random) -> bytes:
    """One request line for the control endpoint: mostly JSON objects of its protocol
    (fault scripts from ``fault_line``), and JSON of any shape, deep nesting, huge numbers,
    text that is not JSON or not UTF-8."""
    r = rng.random()
    if r < 0.5:
        request: dict[str, Any] = {"op": rng.choice(("fault", "status", "trace", "nope", 1))}
        if request["op"] == "fault" or rng.random() < 0.2:
            lines = [fault_line(rng) for _ in range(rng.randint(0, 3))]
            request["script"] = "\n".join(lines) if rng.random() < 0.9 else _json_value(rng)
        if rng.random() < 0.3:
            request["token"] = _json_value(rng)
        text = json.dumps(request, ensure_ascii=rng.random() < 0.5)
        encoding = rng.choice(("utf-8", "utf-8", "utf-16", "utf-32", "latin-1"))
        try:
            return text.encode(encoding, "surrogatepass")
        except UnicodeEncodeError:
            return text.encode("utf-8", "surrogatepass")
    if r < 0.7:
        return json.dumps(_json_value(rng)).encode()
    if r < 0.8:
        depth = rng.choice((10, 1000, 100_000))
        return rng.choice((b"[", b'{"a":')) * depth
    if r < 0.9:
        return rng.choice(
            (
                b"1" * 5000,
                b'{"op": "status", "op": "fault", "script": "reboot"}',
                b'{"op": NaN}',
                b"\xef\xbb\xbf{}",
                b'{"op": "status"}' * 2,
                b"POST / HTTP/1.1\r\n",
                b'{"op": "fault", "script": "\\ud800"}',
            )
        )
    return rng.randbytes(rng.choice((0, 1, 10, 1000)))


def feed_exchange(rng: random.Random, parser: DteParser, exchange: Exchange) -> int:
    """Drive ``parser`` as a host does for ``exchange``, the bytes split at random, bounds
    checked after every chunk; returns the number of chunks fed."""
    if exchange.command is not None:
        parser.begin(
            exchange.command,
            phase=DataPhase(exchange.phase) if exchange.phase else None,
            download=exchange.download,
            payload=exchange.payload,
        )
    chunks = splits(rng, exchange.wire)
    for chunk in chunks:
        parser.feed(chunk)
        parser.events()
        check_parser_bounded(parser)
    if exchange.leave:
        parser.leave_transparent()
    return len(chunks)


def parser_resync(parser: DteParser) -> int:
    """The host sends ``AT`` until its answer parses as exactly ``Response(AT, (), OK)``; a
    block the garbage announced (at most ``MAX_BLOCK`` bytes) and one partial line may
    take answers first. Returns the attempts it took."""
    if parser.transparent:
        parser.leave_transparent()
    answer = b"\r\nOK\r\n"
    limit = (min(parser._raw_left, MAX_BLOCK) + MAX_LINE) // len(answer) + 3
    for attempt in range(limit):
        parser.begin(b"AT")
        parser.feed(answer)
        if parser.events() == [Response(b"AT", (), b"OK")]:
            return attempt
    raise AssertionError(f"the parser did not resync after {limit} answers")


# ---- a module for the control endpoint -------------------------------------------------------

T = TypeVar("T")


class EngineModule(VirtualModule):
    """A ``VirtualModule`` that never starts: what the control endpoint asks of it runs on an
    engine here, on a virtual clock, so fault scripts from requests act on a real engine."""

    def __init__(self) -> None:
        super().__init__(system_resolver=False)
        self.fuzz_engine = Engine(store=MemoryStore(), now=0.0)
        self.fuzz_engine.power_on()
        self.fuzz_engine.advance(1.0)

    def with_engine(self, fn: Callable[[Engine], T]) -> T:
        engine = self.fuzz_engine
        try:
            return fn(engine)
        finally:
            engine.data_to_send()
            engine.intents()
            check_bounded(engine)
