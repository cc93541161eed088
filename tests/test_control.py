"""The control endpoint (bg96 serve --control) and bg96 fault."""

from __future__ import annotations

import asyncio
import gc
import json
import re
import signal
import subprocess
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest

from bg96 import VirtualModule
from bg96.module.control import (
    MAX_CONNECTIONS,
    MAX_REQUEST,
    ControlError,
    ControlServer,
    request,
)
from bg96.testing.at_client import AtClient

from .aio import until

STATUS = b'{"op": "status"}\n'


def run(body: Coroutine[Any, Any, None]) -> None:
    asyncio.run(body)


async def with_module(
    token: str = "", **limits: Any
) -> tuple[VirtualModule, ControlServer, AtClient]:
    module = VirtualModule(system_resolver=False)
    await module.start()
    control = ControlServer(module, token=token, **limits)
    await control.start()
    at = await AtClient.connect("127.0.0.1", int(module.url.rsplit(":", 1)[1]))
    await at.read_until(b"+QIND: SMS DONE\r\n")
    return module, control, at


def test_a_fault_through_the_endpoint_reaches_the_module() -> None:
    async def main() -> None:
        module, control, at = await with_module()
        try:
            assert await at.command("ATE0") == b"ATE0\r\r\nOK\r\n"
            await at.command("AT+QIACT=1")
            answer = await request(
                "127.0.0.1", control.port, {"op": "fault", "script": "pdp-deactivate 1"}
            )
            assert answer == {"ok": True}
            assert await at.wait_urc(b'+QIURC: "pdpdeact"') == b'+QIURC: "pdpdeact",1'
            status = await request("127.0.0.1", control.port, {"op": "status"})
            assert status["ok"] and status["status"]["pdp"] == {}
        finally:
            await at.close()
            await control.stop()
            await module.stop()

    run(main())


def test_bad_requests_get_clear_errors_and_change_nothing() -> None:
    async def main() -> None:
        module, control, at = await with_module()
        try:
            for payload, error in (
                ({"op": "fault", "script": "explode 1"}, "unknown fault"),
                ({"op": "fault", "script": "server-reset 7"}, ""),
                ({"op": "fault"}, '"script" must be a string'),
                ({"op": "dance"}, "unknown op"),
            ):
                answer = await request("127.0.0.1", control.port, payload)
                assert answer["ok"] is False and error in answer["error"], (payload, answer)
            for garbage in (b"\x00\xffgarbage\n", b"[1, 2]\n", b"[" * 30000 + b"\n"):
                reader, writer = await asyncio.open_connection("127.0.0.1", control.port)
                writer.write(garbage + b'{"op": "status"}\n')
                await writer.drain()
                assert json.loads(await reader.readline())["error"] == "not a JSON object"
                assert await reader.readline() == b""  # not this protocol: nothing more read
                writer.close()
            # an HTTP POST from a web page: the request line ends the connection
            reader, writer = await asyncio.open_connection("127.0.0.1", control.port)
            writer.write(b'POST / HTTP/1.1\r\n\r\n{"op": "fault", "script": "reboot"}\n')
            await writer.drain()
            assert json.loads(await reader.readline())["ok"] is False
            assert await reader.readline() == b""
            writer.close()
            # a script that fails on its second line says so
            answer = await request(
                "127.0.0.1",
                control.port,
                {"op": "fault", "script": "at 600s reboot\nserver-reset 7"},
            )
            assert answer["error"].startswith("line 2: ")
            assert answer["error"].endswith("(the lines before it have acted)")
            reader, writer = await asyncio.open_connection("127.0.0.1", control.port)
            writer.write(b'{"op": "fau')  # and then it goes away mid-request
            writer.close()
            assert await at.command("AT") == b"AT\r\r\nOK\r\n"
        finally:
            await at.close()
            await control.stop()
            await module.stop()

    run(main())


def test_a_token_is_required_when_set_and_off_loopback() -> None:
    async def main() -> None:
        module, control, at = await with_module(token="s3cret")
        try:
            answer = await request("127.0.0.1", control.port, {"op": "status"})
            assert answer == {"ok": False, "error": "bad or missing token"}
            answer = await request("127.0.0.1", control.port, {"op": "status"}, token="nope")
            assert answer["ok"] is False
            answer = await request("127.0.0.1", control.port, {"op": "status"}, token="n\u00f6")
            assert answer == {"ok": False, "error": "bad or missing token"}
            answer = await request("127.0.0.1", control.port, {"op": "status"}, token="s3cret")
            assert answer["ok"] is True
        finally:
            await at.close()
            await control.stop()
            await module.stop()

    run(main())
    with pytest.raises(ControlError, match="needs a token"):
        ControlServer(VirtualModule(), host="0.0.0.0")


def test_bg96_fault_against_bg96_serve(tmp_path: Path) -> None:
    serve = subprocess.Popen(
        [sys.executable, "-m", "bg96", "serve", "--tcp", "127.0.0.1:0", "--files", str(tmp_path),
         "--control", "127.0.0.1:0"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert serve.stdout is not None
        lines = [serve.stdout.readline(), serve.stdout.readline()]
        control = re.search(r"control endpoint on 127\.0\.0\.1:(\d+)", "".join(lines))
        assert control, lines
        where = f"127.0.0.1:{control.group(1)}"
        fault = [sys.executable, "-m", "bg96", "fault", "--control", where]
        ok = subprocess.run([*fault, "at 60s reboot"], capture_output=True, text=True, timeout=30)
        assert ok.returncode == 0, ok.stderr
        bad = subprocess.run([*fault, "nonsense"], capture_output=True, text=True, timeout=30)
        assert bad.returncode == 1 and "unknown fault" in bad.stderr
        status = subprocess.run([*fault, "--status"], capture_output=True, text=True, timeout=30)
        assert status.returncode == 0, status.stderr
        state = json.loads(status.stdout)  # no host has connected: the module is still off
        assert (state["running"], state["registered"], state["stat"]) == (False, False, 0)
    finally:
        serve.send_signal(signal.SIGINT)
        assert serve.wait(10) == 0
    refused = subprocess.run(
        [sys.executable, "-m", "bg96", "serve", "--tcp", "127.0.0.1:0", "--files", str(tmp_path),
         "--control", "0.0.0.0:0"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert refused.returncode == 2 and "needs a token" in refused.stderr


def loop_errors() -> list[dict[str, Any]]:
    """What reaches the running loop's exception handler from now on (nothing should)."""
    errors: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, context: errors.append(context))
    return errors


async def answered(port: int) -> dict[str, Any]:
    """A fresh connection's answer to a status request."""
    answer = await asyncio.wait_for(request("127.0.0.1", port, {"op": "status"}), 5)
    assert isinstance(answer, dict)
    return answer


async def closed(reader: asyncio.StreamReader) -> bool:
    """The endpoint closed the connection (a FIN, or a reset when it left bytes unread)."""
    try:
        return await asyncio.wait_for(reader.read(), 5) == b""
    except ConnectionResetError:
        return True


def test_a_connection_flood_leaves_the_endpoint_answering() -> None:
    async def main() -> None:
        module, control, at = await with_module()
        errors = loop_errors()
        port = control.port
        full = f"{MAX_CONNECTIONS} control connections open already; try later"
        try:
            flood = [await asyncio.open_connection("127.0.0.1", port) for _ in range(300)]
            held, over = flood[:MAX_CONNECTIONS], flood[MAX_CONNECTIONS:]
            for reader, writer in over:  # answered and closed, while the first ones idle
                assert json.loads(await reader.readline()) == {"ok": False, "error": full}
                assert await closed(reader)
                writer.close()
            assert control.connections == MAX_CONNECTIONS
            assert await answered(port) == {"ok": False, "error": full}  # still accepting
            reader, writer = held[-1]
            writer.write(STATUS)  # a held connection is served as ever
            assert json.loads(await reader.readline())["ok"] is True
            for _, writer in held:
                writer.close()
            await until(lambda: control.connections == 0)
            assert (await answered(port))["ok"] is True
            # a burst of connections that reset at once, some halfway through a request
            for i in range(300):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                if i % 2:
                    writer.write(b'{"op": "sta')
                writer.transport.abort()
            await until(lambda: control.connections == 0)
            assert (await answered(port))["ok"] is True
            assert await at.command("AT") == b"AT\r\r\nOK\r\n"
            assert errors == []
        finally:
            await at.close()
            await control.stop()
            await module.stop()

    run(main())


def test_an_idle_connection_is_closed_after_the_timeout() -> None:
    async def main() -> None:
        module, control, at = await with_module(idle_timeout=0.3, max_connections=2)
        errors = loop_errors()
        loop = asyncio.get_running_loop()
        idle = {"ok": False, "error": "no complete request for 0.3 s; closing"}
        try:
            started = loop.time()
            held = [await asyncio.open_connection("127.0.0.1", control.port) for _ in range(2)]
            assert (await answered(control.port))["ok"] is False  # both places taken
            for reader, _ in held:
                assert json.loads(await reader.readline()) == idle
                assert await closed(reader)
            assert loop.time() - started >= 0.3
            await until(lambda: control.connections == 0)
            assert (await answered(control.port))["ok"] is True  # their places are free
            # a client that keeps asking is never idle, however long it stays
            reader, writer = await asyncio.open_connection("127.0.0.1", control.port)
            for _ in range(15):
                writer.write(STATUS)
                assert json.loads(await reader.readline())["ok"] is True
                await asyncio.sleep(0.03)  # the client's pace: 0.45 s in all
            writer.close()
            assert errors == []
        finally:
            await at.close()
            await control.stop()
            await module.stop()

    run(main())


def test_hostile_request_lines_get_an_answer_or_a_close_and_the_endpoint_stays_up() -> None:
    async def main() -> None:
        module, control, at = await with_module(idle_timeout=0.3)
        errors = loop_errors()
        port = control.port
        nested = 500  # deep, yet within what json and repr take
        try:
            for line in (
                b"x" * (MAX_REQUEST + 10) + b"\n",  # over the limit
                b"{" * (1 << 20),  # a mebibyte and no line end
            ):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(line)
                try:
                    answer = await asyncio.wait_for(reader.readline(), 5)
                except ConnectionResetError:
                    answer = b""  # it closed with our bytes unread: a reset instead
                assert answer in (b"", b'{"ok": false, "error": "request too long"}\n')
                assert await closed(reader)
                writer.close()
            for line, error in (
                (b'{"op": "status", "x": "\xff\xfe"}\n', "not a JSON object"),  # not UTF-8
                (b"\xc3\x28\xa0\xa1\n", "not a JSON object"),
                (b'{"op": "status", "x": ' + b"[" * 30000 + b"]" * 30000 + b"}\n", "not a JSON"),
                (b'{"op": ' + b"[" * nested + b"]" * nested + b"}\n", "unknown op [[[["),
                (b'{"op": "fault", "script": ' + b"{}" + b"}\n", '"script" must be a string'),
                (b'{"op": "status", "token": ' + b"[" * nested + b"]" * nested + b"}\n", ""),
            ):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(line)
                answer = json.loads(await asyncio.wait_for(reader.readline(), 5))
                assert answer["ok"] is (error == ""), (line[:40], answer)
                assert error in answer.get("error", ""), (line[:40], answer)
                writer.close()
            # a slow-loris sender: bytes trickle in, never a line end
            reader, writer = await asyncio.open_connection("127.0.0.1", port)

            async def trickle() -> None:
                for byte in b'{"op": "status"' * 100:
                    writer.write(bytes([byte]))
                    await asyncio.sleep(0.02)

            sender = asyncio.create_task(trickle())
            try:
                answer = json.loads(await asyncio.wait_for(reader.readline(), 5))
                assert answer == {"ok": False, "error": "no complete request for 0.3 s; closing"}
                assert not sender.done()  # it was still sending: closed all the same
            finally:
                sender.cancel()
            assert await closed(reader)
            writer.transport.abort()
            await until(lambda: control.connections == 0)
            assert (await answered(port))["ok"] is True
            assert await at.command("AT") == b"AT\r\r\nOK\r\n"
            gc.collect()  # a task's unretrieved exception would be reported now
            assert errors == []
        finally:
            await at.close()
            await control.stop()
            await module.stop()

    run(main())
