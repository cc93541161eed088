"""The module's URC queue: unsolicited result codes waiting for a gap between responses, and
push-mode data waiting for room on the UART.

Push-mode data stays in its socket's receive buffer until the UART can take it; the queue
holds only a ``PushBlock`` saying how many of those bytes come at that point, so a host that
does not read holds the data in the (finite) socket buffer, not in a growing list of URCs.
Plain URCs are few (state changes); past ``MAX_URCS`` the oldest is dropped and counted, as
a module's URC buffer would.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .state import Socket

MAX_URCS = 256  # queued URCs before the oldest plain one is dropped


@dataclass(eq=False)
class PushBlock:
    """``nbytes`` of ``sock``'s receive buffer, pushed as URCs of at most ``chunk`` bytes,
    each ``header(n)`` CR LF and the data."""

    sock: Socket
    nbytes: int
    header: Callable[[int], bytes]
    chunk: int = 1500
    mergeable: bool = True  # later data may join (TCP); a datagram stays alone (UDP)
    separator: bytes = b"\r\n"  # between header and data (AT+QICFG="viewmode",1: a comma)
    render: Callable[[bytes], bytes] | None = None  # the data as shown (hex with "dataformat")


Item = bytes | PushBlock


class UrcQueue:
    """URCs in the order they arose; push blocks are expanded only when there is room."""

    def __init__(self) -> None:
        self.items: deque[Item] = deque()  # checked directly on the hot path (no __bool__)
        self.dropped = 0  # plain URCs dropped because the queue was full

    def __len__(self) -> int:
        return len(self.items)

    def __bool__(self) -> bool:
        return bool(self.items)

    def __iter__(self) -> Iterator[Item]:
        return iter(self.items)

    def clear(self) -> None:
        self.items.clear()

    def add(self, text: bytes) -> bytes | None:
        """Queue a URC; returns the URC dropped to make room, if one had to be."""
        dropped = None
        if len(self.items) >= MAX_URCS:
            for i, item in enumerate(self.items):
                if isinstance(item, bytes):
                    del self.items[i]
                    dropped = item
                    self.dropped += 1
                    break
        self.items.append(text)
        return dropped

    def add_push(self, block: PushBlock) -> None:
        """``block.nbytes`` more bytes arrived for a push-mode socket (already in its buffer)."""
        last = self.items[-1] if self.items else None
        if (
            isinstance(last, PushBlock)
            and last.sock is block.sock
            and last.mergeable
            and block.mergeable
        ):
            last.nbytes += block.nbytes
            return
        if len(self.items) >= MAX_URCS:
            # a full queue: the data joins the socket's latest block instead (its order within
            # the socket stays right; only its place among other sockets' URCs moves up)
            for item in reversed(self.items):
                if isinstance(item, PushBlock) and item.sock is block.sock and item.mergeable:
                    item.nbytes += block.nbytes
                    return
        self.items.append(block)

    def remove_push(self, sock: Socket) -> int:
        """Forget ``sock``'s push blocks (it left push mode); returns the bytes they covered."""
        covered = 0
        for item in list(self.items):
            if isinstance(item, PushBlock) and item.sock is sock:
                covered += item.nbytes
                self.items.remove(item)
        return covered

    def flush(
        self,
        out: bytearray,
        verbose: bool,
        push_limit: float,
        pushed: Callable[[Socket, int], None],
        *,
        start: int = 0,
    ) -> None:
        """Write queued URCs from position ``start`` into ``out``; push data only while
        ``out`` holds less than ``push_limit`` bytes (then the rest waits, in order).
        ``pushed(sock, n)`` is told of every ``n`` bytes taken from a socket's buffer."""
        items = self.items
        while len(items) > start:
            item = items[start]
            if isinstance(item, bytes):
                del items[start]
                out += (b"\r\n" + item + b"\r\n") if verbose else item + b"\r\n"
                continue
            if start or len(out) >= push_limit:
                return  # interleaving never pushes data; a full UART waits
            sock = item.sock
            n = min(item.nbytes, item.chunk, len(sock.recv))
            if n > 0:
                data = sock.recv.take(n)
                shown = data if item.render is None else item.render(data)
                head = item.header(n) + item.separator + shown
                out += (b"\r\n" + head + b"\r\n") if verbose else head + b"\r\n"
                pushed(sock, n)
            item.nbytes -= n
            if item.nbytes <= 0 or n <= 0:
                items.popleft()
