"""Plain-data requests and responses, and the operation protocol every Graph call follows.

An *operation* is a generator: it yields `Request`s and is sent back the matching
`Response`s; its return value is the typed result.  It does no I/O itself, so the
sync and async clients are only loops that carry requests to the network and
responses back (the way h11 separates protocol from sockets).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

T = TypeVar("T")

JSON = dict[str, Any]


@dataclass(frozen=True)
class Request:
    """One HTTP request to Graph.

    `url` is relative to the Graph base URL (``/me/sendMail``) unless it starts with
    ``https://`` (next links, upload URLs).  `authenticated` is False for URLs that
    must never carry the bearer token (pre-authenticated upload and download URLs).
    `idempotent` tells the retry policy whether sending it twice is harmless.
    `report_failures` asks the client to hand a transport failure back as a `Response` with
    status 0 (see `Response.failure`) rather than raise it, for an operation that must find
    out for itself what became of a request whose answer never came (a sent mail).
    """

    method: str
    url: str
    params: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    json: Any = None
    content: bytes | None = None
    authenticated: bool = True
    idempotent: bool | None = None
    report_failures: bool = False
    # a body too big to hold whole (an upload fragment): its blocks, made afresh for each try
    stream: Callable[[], Iterator[bytes]] | None = field(default=None, compare=False, repr=False)

    @property
    def is_idempotent(self) -> bool:
        if self.idempotent is not None:
            return self.idempotent
        return self.method in ("GET", "HEAD", "PUT", "DELETE", "OPTIONS")

    def body_bytes(self) -> bytes | None:
        """The body as it goes on the wire (JSON encoded compactly); None for a `stream`."""
        if self.json is not None:
            return json.dumps(self.json, separators=(",", ":")).encode()
        return self.content


@dataclass(frozen=True)
class Response:
    """One HTTP response, with header names lower-cased; status 0 means none came (`failure`
    says why: a timeout, a reset connection)."""

    status: int
    headers: Mapping[str, str]
    content: bytes = b""
    failure: BaseException | None = field(default=None, compare=False, repr=False)

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def json(self) -> Any:
        return json.loads(self.content) if self.content else None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def lower_headers(pairs: Any) -> dict[str, str]:
    """Header mapping with lower-case names, from any (name, value) iterable or mapping."""
    items = pairs.items() if hasattr(pairs, "items") else pairs
    return {str(k).lower(): str(v) for k, v in items}


Operation = Generator[Request, Response, T]
"""A Graph call: yields requests, receives responses, returns a `T`."""

PAUSE = "(pause)"


def pause(seconds: float) -> Request:
    """Not a request: asks the client to wait `seconds` before the operation goes on (for
    waits the protocol itself calls for, such as a batch item's Retry-After)."""
    return Request(PAUSE, "", params={"seconds": repr(max(0.0, seconds))})


def pause_seconds(request: Request) -> float | None:
    return float(request.params["seconds"]) if request.method == PAUSE else None


PAUSED = Response(204, {})
"""What a pause answers."""


def run_operation(operation: Operation[T], send: Any) -> T:
    """Drive `operation` with a synchronous `send(Request) -> Response`."""
    try:
        request = next(operation)
        while True:
            request = operation.send(send(request))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


def path_segment(value: str) -> str:
    """Quote one URL path segment (a user id, a UPN, a file name)."""
    return quote(value, safe="@")


def drive_path(path: str) -> str:
    """Quote a OneDrive path (``folder/name.txt``) for ``root:/{path}:`` addressing."""
    return "/".join(quote(part, safe="") for part in path.strip("/").split("/") if part)


def with_query(url: str, params: Mapping[str, str]) -> str:
    if not params:
        return url
    return url + ("&" if "?" in url else "?") + urlencode(params, safe="$,'() ")
