"""The human-readable traffic trace: every byte between host and module, plus notes.

One event per line: a timestamp, a direction marker (``>>`` host to module, ``<<`` module to
host, ``--`` note) and the bytes escaped so the line stays printable ASCII::

       0.001234 >> AT+QSSLOPEN=1,1,4,"example.com",443,0\\r
       0.001301 << \\r\\nOK\\r\\n
       0.052344 -- connect 1: TLS 1.2 established

A chunk is split after each line end (``\\n``, or a ``\\r`` not followed by ``\\n``, as
an echoed command ends) so that responses read line by line, a bare ``\\r\\n`` staying
with the line it opens; otherwise each chunk is one line (no coalescing across
chunks, so the output is deterministic).

``TeeTrace`` also hands every event, as its JSON-lines record, to listeners: what the
control endpoint's ``trace`` op streams (``bg96 monitor``).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from datetime import datetime
from typing import TextIO


def _escape_char(byte: int) -> str:
    special = {0x0D: "\\r", 0x0A: "\\n", 0x09: "\\t", 0x5C: "\\\\"}
    if byte in special:
        return special[byte]
    if 0x20 <= byte < 0x7F:
        return chr(byte)
    return f"\\x{byte:02x}"


_ESCAPES: list[str] = [_escape_char(b) for b in range(256)]
"""Indexed by byte value (and by code point after a latin-1 decode, for str.translate)."""


def escape(data: bytes) -> str:
    """Printable ASCII as is; ``\\r \\n \\t \\\\`` as escapes; other bytes as ``\\xNN``."""
    return data.decode("latin-1").translate(_ESCAPES)


def split_lines(data: bytes) -> list[bytes]:
    """``data`` cut after each line end, a bare CR LF kept with the line it opens."""
    newlines = data.count(b"\n")
    if newlines == 0 or (newlines == 1 and data[-1] == 0x0A):
        return [data]
    merged: list[bytes] = []
    carry = b""
    for line in data.splitlines(keepends=True):
        # a bare CR LF opens a response line: keep it with the text it frames
        if line == b"\r\n" and not carry:
            carry = line
            continue
        merged.append(carry + line)
        carry = b""
    if carry:
        merged.append(carry)
    return merged


def record(t: float, marker: str, data: bytes) -> dict[str, object]:
    """The JSON-lines record (docs/trace.md) of bytes traced with ``marker`` at time ``t``."""
    out: dict[str, object] = {"t": t}
    if marker == ">>":
        out["kind"] = "host"
    elif marker == "<<":
        out["kind"] = "module"
    else:  # "<client>>" or "<client><": TLS plaintext of one connection
        out["kind"] = "tls_out" if marker.endswith(">") else "tls_in"
        out["client"] = int(marker[:-1])
    out["hex"] = data.hex()
    out["text"] = escape(data)
    return out


class Trace:
    """Writes the trace to ``stream``; ``clock`` gives seconds (monotonic when relative).

    With ``relative`` timestamps are seconds since the trace was created; otherwise ``clock``
    must be POSIX time (``time.time``) and timestamps are local ISO 8601 with microseconds.
    """

    enabled = True
    """False for the null trace, so callers can skip building notes nobody reads."""

    def __init__(
        self,
        stream: TextIO,
        *,
        clock: Callable[[], float],
        relative: bool = True,
        autoflush: bool = False,
        owns_stream: bool = False,
    ) -> None:
        self._stream = stream
        self._clock = clock
        self._relative = relative
        self._autoflush = autoflush
        self._owns_stream = owns_stream
        self._start = clock() if relative else 0.0

    @classmethod
    def null(cls) -> Trace:
        """A trace that discards everything at the cost of a bare method call."""
        return _NullTrace()

    def host_to_module(self, data: bytes) -> None:
        """Bytes the host sent."""
        self._bytes(">>", data)

    def module_to_host(self, data: bytes) -> None:
        """Bytes the module sent."""
        self._bytes("<<", data)

    def note(self, text: str) -> None:
        """A remark (what the module did and why); one line per line of ``text``."""
        stamp = self._stamp()
        lines = text.split("\n")
        self._emit("".join(f"{stamp} -- {line}\n" for line in lines))

    def tls_sent(self, client_id: int, data: bytes) -> None:
        """Plaintext the module sent to the server on ``client_id`` (before encryption)."""
        self._bytes(f"{client_id}>", data)

    def tls_received(self, client_id: int, data: bytes) -> None:
        """Plaintext the server sent on ``client_id`` (after decryption)."""
        self._bytes(f"{client_id}<", data)

    def flush(self) -> None:
        """Push buffered lines to the stream's destination."""
        self._stream.flush()

    def close(self) -> None:
        """Flush, and close the stream if this trace opened it (``open_trace`` with a path)."""
        if self._stream.closed:
            return
        self._stream.flush()
        if self._owns_stream:
            self._stream.close()

    def _bytes(self, marker: str, data: bytes) -> None:
        if not data:
            return
        stamp = self._stamp()
        self._emit("".join(f"{stamp} {marker} {escape(m)}\n" for m in split_lines(data)))

    def _stamp(self) -> str:
        now = self._clock()
        if self._relative:
            return f"{now - self._start:11.6f}"
        return datetime.fromtimestamp(now).astimezone().isoformat(timespec="microseconds")

    def _emit(self, text: str) -> None:
        self._stream.write(text)
        if self._autoflush:
            self._stream.flush()


class HexTrace(Trace):
    """The same events as ``Trace``, bytes as a hex dump: offset, 16 bytes, printable column."""

    def _bytes(self, marker: str, data: bytes) -> None:
        if not data:
            return
        stamp = self._stamp()
        out = []
        for offset in range(0, len(data), 16):
            chunk = data[offset : offset + 16]
            hexes = " ".join(f"{b:02x}" for b in chunk)
            text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
            out.append(f"{stamp} {marker} {offset:04x}  {hexes:<47}  {text}\n")
        self._emit("".join(out))


class JsonlTrace(Trace):
    """One JSON object a line, for tools; the schema is in docs/trace.md."""

    def _bytes(self, marker: str, data: bytes) -> None:
        if not data:
            return
        self._emit(json.dumps(record(self._time(), marker, data)) + "\n")

    def note(self, text: str) -> None:
        self._emit(json.dumps({"t": self._time(), "kind": "note", "text": text}) + "\n")

    def _time(self) -> float:
        now = self._clock()
        return round(now - self._start if self._relative else now, 6)


class _NullTrace(Trace):
    """Discards everything; every method is a no-op."""

    enabled = False

    def __init__(self) -> None:
        pass

    def host_to_module(self, data: bytes) -> None:
        pass

    def module_to_host(self, data: bytes) -> None:
        pass

    def tls_sent(self, client_id: int, data: bytes) -> None:
        pass

    def tls_received(self, client_id: int, data: bytes) -> None:
        pass

    def note(self, text: str) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


TraceListener = Callable[[dict[str, object]], None]
"""Takes one trace event as its JSON-lines record (docs/trace.md)."""


class TeeTrace(Trace):
    """Writes to ``inner`` (the null trace by default) and hands every event to listeners.

    Listeners (``listen``) get each event as its JSON-lines record, ``t`` in seconds since
    this trace was created, in the thread that traces (the module's event loop): they must
    not block. A listener that raises is dropped; the module never sees the error.
    """

    def __init__(self, inner: Trace | None = None, *, clock: Callable[[], float] = time.monotonic):
        self.inner = inner if inner is not None else Trace.null()
        self._clock = clock
        self._start = clock()
        self._listeners: list[TraceListener] = []
        self.enabled = self.inner.enabled

    def listen(self, listener: TraceListener) -> None:
        """Hand every event from now on to ``listener`` too."""
        self._listeners = [*self._listeners, listener]
        self.enabled = True

    def unlisten(self, listener: TraceListener) -> None:
        """Stop handing events to ``listener`` (no error if it is not listening)."""
        self._listeners = [x for x in self._listeners if x != listener]
        self.enabled = self.inner.enabled or bool(self._listeners)

    @property
    def listeners(self) -> int:
        """How many listeners there are."""
        return len(self._listeners)

    def host_to_module(self, data: bytes) -> None:
        self.inner.host_to_module(data)
        if self._listeners and data:
            self._publish(record(self._time(), ">>", data))

    def module_to_host(self, data: bytes) -> None:
        self.inner.module_to_host(data)
        if self._listeners and data:
            self._publish(record(self._time(), "<<", data))

    def note(self, text: str) -> None:
        self.inner.note(text)
        if self._listeners:
            self._publish({"t": self._time(), "kind": "note", "text": text})

    def tls_sent(self, client_id: int, data: bytes) -> None:
        self.inner.tls_sent(client_id, data)
        if self._listeners and data:
            self._publish(record(self._time(), f"{client_id}>", data))

    def tls_received(self, client_id: int, data: bytes) -> None:
        self.inner.tls_received(client_id, data)
        if self._listeners and data:
            self._publish(record(self._time(), f"{client_id}<", data))

    def flush(self) -> None:
        self.inner.flush()

    def close(self) -> None:
        self.inner.close()

    def _time(self) -> float:
        return round(self._clock() - self._start, 6)

    def _publish(self, event: dict[str, object]) -> None:
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                self.unlisten(listener)


FORMATS: dict[str, type[Trace]] = {"text": Trace, "hex": HexTrace, "jsonl": JsonlTrace}


def open_trace(target: str, *, relative: bool = True, fmt: str = "text") -> Trace:
    """A trace to stdout for ``"-"``, else to a new file at path ``target`` (line-buffered).

    ``fmt`` is ``text`` (escaped bytes), ``hex`` (a hex dump) or ``jsonl`` (one JSON object a
    line); ``relative`` timestamps count from the start, else they are wall-clock time.
    """
    kind = FORMATS[fmt]
    clock = time.monotonic if relative else time.time
    if target == "-":
        return kind(sys.stdout, clock=clock, relative=relative, autoflush=True)
    # The Trace owns the file and closes it in close().
    stream = open(target, "w", encoding="utf-8", buffering=1)  # noqa: SIM115
    return kind(stream, clock=clock, relative=relative, owns_stream=True)
