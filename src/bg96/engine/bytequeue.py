"""A socket's receive buffer: bytes in arrival order, kept as the chunks the network gave.

A bytearray would copy every chunk in and every read out. Here a chunk goes in as it is, and
a read that takes whole chunks gets them back as they are: in transparent mode a socket read
reaches the host's port without a copy of its own (the one ``bench/plain.py`` measures).
Small chunks (UDP datagrams, trickles) are joined into one piece so that a buffer of tiny
arrivals costs no more than their bytes.
"""

from __future__ import annotations

SMALL = 2048  # a chunk under this is copied onto the last piece ...
PIECE = 65536  # ... while that piece is under this


class ByteQueue:
    """FIFO of bytes: ``append`` at the back, ``take`` from the front."""

    __slots__ = ("_head", "_pieces", "_size")

    def __init__(self) -> None:
        self._pieces: list[bytes | bytearray] = []  # a few: reading pauses at a limit
        self._size = 0
        self._head = 0  # bytes of the first piece already taken

    def __len__(self) -> int:
        return self._size

    def __bool__(self) -> bool:
        return self._size > 0

    def __repr__(self) -> str:
        return f"ByteQueue({self._size} bytes in {len(self._pieces)} pieces)"

    def append(self, data: bytes) -> None:
        n = len(data)
        if not n:
            return
        self._size += n
        pieces = self._pieces
        if n < SMALL:
            last = pieces[-1] if pieces else None
            if isinstance(last, bytearray) and len(last) < PIECE:
                last += data
            else:
                pieces.append(bytearray(data))
            return
        # a bytearray piece is always one of ours, that small chunks may grow
        pieces.append(data if type(data) is bytes else bytes(data))

    def take(self, n: int) -> bytes:
        """Up to ``n`` bytes from the front (fewer when fewer are there)."""
        n = min(n, self._size)
        if n <= 0:
            return b""
        self._size -= n
        pieces = self._pieces
        first, head = pieces[0], self._head
        rest = len(first) - head
        if n < rest:
            self._head = head + n
            with memoryview(first) as view:
                return bytes(view[head : head + n])
        if n == rest:
            del pieces[0]
            self._head = 0
            if not head and type(first) is bytes:
                return first  # a whole chunk as it came: no copy
            with memoryview(first) as view:
                return bytes(view[head:])
        parts: list[bytes | bytearray | memoryview] = []
        while n:
            first = pieces[0]
            rest = len(first) - head
            if n < rest:
                parts.append(memoryview(first)[head : head + n])
                self._head = head + n
                break
            parts.append(memoryview(first)[head:] if head else first)
            del pieces[0]
            n -= rest
            head = self._head = 0
        out = b"".join(parts)
        for part in parts:
            if isinstance(part, memoryview):
                part.release()
        return out

    def clear(self) -> None:
        self._pieces.clear()
        self._size = self._head = 0
