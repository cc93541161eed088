"""The module's finite buffers, on the sans-IO engine: a receive buffer per socket, a send
buffer, a UART input buffer and output side, and what happens when each is full."""

from __future__ import annotations

import re

from bg96.engine import (
    ModuleConfig,
    PeerClosed,
    Received,
    Send,
    Sent,
    SetReading,
)
from bg96.engine.core import OUT_HIGH
from bg96.engine.urcs import MAX_URCS

from .helpers import Module

CHUNK = 16384  # what a server read delivers at a time
PUSH = re.compile(rb'\r\n\+QSSLURC: "recv",4,(\d+)\r\n')


def stream(n: int) -> bytes:
    """``n`` bytes that show their own order (4-byte counters)."""
    return b"".join(i.to_bytes(4, "big") for i in range((n + 3) // 4))[:n]


def reading_changes(m: Module) -> list[bool]:
    return [i.reading for i in m.intents() if isinstance(i, SetReading)]


def feed_until_paused(m: Module, seq: int, data: bytes) -> int:
    """Server data in reads of CHUNK until the module asks to stop reading; bytes fed."""
    fed = 0
    while fed < len(data):
        m.engine.network_event(Received(4, seq, data[fed : fed + CHUNK]))
        fed += CHUNK
        if False in reading_changes(m):
            return fed
    raise AssertionError("the module never paused the connection")


def parse_push(out: bytes) -> bytes:
    """The data of a run of push-mode URCs, each checked whole."""
    data = bytearray()
    pos = 0
    while pos < len(out):
        m = PUSH.match(out, pos)
        assert m is not None, out[pos : pos + 60]
        n = int(m.group(1))
        assert n <= 1500
        data += out[m.end() : m.end() + n]
        assert out[m.end() + n : m.end() + n + 2] == b"\r\n"
        pos = m.end() + n + 2
    return bytes(data)


def test_push_mode_data_waits_in_the_socket_buffer_for_a_host_that_does_not_read() -> None:
    m = Module()
    seq = m.open(mode=1).conn_seq
    m.intents()
    data = stream(1 << 20)
    fed = feed_until_paused(m, seq, data)
    limit = m.engine.config.recv_buffer
    assert fed <= limit + OUT_HIGH + CHUNK
    # what waits for the host is the socket buffer; the UART side holds at most OUT_HIGH
    assert m.engine.output_waiting <= OUT_HIGH + 1600
    assert len(m.engine._urcs) <= 2
    got = bytearray()
    sent = fed
    resumed = 0
    while out := m.engine.data_to_send(4096):  # the host reads, 4 KiB at a time
        assert len(out) <= 4096
        got += out
        if True in reading_changes(m):  # the runner reads the socket again
            resumed += 1
            while sent < len(data) and False not in reading_changes(m):
                m.engine.network_event(Received(4, seq, data[sent : sent + CHUNK]))
                sent += CHUNK
    assert resumed >= 1
    assert parse_push(bytes(got)) == data


def test_transparent_data_waits_and_no_carrier_comes_after_it() -> None:
    m = Module()
    seq = m.open(mode=0).conn_seq
    assert m.cmd("AT+QISWTMD=4,2") == b"AT+QISWTMD=4,2\r\r\nCONNECT\r\n"
    m.intents()
    data = stream(300_000)
    fed = feed_until_paused(m, seq, data)
    assert m.engine.output_waiting <= OUT_HIGH
    m.engine.network_event(Received(4, seq, data[fed:]))  # what was on its way
    m.engine.network_event(PeerClosed(4, seq, "done"))
    got = bytearray()
    while out := m.engine.data_to_send(8192):
        got += out
    assert got == data + b"\r\nNO CARRIER\r\n"


def test_a_full_read_the_host_takes_at_once_neither_pauses_nor_copies() -> None:
    m = Module()
    seq = m.open(mode=0).conn_seq
    assert m.cmd("AT+QISWTMD=4,2").endswith(b"CONNECT\r\n")
    m.intents()
    chunk = stream(m.engine.config.recv_buffer)  # fills the receive buffer: a pause is due
    m.engine.network_event(Received(4, seq, chunk))
    assert m.engine.data_to_send(len(chunk)) is chunk  # to the port as it came
    assert reading_changes(m) == []  # the pause was taken back before the runner saw it
    # a host that does not take it: the pause stands, and goes when the buffer drains
    m.engine.network_event(Received(4, seq, chunk))
    assert reading_changes(m) == [False]
    assert m.engine.data_to_send(len(chunk)) == chunk
    assert reading_changes(m) == [True]


def test_transparent_uplink_stops_at_the_send_buffer_and_the_host_is_told_to_wait() -> None:
    config = ModuleConfig(send_buffer=8192, uart_buffer=4096)
    m = Module(config)
    seq = m.open().conn_seq
    assert m.cmd("AT+QISWTMD=4,2").endswith(b"CONNECT\r\n")
    m.intents()
    data = stream(100_000)
    m.engine.receive_data(data[:20_000])
    sends = [i for i in m.intents() if isinstance(i, Send)]
    assert sum(len(s.data) for s in sends) <= 8192
    assert m.engine.input_room == 0  # the runner stops reading the host now
    fed = 20_000
    carried = bytearray(b"".join(s.data for s in sends))
    while len(carried) < len(data):
        m.engine.network_event(Sent(4, seq, 4096))  # the server reads some
        carried += b"".join(i.data for i in m.intents() if isinstance(i, Send))
        while fed < len(data) and m.engine.input_room > 0:
            take = m.engine.input_room
            m.engine.receive_data(data[fed : fed + take])
            fed += take
            carried += b"".join(i.data for i in m.intents() if isinstance(i, Send))
        if fed >= len(data):
            m.now += 0.3  # transwaittm: the short last packet goes
            m.engine.advance(m.now)
            m.engine.network_event(Sent(4, seq, 8192))
            carried += b"".join(i.data for i in m.intents() if isinstance(i, Send))
    assert bytes(carried) == data


def test_commands_wait_while_the_host_does_not_read_their_answers() -> None:
    m = Module()
    m.cmd("ATE0")
    lines = b"ATI\r" * 2000
    m.engine.receive_data(lines)
    assert m.engine.output_waiting <= OUT_HIGH + 100
    assert m.engine.input_room < m.engine.config.uart_buffer
    answers = bytearray()
    while out := m.engine.data_to_send(1024):
        answers += out
    assert answers.count(b"Revision: BG96MAR02A07M1G\r\n\r\nOK\r\n") == 2000


def test_input_waits_while_a_command_runs_and_the_host_is_told_to_stop() -> None:
    m = Module(ModuleConfig(pdp_activation_time=5.0))
    m.cmd("ATE0")
    m.engine.receive_data(b"AT+QIACT=1\r")
    m.engine.receive_data(b"AT\r" * 5000)
    assert m.engine.input_room == 0
    out = m.advance(5.0)
    while more := m.engine.data_to_send():  # the host reads what the commands answer
        out += more
    assert out == b"\r\nOK\r\n" * 5001


def test_a_paced_uart_without_flow_control_drops_what_overflows() -> None:
    m = Module(ModuleConfig(pdp_activation_time=5.0))
    m.engine.uart_paced = True
    m.cmd("ATE0")
    m.engine.receive_data(b"AT+QIACT=1\r")  # input waits while it runs
    m.engine.receive_data(b"A" * (m.engine.input_room + 100))
    assert m.engine.uart_overruns == 100
    m.intents()
    assert any(n.startswith("UART overrun: 100 bytes from the host dropped") for n in m.notes)


def test_a_paced_uart_with_cts_flow_control_stops_the_host_instead() -> None:
    m = Module(ModuleConfig(pdp_activation_time=5.0))
    m.engine.uart_paced = True
    assert m.cmd("AT+IFC=2,2") == b"AT+IFC=2,2\r\r\nOK\r\n"
    m.engine.receive_data(b"AT+QIACT=1\r")
    m.engine.receive_data(b"A" * (m.engine.input_room + 100))
    assert m.engine.uart_overruns == 0
    assert m.engine.input_room == 0


def test_ifc_forms() -> None:
    m = Module()
    m.cmd("ATE0")
    assert m.cmd("AT+IFC=?") == b"\r\n+IFC: (0,2),(0,2)\r\n\r\nOK\r\n"
    assert m.cmd("AT+IFC?") == b"\r\n+IFC: 0,0\r\n\r\nOK\r\n"
    assert m.cmd("AT+IFC=2,2") == b"\r\nOK\r\n"
    assert m.cmd("AT+IFC?") == b"\r\n+IFC: 2,2\r\n\r\nOK\r\n"
    assert m.cmd("AT+IFC=0") == b"\r\nOK\r\n"
    assert m.cmd("AT+IFC?") == b"\r\n+IFC: 0,2\r\n\r\nOK\r\n"
    for bad in ("AT+IFC=1,1", "AT+IFC=3", "AT+IFC=0,0,0", "AT+IFC"):
        assert m.cmd(bad) == b"\r\nERROR\r\n", bad


def test_the_urc_queue_is_bounded_and_counts_what_it_drops() -> None:
    m = Module(ModuleConfig(pdp_activation_time=5.0))
    m.cmd("ATE0")
    m.engine.receive_data(b"AT+QIACT=1\r")  # a command runs: URCs wait behind it
    for i in range(MAX_URCS + 10):
        m.engine.urc(f"+TEST: {i}")
    assert len(m.engine._urcs) == MAX_URCS
    assert m.engine._urcs.dropped == 10
    out = m.advance(5.0)
    assert out.startswith(b"\r\nOK\r\n\r\n+TEST: 10\r\n")
    assert out.endswith(f"+TEST: {MAX_URCS + 9}\r\n".encode())
    m.intents()
    assert "URC queue full: b'+TEST: 0' dropped (the host is not reading)" in m.notes
