"""A virtual module with its control endpoint, and a host session on it, for the control and
monitor tests (all in the caller's event loop, on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from bg96 import VirtualModule
from bg96.module.control import ControlServer
from bg96.testing.at_client import AtClient

OK = b"\r\nOK\r\n"


@dataclass
class Bench:
    module: VirtualModule
    control: ControlServer
    at: AtClient


@asynccontextmanager
async def module_with_control(token: str = "", **limits: Any) -> AsyncIterator[Bench]:
    """A running module, its control endpoint (``limits``: ``max_connections``,
    ``idle_timeout``) and a booted host (echo off)."""
    module = VirtualModule(system_resolver=False)
    await module.start()
    control = ControlServer(module, token=token, **limits)
    await control.start()
    at = await AtClient.connect("127.0.0.1", int(module.url.rsplit(":", 1)[1]))
    try:
        await at.read_until(b"+QIND: SMS DONE\r\n")
        assert await at.command("ATE0") == b"ATE0\r" + OK
        yield Bench(module, control, at)
    finally:
        await at.close()
        await control.stop()
        await module.stop()


async def upload(at: AtClient, name: str, data: bytes) -> None:
    assert await at.command(f'AT+QFUPL="{name}",{len(data)},5') == b"\r\nCONNECT\r\n"
    at.write(data)
    assert (await at.response()).endswith(OK)


async def open_and_echo(at: AtClient, client_id: int, port: int, payload: bytes) -> None:
    """SSL context 1 (TLS 1.2, AES256-SHA, no verification), PDP 1, buffer mode; send
    ``payload`` and wait until the echo is in the module's buffer (unread)."""
    assert await at.command("AT+QIACT=1") == OK
    for line in ('AT+QSSLCFG="sslversion",1,3', 'AT+QSSLCFG="ciphersuite",1,0X0035'):
        assert await at.command(line) == OK, line
    assert await at.command(f'AT+QSSLOPEN=1,1,{client_id},"127.0.0.1",{port},0') == OK
    assert await at.wait_urc(b"+QSSLOPEN: ") == f"+QSSLOPEN: {client_id},0".encode()
    at.write(f"AT+QSSLSEND={client_id},{len(payload)}\r".encode())
    assert await at.read_until(b"> ") == b"\r\n> "
    at.write(payload)
    assert await at.response() == b"\r\nSEND OK\r\n"
    assert await at.wait_urc(b'+QSSLURC: "recv"') == f'+QSSLURC: "recv",{client_id}'.encode()
