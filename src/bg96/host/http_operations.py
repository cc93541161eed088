"""The module's HTTP(S) client, once, as procedures: a GET or POST whose response is read to
the host (AT+QHTTPURL, AT+QHTTPGET/QHTTPPOST, AT+QHTTPREAD), and a download into the
module's files (AT+QHTTPREADFILE), as over-the-air updates do.

A request's result comes later as a URC (``+QHTTPGET: <err>[,<status>[,<length>]]``); the
core keeps it for the procedure (``ModemCore.await_urcs``). Failures raise ``HttpFailed``
with the module's 7xx code. An ``https://`` URL uses the SSL context ``ssl_ctx`` (configure
it with ``ssl_config`` first).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from .answers import cme_error
from .core import ModemCore
from .errors import CommandError, HttpFailed, ModemTimeout, UnexpectedResponse
from .exchange import exchange
from .parser import DataPhase, Response, Urc
from .requests import Procedure, Wait

DEFAULT_WAIT = 60  # s: rsptime, input and wait times the manual defaults to
CONNECT_WAIT = 125.0  # s: POST's CONNECT comes once the server connection is up
MAX_URL = 700
MAX_HEADER = 2048  # bytes of a GET request the host writes itself
POLL = 1.0  # s between AT+QFLST asks for a download's progress
_FLST = re.compile(rb'\+QFLST: "(.*)",(\d+)\Z')
_RESULT = re.compile(rb"\+QHTTP[A-Z]+: (\d+)(?:,(\d+))?(?:,(\d+))?\Z")

__all__ = ["HttpResponse", "http_configure", "http_download", "http_get", "http_post"]


@dataclass(frozen=True)
class HttpResponse:
    """The server's answer: its status code, the Content-Length it announced (None when it
    sent none, as with a chunked body) and the body (empty for a download into a file)."""

    status: int
    content_length: int | None
    body: bytes = b""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def http_configure(
    core: ModemCore,
    *,
    context_id: int | None = None,
    ssl_ctx: int | None = None,
    request_header: bool | None = None,
    response_header: bool | None = None,
    content_type: int | None = None,
) -> Procedure[None]:
    """AT+QHTTPCFG for each setting given: the PDP context (1-16), the SSL context for
    ``https://`` (0-5), whether the host writes the request (``request_header``) and reads
    the response's head (``response_header``), the body's type (0 form, 1 text, 2 binary,
    3 multipart)."""
    settings = {
        "contextid": context_id,
        "sslctxid": ssl_ctx,
        "requestheader": None if request_header is None else int(request_header),
        "responseheader": None if response_header is None else int(response_header),
        "contenttype": content_type,
    }
    for key, value in settings.items():
        if value is not None:
            yield from _checked(core, f'AT+QHTTPCFG="{key}",{value}')


def http_get(
    core: ModemCore,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    ssl_ctx: int | None = None,
    timeout: int = DEFAULT_WAIT,
    progress: Callable[[int, int], None] | None = None,
) -> Procedure[HttpResponse]:
    """GET ``url`` and read the body. ``headers``: the host writes the request itself
    (``"requestheader"`` 1 for this request) with these header lines besides ``Host``.
    ``timeout``: the server's time to answer, and the longest gap in the body (s).
    ``progress(done, total)`` hears of the body as it comes (total 0: not announced)."""
    yield from _prepare(core, url, ssl_ctx)
    prefix = b"+QHTTPGET:"
    got = core.await_urcs(prefix)
    try:
        if headers is None:
            yield from _checked(core, f"AT+QHTTPGET={timeout}")
        else:
            request = _request("GET", url, headers)
            yield from _checked(core, 'AT+QHTTPCFG="requestheader",1')
            try:
                line = f"AT+QHTTPGET={timeout},{len(request)},{DEFAULT_WAIT}"
                yield from _typed(core, line, request)
            finally:
                yield from _checked(core, 'AT+QHTTPCFG="requestheader",0')
        status, length = yield from _result(core, got, prefix, timeout)
    finally:
        core.stop_awaiting(prefix)
    body = yield from _read(core, length, timeout, progress)
    return HttpResponse(status, length, body)


def http_post(
    core: ModemCore,
    url: str,
    body: bytes,
    *,
    content_type: int | None = None,
    ssl_ctx: int | None = None,
    timeout: int = DEFAULT_WAIT,
    progress: Callable[[int, int], None] | None = None,
) -> Procedure[HttpResponse]:
    """POST ``body`` (1 byte to 1000 KiB) to ``url`` with the module's own header (its
    Content-Type from ``content_type``: 0 form, 1 text, 2 binary, 3 multipart), then read
    the response's body. ``progress(done, total)`` hears of the body as it goes out."""
    if not 1 <= len(body) <= 1024000:
        raise ValueError("an AT+QHTTPPOST body is 1-1024000 bytes")
    yield from _prepare(core, url, ssl_ctx)
    if content_type is not None:
        yield from http_configure(core, content_type=content_type)
    prefix = b"+QHTTPPOST:"
    got = core.await_urcs(prefix)
    try:
        line = f"AT+QHTTPPOST={len(body)},{DEFAULT_WAIT},{timeout}"
        yield from _typed(core, line, body, progress)
        status, length = yield from _result(core, got, prefix, timeout)
    finally:
        core.stop_awaiting(prefix)
    answer = yield from _read(core, length, timeout, None)
    return HttpResponse(status, length, answer)


def http_download(
    core: ModemCore,
    url: str,
    name: str,
    *,
    ssl_ctx: int | None = None,
    timeout: int = DEFAULT_WAIT,
    progress: Callable[[int, int], None] | None = None,
) -> Procedure[HttpResponse]:
    """GET ``url`` into the module's file ``name`` (AT+QHTTPREADFILE; a file of that name
    is replaced, and none is left on a failure). The module says nothing while the body
    flows: with ``progress(done, total)`` the file's size is asked for (AT+QFLST) every
    ``POLL`` seconds until it is stored. ``HttpFailed`` with a FILE code when it does not
    fit (403 the free space, 423 the largest file). Read it with ``download(name)``."""
    yield from _prepare(core, url, ssl_ctx)
    prefix = b"+QHTTPGET:"
    got = core.await_urcs(prefix)
    try:
        yield from _checked(core, f"AT+QHTTPGET={timeout}")
        status, length = yield from _result(core, got, prefix, timeout)
    finally:
        core.stop_awaiting(prefix)
    total = length or 0
    if progress is not None:
        progress(0, total)
    prefix = b"+QHTTPREADFILE:"
    got = core.await_urcs(prefix)
    try:
        line = f'AT+QHTTPREADFILE="{name}",{timeout}'
        yield from _checked(core, line)
        wait = timeout + total * 10 / max(1, core.baudrate) + 600  # a stall, or a slow link
        deadline = core.clock() + wait
        while True:
            step = POLL if progress is not None else wait
            urc = yield from _within(core, got, min(step, deadline - core.clock()))
            if urc is not None:
                break
            if core.clock() >= deadline:
                raise ModemTimeout(line, wait)
            if progress is not None:
                progress((yield from _file_size(core, name)), total)
        code = _codes(urc, line)[0]
        if code:
            raise HttpFailed(line, urc.line, code, "")
    finally:
        core.stop_awaiting(prefix)
    if progress is not None:
        progress(total, total)
    return HttpResponse(status, length)


# ---- the steps -----------------------------------------------------------------------------


def _prepare(core: ModemCore, url: str, ssl_ctx: int | None) -> Procedure[None]:
    """The SSL context (when given) and the URL (AT+QHTTPURL, CONNECT, the URL)."""
    data = url.encode("latin-1")
    if not 1 <= len(data) <= MAX_URL:
        raise ValueError(f"a URL is 1-{MAX_URL} bytes")
    if ssl_ctx is not None:
        yield from http_configure(core, ssl_ctx=ssl_ctx)
    line = f"AT+QHTTPURL={len(data)},{DEFAULT_WAIT}"
    yield from _typed(core, line, data)


def _typed(
    core: ModemCore,
    line: str,
    data: bytes,
    progress: Callable[[int, int], None] | None = None,
) -> Procedure[None]:
    """A command whose CONNECT takes ``data`` (a URL, a request, a body), then ``OK``."""
    response = yield from exchange(
        core,
        line,
        CONNECT_WAIT,
        phase=DataPhase.UPLOAD,
        payload=data,
        progress=progress,
        block=1024 if progress is not None else None,
        data_time=DEFAULT_WAIT,
    )
    _check(line, response)


def _checked(core: ModemCore, line: str) -> Procedure[Response]:
    response = yield from exchange(core, line)
    _check(line, response)
    return response


def _check(line: str, response: Response) -> None:
    if response.ok:
        return
    error = cme_error(line, response)
    if error is None:
        raise CommandError(line, response.raw())
    raise HttpFailed(line, error.response, error.code, error.text)


def _result(
    core: ModemCore, got: deque[Urc], prefix: bytes, timeout: int
) -> Procedure[tuple[int, int | None]]:
    """The request's result URC: (status, content length); ``HttpFailed`` for its error."""
    line = f"{prefix.decode()[1:-1]} (its result)"
    wait = timeout + CONNECT_WAIT  # the connection, the request, the response
    urc = yield from _next(core, got, line, core.clock() + wait, wait)
    err, status, length = _codes(urc, line)
    if err or status is None:
        raise HttpFailed(line, urc.line, err, "")
    return status, length


def _codes(urc: Urc, line: str) -> tuple[int, int | None, int | None]:
    m = _RESULT.match(urc.line)
    if m is None:
        raise UnexpectedResponse(line, urc.line, None, "not an HTTP result line")
    err, status, length = (None if g is None else int(g) for g in m.groups())
    assert err is not None
    return err, status, length


def _within(core: ModemCore, got: deque[Urc], seconds: float) -> Procedure[Urc | None]:
    """The next awaited URC if one comes within ``seconds``, else None."""
    deadline = core.clock() + seconds
    while not got:
        left = deadline - core.clock()
        if left <= 0:
            return None
        yield Wait(left)
    return got.popleft()


def _file_size(core: ModemCore, name: str) -> Procedure[int]:
    """The size of the module's file ``name`` so far (0 while it does not exist)."""
    response = yield from _checked(core, f'AT+QFLST="{name}"')
    for line in response.lines:
        m = _FLST.match(line)
        if m is not None and m.group(1).decode("latin-1") == name:
            return int(m.group(2))
    return 0


def _next(
    core: ModemCore, got: deque[Urc], line: str, deadline: float, wait: float
) -> Procedure[Urc]:
    while not got:
        left = deadline - core.clock()
        if left <= 0:
            raise ModemTimeout(line, wait)
        yield Wait(left)
    return got.popleft()


def _read(
    core: ModemCore,
    length: int | None,
    timeout: int,
    progress: Callable[[int, int], None] | None,
) -> Procedure[bytes]:
    """AT+QHTTPREAD: the body, up to its ``OK`` (and ``+QHTTPREAD: 0``) or ``+CME ERROR``."""
    prefix = b"+QHTTPREAD:"
    got = core.await_urcs(prefix)
    try:
        line = f"AT+QHTTPREAD={timeout}"
        response = yield from exchange(
            core,
            line,
            phase=DataPhase.HTTP_READ,
            download=length or 0,
            progress=progress,
            data_time=float(timeout),
        )
        body = response.lines[0] if response.lines else b""
        _check(line, response)
        if progress is not None:
            progress(len(body), length or 0)
        urc = yield from _next(core, got, line, core.clock() + 5.0, 5.0)
        err = _codes(urc, line)[0]
        if err:
            raise HttpFailed(line, urc.line, err, "")
        return body
    finally:
        core.stop_awaiting(prefix)


def _request(method: str, url: str, headers: Mapping[str, str]) -> bytes:
    """The request the host writes itself (``"requestheader"`` 1): the request line, Host,
    the caller's header lines, a blank line."""
    parts = urlsplit(url)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}"]
    lines += [f"{key}: {value}" for key, value in headers.items() if key.lower() != "host"]
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if len(data) > MAX_HEADER:
        raise ValueError(f"a GET request the host writes is at most {MAX_HEADER} bytes")
    return data
