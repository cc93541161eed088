"""UFS files kept in a directory on the host, so certificates survive restarts."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO

import platformdirs


def default_files_dir() -> Path:
    """The per-user data directory for the module's files."""
    return Path(platformdirs.user_data_dir("bg96")) / "ufs"


class DirStore:
    """A ``FileStore`` over one flat directory; writes are atomic (temp file + rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, name: str) -> Path:
        path = (self.root / name).resolve()
        if path.parent != self.root or name in ("", ".", ".."):
            raise ValueError(f"file name escapes the store: {name!r}")
        return path

    def names(self) -> list[str]:
        return sorted(
            p.name for p in self.root.iterdir() if p.is_file() and not p.name.startswith(".")
        )

    def size(self, name: str) -> int | None:
        path = self._path(name)
        return path.stat().st_size if path.is_file() else None

    def read(self, name: str) -> bytes | None:
        path = self._path(name)
        return path.read_bytes() if path.is_file() else None

    def write(self, name: str, data: bytes) -> None:
        path = self._path(name)
        fd, tmp = tempfile.mkstemp(prefix=".upload-", dir=self.root)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def open_writer(self, name: str) -> TempWriter:
        """A file written piece by piece into a hidden temp file, renamed on commit."""
        path = self._path(name)
        fd, tmp = tempfile.mkstemp(prefix=".download-", dir=self.root)
        return TempWriter(os.fdopen(fd, "wb"), Path(tmp), path)

    def delete(self, name: str) -> bool:
        path = self._path(name)
        if not path.is_file():
            return False
        path.unlink()
        return True


class TempWriter:
    """A ``FileWriter``: pieces go to a hidden temp file, which replaces the file on commit."""

    def __init__(self, file: BinaryIO, tmp: Path, path: Path) -> None:
        self.file, self.tmp, self.path = file, tmp, path

    def write(self, data: bytes) -> None:
        self.file.write(data)

    def commit(self) -> None:
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            os.replace(self.tmp, self.path)
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        self.file.close()
        self.tmp.unlink(missing_ok=True)
