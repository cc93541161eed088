"""SSL commands in the engine, with the network played by the test on a virtual clock."""

from __future__ import annotations

import pytest

from bg96.engine import (
    Close,
    Closed,
    Connect,
    ConnectFailed,
    ModuleConfig,
    PeerClosed,
    Received,
    Send,
    Sent,
    SetReading,
    TcpConnected,
)

from .helpers import Module, tls_of

# ---- the manual's chapter 3 transcripts, byte for byte ----------------------------------


def test_manual_3_2_configure_an_ssl_context() -> None:
    m = Module()
    for line in (
        'AT+QSSLCFG="sslversion",1,1',
        'AT+QSSLCFG="ciphersuite",1,0X0035',
        'AT+QSSLCFG="secllevel",1,1',
        'AT+QSSLCFG="cacert",1,"cacert.pem"',
    ):
        assert m.cmd(line) == line.encode() + b"\r\r\nOK\r\n"


def test_manual_3_3_buffer_access_mode() -> None:
    m = Module(ModuleConfig(at_port="usbmodem"))
    m.activate()
    # 3.3.1 set up
    assert m.cmd('AT+QSSLOPEN=1,1,4,"220.180.239.201",8010,0') == (
        b'AT+QSSLOPEN=1,1,4,"220.180.239.201",8010,0\r\r\nOK\r\n'
    )
    (connect,) = (i for i in m.intents() if isinstance(i, Connect))
    assert (connect.client_id, connect.host, connect.port) == (4, "220.180.239.201", 8010)
    assert tls_of(connect).ssl_ctx_id == 1
    seq = connect.conn_seq
    assert m.event(TcpConnected(4, seq, 65344, "220.180.239.201")) == b""
    assert m.cmd("AT+QSSLSTATE").endswith(b',1,1,4,0,"usbmodem",1\r\n\r\nOK\r\n')  # opening
    from bg96.engine import Connected

    assert m.event(Connected(4, seq, "TLSv1.2", "AES256-SHA")) == b"\r\n+QSSLOPEN: 4,0\r\n"
    assert m.cmd("AT+QSSLSTATE") == (
        b"AT+QSSLSTATE\r\r\n"
        b'+QSSLSTATE: 4,"SSLClient","220.180.239.201",8010,65344,2,1,4,0,"usbmodem",1\r\n'
        b"\r\nOK\r\n"
    )
    # 3.3.2 send, variable then fixed length (ATE1 echoes the data typed at the prompt)
    assert m.cmd("AT+QSSLSEND=4") == b"AT+QSSLSEND=4\r\r\n> "
    assert m.send(b"Test data from SSL") == b"Test data from SSL"
    assert m.send(b"\x1a") == b"\r\nSEND OK\r\n"
    assert m.intents() == [Send(4, seq, b"Test data from SSL")]
    assert m.cmd("AT+QSSLSEND=4,18") == b"AT+QSSLSEND=4,18\r\r\n> "
    assert m.send(b"Test data from SSL") == b"Test data from SSL\r\nSEND OK\r\n"
    assert m.intents() == [Send(4, seq, b"Test data from SSL")]
    # 3.3.3 receive
    assert m.event(Received(4, seq, b"Test data from SSL")) == b'\r\n+QSSLURC: "recv",4\r\n'
    assert m.cmd("AT+QSSLRECV=4,1500") == (
        b"AT+QSSLRECV=4,1500\r\r\n+QSSLRECV: 18\r\nTest data from SSL\r\n\r\nOK\r\n"
    )
    assert m.cmd("AT+QSSLRECV=4,1500") == b"AT+QSSLRECV=4,1500\r\r\n+QSSLRECV: 0\r\n\r\nOK\r\n"
    # 3.3.4 close
    assert m.cmd("AT+QSSLCLOSE=4") == b"AT+QSSLCLOSE=4\r"
    assert m.intents() == [Close(4, seq, abort=False)]
    assert m.event(Closed(4, seq)) == b"\r\nOK\r\n"
    assert m.cmd("AT+QSSLSTATE") == b"AT+QSSLSTATE\r\r\nOK\r\n"


# ---- AT+QSSLCFG ---------------------------------------------------------------------------


def test_qsslcfg_defaults_of_a_fresh_context() -> None:
    m = Module()
    m.cmd("ATE0")
    for key, value in (
        ("sslversion", "4"),
        ("ciphersuite", "0XFFFF"),
        ("seclevel", "0"),
        ("secllevel", "0"),
        ("ignorelocaltime", "1"),
        ("negotiatetime", "300"),
        ("cacert", '""'),
        ("clientcert", '""'),
        ("clientkey", '""'),
    ):
        assert m.cmd(f'AT+QSSLCFG="{key}",3') == (
            f'\r\n+QSSLCFG: "{key}",3,{value}\r\n\r\nOK\r\n'.encode()
        )


def test_qsslcfg_every_key_and_its_range() -> None:
    m = Module()
    m.cmd("ATE0")
    good = {
        "sslversion": ["0", "4"],
        "ciphersuite": ["0X0035", "0x002f", "0XC02F", "0XFFFF"],
        "seclevel": ["0", "2"],
        "secllevel": ["1"],
        "ignorelocaltime": ["0", "1"],
        "negotiatetime": ["10", "300"],
        "cacert": ['"cacert.pem"', '"UFS:ca.pem"'],
        "clientcert": ['"client.pem"'],
        "clientkey": ['"user_key.pem"'],
    }
    bad = {
        "sslversion": ["5", "-1", '"1"'],
        "ciphersuite": ['"0XFFFF"', "0X1234", "53", "0X"],
        "seclevel": ["3"],
        "ignorelocaltime": ["2"],
        "negotiatetime": ["9", "301"],
        "cacert": ["cacert.pem"],
    }
    for key, values in good.items():
        for value in values:
            assert m.cmd(f'AT+QSSLCFG="{key}",5,{value}') == b"\r\nOK\r\n", (key, value)
    for key, values in bad.items():
        for value in values:
            assert m.cmd(f'AT+QSSLCFG="{key}",5,{value}') == b"\r\nERROR\r\n", (key, value)
    assert (
        m.cmd('AT+QSSLCFG="ciphersuite",5') == b'\r\n+QSSLCFG: "ciphersuite",5,0XFFFF\r\n\r\nOK\r\n'
    )
    m.cmd('AT+QSSLCFG="ciphersuite",5,0x002f')
    assert (
        m.cmd('AT+QSSLCFG="ciphersuite",5') == b'\r\n+QSSLCFG: "ciphersuite",5,0X002F\r\n\r\nOK\r\n'
    )
    for bad_line in (
        'AT+QSSLCFG="sslversion",6,1',
        'AT+QSSLCFG="nokey",1,1',
        'AT+QSSLCFG="sslversion"',
        "AT+QSSLCFG=sslversion,1,1",
        'AT+QSSLCFG="sslversion",1,1,1',
        "AT+QSSLCFG?",
        "AT+QSSLCFG",
    ):
        assert m.cmd(bad_line) == b"\r\nERROR\r\n", bad_line


def test_qsslcfg_contexts_are_independent() -> None:
    m = Module()
    m.cmd("ATE0")
    m.cmd('AT+QSSLCFG="seclevel",0,1')
    assert m.cmd('AT+QSSLCFG="seclevel",1') == b'\r\n+QSSLCFG: "seclevel",1,0\r\n\r\nOK\r\n'


def test_qsslcfg_test_form() -> None:
    m = Module()
    m.cmd("ATE0")
    assert m.cmd("AT+QSSLCFG=?") == (
        b'\r\n+QSSLCFG: "sslversion",(0-5),(0-4)\r\n'
        b'+QSSLCFG: "ciphersuite",(0-5),(0X0035,0X002F,0X0005,0X0004,0X000A,0X003D,0XC011,'
        b"0XC012,0XC013,0XC014,0XC027,0XC028,0XC02F,0XFFFF)\r\n"
        b'+QSSLCFG: "cacert",(0-5),<cacertpath>\r\n'
        b'+QSSLCFG: "clientcert",(0-5),<client_cert_path>\r\n'
        b'+QSSLCFG: "clientkey",(0-5),<client_key_path>\r\n'
        b'+QSSLCFG: "seclevel",(0-5),(0-2)\r\n'
        b'+QSSLCFG: "ignorelocaltime",(0-5),(0,1)\r\n'
        b'+QSSLCFG: "negotiatetime",(0-5),(10-300)\r\n'
        b"\r\nOK\r\n"
    )


def test_context_snapshot_reads_certificates_at_open_time() -> None:
    m = Module()
    m.cmd("ATE0")
    m.store.write("ca.pem", b"CA BYTES")
    m.cmd('AT+QSSLCFG="cacert",2,"UFS:ca.pem"')
    m.cmd('AT+QSSLCFG="seclevel",2,1')
    m.cmd('AT+QSSLCFG="ciphersuite",2,0XC02F')
    connect = m.open(client_id=0, ssl_ctx=2)
    tls = tls_of(connect)
    assert (tls.cacert, tls.seclevel, tls.ciphersuites, tls.sslversion) == (
        b"CA BYTES",
        1,
        (0xC02F,),
        4,
    )
    # changing the context afterwards applies to new connections only
    m.cmd('AT+QSSLCFG="seclevel",2,0')
    second = m.open(client_id=1, ssl_ctx=2)
    assert tls_of(second).seclevel == 0 and tls_of(connect).seclevel == 1
    all_suites = tls_of(m.open(client_id=2, ssl_ctx=3)).ciphersuites
    assert len(all_suites) == 13 and all_suites[:2] == (0x0035, 0x002F)


# ---- AT+QSSLOPEN --------------------------------------------------------------------------


def test_qsslopen_test_form_and_bad_parameters() -> None:
    m = Module()
    m.cmd("ATE0")
    m.activate()
    assert m.cmd("AT+QSSLOPEN=?") == (
        b"\r\n+QSSLOPEN: (1-16),(0-5),(0-11),<serveraddr>,<server_port>[,(0-2)]\r\n\r\nOK\r\n"
    )
    for bad in (
        'AT+QSSLOPEN=0,1,4,"h",443,0',
        'AT+QSSLOPEN=1,6,4,"h",443,0',
        'AT+QSSLOPEN=1,1,12,"h",443,0',
        'AT+QSSLOPEN=1,1,4,"h",0,0',
        'AT+QSSLOPEN=1,1,4,"h",65536,0',
        'AT+QSSLOPEN=1,1,4,"h",443,3',
        'AT+QSSLOPEN=1,1,4,"",443,0',
        "AT+QSSLOPEN=1,1,4,h,443,0",
        'AT+QSSLOPEN=1,1,4,"h"',
        "AT+QSSLOPEN",
    ):
        assert m.cmd(bad) == b"\r\nERROR\r\n", bad
        assert m.cmd("AT+QIGETERROR") == b"\r\n+QIGETERROR: 552,invalid parameters\r\n\r\nOK\r\n"
    assert m.intents() == []


def test_qsslopen_without_an_active_pdp_context() -> None:
    m = Module()
    m.cmd("ATE0")
    assert m.cmd('AT+QSSLOPEN=1,1,4,"h",443,0') == b"\r\nOK\r\n\r\n+QSSLOPEN: 4,561\r\n"
    assert m.cmd("AT+QIGETERROR") == (b"\r\n+QIGETERROR: 561,open pdp context failed\r\n\r\nOK\r\n")
    assert m.intents() == []


def test_qsslopen_on_a_used_client_id() -> None:
    m = Module()
    m.cmd("ATE0")
    m.open(client_id=4)
    assert m.cmd('AT+QSSLOPEN=1,1,4,"h",443,0') == b"\r\nOK\r\n\r\n+QSSLOPEN: 4,563\r\n"
    assert m.cmd("AT+QIGETERROR") == (
        b"\r\n+QIGETERROR: 563,socket identity has been used\r\n\r\nOK\r\n"
    )


def test_qsslopen_failure_reports_the_code_and_frees_the_id() -> None:
    m = Module()
    m.cmd("ATE0")
    m.activate()
    m.cmd('AT+QSSLOPEN=1,1,4,"h",443,0')
    (connect,) = m.intents()
    assert isinstance(connect, Connect)
    reason = "certificate verify failed: unknown CA"
    assert m.event(ConnectFailed(4, connect.conn_seq, 566, reason)) == b"\r\n+QSSLOPEN: 4,566\r\n"
    assert any(reason in n for n in (m.intents(), m.notes)[1])
    assert m.cmd("AT+QIGETERROR") == b"\r\n+QIGETERROR: 566,socket connect failed\r\n\r\nOK\r\n"
    assert m.cmd("AT+QSSLSTATE=4") == b"\r\nOK\r\n"
    m.open(client_id=4)  # the ID is free again


def test_negotiatetime_fails_the_open_after_exactly_the_configured_seconds() -> None:
    m = Module()
    m.cmd("ATE0")
    m.cmd('AT+QSSLCFG="negotiatetime",1,10')
    m.activate()
    m.cmd('AT+QSSLOPEN=1,1,4,"h",443,0')
    (connect,) = m.intents()
    assert isinstance(connect, Connect)
    m.advance(5.0)  # the TCP connect takes 5 s; negotiatetime counts from here
    m.event(TcpConnected(4, connect.conn_seq, 50000, "1.2.3.4"))
    assert m.advance(9.999999) == b""
    assert m.advance(0.000001) == b"\r\n+QSSLOPEN: 4,569\r\n"
    assert m.intents() == [Close(4, connect.conn_seq, abort=True)]
    # a late Connected for the dead attempt is ignored
    from bg96.engine import Connected

    assert m.event(Connected(4, connect.conn_seq)) == b""
    assert m.cmd("AT+QSSLSTATE") == b"\r\nOK\r\n"


def test_tcp_connect_timeout() -> None:
    m = Module(ModuleConfig(tcp_connect_timeout=150.0))
    m.cmd("ATE0")
    m.activate()
    m.cmd('AT+QSSLOPEN=1,1,4,"h",443,0')
    m.intents()
    assert m.advance(149.0) == b""
    assert m.advance(1.0) == b"\r\n+QSSLOPEN: 4,569\r\n"


# ---- AT+QSSLSEND --------------------------------------------------------------------------


def test_qsslsend_on_a_socket_that_is_not_connected() -> None:
    m = Module()
    m.cmd("ATE0")
    assert m.cmd("AT+QSSLSEND=3") == b"\r\nERROR\r\n"
    assert m.cmd("AT+QSSLSEND=3,10") == b"\r\nERROR\r\n"
    assert m.cmd("AT+QSSLSEND=12") == b"\r\nERROR\r\n"
    m.open(client_id=3)
    for bad in ("AT+QSSLSEND=3,0", "AT+QSSLSEND=3,1501", "AT+QSSLSEND", "AT+QSSLSEND?"):
        assert m.cmd(bad) == b"\r\nERROR\r\n", bad
    assert m.cmd("AT+QSSLSEND=?") == b"\r\n+QSSLSEND: (0-11)[,(1-1460)]\r\n\r\nOK\r\n"


def test_fixed_length_send_is_binary_safe() -> None:
    m = Module()
    m.cmd("ATE0")
    seq = m.open(client_id=0).conn_seq
    payload = bytes(range(256)) * 5 + b"\x1a\x1b\r\n+++"
    assert m.cmd(f"AT+QSSLSEND=0,{len(payload)}") == b"\r\n> "
    out = b""
    for i in range(0, len(payload), 100):
        out += m.send(payload[i : i + 100])
    assert out == b"\r\nSEND OK\r\n"
    assert m.intents() == [Send(0, seq, payload)]


def test_lf_after_the_command_cr_is_not_payload() -> None:
    """TinyGSM sends CR LF after AT+QSSLSEND=<id>,<n>: the LF is not the first data byte."""
    m = Module()
    m.cmd("ATE0")
    seq = m.open(client_id=0).conn_seq
    assert m.send(b"AT+QSSLSEND=0,5\r\n") == b"\r\n> "
    assert m.send(b"hello") == b"\r\nSEND OK\r\n"
    assert m.intents() == [Send(0, seq, b"hello")]
    # a host that waited for the prompt may start its data with a LF: that LF is data
    m.engine.receive_data(b"AT+QSSLSEND=0,2\r")
    assert m.out() == b"\r\n> "
    assert m.send(b"\nx") == b"\r\nSEND OK\r\n"
    assert m.intents() == [Send(0, seq, b"\nx")]
    # data written without waiting for the prompt (a Zephyr driver does that) works too
    assert m.send(b"AT+QSSLSEND=0,3\r") + m.send(b"abc") == b"\r\n> \r\nSEND OK\r\n"
    assert m.intents() == [Send(0, seq, b"abc")]


def test_variable_length_send_ctrl_z_and_esc() -> None:
    m = Module()
    m.cmd("ATE0")
    seq = m.open(client_id=0).conn_seq
    assert m.cmd("AT+QSSLSEND=0") == b"\r\n> "
    assert m.send(b"abc\x1b") == b"\r\nOK\r\n"  # ESC cancels: nothing is sent
    assert m.intents() == []
    assert m.cmd("AT+QIGETERROR") == b"\r\n+QIGETERROR: 571,cancel send\r\n\r\nOK\r\n"
    assert m.cmd("AT") == b"\r\nOK\r\n"
    m.cmd("ATE1")
    assert m.cmd("AT+QSSLSEND=0") == b"AT+QSSLSEND=0\r\r\n> "
    assert m.send(b"typed\x1b") == b"typed\r\nOK\r\n"  # ATE1 echoes prompt data
    m.cmd("ATE0")
    m.cmd("AT+QSSLSEND=0")
    # more than 1460 bytes: nothing goes, and the module does not say SEND OK for it
    assert m.send(b"x" * 1500 + b"\x1a") == b"\r\nERROR\r\n"
    assert m.intents() == []
    assert "QSSLSEND 0: 1500 bytes, over the 1460-byte limit: nothing sent" in m.notes
    assert m.cmd("AT+QIGETERROR") == b"\r\n+QIGETERROR: 552,invalid parameters\r\n\r\nOK\r\n"
    m.cmd("AT+QSSLSEND=0")
    assert m.send(b"x" * 1460 + b"\x1a") == b"\r\nSEND OK\r\n"
    assert m.intents() == [Send(0, seq, b"x" * 1460)]


def test_send_fail_when_the_send_buffer_is_full() -> None:
    m = Module(ModuleConfig(send_buffer=3000))
    m.cmd("ATE0")
    seq = m.open(client_id=0).conn_seq
    for _ in range(2):
        m.cmd("AT+QSSLSEND=0,1500")
        assert m.send(b"a" * 1500) == b"\r\nSEND OK\r\n"
    m.cmd("AT+QSSLSEND=0,1")
    assert m.send(b"b") == b"\r\nSEND FAIL\r\n"
    m.event(Sent(0, seq, 1500))
    m.cmd("AT+QSSLSEND=0,1")
    assert m.send(b"b") == b"\r\nSEND OK\r\n"


def test_send_after_the_peer_closed_is_an_error() -> None:
    m = Module()
    m.cmd("ATE0")
    seq = m.open(client_id=0).conn_seq
    assert m.cmd("AT+QSSLSEND=0,4") == b"\r\n> "
    assert m.event(PeerClosed(0, seq, "FIN")) == b""  # the URC waits for the prompt to end
    assert m.send(b"data") == b'\r\nERROR\r\n\r\n+QSSLURC: "closed",0\r\n'
    assert m.cmd("AT+QSSLSEND=0,4") == b"\r\nERROR\r\n"


def test_host_leaving_mid_prompt_keeps_the_engine_in_sync() -> None:
    m = Module()
    m.cmd("ATE0")
    m.open(client_id=0)
    assert m.cmd("AT+QSSLSEND=0,100") == b"\r\n> "
    m.send(b"partial")
    m.engine.host_disconnected()
    assert m.cmd("AT") == b"\r\nOK\r\n"
    assert m.intents() == []


# ---- AT+QSSLRECV and the recv URC ---------------------------------------------------------


def test_qsslrecv_on_a_socket_that_never_opened() -> None:
    m = Module()
    m.cmd("ATE0")
    assert m.cmd("AT+QSSLRECV=5,100") == b"\r\nERROR\r\n"
    assert m.cmd("AT+QSSLRECV=12,100") == b"\r\nERROR\r\n"
    assert m.cmd("AT+QSSLRECV=?") == b"\r\n+QSSLRECV: (0-11),(1-1500)\r\n\r\nOK\r\n"
    m.open(client_id=5)
    assert m.cmd("AT+QSSLRECV=5,1501") == b"\r\nERROR\r\n"


def test_recv_urc_is_not_repeated_until_the_buffer_was_read_empty() -> None:
    m = Module()
    m.cmd("ATE0")
    seq = m.open(client_id=1).conn_seq
    assert m.event(Received(1, seq, b"abcdef")) == b'\r\n+QSSLURC: "recv",1\r\n'
    assert m.event(Received(1, seq, b"ghij")) == b""
    assert m.cmd("AT+QSSLRECV=1,4") == b"\r\n+QSSLRECV: 4\r\nabcd\r\n\r\nOK\r\n"
    assert m.event(Received(1, seq, b"k")) == b""  # not drained yet
    # a read that takes everything counts as draining
    assert m.cmd("AT+QSSLRECV=1,1500") == b"\r\n+QSSLRECV: 7\r\nefghijk\r\n\r\nOK\r\n"
    assert m.event(Received(1, seq, b"l")) == b'\r\n+QSSLURC: "recv",1\r\n'


def test_qsslrecv_length_zero_reports_totals_for_tinygsm() -> None:
    m = Module()
    m.cmd("ATE0")
    seq = m.open(client_id=1).conn_seq
    assert m.cmd("AT+QSSLRECV=1,0") == b"\r\n+QSSLRECV: 0,0,0\r\n\r\nOK\r\n"
    m.event(Received(1, seq, b"x" * 100))
    m.cmd("AT+QSSLRECV=1,63")
    assert m.cmd("AT+QSSLRECV=1,0") == b"\r\n+QSSLRECV: 100,63,37\r\n\r\nOK\r\n"


def test_receive_buffer_pauses_and_resumes_reading() -> None:
    m = Module(ModuleConfig(recv_buffer=3000))
    m.cmd("ATE0")
    seq = m.open(client_id=1).conn_seq
    m.event(Received(1, seq, b"x" * 3000))
    assert m.intents() == [SetReading(1, seq, False)]
    m.cmd("AT+QSSLRECV=1,1500")
    assert m.intents() == [SetReading(1, seq, True)]


def test_peer_close_keeps_unread_data_readable() -> None:
    m = Module(ModuleConfig(at_port="uart1"))
    m.cmd("ATE0")
    seq = m.open(client_id=2, local_port=40000).conn_seq
    m.event(Received(2, seq, b"last words"))
    assert m.event(PeerClosed(2, seq, "close_notify")) == b'\r\n+QSSLURC: "closed",2\r\n'
    assert m.cmd("AT+QSSLSTATE=2") == (
        b'\r\n+QSSLSTATE: 2,"SSLClient","220.180.239.201",8010,40000,4,1,2,0,"uart1",1\r\n'
        b"\r\nOK\r\n"
    )
    assert m.cmd("AT+QSSLRECV=2,1500") == b"\r\n+QSSLRECV: 10\r\nlast words\r\n\r\nOK\r\n"
    assert m.cmd("AT+QSSLRECV=2,1500") == b"\r\n+QSSLRECV: 0\r\n\r\nOK\r\n"
    assert m.cmd("AT+QSSLCLOSE=2") == b"\r\nOK\r\n"  # already closed: at once
    assert m.intents() == [Close(2, seq, abort=True)]
    assert m.cmd("AT+QSSLRECV=2,1500") == b"\r\nERROR\r\n"


def test_urcs_never_land_inside_a_response() -> None:
    m = Module()
    m.cmd("ATE0")
    seq = m.open(client_id=1).conn_seq
    m.engine.receive_data(b"AT+QSSLSEND=1,5\r")
    m.engine.network_event(Received(1, seq, b"data"))
    assert m.out() == b"\r\n> "
    assert m.send(b"12345") == b'\r\nSEND OK\r\n\r\n+QSSLURC: "recv",1\r\n'


# ---- AT+QSSLCLOSE and AT+QSSLSTATE -------------------------------------------------------


def test_qsslclose_forms() -> None:
    m = Module()
    m.cmd("ATE0")
    assert m.cmd("AT+QSSLCLOSE=?") == b"\r\n+QSSLCLOSE: (0-11),(0-65535)\r\n\r\nOK\r\n"
    assert m.cmd("AT+QSSLCLOSE=7") == b"\r\nOK\r\n"  # never opened: TinyGSM does this first
    for bad in ("AT+QSSLCLOSE=12", "AT+QSSLCLOSE=1,65536", "AT+QSSLCLOSE"):
        assert m.cmd(bad) == b"\r\nERROR\r\n", bad
    seq = m.open(client_id=1).conn_seq
    assert m.cmd("AT+QSSLCLOSE=1,0") == b"\r\nOK\r\n"  # 0: at once
    assert m.intents() == [Close(1, seq, abort=True)]


def test_qsslclose_waits_at_most_its_timeout() -> None:
    m = Module()
    m.cmd("ATE0")
    seq = m.open(client_id=1).conn_seq
    assert m.cmd("AT+QSSLCLOSE=1,3") == b""
    assert m.intents() == [Close(1, seq, abort=False)]
    assert m.cmd("AT") == b""  # held until the close answers
    assert m.advance(2.9) == b""
    assert m.advance(0.1) == b"\r\nOK\r\n\r\nOK\r\n"
    assert m.event(Closed(1, seq)) == b""


def test_qsslstate_forms() -> None:
    m = Module()
    m.cmd("ATE0")
    assert m.cmd("AT+QSSLSTATE=?") == b"\r\nOK\r\n"
    assert m.cmd("AT+QSSLSTATE") == b"\r\nOK\r\n"
    m.open(client_id=3, local_port=1111)
    m.open(client_id=1, local_port=2222, pdp=2, ssl_ctx=0)
    line1 = b'+QSSLSTATE: 1,"SSLClient","220.180.239.201",8010,2222,2,2,1,0,"uart1",0\r\n'
    line3 = b'+QSSLSTATE: 3,"SSLClient","220.180.239.201",8010,1111,2,1,3,0,"uart1",1\r\n'
    assert m.cmd("AT+QSSLSTATE") == b"\r\n" + line1 + line3 + b"\r\nOK\r\n"
    assert m.cmd("AT+QSSLSTATE=3") == b"\r\n" + line3 + b"\r\nOK\r\n"
    assert m.cmd("AT+QSSLSTATE=1,3") == b"\r\n" + line3 + b"\r\nOK\r\n"  # TinyGSM's form
    assert m.cmd("AT+QSSLSTATE=0,2") == b"\r\n" + line1 + b"\r\nOK\r\n"  # by PDP context
    assert m.cmd("AT+QSSLSTATE=4") == b"\r\nOK\r\n"
    assert m.cmd("AT+QSSLSTATE=12") == b"\r\nERROR\r\n"


def test_qideact_closes_the_sockets_of_its_context() -> None:
    m = Module()
    m.cmd("ATE0")
    seq = m.open(client_id=0).conn_seq
    assert m.cmd("AT+QIDEACT=1") == b"\r\nOK\r\n"
    assert m.intents() == [Close(0, seq, abort=True)]
    assert m.cmd("AT+QSSLSTATE") == b"\r\nOK\r\n"


def test_cfun_0_breaks_connections_with_urcs() -> None:
    m = Module()
    m.cmd("ATE0")
    m.open(client_id=0)
    assert m.cmd("AT+CFUN=0") == b'\r\nOK\r\n\r\n+QSSLURC: "closed",0\r\n'
    assert m.cmd("AT+QSSLSTATE=0").count(b",4,1,0,0,") == 1


@pytest.mark.parametrize("mode", [1])
def test_direct_push_mode_delivers_data_in_the_urc(mode: int) -> None:
    m = Module()
    m.cmd("ATE0")
    seq = m.open(client_id=4, mode=mode).conn_seq
    assert m.event(Received(4, seq, b"Test data from SSL")) == (
        b'\r\n+QSSLURC: "recv",4,18\r\nTest data from SSL\r\n'
    )
    assert m.cmd("AT+QSSLRECV=4,100") == b"\r\nERROR\r\n"


def test_later_firmware_keys_sni_and_checkhost() -> None:
    m = Module()
    m.cmd("ATE0")
    assert m.cmd('AT+QSSLCFG="sni",1') == b'\r\n+QSSLCFG: "sni",1,0\r\n\r\nOK\r\n'
    assert m.cmd('AT+QSSLCFG="sni",1,1') == b"\r\nOK\r\n"
    assert m.cmd('AT+QSSLCFG="sni",1,2') == b"\r\nERROR\r\n"
    assert m.cmd('AT+QSSLCFG="checkhost",1,1') == b"\r\nOK\r\n"
    connect = m.open(client_id=0, ssl_ctx=1, host="broker.example")
    assert tls_of(connect).sni and tls_of(connect).checkhost == "broker.example"
    # Mbed OS passes the host name itself
    assert m.cmd('AT+QSSLCFG="checkhost",2,"iot.example"') == b"\r\nOK\r\n"
    assert m.cmd('AT+QSSLCFG="checkhost",2') == (
        b'\r\n+QSSLCFG: "checkhost",2,"iot.example"\r\n\r\nOK\r\n'
    )
    other = m.open(client_id=1, ssl_ctx=2, host="10.0.0.1")
    assert not tls_of(other).sni and tls_of(other).checkhost == "iot.example"
    assert tls_of(m.open(client_id=2, ssl_ctx=3)).checkhost == ""
    for key in ("closetimemode", "dtrmode", "renegotiation", "sslcertkey"):
        assert m.cmd(f'AT+QSSLCFG="{key}",1,1') == b"\r\nERROR\r\n", key
