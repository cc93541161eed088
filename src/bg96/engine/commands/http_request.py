"""The module's HTTP client at work (HTTP(S) manual): one request at a time, its connection,
its result URC, its response held in a bounded buffer for AT+QHTTPREAD or streamed into a
UFS file by AT+QHTTPREADFILE, and the data phases in which the host types a URL, a request
or a body. h11 frames the bytes (``httpclient.py``); the codes are HTTP_COMMANDS.md's.

The client's connection uses client ID ``HTTP_CLIENT``, beside the 12 socket IDs, so the
runner opens it like any socket: plain TCP for ``http://``, TLS with the ``"sslctxid"``
context's settings for ``https://``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

from ..codes import FileError, HttpError, QiError, Result
from ..escape import GuardedEscape
from ..events import (
    Close,
    Connect,
    Connected,
    ConnectFailed,
    NetEvent,
    PeerClosed,
    Received,
    Send,
    Sent,
)
from ..files import FileWriter, open_writer
from ..httpclient import Exchange, Head, ProtocolFailure, Step, Url
from ..outcome import OK, Outcome, cme
from ..timers import Timer
from .ssl import tls_snapshot

if TYPE_CHECKING:
    from ..core import Engine

HTTP_CLIENT = 12  # the HTTP client's connection: the client ID after the 12 sockets'
CONNECT_WAIT = 125.0  # s until CONNECT for POST / a host-written GET (the manual's figure)
SEND_CHUNK = 4096  # bytes of a POSTFILE body handed to the connection at a time


@dataclass
class HttpConfig:
    """AT+QHTTPCFG's settings (defaults as a fresh BG96MAR02A07M1G printed them)."""

    contextid: int = 1
    requestheader: int = 0
    responseheader: int = 0
    sslctxid: int = 1
    contenttype: int = 0
    prefix: tuple[str, int] = ("64:FF9B:0:0:0:0:0:0", 96)


class Stage(Enum):
    CONNECTING = "connecting"  # DNS, TCP, TLS
    INPUT = "input"  # the host types the request or the body after CONNECT
    SENDING = "sending"  # a POSTFILE body goes out
    WAITING = "waiting"  # for the response head
    BODY = "body"  # the head is in, the body arrives
    DONE = "done"  # complete, failed, or given up


@dataclass
class HttpState:
    """The client: its settings, the one URL it holds, the request under way or the last
    response (until it is read)."""

    cfg: HttpConfig = field(default_factory=HttpConfig)
    url: Url | None = None
    url_text: str = ""
    request: Request | None = None

    def busy(self) -> bool:
        """A request runs (until its result URC), or a read of its response."""
        req = self.request
        if req is None:
            return False
        if req.consumer is not None:
            return True
        return req.stage in (Stage.CONNECTING, Stage.INPUT, Stage.SENDING, Stage.WAITING)


class Consumer:
    """What takes a response's body: AT+QHTTPREAD's output or AT+QHTTPREADFILE's file."""

    def wake(self) -> None:
        """Body bytes arrived, or the response ended."""

    def drop(self) -> None:
        """The module restarts: end without a word."""


class Request:
    """One HTTP request and its response."""

    def __init__(self, engine: Engine, urc: str, url: Url) -> None:
        self.engine = engine
        self.urc = urc  # "+QHTTPGET", "+QHTTPPOST", "+QHTTPPOSTFILE"
        self.url = url
        self.pdp_ctx = engine.http.cfg.contextid
        self.seq = engine.next_conn_seq()
        self.exchange = Exchange()
        self.stage = Stage.CONNECTING
        self.awaiting_connect = False  # the command's answer waits for the connection
        self.on_connected: Callable[[], None] = lambda: None
        self.on_sent: Callable[[], None] = lambda: None
        self.timer: Timer | None = None
        self.open = False
        self.head: Head | None = None
        self.body = bytearray()  # held for AT+QHTTPREAD, bounded by ``recv_buffer``
        self.complete = False
        self.error = 0  # the body was cut after the head (717, 722)
        self.reading = True
        self.unsent = 0
        self.received = 0  # body bytes so far
        self.consumer: Consumer | None = None
        self.taken = False  # a READ or READFILE had it: there is nothing left to read

    # ---- the connection ------------------------------------------------------------------

    def start(self) -> None:
        engine, url = self.engine, self.url
        cfg = engine.http.cfg
        tls = tls_snapshot(engine, cfg.sslctxid, url.host) if url.tls else None
        scheme = "https" if url.tls else "http"
        engine.note(f"HTTP {self.urc[6:]}: {scheme}://{url.host}:{url.port}{url.target}")
        engine.emit(Connect(HTTP_CLIENT, self.seq, url.host, url.port, tls, "tcp"))
        self.open = True

    def send(self, data: bytes) -> None:
        if data and self.open:
            self.unsent += len(data)
            self.engine.emit(Send(HTTP_CLIENT, self.seq, data))

    def send_head(self, head: bytes) -> None:
        """The module-built request head: sent, and decoded in the trace."""
        self.engine.note(f"HTTP request: {describe(head)}")
        self.send(head)

    def room(self) -> int:
        """Bytes the connection's send buffer takes now."""
        return max(0, self.engine.config.send_buffer - self.unsent)

    def close(self, *, abort: bool) -> None:
        if self.open:
            self.open = False
            self.engine.emit(Close(HTTP_CLIENT, self.seq, abort=abort))

    def arm(self, seconds: float, code: HttpError, reason: str) -> None:
        self.disarm()
        self.timer = self.engine.call_later(seconds, lambda: self.fail(code, reason))

    def disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def update_reading(self) -> None:
        """Pause the server while the body buffer is full, resume below half."""
        limit = self.engine.config.recv_buffer
        size = len(self.body)
        if self.reading and size >= limit:
            self.reading = False
            self.engine.set_reading(HTTP_CLIENT, self.seq, False)
        elif not self.reading and size <= limit // 2 and self.open:
            self.reading = True
            self.engine.set_reading(HTTP_CLIENT, self.seq, True)

    # ---- what happens to it ------------------------------------------------------------

    def fail(self, code: int, reason: str) -> None:
        """The request or its response failed with ``code``: the host hears of it the way
        the stage it reached answers (``+CME ERROR`` before CONNECT, the result URC, or the
        read's end after the head)."""
        engine = self.engine
        if self.stage is Stage.DONE:
            return
        engine.note(f"HTTP {self.urc[6:]}: {code}: {reason}")
        self.disarm()
        self.close(abort=True)
        if self.head is not None:
            self.error = code
            self.complete = True
            self.stage = Stage.DONE
            if self.consumer is not None:
                self.consumer.wake()
            return
        self.stage = Stage.DONE
        if engine.http.request is self:
            engine.http.request = None
        if self.awaiting_connect:
            self.awaiting_connect = False
            engine.finish(cme(code))
        else:
            engine.urc(f"{self.urc}: {code}")

    def connected(self) -> None:
        if self.stage is not Stage.CONNECTING:
            return
        if self.awaiting_connect:
            self.disarm()  # the wait for CONNECT; a GET's rsptime runs on
        self.awaiting_connect = False
        self.on_connected()

    def waiting(self, rsptime: float | None) -> None:
        """The request is out: the response has ``rsptime`` s (None: the timer set at the
        command goes on)."""
        if self.stage is Stage.DONE:
            return
        if self.head is not None:
            self.stage = Stage.DONE if self.complete else Stage.BODY
            return
        self.stage = Stage.WAITING
        if rsptime is not None:
            self.arm(rsptime, HttpError.RESPONSE_TIMEOUT, f"no response within {rsptime:g} s")

    def receive(self, data: bytes) -> None:
        """Bytes from the server; ``b""``: it closed the connection."""
        if self.stage is Stage.DONE or self.stage is Stage.CONNECTING:
            return
        try:
            step = self.exchange.receive(data)
        except ProtocolFailure as exc:
            self._apply(exc.step)
            if self.head is None and not data:
                self.fail(HttpError.SOCKET_CLOSED, "the server closed before it answered")
            elif self.head is None:
                self.fail(HttpError.RESPONSE_FAILED, f"not an HTTP response: {exc.reason}")
            else:
                self.fail(HttpError.SOCKET_READ, f"the response was cut: {exc.reason}")
            return
        self._apply(step)
        if not data and not self.complete:
            self.fail(HttpError.SOCKET_CLOSED, "the server closed before it answered")

    def _apply(self, step: Step) -> None:
        if step.head is not None and self.head is None:
            head = self.head = step.head
            self.disarm()
            if self.stage is Stage.WAITING:
                self.stage = Stage.BODY
            urc = f"{self.urc}: 0,{head.status}"
            if head.content_length is not None:
                urc += f",{head.content_length}"
            self.engine.note(f"HTTP response: {describe(head.render())}")
            self.engine.urc(urc)
        if step.body:
            self.received += len(step.body)
            self.body += step.body
            self.update_reading()
        if step.done:
            self.engine.note(f"HTTP response: body complete, {self.received} bytes")
            self.complete = True
            self.close(abort=False)  # the module does not keep the connection
            if self.stage is Stage.BODY:
                self.stage = Stage.DONE
        if (step.body or step.done) and self.consumer is not None:
            self.consumer.wake()


def status(engine: Engine) -> dict[str, object]:
    """The HTTP client as plain data (the control endpoint's status, the monitor)."""
    http = engine.http
    req = http.request
    out: dict[str, object] = {
        "url": http.url_text,
        "config": {
            "contextid": http.cfg.contextid,
            "requestheader": http.cfg.requestheader,
            "responseheader": http.cfg.responseheader,
            "sslctxid": http.cfg.sslctxid,
            "contenttype": http.cfg.contenttype,
        },
        "request": None,
    }
    if req is not None:
        head = req.head
        out["request"] = {
            "command": req.urc[1:],
            "stage": req.stage.value,
            "status": head.status if head is not None else None,
            "content_length": head.content_length if head is not None else None,
            "received": req.received,
            "buffered": len(req.body),
            "complete": req.complete,
            "error": req.error,
            "reading": "file"
            if isinstance(req.consumer, FileSink)
            else ("port" if req.consumer is not None else ""),
        }
    return out


def describe(head: bytes) -> str:
    """A request or response head on one trace line: first line; header; header ..."""
    lines = head.decode("latin-1").split("\r\n")
    return "; ".join(line for line in lines if line)


def owns(event: NetEvent) -> bool:
    """The event is the HTTP client's connection's."""
    return getattr(event, "client_id", None) == HTTP_CLIENT


def on_event(engine: Engine, event: NetEvent) -> None:
    req = engine.http.request
    if req is None or getattr(event, "conn_seq", None) != req.seq:
        return
    if isinstance(event, Connected):
        if event.version:
            engine.note(f"HTTP: {event.version} {event.cipher}")
        req.connected()
    elif isinstance(event, ConnectFailed):
        req.open = False
        code = HttpError.DNS if event.code == QiError.DNS_PARSE else HttpError.SOCKET_CONNECT
        req.fail(code, event.reason)
    elif isinstance(event, Received):
        req.receive(event.data)
    elif isinstance(event, Sent):
        req.unsent = max(0, req.unsent - event.nbytes)
        req.on_sent()
        if engine.input_waiting():
            engine.receive_data(b"")  # a body waiting for room in the send buffer goes on
    elif isinstance(event, PeerClosed):
        req.open = False
        if req.stage is Stage.CONNECTING:
            req.fail(HttpError.SOCKET_CONNECT, event.reason or "closed during the open")
        else:
            req.receive(b"")


def replace(engine: Engine, req: Request | None) -> None:
    """``req`` is the client's request from now on; the last one's response is gone."""
    old = engine.http.request
    if old is not None and old is not req:
        old.disarm()
        old.close(abort=True)
        old.stage = Stage.DONE
    engine.http.request = req


def pdp_lost(engine: Engine, pdp_id: int | None) -> None:
    """The request's PDP context went down (AT+QIDEACT, the network): it fails with 709."""
    req = engine.http.request
    if req is None or not req.open or (pdp_id is not None and req.pdp_ctx != pdp_id):
        return
    req.fail(HttpError.NETWORK_DEACTIVATED, f"PDP context {req.pdp_ctx} went down")


def drop(engine: Engine) -> None:
    """A restart: the request and its connection are gone without a word."""
    req = engine.http.request
    if req is not None:
        if req.consumer is not None:
            req.consumer.drop()
        replace(engine, None)


# ---- the data phases -----------------------------------------------------------------------


@dataclass
class InputPhase:
    """After ``CONNECT``: exactly ``length`` bytes from the host within ``timeout`` s, each
    handed to ``take``; ``done`` gives the answer. ``+++`` or DTR (AT&D1) ends it early with
    ``OK`` and ``aborted`` is called; the timeout answers ``+CME ERROR: 726``."""

    engine: Engine
    length: int
    timeout: int
    take: Callable[[bytes], None]
    done: Callable[[], Outcome]
    aborted: Callable[[], None]
    room: Callable[[], int] | None = None  # what the send buffer takes now
    name: str = ""
    fed: int = 0
    got: int = 0
    escape: GuardedEscape | None = None
    timer: Timer | None = None

    def start(self) -> None:
        self.engine.intermediate(Result.CONNECT)
        self.escape = GuardedEscape(self.engine, self._data, self.interrupt)
        self.timer = self.engine.call_later(float(self.timeout), self._timed_out)

    def feed(self, data: bytes) -> int:
        n = min(len(data), self.length - self.fed)
        if self.room is not None:
            n = min(n, self.room())
        if n <= 0:
            return 0
        self.fed += n
        assert self.escape is not None
        self.escape.feed(data[:n])
        return n

    def _data(self, data: bytes) -> None:
        self.got += len(data)
        self.take(data)
        if self.got >= self.length:
            self._stop()
            self.engine.finish(self.done())

    def _stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.escape is not None:
            self.escape.stop()

    def interrupt(self) -> None:
        self._stop()
        self.engine.note(f"{self.name}: data mode left after {self.got} of {self.length} bytes")
        self.aborted()
        self.engine.finish(OK)

    def _timed_out(self) -> None:
        self._stop()
        self.engine.note(
            f"{self.name}: {self.got} of {self.length} bytes in {self.timeout} s: input timeout"
        )
        self.aborted()
        self.engine.finish(cme(HttpError.INPUT_TIMEOUT))

    def abort(self) -> None:
        self._stop()
        self.aborted()


class Reader(Consumer):
    """AT+QHTTPREAD: the head (with "responseheader" 1) and the body go to the host as they
    arrive and as the UART takes them; a gap longer than ``wait_time`` ends it with
    ``+CME ERROR: 722``, a cut body with its code; ``+++`` or DTR ends it with ``OK``."""

    def __init__(self, engine: Engine, req: Request, wait_time: int) -> None:
        self.engine, self.req, self.wait_time = engine, req, wait_time
        assert req.head is not None
        self.prefix = req.head.render() if engine.http.cfg.responseheader else b""
        self.escape = GuardedEscape(engine, self._host_bytes, self.interrupt)
        self.timer: Timer | None = None
        self.sent = 0
        self.ended = False
        self._arm()

    def _arm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if not self.req.complete:
            self.timer = self.engine.call_later(float(self.wait_time), self._timed_out)

    def wake(self) -> None:
        self._arm()

    def feed(self, data: bytes) -> int:
        self.escape.feed(data)
        return len(data)

    def _host_bytes(self, data: bytes) -> None:
        self.engine.note(f"QHTTPREAD: {len(data)} bytes from the host during the read dropped")

    def fill(self, room: int) -> None:
        engine, req = self.engine, self.req
        if self.prefix:
            part, self.prefix = self.prefix[:room], self.prefix[room:]
            engine.raw(part)
            room -= len(part)
        if room > 0 and req.body and not self.prefix:
            n = min(room, len(req.body))
            engine.raw(bytes(req.body[:n]))
            del req.body[:n]
            self.sent += n
            req.update_reading()
        if not self.prefix and not req.body and req.complete:
            self._end()

    def _end(self) -> None:
        if self.ended:
            return
        self.ended = True
        self._stop()
        engine, req = self.engine, self.req
        engine.note(f"QHTTPREAD: {self.sent} bytes of body read")
        if req.error:
            engine.finish(cme(req.error))
        else:
            engine.urc("+QHTTPREAD: 0")
            engine.finish(OK)

    def _stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.escape.stop()
        self.req.consumer = None

    def _timed_out(self) -> None:
        self.req.fail(HttpError.READ_TIMEOUT, f"no body byte for {self.wait_time} s")

    def interrupt(self) -> None:
        self.ended = True
        self._stop()
        self.engine.note(f"QHTTPREAD: data mode left after {self.sent} bytes of body")
        replace(self.engine, None)
        self.engine.finish(OK)

    def abort(self) -> None:
        self.ended = True
        self._stop()
        replace(self.engine, None)

    def drop(self) -> None:
        self.abort()


class FileSink(Consumer):
    """AT+QHTTPREADFILE: the response goes into a UFS file as it arrives (AT+QFLST shows it
    growing; the store keeps it aside until it is complete); ``+QHTTPREADFILE: <err>`` says
    how it ended (nothing is left on a failure)."""

    def __init__(self, engine: Engine, req: Request, name: str, wait_time: int, limit: int) -> None:
        self.engine, self.req, self.name = engine, req, name
        self.wait_time, self.limit = wait_time, limit
        self.writer: FileWriter | None = open_writer(engine.store, name)
        self.size = 0
        engine.files_writing[name] = 0
        self.timer: Timer | None = None
        assert req.head is not None
        if engine.http.cfg.responseheader:
            self._write(req.head.render())

    def wake(self) -> None:
        req = self.req
        if req.body:
            data = bytes(req.body)
            req.body.clear()
            req.update_reading()
            if not self._write(data):
                return
        if req.complete:
            self._end(req.error)
        else:
            if self.timer is not None:
                self.timer.cancel()
            self.timer = self.engine.call_later(float(self.wait_time), self._timed_out)

    def _write(self, data: bytes) -> bool:
        if self.writer is None:
            return False
        if self.size + len(data) > self.limit:
            too_large = self.size + len(data) > self.engine.config.max_file_size
            self.engine.note(
                f"QHTTPREADFILE {self.name}: over {self.limit} bytes, "
                f"{'the largest file' if too_large else 'the free space'}: nothing kept"
            )
            self._end(FileError.TOO_LARGE if too_large else FileError.DRIVE_FULL)
            return False
        try:
            self.writer.write(data)
        except OSError as exc:
            self.engine.note(f"QHTTPREADFILE {self.name}: {exc}")
            self._end(FileError.WRITE_FAILED)
            return False
        self.size += len(data)
        self.engine.files_writing[self.name] = self.size
        return True

    def _timed_out(self) -> None:
        self.req.fail(HttpError.READ_TIMEOUT, f"no body byte for {self.wait_time} s")

    def _end(self, code: int) -> None:
        writer, self.writer = self.writer, None
        if writer is None:
            return
        self.engine.files_writing.pop(self.name, None)
        if self.timer is not None:
            self.timer.cancel()
        engine = self.engine
        self.req.consumer = None
        if code == 0:
            try:
                writer.commit()
            except OSError as exc:
                engine.note(f"QHTTPREADFILE {self.name}: {exc}")
                code = FileError.WRITE_FAILED
            else:
                engine.note(f"file {self.name} stored, {self.size} bytes")
        else:
            writer.discard()
            replace(engine, None)
        if engine.http.request is self.req:
            replace(engine, None)
        engine.urc(f"+QHTTPREADFILE: {code}")

    def drop(self) -> None:
        if self.writer is not None:
            self.writer.discard()
            self.writer = None
            self.engine.files_writing.pop(self.name, None)
