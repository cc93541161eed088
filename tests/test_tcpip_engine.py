"""Plain TCP and UDP sockets on the sans-IO engine, as the TCP/IP manual's transcripts go
(TCPIP_SOCKETS.md), byte for byte, with the network's events fed by hand."""

from __future__ import annotations

from bg96.engine import (
    Accept,
    Close,
    Connect,
    Connected,
    ConnectFailed,
    Incoming,
    Listen,
    Listening,
    ModuleConfig,
    NtpAnswer,
    NtpQuery,
    PeerClosed,
    Ping,
    Pinged,
    Received,
    Refuse,
    Resolve,
    Resolved,
    Send,
    Sent,
    TcpConnected,
)

from .helpers import Module

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"


def ip_module(config: ModuleConfig | None = None) -> Module:
    m = Module(config)
    m.cmd("ATE0")
    m.activate()
    return m


def open_tcp(m: Module, cid: int = 0, mode: int = 0, local_port: int = 15190) -> int:
    out = m.cmd(f'AT+QIOPEN=1,{cid},"TCP","220.180.239.212",8009,0,{mode}')
    (intent,) = [i for i in m.intents() if isinstance(i, Connect)]
    assert intent.tls is None and intent.protocol == "tcp"
    assert (intent.host, intent.port) == ("220.180.239.212", 8009)
    assert out == (OK if mode != 2 else b"")
    m.event(TcpConnected(cid, intent.conn_seq, local_port, "220.180.239.212"))
    got = m.event(Connected(cid, intent.conn_seq))
    assert got == (f"\r\n+QIOPEN: {cid},0\r\n".encode() if mode != 2 else b"\r\nCONNECT\r\n")
    return intent.conn_seq


def test_a_tcp_client_as_the_manual_shows_it() -> None:
    m = ip_module()
    seq = open_tcp(m)
    assert m.cmd("AT+QISTATE=1,0") == (
        b'\r\n+QISTATE: 0,"TCP","220.180.239.212",8009,15190,2,1,0,0,"uart1"\r\n' + OK
    )
    assert m.cmd("AT+QISEND=0") == b"\r\n> "
    assert m.send(b"Hello World\x1a") == b"\r\nSEND OK\r\n"
    assert m.intents() == [Send(0, seq, b"Hello World")]
    assert m.cmd("AT+QISEND=0,0") == b"\r\n+QISEND: 11,0,11\r\n" + OK
    assert m.event(Sent(0, seq, 11)) == b""
    assert m.cmd("AT+QISEND=0,0") == b"\r\n+QISEND: 11,11,0\r\n" + OK
    assert m.cmd('AT+QISENDEX=0,"3132333435"') == b"\r\nSEND OK\r\n"
    assert m.intents() == [Send(0, seq, b"12345")]
    m.event(Sent(0, seq, 5))
    assert m.cmd("AT+QISEND=0,0") == b"\r\n+QISEND: 16,16,0\r\n" + OK
    assert m.event(Received(0, seq, b"test1")) == b'\r\n+QIURC: "recv",0\r\n'
    assert m.cmd("AT+QIRD=0,1500") == b"\r\n+QIRD: 5\r\ntest1\r\n" + OK
    assert m.cmd("AT+QIRD=0,1500") == b"\r\n+QIRD: 0\r\n" + OK
    assert m.cmd("AT+QIRD=0,0") == b"\r\n+QIRD: 5,5,0\r\n" + OK
    assert m.cmd("AT+QICLOSE=0") == b""  # waits for the FIN's answer
    (close,) = m.intents()
    assert close == Close(0, seq)
    from bg96.engine import Closed

    assert m.event(Closed(0, seq)) == OK
    assert m.cmd("AT+QISTATE=1,0") == OK
    assert m.cmd("AT+QIRD=0,0") == ERROR
    assert m.cmd("AT+QICLOSE=0") == OK  # a free ID: OK, as a real BG96 answers


def test_fixed_length_send_and_reading_in_pieces() -> None:
    m = ip_module()
    seq = open_tcp(m)
    assert m.cmd("AT+QISEND=0,5") == b"\r\n> "
    assert m.send(b"he") + m.send(b"llo") == b"\r\nSEND OK\r\n"
    assert m.intents() == [Send(0, seq, b"hello")]
    m.event(Received(0, seq, b"abcdefgh"))
    assert m.cmd("AT+QIRD=0,3") == b"\r\n+QIRD: 3\r\nabc\r\n" + OK
    assert m.cmd("AT+QIRD=0") == b"\r\n+QIRD: 5\r\ndefgh\r\n" + OK  # default 1500


def test_send_errors_and_limits() -> None:
    m = ip_module()
    open_tcp(m)
    assert m.cmd("AT+QISEND=0,1461") == ERROR
    assert m.cmd("AT+QISEND=5,10") == ERROR  # nothing on 5
    assert m.cmd("AT+QIGETERROR").startswith(b"\r\n+QIGETERROR: 567,")
    assert m.cmd("AT+QISEND=0") == b"\r\n> "
    assert m.send(b"abc\x1b") == OK  # ESC: nothing sent, 571
    assert m.cmd("AT+QIGETERROR") == b"\r\n+QIGETERROR: 571,cancel send\r\n" + OK
    for bad in ('AT+QISENDEX=0,"123"', 'AT+QISENDEX=0,"12G4"', "AT+QISENDEX=0,3132"):
        assert m.cmd(bad) == ERROR, bad
    assert m.cmd(f'AT+QISENDEX=0,"{"31" * 257}"') == ERROR  # over 512 hex digits
    assert m.cmd('AT+QISEND=0,5,"10.0.0.1",7') == ERROR  # an address is for UDP SERVICE


def test_qiopen_refusals() -> None:
    m = ip_module()
    for bad in (
        'AT+QIOPEN=1,0,"tcp","1.2.3.4",80,0,0',  # service types are upper case
        'AT+QIOPEN=1,0,"TPC","1.2.3.4",80,0,0',
        'AT+QIOPEN=1,0,"TCP","1.2.3.4",0,0,0',  # a client needs a remote port
        'AT+QIOPEN=1,0,"TCP","1.2.3.4",65536,0,0',
        'AT+QIOPEN=1,0,"TCP LISTENER","127.0.0.1",0,0,0',  # a listener needs a local port
        'AT+QIOPEN=1,12,"TCP","1.2.3.4",80',
        'AT+QIOPEN=1,0,"TCP","1.2.3.4",80,0,3',
    ):
        assert m.cmd(bad) == ERROR, bad
        assert m.cmd("AT+QIGETERROR").startswith(b"\r\n+QIGETERROR: 552,"), bad
    assert m.intents() == []
    open_tcp(m, 0)
    assert m.cmd('AT+QIOPEN=1,0,"UDP","1.2.3.4",53') == OK + b"\r\n+QIOPEN: 0,563\r\n"
    assert m.cmd('AT+QIOPEN=2,1,"TCP","1.2.3.4",80') == OK + b"\r\n+QIOPEN: 1,561\r\n"


def test_tcp_and_ssl_share_the_twelve_ids() -> None:
    m = ip_module()
    m.open(client_id=4)  # an SSL socket on 4
    assert m.cmd('AT+QIOPEN=1,4,"TCP","1.2.3.4",80,0,0') == OK + b"\r\n+QIOPEN: 4,563\r\n"
    assert m.cmd("AT+QIGETERROR").startswith(b"\r\n+QIGETERROR: 563,")
    open_tcp(m, 5)
    assert m.cmd('AT+QSSLOPEN=1,1,5,"h",443,0') == OK + b"\r\n+QSSLOPEN: 5,563\r\n"
    assert m.cmd("AT+QICLOSE=4") == ERROR  # an SSL socket: AT+QSSLCLOSE closes it
    assert m.cmd("AT+QSSLCLOSE=5") == ERROR
    assert m.cmd("AT+QSSLSEND=5,3") == ERROR
    assert m.cmd("AT+QIRD=4,10") == ERROR
    state = m.cmd("AT+QISTATE")
    assert state.count(b"+QISTATE:") == 1 and b"+QISTATE: 5," in state
    assert m.cmd("AT+QSSLSTATE").count(b"+QSSLSTATE:") == 1


def test_open_failures_come_in_the_urc() -> None:
    m = ip_module()
    m.cmd('AT+QIOPEN=1,3,"TCP","nowhere.example",80,0,0')
    (intent,) = [i for i in m.intents() if isinstance(i, Connect)]
    assert m.event(ConnectFailed(3, intent.conn_seq, 565, "no such name")) == (
        b"\r\n+QIOPEN: 3,565\r\n"
    )
    assert m.cmd("AT+QISTATE") == OK
    m.cmd('AT+QIOPEN=1,3,"TCP","1.2.3.4",80,0,2')  # transparent: ERROR, QIGETERROR 566
    (intent,) = [i for i in m.intents() if isinstance(i, Connect)]
    assert m.event(ConnectFailed(3, intent.conn_seq, 566, "refused")) == ERROR
    assert m.cmd("AT+QIGETERROR").startswith(b"\r\n+QIGETERROR: 566,")


def test_push_mode_and_a_peer_close() -> None:
    m = ip_module()
    seq = open_tcp(m, 1, mode=1)
    assert m.event(Received(1, seq, b"pushed")) == b'\r\n+QIURC: "recv",1,6\r\npushed\r\n'
    assert m.event(PeerClosed(1, seq, "FIN")) == b'\r\n+QIURC: "closed",1\r\n'
    assert b'"TCP","220.180.239.212",8009,15190,4,1,1,1,' in m.cmd("AT+QISTATE=1,1")
    for send in ("AT+QISEND=1,3", 'AT+QISENDEX=1,"414243"'):  # closed: 567 from both
        assert m.cmd(send) == ERROR
        assert m.cmd("AT+QIGETERROR").startswith(b"\r\n+QIGETERROR: 567,"), send


def test_dataformat_and_viewmode() -> None:
    m = ip_module()
    seq = open_tcp(m, 1, mode=0)
    assert m.cmd('AT+QICFG="dataformat",1,1') == OK
    assert m.cmd("AT+QISEND=1,3") == b"\r\n> "
    assert m.send(b"414243") == b"\r\nSEND OK\r\n"  # hex digits typed: 3 bytes sent
    assert m.intents() == [Send(1, seq, b"ABC")]
    m.event(Received(1, seq, b"\x00\xff"))
    assert m.cmd("AT+QIRD=1,10") == b"\r\n+QIRD: 2\r\n00FF\r\n" + OK
    assert m.cmd('AT+QICFG="viewmode",1') == OK
    m.event(Received(1, seq, b"hi"))
    assert m.cmd("AT+QIRD=1,10") == b"\r\n+QIRD: 2,6869\r\n" + OK
    assert m.cmd("AT+QISWTMD=1,1") == OK
    assert m.event(Received(1, seq, b"yo")) == b'\r\n+QIURC: "recv",1,2,796F\r\n'
    assert m.cmd('AT+QICFG="dataformat",0,0') == OK
    assert m.event(Received(1, seq, b"yo")) == b'\r\n+QIURC: "recv",1,2,yo\r\n'


def test_transparent_tcp_and_plus_plus_plus() -> None:
    m = ip_module()
    seq = open_tcp(m, 2, mode=2)
    m.send(b"raw bytes")
    m.advance(0.3)  # transwaittm
    assert m.intents() == [Send(2, seq, b"raw bytes")]
    assert m.event(Received(2, seq, b"back")) == b"back"
    m.advance(1.1)
    m.send(b"+++")
    assert m.advance(1.1) == OK
    assert b'"TCP","220.180.239.212",8009,15190,2,1,2,0,' in m.cmd("AT+QISTATE=1,2")
    assert m.cmd("ATO") == b"\r\nCONNECT\r\n"


def test_a_listener_takes_incoming_connections() -> None:
    m = ip_module()
    assert m.cmd('AT+QIOPEN=1,1,"TCP LISTENER","127.0.0.1",0,2020,0') == OK
    (listen,) = [i for i in m.intents() if isinstance(i, Listen)]
    assert listen == Listen(1, listen.conn_seq, "tcp", 2020)
    assert m.event(Listening(1, listen.conn_seq, 40123)) == b"\r\n+QIOPEN: 1,0\r\n"
    assert m.cmd("AT+QISTATE=1,1") == (
        b'\r\n+QISTATE: 1,"TCP LISTENER","10.7.157.1",0,2020,3,1,1,0,"uart1"\r\n' + OK
    )
    urc = m.event(Incoming(1, listen.conn_seq, 7, "172.31.242.222", 54091))
    assert urc == b'\r\n+QIURC: "incoming",11,1,"172.31.242.222",54091\r\n'
    (accept,) = m.intents()
    assert isinstance(accept, Accept) and (accept.token, accept.client_id) == (7, 11)
    assert m.cmd("AT+QISTATE=1,11") == (
        b'\r\n+QISTATE: 11,"TCP INCOMING","172.31.242.222",54091,2020,2,1,1,0,"uart1"\r\n' + OK
    )
    assert m.event(Received(11, accept.conn_seq, b"hi")) == b'\r\n+QIURC: "recv",11\r\n'
    assert m.cmd("AT+QISEND=11,2") == b"\r\n> "
    assert m.send(b"yo") == b"\r\nSEND OK\r\n"
    assert m.intents() == [Send(11, accept.conn_seq, b"yo")]


def test_incoming_full_when_no_id_is_free() -> None:
    m = ip_module()
    m.cmd('AT+QIOPEN=1,0,"TCP LISTENER","127.0.0.1",0,2020,0')
    (listen,) = [i for i in m.intents() if isinstance(i, Listen)]
    m.event(Listening(0, listen.conn_seq, 40123))
    for token in range(1, 12):  # IDs 11 down to 1
        m.event(Incoming(0, listen.conn_seq, token, "10.0.0.9", 5000 + token))
    m.intents()
    assert m.event(Incoming(0, listen.conn_seq, 99, "10.0.0.9", 6000)) == (
        b'\r\n+QIURC: "incoming full"\r\n'
    )
    assert m.intents() == [Refuse(99)]


def test_a_local_port_in_use_and_a_host_port_that_cannot_be_had() -> None:
    m = ip_module()
    m.cmd('AT+QIOPEN=1,0,"TCP LISTENER","127.0.0.1",0,2020,0')
    assert m.cmd('AT+QIOPEN=1,1,"TCP LISTENER","127.0.0.1",0,2020,0') == (
        OK + b"\r\n+QIOPEN: 1,574\r\n"
    )
    assert m.cmd('AT+QIOPEN=1,1,"UDP SERVICE","127.0.0.1",0,2020,0') == OK  # UDP's own ports
    (listen,) = [i for i in m.intents() if isinstance(i, Listen) and i.client_id == 0]
    assert m.event(ConnectFailed(0, listen.conn_seq, 556, "address in use")) == (
        b"\r\n+QIOPEN: 0,556\r\n"
    )


def test_a_udp_service_keeps_each_datagram_and_its_sender() -> None:
    m = ip_module()
    assert m.cmd('AT+QIOPEN=1,2,"UDP SERVICE","127.0.0.1",0,3030,0') == OK
    (listen,) = [i for i in m.intents() if isinstance(i, Listen)]
    assert listen.protocol == "udp"
    assert m.event(Listening(2, listen.conn_seq, 40400)) == b"\r\n+QIOPEN: 2,0\r\n"
    assert m.cmd("AT+QISTATE=1,2") == (
        b'\r\n+QISTATE: 2,"UDP SERVICE","10.7.157.1",0,3030,2,1,2,0,"uart1"\r\n' + OK
    )
    assert m.cmd('AT+QISEND=2,10,"10.7.89.10",6969') == b"\r\n> "
    assert m.send(b"1234567890") == b"\r\nSEND OK\r\n"
    assert m.intents() == [Send(2, listen.conn_seq, b"1234567890", "10.7.89.10", 6969)]
    assert m.cmd("AT+QISEND=2,10") == ERROR  # a service must name where it sends
    seq = listen.conn_seq
    assert m.event(Received(2, seq, b"AAAA", "10.7.76.34", 7687)) == b'\r\n+QIURC: "recv",2\r\n'
    m.event(Received(2, seq, b"BB", "10.7.76.35", 7688))
    assert m.cmd("AT+QIRD=2") == b'\r\n+QIRD: 4,"10.7.76.34",7687\r\nAAAA\r\n' + OK
    assert m.cmd("AT+QIRD=2") == b'\r\n+QIRD: 2,"10.7.76.35",7688\r\nBB\r\n' + OK
    assert m.cmd("AT+QIRD=2") == b"\r\n+QIRD: 0\r\n" + OK
    assert m.cmd("AT+QIRD=2,100") == ERROR  # a service reads whole datagrams: no length
    assert m.cmd("AT+QISWTMD=2,1") == OK
    assert m.event(Received(2, seq, b"CC", "10.7.76.36", 9)) == (
        b'\r\n+QIURC: "recv",2,2,"10.7.76.36",9\r\nCC\r\n'
    )


def test_a_udp_client_reads_one_datagram_at_a_time() -> None:
    m = ip_module()
    assert m.cmd('AT+QIOPEN=1,3,"UDP","10.0.0.53",53,0,0') == OK
    (intent,) = [i for i in m.intents() if isinstance(i, Connect)]
    assert intent.protocol == "udp"
    m.event(TcpConnected(3, intent.conn_seq, 65344, "10.0.0.53"))
    assert m.event(Connected(3, intent.conn_seq)) == b"\r\n+QIOPEN: 3,0\r\n"
    seq = intent.conn_seq
    m.event(Received(3, seq, b"first", "10.0.0.53", 53))
    m.event(Received(3, seq, b"second", "10.0.0.53", 53))
    assert m.cmd("AT+QIRD=3,1500") == b"\r\n+QIRD: 5\r\nfirst\r\n" + OK
    assert m.cmd("AT+QIRD=3,3") == b"\r\n+QIRD: 3\r\nsec\r\n" + OK  # the rest stays
    assert m.cmd("AT+QIRD=3,1500") == b"\r\n+QIRD: 3\r\nond\r\n" + OK


def test_an_empty_datagram_is_dropped_and_the_next_one_reads() -> None:
    m = ip_module()
    assert m.cmd('AT+QIOPEN=1,3,"UDP","10.0.0.53",53,0,0') == OK
    (intent,) = [i for i in m.intents() if isinstance(i, Connect)]
    m.event(TcpConnected(3, intent.conn_seq, 65344, "10.0.0.53"))
    m.event(Connected(3, intent.conn_seq))
    assert m.event(Received(3, intent.conn_seq, b"", "10.0.0.53", 53)) == b""  # no URC
    m.intents()
    assert any("empty datagram" in note for note in m.notes)
    assert m.cmd("AT+QIRD=3,1500") == b"\r\n+QIRD: 0\r\n" + OK
    assert m.event(Received(3, intent.conn_seq, b"abc", "10.0.0.53", 53)) == (
        b'\r\n+QIURC: "recv",3\r\n'
    )
    assert m.cmd("AT+QIRD=3,1500") == b"\r\n+QIRD: 3\r\nabc\r\n" + OK


def test_qisde_and_the_test_forms() -> None:
    m = ip_module()
    assert m.cmd("AT+QISDE?") == b"\r\n+QISDE: 1\r\n" + OK
    assert m.cmd("AT+QISDE=0") == OK
    assert m.cmd("AT+QISDE?") == b"\r\n+QISDE: 0\r\n" + OK
    assert m.cmd("AT+QISDE=2") == ERROR
    assert m.cmd("AT+QISDE=?") == b"\r\n+QISDE: (0,1)\r\n" + OK
    assert m.cmd("AT+QISEND=?") == b"\r\n+QISEND: (0-11),(0-1460)\r\n" + OK
    assert m.cmd("AT+QIRD=?") == b"\r\n+QIRD: (0-11),(0-1500)\r\n" + OK
    assert m.cmd("AT+QICLOSE=?") == b"\r\n+QICLOSE: (0-11),(0-65535)\r\n" + OK
    assert m.cmd("AT+QISTATE=?") == OK
    assert m.cmd("AT+QIOPEN=?").startswith(b'\r\n+QIOPEN: (1-16),(0-11),"TCP/UDP/TCP LISTENER')
    seq = open_tcp(m, 0)
    m.cmd("ATE1")
    m.cmd("AT+QISEND=0")
    assert m.send(b"quiet\x1a") == b"\r\nSEND OK\r\n"  # AT+QISDE=0: no echo even with ATE1
    assert m.intents() == [Send(0, seq, b"quiet")]


def test_qping_answers_each_echo_then_the_summary() -> None:
    m = ip_module()
    assert m.cmd('AT+QPING=1,"example.com",2,3') == OK
    (resolve,) = m.intents()
    assert isinstance(resolve, Resolve) and resolve.host == "example.com"
    m.event(Resolved(resolve.request, ("93.184.216.34",)))
    (ping,) = m.intents()
    assert isinstance(ping, Ping) and (ping.address, ping.seq, ping.size) == (
        "93.184.216.34",
        1,
        32,
    )
    assert m.event(Pinged(ping.request, 1, 192, 255)) == (
        b'\r\n+QPING: 0,"93.184.216.34",32,192,255\r\n'
    )
    (second,) = m.intents()
    assert isinstance(second, Ping)
    assert m.advance(2.0) == b"\r\n+QPING: 569\r\n"  # its 2 s passed with no answer
    (third,) = m.intents()
    assert isinstance(third, Ping) and third.seq == 3
    assert m.event(Pinged(third.request, 3, 479, 255)) == (
        b'\r\n+QPING: 0,"93.184.216.34",32,479,255\r\n\r\n+QPING: 0,3,2,1,192,479,336\r\n'
    )
    assert m.event(Pinged(second.request, 2, 5, 255)) == b""  # too late: ignored


def test_qping_failures_and_busy() -> None:
    m = ip_module()
    assert m.cmd('AT+QPING=1,"nowhere.example"') == OK
    (resolve,) = m.intents()
    assert isinstance(resolve, Resolve)
    assert m.event(Resolved(resolve.request, code=565, reason="no such name")) == (
        b"\r\n+QPING: 565\r\n"
    )
    assert m.cmd("AT+QIGETERROR").startswith(b"\r\n+QIGETERROR: 565,")
    assert m.cmd('AT+QPING=2,"example.com"') == OK + b"\r\n+QPING: 561\r\n"  # not active
    assert m.cmd("AT+QIGETERROR").startswith(b"\r\n+QIGETERROR: 561,")
    assert m.cmd('AT+QPING=1,"example.com",1,1') == OK
    assert m.cmd('AT+QPING=1,"example.com"') == ERROR  # one at a time
    assert m.cmd("AT+QIGETERROR").startswith(b"\r\n+QIGETERROR: 568,")
    (resolve,) = [i for i in m.intents() if isinstance(i, Resolve)]
    m.event(Resolved(resolve.request, ("1.2.3.4",)))
    assert m.advance(1.0) == b"\r\n+QPING: 569\r\n\r\n+QPING: 0,1,0,1\r\n"  # all lost
    for bad in ('AT+QPING=1,"h",0', 'AT+QPING=1,"h",256', 'AT+QPING=1,"h",4,11', "AT+QPING=1"):
        assert m.cmd(bad) == ERROR, bad
    assert m.cmd("AT+QPING=?") == b"\r\n+QPING: (1-16),<host>,(1-255),(1-10)\r\n" + OK


def test_qntp_sets_the_clock_in_the_modules_time_zone() -> None:
    m = ip_module(ModuleConfig(ntp_timeout=10.0))
    assert m.cmd('AT+CCLK="80/01/06,00:00:00+32"') == OK  # UTC+8, as the manual's example
    assert m.cmd('AT+QNTP=1,"pool.ntp.org"') == OK
    assert m.cmd("AT+QNTP?") == b'\r\n+QNTP: "pool.ntp.org",123\r\n' + OK
    (resolve,) = m.intents()
    assert isinstance(resolve, Resolve)
    m.event(Resolved(resolve.request, ("10.1.2.3",)))
    (query,) = m.intents()
    assert isinstance(query, NtpQuery) and (query.address, query.port) == ("10.1.2.3", 123)
    when = 1376910610.0  # 2013-08-19 11:10:10 UTC
    assert m.event(NtpAnswer(query.request, when)) == (b'\r\n+QNTP: 0,"2013/08/19,19:10:10+32"\r\n')
    assert m.cmd("AT+CCLK?") == b'\r\n+CCLK: "13/08/19,19:10:10+32"\r\n' + OK
    assert m.cmd("AT+QNTP?") == OK


def test_qntp_without_setting_the_clock_and_its_failures() -> None:
    m = ip_module(ModuleConfig(ntp_timeout=5.0))
    assert m.cmd('AT+QNTP=1,"10.1.2.3",1123,0') == OK
    (resolve,) = m.intents()  # an address: the runner gives it back as it is
    assert isinstance(resolve, Resolve)
    m.event(Resolved(resolve.request, ("10.1.2.3",)))
    (query,) = [i for i in m.intents() if isinstance(i, NtpQuery)]
    assert query.port == 1123
    assert m.event(NtpAnswer(query.request, 1376910610.0)) == (
        b'\r\n+QNTP: 0,"2013/08/19,11:10:10+00"\r\n'
    )
    assert m.cmd("AT+CCLK?").startswith(b'\r\n+CCLK: "80/01/06,')  # autosettime 0
    assert m.cmd('AT+QNTP=1,"10.1.2.3"') == OK
    assert m.advance(5.0) == b"\r\n+QNTP: 569\r\n"  # no answer in time
    assert m.cmd("AT+QIGETERROR").startswith(b"\r\n+QIGETERROR: 569,")
    m.intents()
    assert m.cmd('AT+QNTP=1,"nowhere.example"') == OK
    (resolve,) = [i for i in m.intents() if isinstance(i, Resolve)]
    assert m.event(Resolved(resolve.request, code=565)) == b"\r\n+QNTP: 565\r\n"
    assert m.cmd("AT+QIGETERROR").startswith(b"\r\n+QIGETERROR: 565,")
    assert m.cmd('AT+QNTP=3,"10.1.2.3"') == OK + b"\r\n+QNTP: 561\r\n"
    assert m.cmd("AT+QIGETERROR").startswith(b"\r\n+QIGETERROR: 561,")
    assert m.cmd('AT+QNTP=1,"10.1.2.3"') == OK
    assert m.cmd('AT+QNTP=1,"10.1.2.3"') == ERROR  # one at a time
