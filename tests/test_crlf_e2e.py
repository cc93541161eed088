"""A CR LF host's line end split across two writes, through the runner and a real socket."""

from __future__ import annotations

import asyncio

import pytest

from bg96 import VirtualModule
from bg96.engine import core
from bg96.testing import TestPki
from bg96.testing.at_client import AtClient
from bg96.testing.tls_server import ThreadedTlsEchoServer


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return TestPki("bg96 crlf CA")


def test_the_prompt_waits_for_the_lf_and_then_comes_without_it(
    pki: TestPki, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(core, "LF_WAIT", 0.3)  # 20 ms is tight for a loaded test machine

    async def main(server_port: int) -> None:
        async with VirtualModule() as module:
            at = await AtClient.connect("127.0.0.1", int(module.url.rsplit(":", 1)[1]))
            await at.read_until(b"APP RDY\r\n")
            for line in (b"ATE0", b"AT+QIACT=1", b'AT+QSSLCFG="sslversion",1,3'):
                at.write(line + b"\r\n")  # a CR LF host
                assert (await at.response()).endswith(b"OK\r\n")
            at.write(b'AT+QSSLOPEN=1,1,0,"127.0.0.1",%d,0\r\n' % server_port)
            assert await at.response() == b"\r\nOK\r\n"
            assert await at.wait_urc(b"+QSSLOPEN:") == b"+QSSLOPEN: 0,0"
            # CR now, LF 5 ms later: the prompt only after the LF, which is not data
            at.write(b"AT+QSSLSEND=0,5\r")
            with pytest.raises(TimeoutError):
                await at.read_until(b"> ", timeout=0.005)  # nothing yet
            assert at.buffer == b""
            at.write(b"\n")
            assert await at.read_until(b"> ", timeout=1) == b"\r\n> "
            at.write(b"hello")
            assert await at.response() == b"\r\nSEND OK\r\n"
            await at.wait_urc(b'+QSSLURC: "recv",0')  # the echo
            # a CR whose LF never comes: the prompt LF_WAIT later, and a LF then is data
            at.write(b"AT+QSSLSEND=0,5\r")
            assert await at.read_until(b"> ", timeout=1) == b"\r\n> "
            at.write(b"\nhell")
            assert await at.response() == b"\r\nSEND OK\r\n"
            await at.close()

    with ThreadedTlsEchoServer(pki.server_ctx()) as server:
        asyncio.run(main(server.port))
