"""Upload sessions, both kinds (OneDrive files, Outlook attachments): byte ranges, chunk sizes, the
server's next expected range, and the loop that puts the bytes, as one operation.

The bytes come from a `read(offset, length)` function the caller supplies (a file, a
buffer), so a 1 GiB file never sits whole in memory and the loop itself does no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from graphpost.core.common import graph_request
from graphpost.core.errors import error_from_response
from graphpost.core.http import Operation, Response

Read = Callable[[int, int], bytes]
Progress = Callable[[int, int], None]
"""Called with (bytes done, bytes in all) after each chunk."""

ONEDRIVE_UNIT = 320 * 1024  # OneDrive chunks must be multiples of 320 KiB (all but the last)
ONEDRIVE_CHUNK = 32 * ONEDRIVE_UNIT  # 10 MiB: within the 5-10 MiB Microsoft recommends
ONEDRIVE_MAX_CHUNK = 187 * ONEDRIVE_UNIT  # the largest multiple under OneDrive's 60 MiB cap
OUTLOOK_CHUNK = 3 * 1024 * 1024  # Outlook: "keep each byte range less than 4 MB"
BLOCK = 1024 * 1024  # a chunk goes out read a block at a time, never whole in memory
_OFFSET = re.compile(r"^(\d+)-?")


def content_range(start: int, end: int, total: int) -> str:
    return f"bytes {start}-{end}/{total}"


def next_offset(ranges: object, default: int) -> int:
    """The first byte the server still needs, from ``nextExpectedRanges`` (``["26-"]`` for
    OneDrive, ``["2097152"]`` for Outlook); `default` when it says nothing usable."""
    if isinstance(ranges, list) and ranges and isinstance(ranges[0], str):
        found = _OFFSET.match(ranges[0])
        if found:
            return int(found.group(1))
    return default


@dataclass(frozen=True)
class Chunking:
    """How one kind of session takes its bytes."""

    chunk: int
    # whether a lost or refused chunk can be asked about (OneDrive: GET the session) or the
    # session has to start over (Outlook answers nothing about a session but to a chunk)
    can_resume: bool
    # the largest chunk; more than `chunk` for files so big that round trips would dominate
    max_chunk: int = 0
    unit: int = 1

    def chunk_for(self, size: int) -> int:
        """`chunk`, or for a big file a tenth of it (so a lost chunk costs at most a tenth),
        in whole units, up to `max_chunk`."""
        tenth = size // 10 // self.unit * self.unit
        return max(self.chunk, min(tenth, self.max_chunk or self.chunk))


ONEDRIVE = Chunking(ONEDRIVE_CHUNK, True, ONEDRIVE_MAX_CHUNK, ONEDRIVE_UNIT)
OUTLOOK = Chunking(OUTLOOK_CHUNK, can_resume=False)


def blocks(read: Read, offset: int, length: int) -> Callable[[], Iterator[bytes]]:
    """The bytes `offset` to `offset + length` as blocks of at most `BLOCK`, read anew each
    time the function is called (each try of the request)."""

    def stream() -> Iterator[bytes]:
        done = 0
        while done < length:
            want = min(BLOCK, length - done)
            block = read(offset + done, want)
            if len(block) != want:
                raise ValueError(
                    f"the source gave {len(block)} bytes at {offset + done}, not {want}:"
                    " it changed during the upload"
                )
            done += want
            yield block

    return stream


class SessionLost(Exception):
    """The session is gone (expired, cancelled, or refused a chunk it cannot recover from)."""

    def __init__(self, response: Response) -> None:
        super().__init__(str(error_from_response(response)))
        self.response = response


def put_bytes(
    upload_url: str,
    size: int,
    read: Read,
    chunking: Chunking,
    start: int = 0,
    progress: Progress | None = None,
) -> Operation[Response]:
    """PUT the bytes from `start` to `size` to a session's URL; returns the final answer.

    The URL is pre-authenticated: no Authorization header goes with it.  A chunk the server
    does not take (5xx, a lost answer the client retried into a 416) is resolved, for
    OneDrive, by asking the session where it stands and going on from there.
    """
    offset = start
    chunk = chunking.chunk_for(size)
    while True:
        end = min(offset + chunk, size) - 1
        request = graph_request(
            "PUT",
            upload_url,
            headers={
                "Content-Range": content_range(offset, end, size),
                "Content-Length": str(end - offset + 1),
                "Content-Type": "application/octet-stream",
            },
            stream=blocks(read, offset, end - offset + 1),
            authenticated=False,
            # the same bytes at the same offset: the session takes them at most once
            idempotent=True,
        )
        response = yield request
        if response.status in (200, 201, 202):
            if progress is not None:
                progress(end + 1, size)
            if end + 1 >= size:
                return response  # the last chunk's answer: the file, or the attachment's Location
            offset = next_offset((response.json() or {}).get("nextExpectedRanges"), end + 1)
            continue
        if chunking.can_resume and response.status in (416, 500, 502, 503, 504):
            status = yield graph_request("GET", upload_url, authenticated=False, idempotent=True)
            if status.ok:
                offset = next_offset((status.json() or {}).get("nextExpectedRanges"), offset)
                continue
            raise SessionLost(status)
        raise SessionLost(response)
