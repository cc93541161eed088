"""Deadlines on the engine's own clock: no clock reads, the caller says what time it is."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(order=True)
class Timer:
    """A callback due at ``when``; ``cancel()`` makes it a no-op.

    ``persistent`` timers survive ``Timers.clear()`` (a module restart): injected faults
    belong to the network and the test, not to the module.
    """

    when: float
    seq: int
    callback: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)
    persistent: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


COMPACT_MIN = 64  # heap size below which cancelled timers are left to time out


class Timers:
    """A heap of timers run by ``run_due(now)``.

    A cancelled timer stays in the heap until its time; one re-armed for every host byte (a
    QFUPL idle timeout, a transparent-mode packet timer) would pile up, so the heap is
    compacted whenever it has doubled since the last time: at most twice the live timers.
    """

    def __init__(self) -> None:
        self._heap: list[Timer] = []
        self._seq = itertools.count()
        self._compact_at = COMPACT_MIN

    def call_at(
        self, when: float, callback: Callable[[], None], *, persistent: bool = False
    ) -> Timer:
        timer = Timer(when, next(self._seq), callback, persistent=persistent)
        heapq.heappush(self._heap, timer)
        if len(self._heap) >= self._compact_at:
            self._heap = [t for t in self._heap if not t.cancelled]
            heapq.heapify(self._heap)
            self._compact_at = max(COMPACT_MIN, 2 * len(self._heap))
        return timer

    def next_deadline(self) -> float | None:
        heap = self._heap
        while heap and heap[0].cancelled:
            heapq.heappop(heap)
        return heap[0].when if heap else None

    def pop_due(self, now: float) -> Timer | None:
        """The earliest timer due at or before ``now`` (removed), or None."""
        heap = self._heap
        while heap and heap[0].when <= now:
            timer = heapq.heappop(heap)
            if not timer.cancelled:
                timer.cancelled = True
                return timer
        return None

    def clear(self) -> None:
        """Cancel every timer but the persistent ones."""
        kept = [t for t in self._heap if t.persistent and not t.cancelled]
        for timer in self._heap:
            if not timer.persistent:
                timer.cancelled = True
        self._heap = kept
        heapq.heapify(self._heap)
