"""Graph's URL space as regular expressions, so OneDrive's `root:/path:/content` addressing fits."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Response

from graphpost.sandbox.graph.wire import GraphError

OWNER = r"(?P<owner>me|users/[^/]+)"

Handler = Callable[..., Response]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    outlook: bool  # served by Exchange: counts against Outlook's per-mailbox throttling
    service_time: bool  # --latency-ms applies (not to $batch, whose time is its requests')


ROUTES: list[Route] = []


def route(
    method: str, pattern: str, *, outlook: bool = False, service_time: bool = True
) -> Callable[[Handler], Handler]:
    """Register `handler` for `method` on paths (below /v1.0, case-insensitive) matching `pattern`."""

    def register(handler: Handler) -> Handler:
        compiled = re.compile(pattern + r"/?$", re.IGNORECASE)
        ROUTES.append(Route(method, compiled, handler, outlook, service_time))
        return handler

    return register


def match(method: str, path: str) -> tuple[Route, dict[str, Any]]:
    allowed = False
    for candidate in ROUTES:
        found = candidate.pattern.match(path)
        if found is None:
            continue
        if candidate.method == method:
            return candidate, found.groupdict()
        allowed = True
    if allowed:
        raise GraphError(
            405,
            "Request_BadRequest",
            "Specified HTTP method is not allowed for the request target.",
        )
    segment = path.strip("/").split("/")[-1] if path.strip("/") else ""
    raise GraphError(400, "BadRequest", f"Resource not found for the segment '{segment}'.")
