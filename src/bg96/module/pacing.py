"""Baud-rate pacing: hand out bytes no faster than a UART at ``AT+IPR`` would send them.

Sans-IO like the engine: ``push`` bytes with the time they were written, ``take(now)`` those
whose transmission has ended by ``now``, ``next_time()`` says when the next chunk will have.
10 bits a byte (8N1: start bit, 8 data bits, stop bit). A byte never starts before it was
pushed, nor before the byte ahead of it has finished.
"""

from __future__ import annotations

from collections import deque

BITS_PER_BYTE = 10
CHUNK = 16  # bytes: wake up for no less (a real UART FIFO holds about this many)


class Pacer:
    """A byte queue sent at ``rate`` baud, one byte after the other."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._queue: deque[tuple[float, bytearray]] = deque()  # (pushed at, bytes)
        self._size = 0
        self._line_free = 0.0  # when the last byte taken finished on the line

    @property
    def bytes_per_second(self) -> float:
        return self.rate / BITS_PER_BYTE

    def __len__(self) -> int:
        return self._size

    def clear(self) -> None:
        """Forget what is queued (the line was cut)."""
        self._queue.clear()
        self._size = 0

    def push(self, data: bytes, now: float) -> None:
        if data:
            self._queue.append((now, bytearray(data)))
            self._size += len(data)

    def take(self, now: float) -> bytes:
        """The bytes whose last bit has gone out by ``now``."""
        out = bytearray()
        rate = self.bytes_per_second
        while self._queue:
            pushed, data = self._queue[0]
            start = max(self._line_free, pushed)
            n = min(len(data), int((now - start) * rate + 1e-9))
            if n <= 0:
                break
            out += data[:n]
            del data[:n]
            self._line_free = start + n / rate
            if data:
                break
            self._queue.popleft()
        self._size -= len(out)
        return bytes(out)

    def next_time(self) -> float | None:
        """When ``take`` will next give a chunk (or all that is queued, if less)."""
        if not self._queue:
            return None
        rate = self.bytes_per_second
        t = self._line_free
        wanted = min(self._size, CHUNK)
        for pushed, data in self._queue:
            count = min(len(data), wanted)
            t = max(t, pushed) + count / rate
            wanted -= count
            if wanted == 0:
                break
        return t
