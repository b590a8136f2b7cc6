"""At most N requests in flight to Graph, counted from the request leaving until its answer is
read: an httpx transport that holds Outlook's limit itself.

A mail merge runs more sending threads than Outlook takes requests at once per mailbox, and
lets this transport keep exactly that many requests in flight: while four wait on Graph, the
others build their next mail and write their journal line, so the mailbox's four slots do not
idle between one answer and the next request, and no request goes over the limit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import httpx


class _ReleasedOnClose(httpx.SyncByteStream):
    """An answer's body that gives its slot back once read and closed (only the first close)."""

    def __init__(self, stream: httpx.SyncByteStream, release: Callable[[], None]) -> None:
        self._stream = stream
        self._release: Callable[[], None] | None = release

    def __iter__(self) -> Iterator[bytes]:
        yield from self._stream

    def close(self) -> None:
        release, self._release = self._release, None
        try:
            self._stream.close()
        finally:
            if release is not None:
                release()


class InFlightLimit(httpx.BaseTransport):
    def __init__(self, inner: httpx.BaseTransport, limit: int) -> None:
        self._inner = inner
        self._slots = threading.BoundedSemaphore(limit)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self._slots.acquire()
        try:
            response = self._inner.handle_request(request)
        except BaseException:
            self._slots.release()
            raise
        assert isinstance(response.stream, httpx.SyncByteStream)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_ReleasedOnClose(response.stream, self._slots.release),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._inner.close()
