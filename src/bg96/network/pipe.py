"""The radio link on the event loop: one ``Link`` each way, shared by every connection of the
module; each connection pushes into its own ``Flow`` and is called back when bytes arrive."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Hashable

from .link import Link, Tag


class LinkPipe:
    """One direction of the module's link on the loop: one timer for all its flows."""

    def __init__(self, link: Link, loop: asyncio.AbstractEventLoop) -> None:
        self.link = link
        self._loop = loop
        self._flows: dict[Hashable, Flow] = {}
        self._held: set[Hashable] = set()  # paused flows: their arrivals wait
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None

    def flow(self, key: Hashable, rng: random.Random, deliver: Callable[[bytes], None]) -> Flow:
        """A connection's share of this direction; ``deliver`` gets its bytes as they arrive."""
        self.link.add(key, rng)
        flow = Flow(self, key, lambda data, _tag: deliver(data))
        self._flows[key] = flow
        return flow

    def datagram_flow(
        self, key: Hashable, rng: random.Random, deliver: Callable[[bytes, Tag], None]
    ) -> Flow:
        """A UDP socket's share: ``deliver`` gets each datagram that arrives, with the tag it
        was pushed with (its address); a lost one never comes."""
        self.link.add(key, rng, datagram=True)
        flow = Flow(self, key, deliver, datagram=True)
        self._flows[key] = flow
        return flow

    def _drop(self, flow: Flow) -> None:
        self._flows.pop(flow.key, None)
        self._held.discard(flow.key)
        self.link.remove(flow.key)
        self._schedule()

    def _hold(self, flow: Flow, held: bool) -> None:
        if held:
            self._held.add(flow.key)
        else:
            self._held.discard(flow.key)
        self._run()

    def _run(self) -> None:
        now = self._loop.time()
        self.link.advance(now)
        for flow in list(self._flows.values()):
            if flow.key in self._held or flow.closed:
                continue
            if flow.datagram:
                for data, tag in self.link.take_datagrams(flow.key, now):
                    flow.delivered += len(data)
                    flow._deliver(data, tag)
                    if flow.closed:
                        break
            else:
                data = self.link.take(flow.key, now)
                if data:
                    flow.delivered += len(data)
                    flow._deliver(data, None)
            if not flow.closed and flow._drained and not self.link.size(flow.key):
                callbacks, flow._drained = flow._drained, []
                for callback in callbacks:
                    callback()
        self._schedule()

    def _schedule(self) -> None:
        when = self.link.next_time(self._held)
        if when == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._timer_at = when
        if when is not None:
            self._timer = self._loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._timer_at = None
        self._run()


class Flow:
    """One connection's bytes in one direction of the shared link.

    ``pause`` holds arrivals back (the receiver's window is closed); ``when_drained`` runs a
    callback once everything pushed so far has been delivered (a FIN after the data).
    """

    def __init__(
        self,
        pipe: LinkPipe,
        key: Hashable,
        deliver: Callable[[bytes, Tag], None],
        *,
        datagram: bool = False,
    ) -> None:
        self._pipe = pipe
        self.key = key
        self._deliver = deliver
        self.datagram = datagram
        self._drained: list[Callable[[], None]] = []
        self.paused = False
        self.closed = False
        self.pushed = 0  # bytes pushed so far
        self.delivered = 0  # bytes handed to ``deliver`` so far

    def __len__(self) -> int:
        return self._pipe.link.size(self.key)

    def push(self, data: bytes, tag: Tag = None) -> None:
        """Bytes (a datagram, with its ``tag``, on a datagram flow) onto the link."""
        if self.closed or (not data and not self.datagram):
            return
        self.pushed += len(data)
        self._pipe.link.push(self.key, data, self._pipe._loop.time(), tag)
        self._pipe._run()

    def pause(self) -> None:
        if not self.paused and not self.closed:
            self.paused = True
            self._pipe._hold(self, True)

    def resume(self) -> None:
        if self.paused and not self.closed:
            self.paused = False
            self._pipe._hold(self, False)

    def when_drained(self, callback: Callable[[], None]) -> None:
        if not len(self):
            callback()
        else:
            self._drained.append(callback)

    def close(self) -> None:
        """Drop what is queued; deliver nothing more."""
        if self.closed:
            return
        self.closed = True
        self._drained.clear()
        self._pipe._drop(self)


class RadioLink:
    """The module's radio: an uplink and a downlink every connection shares."""

    def __init__(self, up: Link, down: Link, loop: asyncio.AbstractEventLoop) -> None:
        self.up = LinkPipe(up, loop)
        self.down = LinkPipe(down, loop)
