"""UFS files kept in a directory on the host, so certificates survive restarts."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

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

    def delete(self, name: str) -> bool:
        path = self._path(name)
        if not path.is_file():
            return False
        path.unlink()
        return True
