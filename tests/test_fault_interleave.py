"""The urc-interleave and open-leak faults: URCs inside responses, and a stack that leaks.

The engine on a virtual clock for the exact bytes; ``DteParser`` on those bytes for what a
host driver makes of them; ``VirtualModule`` + ``Modem`` + a TLS server that drips its data
for the whole path.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator

import pytest

from bg96 import Modem, OpenFailed, VirtualModule
from bg96.engine import Closed, Connect, Engine, PeerClosed, Received
from bg96.host.parser import DteParser, Event, Response, Urc
from bg96.module.faults import (
    At,
    FaultError,
    FaultScript,
    OnCommand,
    OpenLeak,
    Reboot,
    ScriptEntry,
    UrcInterleave,
    parse_line,
)
from bg96.testing import TestPki

from .helpers import Module

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
RECV_URC = b'\r\n+QSSLURC: "recv",4\r\n'


def interleaving() -> tuple[Module, int]:
    """Echo off, client 4 connected in buffer mode, urc-interleave on."""
    m = Module()
    assert m.cmd("ATE0") == b"ATE0\r" + OK
    seq = m.open().conn_seq
    m.engine.inject_fault(UrcInterleave())
    m.intents()
    return m, seq


def uart_time(response: bytes, baud: int = 115200) -> float:
    return len(response) * 10 / baud


# ---- urc-interleave: the bytes ---------------------------------------------------------------


def test_a_recv_urc_lands_between_the_data_and_ok() -> None:
    m, seq = interleaving()
    assert m.event(Received(4, seq, b"hello")) == RECV_URC  # between responses: as always
    head = b"\r\n+QSSLRECV: 5\r\nhello\r\n"
    assert m.cmd("AT+QSSLRECV=4,1500") == head  # OK waits for the UART
    # more data while the reply is on its way: the buffer was read empty, so the URC is due
    assert m.event(Received(4, seq, b" world")) == RECV_URC
    assert m.advance(uart_time(head) * 0.9) == b""
    assert m.advance(uart_time(head) * 0.2) == OK
    assert m.cmd("AT+QSSLRECV=4,1500") == b"\r\n+QSSLRECV: 6\r\n world\r\n"
    assert m.advance(0.01) == OK


def test_a_closed_urc_lands_inside_the_reply_and_input_waits() -> None:
    m, seq = interleaving()
    m.event(Received(4, seq, b"bye"))
    assert m.cmd("AT+QSSLRECV=4,1500") == b"\r\n+QSSLRECV: 3\r\nbye\r\n"
    assert m.event(PeerClosed(4, seq, "FIN")) == b'\r\n+QSSLURC: "closed",4\r\n'
    assert m.cmd("AT+QSSLSTATE=4") == b""  # the module is still answering: held, unechoed
    assert m.advance(0.003) == OK + (
        b'\r\n+QSSLSTATE: 4,"SSLClient","220.180.239.201",8010,65344,4,1,4,0,"uart1",1\r\n'
    )
    assert m.advance(0.01) == OK


def test_urcs_a_line_raised_itself_follow_its_final_result_and_newer_ones_wait() -> None:
    m, seq = interleaving()
    # the open is refused at once (563): its URC follows the line, as without the fault
    out = m.cmd('AT+QSSLOPEN=1,1,4,"h",443,0;+QSSLSTATE=4')
    assert out.startswith(b"\r\n+QSSLSTATE: 4,")
    # due meanwhile, but the line's own URC is older: it waits behind it, order holds
    assert m.event(Received(4, seq, b"x")) == b""
    assert m.advance(0.01) == OK + b"\r\n+QSSLOPEN: 4,563\r\n" + RECV_URC


def test_a_response_without_information_lines_is_not_held() -> None:
    m, _ = interleaving()
    assert m.cmd("AT") == OK
    assert m.cmd('AT+QSSLCFG="sslversion",1,3') == OK


def test_urcs_land_before_the_ok_of_a_command_that_waits() -> None:
    m, seq = interleaving()
    other = m.open(client_id=5).conn_seq
    assert m.cmd("AT+QSSLCLOSE=5") == b""  # waits for the close
    assert m.event(Received(4, seq, b"x")) == RECV_URC
    assert m.event(Closed(5, other)) == OK
    m.engine.inject_fault(UrcInterleave(on=False))
    reopened = m.open(client_id=5).conn_seq
    assert m.cmd("AT+QSSLCLOSE=5") == b""
    assert m.cmd("AT+QSSLRECV=4,1500") == b""  # input waits for the close
    m.event(Received(4, seq, b"y"))  # buffer not read empty: no URC
    assert m.event(Closed(5, reopened)) == OK + b"\r\n+QSSLRECV: 2\r\nxy\r\n" + OK


def test_off_urcs_wait_for_the_final_result_again() -> None:
    m, seq = interleaving()
    m.engine.inject_fault(UrcInterleave(on=False))
    assert m.engine.faults.log[-1].fault == UrcInterleave(False)
    m.event(Received(4, seq, b"hello"))
    assert m.cmd("AT+QSSLRECV=4,1500") == b"\r\n+QSSLRECV: 5\r\nhello\r\n" + OK


def test_push_mode_data_inside_a_response_and_numeric_results() -> None:
    m = Module()
    m.cmd("ATE0")
    seq = m.open(client_id=4, mode=1).conn_seq
    m.engine.inject_fault(UrcInterleave())
    head = b'\r\n+QSSLSTATE: 4,"SSLClient","220.180.239.201",8010,65344,2,1,4,1,"uart1",1\r\n'
    assert m.cmd("AT+QSSLSTATE") == head
    assert m.event(Received(4, seq, b"ab\r\ncd")) == b'\r\n+QSSLURC: "recv",4,6\r\nab\r\ncd\r\n'
    assert m.advance(0.01) == OK
    assert m.cmd("ATV0") == b"0\r"
    assert m.cmd("AT+QSSLSTATE") == head[2:]
    assert m.event(Received(4, seq, b"e")) == b'+QSSLURC: "recv",4,1\r\ne\r\n'
    assert m.advance(0.01) == b"0\r"


def test_the_window_follows_the_baud_rate_and_survives_a_restart() -> None:
    m, seq = interleaving()
    assert m.cmd("AT+IPR=9600") == OK
    m.event(Received(4, seq, b"z" * 100))
    head = b"\r\n+QSSLRECV: 100\r\n" + b"z" * 100 + b"\r\n"
    assert m.cmd("AT+QSSLRECV=4,1500") == head
    assert m.advance(uart_time(head, 9600) - 0.001) == b""
    assert m.advance(0.002) == OK
    m.engine.inject_fault(Reboot())
    m.advance(1.0)
    assert m.engine.faults.interleave
    assert m.cmd("ATE0") == b"ATE0\r\r\nOK\r\n"
    assert m.cmd("AT+CSQ") == b"\r\n+CSQ: 24,99\r\n"
    assert m.advance(0.01) == OK


def test_a_restart_in_the_window_leaves_the_command_unanswered() -> None:
    m, seq = interleaving()
    m.event(Received(4, seq, b"hello"))
    m.cmd("AT+QSSLRECV=4,1500")
    m.engine.inject_fault(Reboot())
    boot = m.advance(1.0)
    assert b"OK" not in boot
    assert boot.startswith(b"\r\nRDY\r\n")


# ---- urc-interleave: what the host's parser makes of it -------------------------------------


def parse(data: bytes, commands: list[bytes]) -> list[Event]:
    """Feed ``data`` to a DteParser a byte at a time, one command after another."""
    parser = DteParser()
    events: list[Event] = []
    todo = list(commands)
    for byte in data:
        if not parser.busy and todo:
            parser.begin(todo.pop(0))
        parser.feed(bytes([byte]))
        events += parser.events()
    return events


def test_the_driver_parser_gets_every_byte_and_every_urc() -> None:
    """Reads while data drips in: every byte read once, every URC the module sent seen."""
    m, seq = interleaving()
    sent = bytearray()
    wire = bytearray(m.event(Received(4, seq, b"start:")))
    sent += b"start:"
    commands: list[bytes] = []
    for i in range(60):
        commands.append(b"AT+QSSLRECV=4,1500")
        wire += m.cmd("AT+QSSLRECV=4,1500")
        chunk = bytes([65 + i % 26]) * (i * 37 % 1700 + 1) + b"\r\nOK\r\n"
        sent += chunk
        wire += m.event(Received(4, seq, chunk))  # arrives while the reply goes out
        wire += m.advance(0.2)
    while not wire.endswith(b"\r\n+QSSLRECV: 0\r\n" + OK):  # read the rest
        commands.append(b"AT+QSSLRECV=4,1500")
        wire += m.cmd("AT+QSSLRECV=4,1500") + m.advance(0.2)
    events = parse(bytes(wire), commands)
    responses = [e for e in events if isinstance(e, Response)]
    urcs = [e for e in events if isinstance(e, Urc)]
    assert len(responses) == len(commands)
    assert all(r.final == b"OK" for r in responses)
    got = b"".join(r.lines[1] for r in responses if r.lines[0] != b"+QSSLRECV: 0")
    assert got == bytes(sent)
    assert [u.line for u in urcs] == [b'+QSSLURC: "recv",4'] * bytes(wire).count(RECV_URC)
    assert wire.count(RECV_URC + OK) >= 10  # many landed inside a reply


# ---- open-leak ------------------------------------------------------------------------------


def open_close(m: Module, client_id: int = 0) -> None:
    m.open(client_id=client_id)
    assert m.cmd(f"AT+QSSLCLOSE={client_id},0") == OK


def test_open_leak_after_some_cycles_every_open_fails_with_552() -> None:
    m = Module()
    m.cmd("ATE0")
    m.engine.inject_fault(OpenLeak(2))
    assert m.cmd("AT+QSSLCLOSE=3") == OK  # a never-opened ID: no cycle
    open_close(m)
    open_close(m, 1)
    m.intents()
    assert (
        "fault open-leak: the SSL stack is exhausted, every AT+QSSLOPEN fails with 552 until "
        "a restart" in m.notes
    )
    assert m.cmd('AT+QSSLOPEN=1,1,0,"h",443,0') == OK + b"\r\n+QSSLOPEN: 0,552\r\n"
    assert not [i for i in m.intents() if isinstance(i, Connect)]
    assert m.cmd("AT+QIGETERROR") == b"\r\n+QIGETERROR: 552,invalid parameters\r\n" + OK
    assert m.cmd('AT+QSSLOPEN=1,1,1,"h",443,2') == ERROR  # transparent mode
    assert m.cmd('AT+QSSLOPEN=1,1,2,"h",443,0') == OK + b"\r\n+QSSLOPEN: 2,552\r\n"
    # until the module restarts
    assert m.cmd("AT+CFUN=1,1") == OK
    m.advance(1.0)
    m.intents()
    assert "open-leak ends with the restart: AT+QSSLOPEN works again" in m.notes
    m.cmd("ATE0")
    open_close(m)


def test_open_leak_0_and_armed_on_the_next_open() -> None:
    m = Module()
    m.cmd("ATE0")
    m.activate()
    m.engine.inject_fault(OpenLeak(0), OnCommand("AT+QSSLOPEN"))
    assert m.cmd('AT+QSSLOPEN=1,1,0,"h",443,0') == OK + b"\r\n+QSSLOPEN: 0,552\r\n"
    assert str(m.engine.faults.log[-1]) == "open-leak 0 (on next AT+QSSLOPEN): done"


def test_open_leak_needs_a_running_module() -> None:
    with pytest.raises(FaultError, match="open-leak 3: the module is not running"):
        Engine().inject_fault(OpenLeak(3))


# ---- the fault objects and the script format ------------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: UrcInterleave("yes"), "urc-interleave: on or off, not 'yes'"),  # type: ignore[arg-type]
        (lambda: OpenLeak(-1), "open-leak: the number of cycles must be a whole number"),
        (lambda: OpenLeak(True), "open-leak: the number of cycles"),
    ],
)
def test_bad_arguments(make: object, message: str) -> None:
    with pytest.raises(FaultError, match=message):
        make()  # type: ignore[operator]


def test_script_lines() -> None:
    text = (
        "urc-interleave\n"
        "at 2s URC-Interleave OFF\n"
        "on next command urc-interleave on\n"
        "open-leak\n"
        "at 1s open-leak 0\n"
        "open-leak 5   # after five cycles\n"
    )
    assert list(FaultScript.parse(text)) == [
        ScriptEntry(1, None, UrcInterleave()),
        ScriptEntry(2, At(2.0), UrcInterleave(False)),
        ScriptEntry(3, OnCommand(), UrcInterleave()),
        ScriptEntry(4, None, OpenLeak(20)),
        ScriptEntry(5, At(1.0), OpenLeak(0)),
        ScriptEntry(6, None, OpenLeak(5)),
    ]
    for entry in FaultScript.parse(text):
        assert parse_line(str(entry)) == (entry.trigger, entry.fault)
    assert [str(e.fault) for e in FaultScript.parse(text)] == [
        "urc-interleave",
        "urc-interleave off",
        "urc-interleave",
        "open-leak",
        "open-leak 0",
        "open-leak 5",
    ]


def test_the_unknown_fault_message_lists_the_new_faults() -> None:
    with pytest.raises(FaultError, match="urc-interleave, open-leak"):
        parse_line("frobnicate")


# ---- end to end: VirtualModule, Modem and a server that drips its data ----------------------

# 200-300 bytes every 30 ms: less than a 115200 baud UART carries, and each arrives while the
# reply that read the previous one is still on its way (about 25 ms at 115200 baud)
CHUNKS = [bytes([97 + i % 26]) * (200 + i * 37 % 100) for i in range(30)]
GAP = 0.03


class DripServer:
    """A TLS server that, for its one connection, sends ``CHUNKS`` ``GAP`` apart, then closes."""

    def __init__(self, ctx: ssl.SSLContext) -> None:
        self._ctx = ctx
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        conn, _ = self._listener.accept()
        with self._ctx.wrap_socket(conn, server_side=True) as tls:
            for chunk in CHUNKS:
                tls.sendall(chunk)
                time.sleep(GAP)
        self._listener.close()


class RecordingParser(DteParser):
    """A DteParser that keeps every byte the module sent."""

    def __init__(self) -> None:
        super().__init__()
        self.wire = bytearray()

    def feed(self, data: bytes) -> None:
        self.wire += data
        super().feed(data)


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return TestPki("bg96 urc-interleave CA")


@pytest.fixture
def vm() -> Iterator[VirtualModule]:
    with VirtualModule(resolve={"drip.test": "127.0.0.1"}, system_resolver=False) as module:
        yield module


def test_modem_reads_every_byte_and_every_urc_with_urcs_inside_replies(
    vm: VirtualModule, pki: TestPki
) -> None:
    server = DripServer(pki.server_ctx())
    parser = RecordingParser()
    with Modem.open(vm.url) as modem:
        modem.sync()  # leaves a fresh parser: record from here on
        modem.parser = parser
        modem.activate(1)
        vm.faults.urc_interleave()
        conn = modem.open_ssl(0, "drip.test", server.port)
        got = bytearray()
        while chunk := conn.recv(1500, timeout=10.0):
            got += chunk
        conn.close()
    assert bytes(got) == b"".join(CHUNKS)
    wire = bytes(parser.wire)
    urc = b'+QSSLURC: "recv",0'
    assert [u.line for u in modem.urcs if u.line.startswith(b'+QSSLURC: "recv"')] == (
        [urc] * wire.count(urc)
    )
    assert wire.count(urc + b"\r\n" + OK) >= 1  # some landed inside QSSLRECV replies


def test_open_leak_through_the_api(vm: VirtualModule, pki: TestPki) -> None:
    with Modem.open(vm.url) as modem:
        modem.sync()
        modem.activate(1)
        vm.faults.open_leak(0)
        with pytest.raises(OpenFailed) as info:
            modem.open_ssl(0, "drip.test", 9)
        assert info.value.code == 552
        assert [str(r) for r in vm.faults.log] == ["open-leak 0: done"]
