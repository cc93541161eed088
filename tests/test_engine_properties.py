"""The engine under hypothesis: random command sequences, random splits, garbage."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bg96.engine import Engine, MemoryStore

LINES = [
    b"AT",
    b"ATE0",
    b"ATE1",
    b"ATI",
    b"ATV0",
    b"ATV1",
    b"ATQ0",
    b"AT+CMEE=2",
    b"AT+CMEE=0",
    b"AT+CMEE?",
    b"AT+CGMI;+CGMM",
    b'AT+QICSGP=1,1,"apn","","",1',
    b"AT+QIACT=1",
    b"AT+QIACT?",
    b"AT+QIDEACT=1",
    b"AT+QIGETERROR",
    b'AT+QSSLCFG="seclevel",1,1',
    b'AT+QSSLCFG="ciphersuite",2,0X0035',
    b"AT+QSSLCFG=?",
    b"AT+QSSLSTATE",
    b"AT+QSSLRECV=1,100",
    b"AT+QSSLSEND=1,5",
    b"AT+QSSLCLOSE=1",
    b'AT+QSSLOPEN=1,1,1,"host",443,0',
    b"AT+QFLST",
    b'AT+QFDEL="a.pem"',
    b'AT+QFUPL="a.pem",4,1',
    b"AT+QSSSEND=1",
    b"AT+CCLK?",
    b"AT&F",
    b"A/",
    b"hello",
    b'AT+QSSLCFG="sslversion",9,9',
    b"\x1a\x1b\xff",
]


def run(chunks: list[bytes]) -> bytes:
    engine = Engine(store=MemoryStore(), now=0.0)
    engine.power_on()
    for chunk in chunks:
        engine.receive_data(chunk)
    engine.advance(0.5)
    return engine.data_to_send()


def script(lines: list[bytes]) -> bytes:
    return b"".join(line if line == b"A/" else line + b"\r" for line in lines)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(LINES), max_size=25), st.data())
def test_random_splits_give_the_same_output_as_whole_lines(
    lines: list[bytes], data: st.DataObject
) -> None:
    stream = script(lines)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    assert run(chunks) == run([stream])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(LINES), max_size=25))
def test_byte_at_a_time_matches_whole_lines(lines: list[bytes]) -> None:
    stream = script(lines)
    assert run([stream[i : i + 1] for i in range(len(stream))]) == run([stream])


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_garbage_never_crashes_and_the_module_resynchronises(garbage: bytes) -> None:
    engine = Engine(store=MemoryStore(), now=0.0)
    engine.power_on()
    engine.receive_data(garbage)
    # whatever state the garbage left (a prompt, an upload), time and a terminator end it
    engine.advance(10.0)
    engine.receive_data(b"\x1b\r")
    engine.advance(20.0)
    engine.data_to_send()
    engine.receive_data(b"ATE0\rAT\r")
    assert engine.data_to_send().endswith(b"\r\nOK\r\n")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(LINES), max_size=30))
def test_every_command_line_gets_exactly_one_final_result(lines: list[bytes]) -> None:
    engine = Engine(store=MemoryStore(), now=0.0)
    engine.power_on()
    engine.advance(1.0)
    engine.data_to_send()
    engine.receive_data(b"ATE0\r")
    engine.data_to_send()
    for line in lines:
        if line in (b"ATE1", b"ATV0", b"ATQ0", b"AT&F", b"A/", b"AT+QSSLSEND=1,5") or (
            line.startswith((b"AT+QFUPL", b"\x1a"))
        ):
            continue  # these change the framing, open a data phase or are blank
        engine.receive_data(line + b"\r")
        out = engine.data_to_send()
        finals = sum(out.count(f) for f in (b"\r\nOK\r\n", b"\r\nERROR\r\n", b"+CME ERROR"))
        assert finals == 1, (line, out)
