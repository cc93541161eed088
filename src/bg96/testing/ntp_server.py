"""A loopback SNTP server for tests and examples: answers each request with this machine's
time (shifted by ``offset`` seconds if asked), or nothing at all (``silent``)."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Self

from ..module.nettools import NTP_PACKET, sntp_reply

LOOPBACK = "127.0.0.1"


class SntpServer:
    """``with SntpServer() as ntp``: serves on 127.0.0.1:``ntp.port`` in a thread."""

    def __init__(self, *, offset: float = 0.0, silent: bool = False) -> None:
        self.offset = offset
        self.silent = silent
        self.requests = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((LOOPBACK, 0))
        self._sock.settimeout(0.2)
        self.host = LOOPBACK
        self.port: int = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="sntp", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self._sock.recvfrom(1024)
            except TimeoutError:
                continue
            except OSError:
                return
            self.requests += 1
            if self.silent or len(data) < NTP_PACKET:
                continue
            self._sock.sendto(sntp_reply(data, time.time() + self.offset), addr)
