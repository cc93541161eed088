"""A HostSink that records what a transport reports, for the transport tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class RecordingSink:
    """Records transport callbacks; ``reply`` (if set) is called with each host chunk."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.data = bytearray()
        self.reply: Callable[[bytes], None] | None = None

    def host_connected(self) -> None:
        self.events.append("connected")

    def host_data(self, data: bytes) -> None:
        self.data += data
        if self.reply is not None:
            self.reply(data)

    def host_disconnected(self) -> None:
        self.events.append("disconnected")

    def host_lines(self, *, dtr: bool, rts: bool) -> None:
        self.events.append(f"lines dtr={dtr} rts={rts}")

    def host_baudrate(self, rate: int) -> None:
        self.events.append(f"baud {rate}")

    def host_pause_writing(self) -> None:
        self.events.append("pause writing")

    def host_resume_writing(self) -> None:
        self.events.append("resume writing")

    def host_note(self, text: str) -> None:
        self.events.append(f"note {text}")


async def until(predicate: Callable[[], bool], timeout: float = 2.0) -> None:
    """Poll ``predicate`` on the loop until true, failing after ``timeout``."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.002)
