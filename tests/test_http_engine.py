"""The module's HTTP(S) client on the sans-IO engine, as HTTP_COMMANDS.md's transcripts go,
byte for byte, with the network's events fed by hand and time on a virtual clock."""

from __future__ import annotations

from bg96.engine import (
    Close,
    Connect,
    Connected,
    ConnectFailed,
    MemoryStore,
    ModuleConfig,
    PeerClosed,
    Received,
    Send,
    Sent,
    SetReading,
    TcpConnected,
)
from bg96.engine.codes import QiError

from .helpers import Module

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
HTTP = 12  # the HTTP client's connection ID
REPLY = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"


def http_module(config: ModuleConfig | None = None, store: MemoryStore | None = None) -> Module:
    m = Module(config, store)
    m.cmd("ATE0")
    m.activate()
    return m


def set_url(m: Module, url: str) -> None:
    assert m.cmd(f"AT+QHTTPURL={len(url)},80") == b"\r\nCONNECT\r\n"
    assert m.send(url.encode()) == OK


def connect(m: Module) -> Connect:
    (intent,) = [i for i in m.intents() if isinstance(i, Connect)]
    assert intent.client_id == HTTP
    m.event(TcpConnected(HTTP, intent.conn_seq, 65344, "10.0.0.1"))
    return intent


def get(m: Module, url: str = "http://example.com/x", reply: bytes = REPLY) -> tuple[int, bytes]:
    """GET ``url``; the server answers ``reply``; returns the connection and the URC."""
    set_url(m, url)
    assert m.cmd("AT+QHTTPGET=80") == OK
    seq = connect(m).conn_seq
    assert m.event(Connected(HTTP, seq)) == b""
    return seq, m.event(Received(HTTP, seq, reply))


def sent(m: Module) -> bytes:
    return b"".join(i.data for i in m.intents() if isinstance(i, Send))


# ---- AT+QHTTPCFG ---------------------------------------------------------------------------


def test_cfg_test_read_write_and_query_forms() -> None:
    m = http_module()
    assert m.cmd("AT+QHTTPCFG=?") == (
        b'\r\n+QHTTPCFG: "contextid",(1-16)\r\n+QHTTPCFG: "requestheader",(0,1)\r\n'
        b'+QHTTPCFG: "responseheader",(0,1)\r\n+QHTTPCFG: "sslctxid",(0-5)\r\n'
        b'+QHTTPCFG: "contenttype",(0-3)\r\n' + OK
    )
    fresh = (
        b'\r\n+QHTTPCFG: "contextid",1\r\n+QHTTPCFG: "requestheader",0\r\n'
        b'+QHTTPCFG: "responseheader",0\r\n+QHTTPCFG: "prefix","64:FF9B:0:0:0:0:0:0",96\r\n'
        b'+QHTTPCFG: "sslctxid",1\r\n+QHTTPCFG: "contenttype",0\r\n' + OK
    )
    assert m.cmd("AT+QHTTPCFG?") == fresh  # the real BG96MAR02A07M1G's list
    for key, value in (
        ("contextid", 2),
        ("requestheader", 1),
        ("responseheader", 1),
        ("sslctxid", 5),
        ("contenttype", 3),
    ):
        assert m.cmd(f'AT+QHTTPCFG="{key}",{value}') == OK
        assert m.cmd(f'AT+QHTTPCFG="{key}"') == f'\r\n+QHTTPCFG: "{key}",{value}\r\n'.encode() + OK
    assert m.cmd('AT+QHTTPCFG="prefix","2001:DB8::",64') == OK
    assert m.cmd('AT+QHTTPCFG="prefix"') == b'\r\n+QHTTPCFG: "prefix","2001:DB8::",64\r\n' + OK
    m.cmd("AT+CFUN=1,1")
    m.advance(1.0)
    m.cmd("ATE0")
    assert m.cmd("AT+QHTTPCFG?") == fresh  # not kept across a restart


def test_cfg_refusals() -> None:
    m = http_module()
    for bad in (
        'AT+QHTTPCFG="self.responseheader",1',  # Sixfab's library really sends it
        'AT+QHTTPCFG="auth","a:b"',  # BG95 keys
        'AT+QHTTPCFG="customheader","X: y"',
        'AT+QHTTPCFG="redirect",1',
        'AT+QHTTPCFG="contextid",0',
        'AT+QHTTPCFG="contextid",17',
        'AT+QHTTPCFG="sslctxid",6',
        'AT+QHTTPCFG="contenttype",4',
        'AT+QHTTPCFG="requestheader",2',
        'AT+QHTTPCFG="requestheader","1"',
        "AT+QHTTPCFG=contextid,1",
        'AT+QHTTPCFG="prefix","1.2.3.4",8',
        "AT+QHTTPCFG",
        "AT+QHTTPSTOP",  # not in the BG96 manual
        "AT+QHTTPPUT=10",
    ):
        assert m.cmd(bad) == ERROR, bad
    assert m.cmd("AT+QHTTPCFG?").count(b"+QHTTPCFG:") == 6


# ---- AT+QHTTPURL ---------------------------------------------------------------------------


def test_url_as_the_manual_shows_it() -> None:
    m = http_module()
    assert m.cmd("AT+QHTTPURL=?") == b"\r\n+QHTTPURL: (1-700),(1-65535)\r\n" + OK
    assert m.cmd("AT+QHTTPURL?") == OK  # none set: a bare OK (JCLOG)
    assert m.cmd("AT+QHTTPURL=23,80") == b"\r\nCONNECT\r\n"
    assert m.send(b"http://www.sina") == b""
    assert m.send(b".com.cn/") == OK
    assert m.cmd("AT+QHTTPURL?") == b"\r\n+QHTTPURL: http://www.sina.com.cn/\r\n" + OK


def test_url_limits_schemes_and_timeout() -> None:
    m = http_module()
    for bad in ("AT+QHTTPURL=0", "AT+QHTTPURL=701", "AT+QHTTPURL=10,0", "AT+QHTTPURL=10,65536"):
        assert m.cmd(bad) == ERROR, bad
    for url in ("ftp://example.com/", "www.example.com/", "http://", "http://bad host/"):
        assert m.cmd(f"AT+QHTTPURL={len(url)}") == b"\r\nCONNECT\r\n"
        assert m.send(url.encode()) == b"\r\n+CME ERROR: 711\r\n", url
    set_url(m, "HTTPs://example.com:8443/a?b=1")  # the manual's own example types HTTPs
    assert m.engine.http.url is not None
    assert (m.engine.http.url.tls, m.engine.http.url.port) == (True, 8443)
    long = "http://example.com/" + "a" * 681
    set_url(m, long)  # 700 bytes: the most
    assert m.cmd("AT+QHTTPURL=20,5") == b"\r\nCONNECT\r\n"
    assert m.send(b"http://exa") == b""
    assert m.advance(4.9) == b""
    assert m.advance(0.2) == b"\r\n+CME ERROR: 726\r\n"
    assert m.cmd("AT+QHTTPURL?") == f"\r\n+QHTTPURL: {long}\r\n".encode() + OK  # kept
    assert m.cmd("AT") == OK  # in sync


def test_plus_plus_plus_aborts_the_url_input() -> None:
    m = http_module()
    assert m.cmd("AT+QHTTPURL=30,80") == b"\r\nCONNECT\r\n"
    assert m.send(b"http://a") == b""
    m.advance(1.2)
    assert m.send(b"+++") == b""
    assert m.advance(1.1) == OK
    assert m.cmd("AT+QHTTPURL?") == OK  # nothing set
    # DTR with AT&D1 does the same
    assert m.cmd("AT+QHTTPURL=30,80") == b"\r\nCONNECT\r\n"
    m.engine.set_dtr(False)
    assert m.out() == OK
    m.engine.set_dtr(True)


# ---- GET and READ --------------------------------------------------------------------------


def test_get_and_read_as_the_manual_shows_it() -> None:
    m = http_module()
    assert m.cmd("AT+QHTTPGET=?") == b"\r\n+QHTTPGET: (1-65535),(1-2048),(1-65535)\r\n" + OK
    assert m.cmd("AT+QHTTPREAD") == b"\r\n+CME ERROR: 705\r\n"  # nothing to read yet
    _seq, urc = get(m, "http://www.sina.com.cn/")
    assert urc == b"\r\n+QHTTPGET: 0,200,5\r\n"
    assert sent(m) == (
        b"GET / HTTP/1.1\r\nHost: www.sina.com.cn\r\nUser-Agent: QUECTEL_MODULE\r\n"
        b"Accept: */*\r\nConnection: Keep-Alive\r\n\r\n"
    )
    assert m.intents() == []
    assert m.cmd("AT+QHTTPREAD=80") == b"\r\nCONNECT\r\nhello\r\nOK\r\n\r\n+QHTTPREAD: 0\r\n"
    assert m.cmd("AT+QHTTPREAD=80") == b"\r\n+CME ERROR: 705\r\n"  # read once only


def test_the_connection_closes_once_the_response_is_complete() -> None:
    m = http_module()
    seq, _ = get(m)
    assert m.intents()[1:] == [Close(HTTP, seq)]


def test_read_with_the_response_header() -> None:
    m = http_module()
    m.cmd('AT+QHTTPCFG="responseheader",1')
    get(m, reply=REPLY)
    assert m.cmd("AT+QHTTPREAD=80") == (
        b"\r\nCONNECT\r\nHTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
        b"\r\nhello\r\nOK\r\n\r\n+QHTTPREAD: 0\r\n"
    )


def test_chunked_body_read_as_it_arrives() -> None:
    m = http_module()
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    seq, urc = get(m, reply=head + b"3\r\nabc\r\n")
    assert urc == b"\r\n+QHTTPGET: 0,200\r\n"  # no Content-Length: no length
    assert m.cmd("AT+QHTTPREAD=10") == b"\r\nCONNECT\r\nabc"
    assert m.event(Received(HTTP, seq, b"4\r\ndefg\r")) == b"defg"
    assert m.advance(9.0) == b""  # the gap is under wait_time
    assert m.event(Received(HTTP, seq, b"\n0\r\n\r\n")) == OK + b"\r\n+QHTTPREAD: 0\r\n"


def test_status_codes_are_the_servers() -> None:
    for status, reason in ((204, "No Content"), (301, "Moved"), (404, "Not Found"), (500, "X")):
        m = http_module()
        body = b"" if status == 204 else b"gone"
        length = b"" if status == 204 else b"Content-Length: 4\r\n"
        reply = f"HTTP/1.1 {status} {reason}\r\n".encode() + length + b"\r\n" + body
        _, urc = get(m, reply=reply)
        tail = b"" if status == 204 else b",4"
        assert urc == f"\r\n+QHTTPGET: 0,{status}".encode() + tail + b"\r\n"
        assert m.cmd("AT+QHTTPREAD") == b"\r\nCONNECT\r\n" + body + OK + b"\r\n+QHTTPREAD: 0\r\n"


def test_body_until_close() -> None:
    m = http_module()
    seq, urc = get(m, reply=b"HTTP/1.0 200 OK\r\n\r\nsome")
    assert urc == b"\r\n+QHTTPGET: 0,200\r\n"
    assert m.event(PeerClosed(HTTP, seq, "FIN")) == b""
    assert m.cmd("AT+QHTTPREAD") == b"\r\nCONNECT\r\nsome" + OK + b"\r\n+QHTTPREAD: 0\r\n"


def test_server_closing_mid_body_ends_the_read_with_717() -> None:
    m = http_module()
    seq, _ = get(m, reply=b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    assert m.cmd("AT+QHTTPREAD") == b"\r\nCONNECT\r\nabc"
    assert m.event(PeerClosed(HTTP, seq, "FIN")) == b"\r\n+CME ERROR: 717\r\n"
    assert m.cmd("AT") == OK


def test_a_stalled_body_ends_the_read_after_wait_time() -> None:
    m = http_module()
    seq, _ = get(m, reply=b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    assert m.cmd("AT+QHTTPREAD=5") == b"\r\nCONNECT\r\nabc"
    assert m.advance(4.0) == b""
    assert m.event(Received(HTTP, seq, b"de")) == b"de"
    assert m.advance(4.9) == b""
    assert m.advance(0.2) == b"\r\n+CME ERROR: 722\r\n"
    assert Close(HTTP, seq, abort=True) in m.intents()
    assert m.cmd("AT+QHTTPREAD") == b"\r\n+CME ERROR: 705\r\n"


def test_plus_plus_plus_ends_a_read() -> None:
    m = http_module()
    seq, _ = get(m, reply=b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    assert m.cmd("AT+QHTTPREAD") == b"\r\nCONNECT\r\nabc"
    m.advance(1.5)
    m.send(b"+++")
    assert m.advance(1.1) == OK
    assert Close(HTTP, seq, abort=True) in m.intents()
    assert m.cmd("AT+QHTTPREAD") == b"\r\n+CME ERROR: 705\r\n"


def test_the_body_buffer_is_bounded_and_the_server_paused() -> None:
    m = http_module(ModuleConfig(recv_buffer=1000))
    seq, _ = get(m, reply=b"HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n" + b"a" * 600)
    m.intents()
    m.event(Received(HTTP, seq, b"b" * 600))
    assert m.intents() == [SetReading(HTTP, seq, False)]
    engine = m.engine
    assert m.cmd("AT+QHTTPREAD") == b"\r\nCONNECT\r\n" + b"a" * 600 + b"b" * 600
    assert m.intents() == [SetReading(HTTP, seq, True)]
    out = m.event(Received(HTTP, seq, b"c" * 1800))
    assert out == b"c" * 1800 + OK + b"\r\n+QHTTPREAD: 0\r\n"
    assert engine.http.request is not None and not engine.http.request.body


def test_read_follows_the_uart() -> None:
    m = http_module()
    _seq, _ = get(m, reply=b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nabcdef")
    m.engine.receive_data(b"AT+QHTTPREAD\r")
    assert m.engine.data_to_send(12) == b"\r\nCONNECT\r\na"
    assert m.engine.data_to_send(3) == b"bcd"
    assert m.out() == b"ef" + OK + b"\r\n+QHTTPREAD: 0\r\n"


# ---- failures ------------------------------------------------------------------------------


def test_get_refusals() -> None:
    m = Module()
    m.cmd("ATE0")
    assert m.cmd("AT+QHTTPGET=80") == b"\r\n+CME ERROR: 712\r\n"  # no URL
    set_url(m, "http://example.com/")
    assert m.cmd("AT+QHTTPGET=80") == b"\r\n+CME ERROR: 709\r\n"  # no PDP context
    m.activate()
    for bad in ("AT+QHTTPGET=0", "AT+QHTTPGET=65536", "AT+QHTTPGET=60,2049", "AT+QHTTPGET?"):
        assert m.cmd(bad) == ERROR, bad
    assert m.cmd("AT+QHTTPGET=60000") == OK  # LooUQ's seconds as milliseconds: legal
    assert m.cmd("AT+QHTTPGET=80") == b"\r\n+CME ERROR: 703\r\n"  # one runs
    assert m.cmd("AT+QHTTPURL=10") == b"\r\n+CME ERROR: 703\r\n"
    assert m.cmd("AT+QHTTPREAD") == b"\r\n+CME ERROR: 703\r\n"


def test_dns_and_connect_failures_come_as_the_result_urc() -> None:
    m = http_module()
    set_url(m, "https://nowhere.invalid/")
    assert m.cmd("AT+QHTTPGET=80") == OK
    (c,) = m.intents()
    assert isinstance(c, Connect) and c.tls is not None and c.tls.ssl_ctx_id == 1
    assert m.event(ConnectFailed(HTTP, c.conn_seq, QiError.DNS_PARSE, "no such name")) == (
        b"\r\n+QHTTPGET: 714\r\n"
    )
    assert m.cmd("AT+QHTTPREAD") == b"\r\n+CME ERROR: 705\r\n"
    assert m.cmd("AT+QHTTPGET=80") == OK
    c = connect(m)
    urc = m.event(ConnectFailed(HTTP, c.conn_seq, QiError.CONNECT, "handshake failure"))
    assert urc == b"\r\n+QHTTPGET: 716\r\n"


def test_a_server_that_never_answers() -> None:
    m = http_module()
    set_url(m, "http://example.com/")
    assert m.cmd("AT+QHTTPGET=5") == OK
    seq = connect(m).conn_seq
    m.event(Connected(HTTP, seq))
    m.intents()
    assert m.advance(4.9) == b""
    assert m.advance(0.2) == b"\r\n+QHTTPGET: 728\r\n"
    assert m.intents() == [Close(HTTP, seq, abort=True)]
    assert m.cmd("AT+QHTTPGET=5") == OK  # the client is free again


def test_a_server_closing_before_it_answers_and_garbage() -> None:
    m = http_module()
    set_url(m, "http://example.com/")
    m.cmd("AT+QHTTPGET=5")
    seq = connect(m).conn_seq
    m.event(Connected(HTTP, seq))
    assert m.event(PeerClosed(HTTP, seq, "FIN")) == b"\r\n+QHTTPGET: 719\r\n"
    m.cmd("AT+QHTTPGET=5")
    seq = connect(m).conn_seq
    m.event(Connected(HTTP, seq))
    assert m.event(Received(HTTP, seq, b"SSH-2.0-OpenSSH\r\n\r\n")) == b"\r\n+QHTTPGET: 723\r\n"


def test_cmee_2_names_the_http_codes() -> None:
    m = http_module()
    m.cmd("AT+CMEE=2")
    assert m.cmd("AT+QHTTPREAD") == b"\r\n+CME ERROR: HTTP(S) no GET/POST requests\r\n"


# ---- the host's own request ----------------------------------------------------------------


def test_get_with_the_hosts_own_request() -> None:
    m = http_module()
    m.cmd('AT+QHTTPCFG="requestheader",1')
    set_url(m, "http://example.com/")
    request = b"GET /own HTTP/1.1\r\nHost: example.com\r\nX-Custom: 1\r\n\r\n"
    assert m.cmd(f"AT+QHTTPGET=80,{len(request)},10") == b""  # CONNECT once connected
    seq = connect(m).conn_seq
    assert m.event(Connected(HTTP, seq)) == b"\r\nCONNECT\r\n"
    assert m.send(request) == OK
    assert sent(m) == request  # as the host wrote it
    assert m.event(Received(HTTP, seq, REPLY)) == b"\r\n+QHTTPGET: 0,200,5\r\n"


def test_head_request_of_the_host_has_no_body() -> None:
    m = http_module()
    m.cmd('AT+QHTTPCFG="requestheader",1')
    set_url(m, "http://example.com/")
    request = b"HEAD / HTTP/1.1\r\nHost: example.com\r\n\r\n"
    m.cmd(f"AT+QHTTPGET=80,{len(request)}")
    seq = connect(m).conn_seq
    m.event(Connected(HTTP, seq))
    m.send(request)
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n"
    assert m.event(Received(HTTP, seq, reply)) == b"\r\n+QHTTPGET: 0,200,500\r\n"
    assert m.cmd("AT+QHTTPREAD") == b"\r\nCONNECT\r\n" + OK + b"\r\n+QHTTPREAD: 0\r\n"


# ---- POST ----------------------------------------------------------------------------------


def test_post_as_the_manual_shows_it() -> None:
    m = http_module()
    assert m.cmd("AT+QHTTPPOST=?") == b"\r\n+QHTTPPOST: (1-1024000),(1-65535),(1-65535)\r\n" + OK
    set_url(m, "http://api.efxnow.com/DEMOWebServices2.8/Service.asmx/Echo?")
    assert m.cmd("AT+QHTTPPOST=20,80,80") == b""
    seq = connect(m).conn_seq
    assert m.event(Connected(HTTP, seq)) == b"\r\nCONNECT\r\n"
    assert m.send(b"Message=HelloQuectel") == OK
    assert sent(m) == (
        b"POST /DEMOWebServices2.8/Service.asmx/Echo HTTP/1.1\r\nHost: api.efxnow.com\r\n"
        b"User-Agent: QUECTEL_MODULE\r\nAccept: */*\r\nConnection: Keep-Alive\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 20\r\n\r\n"
        b"Message=HelloQuectel"
    )
    body = b"x" * 177
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: 177\r\n\r\n" + body
    assert m.event(Received(HTTP, seq, reply)) == b"\r\n+QHTTPPOST: 0,200,177\r\n"
    assert m.cmd("AT+QHTTPREAD=80") == b"\r\nCONNECT\r\n" + body + OK + b"\r\n+QHTTPREAD: 0\r\n"


def test_post_body_shorter_than_announced_times_out() -> None:
    m = http_module()
    set_url(m, "http://example.com/")
    m.cmd("AT+QHTTPPOST=20,5,80")
    seq = connect(m).conn_seq
    m.event(Connected(HTTP, seq))
    assert m.send(b"short") == b""
    assert m.advance(5.1) == b"\r\n+CME ERROR: 726\r\n"
    assert Close(HTTP, seq, abort=True) in m.intents()
    assert m.cmd("AT") == OK


def test_post_connect_failure_answers_before_connect() -> None:
    m = http_module()
    set_url(m, "http://nowhere.invalid/")
    assert m.cmd("AT+QHTTPPOST=10") == b""
    (c,) = m.intents()
    assert isinstance(c, Connect)
    out = m.event(ConnectFailed(HTTP, c.conn_seq, QiError.DNS_PARSE, "no such name"))
    assert out == b"\r\n+CME ERROR: 714\r\n"
    assert m.cmd("AT") == OK


def test_post_body_waits_for_room_in_the_send_buffer() -> None:
    m = http_module(ModuleConfig(send_buffer=4096))
    set_url(m, "http://example.com/")
    m.cmd("AT+QHTTPPOST=10000,80,80")
    seq = connect(m).conn_seq
    m.event(Connected(HTTP, seq))
    m.send(b"z" * 10000)
    data = sent(m)
    assert len(data) == 4096  # the send buffer's worth, head included
    assert len(m.engine.input_waiting()) > 5000  # the rest waits in the UART buffer
    assert m.event(Sent(HTTP, seq, len(data))) == b""
    more = sent(m)
    assert len(more) == 4096
    assert m.event(Sent(HTTP, seq, len(more))) == OK
    total = data + more + sent(m)
    assert total.endswith(b"\r\n\r\n" + b"z" * 10000)
    assert not m.engine.input_waiting()


def test_plus_plus_plus_aborts_a_post_body() -> None:
    m = http_module()
    set_url(m, "http://example.com/")
    m.cmd("AT+QHTTPPOST=100")
    seq = connect(m).conn_seq
    m.event(Connected(HTTP, seq))
    m.send(b"abc")
    m.advance(1.5)
    m.send(b"+++")
    assert m.advance(1.1) == OK
    assert Close(HTTP, seq, abort=True) in m.intents()
    assert m.cmd("AT+QHTTPREAD") == b"\r\n+CME ERROR: 705\r\n"


# ---- files ---------------------------------------------------------------------------------


def test_postfile_from_ufs() -> None:
    store = MemoryStore({"2.txt": b"Message=HelloQuectel"})
    m = http_module(store=store)
    set_url(m, "http://example.com/post")
    assert m.cmd('AT+QHTTPPOSTFILE="nofile.txt",80') == b"\r\n+CME ERROR: 405\r\n"
    assert m.cmd("AT+QHTTPPOSTFILE=2.txt,80") == ERROR  # BG95's unquoted name
    assert m.cmd('AT+QHTTPPOSTFILE="2.txt",80') == OK
    seq = connect(m).conn_seq
    m.event(Connected(HTTP, seq))
    assert sent(m).endswith(b"Content-Length: 20\r\n\r\nMessage=HelloQuectel")
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: 177\r\n\r\n" + b"y" * 177
    assert m.event(Received(HTTP, seq, reply)) == b"\r\n+QHTTPPOSTFILE: 0,200,177\r\n"


def test_readfile_into_ufs() -> None:
    store = MemoryStore({"1.txt": b"old"})
    m = http_module(store=store)
    seq, _ = get(m, reply=b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabcd")
    assert m.cmd("AT+QHTTPREADFILE=?") == b"\r\n+QHTTPREADFILE: <file_name>,(1-65535)\r\n" + OK
    assert m.cmd('AT+QHTTPREADFILE="1.txt",80') == OK
    assert store.read("1.txt") == b"old"  # not until it is complete
    # meanwhile the file grows as the module's FILE commands see it (progress for a host)
    assert m.cmd('AT+QFLST="1.txt"') == b'\r\n+QFLST: "1.txt",4\r\n' + OK
    assert m.cmd("AT+QFLDS") == b"\r\n+QFLDS: 4,1\r\n" + OK
    assert m.event(Received(HTTP, seq, b"efghij")) == b"\r\n+QHTTPREADFILE: 0\r\n"
    assert store.read("1.txt") == b"abcdefghij"  # an existing file is replaced
    assert m.cmd('AT+QFLST="1.txt"') == b'\r\n+QFLST: "1.txt",10\r\n' + OK
    assert m.cmd("AT+QHTTPREAD") == b"\r\n+CME ERROR: 705\r\n"


def test_readfile_failures_leave_no_file() -> None:
    store = MemoryStore()
    m = http_module(ModuleConfig(file_capacity=100), store)
    _, _urc = get(m, reply=b"HTTP/1.1 200 OK\r\nContent-Length: 200\r\n\r\nabcd")
    assert m.cmd('AT+QHTTPREADFILE="big.bin"') == b"\r\n+CME ERROR: 403\r\n"  # no room
    m = http_module(ModuleConfig(file_capacity=100), store)
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    seq, _ = get(m, reply=head + b"50\r\n" + b"a" * 80 + b"\r\n")
    assert m.cmd('AT+QHTTPREADFILE="big.bin"') == OK
    out = m.event(Received(HTTP, seq, b"50\r\n" + b"a" * 80 + b"\r\n"))
    assert out == b"\r\n+QHTTPREADFILE: 403\r\n"
    assert store.names() == []
    m = http_module(store=store)
    seq, _ = get(m, reply=b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabcd")
    assert m.cmd('AT+QHTTPREADFILE="cut.bin",5') == OK
    assert m.cmd("AT+QFLST") == b'\r\n+QFLST: "cut.bin",4\r\n' + OK
    assert m.event(PeerClosed(HTTP, seq, "reset")) == b"\r\n+QHTTPREADFILE: 717\r\n"
    assert store.names() == []
    assert m.cmd("AT+QFLST") == OK  # the partial file is gone
    seq, _ = get(m, reply=b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabcd")
    assert m.cmd('AT+QHTTPREADFILE="slow.bin",5') == OK
    assert m.advance(5.1) == b"\r\n+QHTTPREADFILE: 722\r\n"
    assert store.names() == []


# ---- trace, status, faults -----------------------------------------------------------------


def test_trace_notes_decode_request_and_response() -> None:
    m = http_module()
    get(m)
    m.intents()
    assert (
        "HTTP request: GET /x HTTP/1.1; Host: example.com; User-Agent: QUECTEL_MODULE; "
        "Accept: */*; Connection: Keep-Alive"
    ) in m.notes
    assert "HTTP response: HTTP/1.1 200 OK; Content-Type: text/plain; Content-Length: 5" in (
        m.notes
    )
    assert "HTTP response: body complete, 5 bytes" in m.notes


def test_status_shows_the_client() -> None:
    from bg96.engine.commands.http_request import status

    m = http_module()
    assert status(m.engine)["request"] is None
    _seq, _ = get(m, reply=b"HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\n\r\nabc")
    shown = status(m.engine)
    assert shown["url"] == "http://example.com/x"
    assert shown["request"] == {
        "command": "QHTTPGET",
        "stage": "body",
        "status": 404,
        "content_length": 10,
        "received": 3,
        "buffered": 3,
        "complete": False,
        "error": 0,
        "reading": "",
    }


def test_a_server_reset_fault_on_the_http_connection() -> None:
    from bg96.engine import NetFault
    from bg96.engine.faults import FaultError, ServerReset

    m = http_module()
    try:
        m.engine.inject_fault(ServerReset(12))
    except FaultError as exc:
        assert "has no connected socket" in str(exc)
    else:
        raise AssertionError("a fault with nothing to act on")
    seq, _ = get(m, reply=b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    m.intents()
    m.engine.inject_fault(ServerReset(12))
    assert m.intents() == [NetFault(ServerReset(12), seq)]


def test_the_pdp_context_going_down_fails_the_request() -> None:
    m = http_module()
    set_url(m, "http://example.com/")
    assert m.cmd("AT+QHTTPGET=80") == OK
    seq = connect(m).conn_seq
    m.event(Connected(HTTP, seq))
    assert m.cmd("AT+QIDEACT=1") == OK + b"\r\n+QHTTPGET: 709\r\n"
    assert Close(HTTP, seq, abort=True) in m.intents()
    m.activate()
    seq, _ = get(m, reply=b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    assert m.cmd("AT+QHTTPREAD") == b"\r\nCONNECT\r\nabc"
    from bg96.engine.faults import PdpDeactivate

    m.engine.inject_fault(PdpDeactivate(1))
    assert m.out() == b"\r\n+CME ERROR: 709\r\n" + b'\r\n+QIURC: "pdpdeact",1\r\n'


def test_the_post_example_fed_one_byte_at_a_time() -> None:
    m = http_module()
    url = b"http://api.efxnow.com/DEMOWebServices2.8/Service.asmx/Echo?"
    out = b"".join(m.send(bytes([b])) for b in b"AT+QHTTPURL=%d,80\r" % len(url))
    assert out == b"\r\nCONNECT\r\n"
    assert b"".join(m.send(bytes([b])) for b in url) == OK
    assert b"".join(m.send(bytes([b])) for b in b"AT+QHTTPPOST=20,80,80\r\n") == b""
    seq = connect(m).conn_seq
    assert m.event(Connected(HTTP, seq)) == b"\r\nCONNECT\r\n"  # the LF is not data
    assert b"".join(m.send(bytes([b])) for b in b"Message=HelloQuectel") == OK
    assert sent(m).endswith(b"Content-Length: 20\r\n\r\nMessage=HelloQuectel")
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: 177\r\n\r\n" + b"z" * 177
    urcs = b"".join(m.event(Received(HTTP, seq, bytes([b]))) for b in reply)
    assert urcs == b"\r\n+QHTTPPOST: 0,200,177\r\n"
    assert m.cmd("AT+QHTTPREAD=80") == b"\r\nCONNECT\r\n" + b"z" * 177 + READ_OK


READ_OK = OK + b"\r\n+QHTTPREAD: 0\r\n"
