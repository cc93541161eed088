"""Running a test's coroutine, and waiting on a condition, for the asyncio tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any


def run(main: Callable[[], Coroutine[Any, Any, None]], timeout: float = 30.0) -> None:
    """Run one test's coroutine on a fresh event loop, with an overall deadline."""

    async def bounded() -> None:
        async with asyncio.timeout(timeout):
            await main()

    asyncio.run(bounded())


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``predicate`` on the loop until it holds; TimeoutError after ``timeout`` s."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.002)


async def read_exactly(conn: Any, size: int, timeout: float = 10.0) -> bytes:
    """``size`` bytes from an async connection (``recv`` with a timeout), or AssertionError if
    it closes first."""
    got = b""
    while len(got) < size:
        chunk = await conn.recv(size - len(got), timeout=timeout)
        assert chunk, f"closed after {len(got)} of {size} bytes"
        got += chunk
    return got
