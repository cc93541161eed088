"""Direct push and transparent access modes, +++ guard times, ATO, AT+QISWTMD, DTR and DCD."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bg96.engine import (
    Close,
    Connect,
    Connected,
    ConnectFailed,
    ModuleConfig,
    PeerClosed,
    Received,
    Send,
    TcpConnected,
)

from .helpers import Module


def open_transparent(m: Module, client_id: int = 4, port: int = 8011) -> int:
    """AT+QSSLOPEN in transparent mode, completed by the network; returns conn_seq."""
    if not m.engine.pdp[1].active:
        m.activate()
    out = m.cmd(f'AT+QSSLOPEN=1,1,{client_id},"220.180.239.201",{port},2')
    assert out.endswith(b",2\r") or out == b""  # the echo at most: no answer yet
    (connect,) = (i for i in m.intents() if isinstance(i, Connect))
    m.event(TcpConnected(client_id, connect.conn_seq, 65047, "220.180.239.201"))
    assert m.event(Connected(client_id, connect.conn_seq)) == b"\r\nCONNECT\r\n"
    return connect.conn_seq


def sent(m: Module) -> bytes:
    return b"".join(i.data for i in m.intents() if isinstance(i, Send))


# ---- the manual's chapter 3.4 and 3.5 -------------------------------------------------------


def test_manual_3_4_direct_push_mode() -> None:
    m = Module(ModuleConfig(at_port="usbmodem"))
    m.activate()
    assert m.cmd('AT+QSSLOPEN=1,1,4,"220.180.239.201",8011,1') == (
        b'AT+QSSLOPEN=1,1,4,"220.180.239.201",8011,1\r\r\nOK\r\n'
    )
    (connect,) = (i for i in m.intents() if isinstance(i, Connect))
    seq = connect.conn_seq
    m.event(TcpConnected(4, seq, 65047, "220.180.239.201"))
    assert m.event(Connected(4, seq)) == b"\r\n+QSSLOPEN: 4,0\r\n"
    assert m.cmd("AT+QSSLSTATE") == (
        b"AT+QSSLSTATE\r\r\n"
        b'+QSSLSTATE: 4,"SSLClient","220.180.239.201",8011,65047,2,1,4,1,"usbmodem",1\r\n'
        b"\r\nOK\r\n"
    )
    assert m.cmd("AT+QSSLSEND=4") == b"AT+QSSLSEND=4\r\r\n> "
    assert m.send(b"Test data from SSL\x1a") == b"Test data from SSL\r\nSEND OK\r\n"
    assert m.cmd("AT+QSSLSEND=4,18") == b"AT+QSSLSEND=4,18\r\r\n> "
    assert m.send(b"Test data from SSL") == b"Test data from SSL\r\nSEND OK\r\n"
    assert sent(m) == b"Test data from SSL" * 2
    assert m.event(Received(4, seq, b"Test data from SSL")) == (
        b'\r\n+QSSLURC: "recv",4,18\r\nTest data from SSL\r\n'
    )
    assert m.cmd("AT+QSSLCLOSE=4,0") == b"AT+QSSLCLOSE=4,0\r\r\nOK\r\n"


def test_manual_3_5_transparent_mode_send_receive_and_leave() -> None:
    m = Module()
    m.activate()
    assert m.cmd('AT+QSSLOPEN=1,1,4,"220.180.239.201",8011,2') == (
        b'AT+QSSLOPEN=1,1,4,"220.180.239.201",8011,2\r'
    )
    (connect,) = (i for i in m.intents() if isinstance(i, Connect))
    seq = connect.conn_seq
    m.event(TcpConnected(4, seq, 65047, "220.180.239.201"))
    assert m.event(Connected(4, seq)) == b"\r\nCONNECT\r\n"
    # 3.5.1: host bytes go to the server, not echoed, packed after 200 ms of silence
    assert m.send(b"GET / HTTP/1.0\r\n\r\n") == b""
    assert sent(m) == b""
    m.advance(0.2)
    assert sent(m) == b"GET / HTTP/1.0\r\n\r\n"
    # 3.5.2: server bytes go straight to the host
    assert m.event(Received(4, seq, b"HTTP/1.0 200 OK\r\n")) == b"HTTP/1.0 200 OK\r\n"
    # +++ with 1 s of silence around it
    m.advance(1.0)
    assert m.send(b"+++") == b""
    assert m.advance(0.999) == b""
    assert m.advance(0.001) == b"\r\nOK\r\n"
    assert sent(m) == b""
    assert m.cmd("AT+QSSLSTATE=4").endswith(b',2,1,4,0,"uart1",1\r\n\r\nOK\r\n')
    # 3.5.3
    assert m.cmd("AT+QSSLCLOSE=4") == b"AT+QSSLCLOSE=4\r"
    assert m.intents() == [Close(4, seq, abort=False)]


# ---- +++ and its guard times ----------------------------------------------------------------


def test_plus_without_silence_before_is_data() -> None:
    m = Module()
    open_transparent(m)
    m.advance(0.5)
    m.send(b"+++")
    assert m.advance(2.0) == b""
    assert sent(m) == b"+++"


def test_plus_signs_one_at_a_time_within_the_window() -> None:
    m = Module()
    open_transparent(m)
    m.advance(1.0)
    for _ in range(3):
        assert m.send(b"+") == b""
        m.advance(0.45)
    assert m.advance(0.54) == b""
    assert m.advance(0.01) == b"\r\nOK\r\n"  # 1 s after the third +
    assert sent(m) == b""


def test_plus_signs_spread_over_more_than_a_second_are_data() -> None:
    m = Module()
    open_transparent(m)
    m.advance(1.0)
    m.send(b"+")
    m.advance(0.6)
    m.send(b"+")
    m.advance(0.6)  # the window closed: the two + are data
    m.send(b"+")
    m.advance(2.0)
    assert sent(m) == b"+++"
    assert m.engine.transparent is not None


def test_a_byte_within_a_second_after_makes_it_data() -> None:
    m = Module()
    open_transparent(m)
    m.advance(1.0)
    m.send(b"+++")
    m.advance(0.9)
    m.send(b"x")
    m.advance(2.0)
    assert sent(m) == b"+++x"
    for extra in (b"++++", b"+++x"):
        m.advance(1.0)
        m.send(extra)
        m.advance(2.0)
        assert sent(m) == extra


def test_plus_inside_a_qsslsend_prompt_is_data() -> None:
    m = Module()
    m.cmd("ATE0")
    seq = m.open(client_id=1).conn_seq
    m.cmd("AT+QSSLSEND=1,3")
    m.advance(1.5)
    assert m.send(b"+++") == b"\r\nSEND OK\r\n"
    assert m.intents() == [Send(1, seq, b"+++")]


Timed = list[tuple[float, bytes]]


def reference(events: Timed, start: float) -> tuple[bytes, bool]:
    """What the manual's rule says: (the data sent to the server, whether +++ escaped)."""
    stamped = [(t, b) for t, chunk in events for b in chunk]
    times = [t for t, _ in stamped]
    for k in range(len(stamped) - 2):
        if all(stamped[k + j][1] == 0x2B for j in range(3)):
            before = times[k - 1] if k else start
            after = times[k + 3] if k + 3 < len(times) else None
            if (
                times[k] - before >= 1.0
                and times[k + 2] - times[k] < 1.0
                and (after is None or after - times[k + 2] >= 1.0)
            ):
                return bytes(b for _, b in stamped[:k]), True
    return bytes(b for _, b in stamped), False


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([0.0, 0.125, 0.375, 0.5, 0.875, 1.0, 1.125, 1.5]),  # exact in binary
            st.sampled_from([b"+", b"++", b"+++", b"x", b"+x", b"x+", b"\x00+", b"++++"]),
        ),
        max_size=14,
    )
)
def test_guard_time_rule_decides_which_plus_are_data(steps: list[tuple[float, bytes]]) -> None:
    m = Module()
    open_transparent(m)
    start = m.now
    events: Timed = []
    t = start
    for delay, chunk in steps:
        t += delay
        events.append((t, chunk))
    expected, escapes = reference(events, start)
    if escapes:
        # feed up to the escape only: after it, the bytes would be AT commands
        total = len(expected) + 3
        fed: Timed = []
        for when, chunk in events:
            if total <= 0:
                break
            fed.append((when, chunk[:total]))
            total -= len(chunk)
        events = fed
    out = b""
    for when, chunk in events:
        out += m.advance(when - m.now)
        out += m.send(chunk)
    out += m.advance(3.0)
    assert sent(m) == expected
    assert (out == b"\r\nOK\r\n") is escapes
    assert (m.engine.transparent is None) is escapes


# ---- packing into packets -------------------------------------------------------------------


def test_transpktsize_and_transwaittm_pack_host_data() -> None:
    m = Module()
    m.cmd("ATE0")
    assert m.cmd('AT+QICFG="transpktsize",10') == b"\r\nOK\r\n"
    assert m.cmd('AT+QICFG="transwaittm",5') == b"\r\nOK\r\n"
    seq = open_transparent(m)
    m.send(b"0123456789abcdefghijklmnop")
    # the two full packets go at once, together; the short rest waits for silence
    assert [i for i in m.intents() if isinstance(i, Send)] == [
        Send(4, seq, b"0123456789abcdefghij")
    ]
    m.advance(0.3)
    m.send(b"q")  # more data before 500 ms of silence: the short packet waits on
    m.advance(0.4)
    assert sent(m) == b""
    m.advance(0.1)
    assert sent(m) == b"klmnopq"


def test_qicfg_forms() -> None:
    m = Module()
    m.cmd("ATE0")
    assert m.cmd("AT+QICFG=?") == (
        b'\r\n+QICFG: "transpktsize",(1-1460)\r\n+QICFG: "transwaittm",(0-20)\r\n'
        b'+QICFG: "dataformat",(0,1),(0,1)\r\n+QICFG: "viewmode",(0,1)\r\n'
        b'+QICFG: "tcp/retranscfg",(3-20),(5-1000)\r\n\r\nOK\r\n'
    )
    assert m.cmd('AT+QICFG="transpktsize"') == b'\r\n+QICFG: "transpktsize",1024\r\n\r\nOK\r\n'
    assert m.cmd('AT+QICFG="transwaittm"') == b'\r\n+QICFG: "transwaittm",2\r\n\r\nOK\r\n'
    assert m.cmd('AT+QICFG="dataformat"') == b'\r\n+QICFG: "dataformat",0,0\r\n\r\nOK\r\n'
    for bad in (
        'AT+QICFG="transpktsize",0',
        'AT+QICFG="transpktsize",1461',
        'AT+QICFG="transwaittm",21',
        'AT+QICFG="bogus",1',
        'AT+QICFG="dataformat",1',
    ):
        assert m.cmd(bad) == b"\r\nERROR\r\n", bad


# ---- binary safety ----------------------------------------------------------------------------


def test_all_256_byte_values_both_ways_in_transparent_mode() -> None:
    m = Module()
    m.cmd('AT+QICFG="transwaittm",0')
    seq = open_transparent(m)
    data = bytes(range(256)) * 8
    m.send(data)
    assert sent(m) == data
    assert m.event(Received(4, seq, data)) == data


def test_all_256_byte_values_in_direct_push_mode() -> None:
    m = Module()
    m.cmd("ATE0")
    seq = m.open(client_id=2, mode=1).conn_seq
    data = bytes(range(256)) * 8  # 2048 bytes: two URCs of at most 1500
    out = m.event(Received(2, seq, data))
    assert out == (
        b'\r\n+QSSLURC: "recv",2,1500\r\n'
        + data[:1500]
        + b'\r\n\r\n+QSSLURC: "recv",2,548\r\n'
        + data[1500:]
        + b"\r\n"
    )


def test_push_urcs_wait_for_a_response_to_finish() -> None:
    m = Module()
    m.cmd("ATE0")
    seq = m.open(client_id=2, mode=1).conn_seq
    m.engine.receive_data(b"AT+QSSLSEND=2,3\r")
    m.engine.network_event(Received(2, seq, b"abc"))
    assert m.out() == b"\r\n> "
    assert m.send(b"xyz") == b'\r\nSEND OK\r\n\r\n+QSSLURC: "recv",2,3\r\nabc\r\n'


# ---- returning: ATO and AT+QISWTMD ------------------------------------------------------------


def test_ato_returns_to_the_connection_with_what_arrived_meanwhile() -> None:
    m = Module()
    seq = open_transparent(m)
    m.advance(1.0)
    m.send(b"+++")
    assert m.advance(1.0) == b"\r\nOK\r\n"
    m.cmd("ATE0")
    assert m.event(Received(4, seq, b"while away")) == b'\r\n+QSSLURC: "recv",4\r\n'
    assert m.cmd("ATO") == b"\r\nCONNECT\r\nwhile away"
    assert m.event(Received(4, seq, b" and now")) == b" and now"
    m.send(b"AT\r")  # in transparent mode this is data
    m.advance(0.2)
    assert sent(m) == b"AT\r"


def test_ato_without_a_connection_to_return_to() -> None:
    m = Module()
    m.cmd("ATE0")
    assert m.cmd("ATO") == b"\r\nNO CARRIER\r\n"
    seq = open_transparent(m)
    m.advance(1.0)
    m.send(b"+++")
    m.advance(1.0)
    m.event(PeerClosed(4, seq, "FIN"))
    assert m.cmd("ATO") == b"\r\nNO CARRIER\r\n"


def test_qiswtmd_switches_modes_and_moves_buffered_data() -> None:
    m = Module()
    m.cmd("ATE0")
    seq = m.open(client_id=3).conn_seq
    assert m.cmd("AT+QISWTMD=?") == b"\r\n+QISWTMD: (0-11),(0-2)\r\n\r\nOK\r\n"
    m.event(Received(3, seq, b"buffered"))
    # buffer -> push: what was buffered comes as a push URC, after the OK
    assert m.cmd("AT+QISWTMD=3,1") == b'\r\nOK\r\n\r\n+QSSLURC: "recv",3,8\r\nbuffered\r\n'
    assert m.event(Received(3, seq, b"pushed")) == b'\r\n+QSSLURC: "recv",3,6\r\npushed\r\n'
    assert m.cmd("AT+QISWTMD=3,0") == b"\r\nOK\r\n"
    assert m.event(Received(3, seq, b"more")) == b'\r\n+QSSLURC: "recv",3\r\n'
    # buffer -> transparent: CONNECT, then the buffered bytes
    assert m.cmd("AT+QISWTMD=3,2") == b"\r\nCONNECT\r\nmore"
    assert m.cmd("AT+QSSLSTATE") == b""  # data now
    m.advance(1.0)
    m.send(b"+++")
    assert m.advance(1.0) == b"\r\nOK\r\n"
    assert sent(m) == b"AT+QSSLSTATE\r"


def test_qiswtmd_bad_input() -> None:
    m = Module()
    m.cmd("ATE0")
    assert m.cmd("AT+QISWTMD=5,1") == b"\r\nERROR\r\n"  # unknown
    seq = m.open(client_id=5).conn_seq
    for bad in ("AT+QISWTMD=5,3", "AT+QISWTMD=12,0", "AT+QISWTMD=5", "AT+QISWTMD?"):
        assert m.cmd(bad) == b"\r\nERROR\r\n", bad
    m.event(PeerClosed(5, seq, "FIN"))
    assert m.cmd("AT+QISWTMD=5,0") == b"\r\nERROR\r\n"  # closed


# ---- opening in transparent mode, and losing the connection -----------------------------------


def test_transparent_open_failure_is_error_with_the_code() -> None:
    m = Module()
    m.cmd("ATE0")
    assert m.cmd('AT+QSSLOPEN=1,1,4,"h",443,2') == b"\r\nERROR\r\n"  # PDP not active
    assert m.cmd("AT+QIGETERROR") == (b"\r\n+QIGETERROR: 561,open pdp context failed\r\n\r\nOK\r\n")
    m.activate()
    assert m.cmd('AT+QSSLOPEN=1,1,4,"h",443,2') == b""
    assert m.cmd("AT") == b""  # held until the open is done
    (connect,) = (i for i in m.intents() if isinstance(i, Connect))
    assert m.event(ConnectFailed(4, connect.conn_seq, 566, "unknown CA")) == (
        b"\r\nERROR\r\n\r\nOK\r\n"
    )
    assert m.cmd("AT+QIGETERROR") == b"\r\n+QIGETERROR: 566,socket connect failed\r\n\r\nOK\r\n"


def test_transparent_open_negotiate_timeout() -> None:
    m = Module()
    m.cmd("ATE0")
    m.cmd('AT+QSSLCFG="negotiatetime",1,10')
    m.activate()
    m.cmd('AT+QSSLOPEN=1,1,4,"h",443,2')
    (connect,) = (i for i in m.intents() if isinstance(i, Connect))
    m.event(TcpConnected(4, connect.conn_seq, 1, "1.2.3.4"))
    assert m.advance(10.0) == b"\r\nERROR\r\n"
    assert m.cmd("AT+QIGETERROR") == b"\r\n+QIGETERROR: 569,operation timeout\r\n\r\nOK\r\n"


def test_abnormal_close_in_transparent_mode_is_no_carrier() -> None:
    m = Module()
    seq = open_transparent(m)
    m.cmd("ATE0")  # data: the port is the connection's
    assert m.event(Received(4, seq, b"bye")) == b"bye"
    assert m.event(PeerClosed(4, seq, "FIN")) == b"\r\nNO CARRIER\r\n"
    m.cmd("ATE0")
    assert m.cmd("AT+QSSLSTATE=4").count(b",4,1,4,2,") == 1  # closing, transparent
    assert m.cmd("AT+QSSLCLOSE=4") == b"\r\nOK\r\n"


def test_urcs_of_other_connections_wait_while_transparent() -> None:
    m = Module()
    m.cmd("ATE0")
    other = m.open(client_id=1).conn_seq
    open_transparent(m)
    assert m.event(Received(1, other, b"for 1")) == b""
    m.advance(1.0)
    m.send(b"+++")
    assert m.advance(1.0) == b'\r\nOK\r\n\r\n+QSSLURC: "recv",1\r\n'


# ---- DTR and DCD ------------------------------------------------------------------------------


def test_dtr_with_amp_d1_leaves_transparent_mode_and_keeps_the_connection() -> None:
    m = Module()
    m.cmd("AT&D1")
    open_transparent(m)
    assert m.engine.dcd
    m.send(b"partial")
    m.engine.set_dtr(False)
    assert m.out() == b"\r\nOK\r\n"
    assert sent(m) == b"partial"  # what the host typed is still sent
    assert m.engine.dcd  # the connection is still there for ATO
    m.engine.set_dtr(True)
    assert m.cmd("ATO") == b"ATO\r\r\nCONNECT\r\n"


def test_dtr_with_amp_d0_is_ignored_and_amp_d2_closes() -> None:
    m = Module()
    m.cmd("AT&D0")
    seq = open_transparent(m)
    m.engine.set_dtr(False)
    assert m.out() == b""
    assert m.engine.transparent is not None
    m.engine.set_dtr(True)
    m.advance(1.0)
    m.send(b"+++")
    m.advance(1.0)
    m.out()
    m.cmd("AT&D2")
    m.cmd("ATO")
    m.intents()
    m.engine.set_dtr(False)
    assert m.out() == b"\r\nNO CARRIER\r\n"
    assert m.intents() == [Close(4, seq, abort=False)]
    assert m.cmd("AT+QSSLSTATE") == b"AT+QSSLSTATE\r\r\nOK\r\n"
    assert not m.engine.dcd


def test_dtr_in_command_mode_or_mid_handshake_does_nothing() -> None:
    m = Module()
    m.cmd("ATE0")
    m.engine.set_dtr(False)
    m.engine.set_dtr(True)
    assert m.out() == b""
    m.activate()
    m.cmd('AT+QSSLOPEN=1,1,4,"h",443,2')
    m.engine.set_dtr(False)
    m.engine.set_dtr(True)
    (connect,) = (i for i in m.intents() if isinstance(i, Connect))
    assert m.event(Connected(4, connect.conn_seq)) == b"\r\nCONNECT\r\n"


def test_dcd_follows_amp_c() -> None:
    m = Module()
    m.cmd("ATE0")
    assert not m.engine.dcd
    m.cmd("AT&C0")
    assert m.engine.dcd
    m.cmd("AT&C1")
    open_transparent(m)
    assert m.engine.dcd


def test_host_leaving_in_transparent_mode_is_a_dtr_drop() -> None:
    m = Module()
    seq = open_transparent(m)
    m.engine.host_disconnected()
    assert m.engine.transparent is None
    m.out()
    assert m.event(Received(4, seq, b"kept")) == b'\r\n+QSSLURC: "recv",4\r\n'
    assert m.cmd("ATE0") + m.cmd("AT+QSSLRECV=4,100") == (
        b"ATE0\r\r\nOK\r\n\r\n+QSSLRECV: 4\r\nkept\r\n\r\nOK\r\n"
    )


def test_urcport_and_qsslstate_at_port_agree() -> None:
    m = Module()
    m.cmd("ATE0")
    m.open(client_id=1)
    assert m.cmd("AT+QSSLSTATE=1").endswith(b',"uart1",1\r\n\r\nOK\r\n')
    assert m.cmd('AT+QURCCFG="urcport","usbmodem"') == b"\r\nOK\r\n"
    assert m.cmd("AT+QSSLSTATE=1").endswith(b',"usbmodem",1\r\n\r\nOK\r\n')
