"""Real host drivers replayed against the engine, line by line, with the bytes each one needs.

FIELD_NOTES.md, "What host drivers actually send": TinyGSM upstream, the EnviroDIY TinyGSM
fork, Mbed OS's BG96 stack, an out-of-tree BG9x driver for Zephyr, and what "others" do.
Each test is a transcript: the exact line the driver writes (with its own line end: TinyGSM
and EnviroDIY end every command with CR LF, Mbed and Zephyr with CR), the exact bytes the
module must answer, and, where a driver parses an answer in a peculiar way, a helper that
parses it the way the driver's source does.

The network is played with events (``TcpConnected``, ``Connected``, ``Received``...) on the
engine's virtual clock: an answer returned by ``Module.send`` came at once, with no time
passing, which is what drivers with 1 s timeouts (TinyGSM) need.
"""

from __future__ import annotations

import pytest

from bg96.engine import (
    Close,
    Closed,
    Connect,
    Connected,
    ConnectFailed,
    PeerClosed,
    Received,
    Resolve,
    Resolved,
    Send,
    TcpConnected,
)
from bg96.engine.commands.ssl import SUITES
from bg96.engine.events import Intent
from bg96.engine.state import Mode

from .helpers import Module, tls_of
from .test_file import AMAZON_ROOT_CA_1 as CA_PEM  # 1188 bytes; FIELD_NOTES checksum 2d13

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
CRLF = b"\r\n"
CR = b"\r"
HOST = "broker.example"
UPLOADED = b"\r\n+QFUPL: 1188,2d13\r\n" + OK  # FIELD_NOTES: Amazon Root CA 1 -> 2d13


class Host:
    """A driver on the module's port: it ends every command line with ``eol``."""

    def __init__(self, m: Module, eol: bytes) -> None:
        self.m = m
        self.eol = eol

    def at(self, line: str) -> bytes:
        """Write one command line; return what the module answered at once."""
        return self.m.send(line.encode("latin-1") + self.eol)

    def expect(self, line: str, answer: bytes) -> None:
        """Write one command line and check the module's answer byte for byte."""
        got = self.at(line)
        assert got == answer, f"{line!r}: got {got!r}, want {answer!r}"


def only_connect(intents: list[Intent]) -> Connect:
    connects = [i for i in intents if isinstance(i, Connect)]
    assert len(connects) == 1 and len(intents) == 1, intents
    return connects[0]


def complete_open(m: Module, client_id: int, local_port: int = 50000) -> tuple[Connect, bytes]:
    """The network's side of an open: TCP up, handshake done; returns the intent and URC."""
    connect = only_connect(m.intents())
    m.event(TcpConnected(client_id, connect.conn_seq, local_port, "192.0.2.10"))
    return connect, m.event(Connected(client_id, connect.conn_seq, "TLSv1.2", "AES256-SHA"))


# ---- how TinyGSM parses answers (src/TinyGsmClientBG96.h) ----------------------------------


def tinygsm_qsslopen(urc: bytes) -> tuple[int, int]:
    """modemConnect: waitResponse("\\r\\n+QSSLOPEN:"), then the ints before ',' and '\\n'."""
    head = b"\r\n+QSSLOPEN:"
    assert urc.startswith(head), urc
    mux, err = urc[len(head) :].split(b"\n", 1)[0].split(b",")
    return int(mux), int(err)


def tinygsm_unread(answer: bytes) -> int:
    """modemGetAvailable: after "+QSSLRECV:" skip two commas; the number before '\\n'.

    A bare ``+QSSLRECV: 0`` has no comma: TinyGSM would skip into the following bytes.
    """
    rest = answer.split(b"+QSSLRECV:", 1)[1]
    _total, _read, unread = rest.split(b",", 2)
    return int(unread.split(b"\n", 1)[0])


def tinygsm_read(answer: bytes) -> bytes:
    """modemRead: the count before '\\n' after "+QSSLRECV:", then that many bytes, then OK."""
    rest = answer.split(b"+QSSLRECV:", 1)[1]
    count, data = rest.split(b"\n", 1)
    n = int(count)
    assert data[n:] == b"\r\n" + OK, data[n:]
    return data[:n]


def tinygsm_socket_state(answer: bytes) -> int:
    """modemGetConnected: after "+QSSLSTATE:" skip five commas; the number before ','."""
    rest = answer.split(b"+QSSLSTATE:", 1)[1]
    return int(rest.split(b",")[5])


# ---- TinyGSM upstream -------------------------------------------------------------------------


def tinygsm_init(h: Host, *, debug: bool = False) -> None:
    """TinyGSM's init(): the module still echoes until ATE0 (FIELD_NOTES: ``AT\\r\\r\\nOK``)."""
    h.expect("AT", b"AT\r\r\nOK\r\n")  # testAT(): waitResponse(200 ms) matches "OK\r\n"
    h.expect("ATE0", b"ATE0\r\r\nOK\r\n")
    if debug:
        h.expect("AT+CMEE=2", OK)
        h.expect("AT+CGMI", b"\r\nQuectel\r\n" + OK)
        h.expect("AT+CGMM", b"\r\nBG96\r\n" + OK)
    else:
        h.expect("AT+CMEE=0", OK)
    h.expect("AT+CTZR=0", OK)
    h.expect("AT+CTZU=1", OK)
    h.expect("AT+CPIN?", b"\r\n+CPIN: READY\r\n" + OK)  # waitResponse("\r\n+CPIN:"), "READY"


def tinygsm_gprs(h: Host) -> None:
    """gprsConnect("apn", "", "") and isGprsConnected()."""
    h.expect("AT+QIDEACT=1", OK)  # gprsDisconnect() first, on an inactive context
    h.expect('AT+QICSGP=1,1,"apn","",""', OK)  # no auth field
    h.expect("AT+QIACT=1", OK)
    h.expect("AT+CGATT=1", OK)
    h.expect("AT+CGATT?", b"\r\n+CGATT: 1\r\n" + OK)
    # getLocalIP(): skip to ',' and read to CR: the address must be bare, not quoted
    h.expect("AT+CGPADDR=1", b"\r\n+CGPADDR: 1,10.7.157.1\r\n" + OK)


def tinygsm_connect(m: Module, h: Host, mux: int = 0) -> int:
    """GsmClientSecureBG96::connect(HOST, 8883): stop() first, context 0 set, context 1 used."""
    h.expect(f"AT+QSSLCLOSE={mux}", OK)  # stop() on a never-opened ID
    h.expect('AT+QSSLCFG="sslversion",0,3', OK)
    h.expect('AT+QSSLCFG="ciphersuite",0,0X0035', OK)
    h.expect('AT+QSSLCFG="seclevel",0,1', OK)  # "seclevel", not the manual's "secllevel"
    h.expect(f'AT+QSSLOPEN=1,1,{mux},"{HOST}",8883,0', OK)
    connect, urc = complete_open(m, mux)
    assert urc == f"\r\n+QSSLOPEN: {mux},0\r\n".encode()
    assert tinygsm_qsslopen(urc) == (mux, 0)
    return connect.conn_seq


def tinygsm_module() -> tuple[Module, Host]:
    m = Module()
    h = Host(m, CRLF)
    tinygsm_init(h)
    tinygsm_gprs(h)
    return m, h


@pytest.mark.parametrize("debug", [False, True], ids=["release", "debug"])
def test_tinygsm_init(debug: bool) -> None:
    m = Module()
    h = Host(m, CRLF)
    tinygsm_init(h, debug=debug)
    h.expect("ATI", b"\r\nQuectel\r\nBG96\r\nRevision: BG96MAR02A07M1G\r\n" + OK)
    answer = h.at("AT+CEREG?")
    assert answer == b"\r\n+CEREG: 0,1\r\n" + OK
    # getRegistrationStatusXREG: skip to ',', the int before '\n': 1 is "registered, home"
    assert int(answer.split(b",", 1)[1].split(b"\n", 1)[0]) == 1


def test_tinygsm_restart_waits_for_app_rdy_then_inits_again() -> None:
    m, h = tinygsm_module()
    h.expect("AT+CFUN=1,1", OK)  # setPhoneFunctionality(1, true): waitResponse(15.5 s, "OK")
    boot = m.advance(0.1)  # waitResponse(10 s, "APP RDY"): all TinyGSM needs of the boot
    urcs = [line for line in boot.split(b"\r\n") if line]
    assert boot == b"".join(b"\r\n" + urc + b"\r\n" for urc in urcs)
    assert sorted(urcs) == sorted(  # the URCs of FIELD_NOTES' registered BG96 log
        [b"RDY", b"+CFUN: 1", b"APP RDY", b"+CPIN: READY", b"+QUSIM: 1", b"+QIND: SMS DONE"]
    )
    tinygsm_init(h)  # echo is on again after the restart, as init() expects
    h.expect("AT+QIACT?", OK)  # the PDP context did not survive the restart
    tinygsm_gprs(h)


def test_tinygsm_opens_on_context_1_with_its_defaults() -> None:
    """It configures context 0 and opens on context 1: context 1's defaults decide."""
    m, h = tinygsm_module()
    h.expect('AT+QSSLCFG="sslversion",0,3', OK)
    h.expect('AT+QSSLCFG="ciphersuite",0,0X0035', OK)
    h.expect('AT+QSSLCFG="seclevel",0,1', OK)
    h.expect(f'AT+QSSLOPEN=1,1,0,"{HOST}",8883,0', OK)
    tls = tls_of(only_connect(m.intents()))
    assert tls.ssl_ctx_id == 1
    assert (tls.sslversion, tls.ciphersuites, tls.seclevel) == (4, SUITES, 0)
    assert (tls.cacert, tls.ignore_localtime, tls.negotiate_time) == (None, True, 300)
    # context 0 kept what TinyGSM wrote, answered in the spelling asked
    h.expect('AT+QSSLCFG="seclevel",0', b'\r\n+QSSLCFG: "seclevel",0,1\r\n' + OK)
    h.expect('AT+QSSLCFG="ciphersuite",0', b'\r\n+QSSLCFG: "ciphersuite",0,0X0035\r\n' + OK)


def test_tinygsm_connect_send_with_cr_lf_after_the_command() -> None:
    m, h = tinygsm_module()
    seq = tinygsm_connect(m, h)
    # modemSend: "AT+QSSLSEND=0,5\r\n", waitResponse(">") within 1 s, then the data
    assert h.at("AT+QSSLSEND=0,5") == b"\r\n> "
    # the LF that came with the CR is not payload; "\r\nSEND OK" within 1 s
    assert m.send(b"hello") == b"\r\nSEND OK\r\n"
    assert m.intents() == [Send(0, seq, b"hello")]
    # a payload that starts with LF, written after the prompt was seen, keeps its LF
    assert h.at("AT+QSSLSEND=0,3") == b"\r\n> "
    assert m.send(b"\nab") == b"\r\nSEND OK\r\n"
    assert m.intents() == [Send(0, seq, b"\nab")]


def test_tinygsm_cr_lf_split_across_two_reads_is_still_a_line_end() -> None:
    """The LF 87 us behind the CR (one byte time at 115200 baud) is in before a real module's
    prompt; the virtual one, as quick as the host, holds the prompt for it."""
    m, h = tinygsm_module()
    seq = tinygsm_connect(m, h)
    assert m.send(b"AT+QSSLSEND=0,5\r") == b""  # a CR LF host: the prompt waits for the LF
    m.advance(0.0001)
    assert m.send(b"\n") == b"\r\n> "
    assert m.send(b"hello") == b"\r\nSEND OK\r\n"
    assert m.intents() == [Send(0, seq, b"hello")]
    h.expect("AT+QSSLRECV=0,0", b"\r\n+QSSLRECV: 0,0,0\r\n" + OK)


def test_a_cr_lf_host_whose_lf_does_not_come_gets_the_prompt_after_20_ms() -> None:
    m, h = tinygsm_module()
    seq = tinygsm_connect(m, h)
    assert m.send(b"AT+QSSLSEND=0,5\r") == b""
    assert m.advance(0.019) == b""
    assert m.advance(0.002) == b"\r\n> "
    assert m.send(b"\nhell") == b"\r\nSEND OK\r\n"  # after the prompt a LF is data
    assert m.intents() == [Send(0, seq, b"\nhell")]


def test_tinygsm_polls_the_three_numbers_and_reads_63_bytes_at_a_time() -> None:
    m, h = tinygsm_module()
    seq = tinygsm_connect(m, h)
    # available(): every 500 ms AT+QSSLRECV=<mux>,0; when nothing is unread, the state
    answer = h.at("AT+QSSLRECV=0,0")
    assert answer == b"\r\n+QSSLRECV: 0,0,0\r\n" + OK
    assert tinygsm_unread(answer) == 0
    answer = h.at("AT+QSSLSTATE=1,0")  # the undocumented two-argument form
    assert answer == (
        b'\r\n+QSSLSTATE: 0,"SSLClient","broker.example",8883,50000,2,1,0,0,"uart1",1\r\n' + OK
    )
    assert tinygsm_socket_state(answer) == 2  # the sixth field: connected
    payload = bytes(range(100))  # holds CR, LF and NUL: TinyGSM reads by count
    assert m.event(Received(0, seq, payload)) == b'\r\n+QSSLURC: "recv",0\r\n'  # ignored
    m.advance(0.5)
    answer = h.at("AT+QSSLRECV=0,0")
    assert answer == b"\r\n+QSSLRECV: 100,0,100\r\n" + OK
    assert tinygsm_unread(answer) == 100
    # read(): at most rx.free() = 63 bytes (a 64-byte FIFO), data straight after the header
    answer = h.at("AT+QSSLRECV=0,63")
    assert answer == b"\r\n+QSSLRECV: 63\r\n" + payload[:63] + b"\r\n" + OK
    assert tinygsm_read(answer) == payload[:63]
    answer = h.at("AT+QSSLRECV=0,0")  # modemRead() asks again after every read
    assert answer == b"\r\n+QSSLRECV: 100,63,37\r\n" + OK
    assert tinygsm_unread(answer) == 37
    answer = h.at("AT+QSSLRECV=0,37")
    assert tinygsm_read(answer) == payload[63:]
    answer = h.at("AT+QSSLRECV=0,0")
    assert answer == b"\r\n+QSSLRECV: 100,100,0\r\n" + OK
    assert tinygsm_unread(answer) == 0
    assert tinygsm_socket_state(h.at("AT+QSSLSTATE=1,0")) == 2


def test_tinygsm_sees_the_peer_close_in_the_sixth_field() -> None:
    m, h = tinygsm_module()
    seq = tinygsm_connect(m, h, mux=3)
    assert m.event(Received(3, seq, b"bye")) == b'\r\n+QSSLURC: "recv",3\r\n'
    assert m.event(PeerClosed(3, seq, "close_notify")) == b'\r\n+QSSLURC: "closed",3\r\n'
    # TinyGSM ignores both URCs; its poll still finds the data, then the state
    assert tinygsm_unread(h.at("AT+QSSLRECV=3,0")) == 3
    assert tinygsm_read(h.at("AT+QSSLRECV=3,3")) == b"bye"
    assert tinygsm_unread(h.at("AT+QSSLRECV=3,0")) == 0
    assert tinygsm_socket_state(h.at("AT+QSSLSTATE=1,3")) == 4  # closing: not connected
    h.expect("AT+QSSLCLOSE=3", OK)  # stop(): already closed by the peer, so at once
    assert m.intents() == [Close(3, seq, abort=True)]
    h.expect("AT+QIDEACT=1", OK)


def test_tinygsm_stop_is_answered_within_its_15_s() -> None:
    m, h = tinygsm_module()
    seq = tinygsm_connect(m, h)
    # stop(): AT+QSSLCLOSE=<mux>, waitResponse(15 s)
    assert h.at("AT+QSSLCLOSE=0") == b""
    assert m.intents() == [Close(0, seq, abort=False)]
    assert m.event(Closed(0, seq)) == OK
    # a server that never answers the close: the module's 10 s close_timeout still beats 15 s
    seq = tinygsm_connect(m, h)
    assert h.at("AT+QSSLCLOSE=0") == b""
    assert m.advance(9.9) == b""
    assert m.advance(0.1) == OK
    h.expect("AT+QIDEACT=1", OK)


def test_tinygsm_gives_up_an_open_after_75_s_and_no_late_urc_follows() -> None:
    m, h = tinygsm_module()
    h.expect("AT+QSSLCLOSE=0", OK)
    h.expect(f'AT+QSSLOPEN=1,1,0,"{HOST}",8883,0', OK)
    first = only_connect(m.intents())  # the server never answers the TCP SYN
    # connect(host, port) waits 75 s for "\r\n+QSSLOPEN:", then stop()
    assert m.advance(75.0) == b""
    h.expect("AT+QSSLCLOSE=0", OK)  # an opening ID closes at once
    assert m.intents() == [Close(0, first.conn_seq, abort=True)]
    tinygsm_connect(m, h)  # the next attempt on the same ID
    # the dead attempt's 150 s deadline and late events must not raise a +QSSLOPEN that
    # TinyGSM would take for the answer to a later open
    assert m.event(TcpConnected(0, first.conn_seq, 50001, "192.0.2.10")) == b""
    assert m.advance(300.0) == b""
    assert tinygsm_socket_state(h.at("AT+QSSLSTATE=1,0")) == 2


# ---- the EnviroDIY TinyGSM fork ---------------------------------------------------------------


def envirodiy_module(*, debug: bool = False) -> tuple[Module, Host]:
    m = Module()
    h = Host(m, CRLF)
    tinygsm_init(h, debug=debug)
    tinygsm_gprs(h)
    return m, h


def envirodiy_configure(h: Host) -> None:
    """configureSSLContext(0, CA_VALIDATION, TLS1_2, "ca.pem", ...): its exact lines."""
    h.expect('AT+QSSLCFG="cacert",0,"ca.pem"', OK)
    h.expect('AT+QSSLCFG="ciphersuite",0,0XFFFF', OK)
    h.expect('AT+CSSLCFG="sslversion",0,3', ERROR)  # a SIMCom command, by mistake
    h.expect('AT+QSSLCFG="seclevel",0,1', OK)
    h.expect('AT+QSSLCFG="ignorelocaltime",0,0', OK)


def envirodiy_connect(m: Module, h: Host) -> int:
    h.expect("AT+QSSLCLOSE=0", OK)
    envirodiy_configure(h)  # again on every connect: the ERROR above made it "not configured"
    h.expect(f'AT+QSSLOPEN=1,0,0,"{HOST}",8883,0', OK)
    connect, urc = complete_open(m, 0)
    assert urc == b"\r\n+QSSLOPEN: 0,0\r\n"
    return connect.conn_seq


def test_envirodiy_uploads_the_certificate_after_qfdel() -> None:
    m, h = envirodiy_module()
    # deleteCertificate(): CMEE=0, so a missing file is a plain ERROR (ignored)
    h.expect('AT+QFDEL="ca.pem"', ERROR)
    # loadCertificate(): waitResponse("CONNECT"), the bytes, "+QFUPL:" parseInt == len, OK
    h.expect('AT+QFUPL="ca.pem",1188,10', b"\r\nCONNECT\r\n")
    assert m.send(CA_PEM) == UPLOADED
    assert m.store.read("ca.pem") == CA_PEM  # the LF after the command's CR is not file data
    # the next boot does the same: now QFDEL finds the file
    h.expect('AT+QFDEL="ca.pem"', OK)
    h.expect('AT+QFUPL="ca.pem",1188,10', b"\r\nCONNECT\r\n")
    assert m.send(CA_PEM) == UPLOADED


def test_envirodiy_qfupl_cr_lf_split_across_two_reads() -> None:
    m, _ = envirodiy_module()
    assert m.send(b'AT+QFUPL="ca.pem",1188,10\r') == b""  # CONNECT waits for the LF
    m.advance(0.0001)
    assert m.send(b"\n") == b"\r\nCONNECT\r\n"
    assert m.send(CA_PEM) == UPLOADED
    assert m.store.read("ca.pem") == CA_PEM


@pytest.mark.parametrize("debug", [False, True], ids=["CMEE=0", "CMEE=2"])
def test_envirodiy_configures_context_0_and_opens_on_it(debug: bool) -> None:
    m, h = envirodiy_module(debug=debug)
    m.store.write("ca.pem", CA_PEM)
    envirodiy_configure(h)  # AT+CSSLCFG is ERROR even with CMEE=2: an unknown command
    h.expect(f'AT+QSSLOPEN=1,0,0,"{HOST}",8883,0', OK)
    tls = tls_of(only_connect(m.intents()))
    assert tls.ssl_ctx_id == 0
    assert (tls.sslversion, tls.ciphersuites, tls.seclevel) == (4, SUITES, 1)  # 3 never set
    assert (tls.cacert, tls.cacert_name) == (CA_PEM, "ca.pem")
    # validity is checked against the module clock, still at the GPS epoch unless set
    assert tls.ignore_localtime is False
    assert tls.module_time < 316_000_000  # 1980-01-06 plus seconds


def test_envirodiy_reads_on_each_urc_and_stops_after_a_short_read() -> None:
    m, h = envirodiy_module()
    m.store.write("ca.pem", CA_PEM)
    seq = envirodiy_connect(m, h)
    payload = bytes(range(100))
    # handleURCs matches "\r\n+QSSLURC:", then sets 1500 available
    assert m.event(Received(0, seq, payload)) == b'\r\n+QSSLURC: "recv",0\r\n'
    h.expect("AT+QSSLRECV=0,63", b"\r\n+QSSLRECV: 63\r\n" + payload[:63] + b"\r\n" + OK)
    h.expect("AT+QSSLRECV=0,63", b"\r\n+QSSLRECV: 37\r\n" + payload[63:] + b"\r\n" + OK)
    # 37 < 63: it stops without the read that answers "+QSSLRECV: 0" and waits for a URC
    assert m.event(Received(0, seq, b"more")) == b'\r\n+QSSLURC: "recv",0\r\n'
    h.expect("AT+QSSLRECV=0,63", b"\r\n+QSSLRECV: 4\r\nmore\r\n" + OK)
    assert m.event(Received(0, seq, b"again")) == b'\r\n+QSSLURC: "recv",0\r\n'


def test_envirodiy_qsslstate_is_a_bare_ok_once_closed() -> None:
    m, h = envirodiy_module()
    m.store.write("ca.pem", CA_PEM)
    seq = envirodiy_connect(m, h)
    answer = h.at("AT+QSSLSTATE=0")
    assert answer == (
        b'\r\n+QSSLSTATE: 0,"SSLClient","broker.example",8883,50000,2,1,0,0,"uart1",0\r\n' + OK
    )
    assert tinygsm_socket_state(answer) == 2  # same parser as upstream
    assert h.at("AT+QSSLCLOSE=0") == b""
    assert m.event(Closed(0, seq)) == OK
    h.expect("AT+QSSLSTATE=0", OK)  # "just returns OK if the sock is closed"


# ---- Mbed OS (connectivity/drivers/cellular/QUECTEL/BG96) ------------------------------------


def mbed_module() -> tuple[Module, Host]:
    """AT_CellularDevice init, the context, and the stack's constructor."""
    m = Module()
    h = Host(m, CR)
    # "AT" with a 30 ms timeout, else a power cycle: the answer comes with no time passing
    h.expect("AT", b"AT\r\r\nOK\r\n")
    h.expect("AT+CMEE?", b"AT+CMEE?\r\r\n+CMEE: 1\r\n" + OK)
    h.expect("ATE0", b"ATE0\r\r\nOK\r\n")
    h.expect("AT+CMEE=1", OK)
    h.expect("AT+CFUN=1", OK)  # already at full functionality
    h.expect('AT+QICSGP=1,1,"apn"', OK)  # the short form: APN only
    h.expect("AT+QIACT=1", OK)
    for client_id in range(12):  # "close all SSL sockets if open" (a reset host, not modem)
        h.expect(f"AT+QSSLCLOSE={client_id}", OK)
    assert m.intents() == []
    return m, h


def mbed_tls_setup(m: Module, h: Host) -> None:
    """setsockopt: SET_HOSTNAME, SET_CACERT (set_to_modem_impl)."""
    # a later-firmware key with a quoted host name, accepted here (docs/fidelity.md): the
    # server's certificate must then match HOST
    h.expect(f'AT+QSSLCFG="checkhost",0,"{HOST}"', OK)
    h.expect('AT+QFDEL="cacert.pem"', b"\r\n+CME ERROR: 405\r\n")  # error ignored
    h.expect('AT+QFUPL="cacert.pem",1188', b"\r\nCONNECT\r\n")
    assert m.send(CA_PEM) == UPLOADED  # resp_start("+QFUPL:"), read_int == size
    h.expect('AT+QSSLCFG="cacert",0,"cacert.pem"', OK)


def mbed_enable_tls(h: Host, seclevel: int = 1) -> None:
    """NSAPI_TLSSOCKET_ENABLE, before every connect."""
    h.expect(f'AT+QSSLCFG="seclevel",0,{seclevel}', OK)
    h.expect('AT+QSSLCFG="sslversion",0,4', OK)
    h.expect('AT+QSSLCFG="ciphersuite",0,0xFFFF', OK)  # lower-case 0x, unquoted


def test_mbed_start_up() -> None:
    _, h = mbed_module()
    h.expect("AT+QIACT?", b'\r\n+QIACT: 1,1,1,"10.7.157.1"\r\n' + OK)
    h.expect('AT+QSSLCFG="ciphersuite",0,0xFFFF', OK)
    h.expect('AT+QSSLCFG="ciphersuite",0', b'\r\n+QSSLCFG: "ciphersuite",0,0XFFFF\r\n' + OK)


def test_mbed_sweep_frees_an_id_a_reset_host_left_open() -> None:
    """The reason for the QSSLCLOSE=0..11 sweep: the host restarted, the module did not."""
    m = Module()
    h = Host(m, CR)
    h.expect("ATE0", b"ATE0\r\r\nOK\r\n")
    h.expect("AT+QIACT=1", OK)
    h.expect('AT+QSSLOPEN=1,0,5,"192.0.2.10",443,0', OK)
    stale, _ = complete_open(m, 5)
    # the application processor resets; the new Mbed stack sweeps every ID
    for client_id in range(12):
        if client_id == 5:
            assert h.at("AT+QSSLCLOSE=5") == b""  # close_notify and FIN first
            assert m.intents() == [Close(5, stale.conn_seq, abort=False)]
            assert m.event(Closed(5, stale.conn_seq)) == OK
        else:
            h.expect(f"AT+QSSLCLOSE={client_id}", OK)
    mbed_enable_tls(h, seclevel=0)
    h.expect('AT+QSSLOPEN=1,0,5,"192.0.2.10",443,0', OK)  # no 563: the ID is free
    assert complete_open(m, 5)[1] == b"\r\n+QSSLOPEN: 5,0\r\n"


def test_mbed_tls_socket_connects_by_address_sends_and_reads() -> None:
    m, h = mbed_module()
    mbed_tls_setup(m, h)
    mbed_enable_tls(h)
    h.expect('AT+QSSLOPEN=1,0,0,"192.0.2.10",443,0', OK)  # by IP only
    connect, urc = complete_open(m, 0)
    assert urc == b"\r\n+QSSLOPEN: 0,0\r\n"  # resp_start("+QSSLOPEN:"), read_int x 2
    assert (connect.host, connect.port) == ("192.0.2.10", 443)
    tls = tls_of(connect)
    assert (tls.ssl_ctx_id, tls.seclevel, tls.cacert) == (0, 1, CA_PEM)
    assert tls.ciphersuites == SUITES
    seq = connect.conn_seq
    # socket_sendto_impl: blocks of at most 1460, each waits for ">" then "SEND OK"
    payload = bytes(i % 251 for i in range(2000))
    for block in (payload[:1460], payload[1460:]):
        h.expect(f"AT+QSSLSEND=0,{len(block)}", b"\r\n> ")
        assert m.send(block) == b"\r\nSEND OK\r\n"
        assert m.intents() == [Send(0, seq, block)]
    # on +QSSLURC: "recv": AT+QSSLRECV=<id>,1500 until +QSSLRECV: 0
    assert m.event(Received(0, seq, b"x" * 2000)) == b'\r\n+QSSLURC: "recv",0\r\n'
    h.expect("AT+QSSLRECV=0,1500", b"\r\n+QSSLRECV: 1500\r\n" + b"x" * 1500 + b"\r\n" + OK)
    h.expect("AT+QSSLRECV=0,1500", b"\r\n+QSSLRECV: 500\r\n" + b"x" * 500 + b"\r\n" + OK)
    h.expect("AT+QSSLRECV=0,1500", b"\r\n+QSSLRECV: 0\r\n" + OK)
    assert m.event(Received(0, seq, b"y")) == b'\r\n+QSSLURC: "recv",0\r\n'
    # socket_close_impl: QSSLCLOSE (20 s timeout), then seclevel back to 0
    assert h.at("AT+QSSLCLOSE=0") == b""
    assert m.intents() == [Close(0, seq, abort=False)]
    assert m.event(Closed(0, seq)) == OK
    h.expect('AT+QSSLCFG="seclevel",0,0', OK)


def test_mbed_retries_a_failed_open_once() -> None:
    m, h = mbed_module()
    mbed_tls_setup(m, h)
    mbed_enable_tls(h)
    h.expect('AT+QSSLOPEN=1,0,2,"192.0.2.10",443,0', OK)
    first = only_connect(m.intents())
    reason = "certificate verify failed: unknown CA"
    assert m.event(ConnectFailed(2, first.conn_seq, 566, reason)) == b"\r\n+QSSLOPEN: 2,566\r\n"
    # err != 0: socket_close_impl(2) (the ID is free already), then the same open again
    h.expect("AT+QSSLCLOSE=2", OK)
    h.expect('AT+QSSLCFG="seclevel",0,0', OK)  # socket_close_impl resets it...
    h.expect('AT+QSSLOPEN=1,0,2,"192.0.2.10",443,0', OK)
    retry, urc = complete_open(m, 2)
    assert urc == b"\r\n+QSSLOPEN: 2,0\r\n"
    assert tls_of(retry).seclevel == 0  # ...so Mbed's retry runs without server verification


def test_mbed_hears_of_a_stalled_open_within_its_150_s() -> None:
    m, h = mbed_module()
    mbed_tls_setup(m, h)
    mbed_enable_tls(h)
    h.expect('AT+QSSLOPEN=1,0,0,"192.0.2.10",443,0', OK)
    only_connect(m.intents())  # TCP never connects
    assert m.advance(149.999) == b""
    assert m.advance(0.001) == b"\r\n+QSSLOPEN: 0,569\r\n"  # BG96_CREATE_SOCKET_TIMEOUT 150 s


# ---- the BG9x SSL driver for Zephyr (out of tree) ---------------------------------------------


def zephyr_module() -> tuple[Module, Host]:
    m = Module()
    h = Host(m, CR)
    h.expect("ATE0", b"ATE0\r\r\nOK\r\n")
    h.expect("AT+QIACT=1", OK)
    return m, h


def zephyr_setup(m: Module, h: Host) -> None:
    """Context 1 for everything; certificates deleted, then uploaded."""
    h.expect('AT+QSSLCFG="sslversion",1,4', OK)
    h.expect('AT+QSSLCFG="ciphersuite",1,0xFFFF', OK)
    h.expect('AT+QSSLCFG="negotiatetime",1,300', OK)
    h.expect('AT+QSSLCFG="ignorelocaltime",1,1', OK)
    h.expect('AT+QSSLCFG="seclevel",1,1', OK)
    # OK, +CME ERROR: 405 or 418 are all fine for the driver; numeric without AT+CMEE
    h.expect('AT+QFDEL="ca.pem"', b"\r\n+CME ERROR: 405\r\n")
    h.expect('AT+QFUPL="ca.pem",1188', b"\r\nCONNECT\r\n")
    assert m.send(CA_PEM) == UPLOADED
    h.expect('AT+QSSLCFG="cacert",1,"ca.pem"', OK)


def zephyr_resolve(m: Module, h: Host, address: str = "192.0.2.10") -> None:
    h.expect(f'AT+QIDNSGIP=1,"{HOST}"', OK)
    lookups = m.intents()
    assert len(lookups) == 1 and isinstance(lookups[0], Resolve)
    assert lookups[0].host == HOST
    assert m.event(Resolved(lookups[0].request, (address,))) == (
        f'\r\n+QIURC: "dnsgip",0,1,600\r\n\r\n+QIURC: "dnsgip","{address}"\r\n'.encode()
    )


def zephyr_connect(m: Module, h: Host) -> int:
    zephyr_resolve(m, h)
    h.expect('AT+QSSLOPEN=1,1,1,"192.0.2.10",8883,0', OK)
    connect, urc = complete_open(m, 1)
    assert urc == b"\r\n+QSSLOPEN: 1,0\r\n"
    return connect.conn_seq


def test_zephyr_configures_context_1_and_replaces_its_certificate() -> None:
    m, h = zephyr_module()
    zephyr_setup(m, h)
    h.expect('AT+QFDEL="ca.pem"', OK)  # the next start: the file is there
    h.expect('AT+QFUPL="ca.pem",1188', b"\r\nCONNECT\r\n")
    assert m.send(CA_PEM) == UPLOADED
    h.expect(f'AT+QSSLOPEN=1,1,1,"{HOST}",8883,0', OK)
    tls = tls_of(only_connect(m.intents()))
    assert (tls.ssl_ctx_id, tls.sslversion, tls.seclevel, tls.negotiate_time) == (1, 4, 1, 300)
    assert (tls.cacert, tls.ignore_localtime, tls.ciphersuites) == (CA_PEM, True, SUITES)


def test_zephyr_resolves_names_with_qidnsgip() -> None:
    m, h = zephyr_module()
    zephyr_resolve(m, h, "203.0.113.5")
    h.expect('AT+QIDNSGIP=1,"nowhere.invalid"', OK)
    (lookup,) = m.intents()
    assert isinstance(lookup, Resolve)
    assert m.event(Resolved(lookup.request, code=565, reason="NXDOMAIN")) == (
        b'\r\n+QIURC: "dnsgip",565\r\n'
    )


def test_zephyr_writes_the_data_150_ms_later_without_waiting_for_the_prompt() -> None:
    m, h = zephyr_module()
    zephyr_setup(m, h)
    seq = zephyr_connect(m, h)
    payload = b"\n\x00{json}\r\n\x1a"  # binary, and it happens to start with a LF
    out = h.at(f"AT+QSSLSEND=1,{len(payload)}")
    out += m.advance(0.150)
    out += m.send(payload)
    assert out == b"\r\n> \r\nSEND OK\r\n"
    assert m.intents() == [Send(1, seq, payload)]
    h.expect("AT+QSSLSEND=1,2", b"\r\n> ")  # and straight after, with no wait at all
    assert m.send(b"ok") == b"\r\nSEND OK\r\n"


def test_zephyr_parses_the_raw_receive_framing() -> None:
    m, h = zephyr_module()
    zephyr_setup(m, h)
    seq = zephyr_connect(m, h)
    payload = b'\r\nOK\r\n+QSSLURC: "closed",1\r\n\x00\xff'  # looks like answers, is data
    assert m.event(Received(1, seq, payload)) == b'\r\n+QSSLURC: "recv",1\r\n'
    h.expect(
        "AT+QSSLRECV=1,1500",
        f"\r\n+QSSLRECV: {len(payload)}\r\n".encode() + payload + b"\r\n\r\nOK\r\n",
    )
    h.expect("AT+QSSLRECV=1,1500", b"\r\n+QSSLRECV: 0\r\n\r\nOK\r\n")
    h.expect("AT+QSSLCLOSE=1,0", OK)  # timeout 0: at once
    assert m.intents() == [Close(1, seq, abort=True)]
    h.expect("AT+QSSLSTATE=1", OK)


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (566, "socket connect failed"),
        (569, "operation timeout"),
        (565, "dns parse failed"),
    ],
)
def test_zephyr_asks_qigeterror_after_a_failed_open(code: int, text: str) -> None:
    m, h = zephyr_module()
    zephyr_setup(m, h)
    h.expect('AT+QSSLOPEN=1,1,1,"192.0.2.10",8883,0', OK)
    connect = only_connect(m.intents())
    failed = m.event(ConnectFailed(1, connect.conn_seq, code, "the cause, for the trace"))
    assert failed == f"\r\n+QSSLOPEN: 1,{code}\r\n".encode()
    h.expect("AT+QIGETERROR", f"\r\n+QIGETERROR: {code},{text}\r\n".encode() + OK)
    h.expect("AT+QSSLCLOSE=1,0", OK)  # the ID is free already
    assert m.intents() == []
    seq = zephyr_connect(m, h)  # and can be used again
    assert seq > connect.conn_seq


# ---- others -----------------------------------------------------------------------------------


def connected_module() -> tuple[Module, Host, int]:
    m = Module()
    h = Host(m, CR)
    h.expect("ATE0", b"ATE0\r\r\nOK\r\n")
    h.expect("AT+QIACT=1", OK)
    h.expect(f'AT+QSSLOPEN=1,1,0,"{HOST}",443,0', OK)
    connect, urc = complete_open(m, 0)
    assert urc == b"\r\n+QSSLOPEN: 0,0\r\n"
    return m, h, connect.conn_seq


def test_stray_ctrl_z_outside_a_prompt() -> None:
    m, h, seq = connected_module()
    assert m.send(b"\x1a") == b""  # alone: nothing to answer yet
    h.expect("AT", OK)  # it was noise before the AT prefix
    assert m.send(b"\x1a\r") == b""  # a line of only a Ctrl-Z: no answer, nothing to desync
    h.expect(  # the next line gets its own answer and nothing else
        "AT+QSSLSTATE=0",
        b'\r\n+QSSLSTATE: 0,"SSLClient","broker.example",443,50000,2,1,0,0,"uart1",1\r\n' + OK,
    )
    # a driver that ends a fixed-length send with Ctrl-Z anyway: the data phase ends at
    # <len> bytes, the Ctrl-Z falls on the next command line and does no harm
    h.expect("AT+QSSLSEND=0,4", b"\r\n> ")
    assert m.send(b"data\x1a") == b"\r\nSEND OK\r\n"
    assert m.intents() == [Send(0, seq, b"data")]
    h.expect("AT+QSSLRECV=0,0", b"\r\n+QSSLRECV: 0,0,0\r\n" + OK)
    # and between the halves of a command line, still noise before AT
    assert m.send(b"\x1a\x1aAT+CSQ\r") == b"\r\n+CSQ: 24,99\r\n" + OK
    assert m.engine.mode is Mode.COMMAND


def test_configuration_resent_on_every_connect() -> None:
    m = Module()
    h = Host(m, CR)
    h.expect("ATE0", b"ATE0\r\r\nOK\r\n")
    m.store.write("ca.pem", CA_PEM)
    for attempt in range(3):
        h.expect('AT+QICSGP=1,1,"apn","","",0', OK)  # also while the context is active
        # QIACT again on an active context is refused; QIGETERROR says why
        h.expect("AT+QIACT=1", OK if attempt == 0 else ERROR)
        if attempt:
            h.expect("AT+QIGETERROR", b"\r\n+QIGETERROR: 572,operation not allowed\r\n" + OK)
        for line in (
            'AT+QSSLCFG="sslversion",2,4',
            'AT+QSSLCFG="ciphersuite",2,0XFFFF',
            'AT+QSSLCFG="seclevel",2,1',
            'AT+QSSLCFG="cacert",2,"ca.pem"',
            'AT+QSSLCFG="ignorelocaltime",2,1',
            'AT+QSSLCFG="negotiatetime",2,60',
        ):
            h.expect(line, OK)
        # uploading again without deleting: the file exists
        h.expect('AT+QFUPL="ca.pem",1188', b"\r\n+CME ERROR: 407\r\n")
        h.expect(f'AT+QSSLOPEN=1,2,{attempt},"{HOST}",443,0', OK)
        connect, urc = complete_open(m, attempt)
        assert urc == f"\r\n+QSSLOPEN: {attempt},0\r\n".encode()
        assert (tls_of(connect).seclevel, tls_of(connect).negotiate_time) == (1, 60)
    # re-configuring a context leaves the connections already made on it alone
    h.expect('AT+QSSLCFG="seclevel",2,0', OK)
    lines = h.at("AT+QSSLSTATE").removesuffix(OK).split(b"\r\n")[1:-1]
    assert [line.split(b",")[5::5] for line in lines] == [[b"2", b"2"]] * 3  # state, context


@pytest.mark.parametrize(
    "line",
    [
        "AT+QSSLOPEN=1,1,0,broker.example,443,0",  # host not quoted
        'AT+QSSLOPEN=1,1,0,"broker.example","443",0',  # port quoted
        'AT+QSSLOPEN="1",1,0,"broker.example",443,0',  # context quoted
        'AT+QSSLOPEN=1,1,0,"broker.example:443"',  # port inside the host
        'AT+QSSLOPEN=1,1,0,"broker.example",443,0,',  # trailing comma
        'AT+QSSLOPEN=1,1,0,"broker.example",443,0,0',  # one parameter too many
        'AT+QSSLOPEN=1,1,,"broker.example",443,0',  # client ID left out
        'AT+QSSLOPEN=1,1,0,"",443,0',  # empty host
        'AT+QSSLOPEN=1,1,0,"broker.example",-1,0',
        'AT+QSSLOPEN=1,1,0,"broker.example",0x1BB,0',
        'AT+QSSLOPEN=1,1,0,"broker.example,443,0',  # unterminated string
        'AT+QSSLOPEN=1;1,0,"broker.example",443,0',  # ; for ,
        'AT+QSSLOPEN 1,1,0,"broker.example",443,0',  # no =
        "AT+QSSLOPEN=",
        "AT+QSSLOPEN?",
        "AT+QSSLOPEN",
        "AT+QSSLOPEN=1,1,0,\xe2\x80\x9cbroker.example\xe2\x80\x9d,443,0",  # UTF-8 quotes
    ],
)
def test_malformed_qsslopen_lines_answer_error_and_keep_the_module_in_sync(line: str) -> None:
    m = Module()
    h = Host(m, CR)
    h.expect("ATE0", b"ATE0\r\r\nOK\r\n")
    h.expect("AT+QIACT=1", OK)
    h.expect(line, ERROR)
    assert m.intents() == []
    assert m.engine.mode is Mode.COMMAND
    h.expect("AT", OK)
    h.expect(f'AT+QSSLOPEN=1,1,0,"{HOST}",443,0', OK)  # a good line right after works
    assert complete_open(m, 0)[1] == b"\r\n+QSSLOPEN: 0,0\r\n"


def test_malformed_qsslopen_parameters_are_552_for_qigeterror() -> None:
    m = Module()
    h = Host(m, CR)
    h.expect("ATE0", b"ATE0\r\r\nOK\r\n")
    h.expect("AT+QIACT=1", OK)
    for line in (
        "AT+QSSLOPEN=1,1,0,broker.example,443,0",
        'AT+QSSLOPEN=1,1,12,"broker.example",443,0',
        'AT+QSSLOPEN=1,1,0,"broker.example",443,0,',
    ):
        h.expect(line, ERROR)
        h.expect("AT+QIGETERROR", b"\r\n+QIGETERROR: 552,invalid parameters\r\n" + OK)
