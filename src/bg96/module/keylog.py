"""NSS key-log files (``--keylog``, ``SSLKEYLOGFILE``) so Wireshark can decrypt the traffic."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path


def open_keylog(path: str | Path) -> Callable[[str], None]:
    """A writer that appends each key-log line to ``path`` and flushes at once."""
    stream = open(path, "a", encoding="ascii", buffering=1)  # noqa: SIM115 (lives with the module)
    lock = threading.Lock()

    def write(line: str) -> None:
        with lock:
            stream.write(line + "\n")

    return write


def keylog_from_env() -> Callable[[str], None] | None:
    """The ``SSLKEYLOGFILE`` writer, as browsers and curl honour it, or None."""
    path = os.environ.get("SSLKEYLOGFILE")
    return open_keylog(path) if path else None
