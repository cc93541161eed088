"""The control endpoint (bg96 serve --control) and bg96 fault."""

from __future__ import annotations

import asyncio
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
from bg96.module.control import ControlError, ControlServer, request
from bg96.testing.at_client import AtClient


def run(body: Coroutine[Any, Any, None]) -> None:
    asyncio.run(body)


async def with_module(token: str = "") -> tuple[VirtualModule, ControlServer, AtClient]:
    module = VirtualModule(system_resolver=False)
    await module.start()
    control = ControlServer(module, token=token)
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
