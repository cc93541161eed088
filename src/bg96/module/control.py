"""The control endpoint of a running module (``bg96 serve --control HOST:PORT``).

One JSON object a line each way. Requests: ``{"op": "fault", "script": "<fault lines>"}``
(the fault script format, docs/faults.md), ``{"op": "status"}`` and ``{"op": "trace"}``; each
may carry ``"token"``. Answers: ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``.
After ``trace``'s answer the connection streams the live trace, ``{"event": <record>}`` a line
(docs/trace.md's JSON-lines schema) and ``{"dropped": N}`` where a slow reader lost events,
until the client disconnects. Loopback only unless a token is set; with a token every
request must carry it. At most ``MAX_CONNECTIONS`` connections at a time; one that sends no
complete request line (or takes nothing of what is written to it) for ``IDLE_TIMEOUT``
seconds is closed. docs/monitor.md has the fields and the limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hmac
import json
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from .faults import FaultError
from .status import snapshot
from .virtual import VirtualModule, is_loopback

MAX_REQUEST = 65536  # bytes of one request line
TRACE_QUEUE_EVENTS = 1000  # events a trace subscriber may lag behind before the oldest go
TRACE_QUEUE_BYTES = 1 << 20  # ... and bytes of them
MAX_SUBSCRIBERS = 8  # trace subscriptions at a time (each event is queued for each)
MAX_CONNECTIONS = 16  # connections at a time, subscribers too; more get an error and are closed
IDLE_TIMEOUT = 60.0  # seconds to send a request line, or to take a written byte, before a close
CLOSE_WAIT = 1.0  # seconds a closing connection may take to flush before it is aborted


class ControlError(Exception):
    """The control endpoint cannot start as asked, or a request failed."""


class _Then(enum.Enum):
    """What a connection does after an answer."""

    KEEP = "keep"
    CLOSE = "close"
    TRACE = "trace"


class _Subscriber:
    """A trace subscriber's queue: bounded, the oldest events go first, counted."""

    def __init__(self) -> None:
        self.lines: deque[bytes] = deque()
        self.size = 0
        self.dropped = 0
        self.ready = asyncio.Event()

    def push(self, line: bytes) -> None:
        """``line``: one ``{"event": ...}`` JSON line, encoded once for every subscriber."""
        self.lines.append(line)
        self.size += len(line)
        while len(self.lines) > TRACE_QUEUE_EVENTS or (
            self.size > TRACE_QUEUE_BYTES and len(self.lines) > 1  # the newest always stays
        ):
            self.size -= len(self.lines.popleft())
            self.dropped += 1
        self.ready.set()

    def take(self) -> bytes:
        """Everything queued, a ``{"dropped": N}`` line first if events were lost."""
        out = b"".join(self.lines)
        if self.dropped:
            out = json.dumps({"dropped": self.dropped}).encode() + b"\n" + out
        self.lines.clear()
        self.size = self.dropped = 0
        self.ready.clear()
        return out


class ControlServer:
    """Serves requests for ``module`` on ``host:port``.

    Whatever a client sends, it gets an answer or a close, and the endpoint stays up: at most
    ``max_connections`` at a time (more are refused), each closed when it sends no complete
    request line, or takes no byte of its answers, for ``idle_timeout`` seconds."""

    def __init__(
        self,
        module: VirtualModule,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str = "",
        *,
        max_connections: int = MAX_CONNECTIONS,
        idle_timeout: float = IDLE_TIMEOUT,
    ) -> None:
        if not is_loopback(host) and not token:
            raise ControlError(f"the control endpoint on {host} needs a token (--control-token)")
        self.module = module
        self.host = host
        self.port = port
        self.token = token
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()  # every connection, refused ones too
        self._served: set[asyncio.StreamWriter] = set()  # those counted against the cap
        self._handlers: set[asyncio.Task[Any]] = set()
        self._subscribers: list[_Subscriber] = []
        self._listener: Callable[[dict[str, object]], None] | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._client, self.host, self.port, limit=MAX_REQUEST
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and end every connection (trace subscriptions too)."""
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()  # a subscriber that stopped reading cannot hold us
            if self._handlers:  # they end once their connection has closed
                await asyncio.wait(self._handlers, timeout=5)
            await self._server.wait_closed()

    @property
    def connections(self) -> int:
        """Connections open and counted against ``max_connections``."""
        return len(self._served)

    @property
    def subscribers(self) -> int:
        """Trace subscriptions open."""
        return len(self._subscribers)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            if len(self._served) >= self.max_connections:
                error = f"{self.max_connections} control connections open already; try later"
                await self._reply(writer, {"ok": False, "error": error})
                return
            self._served.add(writer)
            await self._serve(reader, writer)
        except TimeoutError:  # (an OSError too) it took nothing written to it for idle_timeout
            writer.transport.abort()
        except (ConnectionError, OSError):
            return  # the client went away mid-request: nothing to undo
        finally:
            self._writers.discard(writer)
            self._served.discard(writer)
            if task is not None:
                self._handlers.discard(task)
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), CLOSE_WAIT)
            except (ConnectionError, OSError, TimeoutError):
                writer.transport.abort()  # a client that does not read what is left

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Request lines and their answers until the client ends, errs or idles."""
        while True:
            try:
                line = await asyncio.wait_for(reader.readline(), self.idle_timeout)
            except TimeoutError:  # nothing, or bytes trickling in without a line end
                error = f"no complete request for {self.idle_timeout:g} s; closing"
                await self._reply(writer, {"ok": False, "error": error})
                return
            except (ValueError, asyncio.LimitOverrunError):
                await self._reply(writer, {"ok": False, "error": "request too long"})
                return
            if not line:
                return
            answer, then = self._answer(line)
            if then is _Then.TRACE:
                await self._stream_trace(reader, writer)
                return
            await self._reply(writer, answer)
            if then is _Then.CLOSE:
                return

    async def _reply(self, writer: asyncio.StreamWriter, answer: dict[str, Any]) -> None:
        writer.write(json.dumps(answer).encode() + b"\n")
        await self._drain(writer)

    async def _drain(self, writer: asyncio.StreamWriter) -> None:
        """``writer.drain()``; ``TimeoutError`` when the client takes no byte of what waits
        for it for ``idle_timeout`` seconds (a slow reader that makes progress is waited for)."""
        transport = writer.transport
        while True:
            waiting = transport.get_write_buffer_size()
            try:
                await asyncio.wait_for(writer.drain(), self.idle_timeout)
                return
            except TimeoutError:
                if transport.get_write_buffer_size() >= waiting:
                    raise

    def handle(self, line: bytes) -> tuple[dict[str, Any], bool]:
        """One request line: (the answer, whether the connection stays open)."""
        answer, then = self._answer(line)
        return answer, then is not _Then.CLOSE

    def _answer(self, line: bytes) -> tuple[dict[str, Any], _Then]:
        try:
            return self._request(line)
        except Exception as exc:  # never into the module's loop; the client gets an answer
            return {"ok": False, "error": f"request failed: {exc!r}"}, _Then.CLOSE

    def _request(self, line: bytes) -> tuple[dict[str, Any], _Then]:
        try:
            request = json.loads(line)
        except (ValueError, UnicodeDecodeError, RecursionError):
            request = None
        if not isinstance(request, dict):
            # not this protocol (an HTTP request a web page sent, say): nothing more is read
            return {"ok": False, "error": "not a JSON object"}, _Then.CLOSE
        # a JSON string may hold a lone surrogate ("\ud800"): it is a wrong token, not a crash
        given = str(request.get("token", "")).encode("utf-8", "surrogatepass")
        if self.token and not hmac.compare_digest(given, self.token.encode()):
            return {"ok": False, "error": "bad or missing token"}, _Then.CLOSE
        op = request.get("op")
        if op == "fault":
            script = request.get("script")
            if not isinstance(script, str):
                return {"ok": False, "error": '"script" must be a string'}, _Then.KEEP
            try:
                self.module.faults.run(script)
            except (FaultError, ValueError, RuntimeError) as exc:
                return {"ok": False, "error": str(exc)}, _Then.KEEP
            return {"ok": True}, _Then.KEEP
        if op == "status":
            return {"ok": True, "status": self.status()}, _Then.KEEP
        if op == "trace":
            if len(self._subscribers) >= MAX_SUBSCRIBERS:
                return {"ok": False, "error": f"{MAX_SUBSCRIBERS} trace subscribers already"}, (
                    _Then.KEEP
                )
            return {"ok": True}, _Then.TRACE
        return {"ok": False, "error": f"unknown op {op!r} (fault, status, trace)"}, _Then.KEEP

    def status(self) -> dict[str, Any]:
        """At a glance (``bg96.module.status.snapshot``); ``{}`` when stopped."""
        try:
            return self.module.with_engine(snapshot)
        except RuntimeError:  # not running, or the module's loop is gone
            return {}

    async def _stream_trace(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Answer, then stream trace events until the client goes away.

        The module's loop only appends to a bounded queue (``_Subscriber``); a task here
        writes it out, so a slow or vanished subscriber never holds the module up."""
        sub = _Subscriber()
        self._subscribers.append(sub)
        if self._listener is None:  # the trace costs nothing while nobody subscribes
            self._listener = self._make_listener(asyncio.get_running_loop())
            self.module.trace.listen(self._listener)
        tasks: set[asyncio.Task[None]] = set()
        try:
            await self._reply(writer, {"ok": True})
            tasks = {
                asyncio.create_task(self._send_events(sub, writer)),
                asyncio.create_task(self._until_eof(reader)),
            }
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._subscribers.remove(sub)
            if not self._subscribers and self._listener is not None:
                self.module.trace.unlisten(self._listener)
                self._listener = None
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _make_listener(
        self, loop: asyncio.AbstractEventLoop
    ) -> Callable[[dict[str, object]], None]:
        """The one trace listener: encodes each event once and queues it for every
        subscriber (in this loop, even when the module runs in another thread)."""

        def publish(line: bytes) -> None:
            for sub in self._subscribers:
                sub.push(line)

        def listener(event: dict[str, object]) -> None:
            if not self._subscribers:
                return
            line = json.dumps({"event": event}).encode() + b"\n"
            try:
                same_loop = asyncio.get_running_loop() is loop
            except RuntimeError:
                same_loop = False
            if same_loop:
                publish(line)
            else:
                loop.call_soon_threadsafe(publish, line)

        return listener

    async def _send_events(self, sub: _Subscriber, writer: asyncio.StreamWriter) -> None:
        """Until the subscriber goes, or stops reading for ``idle_timeout`` while events wait
        (its queue only ever kept the newest; now its connection is dropped too)."""
        try:
            while True:
                await sub.ready.wait()
                writer.write(sub.take())
                await self._drain(writer)
        except TimeoutError:  # before OSError, of which it is one
            writer.transport.abort()
        except (ConnectionError, OSError):
            return

    @staticmethod
    async def _until_eof(reader: asyncio.StreamReader) -> None:
        """What a subscriber sends is ignored; its end ends the subscription."""
        with contextlib.suppress(ConnectionError, OSError):
            while await reader.read(4096):
                pass


async def request(host: str, port: int, payload: dict[str, Any], token: str = "") -> Any:
    """Send one request to a control endpoint and return its answer."""
    if token:
        payload = {**payload, "token": token}
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(json.dumps(payload).encode() + b"\n")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 10)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()
    if not line:
        raise ControlError("the control endpoint closed the connection")
    return json.loads(line)


class ControlClient:
    """One connection to a control endpoint for many requests (``bg96 monitor``)."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, token: str = ""
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._token = token
        self._lock = asyncio.Lock()

    @classmethod
    async def connect(cls, host: str, port: int, token: str = "") -> ControlClient:
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 24)
        return cls(reader, writer, token)

    async def request(self, payload: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
        """The answer to ``payload``; ``ControlError`` when the endpoint has gone."""
        if self._token:
            payload = {**payload, "token": self._token}
        async with self._lock:
            self._writer.write(json.dumps(payload).encode() + b"\n")
            await self._writer.drain()
            try:
                line = await asyncio.wait_for(self._reader.readline(), timeout)
            except TimeoutError:
                self._writer.transport.abort()  # a late answer must not answer the next one
                raise ControlError(f"no answer within {timeout:g} s") from None
        if not line:
            raise ControlError("the control endpoint closed the connection")
        answer = json.loads(line)
        if not isinstance(answer, dict):
            raise ControlError(f"not an answer: {line!r}")
        return answer

    async def subscribe_trace(self) -> None:
        """Turn this connection into a trace stream (read it with ``lines``)."""
        answer = await self.request({"op": "trace"})
        if not answer.get("ok"):
            raise ControlError(str(answer.get("error")))

    async def lines(self) -> AsyncIterator[dict[str, Any]]:
        """The objects the endpoint sends unasked (a trace subscription), until it closes."""
        while line := await self._reader.readline():
            item = json.loads(line)
            if isinstance(item, dict):
                yield item

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.wait_closed()
