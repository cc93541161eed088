"""The control endpoint's status fields and its live trace (the ``trace`` op, ``TeeTrace``)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import socket
from collections.abc import Callable
from typing import Any

import pytest

import bg96.module.control as control
from bg96.module.control import ControlClient, ControlError, request
from bg96.module.trace import JsonlTrace, TeeTrace
from bg96.testing.loopback import LoopbackTlsServer

from .aio import run, until
from .control_support import OK, module_with_control, open_and_echo, upload


async def events_until(
    client: ControlClient, predicate: Callable[[dict[str, Any]], bool]
) -> list[dict[str, Any]]:
    """Trace events from ``client`` up to and including the first that ``predicate`` likes."""
    seen: list[dict[str, Any]] = []
    async for item in client.lines():
        seen.append(item["event"])
        if predicate(item["event"]):
            return seen
    raise AssertionError(f"the stream ended; got {seen}")


def test_status_has_registration_pdp_every_socket_field_ssl_contexts_and_files(
    bg96_tls_server: LoopbackTlsServer,
) -> None:
    async def main() -> None:
        async with module_with_control() as bench:
            at, port = bench.at, bench.control.port
            await upload(at, "ca.pem", bg96_tls_server.ca_pem)
            await open_and_echo(at, 4, bg96_tls_server.port, b"hello")
            status = (await request("127.0.0.1", port, {"op": "status"}))["status"]
            assert (status["registered"], status["stat"], status["cfun"]) == (True, 1, 1)
            assert status["mode"] == "command"
            [pdp] = status["pdp_contexts"]
            assert pdp == {
                "context_id": 1,
                "context_type": 1,
                "apn": "",
                "active": True,
                "ip": status["pdp"]["1"],
            }
            [sock] = status["sockets"]
            assert sock["local_port"] > 0
            assert sock == {
                "client_id": 4,
                "state": 2,
                "access_mode": 0,
                "host": "127.0.0.1",
                "port": bg96_tls_server.port,
                "remote_ip": "127.0.0.1",
                "local_port": sock["local_port"],
                "pdp_ctx": 1,
                "ssl_ctx": 1,
                "sent": 5,
                "unsent": 0,
                "received": 5,
                "read": 0,
                "buffered": 5,
                "service": "SSLClient",
                "host_port": 0,
            }
            assert await at.command("AT+QSSLRECV=4,2") == b"\r\n+QSSLRECV: 2\r\nhe\r\n" + OK
            status = (await request("127.0.0.1", port, {"op": "status"}))["status"]
            assert (status["sockets"][0]["read"], status["sockets"][0]["buffered"]) == (2, 3)
            contexts = status["ssl_contexts"]
            assert [c["ssl_ctx_id"] for c in contexts] == [0, 1, 2, 3, 4, 5]
            assert (contexts[1]["sslversion"], contexts[1]["ciphersuite"]) == (3, 0x0035)
            assert contexts[0] == {
                "ssl_ctx_id": 0,
                "sslversion": 4,
                "ciphersuite": 0xFFFF,
                "seclevel": 0,
                "cacert": "",
                "clientcert": "",
                "clientkey": "",
                "ignorelocaltime": 1,
                "negotiatetime": 300,
                "sni": 0,
                "checkhost": "0",
            }
            assert status["files"] == {"ca.pem": len(bg96_tls_server.ca_pem)}

    run(main)


def test_bytes_sent_in_transparent_mode_count_too(bg96_tls_server: LoopbackTlsServer) -> None:
    async def main() -> None:
        async with module_with_control() as bench:
            at = bench.at
            await open_and_echo(at, 4, bg96_tls_server.port, b"x")
            line = f'AT+QSSLOPEN=1,1,5,"127.0.0.1",{bg96_tls_server.port},2'
            assert await at.command(line) == b"\r\nCONNECT\r\n"
            at.write(b"transparent")
            assert await at.read_exactly(11) == b"transparent"
            status = (await request("127.0.0.1", bench.control.port, {"op": "status"}))["status"]
            sock = status["sockets"][1]
            assert (sock["client_id"], sock["access_mode"], sock["sent"]) == (5, 2, 11)
            assert status["mode"] == "transparent"

    run(main)


def test_a_trace_subscription_streams_the_module_s_events() -> None:
    async def main() -> None:
        async with module_with_control() as bench:
            client = await ControlClient.connect("127.0.0.1", bench.control.port)
            await client.subscribe_trace()
            assert bench.module.trace.listeners == 1
            assert await bench.at.command("AT+CGATT?") == b"\r\n+CGATT: 1\r\n" + OK
            seen = await events_until(client, lambda e: e["kind"] == "module")
            assert seen[0] == {
                "t": seen[0]["t"],
                "kind": "host",
                "hex": b"AT+CGATT?\r".hex(),
                "text": "AT+CGATT?\\r",
            }
            assert seen[-1]["text"] == "\\r\\n+CGATT: 1\\r\\n\\r\\nOK\\r\\n"
            assert all(isinstance(e["t"], float) for e in seen)
            # a fault's note comes through as a note event
            await request("127.0.0.1", bench.control.port, {"op": "fault", "script": "reboot"})
            notes = await events_until(client, lambda e: e["kind"] == "module")
            assert b"RDY" in bytes.fromhex(notes[-1]["hex"])
            await client.close()
            await until(lambda: bench.module.trace.listeners == 0)

    run(main)


def test_a_subscriber_that_goes_away_leaves_the_module_alone() -> None:
    async def main() -> None:
        async with module_with_control() as bench:
            for _ in range(3):
                reader, writer = await asyncio.open_connection("127.0.0.1", bench.control.port)
                writer.write(b'{"op": "trace"}\n')
                assert json.loads(await reader.readline()) == {"ok": True}
                bench.at.write(b"AT\r")  # events on their way while it leaves
                writer.transport.abort()  # a reset, not a goodbye
                assert await bench.at.response() == OK
            await until(lambda: bench.module.trace.listeners == 0)
            assert await bench.at.command("AT") == OK

    run(main)


def test_a_stalled_subscriber_loses_the_oldest_events_and_holds_nothing_up(
    bg96_tls_server: LoopbackTlsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(control, "TRACE_QUEUE_BYTES", 50_000)
    data = bytes(range(256)) * 8192  # 2 MiB each way: some 20 MB of trace

    async def main() -> None:
        async with module_with_control() as bench:
            at = bench.at
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", bench.control.port))
            reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 24)
            writer.write(b'{"op": "trace"}\n')
            assert json.loads(await reader.readline()) == {"ok": True}
            # from here on the subscriber reads nothing: the module goes on at full speed
            assert await at.command("AT+QIACT=1") == OK
            open_line = f'AT+QSSLOPEN=1,1,4,"127.0.0.1",{bg96_tls_server.port},2'
            assert await at.command(open_line) == b"\r\nCONNECT\r\n"
            at.write(data)
            assert await at.read_exactly(len(data)) == data
            dropped, last = 0, {"kind": "none", "hex": "00"}

            def caught_up() -> bool:  # some events lost, and the data's end has come
                return dropped > 0 and data.endswith(bytes.fromhex(last["hex"]))

            async def read_on() -> None:
                nonlocal dropped, last
                while not caught_up():
                    item = json.loads(await reader.readline())
                    dropped += item.get("dropped", 0)
                    if item.get("event", {}).get("kind") == "module":
                        last = item["event"]

            await asyncio.wait_for(read_on(), 20)
            assert dropped > 0
            assert last["kind"] == "module"  # the newest events were kept
            assert data.endswith(bytes.fromhex(last["hex"]))
            writer.close()

    run(main)


def test_a_subscriber_is_never_idle_while_it_reads_and_dropped_when_it_stops() -> None:
    """Subscribers send no requests: the idle timeout leaves them alone while they read, or
    while nothing waits for them; one that takes no byte for that long is dropped."""

    async def main() -> None:
        async with module_with_control(idle_timeout=0.4) as bench:
            reading = await ControlClient.connect("127.0.0.1", bench.control.port)
            await reading.subscribe_trace()
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", bench.control.port))
            reader, writer = await asyncio.open_connection(sock=sock)
            writer.write(b'{"op": "trace"}\n')
            assert json.loads(await reader.readline()) == {"ok": True}
            await asyncio.sleep(0.6)  # longer than the timeout, without a request or an event
            assert bench.control.subscribers == 2
            last = ""

            async def read_on() -> None:
                nonlocal last
                async for item in reading.lines():
                    last = item.get("event", {}).get("text", last)

            consumer = asyncio.create_task(read_on())
            note = "x" * 65536
            async with asyncio.timeout(10):  # events pile up for the stalled one: it goes
                while bench.control.subscribers == 2:
                    bench.module.trace.note(note)
                    await asyncio.sleep(0.01)
            assert bench.control.subscribers == 1
            async with asyncio.timeout(5):  # its connection ends, after what it had
                with contextlib.suppress(ConnectionResetError):
                    while await reader.read(65536):
                        pass
            bench.module.trace.note("after")  # the one that reads is served on
            await until(lambda: last == "after")
            assert not consumer.done() and bench.module.trace.listeners == 1
            consumer.cancel()
            await reading.close()
            writer.close()
            await until(lambda: bench.control.connections == 0)

    run(main)


def test_the_trace_op_needs_the_token_like_the_others() -> None:
    async def main() -> None:
        async with module_with_control(token="s3cret") as bench:
            port = bench.control.port
            answer = await request("127.0.0.1", port, {"op": "trace"})
            assert answer == {"ok": False, "error": "bad or missing token"}
            refused = await ControlClient.connect("127.0.0.1", port, "nope")
            with pytest.raises(ControlError, match="bad or missing token"):
                await refused.subscribe_trace()
            await refused.close()
            assert bench.module.trace.listeners == 0
            client = await ControlClient.connect("127.0.0.1", port, "s3cret")
            await client.subscribe_trace()
            assert await bench.at.command("AT") == OK
            seen = await events_until(client, lambda e: e["kind"] == "module")
            assert seen[-1]["text"] == "\\r\\nOK\\r\\n"
            await client.close()

    run(main)


def test_stopping_the_endpoint_ends_its_subscriptions() -> None:
    async def main() -> None:
        async with module_with_control() as bench:
            client = await ControlClient.connect("127.0.0.1", bench.control.port)
            await client.subscribe_trace()
            await bench.control.stop()
            assert [item async for item in client.lines()] == []
            assert bench.module.trace.listeners == 0
            await client.close()

    run(main)


def test_the_subscriber_queue_drops_the_oldest_and_counts_them() -> None:
    async def main() -> None:
        sub = control._Subscriber()

        def push(event: dict[str, object]) -> None:
            sub.push(json.dumps({"event": event}).encode() + b"\n")

        for i in range(control.TRACE_QUEUE_EVENTS + 7):
            push({"t": 0.0, "kind": "note", "text": str(i)})
        lines = [json.loads(x) for x in sub.take().splitlines()]
        assert lines[0] == {"dropped": 7}
        assert lines[1] == {"event": {"t": 0.0, "kind": "note", "text": "7"}}
        assert len(lines) == control.TRACE_QUEUE_EVENTS + 1
        assert sub.take() == b"" and sub.size == 0
        big = {"t": 0.0, "kind": "note", "text": "x" * (control.TRACE_QUEUE_BYTES // 3)}
        for _ in range(5):
            push(big)
        assert json.loads(sub.take().splitlines()[0]) == {"dropped": 3}
        huge = {"t": 0.0, "kind": "note", "text": "x" * control.TRACE_QUEUE_BYTES}
        push(huge)  # the newest event stays, however big
        assert [json.loads(x) for x in sub.take().splitlines()] == [{"event": huge}]

    asyncio.run(main())


def test_the_tee_writes_the_inner_trace_and_gives_listeners_jsonl_records() -> None:
    times = iter([0.0, 1.0, 2.0, 3.0])
    out = io.StringIO()
    tee = TeeTrace(JsonlTrace(out, clock=lambda: 5.0), clock=lambda: next(times))
    assert tee.enabled
    got: list[dict[str, object]] = []
    tee.host_to_module(b"AT\r")  # nobody listens yet: only the inner trace has it
    tee.listen(got.append)
    tee.module_to_host(b"\r\nOK\r\n")
    tee.tls_received(3, b"hi")
    tee.note("a note")
    tee.tls_sent(3, b"")  # empty: nothing
    assert got == [
        {"t": 1.0, "kind": "module", "hex": "0d0a4f4b0d0a", "text": "\\r\\nOK\\r\\n"},
        {"t": 2.0, "kind": "tls_in", "client": 3, "hex": "6869", "text": "hi"},
        {"t": 3.0, "kind": "note", "text": "a note"},
    ]
    assert len(out.getvalue().splitlines()) == 4


def test_a_listener_that_raises_is_dropped_and_the_null_tee_costs_nothing() -> None:
    tee = TeeTrace()
    assert not tee.enabled
    got: list[dict[str, object]] = []

    def broken(event: dict[str, object]) -> None:
        raise RuntimeError("boom")

    tee.listen(broken)
    tee.listen(got.append)
    assert tee.enabled and tee.listeners == 2
    tee.host_to_module(b"AT\r")
    assert tee.listeners == 1 and len(got) == 1
    tee.unlisten(got.append)
    tee.unlisten(got.append)  # twice: no error
    assert not tee.enabled and tee.listeners == 0
