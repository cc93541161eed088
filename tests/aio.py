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
