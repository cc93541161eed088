"""Injected faults: each one's URCs, states and codes, its triggers, the script format, bad input.

Module faults and every trigger run on the sans-IO engine with a virtual clock (``Module``);
network faults (reset, FIN, stall, DNS, handshake timeout, TLS alert) end to end through
``VirtualModule`` + ``Modem`` + a loopback TLS echo server, where the runner carries them out.
"""

from __future__ import annotations

import asyncio
import io
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bg96 import CommandError, Modem, OpenFailed, SendFailed, VirtualModule
from bg96.cli.app import build_parser
from bg96.cli.app import main as cli_main
from bg96.engine import (
    Close,
    Connect,
    Engine,
    MemoryStore,
    ModuleConfig,
    NetFault,
    Received,
    Send,
)
from bg96.module.control import request as control_request
from bg96.module.faults import (
    AfterBytes,
    At,
    DnsFailure,
    Fault,
    FaultError,
    FaultScript,
    FaultScriptError,
    HandshakeTimeout,
    NetworkFault,
    OnCommand,
    PdpDeactivate,
    Reboot,
    RegistrationLost,
    RegistrationRecover,
    ScriptEntry,
    SendBufferFull,
    ServerFin,
    ServerReset,
    ServerStall,
    TlsAlert,
    parse_line,
)
from bg96.module.trace import Trace
from bg96.testing import TestPki, ThreadedTlsEchoServer

from .control_support import module_with_control
from .helpers import Module
from .test_access_modes import open_transparent, sent

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
BOOT = (
    b"\r\nRDY\r\n\r\n+CFUN: 1\r\n\r\nAPP RDY\r\n\r\n+CPIN: READY\r\n\r\n+QUSIM: 1\r\n"
    b"\r\n+QIND: SMS DONE\r\n"
)


def quiet_module() -> Module:
    m = Module()
    assert m.cmd("ATE0") == b"ATE0\r" + OK
    return m


def state_of(m: Module, client_id: int) -> int:
    """<socket_state> from AT+QSSLSTATE."""
    line = m.cmd(f"AT+QSSLSTATE={client_id}").split(b"\r\n")[1]
    return int(line.split(b",")[5])


def assert_unaffected(m: Module) -> None:
    assert m.out() == b""
    assert m.intents() == []
    assert not m.engine.faults.log


# ---- network-initiated PDP deactivation ------------------------------------------------------


def test_pdp_deactivate_in_buffer_and_push_mode() -> None:
    m = quiet_module()
    buffered = m.open(client_id=0)
    pushed = m.open(client_id=1, mode=1)
    other = m.open(client_id=2, pdp=2)  # on context 2: untouched
    m.event(Received(0, buffered.conn_seq, b"unread"))
    m.intents()
    m.engine.inject_fault(PdpDeactivate(1))
    assert m.out() == (
        b'\r\n+QSSLURC: "closed",0\r\n\r\n+QSSLURC: "closed",1\r\n\r\n+QIURC: "pdpdeact",1\r\n'
    )
    assert m.intents() == [Close(0, buffered.conn_seq, True), Close(1, pushed.conn_seq, True)]
    assert "fault pdp-deactivate 1" in m.notes
    assert [state_of(m, i) for i in (0, 1, 2)] == [4, 4, 2]
    # unread data stays readable; sending fails; the context is gone until reactivated
    assert m.cmd("AT+QSSLRECV=0,100") == b"\r\n+QSSLRECV: 6\r\nunread\r\n" + OK
    assert m.cmd("AT+QSSLRECV=0,100") == b"\r\n+QSSLRECV: 0\r\n" + OK
    assert m.cmd("AT+QSSLSEND=1,5") == ERROR
    assert m.cmd("AT+QIACT?") == b'\r\n+QIACT: 2,1,1,"10.7.157.2"\r\n' + OK
    assert m.cmd('AT+QSSLOPEN=1,1,3,"h",1,0') == OK + b"\r\n+QSSLOPEN: 3,561\r\n"
    # the host's AT+QIDEACT frees the IDs of the closed sockets, AT+QIACT brings it back
    assert m.cmd("AT+QIDEACT=1") == OK
    assert m.intents() == [Close(0, buffered.conn_seq, True), Close(1, pushed.conn_seq, True)]
    assert m.cmd("AT+QSSLSTATE").count(b"+QSSLSTATE:") == 1
    assert m.cmd("AT+QIACT=1") == OK
    assert other.conn_seq in [s.conn_seq for s in m.engine.sockets.values()]


def test_pdp_deactivate_in_transparent_mode() -> None:
    m = quiet_module()
    seq = open_transparent(m, client_id=3)
    assert m.engine.dcd
    m.send(b"half a packet")  # waits for transwaittm: dropped with the connection
    m.engine.inject_fault(PdpDeactivate(1))
    assert m.out() == b'\r\nNO CARRIER\r\n\r\n+QIURC: "pdpdeact",1\r\n'
    assert m.intents() == [Close(3, seq, True)]
    assert sent(m) == b""
    assert not m.engine.dcd
    assert state_of(m, 3) == 4
    assert m.cmd("ATO") == b"\r\nNO CARRIER\r\n"


def test_pdp_deactivate_while_opening_fails_the_open_with_570() -> None:
    m = quiet_module()
    m.activate()
    m.cmd('AT+QSSLOPEN=1,1,5,"h",443,0')
    (connect,) = m.intents()
    assert isinstance(connect, Connect)
    m.engine.inject_fault(PdpDeactivate(1))
    assert m.out() == b'\r\n+QSSLOPEN: 5,570\r\n\r\n+QIURC: "pdpdeact",1\r\n'
    assert m.cmd("AT+QIGETERROR") == b"\r\n+QIGETERROR: 570,pdp context broken down\r\n" + OK


# ---- registration lost and back -------------------------------------------------------------


def test_registration_lost_and_recovered() -> None:
    m = quiet_module()
    for line in ("AT+CREG=1", "AT+CGREG=2", "AT+CEREG=1"):
        assert m.cmd(line) == OK
    m.activate(2)
    buffered = m.open(client_id=0)
    seq = open_transparent(m, client_id=1)
    m.intents()
    m.engine.inject_fault(RegistrationLost(recover_after=30.0))
    assert m.out() == (
        b"\r\nNO CARRIER\r\n"
        b"\r\n+CREG: 2\r\n\r\n+CGREG: 2\r\n\r\n+CEREG: 2\r\n"
        b'\r\n+QSSLURC: "closed",0\r\n\r\n+QIURC: "pdpdeact",1\r\n\r\n+QIURC: "pdpdeact",2\r\n'
    )
    assert m.intents() == [Close(0, buffered.conn_seq, True), Close(1, seq, True)]
    assert m.cmd("AT+CEREG?") == b"\r\n+CEREG: 1,2\r\n" + OK
    assert m.cmd("AT+CGREG?") == b"\r\n+CGREG: 2,2\r\n" + OK
    assert m.cmd("AT+CSQ") == b"\r\n+CSQ: 99,99\r\n" + OK
    assert m.cmd("AT+COPS?") == b"\r\n+COPS: 0\r\n" + OK
    assert m.cmd("AT+CGATT?") == b"\r\n+CGATT: 0\r\n" + OK
    assert m.cmd("AT+QIACT?") == OK
    assert m.cmd("AT+QIACT=1") == ERROR  # refused while unregistered
    assert m.cmd("AT+QIGETERROR") == b"\r\n+QIGETERROR: 561,open pdp context failed\r\n" + OK
    assert m.advance(29.9) == b""
    assert m.advance(0.1) == (
        b'\r\n+CREG: 1\r\n\r\n+CGREG: 1,"1A2B","0B2C3D4E",8\r\n\r\n+CEREG: 1\r\n'
    )
    assert m.cmd("AT+CEREG?") == b"\r\n+CEREG: 1,1\r\n" + OK
    assert m.cmd("AT+QIACT?") == OK  # contexts stay down until the host activates them
    assert m.cmd("AT+QIACT=1") == OK
    assert [str(r) for r in m.engine.faults.log] == [
        "registration-lost 30s: done",
        "registration-recover (at 30s): done",
    ]


def test_registration_lost_until_recovered_by_hand() -> None:
    m = quiet_module()
    m.cmd("AT+CEREG=1")
    m.engine.inject_fault(RegistrationLost())  # no context active: only the URC
    assert m.out() == b"\r\n+CEREG: 2\r\n"
    assert m.advance(3600.0) == b""
    with pytest.raises(FaultError, match="registration is already lost"):
        m.engine.inject_fault(RegistrationLost())
    # AT+CFUN=0 and back while the network is missing: not searching, then searching again
    assert m.cmd("AT+CFUN=0") == OK + b"\r\n+CEREG: 0\r\n"
    assert m.cmd("AT+CFUN=1") == (
        OK + b"\r\n+CPIN: READY\r\n\r\n+QUSIM: 1\r\n\r\n+QIND: SMS DONE\r\n\r\n+CEREG: 2\r\n"
    )
    m.engine.inject_fault(RegistrationRecover())
    assert m.out() == b"\r\n+CEREG: 1\r\n"
    assert m.cmd("AT+QIACT=1") == OK


# ---- a reboot --------------------------------------------------------------------------------


def test_reboot_at_a_time_in_the_middle_of_a_prompt() -> None:
    m = quiet_module()
    m.store.write("cacert.pem", b"PEM")
    m.cmd("AT+CMEE=2")
    conn = m.open(client_id=0)
    m.engine.inject_fault(Reboot(), At(5.0))
    assert m.cmd("AT+QSSLSEND=0") == b"\r\n> "
    m.send(b"half")
    assert m.advance(4.999) == b""
    assert m.advance(0.001) == b""  # restarting: no answer to the prompt
    assert m.intents() == [Close(0, conn.conn_seq, True)]
    assert m.send(b"AT\r") == b""  # input is lost while it boots
    assert m.advance(m.engine.config.reboot_time) == b"\r\nRDY\r\n\r\n+CFUN: 1\r\n"
    assert m.advance(1.0) == BOOT[len(b"\r\nRDY\r\n\r\n+CFUN: 1\r\n") :]
    # volatile state is lost (echo, CMEE, PDP, sockets), files are kept
    assert m.cmd("AT+CMEE?") == b"AT+CMEE?\r\r\n+CMEE: 1\r\n" + OK
    assert m.cmd("AT+QSSLSTATE") == b"AT+QSSLSTATE\r" + OK
    assert m.cmd("AT+QIACT?") == b"AT+QIACT?\r" + OK
    assert m.cmd("AT+QFLST") == b'AT+QFLST\r\r\n+QFLST: "cacert.pem",3\r\n' + OK


def test_reboot_on_the_next_command_leaves_it_unanswered() -> None:
    m = quiet_module()
    m.engine.inject_fault(Reboot(), OnCommand())
    assert m.cmd("AT+CSQ") == b""
    assert m.advance(1.0) == BOOT


def test_armed_faults_survive_a_restart() -> None:
    m = quiet_module()
    m.engine.inject_fault(DnsFailure(), At(2.0))
    assert m.cmd("AT+CFUN=1,1") == OK
    assert m.advance(1.0) == BOOT
    assert m.intents() == []
    m.advance(1.0)
    assert m.intents() == [NetFault(DnsFailure(), 0)]


# ---- a full send buffer ----------------------------------------------------------------------


@pytest.mark.parametrize("mode", [0, 1], ids=["buffer", "push"])
def test_send_buffer_full(mode: int) -> None:
    m = quiet_module()
    conn = m.open(client_id=0, mode=mode)
    m.engine.inject_fault(SendBufferFull(0, sends=2))
    for _ in range(2):
        assert m.cmd("AT+QSSLSEND=0,3") == b"\r\n> "
        assert m.send(b"abc") == b"\r\nSEND FAIL\r\n"
    assert m.cmd("AT+QSSLSEND=0") == b"\r\n> "
    assert m.send(b"abc\x1a") == b"\r\nSEND OK\r\n"
    assert m.intents() == [Send(0, conn.conn_seq, b"abc")]
    assert state_of(m, 0) == 2


def test_send_buffer_full_waits_for_a_qsslsend_in_transparent_mode() -> None:
    """Transparent mode has no SEND FAIL: the data flows; a QSSLSEND after +++ fails."""
    m = quiet_module()
    seq = open_transparent(m, client_id=0)
    m.engine.inject_fault(SendBufferFull(0))
    m.send(b"data")
    m.advance(1.0)
    assert sent(m) == b"data"
    m.send(b"+++")
    assert m.advance(1.0) == OK
    assert m.cmd("AT+QSSLSEND=0,1") == b"\r\n> "
    assert m.send(b"x") == b"\r\nSEND FAIL\r\n"
    assert m.intents() == []
    assert seq == m.engine.sockets[0].conn_seq


# ---- network faults leave the engine as intents ----------------------------------------------


def test_network_faults_are_intents_for_the_runner() -> None:
    m = quiet_module()
    conn = m.open(client_id=7)
    on_connection: list[NetworkFault] = [ServerReset(7), ServerFin(7), ServerStall(7)]
    for fault in on_connection:
        m.engine.inject_fault(fault)
        assert m.intents() == [NetFault(fault, conn.conn_seq)]
    anywhere: list[NetworkFault] = [DnsFailure(2), HandshakeTimeout(), TlsAlert("unknown_ca")]
    for fault in anywhere:
        m.engine.inject_fault(fault)
        assert m.intents() == [NetFault(fault, 0)]
    assert m.out() == b""  # the module hears of them only through network events
    assert TlsAlert("unknown_ca").code == 48


# ---- triggers --------------------------------------------------------------------------------


def test_at_a_time_on_the_engine_clock() -> None:
    m = quiet_module()
    m.activate()
    m.engine.inject_fault(PdpDeactivate(1), At(2.5))
    assert m.engine.faults.pending == [(At(2.5), PdpDeactivate(1))]
    assert m.advance(2.499) == b""
    assert m.advance(0.001) == b'\r\n+QIURC: "pdpdeact",1\r\n'
    assert m.engine.faults.pending == []


def test_after_bytes_received_cuts_the_data_exactly() -> None:
    m = quiet_module()
    conn = m.open(client_id=0)
    m.engine.inject_fault(PdpDeactivate(1), AfterBytes(10, 0))
    assert m.event(Received(0, conn.conn_seq, b"0123")) == b'\r\n+QSSLURC: "recv",0\r\n'
    assert m.engine.faults.room(0) == 6
    assert m.event(Received(0, conn.conn_seq, b"456789abcdef")) == (
        b'\r\n+QSSLURC: "closed",0\r\n\r\n+QIURC: "pdpdeact",1\r\n'
    )
    assert m.intents() == [Close(0, conn.conn_seq, True)]
    assert "6 bytes from the server dropped: connection 0 is gone" in m.notes
    assert m.cmd("AT+QSSLRECV=0,100") == b"\r\n+QSSLRECV: 10\r\n0123456789\r\n" + OK


def test_after_bytes_received_counts_from_arming_across_connections() -> None:
    m = quiet_module()
    first = m.open(client_id=0)
    m.event(Received(0, first.conn_seq, b"before"))  # not counted: not armed yet
    m.engine.inject_fault(ServerReset(0), AfterBytes(8, 0))
    m.event(Received(0, first.conn_seq, b"12345"))
    m.cmd("AT+QSSLCLOSE=0,0")
    m.intents()
    second = m.open(client_id=0)
    m.event(Received(0, second.conn_seq, b"678"))
    assert m.intents() == [NetFault(ServerReset(0), second.conn_seq)]


def test_after_bytes_sent_acts_after_the_send() -> None:
    m = quiet_module()
    conn = m.open(client_id=0)
    m.engine.inject_fault(ServerStall(0), AfterBytes(5, 0, "sent"))
    m.engine.inject_fault(Reboot(), AfterBytes(12, 0, "sent"))
    assert m.cmd("AT+QSSLSEND=0,8") == b"\r\n> "
    assert m.send(b"12345678") == b"\r\nSEND OK\r\n"
    assert m.intents() == [Send(0, conn.conn_seq, b"12345678"), NetFault(ServerStall(0), 1)]
    # the restart comes after the SEND OK of the send that reached 12 bytes
    assert m.cmd("AT+QSSLSEND=0,8") == b"\r\n> "
    assert m.send(b"abcdefgh") == b"\r\nSEND OK\r\n"
    assert m.engine.sockets == {}
    assert m.advance(1.0) == BOOT


def test_after_bytes_sent_in_transparent_mode() -> None:
    m = quiet_module()
    seq = open_transparent(m, client_id=2)
    m.engine.inject_fault(PdpDeactivate(1), AfterBytes(4, 2, "sent"))
    m.send(b"abcdef")
    assert m.advance(0.2) == b'\r\nNO CARRIER\r\n\r\n+QIURC: "pdpdeact",1\r\n'
    assert m.intents() == [Send(2, seq, b"abcdef"), Close(2, seq, True)]


def test_on_the_next_named_command() -> None:
    m = quiet_module()
    m.open(client_id=0)
    m.engine.inject_fault(SendBufferFull(0), OnCommand("at+qsslsend=0,3"))
    assert m.engine.faults.pending == [(OnCommand("AT+QSSLSEND"), SendBufferFull(0))]
    assert m.cmd("AT+QSSLRECV=0,10") == b"\r\n+QSSLRECV: 0\r\n" + OK  # another command
    assert m.cmd("AT+QSSLSEND=0,3") == b"\r\n> "
    assert m.send(b"abc") == b"\r\nSEND FAIL\r\n"
    assert m.cmd("AT+QSSLSEND=0,3") == b"\r\n> "
    assert m.send(b"abc") == b"\r\nSEND OK\r\n"


def test_on_the_next_qiact_the_network_is_gone() -> None:
    m = quiet_module()
    m.engine.inject_fault(RegistrationLost(), OnCommand("AT+QIACT"))
    assert m.cmd("AT+QIACT?;+QIACT=1") == ERROR
    assert m.cmd("AT+QIGETERROR") == b"\r\n+QIGETERROR: 561,open pdp context failed\r\n" + OK


def test_on_the_next_bare_at() -> None:
    m = quiet_module()
    m.engine.inject_fault(DnsFailure(), OnCommand("AT"))
    m.cmd("AT+CSQ")
    assert m.intents() == []
    assert m.cmd("AT") == OK
    assert m.intents() == [NetFault(DnsFailure(), 0)]


def test_a_script_is_armed_at_the_first_power_on() -> None:
    engine = Engine(store=MemoryStore(), config=ModuleConfig())
    engine.load_faults([(At(1.0), Reboot()), (None, DnsFailure())])
    engine.advance(100.0)
    assert engine.intents() == []  # not powered yet: nothing armed
    engine.power_on()
    assert [i for i in engine.intents() if isinstance(i, NetFault)] == [NetFault(DnsFailure(), 0)]
    engine.advance(100.999)
    assert [r.fault for r in engine.faults.log] == [DnsFailure()]
    engine.advance(101.0)
    assert [r.fault for r in engine.faults.log] == [DnsFailure(), Reboot()]


# ---- bad input -------------------------------------------------------------------------------


def test_faults_with_nothing_to_act_on_raise_and_change_nothing() -> None:
    m = quiet_module()
    m.open(client_id=0)
    m.cmd('AT+QSSLOPEN=1,1,1,"h",443,0')  # still opening
    m.intents()
    before = m.cmd("AT+QSSLSTATE")
    cases: list[tuple[Fault, str]] = [
        (PdpDeactivate(2), "pdp-deactivate 2: PDP context 2 is not active"),
        (ServerReset(5), "server-reset 5: client ID 5 has no connected socket"),
        (ServerFin(1), "client ID 1 has no connected socket"),
        (ServerStall(9), "client ID 9 has no connected socket"),
        (SendBufferFull(1), "client ID 1 has no connected socket"),
        (RegistrationRecover(), "registration is not lost"),
    ]
    for fault, message in cases:
        with pytest.raises(FaultError, match=message):
            m.engine.inject_fault(fault)
        assert_unaffected(m)
    assert m.cmd("AT+QSSLSTATE") == before
    m.cmd("AT+CFUN=0")
    m.intents()
    with pytest.raises(FaultError, match=r"not registered \(AT\+CFUN=0\)"):
        m.engine.inject_fault(RegistrationLost())
    assert_unaffected(m)
    off = Engine()
    with pytest.raises(FaultError, match="not running"):
        off.inject_fault(Reboot())


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: PdpDeactivate(0), "PDP context 0: 1-16"),
        (lambda: ServerReset(13), "client ID 13: client IDs are 0-11"),
        (lambda: SendBufferFull(0, 0), "number of sends must be"),
        (lambda: TlsAlert("nope"), "unknown alert 'nope'"),
        (lambda: RegistrationLost(-1.0), "recovery time must be positive"),
        (lambda: At(-1.0), "zero or more seconds"),
        (lambda: At(float("nan")), "zero or more seconds"),
        (lambda: AfterBytes(0, 0), "number of bytes must be"),
        (lambda: AfterBytes(1, 0, "both"), "'received' or 'sent'"),  # type: ignore[arg-type]
        (lambda: OnCommand("QSSLSEND"), "not an AT command"),
        (lambda: OnCommand("ATE0V1"), "one command"),
    ],
)
def test_bad_arguments(make: object, message: str) -> None:
    with pytest.raises(FaultError, match=message):
        make()  # type: ignore[operator]


def test_an_armed_fault_that_finds_nothing_is_logged() -> None:
    m = quiet_module()
    m.engine.inject_fault(ServerReset(3), At(1.0))
    m.intents()
    assert m.advance(1.0) == b""
    assert m.intents() == []
    (record,) = m.engine.faults.log
    assert not record.applied
    assert str(record) == "server-reset 3 (at 1s): client ID 3 has no connected socket"
    assert "fault server-reset 3 (at 1s): nothing done, client ID 3 has no connected socket" in (
        m.notes
    )


# ---- the script format -----------------------------------------------------------------------

SCRIPT = """\
# every fault and trigger
at 5s pdp-deactivate 1
AT 250ms Registration-Lost 30s     # names and keywords in any case
at 1.5s registration-recover
at 0s reboot
after 1000 bytes on 0 server-reset 0
after 1 byte received on 11 server-fin 11
after 200 bytes sent on 3 server-stall 3

on next AT+QSSLSEND send-buffer-full 0
on next at+qsslsend=0,5 send-buffer-full 0 3
on next command dns-failure
on next AT dns-failure 4
at 2s handshake-timeout 2
at 2s tls-alert
at 2s tls-alert unknown_ca 2
pdp-deactivate
"""


def test_script_parses_every_fault_and_trigger() -> None:
    script = FaultScript.parse(SCRIPT, "faults.txt")
    assert list(script) == [
        ScriptEntry(2, At(5.0), PdpDeactivate(1)),
        ScriptEntry(3, At(0.25), RegistrationLost(30.0)),
        ScriptEntry(4, At(1.5), RegistrationRecover()),
        ScriptEntry(5, At(0.0), Reboot()),
        ScriptEntry(6, AfterBytes(1000, 0), ServerReset(0)),
        ScriptEntry(7, AfterBytes(1, 11), ServerFin(11)),
        ScriptEntry(8, AfterBytes(200, 3, "sent"), ServerStall(3)),
        ScriptEntry(10, OnCommand("AT+QSSLSEND"), SendBufferFull(0)),
        ScriptEntry(11, OnCommand("AT+QSSLSEND"), SendBufferFull(0, 3)),
        ScriptEntry(12, OnCommand(), DnsFailure()),
        ScriptEntry(13, OnCommand("AT"), DnsFailure(4)),
        ScriptEntry(14, At(2.0), HandshakeTimeout(2)),
        ScriptEntry(15, At(2.0), TlsAlert()),
        ScriptEntry(16, At(2.0), TlsAlert("unknown_ca", 2)),
        ScriptEntry(17, None, PdpDeactivate(1)),
    ]
    # str() is the script syntax: every entry reads back as itself
    for entry in script:
        assert parse_line(str(entry)) == (entry.trigger, entry.fault)
    assert str(script.entries[6]) == "after 200 bytes sent on 3 server-stall 3"
    assert parse_line("   # only a comment") is None


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("at 5s frobnicate", "unknown fault 'frobnicate' (known: pdp-deactivate, "),
        ("at 5s", "a fault is missing"),
        ("at five pdp-deactivate 1", "expected a time such as 5s, 1.5s or 250ms, not 'five'"),
        ("at 5 reboot", "not '5'"),
        ("at", "a time is missing"),
        ("pdp-deactivate one", "expected CTX (a whole number), not 'one'"),
        ("pdp-deactivate 17", "PDP context 17: 1-16"),
        ("server-reset", "missing CLIENT_ID: server-reset CLIENT_ID"),
        ("server-reset 13", "client IDs are 0-11"),
        ("reboot now", "too many arguments: reboot"),
        ("send-buffer-full 0 1 2", "too many arguments: send-buffer-full CLIENT_ID [SENDS]"),
        ("tls-alert bogus", "unknown alert 'bogus'"),
        ("after 10 bytes server-reset 0", "expected 'after N bytes [received|sent] on"),
        ("after ten bytes on 0 reboot", "the number of bytes (a whole number)"),
        ("after 10 bytes sent at 0 reboot", "expected 'after N bytes"),
        ("after 10 bytes on x reboot", "expected a client ID"),
        ("on 0 reboot", "on: expected 'on next command' or 'on next AT+NAME'"),
        ("on next QSSLSEND reboot", "not an AT command: 'QSSLSEND'"),
        ("on next AT+QSSLSEND", "a fault is missing"),
        ("urc-interleave maybe", "expected on or off, not 'maybe'"),
        ("urc-interleave on off", "too many arguments: urc-interleave [on|off]"),
        ("open-leak many", "expected CYCLES (a whole number), not 'many'"),
        ("open-leak -1", "expected CYCLES (a whole number), not '-1'"),
        ("open-leak \u00b2", "expected CYCLES (a whole number), not '\u00b2'"),
        ("at 1s open-leak 2 3", "too many arguments: open-leak [CYCLES]"),
        ("urc-interleaving", "unknown fault 'urc-interleaving'"),
    ],
)
def test_script_errors_carry_the_line_number(line: str, message: str) -> None:
    text = "# header\n\nat 1s reboot\n" + line + "\nat 2s reboot\n"
    with pytest.raises(FaultScriptError) as info:
        FaultScript.parse(text, "faults.txt")
    assert info.value.line == 4
    assert str(info.value).startswith("faults.txt:4: ")
    assert message in str(info.value)


def test_script_file_that_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(FaultScriptError, match="cannot read the fault script"):
        FaultScript.load(tmp_path / "missing.txt")


def test_serve_rejects_a_bad_script_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "faults.txt"
    path.write_text("at 1s reboot\nat 2s unplug 0\n")
    with pytest.raises(SystemExit) as info:
        cli_main(["serve", "--tcp", "127.0.0.1:0", "--faults", str(path)])
    assert info.value.code == 2
    assert f"argument --faults: {path}:2: unknown fault 'unplug'" in capsys.readouterr().err
    path.write_text("at 1s reboot\n")
    args = build_parser().parse_args(["serve", "--faults", str(path)])
    assert list(args.faults) == [ScriptEntry(1, At(1.0), Reboot())]


# ---- end to end: the runner carries out the network faults ---------------------------------

HOST = "echo.bg96.test"


@pytest.fixture(scope="module")
def echo() -> Iterator[ThreadedTlsEchoServer]:
    pki = TestPki("bg96 fault tests CA")
    with ThreadedTlsEchoServer(pki.server_ctx()) as server:
        yield server


class Rig:
    """A virtual module with a trace in memory, a Modem on it and PDP context 1 active."""

    def __init__(self, vm: VirtualModule, modem: Modem, trace: io.StringIO) -> None:
        self.vm, self.modem, self._trace = vm, modem, trace

    @property
    def trace(self) -> str:
        return self.vm.call(self._trace.getvalue)


@pytest.fixture
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    options = getattr(request, "param", {})
    buf = io.StringIO()
    with VirtualModule(
        resolve={HOST: "127.0.0.1"},
        system_resolver=False,
        trace=Trace(buf, clock=time.monotonic),
        **options,
    ) as vm:
        modem = Modem.open(vm.url)
        try:
            modem.sync()
            modem.activate(1)
            yield Rig(vm, modem, buf)
        finally:
            # pyserial's socket:// close() sleeps 0.3 s: nobody waits for it
            threading.Thread(target=modem.close, daemon=True).start()


def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def read_all(conn: object, timeout: float = 5.0) -> bytes:
    """Everything until the connection reports closed."""
    out = bytearray()
    while chunk := conn.recv(1500, timeout=timeout):  # type: ignore[attr-defined]
        out += chunk
    return bytes(out)


@pytest.mark.parametrize("mode", [0, 1, 2], ids=["buffer", "push", "transparent"])
def test_server_reset_after_bytes_cuts_exactly_there(
    rig: Rig, echo: ThreadedTlsEchoServer, mode: int
) -> None:
    conn = rig.modem.open_ssl(0, HOST, echo.port, access_mode=mode)
    rig.vm.faults.server_reset(0, after_bytes=1000)
    data = bytes(range(200)) * 7  # one QSSLSEND, echoed whole
    conn.send(data)
    assert read_all(conn) == data[:1000]
    assert conn.closed_by_peer
    if mode == 2:
        assert "NO CARRIER" in rig.trace.replace("\\r\\n", " ")
    else:
        assert rig.modem.ssl_state(0)[0]["socket_state"] == 4
    assert "connection reset by the server (fault server-reset)" in rig.trace
    conn.close()
    assert rig.modem.ssl_state() == []


def test_server_fin_with_and_without_unread_data(rig: Rig, echo: ThreadedTlsEchoServer) -> None:
    modem = rig.modem
    closed: list[bytes] = []
    modem.on_urc(lambda urc: closed.append(urc.line) if b'"closed"' in urc.line else None)
    unread = modem.open_ssl(0, HOST, echo.port)
    drained = modem.open_ssl(1, HOST, echo.port, access_mode=1)
    unread.send(b"still here")
    drained.send(b"read already")
    assert drained.recv(100, timeout=5) == b"read already"
    modem.wait_urc(b'+QSSLURC: "recv",0', 5)  # the echo is in the module's buffer, unread
    rig.vm.faults.server_fin(0)
    rig.vm.faults.server_fin(1)
    modem.poll(0.2)
    assert closed == [b'+QSSLURC: "closed",0', b'+QSSLURC: "closed",1']
    assert [s["socket_state"] for s in modem.ssl_state()] == [4, 4]
    assert read_all(unread) == b"still here"  # unread data stays readable
    assert read_all(drained) == b""
    with pytest.raises(ConnectionError):
        unread.send(b"too late")
    assert "TCP FIN (fault server-fin)" in rig.trace


@pytest.mark.parametrize("rig", [{"config": ModuleConfig(send_buffer=4096)}], indirect=True)
def test_server_stall(rig: Rig, echo: ThreadedTlsEchoServer) -> None:
    conn = rig.modem.open_ssl(0, HOST, echo.port)
    conn.send(b"before")
    assert conn.recv(100, timeout=5) == b"before"
    rig.vm.faults.server_stall(0)
    conn.send(b"x" * 2920)  # SEND OK: in the module's buffer, going nowhere
    with pytest.raises(SendFailed):
        conn.send(b"y" * 1460)  # 4380 bytes would not fit in 4096
    with pytest.raises(TimeoutError):
        conn.recv(100, timeout=0.3)
    assert rig.modem.ssl_state(0)[0]["socket_state"] == 2  # TCP is still open
    assert echo.received.endswith(b"before")
    started = time.monotonic()
    conn.close(timeout=1)  # close_notify and FIN cannot get through: the timeout ends it
    assert time.monotonic() - started >= 0.9
    assert "is stalled: the close cannot finish" in rig.trace
    # a stalled connection can still be reset
    other = rig.modem.open_ssl(1, HOST, echo.port, access_mode=1)
    rig.vm.faults.server_stall(1)
    rig.vm.faults.at(0.1).server_reset(1)
    assert read_all(other) == b""
    assert rig.modem.ssl_state(1)[0]["socket_state"] == 4


def test_dns_failure(rig: Rig, echo: ThreadedTlsEchoServer) -> None:
    modem = rig.modem
    rig.vm.faults.dns_failure(lookups=2)
    with pytest.raises(OpenFailed) as info:
        modem.open_ssl(0, HOST, echo.port)
    assert info.value.code == 565
    modem.command(f'AT+QIDNSGIP=1,"{HOST}"')
    assert modem.wait_urc(b'+QIURC: "dnsgip"', 5).line == b'+QIURC: "dnsgip",565'
    assert modem.last_error() == (565, "dns parse failed")
    modem.open_ssl(0, HOST, echo.port).close()  # two lookups failed, the third works
    assert "DNS failure (fault dns-failure)" in rig.trace


def test_dns_failure_spares_ip_addresses(rig: Rig, echo: ThreadedTlsEchoServer) -> None:
    rig.vm.faults.dns_failure()
    rig.modem.open_ssl(0, "127.0.0.1", echo.port).close()
    with pytest.raises(OpenFailed):
        rig.modem.open_ssl(0, HOST, echo.port)


def test_handshake_timeout(rig: Rig, echo: ThreadedTlsEchoServer) -> None:
    # negotiatetime is 10-300 s by AT command; set below its range here to keep the test short
    engine = rig.vm.engine
    assert engine is not None
    rig.vm.call(lambda: setattr(engine.ssl_ctx[0], "negotiatetime", 0.5))
    rig.vm.faults.handshake_timeout()
    connections = echo.connections
    started = time.monotonic()
    with pytest.raises(OpenFailed) as info:
        rig.modem.open_ssl(0, HOST, echo.port, access_mode=2)
    assert info.value.code == 569
    assert time.monotonic() - started >= 0.45
    assert echo.connections == connections + 1  # TCP was up
    assert "TLS handshake not done within negotiatetime" in rig.trace
    rig.modem.open_ssl(0, HOST, echo.port).close()  # the next one completes


def test_tls_alert(rig: Rig, echo: ThreadedTlsEchoServer) -> None:
    rig.vm.faults.tls_alert("certificate_expired")
    with pytest.raises(OpenFailed) as info:
        rig.modem.open_ssl(0, HOST, echo.port)
    assert info.value.code == 566
    assert rig.modem.last_error() == (566, "socket connect failed")
    assert "the server sent a fatal certificate_expired alert (45) (fault tls-alert)" in rig.trace


def test_reboot_through_the_api(rig: Rig, echo: ThreadedTlsEchoServer) -> None:
    modem = rig.modem
    modem.upload("kept.pem", b"kept")
    conn = modem.open_ssl(0, HOST, echo.port)
    modem.poll()  # the first boot's URCs
    rig.vm.faults.reboot()
    assert modem.wait_urc(b"APP RDY", 5).line == b"APP RDY"
    assert conn.closed  # the driver saw RDY
    modem.sync()
    assert modem.list_files() == {"kept.pem": 4}
    assert modem.ssl_state() == []
    assert modem.ip_address(1) is None


def test_api_errors_leave_the_module_unaffected(rig: Rig) -> None:
    faults = rig.vm.faults
    with pytest.raises(FaultError, match="client ID 3 has no connected socket"):
        faults.server_reset(3)
    with pytest.raises(FaultError, match="PDP context 2 is not active"):
        faults.pdp_deactivate(2)
    with pytest.raises(FaultScriptError, match="<run>:2: unknown fault 'explode'"):
        faults.run("at 1s reboot\nexplode\n")
    with pytest.raises(FaultError, match="give one trigger"):
        faults.at(1.0).server_reset(0, after_bytes=10)
    assert faults.log == [] and faults.pending == []
    assert rig.modem.command("AT+QIACT?").lines == (b'+QIACT: 1,1,1,"10.7.157.1"',)
    faults.run("at 60s reboot  # armed only\non next AT+QSSLSEND send-buffer-full 4")
    assert faults.pending == [
        (At(60.0), Reboot()),
        (OnCommand("AT+QSSLSEND"), SendBufferFull(4)),
    ]


def test_api_triggers_and_a_script_at_start(tmp_path: Path, echo: ThreadedTlsEchoServer) -> None:
    script = tmp_path / "faults.txt"
    script.write_text(
        "on next AT+QSSLSEND send-buffer-full 0   # the first send fails\n"
        "after 6 bytes sent on 0 server-fin 0\n"
    )
    with VirtualModule(resolve={HOST: "127.0.0.1"}, system_resolver=False, faults=script) as vm:
        modem = Modem.open(vm.url)
        try:
            modem.sync()
            modem.activate()
            conn = modem.open_ssl(0, HOST, echo.port)
            with pytest.raises(SendFailed):
                conn.send(b"first")
            conn.send(b"second")
            # the FIN comes right after the host's 6 bytes, before the echo
            assert read_all(conn) == b""
            assert conn.closed_by_peer
            eventually(lambda: echo.received.endswith(b"second"))  # it went out first
            conn.close()
            modem.command("AT+CEREG=1")
            vm.faults.at(0.2).pdp_deactivate(1)
            vm.faults.on_next_command("AT+QIACT").registration_lost(recover_after=0.3)
            urc = modem.wait_urc(b'+QIURC: "pdpdeact"', 5)
            assert urc.line == b'+QIURC: "pdpdeact",1'
            with pytest.raises(CommandError) as info:
                modem.activate()
            assert info.value.code == 561
            assert modem.wait_urc(b"+CEREG:", 5).line == b"+CEREG: 2"
            assert modem.wait_urc(b"+CEREG:", 5).line == b"+CEREG: 1"
            modem.activate()
            assert [str(r) for r in vm.faults.log] == [
                "send-buffer-full 0 (on next AT+QSSLSEND): done",
                "server-fin 0 (after 6 bytes sent on 0): done",
                "pdp-deactivate 1 (at 0.2s): done",
                "registration-lost 0.3s (on next AT+QIACT): done",
                "registration-recover (at 0.3s): done",
            ]
        finally:
            threading.Thread(target=modem.close, daemon=True).start()


IDLE = 1.5  # s a host sends nothing before the fault is armed (the engine's clock stands still)


def test_a_fault_armed_after_idle_fires_on_time() -> None:
    """Arming counts from now, not from the engine's last activity (an ``at 1s`` fault after
    1.5 s of idle fired at once); after the restart APP RDY follows RDY."""
    with VirtualModule() as vm:
        modem = Modem.open(vm.url)
        try:
            modem.sync()
            modem.poll(0.2)  # the boot URCs
            time.sleep(IDLE)  # the scenario itself: a host that is quiet for a while
            armed = time.monotonic()
            vm.faults.at(1.0).reboot()
            assert modem.wait_urc(b"RDY", 5).line == b"RDY"
            fired = time.monotonic() - armed
            assert fired >= 1.0, f"fired {fired:.3f} s after arming"
            assert modem.wait_urc(b"APP RDY", 5).line == b"APP RDY"
        finally:
            threading.Thread(target=modem.close, daemon=True).start()


def test_a_fault_armed_through_the_control_endpoint_after_idle_fires_on_time() -> None:
    async def scenario() -> None:
        async with module_with_control() as bench:
            loop = asyncio.get_running_loop()
            await asyncio.sleep(IDLE)
            armed = loop.time()
            answer = await control_request(
                "127.0.0.1", bench.control.port, {"op": "fault", "script": "at 1s reboot"}
            )
            assert answer == {"ok": True}
            await bench.at.read_until(b"\r\nRDY\r\n")
            fired = loop.time() - armed
            assert fired >= 1.0, f"fired {fired:.3f} s after arming"
            await bench.at.read_until(b"\r\nAPP RDY\r\n")

    asyncio.run(scenario())
