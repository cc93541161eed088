"""The traffic trace: escaping, line splitting, timestamps, the null trace, open_trace."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bg96.module.trace import Trace, escape, open_trace


def fake_clock(*times: float) -> Callable[[], float]:
    """Returns ``times`` in turn, then keeps returning the last one."""
    remaining = list(times)

    def clock() -> float:
        return remaining.pop(0) if len(remaining) > 1 else remaining[0]

    return clock


def make_trace(*times: float) -> tuple[Trace, io.StringIO]:
    out = io.StringIO()
    return Trace(out, clock=fake_clock(*times)), out


_UNESCAPE = {"\\r": b"\r", "\\n": b"\n", "\\t": b"\t", "\\\\": b"\\"}


def unescape(text: str) -> bytes:
    """The inverse of the trace's escaping, written independently of it."""

    def one(match: re.Match[str]) -> str:
        token = match.group()
        if token in _UNESCAPE:
            return _UNESCAPE[token].decode("latin-1")
        return chr(int(token[2:], 16)) if token.startswith("\\x") else token

    return re.sub(r"\\x[0-9a-f]{2}|\\.|.", one, text).encode("latin-1")


def test_escape_of_every_byte_value() -> None:
    for value in range(256):
        got = escape(bytes([value]))
        if value == 0x0D:
            assert got == "\\r"
        elif value == 0x0A:
            assert got == "\\n"
        elif value == 0x09:
            assert got == "\\t"
        elif value == 0x5C:
            assert got == "\\\\"
        elif 0x20 <= value <= 0x7E:
            assert got == chr(value)
        else:
            assert got == f"\\x{value:02x}"
    everything = escape(bytes(range(256)))
    assert everything.isascii()
    assert everything.isprintable()
    assert unescape(everything) == bytes(range(256))


def test_escape_of_a_command() -> None:
    assert escape(b'AT+QSSLCFG="sni",1\r') == 'AT+QSSLCFG="sni",1\\r'
    assert escape(b"\x1a\x1b\x00\xff") == "\\x1a\\x1b\\x00\\xff"


def test_one_line_per_chunk_with_direction_markers() -> None:
    trace, out = make_trace(0.0, 0.5, 1.25)
    trace.host_to_module(b"AT\r")
    trace.module_to_host(b"OK\r\n")
    assert out.getvalue() == "   0.500000 >> AT\\r\n   1.250000 << OK\\r\\n\n"


def test_a_chunk_is_split_into_response_lines() -> None:
    trace, out = make_trace(0.0, 0.001234)
    trace.module_to_host(b"AT\r\r\n+QSSLOPEN: 1,0\r\n\r\nOK\r\npartial")
    assert out.getvalue().splitlines() == [
        "   0.001234 << AT\\r",
        "   0.001234 << \\r\\n+QSSLOPEN: 1,0\\r\\n",
        "   0.001234 << \\r\\nOK\\r\\n",
        "   0.001234 << partial",
    ]


def test_an_escaped_backslash_n_is_not_a_line_break() -> None:
    trace, out = make_trace(0.0)
    trace.host_to_module(b"a\\nb\n")
    assert out.getvalue() == "   0.000000 >> a\\\\nb\\n\n"


def test_empty_chunks_are_not_traced() -> None:
    trace, out = make_trace(0.0)
    trace.host_to_module(b"")
    trace.module_to_host(b"")
    assert out.getvalue() == ""


def test_relative_timestamps_start_at_creation() -> None:
    trace, out = make_trace(1000.0, 1000.000001, 1002.5, 1234.567891)
    trace.host_to_module(b"A")
    trace.note("handshake")
    trace.module_to_host(b"B")
    assert out.getvalue().splitlines() == [
        "   0.000001 >> A",
        "   2.500000 -- handshake",
        " 234.567891 << B",
    ]


def test_notes_are_one_line_each() -> None:
    trace, out = make_trace(0.0, 3.0)
    trace.note("connect 1 failed\nreason: timeout")
    assert out.getvalue() == "   3.000000 -- connect 1 failed\n   3.000000 -- reason: timeout\n"


def test_absolute_timestamps_are_iso_with_microseconds() -> None:
    now = 1_700_000_000.123456
    out = io.StringIO()
    trace = Trace(out, clock=lambda: now, relative=False)
    trace.host_to_module(b"AT\r")
    line = out.getvalue()
    match = re.fullmatch(r"(\S+) >> AT\\r\n", line)
    assert match is not None
    stamp = match.group(1)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}[+-]\d\d:\d\d", stamp)
    assert datetime.fromisoformat(stamp).timestamp() == pytest.approx(now, abs=1e-6)


@given(st.lists(st.tuples(st.booleans(), st.binary(max_size=64)), max_size=20))
def test_the_trace_reads_back_to_the_same_bytes(chunks: list[tuple[bool, bytes]]) -> None:
    trace, out = make_trace(0.0)
    for to_module, data in chunks:
        (trace.host_to_module if to_module else trace.module_to_host)(data)
    got = {">>": b"", "<<": b""}
    for line in out.getvalue().splitlines(keepends=True):
        match = re.fullmatch(r"   0\.000000 (>>|<<) (.+)\n", line)
        assert match is not None
        marker, text = match.groups()
        assert text.isprintable()
        body = text.replace("\\\\", "")  # without escaped backslashes...
        body = body.removeprefix("\\r\\n")  # ...and the CR LF that opens a response line,
        assert "\\n" not in body[:-2]  # ...a line break can only end the line
        got[marker] += unescape(text)
    assert got[">>"] == b"".join(data for to_module, data in chunks if to_module)
    assert got["<<"] == b"".join(data for to_module, data in chunks if not to_module)


def test_flush_reaches_the_stream() -> None:
    class Recorder(io.StringIO):
        flushes = 0

        def flush(self) -> None:
            self.flushes += 1
            super().flush()

    out = Recorder()
    trace = Trace(out, clock=fake_clock(0.0))
    trace.note("x")
    assert out.flushes == 0
    trace.flush()
    assert out.flushes == 1


def test_the_null_trace_discards_everything() -> None:
    trace = Trace.null()
    assert isinstance(trace, Trace)
    assert not trace.enabled
    assert Trace(io.StringIO(), clock=fake_clock(0.0)).enabled
    trace.host_to_module(bytes(range(256)))
    trace.module_to_host(b"OK\r\n")
    trace.note("nothing")
    trace.flush()
    trace.close()


def test_open_trace_to_a_file_is_line_buffered(tmp_path: Path) -> None:
    path = tmp_path / "trace.txt"
    trace = open_trace(str(path))
    trace.host_to_module(b"AT\r")
    trace.module_to_host(b"OK\r\n")
    lines = path.read_text().splitlines()  # visible before close
    assert [line.split(" ", 2)[1:] for line in (ln.lstrip() for ln in lines)] == [
        [">>", "AT\\r"],
        ["<<", "OK\\r\\n"],
    ]
    trace.close()
    trace.close()


def test_open_trace_dash_is_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    trace = open_trace("-")
    trace.note("to stdout")
    trace.close()  # does not close stdout
    assert re.fullmatch(r" *\d+\.\d{6} -- to stdout\n", capsys.readouterr().out)
