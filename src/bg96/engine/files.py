"""The module's file system (UFS) as the engine sees it: names, checksum, a store interface.

The engine does no I/O, so the store is handed in: ``MemoryStore`` here, a directory-backed
store in ``bg96.module.filestore`` for the real runner.
"""

from __future__ import annotations

from typing import Protocol

from ..protocol.checksum import checksum, format_checksum

__all__ = ["FileStore", "MemoryStore", "checksum", "format_checksum", "normalize_name"]

MAX_NAME = 80  # FILE manual: a file name is at most 80 bytes
_FORBIDDEN = set('/\\\x00:*?"<>|')


class FileStore(Protocol):
    """Where UFS files live. ``write`` must replace a file atomically."""

    def names(self) -> list[str]: ...
    def size(self, name: str) -> int | None: ...
    def read(self, name: str) -> bytes | None: ...
    def write(self, name: str, data: bytes) -> None: ...
    def delete(self, name: str) -> bool: ...


class MemoryStore:
    """A store that keeps files in a dict (tests, throw-away modules)."""

    def __init__(self, files: dict[str, bytes] | None = None) -> None:
        self._files: dict[str, bytes] = dict(files or {})

    def names(self) -> list[str]:
        return sorted(self._files)

    def size(self, name: str) -> int | None:
        data = self._files.get(name)
        return None if data is None else len(data)

    def read(self, name: str) -> bytes | None:
        return self._files.get(name)

    def write(self, name: str, data: bytes) -> None:
        self._files[name] = bytes(data)

    def delete(self, name: str) -> bool:
        return self._files.pop(name, None) is not None


def normalize_name(raw: str) -> str | None:
    """The UFS file name for ``raw`` (``UFS:`` prefix optional), or None if it is invalid.

    Invalid: empty, longer than 80 bytes, a path (separators, ``..``), NUL or other
    characters a UFS name cannot hold, or a name that hides behind a leading dot.
    """
    name = raw[4:] if raw[:4].upper() == "UFS:" else raw
    if not name or len(name.encode("utf-8", "surrogateescape")) > MAX_NAME:
        return None
    if any(c in _FORBIDDEN or ord(c) < 32 or ord(c) == 127 for c in name):
        return None
    if name.startswith(".") or name.strip() != name:
        return None
    return name
