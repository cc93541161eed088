"""HTTP(S) end to end: the virtual module's HTTP client against loopback HTTP and HTTPS
servers (Python's ``http.server``), driven over its AT port byte by byte."""

from __future__ import annotations

import asyncio
import hashlib
import re
from pathlib import Path

import pytest

from bg96 import VirtualModule
from bg96.engine import ModuleConfig
from bg96.module.faults import FaultScript
from bg96.module.status import snapshot
from bg96.protocol.checksum import checksum, format_checksum
from bg96.testing import TestPki
from bg96.testing.at_client import AtClient
from bg96.testing.http_server import HttpServer, payload

OK = b"\r\nOK\r\n"
LOOPBACK = "127.0.0.1"
READ_END = b"\r\nOK\r\n\r\n+QHTTPREAD: 0\r\n"


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return TestPki("bg96 http tests CA")


async def booted(module: VirtualModule) -> AtClient:
    at = await AtClient.connect(LOOPBACK, int(module.url.rsplit(":", 1)[1]))
    await at.read_until(b"+QIND: SMS DONE\r\n")
    assert await at.command("ATE0") == b"ATE0\r" + OK
    assert await at.command("AT+CEREG=1") == OK
    if b"+CEREG: 1,1" not in await at.command("AT+CEREG?"):  # a network profile's attach
        await at.wait_urc(b"+CEREG: 1", 30)
    assert await at.command("AT+QIACT=1", 30) == OK
    return at


async def set_url(at: AtClient, url: str) -> None:
    assert await at.command(f"AT+QHTTPURL={len(url)},10") == b"\r\nCONNECT\r\n"
    at.write(url.encode())
    assert await at.response() == OK


async def get(at: AtClient, url: str, rsptime: int = 20) -> bytes:
    """GET ``url``; its result URC."""
    await set_url(at, url)
    assert await at.command(f"AT+QHTTPGET={rsptime}") == OK
    return await at.wait_urc(b"+QHTTPGET: ", rsptime + 5)


async def read(at: AtClient, timeout: float = 30) -> bytes:
    """AT+QHTTPREAD: the bytes between CONNECT and the final OK (+QHTTPREAD: 0)."""
    assert await at.command("AT+QHTTPREAD=20") == b"\r\nCONNECT\r\n"
    return (await at.read_until(READ_END, timeout))[: -len(READ_END)]


async def upload(at: AtClient, name: str, data: bytes) -> None:
    assert await at.command(f'AT+QFUPL="{name}",{len(data)},5') == b"\r\nCONNECT\r\n"
    at.write(data)
    assert (await at.response()).endswith(OK)


async def trust(at: AtClient, pki: TestPki) -> None:
    """SSL context 1 verifies the server against the test CA."""
    await upload(at, "ca.pem", pki.ca_pem)
    for line in (
        'AT+QSSLCFG="cacert",1,"ca.pem"',
        'AT+QSSLCFG="seclevel",1,1',
        'AT+QSSLCFG="sslversion",1,4',
        'AT+QSSLCFG="ciphersuite",1,0XFFFF',
        'AT+QHTTPCFG="sslctxid",1',
    ):
        assert await at.command(line) == OK, line


def run(main: object) -> None:
    asyncio.run(main)  # type: ignore[arg-type]


def test_get_over_http_with_status_codes_and_bodies(http: HttpServer) -> None:
    async def main() -> None:
        async with VirtualModule(system_resolver=False) as module:
            at = await booted(module)
            assert await get(at, http.url("/fixed/1000")) == b"+QHTTPGET: 0,200,1000"
            assert await read(at) == payload(1000)
            assert await get(at, http.url("/chunked/10000")) == b"+QHTTPGET: 0,200"
            assert await read(at) == payload(10000)
            assert await get(at, http.url("/status/204")) == b"+QHTTPGET: 0,204"
            assert await read(at) == b""
            for code in (301, 404, 500):
                body = f"status {code}\n".encode()
                urc = await get(at, http.url(f"/status/{code}"))
                assert urc == f"+QHTTPGET: 0,{code},{len(body)}".encode()
                assert await read(at) == body  # a redirect is not followed
            await at.close()

    run(main())


def test_https_get_a_body_larger_than_one_read_with_headers(
    https: HttpServer, pki: TestPki
) -> None:
    size = 300_000  # several buffers' worth: the server is paused and resumed

    async def main() -> None:
        async with VirtualModule(system_resolver=False) as module:
            at = await booted(module)
            await trust(at, pki)
            assert await at.command('AT+QHTTPCFG="responseheader",1') == OK
            assert await get(at, https.url(f"/fixed/{size}")) == f"+QHTTPGET: 0,200,{size}".encode()
            got = await read(at)
            head, _, body = got.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 OK\r\n")
            assert f"Content-Length: {size}".encode() in head
            assert body == payload(size)
            await at.close()

    run(main())


def test_post_and_a_custom_request_header(http: HttpServer) -> None:
    async def main() -> None:
        async with VirtualModule(system_resolver=False) as module:
            at = await booted(module)
            await set_url(at, http.url("/echo"))
            assert await at.command('AT+QHTTPCFG="contenttype",1') == OK
            body = b"Message=HelloQuectel"
            at.write(f"AT+QHTTPPOST={len(body)},10,10\r".encode())
            assert await at.read_until(b"\r\nCONNECT\r\n") == b"\r\nCONNECT\r\n"
            at.write(body)
            assert await at.response() == OK
            assert await at.wait_urc(b"+QHTTPPOST: ") == b"+QHTTPPOST: 0,200,20"
            assert await read(at) == body
            recorded = http.requests[-1]
            assert recorded.header("Content-Type") == "text/plain"
            assert recorded.header("User-Agent") == "QUECTEL_MODULE"
            # the host's own request
            assert await at.command('AT+QHTTPCFG="requestheader",1') == OK
            await set_url(at, http.url("/headers"))
            request = f"GET /headers HTTP/1.1\r\nHost: 127.0.0.1:{http.port}\r\nX-Bg96: yes\r\n\r\n"
            at.write(f"AT+QHTTPGET=10,{len(request)},10\r".encode())
            assert await at.read_until(b"\r\nCONNECT\r\n") == b"\r\nCONNECT\r\n"
            at.write(request.encode())
            assert await at.response() == OK
            assert (await at.wait_urc(b"+QHTTPGET: ")).startswith(b"+QHTTPGET: 0,200,")
            echoed = await read(at)
            assert b"X-Bg96: yes" in echoed and b"QUECTEL" not in echoed
            await at.close()

    run(main())


def test_failures_server_cut_never_answers_tls_dns(http: HttpServer, pki: TestPki) -> None:
    async def main() -> None:
        other = TestPki("another CA")
        async with VirtualModule(system_resolver=False) as module:
            at = await booted(module)
            # a server that closes mid-body
            assert await get(at, http.url("/cut/100000")) == b"+QHTTPGET: 0,200,100000"
            assert await at.command("AT+QHTTPREAD=20") == b"\r\nCONNECT\r\n"
            got = await at.read_until(b"\r\n+CME ERROR: 717\r\n")
            assert got[: -len(b"\r\n+CME ERROR: 717\r\n")] == payload(100000)[:50000]
            # a server that never answers
            assert await get(at, http.url("/hang"), rsptime=2) == b"+QHTTPGET: 728"
            # DNS failure (no resolver: the name is not found)
            assert await get(at, "http://no-such-host.invalid/") == b"+QHTTPGET: 714"
            # TLS failure: the server's certificate is not from the trusted CA
            await upload(at, "other.pem", other.ca_pem)
            assert await at.command('AT+QSSLCFG="cacert",1,"other.pem"') == OK
            assert await at.command('AT+QSSLCFG="seclevel",1,1') == OK
            with HttpServer(pki.server_ctx()) as server:
                assert await get(at, server.url("/fixed/10")) == b"+QHTTPGET: 716"
            assert await at.command("AT") == OK
            await at.close()

    run(main())


def test_readfile_of_megabytes_and_postfile(https: HttpServer, pki: TestPki) -> None:
    size = 3 * 1024 * 1024
    image = payload(size)
    https.add_blob("image.bin", image)

    async def main() -> None:
        async with VirtualModule(system_resolver=False) as module:
            at = await booted(module)
            await trust(at, pki)
            assert (
                await get(at, https.url("/blob/image.bin")) == f"+QHTTPGET: 0,200,{size}".encode()
            )
            assert await at.command('AT+QHTTPREADFILE="image.bin",20') == OK
            assert await at.wait_urc(b"+QHTTPREADFILE: ", 60) == b"+QHTTPREADFILE: 0"
            listing = await at.command('AT+QFLST="image.bin"')
            assert listing == f'\r\n+QFLST: "image.bin",{size}\r\n'.encode() + OK
            assert await at.command('AT+QFDWL="image.bin"') == b"\r\nCONNECT\r\n"
            data = await at.read_exactly(size, 60)
            tail = await at.response()
            m = re.search(rb"\+QFDWL: (\d+),([0-9a-f]+)", tail)
            assert m is not None and int(m.group(1)) == size
            assert data == image and m.group(2).decode() == format_checksum(checksum(image))
            # POSTFILE sends it back
            await set_url(at, https.url("/sha256"))
            assert await at.command('AT+QHTTPPOSTFILE="image.bin",30') == OK
            assert await at.wait_urc(b"+QHTTPPOSTFILE: ", 60) == b"+QHTTPPOSTFILE: 0,200,64"
            assert await read(at) == hashlib.sha256(image).hexdigest().encode()
            await at.close()

    run(main())


def test_readfile_beyond_the_free_space_leaves_no_file(http: HttpServer) -> None:
    async def main() -> None:
        config = ModuleConfig(file_capacity=100_000)
        async with VirtualModule(system_resolver=False, config=config) as module:
            at = await booted(module)
            assert await get(at, http.url("/chunked/200000")) == b"+QHTTPGET: 0,200"
            assert await at.command('AT+QHTTPREADFILE="big.bin"') == OK
            assert await at.wait_urc(b"+QHTTPREADFILE: ") == b"+QHTTPREADFILE: 403"
            assert await at.command("AT+QFLST") == OK
            await at.close()

    run(main())


def test_faults_network_profile_keylog_and_trace(
    https: HttpServer, pki: TestPki, tmp_path: Path
) -> None:
    """The HTTP client's connection (ID 12 for faults) over a shaped radio link: a server
    reset after 20000 bytes cuts the body (717); the key log and the trace have it all."""
    keys: list[str] = []
    trace = tmp_path / "trace.txt"

    async def main() -> None:
        async with VirtualModule(
            system_resolver=False,
            network="lte-m",
            config=ModuleConfig(attach_time=0.001, pdp_activation_time=0.001),  # no waiting
            faults=FaultScript.parse("after 20000 bytes on 12 server-reset 12\n"),
            keylog=keys.append,
            trace=str(trace),
        ) as module:
            at = await booted(module)
            await trust(at, pki)
            assert await get(at, https.url("/fixed/50000")) == b"+QHTTPGET: 0,200,50000"
            assert await at.command("AT+QHTTPREAD=20") == b"\r\nCONNECT\r\n"
            got = await at.read_until(b"\r\n+CME ERROR: 717\r\n", 30)
            assert payload(50000).startswith(got[: -len(b"\r\n+CME ERROR: 717\r\n")])
            status = module.with_engine(snapshot)
            assert status["http"]["url"] == https.url("/fixed/50000")
            request = status["http"]["request"]
            assert (request["stage"], request["status"], request["error"]) == ("done", 200, 717)
            await at.close()

    run(main())
    assert any(line.startswith("CLIENT_RANDOM") or "TRAFFIC_SECRET" in line for line in keys)
    text = trace.read_text()
    assert "-- HTTP request: GET /fixed/50000 HTTP/1.1; Host: 127.0.0.1:" in text
    assert "-- HTTP response: HTTP/1.1 200 OK; Server: " in text
    assert "fault server-reset 12 (after 20000 bytes received on 12)" in text
