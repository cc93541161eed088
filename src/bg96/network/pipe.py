"""A ``Shaper`` on the event loop: pushes bytes in, calls ``deliver`` when they arrive."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from .link import Shaper


class ShapedPipe:
    """One direction of one connection through a shaped link.

    ``paused`` holds arrivals back (the receiver's window is closed); ``when_drained`` runs a
    callback once everything pushed so far has been delivered (a FIN after the data).
    """

    def __init__(
        self,
        shaper: Shaper,
        deliver: Callable[[bytes], None],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.shaper = shaper
        self._deliver = deliver
        self._loop = loop
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._drained: list[Callable[[], None]] = []
        self.paused = False
        self.closed = False
        self.pushed = 0  # bytes pushed so far
        self.delivered = 0  # bytes handed to ``deliver`` so far

    def __len__(self) -> int:
        return len(self.shaper)

    def push(self, data: bytes) -> None:
        if self.closed:
            return
        self.pushed += len(data)
        self.shaper.push(data, self._loop.time())
        self._run()

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        if self.paused:
            self.paused = False
            self._run()

    def when_drained(self, callback: Callable[[], None]) -> None:
        if not len(self.shaper):
            callback()
        else:
            self._drained.append(callback)

    def close(self) -> None:
        """Drop what is queued; deliver nothing more."""
        self.closed = True
        self.shaper.clear()
        self._drained.clear()
        self._cancel()

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._timer_at = None

    def _run(self) -> None:
        if self.closed or self.paused:
            return
        data = self.shaper.take(self._loop.time())
        if data:
            self.delivered += len(data)
            self._deliver(data)
            if self.closed:
                return
        if not len(self.shaper) and self._drained:
            callbacks, self._drained = self._drained, []
            for callback in callbacks:
                callback()
        self._schedule()

    def _schedule(self) -> None:
        when = None if self.paused or self.closed else self.shaper.next_time()
        if when == self._timer_at:
            return
        self._cancel()
        if when is not None:
            self._timer_at = when
            self._timer = self._loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._timer_at = None
        self._run()
