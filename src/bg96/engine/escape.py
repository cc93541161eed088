"""``+++`` with guard times, as data mode leaves it (the manual's chapter 1.3, the general
manual's 7.6): at least 1 s without input before, the three ``+`` within 1 s (the third less
than 1 s after the first), and 1 s without input after. Any other ``+`` is data. Transparent
mode and the FILE upload both watch their host bytes with one of these."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .timers import Timer

if TYPE_CHECKING:
    from .core import Engine

GUARD = 1.0  # seconds of silence before and after +++, and the window for the three +
ESCAPE_LEN = 3


class GuardedEscape:
    """Host bytes in, on the engine's clock: ``on_data`` gets the data (``+`` held back while
    they may be the escape), ``on_escape`` is called once the escape is complete."""

    def __init__(
        self,
        engine: Engine,
        on_data: Callable[[bytes], None],
        on_escape: Callable[[], None],
    ) -> None:
        self.engine = engine
        self._on_data = on_data
        self._on_escape = on_escape
        self.held = 0  # '+' bytes held back: they may be an escape sequence
        self.first_plus = 0.0
        self.last_rx = engine.now  # silence is counted from entering the mode
        self._timer: Timer | None = None

    def feed(self, data: bytes) -> None:
        """Host bytes, all arriving now."""
        now = self.engine.now
        if self.held:
            more = len(data) - len(data.lstrip(b"+"))
            if (
                more == len(data)
                and self.held + more <= ESCAPE_LEN
                and now - self.first_plus < GUARD
            ):
                self._hold(more, now)
                return
            data = b"+" * self.held + data
            self._release()
        elif (
            data[:1] == b"+"
            and now - self.last_rx >= GUARD
            and len(data) <= ESCAPE_LEN
            and data.count(b"+") == len(data)
        ):
            self.first_plus = now
            self._hold(len(data), now)
            return
        self.last_rx = now
        self._on_data(data)

    def _hold(self, count: int, now: float) -> None:
        self.held += count
        self.last_rx = now
        if self._timer is not None:
            self._timer.cancel()
        if self.held == ESCAPE_LEN:
            self._timer = self.engine.call_later(GUARD, self._escape)
        else:
            # the rest of the sequence must come within the window, else the + are data
            self._timer = self.engine.call_later(self.first_plus + GUARD - now, self._window_passed)

    def _release(self) -> None:
        self.held = 0
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _window_passed(self) -> None:
        data = b"+" * self.held
        self._release()
        self._on_data(data)

    def _escape(self) -> None:
        self._release()
        self._on_escape()

    def stop(self) -> int:
        """Watching ends: cancel the timer; returns how many held bytes are dropped."""
        held = self.held
        self._release()
        return held
