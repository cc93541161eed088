"""``DteParser`` against every response transcript of the BG96 SSL manual, split everywhere.

Each transcript is built from *pieces*: the module's bytes and the events they complete. The
expected events are those of the pieces, in order, whatever the split: whole, byte by byte,
and cut once at every position of every answer. Every transcript runs with echo off and on
(ATE1 echoes the command line and, at QSSLSEND's ``>`` prompt, the data). A hypothesis test
strings random answers together, puts URCs between any two lines (FIELD_NOTES: real URCs
arrive inside a QSSLRECV reply) and cuts the bytes at random.

Wire format as the virtual module and the real BG96 send it: ``\\r\\n`` before the first
information line and each final result, ``\\r\\n> `` for the prompt, ``<data>\\r\\n`` after a
QSSLRECV or push-mode block (chapters 2 and 3 of the manual; FIELD_NOTES "Exact framing").
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bg96.engine.files import checksum
from bg96.host import Connect, Data, DataPhase, DteParser, Prompt, Response, Urc
from bg96.host.parser import MAX_LINE, Event, response_prefix

# ---- building transcripts -------------------------------------------------------------------


@dataclass(frozen=True)
class Piece:
    """Bytes from the module and the events they complete; ``urc_after``: a URC may follow
    (a line boundary outside binary data and transparent mode)."""

    wire: bytes
    events: tuple[Event, ...] = ()
    urc_after: bool = True


@dataclass(frozen=True)
class Exchange:
    """One command and its answer, or (``command`` None) unsolicited output only."""

    command: bytes | None
    pieces: tuple[Piece, ...]
    phase: DataPhase | None = None
    download: int = 0
    payload: bytes = b""  # what the host writes at the ``>`` prompt
    echo_of_payload: bytes | None = None  # what ATE1 echoes of it (default: all of it)
    leave_transparent: bool = False  # the host leaves transparent mode after these bytes


Transcript = tuple[Exchange, ...]


def crlf(text: bytes) -> bytes:
    return b"\r\n" + text + b"\r\n"


def urc(line: bytes, data: bytes = b"") -> Exchange:
    """Unsolicited output: a URC (push mode: with its data)."""
    return Exchange(None, (urc_piece(line, data),))


def urc_piece(line: bytes, data: bytes = b"") -> Piece:
    wire = crlf(line) + (data + b"\r\n" if data else b"")
    return Piece(wire, (Urc(line, data),))


def answer(command: bytes, *lines: bytes, final: bytes = b"OK") -> Exchange:
    """``command``'s information lines, then its final result code."""
    pieces: list[Piece] = []
    for i, line in enumerate(lines):
        pieces.append(Piece((b"\r\n" if i == 0 else b"") + line + b"\r\n"))
    pieces.append(Piece(crlf(final), (Response(command, lines, final),)))
    return Exchange(command, tuple(pieces))


def recv(
    command: bytes, data: bytes, *, final: bytes = b"OK", head: bytes = b"+QSSLRECV: %d"
) -> Exchange:
    """AT+QSSLRECV: ``+QSSLRECV: <n>``, then n raw bytes (anything at all), then OK; AT+QIRD
    alike with its ``head`` (``+QIRD: <n>``, a UDP service's ``+QIRD: <n>,"<ip>",<port>``)."""
    header = head % len(data)
    if not data:
        return answer(command, header)
    return Exchange(
        command,
        (
            Piece(crlf(header) + data),
            Piece(b"\r\n"),
            Piece(crlf(final), (Response(command, (header, data), final),)),
        ),
    )


def send(
    command: bytes, payload: bytes, final: bytes, echo_of_payload: bytes | None = None
) -> Exchange:
    """AT+QSSLSEND: the ``> `` prompt, the host's data, then SEND OK / SEND FAIL / ERROR."""
    return Exchange(
        command,
        (
            Piece(b"\r\n> ", (Prompt(),)),
            Piece(crlf(final), (Response(command, (), final),)),
        ),
        payload=payload,
        echo_of_payload=echo_of_payload,
    )


def with_echo(exchange: Exchange) -> Exchange:
    """The same exchange with ATE1: the command line comes back first (ending in CR only),
    and the data written at the prompt is echoed after it."""
    if exchange.command is None:
        return exchange
    pieces = [Piece(exchange.command + b"\r")]
    for piece in exchange.pieces:
        if Prompt() in piece.events and exchange.payload:
            echo = exchange.echo_of_payload
            echo = exchange.payload if echo is None else echo
            piece = replace(piece, wire=piece.wire + echo)
        pieces.append(piece)
    return replace(exchange, pieces=tuple(pieces))


def wire_of(exchange: Exchange) -> bytes:
    return b"".join(p.wire for p in exchange.pieces)


def expected(transcript: Sequence[Exchange]) -> list[Event]:
    return merge_data([e for ex in transcript for p in ex.pieces for e in p.events])


def merge_data(events: list[Event]) -> list[Event]:
    """Transparent data arrives in whatever chunks the port gave: compare it joined up."""
    out: list[Event] = []
    for event in events:
        if isinstance(event, Data) and out and isinstance(out[-1], Data):
            out[-1] = Data(out[-1].data + event.data)
        else:
            out.append(event)
    return out


Splitter = Callable[[int, bytes], list[bytes]]


def run(transcript: Sequence[Exchange], split: Splitter) -> tuple[list[Event], DteParser]:
    """Drive a parser as the host does: ``begin`` each command, feed the module's bytes in
    the chunks ``split`` makes, leave transparent mode when the host would."""
    parser = DteParser()
    events: list[Event] = []
    for k, exchange in enumerate(transcript):
        if exchange.command is not None:
            parser.begin(
                exchange.command,
                phase=exchange.phase,
                download=exchange.download,
                payload=exchange.payload,
            )
        for chunk in split(k, wire_of(exchange)):
            parser.feed(chunk)
            events += parser.events()
        if exchange.leave_transparent:
            parser.leave_transparent()
    return merge_data(events), parser


def whole(k: int, wire: bytes) -> list[bytes]:
    return [wire]


def bytewise(k: int, wire: bytes) -> list[bytes]:
    return [wire[i : i + 1] for i in range(len(wire))]


def cut(at_exchange: int, at: int) -> Splitter:
    def split(k: int, wire: bytes) -> list[bytes]:
        return [wire[:at], wire[at:]] if k == at_exchange else [wire]

    return split


# ---- the manual's transcripts (chapters 2 and 3), and FIELD_NOTES' -----------------------------

TEST_DATA = b"Test data from SSL"  # the manual's 18 bytes
# QSSLRECV data that looks like everything the parser knows: line ends, finals, URCs, a
# prompt, a block header, CONNECT, RDY; then every byte value
NASTY = (
    b'\r\nOK\r\n\r\nERROR\r\n+CME ERROR: 4\r\n\r\n+QSSLURC: "recv",4,5\r\n> \r\n'
    b'+QSSLRECV: 7\r\nCONNECT\r\nSEND OK\r\nRDY\r\n+QSSLURC: "closed",4\r\n\n\r\r'
) + bytes(range(256))
STATE_4 = b'+QSSLSTATE: 4,"SSLClient","220.180.239.201",8010,65344,2,1,4,0,"usbmodem",1'
STATE_4_PUSH = b'+QSSLSTATE: 4,"SSLClient","220.180.239.201",8011,65047,2,1,4,1,"usbmodem",1'
STATE_2 = b'+QSSLSTATE: 2,"SSLClient","10.0.0.5",443,50001,2,1,2,2,"uart1",0'
OPEN_4 = b'AT+QSSLOPEN=1,1,4,"220.180.239.201",8010,0'
OPEN_4_PUSH = b'AT+QSSLOPEN=1,1,4,"220.180.239.201",8011,1'
OPEN_4_TRANSPARENT = b'AT+QSSLOPEN=1,1,4,"220.180.239.201",8011,2'
CA_FILE = b"-----BEGIN CERTIFICATE-----\r\nMIIB\r\nOK\r\n\x00\xff\x1a+++\r\n-----END-----\n"
CA_SUM = b"+QFUPL: %d,%x" % (len(CA_FILE), checksum(CA_FILE))
CA_DWL = b"+QFDWL: %d,%x" % (len(CA_FILE), checksum(CA_FILE))
QSSLCFG_TEST = (
    b'+QSSLCFG: "sslversion",(0-5),(0-4)',
    b'+QSSLCFG: "ciphersuite",(0-5),(0X0035,0X002F,0X0005,0X0004,0X000A,0X003D,0XC011,'
    b"0XC012,0XC013,0XC014,0XC027,0XC028,0XC02F,0XFFFF)",
    b'+QSSLCFG: "cacert",(0-5),<cacertpath>',
    b'+QSSLCFG: "clientcert",(0-5),<client_cert_path>',
    b'+QSSLCFG: "clientkey",(0-5),<client_key_path>',
    b'+QSSLCFG: "secllevel",(0-5),(0-2)',
    b'+QSSLCFG: "ignorelocaltime",(0-5),(0,1)',
    b'+QSSLCFG: "negotiatetime",(0-5),(10-300)',
)


def transparent_session(command: bytes, *data: bytes, end: bytes = b"\r\nOK\r\n") -> Exchange:
    """CONNECT, then everything is connection data, until ``+++`` brings ``OK`` (also data to
    the parser: the host strips it) or the connection ends with ``NO CARRIER``."""
    pieces = [Piece(crlf(b"CONNECT"), (Connect(),), urc_after=False)]
    pieces += [Piece(d, (Data(d),), urc_after=False) for d in data]
    # the host leaves transparent mode after these bytes: a URC after them is a new exchange
    pieces.append(Piece(end, (Data(end),), urc_after=False))
    return Exchange(command, tuple(pieces), phase=DataPhase.TRANSPARENT, leave_transparent=True)


def download(command: bytes, data: bytes, summary: bytes) -> Exchange:
    """AT+QFDWL: CONNECT, the file's raw bytes, ``+QFDWL: <size>,<checksum>``, OK."""
    return Exchange(
        command,
        (
            Piece(crlf(b"CONNECT") + data + crlf(summary), (Connect(),)),
            Piece(crlf(b"OK"), (Response(command, (data, summary), b"OK"),)),
        ),
        phase=DataPhase.DOWNLOAD,
        download=len(data),
    )


def upload(command: bytes, summary: bytes) -> Exchange:
    """AT+QFUPL: CONNECT; the host sends the bytes; ``+QFUPL: <size>,<checksum>``, OK."""
    return Exchange(
        command,
        (
            Piece(crlf(b"CONNECT"), (Connect(),)),
            Piece(crlf(summary)),
            Piece(crlf(b"OK"), (Response(command, (summary,), b"OK"),)),
        ),
        phase=DataPhase.UPLOAD,
    )


def open_buffer(command: bytes, client: int, err: int) -> Transcript:
    """QSSLOPEN in buffer or push mode: OK at once, the result later as a URC."""
    return (answer(command), urc(b"+QSSLOPEN: %d,%d" % (client, err)))


def cfg(key: bytes, value: bytes) -> Exchange:
    command = b'AT+QSSLCFG="' + key + b'",1'
    return answer(command, b'+QSSLCFG: "' + key + b'",1,' + value)


TRANSCRIPTS: dict[str, Transcript] = {
    # 2.1.1 AT+QSSLCFG
    "qsslcfg test": (answer(b"AT+QSSLCFG=?", *QSSLCFG_TEST),),
    "qsslcfg read sslversion": (cfg(b"sslversion", b"1"),),
    "qsslcfg read ciphersuite": (cfg(b"ciphersuite", b"0X0035"),),
    "qsslcfg read cacert": (cfg(b"cacert", b'"cacert.pem"'),),
    "qsslcfg read clientcert": (cfg(b"clientcert", b'"client.pem"'),),
    "qsslcfg read clientkey": (cfg(b"clientkey", b'"user_key.pem"'),),
    "qsslcfg read secllevel": (cfg(b"secllevel", b"1"),),
    "qsslcfg read seclevel": (cfg(b"seclevel", b"2"),),
    "qsslcfg read ignorelocaltime": (cfg(b"ignorelocaltime", b"1"),),
    "qsslcfg read negotiatetime": (cfg(b"negotiatetime", b"300"),),
    "qsslcfg write": (answer(b'AT+QSSLCFG="sslversion",1,1'),),
    "qsslcfg write error": (answer(b'AT+QSSLCFG="ciphersuite",1,"0XFFFF"', final=b"ERROR"),),
    # 2.1.2 AT+QSSLOPEN
    "qsslopen test": (
        answer(
            b"AT+QSSLOPEN=?", b"+QSSLOPEN: (1-16),(0-5),(0-11),<serveraddr>,<server_port>[,(0-2)]"
        ),
    ),
    "qsslopen ok": open_buffer(OPEN_4, 4, 0),
    "qsslopen fails 566": open_buffer(OPEN_4, 4, 566),
    "qsslopen error": (answer(OPEN_4, final=b"ERROR"),),
    "qsslopen transparent error": (
        replace(answer(OPEN_4_TRANSPARENT, final=b"ERROR"), phase=DataPhase.TRANSPARENT),
    ),
    # 2.1.3 AT+QSSLSEND
    "qsslsend test": (answer(b"AT+QSSLSEND=?", b"+QSSLSEND: (0-11)[,(1-1460)]"),),
    "qsslsend variable": (
        send(b"AT+QSSLSEND=4", TEST_DATA + b"\x1a", b"SEND OK", echo_of_payload=TEST_DATA),
    ),
    "qsslsend fixed": (send(b"AT+QSSLSEND=4,18", TEST_DATA, b"SEND OK"),),
    "qsslsend fail": (send(b"AT+QSSLSEND=4,18", TEST_DATA, b"SEND FAIL"),),
    "qsslsend error": (answer(b"AT+QSSLSEND=5,18", final=b"ERROR"),),
    "qsslsend nasty data": (send(b"AT+QSSLSEND=4,%d" % len(NASTY), NASTY, b"SEND OK"),),
    "qsslsend data not echoed": (  # a module that echoes the line but not the data
        replace(send(b"AT+QSSLSEND=4,18", TEST_DATA, b"SEND OK"), echo_of_payload=b""),
    ),
    # 2.1.4 AT+QSSLRECV
    "qsslrecv test": (answer(b"AT+QSSLRECV=?", b"+QSSLRECV: (0-11),(1-1500)"),),
    "qsslrecv data": (recv(b"AT+QSSLRECV=4,1500", TEST_DATA),),
    "qsslrecv crlf ok data": (recv(b"AT+QSSLRECV=4,1500", b"ab\r\nOK\r\ncd"),),
    "qsslrecv nasty data": (recv(b"AT+QSSLRECV=4,1500", NASTY),),
    "qsslrecv empty": (recv(b"AT+QSSLRECV=4,1500", b""),),
    "qsslrecv error": (answer(b"AT+QSSLRECV=9,1500", final=b"ERROR"),),
    "qsslrecv three numbers": (answer(b"AT+QSSLRECV=4,0", b"+QSSLRECV: 36,18,18"),),
    # 2.1.5 AT+QSSLCLOSE
    "qsslclose test": (answer(b"AT+QSSLCLOSE=?", b"+QSSLCLOSE: (0-11),(0-65535)"),),
    "qsslclose": (answer(b"AT+QSSLCLOSE=4"),),
    "qsslclose error": (answer(b"AT+QSSLCLOSE=4,10", final=b"ERROR"),),
    # 2.1.6 AT+QSSLSTATE
    "qsslstate test": (answer(b"AT+QSSLSTATE=?"),),
    "qsslstate one": (answer(b"AT+QSSLSTATE=4", STATE_4),),
    "qsslstate list": (answer(b"AT+QSSLSTATE", STATE_2, STATE_4),),
    "qsslstate none": (answer(b"AT+QSSLSTATE"),),
    # 2.2 URCs
    "urc recv buffer": (urc(b'+QSSLURC: "recv",4'),),
    "urc recv push": (urc(b'+QSSLURC: "recv",4,18', TEST_DATA),),
    "urc recv push nasty": (urc(b'+QSSLURC: "recv",4,%d' % len(NASTY), NASTY),),
    "urc closed": (urc(b'+QSSLURC: "closed",4'),),
    # 3.1 PDP context
    "qicsgp": (answer(b'AT+QICSGP=1,1,"CMCIOT","","",1'),),
    "qiact": (answer(b"AT+QIACT=1"), answer(b"AT+QIACT?", b'+QIACT: 1,1,1,"10.7.157.1"')),
    "qiact none": (answer(b"AT+QIACT?"),),
    "qideact": (answer(b"AT+QIDEACT=1"),),
    # 3.2 SSL context
    "ssl context": (
        answer(b'AT+QSSLCFG="sslversion",1,1'),
        answer(b'AT+QSSLCFG="ciphersuite",1,0X0035'),
        answer(b'AT+QSSLCFG="secllevel",1,1'),
        answer(b'AT+QSSLCFG="cacert",1,"cacert.pem"'),
    ),
    # 3.3 buffer access mode, whole
    "buffer mode session": (
        *open_buffer(OPEN_4, 4, 0),
        answer(b"AT+QSSLSTATE", STATE_4),
        send(b"AT+QSSLSEND=4", TEST_DATA + b"\x1a", b"SEND OK", echo_of_payload=TEST_DATA),
        send(b"AT+QSSLSEND=4,18", TEST_DATA, b"SEND OK"),
        urc(b'+QSSLURC: "recv",4'),
        recv(b"AT+QSSLRECV=4,1500", TEST_DATA),
        recv(b"AT+QSSLRECV=4,1500", b""),
        answer(b"AT+QSSLCLOSE=4"),
    ),
    # 3.4 direct push mode, whole
    "push mode session": (
        *open_buffer(OPEN_4_PUSH, 4, 0),
        answer(b"AT+QSSLSTATE", STATE_4_PUSH),
        send(b"AT+QSSLSEND=4,18", TEST_DATA, b"SEND OK"),
        urc(b'+QSSLURC: "recv",4,18', TEST_DATA),
        answer(b"AT+QSSLCLOSE=4"),
    ),
    # 3.5 transparent access mode
    "transparent send and +++": (transparent_session(OPEN_4_TRANSPARENT),),
    "transparent receive and +++": (
        transparent_session(OPEN_4_TRANSPARENT, TEST_DATA, NASTY, b"\r\nOK\r\n"),
        answer(b"AT+QSSLCLOSE=4"),
    ),
    "transparent no carrier": (
        transparent_session(OPEN_4_TRANSPARENT, TEST_DATA, end=b"\r\nNO CARRIER\r\n"),
        answer(b"AT+QSSLCLOSE=4"),
    ),
    "ato": (transparent_session(b"ATO", NASTY),),
    "ato no carrier": (answer(b"ATO", final=b"NO CARRIER"),),
    # chapter 5 / FIELD_NOTES: error reporting
    "qigeterror": (answer(b"AT+QIGETERROR", b"+QIGETERROR: 566,socket connection failed"),),
    "qigeterror ok": (answer(b"AT+QIGETERROR", b"+QIGETERROR: 0,operate successfully"),),
    "cme error numeric": (answer(b'AT+QFDEL="x.pem"', final=b"+CME ERROR: 405"),),
    "cme error verbose": (answer(b'AT+QFDEL="x.pem"', final=b"+CME ERROR: file not found"),),
    # FILE commands
    "qfupl": (upload(b'AT+QFUPL="cacert.pem",%d,5' % len(CA_FILE), CA_SUM),),
    "qfupl exists": (
        replace(
            answer(b'AT+QFUPL="cacert.pem",10', final=b"+CME ERROR: 407"), phase=DataPhase.UPLOAD
        ),
    ),
    "qfdwl": (download(b'AT+QFDWL="cacert.pem"', CA_FILE, CA_DWL),),
    "qflst": (answer(b"AT+QFLST", b'+QFLST: "cacert.pem",1188', b'+QFLST: "UFS:key.pem",1679'),),
    # general
    "ati": (answer(b"ATI", b"Quectel", b"BG96", b"Revision: BG96MAR02A07M1G"),),
    "ate0": (answer(b"ATE0"),),
    "cpin answer, then the same line as a URC": (
        answer(b"AT+CPIN?", b"+CPIN: READY"),
        urc(b"+CPIN: READY"),
    ),
    "boot": tuple(
        urc(line)
        for line in (
            b"RDY",
            b"+CFUN: 1",
            b"APP RDY",
            b"+CPIN: READY",
            b"+QUSIM: 1",
            b"+QIND: SMS DONE",
        )
    ),
    "pdp deactivated by the network": (urc(b'+QIURC: "pdpdeact",1'),),
}

# The TCP/IP manual (TCPIP_SOCKETS.md): sockets, services and their URCs
QIOPEN_0 = b'AT+QIOPEN=1,0,"TCP","220.180.239.212",8009,0,0'
QIOPEN_0_TRANSPARENT = b'AT+QIOPEN=1,0,"TCP","220.180.239.212",8009,0,2'
QISTATE_0 = b'+QISTATE: 0,"TCP","220.180.239.212",8009,15190,2,1,0,0,"uart1"'
QIRD_SENDER = b'+QIRD: %d,"10.7.76.34",7687'
PING_OK = (
    b'+QPING: 0,"172.217.169.36",32,596,255',
    b'+QPING: 0,"172.217.169.36",32,341,255',
    b"+QPING: 0,2,2,0,341,596,468",
)
TRANSCRIPTS |= {
    "qiopen ok": (answer(QIOPEN_0), urc(b"+QIOPEN: 0,0")),
    "qiopen id in use": (answer(QIOPEN_0), urc(b"+QIOPEN: 0,563")),
    "qiopen transparent": (transparent_session(QIOPEN_0_TRANSPARENT, NASTY),),
    "qistate one": (answer(b"AT+QISTATE=1,0", QISTATE_0),),
    "qistate none": (answer(b"AT+QISTATE=1,0"),),
    "qisend variable": (
        send(b"AT+QISEND=0", TEST_DATA + b"\x1a", b"SEND OK", echo_of_payload=TEST_DATA),
    ),
    "qisend fixed": (send(b"AT+QISEND=0,18", TEST_DATA, b"SEND OK"),),
    "qisend nasty": (send(b"AT+QISEND=0,%d" % len(NASTY), NASTY, b"SEND OK"),),
    "qisend udp service": (send(b'AT+QISEND=2,18,"10.7.89.10",6969', TEST_DATA, b"SEND OK"),),
    "qisend totals": (answer(b"AT+QISEND=0,0", b"+QISEND: 9,9,0"),),
    "qisendex": (answer(b'AT+QISENDEX=0,"3132333435"', final=b"SEND OK"),),
    "qird data": (recv(b"AT+QIRD=0,1500", NASTY, head=b"+QIRD: %d"),),
    "qird empty": (recv(b"AT+QIRD=0,1500", b"", head=b"+QIRD: %d"),),
    "qird udp service": (recv(b"AT+QIRD=2", NASTY, head=QIRD_SENDER),),
    "qird udp service empty": (answer(b"AT+QIRD=2", b"+QIRD: 0"),),
    "qird totals": (answer(b"AT+QIRD=0,0", b"+QIRD: 3524,3005,519"),),
    "qiclose": (answer(b"AT+QICLOSE=0,10"),),
    "qiurc recv buffer": (urc(b'+QIURC: "recv",0'),),
    "qiurc recv push": (urc(b'+QIURC: "recv",1,%d' % len(NASTY), NASTY),),
    "qiurc recv push udp service": (urc(b'+QIURC: "recv",2,2,"10.7.76.36",9', b"CC"),),
    "qiurc closed": (urc(b'+QIURC: "closed",0'),),
    "qiurc incoming": (urc(b'+QIURC: "incoming",11,1,"172.31.242.222",54091'),),
    "qiurc incoming full": (urc(b'+QIURC: "incoming full"'),),
    "qidnsgip": (
        answer(b'AT+QIDNSGIP=1,"www.example.com"'),
        urc(b'+QIURC: "dnsgip",0,2,600'),
        urc(b'+QIURC: "dnsgip","93.184.216.34"'),
        urc(b'+QIURC: "dnsgip","93.184.216.35"'),
    ),
    "qidnsgip fails": (answer(b'AT+QIDNSGIP=1,"nowhere.test"'), urc(b'+QIURC: "dnsgip",565')),
    "qping": (answer(b'AT+QPING=1,"www.example.com",4,2'), *(urc(x) for x in PING_OK)),
    "qping timeouts": (
        answer(b'AT+QPING=1,"10.0.0.1",1,2'),
        urc(b"+QPING: 569"),
        urc(b"+QPING: 569"),
        urc(b"+QPING: 0,2,0,2"),
    ),
    "qping dns fails": (answer(b'AT+QPING=1,"nowhere.test"'), urc(b"+QPING: 565")),
    "qntp": (answer(b'AT+QNTP=1,"pool.ntp.org",123'), urc(b'+QNTP: 0,"2013/08/19,11:10:10+32"')),
    "qntp fails": (answer(b'AT+QNTP=1,"pool.ntp.org",123'), urc(b"+QNTP: 565")),
    "qntp read": (answer(b"AT+QNTP?", b'+QNTP: "pool.ntp.org",123'),),
}


def _mid(exchange: Exchange, at: int, *inserted: Piece) -> Exchange:
    """``exchange`` with pieces inserted after its ``at``-th piece."""
    pieces = list(exchange.pieces)
    pieces[at:at] = inserted
    return replace(exchange, pieces=tuple(pieces))


# URCs in the middle of a response (FIELD_NOTES: real URCs arrive inside a QSSLRECV reply)
TRANSCRIPTS |= {
    "urc inside qsslrecv": (
        _mid(
            _mid(recv(b"AT+QSSLRECV=4,1500", NASTY), 2, urc_piece(b'+QSSLURC: "recv",4')),
            0,
            urc_piece(b'+QSSLURC: "closed",4'),
        ),
    ),
    "push data of another client inside qsslrecv": (
        _mid(
            recv(b"AT+QSSLRECV=4,1500", TEST_DATA),
            1,
            urc_piece(b'+QSSLURC: "recv",3,%d' % len(NASTY), NASTY),
        ),
    ),
    "urc between qsslstate lines": (
        _mid(answer(b"AT+QSSLSTATE", STATE_2, STATE_4), 1, urc_piece(b'+QSSLURC: "recv",2')),
    ),
    "pdpdeact inside qiact?": (
        _mid(
            answer(b"AT+QIACT?", b'+QIACT: 1,1,1,"10.7.157.1"'),
            1,
            urc_piece(b'+QIURC: "pdpdeact",2'),
        ),
    ),
    "another open's result during qsslopen": (
        _mid(answer(OPEN_4), 0, urc_piece(b"+QSSLOPEN: 3,0")),
        urc(b"+QSSLOPEN: 4,0"),
    ),
    "urc before the prompt": (
        _mid(send(b"AT+QSSLSEND=4,18", TEST_DATA, b"SEND OK"), 0, urc_piece(b'+QSSLURC: "recv",4')),
    ),
    "qping's results before its ok": (  # the write form's lines are URCs wherever they come
        _mid(
            answer(b'AT+QPING=1,"1.2.3.4",4,1'),
            0,
            urc_piece(b'+QPING: 0,"1.2.3.4",32,5,255'),
            urc_piece(b"+QPING: 0,1,1,0,5,5,5"),
        ),
    ),
    "qntp's result inside another answer": (
        _mid(answer(b"AT+QIACT?", b'+QIACT: 1,1,1,"10.7.157.1"'), 1, urc_piece(b"+QNTP: 565")),
    ),
    "push data of a udp service inside qird": (
        _mid(
            recv(b"AT+QIRD=0,1500", TEST_DATA, head=b"+QIRD: %d"),
            1,
            urc_piece(b'+QIURC: "recv",2,%d,"10.0.0.9",53' % len(NASTY), NASTY),
        ),
    ),
    "incoming inside qistate": (
        _mid(
            answer(b"AT+QISTATE=1,0", QISTATE_0),
            1,
            urc_piece(b'+QIURC: "incoming",11,1,"172.31.242.222",54091'),
        ),
    ),
    "urc inside qfdwl's answer": (
        _mid(
            download(b'AT+QFDWL="cacert.pem"', CA_FILE, CA_DWL),
            1,
            urc_piece(b'+QSSLURC: "closed",1'),
        ),
    ),
}

CASES = [
    pytest.param(name, echo, id=f"{name}-{'ate1' if echo else 'ate0'}")
    for name in TRANSCRIPTS
    for echo in (False, True)
]


def transcript(name: str, echo: bool) -> Transcript:
    exchanges = TRANSCRIPTS[name]
    return tuple(with_echo(e) for e in exchanges) if echo else exchanges


@pytest.mark.parametrize(("name", "echo"), CASES)
def test_transcript_whole_bytewise_and_cut_everywhere(name: str, echo: bool) -> None:
    script = transcript(name, echo)
    want = expected(script)
    splits: list[tuple[str, Splitter]] = [("whole", whole), ("byte by byte", bytewise)]
    for k, exchange in enumerate(script):
        splits += [
            (f"exchange {k} cut at {i}", cut(k, i)) for i in range(1, len(wire_of(exchange)))
        ]
    for how, split in splits:
        got, parser = run(script, split)
        assert got == want, how
        assert not parser.busy and not parser.transparent, how
        assert parser.events() == []


# ---- things one transcript does not show ---------------------------------------------------------


def test_every_transcript_is_covered_with_and_without_echo() -> None:
    assert len(CASES) == 2 * len(TRANSCRIPTS) >= 140


def test_the_manual_examples_expect_what_the_manual_says() -> None:
    """Spot checks of the expected events themselves (the runner compares against them)."""
    got, _ = run(TRANSCRIPTS["buffer mode session"], whole)
    responses = [e for e in got if isinstance(e, Response)]
    urcs = [e.line for e in got if isinstance(e, Urc)]
    assert urcs == [b"+QSSLOPEN: 4,0", b'+QSSLURC: "recv",4']
    finals = [b"OK", b"OK", b"SEND OK", b"SEND OK", b"OK", b"OK", b"OK"]
    assert [r.final for r in responses] == finals
    assert responses[4].lines == (b"+QSSLRECV: 18", TEST_DATA)
    assert responses[5].lines == (b"+QSSLRECV: 0",)
    assert got.count(Prompt()) == 2
    push, _ = run(TRANSCRIPTS["urc recv push nasty"], bytewise)
    assert push == [Urc(b'+QSSLURC: "recv",4,%d' % len(NASTY), NASTY)]


def test_the_echo_is_dropped_only_once() -> None:
    """A line equal to the command after its echo is part of the answer."""
    parser = DteParser()
    parser.begin(b"ATI")
    parser.feed(b"ATI\r\r\nATI\r\n\r\nOK\r\n")
    assert parser.events() == [Response(b"ATI", (b"ATI",), b"OK")]


def test_payload_echo_that_stops_matching_is_parsed_as_lines() -> None:
    parser = DteParser()
    parser.begin(b"AT+QSSLSEND=4,5", payload=b"hello")
    parser.feed(b"AT+QSSLSEND=4,5\r\r\n> hel")
    parser.feed(b"\r\nSEND FAIL\r\n")
    assert parser.events() == [Prompt(), Response(b"AT+QSSLSEND=4,5", (), b"SEND FAIL")]


def test_the_payload_is_not_skipped_without_the_command_echo() -> None:
    """ATE0: the data written at the prompt never comes back, so nothing is skipped, even
    when the data starts like the answer."""
    parser = DteParser()
    parser.begin(b"AT+QSSLSEND=4,11", payload=b"\r\nSEND OK\r\n")
    parser.feed(b"\r\n> \r\nSEND OK\r\n")
    assert parser.events() == [Prompt(), Response(b"AT+QSSLSEND=4,11", (), b"SEND OK")]


def test_garbage_without_line_ends_is_reported_in_bounded_pieces() -> None:
    parser = DteParser()
    parser.feed(b"\xff" * (MAX_LINE * 2 + 10))
    assert parser.events() == [Urc(b"\xff" * MAX_LINE)] * 2
    parser.begin(b"AT")
    parser.feed(b"\r\nOK\r\n")
    assert parser.events() == [Response(b"AT", (b"\xff" * 10,), b"OK")]


def test_unexpected_text_outside_a_command_is_reported_not_lost() -> None:
    parser = DteParser()
    parser.feed(b"\r\nOK\r\n\r\nhello\r\n")
    assert parser.events() == [Urc(b"OK"), Urc(b"hello")]
    assert Urc(b'+QSSLURC: "recv",4').name == b"+QSSLURC"


def test_rdy_mid_command_is_a_urc_and_the_command_stays_pending() -> None:
    parser = DteParser()
    parser.begin(b"AT+QIACT?")
    parser.feed(b"AT+QIACT?\r\r\nRDY\r\n\r\n+CFUN: 1\r\n")
    assert parser.events() == [Urc(b"RDY"), Urc(b"+CFUN: 1")]
    assert parser.busy


def test_response_helpers() -> None:
    ok = Response(b"AT+QIACT?", (b'+QIACT: 1,1,1,"10.7.157.1"',), b"OK")
    assert ok.ok and ok.raw() == b'+QIACT: 1,1,1,"10.7.157.1"\r\nOK'
    assert not Response(b"AT", (), b"+CME ERROR: 3").ok
    assert response_prefix(b"AT+cpin?") == b"+CPIN:"
    assert response_prefix(b"ATI") == b"\x00"


# ---- random interleavings, random splits --------------------------------------------------------

# answers that may follow each other in any order (no transparent mode inside: that is data)
POOL: list[Exchange] = [
    ex
    for name, script in TRANSCRIPTS.items()
    for ex in script
    if ex.command is not None
    and not ex.leave_transparent
    and ex.command != b"AT+QSSLOPEN=?"  # its lines are +QSSLOPEN:, like a URC in URC_POOL
    and ex.command not in (b"AT+CPIN?", b"AT+QNTP?")  # their lines look like URCs too
]
URC_POOL: list[Piece] = [
    urc_piece(b'+QSSLURC: "recv",4'),
    urc_piece(b'+QSSLURC: "closed",2'),
    urc_piece(b'+QSSLURC: "recv",3,7', b"\r\nOK\r\n>"),
    urc_piece(b'+QSSLURC: "recv",1,%d' % len(NASTY), NASTY),
    urc_piece(b'+QIURC: "pdpdeact",1'),
    urc_piece(b"+QSSLOPEN: 2,0"),
    urc_piece(b'+QIURC: "recv",2,4,"10.0.0.9",53', b"\r\n> "),
    urc_piece(b'+QIURC: "incoming",11,1,"10.0.0.9",5000'),
    urc_piece(b"+QIOPEN: 3,0"),
    urc_piece(b'+QPING: 0,"1.2.3.4",32,5,255'),
    urc_piece(b'+QNTP: 0,"2024/01/01,00:00:00+00"'),
    urc_piece(b"RDY"),
    urc_piece(b"+QIND: SMS DONE"),
]
SESSIONS = [TRANSCRIPTS["transparent receive and +++"][0], TRANSCRIPTS["ato"][0]]
UNSOLICITED = [Exchange(None, (piece,)) for piece in URC_POOL]


@st.composite
def sessions(draw: st.DrawFn) -> tuple[list[Exchange], list[list[int]]]:
    """Exchanges with URCs at random line boundaries, and where to cut each one's bytes."""
    script: list[Exchange] = []
    for exchange in draw(
        st.lists(st.sampled_from(POOL + SESSIONS + UNSOLICITED), min_size=1, max_size=8)
    ):
        if draw(st.booleans()):
            exchange = with_echo(exchange)
        pieces: list[Piece] = []
        if draw(st.integers(0, 3)) == 0:
            pieces.append(draw(st.sampled_from(URC_POOL)))
        for piece in exchange.pieces:
            pieces.append(piece)
            if piece.urc_after and draw(st.integers(0, 3)) == 0:
                pieces += draw(st.lists(st.sampled_from(URC_POOL), min_size=1, max_size=2))
        script.append(replace(exchange, pieces=tuple(pieces)))
    cuts = [
        sorted(draw(st.sets(st.integers(1, max(1, len(wire_of(e)) - 1)), max_size=12)))
        for e in script
    ]
    return script, cuts


@given(sessions())
@settings(max_examples=300, deadline=None)
def test_random_interleavings_and_splits(drawn: tuple[list[Exchange], list[list[int]]]) -> None:
    script, cuts = drawn

    def split(k: int, wire: bytes) -> list[bytes]:
        points = [0, *cuts[k], len(wire)]
        return [wire[a:b] for a, b in itertools.pairwise(points) if b > a]

    got, parser = run(script, split)
    assert got == expected(script)
    assert not parser.busy and not parser.transparent
