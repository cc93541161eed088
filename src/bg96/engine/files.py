"""The module's file system (UFS) as the engine sees it: names, checksum, a store interface.

The engine does no I/O, so the store is handed in: ``MemoryStore`` here, a directory-backed
store in ``bg96.module.filestore`` for the real runner.
"""

from __future__ import annotations

from typing import Protocol

from ..protocol.checksum import checksum, format_checksum

__all__ = [
    "FileStore",
    "FileWriter",
    "MemoryStore",
    "checksum",
    "format_checksum",
    "normalize_name",
    "open_writer",
]

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


class FileWriter(Protocol):
    """A file written piece by piece (an HTTP body into UFS): invisible until ``commit``,
    which replaces a file of that name; ``discard`` leaves nothing behind."""

    def write(self, data: bytes) -> None: ...
    def commit(self) -> None: ...
    def discard(self) -> None: ...


class _BufferedWriter:
    """For a store that only writes whole files: the pieces wait in memory."""

    def __init__(self, store: FileStore, name: str) -> None:
        self.store, self.name = store, name
        self.data = bytearray()

    def write(self, data: bytes) -> None:
        self.data += data

    def commit(self) -> None:
        self.store.write(self.name, bytes(self.data))

    def discard(self) -> None:
        self.data = bytearray()


def open_writer(store: FileStore, name: str) -> FileWriter:
    """A writer for ``name``: the store's own (``open_writer``, streaming to disk) if it
    has one, else one that writes the whole file at the end."""
    opener = getattr(store, "open_writer", None)
    if opener is not None:
        writer: FileWriter = opener(name)
        return writer
    return _BufferedWriter(store, name)


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
