"""JSON batching (`POST /$batch`): envelopes of at most 20 requests, `dependsOn`, binary bodies in
base64, and items retried on their own 429 after their own Retry-After."""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from graphpost.core.common import graph_request
from graphpost.core.errors import error_from_response, expect_ok, retry_after
from graphpost.core.http import Operation, Response, lower_headers, pause
from graphpost.errors import GraphError

MAX_ITEMS = 20
ROUNDS = 5  # an item throttled this many times is reported as throttled


@dataclass(frozen=True)
class BatchRequest:
    """One request of a batch; `url` is relative to the Graph version (``/me/messages``)."""

    id: str
    method: str
    url: str
    body: Any = None  # JSON, or bytes (sent base64-encoded)
    headers: Mapping[str, str] = field(default_factory=dict)
    depends_on: Sequence[str] = ()

    def to_json(self) -> dict[str, Any]:
        item: dict[str, Any] = {"id": self.id, "method": self.method.upper(), "url": self.url}
        headers = dict(self.headers)
        if self.body is not None:
            if isinstance(self.body, bytes):
                headers.setdefault("Content-Type", "application/octet-stream")
                content_type = next(v for k, v in headers.items() if k.lower() == "content-type")
                # JSON batching's rule: text travels as a string, anything else binary as base64
                textual = content_type.lower().startswith("text/")
                item["body"] = (
                    self.body.decode() if textual else base64.b64encode(self.body).decode()
                )
            else:
                headers.setdefault("Content-Type", "application/json")
                item["body"] = self.body
        if headers:
            item["headers"] = headers
        if self.depends_on:
            item["dependsOn"] = list(self.depends_on)
        return item


@dataclass(frozen=True)
class BatchResult:
    """One answer: status, headers and body (JSON decoded; other bodies as bytes)."""

    id: str
    status: int
    headers: Mapping[str, str]
    body: Any = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def error(self) -> GraphError:
        """The answer as a `GraphError` (for a failed item)."""
        content = json.dumps(self.body).encode() if isinstance(self.body, dict) else b""
        return error_from_response(Response(self.status, lower_headers(self.headers), content))


def read_result(item: Mapping[str, Any]) -> BatchResult:
    headers = {str(k): str(v) for k, v in (item.get("headers") or {}).items()}
    body = item.get("body")
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    if (
        isinstance(body, str)
        and "json" not in content_type.lower()
        and not content_type.lower().startswith("text/")
    ):
        body = base64.b64decode(body)  # Graph sends binary bodies base64-encoded
    return BatchResult(str(item.get("id")), int(item.get("status", 0)), headers, body)


def plan(requests: Sequence[BatchRequest]) -> list[list[BatchRequest]]:
    """Envelopes of at most 20, each request with the requests it depends on."""
    ids = [r.id.lower() for r in requests]
    if len(set(ids)) != len(ids):
        raise ValueError("batch request ids must be unique (ignoring case)")
    known = set(ids)
    group: dict[str, str] = {i: i for i in ids}

    def root(node: str) -> str:
        while group[node] != node:
            node = group[node]
        return node

    for request in requests:
        for dependency in request.depends_on:
            if dependency.lower() not in known:
                raise ValueError(
                    f"{request.id!r} depends on {dependency!r}, which is not in the batch"
                )
            group[root(request.id.lower())] = root(dependency.lower())
    chains: dict[str, list[BatchRequest]] = {}
    for request in requests:
        chains.setdefault(root(request.id.lower()), []).append(request)
    envelopes: list[list[BatchRequest]] = []
    for chain in chains.values():
        if len(chain) > MAX_ITEMS:
            raise ValueError(
                f"{len(chain)} requests depend on each other: a batch holds at most {MAX_ITEMS}"
            )
        if not envelopes or len(envelopes[-1]) + len(chain) > MAX_ITEMS:
            envelopes.append([])
        envelopes[-1].extend(chain)
    return envelopes


def batch(
    requests: Sequence[BatchRequest], rounds: int = ROUNDS
) -> Operation[dict[str, BatchResult]]:
    """Every request's result, by id.  Items that come back 429 go again (with those that
    depend on them) after the longest Retry-After among them."""
    results: dict[str, BatchResult] = {}
    for envelope in plan(requests):
        pending = list(envelope)
        for round_number in range(1, rounds + 1):
            request = graph_request(
                "POST",
                "/$batch",
                json={"requests": [r.to_json() for r in pending]},
                # each item says for itself whether it may be repeated; the envelope may not
                idempotent=all(r.method.upper() in ("GET", "PUT", "DELETE") for r in pending),
            )
            answer = expect_ok((yield request))
            got = {
                result.id: result
                for result in map(read_result, (answer.json() or {}).get("responses", []))
            }
            throttled = {
                r.id for r in pending if got.get(r.id) is not None and got[r.id].status == 429
            }
            # dependants of a throttled item failed (424) only because of it: they go again too
            again_ids = set(throttled)
            grown = True
            while grown:
                more = {
                    r.id for r in pending if any(d in again_ids for d in r.depends_on)
                } - again_ids
                again_ids |= more
                grown = bool(more)
            again = [r for r in pending if r.id in again_ids]
            results.update({k: v for k, v in got.items() if not any(k == r.id for r in again)})
            if not again or round_number == rounds:
                results.update({r.id: got[r.id] for r in again if r.id in got})
                break
            waits = [retry_after(_as_response(got[i])) or 1.0 for i in throttled]
            yield pause(max(waits))
            pending = [
                dataclasses.replace(r, depends_on=[d for d in r.depends_on if d in again_ids])
                for r in again
            ]
    return results


def _as_response(result: BatchResult) -> Response:
    return Response(result.status, lower_headers(result.headers))
