"""What lets an interrupted upload continue in another run: the session's address, kept on disk.

One small JSON file per (local file, its size and modification time, destination), written
atomically with mode 0600 (the upload URL is pre-authenticated: a secret), removed once the
upload is complete.  A file that changed since starts afresh.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

from graphpost.core.drive import UploadSession


class UploadJournal:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, source: Path, destination: str) -> Path:
        stat = source.stat()
        identity = f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{destination}"
        return self.folder / (hashlib.sha256(identity.encode()).hexdigest() + ".json")

    def load(self, source: Path, destination: str) -> UploadSession | None:
        try:
            data = json.loads(self._path(source, destination).read_text(encoding="utf-8"))
            return UploadSession.from_json(data)
        except (FileNotFoundError, ValueError, KeyError):
            return None

    def save(self, source: Path, destination: str, session: UploadSession) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._path(source, destination)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(session.to_json(), out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)

    def forget(self, source: Path, destination: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(source, destination).unlink()


class FileSource:
    """A local file read by offset, as an upload session takes it (one open file, not one a chunk)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self, offset: int, length: int) -> bytes:
        with open(self.path, "rb") as source:
            source.seek(offset)
            return source.read(length)
