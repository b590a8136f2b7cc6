"""Driving sans-IO operations by hand in tests: feed canned `Response`s, collect the `Request`s."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar

from graphpost.core.http import Operation, Request, Response

T = TypeVar("T")


def response(
    status: int = 200,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
) -> Response:
    """A Response with a JSON `body` (or raw `content`); header names lower-cased."""
    all_headers = {k.lower(): v for k, v in (headers or {}).items()}
    if body is not None:
        all_headers.setdefault("content-type", "application/json")
        content = json.dumps(body).encode()
    return Response(status, all_headers, content or b"")


def drive(operation: Operation[T], *responses: Response) -> tuple[list[Request], T]:
    """Run `operation` against `responses` in order; every response must be consumed."""
    sent: list[Request] = []
    queue = list(responses)
    try:
        request = next(operation)
        while True:
            sent.append(request)
            assert queue, f"operation sent an unexpected request: {request.method} {request.url}"
            request = operation.send(queue.pop(0))
    except StopIteration as done:
        assert not queue, f"{len(queue)} response(s) left unread"
        return sent, done.value


def graph_error(
    status: int, code: str, message: str, request_id: str = "req-1", **headers: str
) -> Response:
    body = {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": "2025-02-13T10:17:06",
                "request-id": request_id,
                "client-request-id": "client-1",
            },
        }
    }
    return response(status, body, headers)
