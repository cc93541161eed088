"""A UFS file store that starts as a shared template and copies it on its first change.

Every device of a fleet starts with the same files (a CA certificate, a client key); reading
them costs nothing per device, and a device's first write or delete makes its own copy of
the template's table (the bytes themselves are shared: they are immutable).
"""

from __future__ import annotations

from collections.abc import Mapping


class TemplateStore:
    """``FileStore`` over ``template`` (never changed) until this device changes a file."""

    __slots__ = ("_files", "_own")

    def __init__(self, template: Mapping[str, bytes]) -> None:
        self._files: Mapping[str, bytes] = template
        self._own: dict[str, bytes] | None = None

    @property
    def copied(self) -> bool:
        """Whether this device has changed a file (and so holds its own table)."""
        return self._own is not None

    def _mine(self) -> dict[str, bytes]:
        if self._own is None:
            self._own = dict(self._files)
            self._files = self._own
        return self._own

    def names(self) -> list[str]:
        return sorted(self._files)

    def size(self, name: str) -> int | None:
        data = self._files.get(name)
        return None if data is None else len(data)

    def read(self, name: str) -> bytes | None:
        return self._files.get(name)

    def write(self, name: str, data: bytes) -> None:
        self._mine()[name] = bytes(data)

    def delete(self, name: str) -> bool:
        if name not in self._files:
            return False
        del self._mine()[name]
        return True
