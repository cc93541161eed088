"""Baud-rate pacing: hand out bytes no faster than a UART at ``AT+IPR`` would send them.

Sans-IO like the engine: ``push`` bytes, ``take(now)`` those whose transmission has ended by
``now``, ``next_time()`` says when the next chunk will have. 10 bits a byte (8N1: start bit,
8 data bits, stop bit).
"""

from __future__ import annotations

BITS_PER_BYTE = 10
CHUNK = 16  # bytes: wake up for no less (a real UART FIFO holds about this many)


class Pacer:
    """A byte queue sent at ``rate`` baud, one byte after the other."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._queue = bytearray()
        self._start = 0.0  # when the first queued byte started (or starts) on the line

    @property
    def bytes_per_second(self) -> float:
        return self.rate / BITS_PER_BYTE

    def __len__(self) -> int:
        return len(self._queue)

    def push(self, data: bytes, now: float) -> None:
        if not self._queue:
            self._start = max(self._start, now)  # an idle line starts at once
        self._queue += data

    def take(self, now: float) -> bytes:
        """The bytes whose last bit has gone out by ``now``."""
        n = min(len(self._queue), int((now - self._start) * self.bytes_per_second + 1e-9))
        if n <= 0:
            return b""
        out = bytes(self._queue[:n])
        del self._queue[:n]
        self._start += n / self.bytes_per_second
        return out

    def next_time(self) -> float | None:
        """When ``take`` will next give a chunk (or what is left)."""
        if not self._queue:
            return None
        return self._start + min(len(self._queue), CHUNK) / self.bytes_per_second
