"""The QFUPL/QFDWL checksum: what the module prints and what a host must verify.

Both sides need it, and the host driver must not import the engine (it runs against real
hardware), so it lives here on its own.
"""

from __future__ import annotations


def checksum(data: bytes) -> int:
    """QFUPL/QFDWL checksum: XOR of the data as big-endian 16-bit words (odd byte padded)."""
    if len(data) % 2:
        data = data + b"\x00"
    words = len(data) // 2
    value = int.from_bytes(data, "big")
    # fold the number in halves: XOR of all words is kept, C speed instead of a byte loop
    while words > 1:
        low_words = words // 2
        shift = low_words * 16
        value = (value >> shift) ^ (value & ((1 << shift) - 1))
        words -= low_words
    return value


def format_checksum(value: int) -> str:
    """Lower-case hex without leading zeros, as real modules print it."""
    return f"{value:x}"
