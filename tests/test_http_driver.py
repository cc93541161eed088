"""The host driver's HTTP(S) client end to end, each test on both drivers (``bg96.Modem`` and
``bg96.AsyncModem``): ``http_get``, ``http_post``, ``http_download`` against loopback HTTP
and HTTPS servers through the virtual module, the typed errors with their 7xx codes; and the
DTE parser fed every HTTP answer and URC split at every byte."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bg96.host import HttpFailed, HttpResponse, Modem
from bg96.host.parser import Connect, DataPhase, DteParser, Event, Response, Urc
from bg96.module.virtual import VirtualModule
from bg96.testing import TestPki
from bg96.testing.blocking import DRIVERS, open_driver
from bg96.testing.http_server import HttpServer, payload

from .test_driver import close_soon


@pytest.fixture(params=DRIVERS)
def driver(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return TestPki("bg96 http driver CA")


@pytest.fixture
def online(driver: str) -> Iterator[Modem]:
    with VirtualModule(system_resolver=False) as vm:
        modem = open_driver(driver, vm.url)
        try:
            modem.sync()
            modem.activate(1)
            yield modem
        finally:
            close_soon(modem)


def test_get_post_and_headers(online: Modem, http: HttpServer) -> None:
    got = online.http_get(http.url("/fixed/5000"))
    assert got == HttpResponse(200, 5000, payload(5000)) and got.ok
    chunked = online.http_get(http.url("/chunked/20000"))
    assert (chunked.status, chunked.content_length, chunked.body) == (200, None, payload(20000))
    missing = online.http_get(http.url("/status/404"))
    assert (missing.status, missing.ok, missing.body) == (404, False, b"status 404\n")
    mine = online.http_get(http.url("/headers"), headers={"X-Bg96": "driver"})
    assert b"X-Bg96: driver" in mine.body and b"QUECTEL" not in mine.body
    body = bytes(range(256)) * 40
    posted = online.http_post(http.url("/echo"), body, content_type=2)
    assert posted == HttpResponse(200, len(body), body)
    assert http.requests[-1].header("Content-Type") == "application/octet-stream"


def test_https_download_into_a_file_with_progress(
    online: Modem, https: HttpServer, pki: TestPki
) -> None:
    image = payload(200_000)
    https.add_blob("fw.bin", image)
    online.upload("ca.pem", pki.ca_pem)
    online.ssl_config(1, version=4, ciphersuite=0xFFFF, seclevel=1, cacert="ca.pem")
    seen: list[tuple[int, int]] = []
    answer = online.http_download(
        https.url("/blob/fw.bin"), "fw.bin", ssl_ctx=1, progress=lambda d, t: seen.append((d, t))
    )
    assert answer == HttpResponse(200, len(image))
    # the start, what AT+QFLST found on the way (nothing, on a loopback this fast), the end
    assert seen[0] == (0, len(image)) and seen[-1] == (len(image), len(image))
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert online.list_files()["fw.bin"] == len(image)
    assert hashlib.sha256(online.download("fw.bin")).digest() == hashlib.sha256(image).digest()
    got: list[int] = []
    big = online.http_get(https.url("/fixed/100000"), progress=lambda d, t: got.append(d))
    assert big.body == payload(100000) and got[-1] == 100000


def test_typed_errors_carry_the_module_code(online: Modem, http: HttpServer) -> None:
    with pytest.raises(HttpFailed) as dns:
        online.http_get("http://no-such-host.invalid/")
    assert dns.value.code == 714
    with pytest.raises(HttpFailed) as url:
        online.http_get("ftp://example.com/")
    assert url.value.code == 711
    with pytest.raises(HttpFailed) as late:
        online.http_get(http.url("/hang"), timeout=1)
    assert late.value.code == 728
    with pytest.raises(HttpFailed) as cut:
        online.http_get(http.url("/cut/40000"))
    assert cut.value.code == 717
    assert online.http_get(http.url("/fixed/10")).body == payload(10)  # in sync


# ---- the parser --------------------------------------------------------------------------


def _feed_split(
    stream: bytes, at: int, command: bytes, phase: DataPhase | None, download: int
) -> list[Event]:
    """The events of ``stream`` (the answer to ``command``) fed in two parts split at ``at``."""
    parser = DteParser()
    parser.begin(command, phase=phase, download=download)
    parser.feed(stream[:at])
    events = parser.events()
    parser.feed(stream[at:])
    return events + parser.events()


def test_parser_reads_http_answers_split_at_every_byte() -> None:
    body = b"HTTP/1.1 200 OK\r\nX: \r\nOK\r\n\r\n" + bytes(range(256))  # looks like an end
    cases: list[tuple[bytes, DataPhase | None, int, bytes, list[Event]]] = [
        (
            b"AT+QHTTPREAD=80",
            DataPhase.HTTP_READ,
            0,
            b"\r\nCONNECT\r\n" + body + b"\r\nOK\r\n\r\n+QHTTPREAD: 0\r\n",
            [Connect(), Response(b"AT+QHTTPREAD=80", (body,), b"OK"), Urc(b"+QHTTPREAD: 0")],
        ),
        (
            b"AT+QHTTPREAD=80",
            DataPhase.HTTP_READ,
            len(body),
            b"\r\nCONNECT\r\n" + body + b"\r\nOK\r\n\r\n+QHTTPREAD: 0\r\n",
            [Connect(), Response(b"AT+QHTTPREAD=80", (body,), b"OK"), Urc(b"+QHTTPREAD: 0")],
        ),
        (
            b"AT+QHTTPREAD=80",
            DataPhase.HTTP_READ,
            1000,
            b'\r\nCONNECT\r\nabc\r\n+CME ERROR: 717\r\n\r\n+QIURC: "closed",1\r\n',
            [
                Connect(),
                Response(b"AT+QHTTPREAD=80", (b"abc",), b"+CME ERROR: 717"),
                Urc(b'+QIURC: "closed",1'),
            ],
        ),
        (
            b"AT+QHTTPGET=80",
            None,
            0,
            b"\r\nOK\r\n\r\n+QHTTPGET: 0,200,547256\r\n",
            [Response(b"AT+QHTTPGET=80", (), b"OK"), Urc(b"+QHTTPGET: 0,200,547256")],
        ),
        (
            b"AT+QHTTPGET",
            None,
            0,
            b"\r\n+QHTTPGET: 714\r\n\r\nOK\r\n",  # even one that overtook the OK
            [Urc(b"+QHTTPGET: 714"), Response(b"AT+QHTTPGET", (), b"OK")],
        ),
        (
            b"AT+QHTTPPOST=20,80,80",
            DataPhase.UPLOAD,
            0,
            b"\r\nCONNECT\r\n\r\nOK\r\n\r\n+QHTTPPOST: 0,200,177\r\n"
            b"\r\n+QHTTPPOSTFILE: 0,200,177\r\n\r\n+QHTTPREADFILE: 0\r\n\r\n+QHTTPREAD: 717\r\n",
            [
                Connect(),
                Response(b"AT+QHTTPPOST=20,80,80", (), b"OK"),
                Urc(b"+QHTTPPOST: 0,200,177"),
                Urc(b"+QHTTPPOSTFILE: 0,200,177"),
                Urc(b"+QHTTPREADFILE: 0"),
                Urc(b"+QHTTPREAD: 717"),
            ],
        ),
        (
            b"AT+QHTTPGET=?",
            None,
            0,
            b"\r\n+QHTTPGET: (1-65535),(1-2048),(1-65535)\r\n\r\nOK\r\n",
            [Response(b"AT+QHTTPGET=?", (b"+QHTTPGET: (1-65535),(1-2048),(1-65535)",), b"OK")],
        ),
    ]
    for command, phase, download, stream, want in cases:
        for at in range(len(stream) + 1):
            got = _feed_split(stream, at, command, phase, download)
            assert got == want, (command, at, got)


def test_shell_completes_the_http_commands_and_types_a_url() -> None:
    from bg96.cli.shell import ShellCore

    shown: list[str] = []
    c = ShellCore(shown.append, colour=False)
    assert set(c.complete("AT+QHTTPP")) == {"AT+QHTTPPOST", "AT+QHTTPPOSTFILE"}
    assert c.complete('AT+QHTTPCFG="re') == [
        'AT+QHTTPCFG="requestheader",',
        'AT+QHTTPCFG="responseheader",',
    ]
    c.input_line("AT+QHTTPURL=18,80")
    c.receive(b"\r\nCONNECT\r\n")
    assert c.data_mode  # the next line is the URL, sent as typed


@settings(max_examples=300, deadline=None)
@given(
    body=st.binary(max_size=3000).filter(lambda b: b"\r\n+CME ERROR: " not in b),
    cuts=st.lists(st.integers(0, 3100), max_size=8),
    known=st.booleans(),
)
def test_parser_reads_any_body_of_a_known_length_split_anywhere(
    body: bytes, cuts: list[int], known: bool
) -> None:
    """Any body, announced length or not (then a body holding the end marker is ambiguous
    and left out), in pieces cut anywhere: the body and the URC after it, exactly."""
    if not known:
        assume((body + b"\r\nOK\r\n\r\n+").find(b"\r\nOK\r\n\r\n+") == len(body))
    stream = b"\r\nCONNECT\r\n" + body + b"\r\nOK\r\n\r\n+QHTTPREAD: 0\r\n"
    parser = DteParser()
    parser.begin(b"AT+QHTTPREAD=80", phase=DataPhase.HTTP_READ, download=len(body) if known else 0)
    events: list[Event] = []
    last = 0
    for cut in [*sorted({min(c, len(stream)) for c in cuts}), len(stream)]:
        parser.feed(stream[last:cut])
        events += parser.events()
        last = cut
    assert events == [
        Connect(),
        Response(b"AT+QHTTPREAD=80", (body,), b"OK"),
        Urc(b"+QHTTPREAD: 0"),
    ]
