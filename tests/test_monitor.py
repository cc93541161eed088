"""``bg96 monitor``: its pure formatting, and the app headless against a real module."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from textual.widgets import DataTable, Input, Log, Static

from bg96.cli.app import build_parser
from bg96.cli.monitor import MonitorApp
from bg96.cli.monitor_model import (
    MAX_EVENT_LINES,
    MAX_LINE,
    fault_outcome,
    file_rows,
    pdp_summary,
    socket_rows,
    sockets_summary,
    ssl_rows,
    summary,
    trace_lines,
)
from bg96.module.control import ControlServer
from bg96.testing.loopback import LoopbackTlsServer

from .aio import until
from .control_support import module_with_control, open_and_echo, upload

STATUS: dict[str, Any] = {
    "registered": True,
    "stat": 1,
    "cfun": 1,
    "mode": "command",
    "pdp": {"1": "10.7.157.1"},
    "pdp_contexts": [
        {"context_id": 1, "context_type": 1, "apn": "CMCIOT", "active": True, "ip": "10.7.157.1"},
        {"context_id": 2, "context_type": 1, "apn": "", "active": False, "ip": ""},
    ],
    "sockets": [
        {"client_id": 4, "state": 2, "access_mode": 0, "host": "example.com", "port": 443,
         "sent": 120, "received": 4096, "buffered": 1000},
        {"client_id": 11, "state": 4, "access_mode": 2, "host": "10.0.0.1", "port": 8883,
         "sent": 0, "received": 0, "buffered": 0},
    ],
    "ssl_contexts": [
        {"ssl_ctx_id": 0, "sslversion": 4, "ciphersuite": 0xFFFF, "seclevel": 0, "cacert": "",
         "clientcert": "", "clientkey": ""},
        {"ssl_ctx_id": 1, "sslversion": 3, "ciphersuite": 0x0035, "seclevel": 2,
         "cacert": "ca.pem", "clientcert": "c.pem", "clientkey": "k.pem"},
    ],
    "files": {"z.pem": 10, "ca.pem": 1188},
}  # fmt: skip


def test_the_summary_lines() -> None:
    assert summary(STATUS) == "registered (stat 1) · CFUN=1 · command"
    assert summary({**STATUS, "stat": 2, "registered": False}).startswith("searching (stat 2)")
    off = "the module is not running (over TCP it powers on when a host connects)"
    assert summary({}) == off
    assert summary({**STATUS, "running": False}) == off
    assert pdp_summary(STATUS) == 'PDP 1 "CMCIOT": 10.7.157.1 · PDP 2: inactive'
    assert pdp_summary({"pdp_contexts": []}) == "no PDP context active"


def test_the_socket_table_has_all_twelve_client_ids() -> None:
    rows = socket_rows(STATUS)
    assert [key for key, _ in rows] == [str(i) for i in range(12)]
    assert rows[0] == ("0", ("0", "", "free", "", "", "", ""))
    assert rows[4][1] == ("4", "buffer", "connected", "120", "4096", "1000", "example.com:443")
    assert rows[11][1] == ("11", "transparent", "closing", "0", "0", "0", "10.0.0.1:8883")
    assert [key for key, _ in socket_rows(STATUS, free=False)] == ["4", "11"]
    assert sockets_summary(STATUS) == "client IDs in use: 2 of 12"
    plain = {
        "sockets": [
            {**STATUS["sockets"][0], "client_id": 1, "service": "TCP"},
            {**STATUS["sockets"][0], "client_id": 2, "service": "TCP LISTENER", "state": 3,
             "local_port": 2020, "host_port": 40123},
        ]
    }  # fmt: skip
    by_id = dict(socket_rows(plain, free=False))
    assert by_id["1"][6] == "tcp example.com:443"
    assert by_id["2"][2:] == ("listening", "120", "4096", "1000", "listen :2020 at :40123")


def test_ssl_and_file_rows() -> None:
    assert ssl_rows(STATUS) == [
        ("0", ("0", "all", "all", "none", "", "", "")),
        ("1", ("1", "TLS1.2", "0X0035", "mutual", "ca.pem", "c.pem", "k.pem")),
    ]
    assert file_rows(STATUS) == [("ca.pem", ("ca.pem", "1188")), ("z.pem", ("z.pem", "10"))]


def test_trace_events_read_like_the_text_trace() -> None:
    host = {"t": 0.5, "kind": "host", "hex": b"AT\r".hex(), "text": "AT\\r"}
    assert trace_lines({"event": host}) == ["     0.500 >> AT\\r"]
    answer = b'\r\n+QSSLURC: "recv",4\r\n\r\nOK\r\n'
    module = {"t": 1.25, "kind": "module", "hex": answer.hex()}
    assert trace_lines({"event": module}) == [
        '     1.250 << \\r\\n+QSSLURC: "recv",4\\r\\n',
        "     1.250 << \\r\\nOK\\r\\n",
    ]
    tls = {"t": 2.0, "kind": "tls_in", "client": 4, "hex": b"hi\\n".hex()}
    assert trace_lines({"event": tls}) == ["     2.000 4< hi\\\\n"]
    note = {"t": 3.0, "kind": "note", "text": "one\ntwo"}
    assert trace_lines({"event": note}) == ["     3.000 -- one", "     3.000 -- two"]
    assert trace_lines({"dropped": 7}) == [
        "           -- 7 trace events dropped (the monitor fell behind)"
    ]
    assert trace_lines({"event": {"t": 4.0, "kind": "new-kind", "text": "x"}}) == [
        "     4.000 ?? x"
    ]


def test_big_events_are_cut_to_size() -> None:
    many = {"t": 0.0, "kind": "tls_out", "client": 0, "hex": (b"line\n" * 100).hex()}
    lines = trace_lines({"event": many})
    assert len(lines) == MAX_EVENT_LINES + 1
    assert lines[-1] == f"     0.000 0> ... {100 - MAX_EVENT_LINES} more lines"
    long = {"t": 0.0, "kind": "module", "hex": (b"x" * (MAX_LINE + 5)).hex()}
    [line] = trace_lines({"event": long})
    assert line.endswith("x... (+5 chars)")


def test_fault_outcomes() -> None:
    assert fault_outcome("reboot", {"ok": True}) == ("fault sent: reboot", False)
    refused = {"ok": False, "error": "server-reset 3: client ID 3 has no connected socket"}
    assert fault_outcome("server-reset 3", refused) == (
        "fault refused: server-reset 3: client ID 3 has no connected socket",
        True,
    )


def test_bg96_monitor_arguments() -> None:
    args = build_parser().parse_args(
        ["monitor", "--control", "127.0.0.1:7000", "--control-token", "t"]
    )
    assert (args.command, args.control, args.token) == ("monitor", ("127.0.0.1", 7000), "t")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["monitor"])


def text_of(app: MonitorApp, selector: str) -> str:
    return str(app.query_one(selector, Static).content)


def test_the_monitor_shows_a_live_module_and_injects_faults(
    bg96_tls_server: LoopbackTlsServer,
) -> None:
    async def main() -> None:
        async with module_with_control() as bench:
            at, port = bench.at, bg96_tls_server.port
            app = MonitorApp("127.0.0.1", bench.control.port, poll=0.05, retry=0.05)
            async with app.run_test(size=(140, 50)) as pilot:
                await until(lambda: app.connected and app.trace_live)
                await upload(at, "ca.pem", bg96_tls_server.ca_pem)
                await open_and_echo(at, 4, port, b"hello")

                sockets = app.query_one("#sockets", DataTable)
                want = ["4", "buffer", "connected", "5", "5", "5", f"127.0.0.1:{port}"]
                await until(lambda: sockets.get_row("4") == want)
                assert sockets.row_count == 12 and sockets.get_row("0")[2] == "free"
                ssl = app.query_one("#ssl", DataTable)
                assert ssl.get_row("1") == ["1", "TLS1.2", "0X0035", "none", "", "", ""]
                files = app.query_one("#files", DataTable)
                assert files.get_row("ca.pem") == ["ca.pem", str(len(bg96_tls_server.ca_pem))]
                assert "registered (stat 1) · CFUN=1" in text_of(app, "#summary")
                assert "PDP 1: 10." in text_of(app, "#summary")

                log = app.query_one("#trace", Log)
                await until(lambda: any(line.endswith(" 4< hello") for line in log.lines))
                trace = "\n".join(log.lines)
                assert f'>> AT+QSSLOPEN=1,1,4,"127.0.0.1",{port},0\\r' in trace
                assert "<< \\r\\n+QSSLOPEN: 4,0\\r\\n" in trace
                assert " 4> hello" in trace

                fault = app.query_one("#fault", Input)
                await pilot.press("f")
                assert app.focused is fault
                fault.value = "server-reset 9"
                await pilot.press("enter")
                await until(lambda: "fault refused" in text_of(app, "#message"))
                assert "client ID 9" in text_of(app, "#message")
                assert fault.value == "server-reset 9"  # left to be fixed
                fault.value = "server-reset 4"
                await pilot.press("enter")
                assert await at.wait_urc(b'+QSSLURC: "closed"') == b'+QSSLURC: "closed",4'
                await until(lambda: text_of(app, "#message") == "fault sent: server-reset 4")
                await until(lambda: fault.value == "")
                await until(lambda: sockets.get_row("4")[2] == "closing")

                await bench.control.stop()  # the endpoint goes away ...
                await until(lambda: not app.connected and not app.trace_live)
                assert text_of(app, "#summary").startswith("disconnected from 127.0.0.1:")
                assert log.lines[-1].endswith("-- disconnected")
                fault.value = "reboot"
                await pilot.press("enter")
                assert text_of(app, "#message").startswith("not connected")
                again = ControlServer(bench.module, port=bench.control.port)
                await again.start()  # ... and comes back
                try:
                    await until(lambda: app.connected and app.trace_live)
                    await pilot.press("escape", "q")
                    await until(lambda: not app.is_running)
                finally:
                    await again.stop()

    asyncio.run(asyncio.wait_for(main(), 30))


def test_the_monitor_fits_an_80x24_terminal(bg96_tls_server: LoopbackTlsServer) -> None:
    """Every panel on the screen, no table cut or scrolled: the short layout lists the client
    IDs in use (the summary counts them), all six SSL contexts and the files."""

    async def main() -> None:
        async with module_with_control() as bench:
            at, port = bench.at, bg96_tls_server.port
            app = MonitorApp("127.0.0.1", bench.control.port, poll=0.05, retry=0.05)
            async with app.run_test(size=(80, 24)) as pilot:
                await until(lambda: app.connected and app.trace_live)
                assert app.short
                await upload(at, "AmazonRootCA1.pem", bg96_tls_server.ca_pem)
                await open_and_echo(at, 4, port, b"hello")
                sockets = app.query_one("#sockets", DataTable)
                await until(lambda: sockets.row_count == 1 and sockets.get_row("4")[5] == "5")
                log = app.query_one("#trace", Log)
                await until(lambda: any(line.endswith(" 4< hello") for line in log.lines))
                await pilot.pause()
                screen = app.screen.region
                for selector in ("#summary", "#sockets", "#ssl", "#files", "#trace", "#fault",
                                 "#message", "Footer"):  # fmt: skip
                    region = app.query_one(selector).region
                    assert region.area and screen.contains_region(region), (selector, region)
                for selector in ("#sockets", "#ssl", "#files"):
                    table = app.query_one(selector, DataTable)
                    assert (table.max_scroll_x, table.max_scroll_y) == (0, 0), selector
                assert app.query_one("#ssl", DataTable).row_count == 6
                assert app.query_one("#files", DataTable).get_row("AmazonRootCA1.pem")[0] == (
                    "AmazonRootCA1.pem"
                )
                summary = app.query_one("#summary", Static)
                lines = text_of(app, "#summary").split("\n")
                assert len(lines) == 2 and lines[1].endswith("client IDs in use: 1 of 12")
                assert all(len(line) <= summary.content_region.width for line in lines), lines
                assert log.region.height >= 4  # the trace keeps lines of its own
                await pilot.resize_terminal(140, 50)  # tall: all twelve IDs again
                await until(lambda: sockets.row_count == 12)
                await pilot.press("q")

    asyncio.run(asyncio.wait_for(main(), 30))
