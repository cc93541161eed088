"""glibc's malloc set for a process that relays socket data: ``bg96 serve`` and ``bg96 fleet``.

Every socket read of the event loop is a new bytes object of up to 256 KiB, freed once the
other side has taken it. With glibc's defaults those buffers come from the top of the heap,
the heap is handed back to the kernel (trimmed) as soon as a few of them are free at once,
and the next reads fault its pages in again and have them zeroed: in transparent mode that
cost the module about a third of its CPU per MiB (``bench/plain.py``, ``docs/performance.md``).

``tune()`` keeps buffers of up to ``MMAP_THRESHOLD`` on the heap and trims it only past
``TRIM_THRESHOLD`` free at its top, so the pages are used again. It is called by the
commands, never on import: a program that embeds a ``VirtualModule`` keeps its own settings.
On a C library without ``mallopt`` (musl answers 0, macOS has none) nothing changes.
"""

from __future__ import annotations

import sys

M_TRIM_THRESHOLD = -1  # glibc's <malloc.h> parameter numbers
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 1 << 20  # blocks below this come from the heap (the default starts at 128 KiB)
TRIM_THRESHOLD = 4 << 20  # free bytes at the heap's top kept before it is trimmed


def tune() -> bool:
    """Set both thresholds; True when the C library took them. A 32-bit glibc takes at most
    512 KiB for the first: that is enough for 256 KiB reads."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes  # here: only the commands pay for it

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    mmap = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) or mallopt(
        M_MMAP_THRESHOLD, MMAP_THRESHOLD // 2
    )
    trim = mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    return bool(mmap and trim)
