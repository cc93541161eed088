"""The hex and JSON-lines trace formats, and TLS payloads in the trace."""

from __future__ import annotations

import io
import json
from collections.abc import Callable

from bg96 import Modem, VirtualModule
from bg96.module.trace import HexTrace, JsonlTrace, Trace
from bg96.testing import TestPki
from bg96.testing.tls_server import ThreadedTlsEchoServer


def clock_at(*times: float) -> Callable[[], float]:
    values = iter(times)
    return lambda: next(values)


def test_hex_dump_has_offsets_bytes_and_a_printable_column() -> None:
    out = io.StringIO()
    trace = HexTrace(out, clock=clock_at(0.0, 0.25))
    trace.module_to_host(b"\r\n+QSSLRECV: 18\r\nTest data\x00\xff")
    lines = out.getvalue().splitlines()
    assert lines[0] == (
        "   0.250000 << 0000  0d 0a 2b 51 53 53 4c 52 45 43 56 3a 20 31 38 0d  ..+QSSLRECV: 18."
    )
    assert lines[1].startswith("   0.250000 << 0010  0a 54 65 73 74 20 64 61 74 61 00 ff")
    assert lines[1].endswith("  .Test data..")


def test_jsonl_records_are_stable() -> None:
    out = io.StringIO()
    trace = JsonlTrace(out, clock=clock_at(10.0, 10.5, 10.75, 11.0, 11.5))
    trace.host_to_module(b"AT\r")
    trace.module_to_host(b"\r\nOK\r\n")
    trace.note("QSSLOPEN 4: TLSv1.2 AES256-SHA")
    trace.tls_sent(4, b"\x00GET")
    records = [json.loads(x) for x in out.getvalue().splitlines()]
    assert records == [
        {"t": 0.5, "kind": "host", "hex": "41540d", "text": "AT\\r"},
        {"t": 0.75, "kind": "module", "hex": "0d0a4f4b0d0a", "text": "\\r\\nOK\\r\\n"},
        {"t": 1.0, "kind": "note", "text": "QSSLOPEN 4: TLSv1.2 AES256-SHA"},
        {"t": 1.5, "kind": "tls_out", "client": 4, "hex": "00474554", "text": "\\x00GET"},
    ]


def test_the_trace_shows_tls_payloads_of_each_connection() -> None:
    out = io.StringIO()
    pki = TestPki()
    with ThreadedTlsEchoServer(pki.server_ctx()) as echo:
        module = VirtualModule(system_resolver=False, trace=JsonlTrace(out, clock=lambda: 0.0))
        with module, Modem.open(module.url) as modem:
            modem.sync()
            modem.activate()
            conn = modem.open_ssl(3, "127.0.0.1", echo.port)
            conn.send(b"hello")
            assert conn.recv(10, timeout=5) == b"hello"
            conn.close()
    records = [json.loads(x) for x in out.getvalue().splitlines()]
    tls = [(r["kind"], r["client"], r["text"]) for r in records if r["kind"].startswith("tls")]
    assert tls == [("tls_out", 3, "hello"), ("tls_in", 3, "hello")]
    assert Trace.null().enabled is False
