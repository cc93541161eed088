"""MQTT on the sans-IO engine, byte for byte as MQTT_COMMANDS.md's sessions go, with the
broker's packets fed by hand and the packet timeout and keep-alive on the virtual clock."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bg96.engine import (
    MQTT_LINK_BASE,
    Close,
    Connect,
    Connected,
    ConnectFailed,
    PeerClosed,
    Received,
    Send,
    SetReading,
    TcpConnected,
)
from bg96.engine.codes import QiError
from bg96.engine.faults import PdpDeactivate
from bg96.protocol import mqtt
from bg96.protocol.mqtt import Ack, Bare, Connack, PacketType, Publish, Suback

from .helpers import Module

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
LINK = MQTT_LINK_BASE


def module() -> Module:
    m = Module()
    m.cmd("ATE0")
    m.activate()
    return m


def sent(m: Module) -> list[mqtt.Packet]:
    """The MQTT packets the module sent since the last look."""
    return [mqtt.decode(i.data) for i in m.intents() if isinstance(i, Send)]


def open_client(m: Module, index: int = 0, host: str = "broker.example", port: int = 1883) -> int:
    assert m.cmd(f'AT+QMTOPEN={index},"{host}",{port}') == OK
    (intent,) = [i for i in m.intents() if isinstance(i, Connect)]
    assert (intent.client_id, intent.host, intent.port) == (LINK + index, host, port)
    m.event(TcpConnected(LINK + index, intent.conn_seq, 65344, "10.0.0.1"))
    assert (
        m.event(Connected(LINK + index, intent.conn_seq)) == f"\r\n+QMTOPEN: {index},0\r\n".encode()
    )
    return intent.conn_seq


def broker(m: Module, seq: int, packet: mqtt.Packet, index: int = 0) -> bytes:
    return m.event(Received(LINK + index, seq, mqtt.encode(packet)))


def connect(m: Module, index: int = 0, client_id: str = "clientExample") -> int:
    seq = open_client(m, index)
    assert m.cmd(f'AT+QMTCONN={index},"{client_id}"') == OK
    (packet,) = sent(m)
    assert isinstance(packet, mqtt.Connect) and packet.client_id == client_id
    assert broker(m, seq, Connack(0), index) == f"\r\n+QMTCONN: {index},0,0\r\n".encode()
    return seq


def test_the_plain_tcp_session_of_the_application_note() -> None:
    m = module()
    seq = open_client(m)
    assert m.cmd("AT+QMTOPEN?") == b'\r\n+QMTOPEN: 0,"broker.example",1883\r\n' + OK
    assert m.cmd("AT+QMTCONN?") == b"\r\n+QMTCONN: 0,1\r\n" + OK
    assert m.cmd('AT+QMTCONN=0,"clientExample"') == OK
    (conn,) = sent(m)
    assert conn == mqtt.Connect("clientExample", 120, True, version=4)
    assert m.cmd("AT+QMTCONN?") == b"\r\n+QMTCONN: 0,2\r\n" + OK
    assert broker(m, seq, Connack(0)) == b"\r\n+QMTCONN: 0,0,0\r\n"
    assert m.cmd("AT+QMTCONN?") == b"\r\n+QMTCONN: 0,3\r\n" + OK
    assert m.cmd('AT+QMTSUB=0,1,"topic/example",2') == OK
    assert sent(m) == [mqtt.Subscribe(1, (("topic/example", 2),))]
    assert broker(m, seq, Suback(1, (2,))) == b"\r\n+QMTSUB: 0,1,0,2\r\n"
    assert m.cmd('AT+QMTPUB=0,0,0,0,"topic/pub"') == b"\r\n> "
    assert m.send(b"This is test data, hello MQTT.\x1a") == OK + b"\r\n+QMTPUB: 0,0,0\r\n"
    assert sent(m) == [Publish("topic/pub", b"This is test data, hello MQTT.")]
    assert broker(m, seq, Publish("topic/example", b"hi", 0)) == (
        b'\r\n+QMTRECV: 0,0,"topic/example","hi"\r\n'
    )
    assert m.cmd('AT+QMTUNS=0,2,"topic/example"') == OK
    assert sent(m) == [mqtt.Unsubscribe(2, ("topic/example",))]
    assert broker(m, seq, Ack(PacketType.UNSUBACK, 2)) == b"\r\n+QMTUNS: 0,2,0\r\n"
    assert m.cmd("AT+QMTDISC=0") == OK + b"\r\n+QMTDISC: 0,0\r\n"
    intents = m.intents()
    assert [mqtt.decode(i.data) for i in intents if isinstance(i, Send)] == [
        Bare(PacketType.DISCONNECT)
    ]
    assert Close(LINK, seq) in intents
    assert m.cmd("AT+QMTOPEN?") == OK  # the index is free again
    assert m.cmd("AT+QMTCLOSE=0") == OK + b"\r\n+QMTCLOSE: 0,-1\r\n"


def test_test_forms() -> None:
    m = module()
    out = m.cmd("AT+QMTCFG=?")
    assert out.count(b"+QMTCFG: ") == 10
    assert out.startswith(b'\r\n+QMTCFG: "version",(0-5),(3,4)\r\n+QMTCFG: "pdpcid",(0-5),(1-16)')
    assert b'+QMTCFG: "session",(0-5),(0,1)\r\n+QMTCFG: "prefix",(0-5),<ip_prefix>' in out
    assert b'"willmessage"\r\n+QMTCFG: "recv/mode",(0-5),(0,1),(0,1)\r\n+QMTCFG: "aliauth"' in out
    assert m.cmd("AT+QMTOPEN=?") == b'\r\n+QMTOPEN: (0-5),"host_name",(1-65536)\r\n' + OK
    assert m.cmd("AT+QMTCONN=?") == (
        b'\r\n+QMTCONN: (0-5),"clientid","username","password"\r\n' + OK
    )
    assert m.cmd("AT+QMTCLOSE=?") == b"\r\n+QMTCLOSE: (0-5)\r\n" + OK
    assert m.cmd("AT+QMTDISC=?") == b"\r\n+QMTDISC: (0-5)\r\n" + OK
    assert m.cmd("AT+QMTCFG?") == ERROR


def test_qmtcfg_defaults_queries_and_writes() -> None:
    m = module()
    defaults = {
        "version": "4",
        "pdpcid": "1",
        "ssl": "0",
        "keepalive": "120",
        "session": "1",
        "timeout": "5,3,0",
        "will": "0",
        "recv/mode": "0,0",
    }
    for key, value in defaults.items():
        assert m.cmd(f'AT+QMTCFG="{key}",0') == f'\r\n+QMTCFG: "{key}",{value}\r\n'.encode() + OK
    writes = [
        ('"SSL",0,1,2', '"SSL",0', '"SSL",1,2'),
        ('"version",0,3', '"version",0', '"version",3'),
        ('"keepalive",0,0', '"keepalive",0', '"keepalive",0'),
        ('"timeout",0,10,5,1', '"timeout",0', '"timeout",10,5,1'),
        ('"timeout",1,20', '"timeout",1', '"timeout",20,3,0'),
        ('"will",0,1,1,0,"dev/lwt","gone"', '"will",0', '"will",1,1,0,"dev/lwt","gone"'),
        ('"will",0,0', '"will",0', '"will",0'),
        ('"recv/mode",0,0,1', '"recv/mode",0', '"recv/mode",0,1'),
        ('"session",5,0', '"session",5', '"session",0'),
        ('"pdpcid",5,16', '"pdpcid",5', '"pdpcid",16'),
        ('"aliauth",0,"pk","dn","ds"', '"aliauth",0', '"aliauth","pk","dn","ds"'),
    ]
    for write, query, answer in writes:
        assert m.cmd(f"AT+QMTCFG={write}") == OK, write
        assert m.cmd(f"AT+QMTCFG={query}") == f"\r\n+QMTCFG: {answer}\r\n".encode() + OK
    assert m.cmd('AT+QMTCFG="keepalive",1') == b'\r\n+QMTCFG: "keepalive",120\r\n' + OK


@pytest.mark.parametrize(
    "line",
    [
        'AT+QMTCFG="version",6,4',  # client index 6
        'AT+QMTCFG="version",0,5',
        'AT+QMTCFG="keepalive",0,3601',
        'AT+QMTCFG="ssl",0,1',  # enabling needs the context
        'AT+QMTCFG="ssl",0,1,6',
        'AT+QMTCFG="timeout",0,0',
        'AT+QMTCFG="timeout",0,61',
        'AT+QMTCFG="timeout",0,5,11',
        'AT+QMTCFG="will",0,1,0,0,"t"',  # will_fg 1 needs all four
        'AT+QMTCFG="will",0,1,3,0,"t","m"',
        'AT+QMTCFG="will",0,1,0,0,"t/#","m"',
        'AT+QMTCFG="recv/mode",0,1',  # buffered mode is not in this firmware
        'AT+QMTCFG="clean_session",0,1',  # SXP's invented keys
        'AT+QMTCFG="message_recieve_mode",0,1',
        "AT+QMTCFG=\u201dSSL\u201d,0,1,2",  # typographic quotes
        "AT+QMTCFG=version,0,4",
        'AT+QMTCFG="version"',
        "AT+QMTCFG",
    ],
)
def test_qmtcfg_refusals(line: str) -> None:
    m = module()
    assert m.cmd(line.encode("utf-8")) == ERROR
    assert m.cmd("AT") == OK  # still in step


def test_configuration_works_before_pdp_activation() -> None:
    m = Module()
    m.cmd("ATE0")
    assert m.cmd('AT+QMTCFG="ssl",0,1,2') == OK
    assert m.cmd('AT+QMTCFG="version",0,4') == OK


@pytest.mark.parametrize(
    ("line", "answer"),
    [
        ('AT+QMTOPEN=6,"broker.example",1883', ERROR),
        ('AT+QMTOPEN=0,"broker.example",0', ERROR),
        ('AT+QMTOPEN=0,"broker.example",65536', ERROR),
        ('AT+QMTOPEN=0,"broker.example","1883"', ERROR),  # a quoted port
        ("AT+QMTOPEN=0,broker.example,1883", ERROR),
        ('AT+QMTOPEN=0,"' + "a" * 101 + '",1883', ERROR),
        ('AT+QMTOPEN=0,"bad host!",1883', OK + b"\r\n+QMTOPEN: 0,1\r\n"),
        ("AT+QMTCONN=0", ERROR),
        ('AT+QMTCONN=0,"c"', ERROR),  # before QMTOPEN
        ('AT+QMTSUB=0,1,"t",0', ERROR),
        ('AT+QMTPUB=0,0,0,0,"t"', ERROR),
        ("AT+QMTDISC=0", OK + b"\r\n+QMTDISC: 0,-1\r\n"),
        ("AT+QMTCLOSE=0", OK + b"\r\n+QMTCLOSE: 0,-1\r\n"),
        ("AT+QMTCLOSE=6", ERROR),
        ('AT+QMTPUBEX=0,0,0,0,"t","x"', ERROR),  # sibling-only
        ("AT+QMTRECV?", ERROR),
    ],
)
def test_refusals_before_a_connection(line: str, answer: bytes) -> None:
    m = module()
    assert m.cmd(line) == answer
    assert m.cmd("AT") == OK


def test_open_results() -> None:
    m = Module()
    m.cmd("ATE0")
    assert m.cmd('AT+QMTOPEN=0,"broker.example",1883') == OK + b"\r\n+QMTOPEN: 0,3\r\n"
    m.activate()
    open_client(m)
    assert m.cmd('AT+QMTOPEN=0,"broker.example",1883') == OK + b"\r\n+QMTOPEN: 0,2\r\n"
    assert m.cmd('AT+QMTOPEN=1,"nowhere.example",1883') == OK
    (c,) = [i for i in m.intents() if isinstance(i, Connect)]
    failed = ConnectFailed(c.client_id, c.conn_seq, QiError.DNS_PARSE, "no such name")
    assert m.event(failed) == b"\r\n+QMTOPEN: 1,4\r\n"
    assert m.cmd('AT+QMTOPEN=1,"10.0.0.9",8883') == OK
    (c,) = [i for i in m.intents() if isinstance(i, Connect)]
    failed = ConnectFailed(c.client_id, c.conn_seq, QiError.CONNECT, "handshake failed")
    assert m.event(failed) == b"\r\n+QMTOPEN: 1,-1\r\n"
    assert m.cmd('AT+QMTOPEN=2,"10.0.0.9",8883') == OK
    assert m.advance(74.9) == b""
    assert m.advance(0.2) == b"\r\n+QMTOPEN: 2,-1\r\n"
    assert any(isinstance(i, Close) and i.client_id == LINK + 2 for i in m.intents())


def test_tls_uses_the_ssl_context() -> None:
    m = module()
    m.cmd('AT+QSSLCFG="seclevel",2,2')
    m.cmd('AT+QSSLCFG="sni",2,1')
    m.cmd('AT+QMTCFG="ssl",0,1,2')
    assert m.cmd('AT+QMTOPEN=0,"a1b2-ats.iot.example",8883') == OK
    (c,) = [i for i in m.intents() if isinstance(i, Connect)]
    assert c.tls is not None and (c.tls.ssl_ctx_id, c.tls.seclevel, c.tls.sni) == (2, 2, True)


def test_connack_refusal_then_the_broker_closes() -> None:
    m = module()
    seq = open_client(m)
    assert m.cmd('AT+QMTCONN=0,"dev","user","bad"') == OK
    (packet,) = sent(m)
    assert isinstance(packet, mqtt.Connect)
    assert (packet.username, packet.password) == ("user", b"bad")
    assert broker(m, seq, Connack(4)) == b"\r\n+QMTCONN: 0,0,4\r\n"
    assert m.cmd('AT+QMTCONN=0,"dev"') == ERROR  # refused: the link is on its way out
    assert m.event(PeerClosed(LINK, seq, "closed")) == b"\r\n+QMTSTAT: 0,3\r\n"
    assert m.cmd("AT+QMTCONN?") == OK


def test_no_connack_retries_then_gives_up() -> None:
    m = module()
    m.cmd('AT+QMTCFG="timeout",0,2,2,1')
    seq = open_client(m)
    assert m.cmd('AT+QMTCONN=0,"dev"') == OK
    assert len(sent(m)) == 1
    assert m.advance(2.0) == b"\r\n+QMTCONN: 0,1\r\n"
    assert len(sent(m)) == 1  # CONNECT again
    assert m.advance(2.0) == b"\r\n+QMTCONN: 0,1\r\n"
    assert m.advance(2.0) == b"\r\n+QMTCONN: 0,2\r\n\r\n+QMTSTAT: 0,4\r\n"
    assert Close(LINK, seq, abort=True) in m.intents()


def test_qos1_publish_retransmitted_with_dup() -> None:
    m = module()
    m.cmd('AT+QMTCFG="timeout",0,5,3,1')
    seq = connect(m)
    assert m.cmd('AT+QMTPUB=0,1,1,0,"dev/telemetry"') == b"\r\n> "
    assert m.send(b'{"t":21.5}\x1a') == OK
    (first,) = sent(m)
    assert first == Publish("dev/telemetry", b'{"t":21.5}', 1, False, False, 1)
    assert m.advance(5.0) == b"\r\n+QMTPUB: 0,1,1,1\r\n"
    (again,) = sent(m)
    assert isinstance(again, Publish) and again.dup and again.packet_id == 1
    assert broker(m, seq, Ack(PacketType.PUBACK, 1)) == b"\r\n+QMTPUB: 0,1,0\r\n"
    assert broker(m, seq, Ack(PacketType.PUBACK, 1)) == b""  # a late duplicate: ignored


def test_qos2_publish_flow_with_a_lost_pubrec() -> None:
    m = module()
    seq = connect(m)
    assert m.cmd('AT+QMTPUB=0,7,2,1,"a/b"') == b"\r\n> "
    assert m.send(b"x\x1a") == OK
    assert sent(m) == [Publish("a/b", b"x", 2, True, False, 7)]
    assert m.advance(5.0) == b""  # no notice without timeout_notice
    assert sent(m) == [Publish("a/b", b"x", 2, True, True, 7)]
    assert broker(m, seq, Ack(PacketType.PUBREC, 7)) == b""
    assert sent(m) == [Ack(PacketType.PUBREL, 7)]
    assert m.advance(5.0) == b""
    assert sent(m) == [Ack(PacketType.PUBREL, 7)]  # PUBREL again
    assert broker(m, seq, Ack(PacketType.PUBCOMP, 7)) == b"\r\n+QMTPUB: 0,7,0\r\n"


def test_publish_gives_up_after_the_retries() -> None:
    m = module()
    m.cmd('AT+QMTCFG="timeout",0,1,1,0')
    seq = connect(m)
    m.cmd('AT+QMTSUB=0,3,"a",1')
    m.advance(1.0)
    assert m.advance(1.0) == b"\r\n+QMTSUB: 0,3,2\r\n\r\n+QMTSTAT: 0,6\r\n"
    assert Close(LINK, seq, abort=True) in m.intents()


def test_incoming_qos1_and_qos2() -> None:
    m = module()
    seq = connect(m)
    assert (
        broker(m, seq, Publish("c", b"one", 1, packet_id=3)) == b'\r\n+QMTRECV: 0,3,"c","one"\r\n'
    )
    assert sent(m) == [Ack(PacketType.PUBACK, 3)]
    assert (
        broker(m, seq, Publish("c", b"two", 2, packet_id=4)) == b'\r\n+QMTRECV: 0,4,"c","two"\r\n'
    )
    assert sent(m) == [Ack(PacketType.PUBREC, 4)]
    assert broker(m, seq, Publish("c", b"two", 2, dup=True, packet_id=4)) == b""  # once only
    assert sent(m) == [Ack(PacketType.PUBREC, 4)]
    assert broker(m, seq, Ack(PacketType.PUBREL, 4)) == b""
    assert sent(m) == [Ack(PacketType.PUBCOMP, 4)]


def test_payloads_as_the_module_prints_them() -> None:
    m = module()
    seq = connect(m)
    every = bytes(range(256))
    out = broker(m, seq, Publish("bin", every))
    assert out == b'\r\n+QMTRECV: 0,0,"bin","' + every + b'"\r\n'
    m.cmd('AT+QMTCFG="recv/mode",0,0,1')
    assert broker(m, seq, Publish("t", b'a"b\r\nc')) == b'\r\n+QMTRECV: 0,0,"t",6,"a"b\r\nc"\r\n'


def test_length_form_publishes_any_bytes() -> None:
    m = module()
    connect(m)
    every = bytes(range(256))
    assert m.cmd('AT+QMTPUB=0,0,0,0,"bin",256') == b"\r\n> "
    assert m.send(every[:100]) == b""
    assert m.send(every[100:]) == OK + b"\r\n+QMTPUB: 0,0,0\r\n"
    assert sent(m) == [Publish("bin", every)]
    assert m.cmd('AT+QMTPUB=0,0,0,0,"bin",4097') == ERROR
    assert m.cmd('AT+QMTPUB=0,0,0,0,"bin",0') == ERROR


def test_prompt_limits_and_escape() -> None:
    m = module()
    connect(m)
    assert m.cmd('AT+QMTPUB=0,0,0,0,"t"') == b"\r\n> "
    assert m.send(b"never\x1b") == OK
    assert sent(m) == []
    assert m.cmd('AT+QMTPUB=0,0,0,0,"t"') == b"\r\n> "
    assert m.send(b"y" * 2000 + b"\x1a") == OK + b"\r\n+QMTPUB: 0,0,0\r\n"
    assert sent(m) == [Publish("t", b"y" * 1548)]  # the rest is dropped


@pytest.mark.parametrize(
    "line",
    [
        'AT+QMTPUB=0,0,0,0,"a/+"',  # wildcards in a publish
        'AT+QMTPUB=0,0,0,0,"a/#"',
        'AT+QMTPUB=0,0,3,0,"a"',  # QoS 3
        'AT+QMTPUB=0,1,0,0,"a"',  # QoS 0 takes msgID 0
        'AT+QMTPUB=0,0,1,0,"a"',  # QoS 1 needs one
        'AT+QMTPUB=0,0,0,2,"a"',
        'AT+QMTPUB=6,0,0,0,"a"',
        'AT+QMTSUB=0,0,"a",0',
        'AT+QMTSUB=0,1,"a",3',
        'AT+QMTSUB=0,1,"a"',
        'AT+QMTSUB=0,1,"a/#/b",0',
        'AT+QMTUNS=0,1,"a+"',
        "AT+QMTUNS=0,1",
        'AT+QMTCONN=0,"again"',  # connected already
    ],
)
def test_refusals_while_connected(line: str) -> None:
    m = module()
    connect(m)
    assert m.cmd(line) == ERROR
    assert m.cmd("AT") == OK


def test_several_topics_and_the_in_flight_limits() -> None:
    m = module()
    seq = connect(m)
    assert m.cmd('AT+QMTSUB=0,1,"a",0,"b/+",1,"c/#",2') == OK
    assert broker(m, seq, Suback(1, (0, 1, 0x80))) == b"\r\n+QMTSUB: 0,1,0,0,1,128\r\n"
    for msg_id in range(1, 6):
        assert m.cmd(f'AT+QMTPUB=0,{msg_id},1,0,"a"') == b"\r\n> "
        assert m.send(b"x\x1a") == OK
    assert m.cmd('AT+QMTPUB=0,6,1,0,"a"') == ERROR  # five in flight already
    assert m.cmd('AT+QMTPUB=0,0,0,0,"a"') == b"\r\n> "  # QoS 0 is not in flight
    assert m.send(b"x\x1a") == OK + b"\r\n+QMTPUB: 0,0,0\r\n"
    assert m.cmd('AT+QMTSUB=0,3,"z",0') == ERROR  # msgID 3 is in flight


def test_keepalive_ping_and_its_timeout() -> None:
    m = module()
    m.cmd('AT+QMTCFG="keepalive",0,30')
    seq = connect(m)
    assert m.advance(29.9) == b""
    assert sent(m) == []
    m.advance(0.1)
    assert sent(m) == [Bare(PacketType.PINGREQ)]
    assert broker(m, seq, Bare(PacketType.PINGRESP)) == b""
    m.advance(30.0)
    assert sent(m) == [Bare(PacketType.PINGREQ)]
    assert m.advance(4.9) == b""
    assert m.advance(0.1) == b"\r\n+QMTSTAT: 0,2\r\n"
    assert Close(LINK, seq, abort=True) in m.intents()


def test_traffic_puts_the_ping_off() -> None:
    m = module()
    m.cmd('AT+QMTCFG="keepalive",0,10')
    connect(m)
    m.advance(8.0)
    m.cmd('AT+QMTPUB=0,0,0,0,"a"')
    m.send(b"x\x1a")
    sent(m)
    m.advance(9.0)
    assert sent(m) == []
    m.advance(1.0)
    assert sent(m) == [Bare(PacketType.PINGREQ)]


def test_will_and_persistent_session_go_in_the_connect() -> None:
    m = module()
    m.cmd('AT+QMTCFG="will",0,1,1,1,"dev/status","offline"')
    m.cmd('AT+QMTCFG="session",0,0')
    m.cmd('AT+QMTCFG="version",0,3')
    open_client(m)
    m.cmd('AT+QMTCONN=0,""')
    (packet,) = sent(m)
    assert packet == mqtt.Connect(
        "", 120, False, None, None, mqtt.Will("dev/status", b"offline", 1, True), 3
    )
    assert mqtt.encode(packet)[4:10] == b"MQIsdp"


def test_the_broker_closing_and_a_broken_packet() -> None:
    m = module()
    seq = connect(m)
    assert m.event(PeerClosed(LINK, seq, "reset")) == b"\r\n+QMTSTAT: 0,1\r\n"
    seq = connect(m)
    assert m.event(Received(LINK, seq, b"\xf0\x00")) == b"\r\n+QMTSTAT: 0,7\r\n"
    seq = connect(m)
    assert m.event(Received(LINK, seq, b"\x30\xff\xff\x01")) == b"\r\n+QMTSTAT: 0,7\r\n"
    assert m.cmd("AT") == OK


def test_six_clients_at_once() -> None:
    m = module()
    seqs = [connect(m, i, f"dev{i}") for i in range(6)]
    lines = b"".join(f"+QMTCONN: {i},3\r\n".encode() for i in range(6))
    assert m.cmd("AT+QMTCONN?") == b"\r\n" + lines + OK
    assert broker(m, seqs[5], Publish("x", b"5"), 5) == b'\r\n+QMTRECV: 5,0,"x","5"\r\n'


def test_pdp_loss_ends_the_links() -> None:
    m = module()
    connect(m)
    m.engine.inject_fault(PdpDeactivate(1))
    out = m.out()
    assert b"\r\n+QMTSTAT: 0,7\r\n" in out and b'+QIURC: "pdpdeact",1' in out


def test_a_host_that_does_not_read_stops_the_link() -> None:
    m = module()
    seq = connect(m)
    for i in range(100):
        payload = b"%03d" % i * 100
        m.engine.network_event(Received(LINK, seq, mqtt.encode(Publish("t", payload))))
    assert SetReading(LINK, seq, False) in m.intents()
    assert m.out().count(b"+QMTRECV") == 100  # nothing lost
    m.advance(0.1)
    assert SetReading(LINK, seq, True) in m.intents()


def test_broker_faults_name_the_link() -> None:
    from bg96.engine import NetFault
    from bg96.engine.faults import BrokerGarbage, BrokerReset, BrokerStall, FaultError

    m = module()
    with pytest.raises(FaultError, match="MQTT client 0 has no open link"):
        m.engine.inject_fault(BrokerReset(0))
    with pytest.raises(FaultError, match="MQTT clients are 0-5"):
        BrokerStall(6)
    seq = connect(m)
    m.engine.inject_fault(BrokerStall(0))
    assert NetFault(BrokerStall(0), seq) in m.intents()
    m.engine.inject_fault(BrokerGarbage(0))
    assert m.out() == b"\r\n+QMTSTAT: 0,7\r\n"
    assert Close(LINK, seq, abort=True) in m.intents()


def test_status_and_monitor_show_the_clients() -> None:
    from bg96.cli.monitor_model import mqtt_rows, sockets_summary
    from bg96.module.status import snapshot

    m = module()
    seq = connect(m)
    m.cmd('AT+QMTSUB=0,1,"cmd/#",1')
    broker(m, seq, Suback(1, (1,)))
    broker(m, seq, Publish("cmd/x", b"go"))
    status = snapshot(m.engine)
    (client,) = status["mqtt"]
    assert client["state"] == "connected" and client["subscriptions"] == {"cmd/#": 1}
    assert (client["delivered"], client["packets_sent"], client["packets_received"]) == (1, 2, 3)
    assert mqtt_rows(status) == [
        ("mqtt0", ("MQTT 0", "1 subs", "connected", "0", "1", "0", "mqtt://broker.example:1883"))
    ]
    assert sockets_summary(status).endswith("MQTT clients: 1 of 6")
    m.intents()
    assert "MQTT 0 <- PUBLISH 'cmd/x' qos 0 2 bytes" in m.notes  # the trace's decoding


# ---- never a crash, always in step -------------------------------------------------------------

LINES = [
    'AT+QMTOPEN=0,"broker.example",1883',
    'AT+QMTOPEN=1,"10.0.0.1",8883',
    'AT+QMTCONN=0,"a"',
    'AT+QMTCONN=1,"b","u","p"',
    'AT+QMTSUB=0,1,"a/#",1',
    'AT+QMTSUB=1,2,"x",2,"y",0',
    'AT+QMTUNS=0,1,"a/#"',
    'AT+QMTPUB=0,0,0,0,"t"',
    'AT+QMTPUB=0,3,1,0,"t"',
    'AT+QMTPUB=1,4,2,1,"t",3',
    "AT+QMTDISC=0",
    "AT+QMTCLOSE=1",
    "AT+QMTCONN?",
    "AT+QMTOPEN?",
    'AT+QMTCFG="keepalive",0,1',
    'AT+QMTCFG="timeout",1,1,1,1',
    'AT+QMTCFG="will",0,1,1,0,"w","m"',
    "AT+QIDEACT=1",
    "AT+QIACT=1",
    "AT+QMTPUB=0,0,0",
    'AT+QMTSUB=0,1,"',
]
BROKER_PACKETS = [
    mqtt.encode(Connack(0)),
    mqtt.encode(Connack(5)),
    mqtt.encode(Suback(1, (1,))),
    mqtt.encode(Suback(2, (2, 0x80))),
    mqtt.encode(Ack(PacketType.PUBACK, 3)),
    mqtt.encode(Ack(PacketType.PUBREC, 4)),
    mqtt.encode(Ack(PacketType.PUBCOMP, 4)),
    mqtt.encode(Ack(PacketType.UNSUBACK, 1)),
    mqtt.encode(Publish("a/b", b'x"\r\n', 1, packet_id=9)),
    mqtt.encode(Publish("a/b", b"q2", 2, packet_id=10)),
    mqtt.encode(Ack(PacketType.PUBREL, 10)),
    mqtt.encode(Bare(PacketType.PINGRESP)),
    b"\xf0\x00",
    b"\x30\xff\xff\xff\x7f",
]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("line"), st.sampled_from(LINES)),
            st.tuples(st.just("data"), st.sampled_from([b"xyz\x1a", b"\x1b", b"ab", b"\x1a"])),
            st.tuples(st.just("broker"), st.sampled_from(BROKER_PACKETS), st.integers(0, 1)),
            st.tuples(st.just("net"), st.sampled_from(["up", "fail", "close"]), st.integers(0, 1)),
            st.tuples(st.just("time"), st.sampled_from([0.5, 1.0, 5.0, 80.0])),
        ),
        max_size=40,
    )
)
def test_random_sessions_never_crash_and_stay_in_step(steps: list[tuple[object, ...]]) -> None:
    m = module()
    for step in steps:
        kind = step[0]
        if kind == "line":
            m.cmd(str(step[1]))
        elif kind == "data":
            m.send(step[1])  # type: ignore[arg-type]
        elif kind == "time":
            m.advance(float(step[1]))  # type: ignore[arg-type]
        else:
            index = int(step[2])  # type: ignore[call-overload]
            link = m.engine.mqtt.links.get(index)
            if link is None:
                continue
            seq = link.conn_seq
            if kind == "broker":
                m.event(Received(LINK + index, seq, step[1]))  # type: ignore[arg-type]
            elif step[1] == "up":
                m.event(TcpConnected(LINK + index, seq, 1, "10.0.0.1"))
                m.event(Connected(LINK + index, seq))
            elif step[1] == "fail":
                m.event(ConnectFailed(LINK + index, seq, QiError.CONNECT, "refused"))
            else:
                m.event(PeerClosed(LINK + index, seq, "gone"))
        m.intents()
    m.send(b"\x1b\r")  # out of any prompt, and the end of any half-typed line
    assert m.cmd("AT").endswith(OK)
    assert m.cmd("AT+QMTCONN?").endswith(OK)
    for link in m.engine.mqtt.links.values():
        if link.client is not None:
            assert len(link.client.outstanding) <= 10


def test_the_aws_session_of_the_sheet_and_its_uncorrected_lines() -> None:
    m = module()
    for name, data in (("cacert.pem", b"CA"), ("client.pem", b"CERT"), ("user_key.pem", b"KEY")):
        m.store.write(name, data)
    for line in (
        'AT+QSSLCFG="cacert",2,"cacert.pem"',
        'AT+QSSLCFG="clientcert",2,"client.pem"',
        'AT+QSSLCFG="clientkey",2,"user_key.pem"',
        'AT+QSSLCFG="seclevel",2,2',
        'AT+QSSLCFG="sslversion",2,4',
        'AT+QSSLCFG="ciphersuite",2,0XFFFF',
        'AT+QSSLCFG="ignorelocaltime",2,1',
        'AT+QMTCFG="ssl",0,1,2',
        'AT+QMTCFG="version",0,4',
    ):
        assert m.cmd(line) == OK, line
    # the application note's own lines, as a real BG96 answers them
    assert m.cmd("AT+QMTCFG=\u201dSSL\u201d, 0, 1, 2".encode()) == ERROR
    assert m.cmd('AT+QSSLCFG="ciphersuite",2,"0XFFFF"') == ERROR
    assert m.cmd('AT+QMTOPEN=0,"a1-ats.iot.eu-west-1.amazonaws.com","8883"') == ERROR
    assert m.cmd('AT+QSSLCFG="ignorelocaltime",1') == (
        b'\r\n+QSSLCFG: "ignorelocaltime",1,1\r\n' + OK
    )
    host = "a1-ats.iot.eu-west-1.amazonaws.com"
    assert m.cmd(f'AT+QMTOPEN=0,"{host}",8883') == OK
    (c,) = [i for i in m.intents() if isinstance(i, Connect)]
    assert c.tls is not None
    assert (c.tls.ssl_ctx_id, c.tls.seclevel, c.tls.sslversion) == (2, 2, 4)
    assert (c.tls.cacert, c.tls.clientcert, c.tls.clientkey) == (b"CA", b"CERT", b"KEY")
    m.event(TcpConnected(LINK, c.conn_seq, 65344, "52.0.0.1"))
    assert m.event(Connected(LINK, c.conn_seq, "TLSv1.2", "AES128-SHA")) == (
        b"\r\n+QMTOPEN: 0,0\r\n"
    )
    seq = c.conn_seq
    assert m.cmd('AT+QMTCONN=0,"thing"') == OK
    sent(m)
    assert broker(m, seq, Connack(0)) == b"\r\n+QMTCONN: 0,0,0\r\n"
    assert m.cmd('AT+QMTSUB=0,1,"$aws/things/thing/shadow/update/accepted",1') == OK
    sent(m)
    assert broker(m, seq, Suback(1, (1,))) == b"\r\n+QMTSUB: 0,1,0,1\r\n"
    assert m.cmd('AT+QMTPUB=0,1,1,0,"$aws/things/thing/shadow/update"') == b"\r\n> "
    assert m.send(b'{"state":{"reported":{"t":21}}}\x1a') == OK
    (pub,) = sent(m)
    assert isinstance(pub, Publish) and pub.topic == "$aws/things/thing/shadow/update"
    assert broker(m, seq, Ack(PacketType.PUBACK, 1)) == b"\r\n+QMTPUB: 0,1,0\r\n"
