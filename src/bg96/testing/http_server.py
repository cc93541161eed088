"""A loopback HTTP(S) server for tests, examples and benches: Python's ``http.server`` in a
thread, with TLS from an ``ssl.SSLContext`` (``TestPki.server_ctx()``).

Paths it answers (GET unless said):

* ``/blob/<name>``: a body registered with ``add_blob`` (Content-Length).
* ``/fixed/<n>``, ``/chunked/<n>``: ``n`` bytes of ``payload(n)``, with Content-Length or
  chunked in pieces of at most 4000 bytes.
* ``/status/<code>``: that status, a short body (none for 204 and 304; 301/302 a Location).
* ``/cut/<n>``: announces ``n`` bytes, sends half, closes.
* ``/hang``: reads the request and never answers.
* ``/headers``: the request's head as the body.
* ``POST /echo``: the request body back; ``POST /sha256``: its SHA-256 in hex.

Every request is recorded in ``requests`` (method, path, headers, body).
"""

from __future__ import annotations

import hashlib
import random
import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self

CHUNK = 4000


def payload(n: int) -> bytes:
    """``n`` reproducible pseudo-random bytes (the same for the same ``n``)."""
    return random.Random(n).randbytes(n)


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    owner: HttpServer

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that fails the handshake or goes away is a test's business


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _record(self, body: bytes) -> None:
        owner = self.server.owner
        with owner.lock:
            owner.requests.append(
                Recorded(self.command, self.path, tuple(self.headers.items()), body)
            )

    def _send(self, status: int, body: bytes, *, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        no_body = status in (204, 304) or self.command == "HEAD"
        if status not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not no_body:
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        self._record(b"")
        owner = self.server.owner
        parts = self.path.split("?", 1)[0].strip("/").split("/")
        kind, arg = parts[0], parts[1] if len(parts) > 1 else ""
        if kind == "blob" and arg in owner.blobs:
            self._send(200, owner.blobs[arg], headers={"Content-Type": "application/octet-stream"})
        elif kind == "fixed" and arg.isdigit():
            self._send(200, payload(int(arg)), headers={"Content-Type": "text/plain"})
        elif kind == "chunked" and arg.isdigit():
            data = payload(int(arg))
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(data), CHUNK):
                piece = data[i : i + CHUNK]
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif kind == "status" and arg.isdigit():
            code = int(arg)
            headers = {"Location": "/fixed/10"} if code in (301, 302) else {}
            self._send(code, f"status {code}\n".encode(), headers=headers)
        elif kind == "cut" and arg.isdigit():
            n = int(arg)
            self.send_response(200)
            self.send_header("Content-Length", str(n))
            self.end_headers()
            self.wfile.write(payload(n)[: n // 2])
            self.wfile.flush()
            self.close_connection = True
        elif kind == "hang":
            owner.stopping.wait()
            self.close_connection = True
        elif kind == "headers":
            head = f"{self.requestline}\r\n".encode() + bytes(self.headers)
            self._send(200, head)
        else:
            self._send(404, b"not found\n")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self._record(body)
        if self.path == "/echo":
            ctype = self.headers.get("Content-Type") or "application/octet-stream"
            self._send(200, body, headers={"Content-Type": ctype})
        elif self.path == "/sha256":
            self._send(200, hashlib.sha256(body).hexdigest().encode())
        else:
            self._send(404, b"not found\n")


class HttpServer:
    """The server on 127.0.0.1 (a free port), serving in a thread while entered."""

    def __init__(self, ssl_ctx: ssl.SSLContext | None = None) -> None:
        self.ssl_ctx = ssl_ctx
        self.blobs: dict[str, bytes] = {}
        self.requests: list[Recorded] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        if ssl_ctx is not None:
            # the handshake runs in the connection's thread, not in the accepting one
            self._server.socket = ssl_ctx.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        scheme = "https" if self.ssl_ctx is not None else "http"
        return f"{scheme}://{host}:{self.port}{path}"

    def add_blob(self, name: str, data: bytes) -> None:
        self.blobs[name] = data

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
