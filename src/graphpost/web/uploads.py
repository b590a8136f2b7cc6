"""Files attached in the browser: written to temporary files as the request arrives (never held in
memory, whatever their size), handed to the library by path, and removed when the request ends."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from flask import Request
from werkzeug.datastructures import FileStorage

from graphpost.core.mail import FileAttachment


class UploadingRequest(Request):
    """Flask's request, with every uploaded file streamed to its own named temporary file."""

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        # named, so the library can read it by path a chunk at a time (upload sessions)
        handle = tempfile.NamedTemporaryFile(prefix="graphpost-upload-", delete=False)  # noqa: SIM115 - closed by close()
        self._upload_paths().append(Path(handle.name))
        return handle

    def _upload_paths(self) -> list[Path]:
        paths: list[Path] | None = self.environ.get("graphpost.upload_paths")
        if paths is None:
            paths = self.environ["graphpost.upload_paths"] = []
        return paths

    def close(self) -> None:
        super().close()  # closes the files
        for path in self.environ.get("graphpost.upload_paths", ()):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def attachments_from(files: Iterable[FileStorage]) -> list[FileAttachment]:
    """The files a form carried (an empty file input sends a part without a name: skipped)."""
    found: list[FileAttachment] = []
    for upload in files:
        if not upload.filename:
            continue
        upload.stream.flush()
        name = getattr(upload.stream, "name", None)
        if not isinstance(name, str):
            raise RuntimeError("uploads must be streamed to named files (UploadingRequest)")
        found.append(
            FileAttachment(upload.filename, content_type=upload.mimetype or None, path=Path(name))
        )
    return found
