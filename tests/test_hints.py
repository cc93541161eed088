"""Trace hints (engine/hints.py): a ``hint:`` note for each manual typo or known host-driver
mistake, while the module answers exactly as it does without them."""

from __future__ import annotations

import pytest

from bg96.engine import (
    Connect,
    Connected,
    MemoryStore,
    Note,
    PeerClosed,
    Received,
    Send,
    TcpConnected,
    hints,
)
from bg96.engine.hints import PREFIX

from .helpers import Module, tls_of

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
HOST = "220.180.239.201"


class Hinted(Module):
    """A module with echo off whose ``hints()`` returns the hint notes since the last call."""

    def __init__(self, store: MemoryStore | None = None) -> None:
        super().__init__(store=store)
        self._seen = 0
        assert self.cmd("ATE0") == b"ATE0\r" + OK

    def hints(self) -> list[str]:
        self.intents()
        new = self.notes[self._seen :]
        self._seen = len(self.notes)
        return [n[len(PREFIX) :] for n in new if n.startswith(PREFIX)]

    def one_hint(self) -> str:
        got = self.hints()
        assert len(got) == 1, got
        return got[0]

    def start_open(self, ctx: int = 1, client_id: int = 4) -> Connect:
        """QSSLOPEN up to the Connect intent (the TLS parameters as the open saw them)."""
        if not self.engine.pdp[1].active:
            self.activate(1)
        assert self.cmd(f'AT+QSSLOPEN=1,{ctx},{client_id},"{HOST}",8010,0') == OK
        got = self.engine.intents()
        self.notes += [i.text for i in got if isinstance(i, Note)]
        (connect,) = (i for i in got if isinstance(i, Connect))
        return connect

    def connected(self, connect: Connect) -> None:
        cid, seq = connect.client_id, connect.conn_seq
        self.event(TcpConnected(cid, seq, 65344, HOST))
        assert self.event(Connected(cid, seq, "TLSv1.2", "AES256-SHA")) == (
            f"\r\n+QSSLOPEN: {cid},0\r\n".encode()
        )


# ---- the command line ------------------------------------------------------------------------


def test_manual_typos_and_other_vendors_commands() -> None:
    m = Hinted()
    assert m.cmd("AT+QSSSEND=4") == ERROR
    assert m.one_hint() == (
        "AT+QSSSEND is not a BG96 command "
        "(a typo in the SSL manual, chapter 1.3: the command is AT+QSSLSEND)"
    )
    assert m.cmd("AT+QSSLRCV=4,1500") == ERROR
    assert "chapter 3.3.3: the command is AT+QSSLRECV" in m.one_hint()
    assert m.cmd('AT+CSSLCFG="sslversion",0,3') == ERROR  # EnviroDIY's mistake
    assert "a SIMCom command; the BG96 uses AT+QSSLCFG" in m.one_hint()
    assert m.cmd("AT+QSSSEND=4") == ERROR
    assert m.hints() == []  # once per command name
    assert m.cmd("AT+FROB") == ERROR
    assert m.hints() == []  # an unknown command with no hint


def test_a_command_of_the_other_family_on_a_client_id() -> None:
    m = Hinted()
    m.connected(m.start_open())
    m.hints()
    assert m.cmd("AT+QISEND=4,5") == ERROR
    assert m.one_hint() == (
        "AT+QISEND on client ID 4, which is an SSL connection: its commands are AT+QSSLSEND"
    )
    assert m.cmd("AT+QIRD=4,1500") == ERROR
    assert m.one_hint().endswith("its commands are AT+QSSLRECV")
    assert m.cmd("AT+QICLOSE=4") == ERROR
    assert m.one_hint().endswith("its commands are AT+QSSLCLOSE")
    assert m.cmd("AT+QIRD=0,1500") == ERROR  # nothing on 0: no hint, a note
    assert m.hints() == []


def test_a_stray_ctrl_z_before_a_command() -> None:
    m = Hinted()
    assert m.send(b"\x1aAT\r") == OK
    assert m.one_hint() == (
        "1 byte(s) before AT skipped (a Ctrl-Z (0x1A) outside a QSSLSEND prompt: b'\\x1a'); "
        "the command still runs"
    )
    assert m.send(b"\x00\x1a\x1aAT\r") == OK
    assert m.hints() == []


def test_an_escape_before_a_command_is_how_drivers_cancel_a_prompt() -> None:
    m = Hinted()
    assert m.send(b"\x1bAT\r") == OK
    assert m.hints() == []


# ---- AT+QSSLCFG ---------------------------------------------------------------------------


def test_qsslcfg_keys_under_the_manuals_value_names_and_near_spellings() -> None:
    m = Hinted()
    assert m.cmd('AT+QSSLCFG="ignoreltime",1,1') == ERROR  # chapter 1.4's <ignoreltime>
    assert m.one_hint() == (
        'AT+QSSLCFG key "ignoreltime" is the manual\'s name for its value: '
        'the key is "ignorelocaltime"'
    )
    assert m.cmd('AT+QSSLCFG="seculevel",1,1') == ERROR
    assert m.one_hint() == 'AT+QSSLCFG key "seculevel" is a near spelling: the key is "seclevel"'
    assert m.cmd('AT+QSSLCFG="SSLVerion",1,3') == ERROR
    assert m.one_hint().endswith('the key is "sslversion"')
    assert m.cmd('AT+QSSLCFG="frobnicate",1,1') == ERROR
    assert m.hints() == []


def test_qsslcfg_the_manuals_secllevel_is_accepted_with_a_hint() -> None:
    m = Hinted()
    assert m.cmd('AT+QSSLCFG="secllevel",1,1') == OK
    assert m.one_hint().startswith(
        'AT+QSSLCFG key "secllevel" is the SSL manual\'s spelling (accepted here); real BG96 '
        'firmware lists "seclevel"'
    )
    assert m.cmd('AT+QSSLCFG="secllevel",1') == b'\r\n+QSSLCFG: "secllevel",1,1\r\n' + OK
    assert m.cmd('AT+QSSLCFG="seclevel",1,1') == OK
    assert m.hints() == []


def test_qsslcfg_a_quoted_cipher_suite() -> None:
    m = Hinted()
    assert m.cmd('AT+QSSLCFG="ciphersuite",1,"0XFFFF"') == ERROR
    assert "the suite is unquoted hex" in m.one_hint()
    assert m.cmd('AT+QSSLCFG="ciphersuite",1,0XFFFF') == OK
    assert m.hints() == []


# ---- AT+QSSLOPEN --------------------------------------------------------------------------


def test_opening_on_a_context_left_at_its_defaults_tinygsm() -> None:
    m = Hinted()
    assert m.cmd('AT+QSSLCFG="sslversion",0,3') == OK
    assert m.cmd('AT+QSSLCFG="seclevel",0,1') == OK
    m.start_open(ctx=1, client_id=0)
    assert m.one_hint() == (
        "QSSLOPEN 0 uses SSL context 1, which has only its defaults (sslversion 4, ciphersuite "
        "0XFFFF, seclevel 0: the server is not verified), while AT+QSSLCFG configured context 0"
    )


def test_opening_on_a_default_context_alone_is_fine() -> None:
    m = Hinted()
    m.start_open(ctx=1)
    assert m.hints() == []


def test_seclevel_without_a_ca_or_with_one_that_is_not_in_ufs() -> None:
    m = Hinted(MemoryStore({"ca.pem": b"-----BEGIN CERTIFICATE-----"}))
    assert m.cmd('AT+QSSLCFG="seclevel",1,1') == OK
    m.start_open(client_id=1)
    assert m.one_hint() == (
        'QSSLOPEN 1: seclevel 1 verifies the server, but SSL context 1 has no "cacert": '
        "upload the CA (AT+QFUPL) and set it"
    )
    assert m.cmd('AT+QSSLCFG="cacert",1,"cacert.pem"') == OK
    m.start_open(client_id=2)
    assert m.one_hint() == (
        'QSSLOPEN 2: "cacert" of SSL context 1 is "cacert.pem", which is not in UFS '
        "(AT+QFLST lists the files; AT+QFUPL uploads one)"
    )
    assert m.cmd('AT+QSSLCFG="cacert",1,"UFS:ca.pem"') == OK
    connect = m.start_open(client_id=3)
    assert tls_of(connect).cacert is not None
    assert m.hints() == []


def test_client_certificate_files_missing_at_seclevel_2() -> None:
    m = Hinted(MemoryStore({"ca.pem": b"ca", "cert.pem": b"cert"}))
    for line in (
        'AT+QSSLCFG="seclevel",2,2',
        'AT+QSSLCFG="cacert",2,"ca.pem"',
        'AT+QSSLCFG="clientcert",2,"cert.pem"',
        'AT+QSSLCFG="clientkey",2,"key.pem"',
    ):
        assert m.cmd(line) == OK
    m.start_open(ctx=2)
    assert m.one_hint() == (
        'QSSLOPEN 4: "clientkey" of SSL context 2 is "key.pem", which is not in UFS '
        "(AT+QFLST lists the files; AT+QFUPL uploads one)"
    )


def test_a_ca_with_seclevel_0_is_not_used() -> None:
    m = Hinted(MemoryStore({"ca.pem": b"ca"}))
    assert m.cmd('AT+QSSLCFG="cacert",1,"ca.pem"') == OK
    m.start_open()
    assert m.one_hint() == (
        'QSSLOPEN 4: SSL context 1 has a "cacert" but seclevel 0, so the server is not '
        'verified (AT+QSSLCFG="seclevel",<ctx>,1 verifies it)'
    )


def test_certificate_dates_against_a_clock_that_was_never_set() -> None:
    m = Hinted(MemoryStore({"ca.pem": b"ca"}))
    for line in (
        'AT+QSSLCFG="seclevel",1,1',
        'AT+QSSLCFG="cacert",1,"ca.pem"',
        'AT+QSSLCFG="ignorelocaltime",1,0',
    ):
        assert m.cmd(line) == OK
    m.start_open(client_id=0)
    assert "was never set (AT+CCLK reads 1980)" in m.one_hint()
    set_clock = Hinted(MemoryStore({"ca.pem": b"ca"}))
    for line in (
        'AT+CCLK="24/05/01,12:00:00+00"',
        'AT+QSSLCFG="seclevel",1,1',
        'AT+QSSLCFG="cacert",1,"ca.pem"',
        'AT+QSSLCFG="ignorelocaltime",1,0',
    ):
        assert set_clock.cmd(line) == OK
    set_clock.start_open(client_id=0)
    assert set_clock.hints() == []


def test_reopening_an_id_the_peer_closed_without_qsslclose() -> None:
    m = Hinted()
    connect = m.start_open()
    m.connected(connect)
    assert m.event(PeerClosed(4, connect.conn_seq, "FIN")) == b'\r\n+QSSLURC: "closed",4\r\n'
    m.hints()
    assert m.cmd(f'AT+QSSLOPEN=1,1,4,"{HOST}",8010,0') == OK + b"\r\n+QSSLOPEN: 4,563\r\n"
    assert m.one_hint() == (
        "QSSLOPEN 4: client ID 4 is in use (its connection was closed by the peer or the "
        "network and not yet freed); AT+QSSLCLOSE=4 frees it"
    )


# ---- AT+QSSLSEND --------------------------------------------------------------------------


def connected_module() -> tuple[Hinted, int]:
    m = Hinted()
    connect = m.start_open()
    m.connected(connect)
    m.hints()
    return m, connect.conn_seq


def test_data_sent_with_the_command_line_before_the_prompt() -> None:
    m, seq = connected_module()
    assert m.send(b"AT+QSSLSEND=4,5\r\nhello") == b"\r\n> \r\nSEND OK\r\n"
    assert m.intents() == [Send(4, seq, b"hello")]
    assert m.one_hint() == (
        "QSSLSEND 4: data arrived before the '> ' prompt was sent (a driver that writes it "
        "without waiting); taken as data here, but wait for '> ' first"
    )
    assert m.send(b"AT+QSSLSEND=4,5\r\n") == b"\r\n> "  # CR LF alone: no data yet
    assert m.send(b"hello") == b"\r\nSEND OK\r\n"
    assert m.hints() == []


def test_a_lf_that_arrives_after_the_prompt_becomes_data() -> None:
    m, seq = connected_module()
    assert m.send(b"AT+QSSLSEND=4,5\r") == b"\r\n> "
    assert m.send(b"\nhell") == b"\r\nSEND OK\r\n"  # the LF is the first payload byte
    assert m.intents() == [Send(4, seq, b"\nhell")]
    assert m.one_hint().startswith(
        "QSSLSEND 4: the data starts with LF; if it was the LF of a CR LF after the command "
        "line, it came more than 20 ms after the CR, when the '> ' prompt had gone out"
    )
    assert m.send(b"o\r") == ERROR


def test_send_and_recv_lengths_beyond_1500() -> None:
    m, _ = connected_module()
    assert m.cmd("AT+QSSLSEND=4,1501") == ERROR
    assert m.one_hint() == (
        "AT+QSSLSEND takes 1-1500 bytes at a time (manual): AT+QSSLSEND=4,1501 answers ERROR"
    )
    assert m.cmd("AT+QSSLRECV=4,4096") == ERROR
    assert m.one_hint() == (
        "AT+QSSLRECV reads at most 1500 bytes at a time (manual): AT+QSSLRECV=4,4096 answers ERROR"
    )
    assert m.cmd("AT+QSSLRECV=4,1500") == b"\r\n+QSSLRECV: 0\r\n" + OK
    assert m.hints() == []


# ---- AT+QSSLRECV --------------------------------------------------------------------------


def test_polling_an_empty_buffer_instead_of_waiting_for_the_urc() -> None:
    m, seq = connected_module()
    assert m.event(Received(4, seq, b"hello")) == b'\r\n+QSSLURC: "recv",4\r\n'
    assert m.cmd("AT+QSSLRECV=4,1500") == b"\r\n+QSSLRECV: 5\r\nhello\r\n" + OK
    assert m.cmd("AT+QSSLRECV=4,1500") == b"\r\n+QSSLRECV: 0\r\n" + OK  # Mbed OS: fine
    assert m.hints() == []
    assert m.cmd("AT+QSSLRECV=4,1500") == b"\r\n+QSSLRECV: 0\r\n" + OK  # polling
    assert m.one_hint().startswith(
        "QSSLRECV 4: the buffer was already empty at the last read; no need to poll: "
        '+QSSLURC: "recv",4 comes when data arrives'
    )
    assert m.cmd("AT+QSSLRECV=4,1500") == b"\r\n+QSSLRECV: 0\r\n" + OK
    assert m.hints() == []  # once per connection


def test_tinygsm_recv_zero_form() -> None:
    m, _ = connected_module()
    assert m.cmd("AT+QSSLRECV=4,0") == b"\r\n+QSSLRECV: 0,0,0\r\n" + OK
    assert "outside the manual's range (1-1500)" in m.one_hint()


def test_qsslrecv_on_a_push_mode_connection() -> None:
    m = Hinted()
    m.activate()
    assert m.cmd(f'AT+QSSLOPEN=1,1,4,"{HOST}",8010,1') == OK
    (connect,) = (i for i in m.intents() if isinstance(i, Connect))
    m.connected(connect)
    m.hints()
    assert m.cmd("AT+QSSLRECV=4,1500") == ERROR
    assert m.one_hint() == (
        "QSSLRECV 4: the connection is not in buffer access mode, its data comes in "
        '+QSSLURC: "recv",4,<len> URCs; AT+QSSLRECV answers ERROR (AT+QISWTMD=4,0 switches)'
    )


# ---- AT+QSSLCLOSE, AT+QSSLSTATE -------------------------------------------------------------


def test_closing_ids_that_were_never_opened() -> None:
    m = Hinted()
    for cid in range(12):  # Mbed OS at start-up
        assert m.cmd(f"AT+QSSLCLOSE={cid}") == OK
    assert m.hints() == []  # the manual allows it: a plain note, once
    said = [n for n in m.notes if "has no connection" in n]
    assert said == [
        "AT+QSSLCLOSE=0: client ID 0 has no connection (answered OK; drivers such as TinyGSM "
        "and Mbed OS close IDs before they use them)"
    ]


def test_the_qistate_style_qsslstate_form() -> None:
    m, _ = connected_module()
    assert m.cmd("AT+QSSLSTATE=1,4").startswith(b'\r\n+QSSLSTATE: 4,"SSLClient"')
    assert m.one_hint().startswith("AT+QSSLSTATE=1,4 is the TCP/IP manual's QISTATE form (TinyGSM)")


def test_hints_never_change_an_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same session without hints answers byte for byte the same."""
    session = [
        b"\x1aAT\r",
        b"AT+QSSSEND=4\r",
        b'AT+QSSLCFG="secllevel",1,1\r',
        b'AT+QSSLCFG="ciphersuite",1,"0XFFFF"\r',
        b"AT+QSSLCLOSE=7\r",
        b"AT+QSSLSEND=4,5\r\nhello",
        b"AT+QSSLRECV=4,0\r",
        b"AT+QSSLRECV=4,1500\r",
        b"AT+QSSLRECV=4,1500\r",
        b"AT+QSSLRECV=4,1500\r",
        b"AT+QSSLSTATE=1,4\r",
        b"AT+QISEND=4,5\r",
    ]

    def run() -> tuple[bytes, list[str]]:
        m, _ = connected_module()
        out = b"".join(m.send(chunk) for chunk in session)
        return out, m.hints()

    with_hints, said = run()
    assert len(said) == 9, said
    monkeypatch.setattr(hints, "say", lambda *args, **kwargs: None)
    without, none = run()
    assert none == []
    assert with_hints == without


def test_the_hint_memory_stays_bounded_whatever_the_host_sends() -> None:
    """Endless distinct mistakes and connections: every hint still given once, the
    bookkeeping never above its bound."""
    bound = hints.MAX_REMEMBERED
    m = Hinted()
    for i in range(3 * bound):
        assert m.cmd(f'AT+QSSLCFG="sslversion{i}",1,3') == ERROR
        assert len(m.engine.hints.said) <= bound
    assert len(m.hints()) == 3 * bound  # one hint for each distinct key
    assert m.cmd(f'AT+QSSLCFG="sslversion{3 * bound - 1}",1,3') == ERROR
    assert m.hints() == []  # a recent one is still remembered
    for _ in range(2 * bound):  # connections that poll an empty buffer, each its own subject
        connect = m.start_open(client_id=4)
        m.connected(connect)
        for _ in range(2):
            assert m.cmd("AT+QSSLRECV=4,1500") == b"\r\n+QSSLRECV: 0\r\n" + OK
        assert m.cmd("AT+QSSLCLOSE=4,0") == OK
        assert m.engine.hints.empty_reads.keys() <= {connect.conn_seq}
        assert len(m.engine.hints.said) <= bound
    assert sum("no need to poll" in h for h in m.hints()) == 2 * bound
    for client_id in range(12):  # as many connections as there can be, each polled once
        m.connected(m.start_open(client_id=client_id))
        assert m.cmd(f"AT+QSSLRECV={client_id},1500") == b"\r\n+QSSLRECV: 0\r\n" + OK
    assert len(m.engine.hints.empty_reads) == 12
    assert len(m.engine.hints.said) == bound
