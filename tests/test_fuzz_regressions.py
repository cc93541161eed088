"""What the fuzz campaign found (tests/test_fuzz_*.py), each as the input that showed it.

Transcript style: these bytes or lines in, these events or answers out.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest

from bg96 import VirtualModule
from bg96.engine import Connect, Connected, ModuleConfig, Received, TcpConnected, checksum
from bg96.engine.faults import At, UrcInterleave
from bg96.engine.state import Mode
from bg96.engine.timers import COMPACT_MIN
from bg96.host.parser import MAX_BLOCK, DteParser, Response, Urc
from bg96.module.control import ControlServer, _Then
from bg96.module.faults import (
    FaultError,
    FaultScript,
    FaultScriptError,
    OnCommand,
    OpenLeak,
    Reboot,
    parse_line,
)

from .fuzz_support import FAULT_LOG_LIMIT, KNOWN_UNBOUNDED, bound_sizes
from .helpers import Module


def parse(*chunks: bytes, command: bytes | None = None) -> list[object]:
    parser = DteParser()
    if command is not None:
        parser.begin(command)
    events: list[object] = []
    for chunk in chunks:
        parser.feed(chunk)
        events += parser.events()
    return events


def test_a_push_length_of_thousands_of_digits_is_a_urc_not_a_crash() -> None:
    # int() refuses more than 4300 digits: the parser raised ValueError from feed()
    line = b'+QSSLURC: "recv",1,' + b"9" * 5000
    assert parse(b"\r\n" + line + b"\r\n") == [Urc(line)]


def test_a_recv_length_of_thousands_of_digits_is_a_line_not_a_crash() -> None:
    line = b"+QSSLRECV: " + b"9" * 5000
    events = parse(b"\r\n" + line + b"\r\n\r\nOK\r\n", command=b"AT+QSSLRECV=1,1500")
    assert events == [Response(b"AT+QSSLRECV=1,1500", (line,), b"OK")]


def test_a_block_longer_than_any_module_sends_does_not_swallow_what_follows() -> None:
    # the parser read the next 999999999 bytes as push data: AT's OK never parsed again
    parser = DteParser()
    line = b'+QSSLURC: "recv",1,999999999'
    parser.feed(b"\r\n" + line + b"\r\n")
    assert parser.events() == [Urc(line)]
    parser.begin(b"AT")
    parser.feed(b"\r\nOK\r\n")
    assert parser.events() == [Response(b"AT", (), b"OK")]


def test_a_recv_block_longer_than_any_module_sends_is_a_line() -> None:
    line = b"+QSSLRECV: %d" % (MAX_BLOCK + 1)
    events = parse(b"\r\n" + line + b"\r\n\r\nOK\r\n", command=b"AT+QSSLRECV=1,1500")
    assert events == [Response(b"AT+QSSLRECV=1,1500", (line,), b"OK")]
    block = b"x" * MAX_BLOCK  # the longest still is a block
    wire = b"\r\n+QSSLRECV: %d\r\n" % MAX_BLOCK + block + b"\r\n\r\nOK\r\n"
    header = b"+QSSLRECV: %d" % MAX_BLOCK
    events = parse(wire, command=b"AT+QSSLRECV=1,1500")
    assert events == [Response(b"AT+QSSLRECV=1,1500", (header, block), b"OK")]


@pytest.mark.parametrize(
    "line",
    [
        "send-buffer-full 1 " + "9" * 5000,
        "after " + "9" * 5000 + " bytes on 1 reboot",
        "after 5 bytes on " + "9" * 5000 + " reboot",
        "open-leak " + "0" * 5000 + "1" + "9" * 5000,
    ],
)
def test_a_fault_script_number_of_thousands_of_digits_is_a_fault_error(line: str) -> None:
    # parse_line raised ValueError (int() refuses over 4300 digits) instead of FaultError
    with pytest.raises(FaultError, match="digits") as info:
        parse_line(line)
    assert type(info.value) is FaultError
    with pytest.raises(FaultScriptError, match=r"^faults:2: .*digits"):
        FaultScript.parse("reboot\n" + line, "faults")


def test_leading_zeros_do_not_count_as_digits() -> None:
    assert parse_line("open-leak " + "0" * 5000 + "1") == (None, OpenLeak(1))


def test_an_s_register_number_of_thousands_of_digits_is_an_error() -> None:
    # split_commands raised ValueError: the engine (a line limit above 4300) and fault
    # scripts ("on next ATS<digits>?") let it through
    module = Module(ModuleConfig(max_line=8192))
    assert module.cmd(b"ATE0") == b"ATE0\r\r\nOK\r\n"
    assert module.cmd(b"ATS" + b"9" * 5000 + b"?") == b"\r\nERROR\r\n"
    assert module.cmd(b"ATS0003?") == b"\r\n013\r\n\r\nOK\r\n"
    with pytest.raises(FaultError, match="not an AT command"):
        parse_line("on next ATS" + "9" * 5000 + "? reboot")


def test_an_s_register_with_a_non_ascii_digit_is_an_error() -> None:
    # "²".isdigit() is True: int("") raised ValueError for "on next ATS²? reboot"
    with pytest.raises(FaultError, match="not an AT command"):
        parse_line("on next ATS\u00b2? reboot")


@pytest.mark.parametrize(
    ("line", "text"),
    [
        ("at 0.00001s reboot", "at 0.00001s reboot"),  # was "at 1e-05s": not a time
        ("registration-lost 1000000s", "registration-lost 1000000s"),  # was "1e+06s"
        ("at 1.4393322ms server-stall 8", "at 0.0014393322s server-stall 8"),  # was 0.00143933
        ("at 5s reboot", "at 5s reboot"),
        ("at 250ms reboot", "at 0.25s reboot"),
        ("registration-lost 1.5s", "registration-lost 1.5s"),
    ],
)
def test_times_in_fault_scripts_read_back_as_themselves(line: str, text: str) -> None:
    parsed = parse_line(line)
    assert parsed is not None
    trigger, fault = parsed
    assert (f"{trigger} {fault}" if trigger is not None else str(fault)) == text
    assert parse_line(text) == parsed


def test_a_trigger_on_an_s_register_reads_back_as_itself() -> None:
    # "on next ATS3? reboot" printed as "on next ATS3 reboot", which did not parse
    parsed = parse_line("on next ATS3=5 reboot")
    assert parsed == (OnCommand("ATS3?"), Reboot())
    assert str(parsed[0]) == "on next ATS3"
    assert parse_line("on next ATS3 reboot") == parsed
    module = Module()
    module.engine.inject_fault(Reboot(), OnCommand("ATS3"))
    assert module.cmd("ATS5?") == b"ATS5?\r\r\n008\r\n\r\nOK\r\n"
    assert module.cmd("ATS3=13") == b"ATS3=13\r"  # echoed, then restarted: no answer
    assert module.advance(1.0).startswith(b"\r\nRDY\r\n")


def test_an_upload_byte_by_byte_does_not_pile_up_cancelled_timers() -> None:
    # each byte re-armed QFUPL's idle timeout and the cancelled timers stayed in the heap
    # until their time: a 4096-byte upload written a byte at a time left 4096 of them
    module = Module()
    assert module.cmd(b"ATE0") == b"ATE0\r\r\nOK\r\n"
    assert module.cmd(b'AT+QFUPL="big.bin",4096,60') == b"\r\nCONNECT\r\n"
    data = bytes(range(256)) * 16
    for i in range(len(data)):
        module.engine.receive_data(data[i : i + 1])
        assert len(module.engine._timers._heap) <= 2 * COMPACT_MIN
    assert module.out() == b"\r\n+QFUPL: 4096,%x\r\n\r\nOK\r\n" % checksum(data)
    assert module.store.read("big.bin") == data


def test_a_control_token_with_a_lone_surrogate_is_a_bad_token() -> None:
    # str.encode() raised UnicodeEncodeError in ControlServer._request: the catch-all
    # answered "request failed: UnicodeEncodeError(...)" instead of the token's error
    server = ControlServer(VirtualModule(system_resolver=False), token="s3cret")
    line = b'{"op": "status", "token": "\\ud800"}'
    assert server._request(line) == ({"ok": False, "error": "bad or missing token"}, _Then.CLOSE)
    assert server.handle(line) == ({"ok": False, "error": "bad or missing token"}, False)


@pytest.mark.parametrize(
    ("line", "answer"),
    [
        (b"AT+QSSLRECV=1," + b"9" * 5000, b"\r\nERROR\r\n"),  # Param.num
        (b"AT+QSSLSEND=1," + b"9" * 5000, b"\r\nERROR\r\n"),  # ... after the hint's int()
        (b"AT+CMEE=" + b"9" * 5000, b"\r\nERROR\r\n"),
        (b'AT+QFUPL="a",' + b"9" * 5000, b"\r\n+CME ERROR: 400\r\n"),
        (b"ATE" + b"9" * 5000, b"\r\nERROR\r\n"),  # a basic command's number
        (b"ATS3=" + b"9" * 5000, b"\r\nERROR\r\n"),  # an S register's value
        (b"AT+CMEE=" + b"0" * 5000 + b"1", b"\r\nOK\r\n"),  # leading zeros are no digits
    ],
)
def test_a_parameter_of_thousands_of_digits_is_an_error_not_a_crash(
    line: bytes, answer: bytes
) -> None:
    # int() refuses over 4300 digits: with a line limit above that (ModuleConfig.max_line)
    # receive_data raised ValueError
    module = Module(ModuleConfig(max_line=8192))
    assert module.cmd(b"ATE0") == b"ATE0\r\r\nOK\r\n"
    assert module.cmd(line) == answer
    assert module.cmd(b"AT") == b"\r\nOK\r\n"


# ---- bounds the fuzzer found unbounded, each with the input that grew it -----------------------
# They held once the module got finite buffers with flow control; these keep them holding.


def _open(m: Module, client_id: int, mode: int) -> int:
    if not m.engine.pdp[1].active:
        m.activate()
    m.cmd(f'AT+QSSLOPEN=1,1,{client_id},"10.0.0.5",443,{mode}')
    (connect,) = (i for i in m.intents() if isinstance(i, Connect))
    m.event(TcpConnected(client_id, connect.conn_seq, 65344, "10.0.0.5"))
    m.event(Connected(client_id, connect.conn_seq))
    return connect.conn_seq


def _write(m: Module, data: bytes) -> None:
    """The host writes, as the runner lets it: only while the module takes input."""
    if m.engine.input_room > 0:
        m.engine.receive_data(data)


def grow_output(m: Module) -> None:
    """A host that writes command lines and never reads: echo and answers pile up."""
    for _ in range(20_000):
        _write(m, b"AT\r")


def grow_host_input(m: Module) -> None:
    """A host that writes while a command executes (AT+QSSLCLOSE waiting for the close)."""
    _open(m, 0, 0)
    m.cmd("AT+QSSLCLOSE=0,60")
    assert m.engine.mode is Mode.EXECUTING
    for _ in range(100):
        _write(m, b"x" * 1000)


def grow_urc_queue(m: Module) -> None:
    """Push-mode data while a command executes: each arrival is a URC with its data."""
    seq = _open(m, 1, 1)
    _open(m, 0, 0)
    m.cmd("AT+QSSLCLOSE=0,60")
    for _ in range(100):
        m.engine.network_event(Received(1, seq, b"d" * 1000))


def grow_socket_send_buffer(m: Module) -> None:
    """Transparent mode keeps packing host data into Send intents however much the
    connection has not sent (a stalled server): QSSLSEND would answer SEND FAIL."""
    _open(m, 2, 2)
    for _ in range(100):
        _write(m, b"t" * 1460)
    m.intents()


def grow_fault_log(m: Module) -> None:
    """Every fault that acts is logged (the log keeps the newest)."""
    for i in range(FAULT_LOG_LIMIT + 1):
        m.engine.inject_fault(UrcInterleave(i % 2 == 0))


def grow_armed_faults(m: Module) -> None:
    """Armed faults wait until they fire; past the limit arming is refused."""
    for _ in range(FAULT_LOG_LIMIT + 1):
        with contextlib.suppress(FaultError):
            m.engine.inject_fault(Reboot(), At(3600.0))


GROWTH: dict[str, Callable[[Module], None]] = {
    "output": grow_output,
    "host input": grow_host_input,
    "urc queue": grow_urc_queue,
    "socket send buffer": grow_socket_send_buffer,
    "fault log": grow_fault_log,
    "armed faults": grow_armed_faults,
}


def test_nothing_is_known_to_grow_without_bound() -> None:
    assert KNOWN_UNBOUNDED == {}


@pytest.mark.parametrize("name", sorted(GROWTH))
def test_a_bound_the_fuzzer_once_broke_holds(name: str) -> None:
    m = Module()
    GROWTH[name](m)
    size, limit = bound_sizes(m.engine)[name]
    assert size <= limit, f"{name}: {size} > {limit}"
