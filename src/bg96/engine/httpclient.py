"""The module's HTTP/1.1 client framing, sans-IO: h11 builds the request and parses the
response (Content-Length, chunked, read-until-close); what the module does around it (its
URCs, codes and timers) is ``commands/http_request.py``'s.

One ``Exchange`` is one request and its response on one connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import h11

from .params import ParamError, check_host

USER_AGENT = "QUECTEL_MODULE"
CONTENT_TYPES = (
    "application/x-www-form-urlencoded",
    "text/plain",
    "application/octet-stream",
    "multipart/form-data",
)
MAX_HEAD = 16384  # bytes of response head h11 holds before it gives up on it


class UrlError(ValueError):
    """The URL is not one the module takes (no http/https scheme, no host, a bad port)."""


@dataclass(frozen=True)
class Url:
    """A URL as the module uses it: scheme decides TLS, host and port to connect to."""

    tls: bool
    host: str
    port: int
    target: str  # path and query, what the request line asks for
    authority: str  # the Host header

    @classmethod
    def parse(cls, text: str) -> Url:
        """The scheme is matched without regard to case (the manual's example types
        ``HTTPs://``)."""
        scheme, sep, _ = text.partition("://")
        scheme = scheme.lower()
        if not sep or scheme not in ("http", "https"):
            raise UrlError(f"no http:// or https:// scheme: {text[:40]!r}")
        try:
            parts = urlsplit("x" + text[len(scheme) :])
            port = parts.port
        except ValueError as exc:
            raise UrlError(f"bad URL {text[:40]!r}: {exc}") from None
        host = parts.hostname or ""
        if "@" in parts.netloc:
            raise UrlError("user information in the URL is not supported")
        try:
            check_host(host, "URL host")
        except ParamError as exc:
            raise UrlError(str(exc)) from None
        tls = scheme == "https"
        if port is None:
            port = 443 if tls else 80
        if port == 0:
            raise UrlError("port 0")
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        authority = parts.netloc
        return cls(tls, host, port, target, authority)


@dataclass(frozen=True)
class Head:
    """The response's status line and headers."""

    status: int
    reason: str
    http_version: str
    headers: tuple[tuple[bytes, bytes], ...]
    content_length: int | None  # the Content-Length header, None when there is none

    def render(self) -> bytes:
        """The head as the module prints it with "responseheader" on."""
        lines = [f"HTTP/{self.http_version} {self.status} {self.reason}".encode("latin-1")]
        lines += [name + b": " + value for name, value in self.headers]
        return b"\r\n".join(lines) + b"\r\n\r\n"


class ProtocolFailure(Exception):
    """The server's bytes are not HTTP/1.1, or the response ended early; ``step`` holds
    what came before the failure."""

    def __init__(self, reason: str, step: Step) -> None:
        super().__init__(reason)
        self.reason = reason
        self.step = step


@dataclass
class Step:
    """What bytes from the server produced: the head (once), body bytes, the end."""

    head: Head | None = None
    body: bytes = b""
    done: bool = False


class Exchange:
    """One request and its response over h11."""

    def __init__(self) -> None:
        self._conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)
        self.method = "GET"
        self.head: Head | None = None
        self.done = False

    def request(
        self,
        method: str,
        url: Url,
        *,
        content_type: int = 0,
        length: int | None = None,
    ) -> bytes:
        """The module-built request head (no body): the header set of the manual's sample;
        a body has its Content-Type and Content-Length."""
        self.method = method
        headers = [
            ("Host", url.authority),
            ("User-Agent", USER_AGENT),
            ("Accept", "*/*"),
            ("Connection", "Keep-Alive"),
        ]
        if length is not None:
            headers += [
                ("Content-Type", CONTENT_TYPES[content_type]),
                ("Content-Length", str(length)),
            ]
        out = self._conn.send(h11.Request(method=method, target=url.target, headers=headers))
        assert out is not None
        return out

    def body(self, data: bytes) -> bytes:
        out = self._conn.send(h11.Data(data=data))
        assert out is not None
        return out

    def end(self) -> None:
        self._conn.send(h11.EndOfMessage())

    def own_request(self, first_bytes: bytes) -> None:
        """The host wrote the whole request ("requestheader" 1): it goes out as it is; h11
        only needs its method to frame the response (a HEAD answer has no body)."""
        token = first_bytes.split(b" ", 1)[0][:16]
        method = token.decode("ascii", "replace") if token.isalpha() else "GET"
        self.method = method.upper()
        self._conn.send(h11.Request(method=self.method, target="/", headers=[("Host", "x")]))
        self._conn.send(h11.EndOfMessage())

    def receive(self, data: bytes) -> Step:
        """Bytes from the server (``b""``: it closed). ``ProtocolFailure`` when they are not
        a response, or the connection closed before the body was complete."""
        conn = self._conn
        step = Step()
        body = bytearray()
        try:
            conn.receive_data(data)
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA or event is h11.PAUSED:
                    break
                if isinstance(event, h11.Response):
                    step.head = self.head = _head(event)
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    step.done = self.done = True
                    break
                elif isinstance(event, h11.ConnectionClosed):
                    break
                # InformationalResponse (100 Continue) is passed over
        except h11.RemoteProtocolError as exc:
            step.body = bytes(body)
            raise ProtocolFailure(str(exc) or "response not HTTP/1.1", step) from None
        step.body = bytes(body)
        return step


def _head(event: h11.Response) -> Head:
    length = None
    for name, value in event.headers:
        if name == b"content-length":
            length = int(value)
    return Head(
        status=event.status_code,
        reason=event.reason.decode("latin-1"),
        http_version=event.http_version.decode("ascii"),
        headers=tuple((bytes(n), bytes(v)) for n, v in event.headers.raw_items()),
        content_length=length,
    )
