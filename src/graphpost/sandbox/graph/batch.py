"""`POST /$batch`: up to 20 requests in one, each run through the sandbox as if sent alone.

Each item goes through the whole pipeline (token check, throttling, faults, request
log), so it fails exactly as it would alone; `dependsOn` orders items and a failed
dependency fails its dependants with 424. Like Graph, up to 4 items run at once and the
answers may come back in any order.
"""

from __future__ import annotations

import base64
import json
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, current_app, request

from graphpost.sandbox.context import Sandbox
from graphpost.sandbox.graph.auth import Principal
from graphpost.sandbox.graph.router import route
from graphpost.sandbox.graph.wire import GraphError, json_response, request_id, request_json
from graphpost.sandbox.requestlog import BATCH_ENVIRON

MAX_REQUESTS = 20
PARALLEL = 4
# headers a sub-request inherits from the envelope
INHERITED = ("Authorization", "client-request-id")


@dataclass
class Item:
    id: str
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None
    depends_on: list[str] = field(default_factory=list)


def _bad(message: str) -> GraphError:
    return GraphError(400, "BadRequest", message)


def parse_batch(envelope: dict[str, Any]) -> list[Item]:
    """The batch's items, validated as Graph validates them (a malformed batch is one 400)."""
    requests = envelope.get("requests")
    if not isinstance(requests, list) or not requests:
        raise _bad("Invalid batch payload format.")
    if len(requests) > MAX_REQUESTS:
        raise _bad(f"Number of requests in the batch exceeds the limit of {MAX_REQUESTS}.")
    items: list[Item] = []
    seen: set[str] = set()
    for raw in requests:
        if not isinstance(raw, dict):
            raise _bad("Invalid batch payload format.")
        item_id, method, url = raw.get("id"), raw.get("method"), raw.get("url")
        if not isinstance(item_id, str) or not item_id:
            raise _bad("Every request in the batch needs an id.")
        if item_id.lower() in seen:  # ids are not case-sensitive
            raise _bad(f"Request id '{item_id}' appears more than once in the batch.")
        seen.add(item_id.lower())
        if not isinstance(method, str) or method.upper() not in (
            "GET",
            "POST",
            "PUT",
            "PATCH",
            "DELETE",
        ):
            raise _bad(f"Request '{item_id}' has no valid method.")
        if not isinstance(url, str) or not url or url.lower().startswith(("http:", "https:")):
            raise _bad(
                f"Request '{item_id}' needs a URL relative to the Graph version (such as /me)."
            )
        if url.split("?", 1)[0].strip("/").lower() == "$batch":
            raise _bad(f"Request '{item_id}' is a batch: batches do not nest.")
        headers = raw.get("headers") or {}
        if not isinstance(headers, dict):
            raise _bad(f"The headers of request '{item_id}' are not an object.")
        headers = {str(k): str(v) for k, v in headers.items()}
        body = _item_body(item_id, raw, headers)
        depends = raw.get("dependsOn") or []
        if not isinstance(depends, list) or not all(isinstance(d, str) for d in depends):
            raise _bad(f"dependsOn of request '{item_id}' must be a list of ids.")
        items.append(Item(item_id, method.upper(), url, headers, body, depends))
    known = {item.id.lower() for item in items}
    for item in items:
        for dependency in item.depends_on:
            if dependency.lower() not in known or dependency.lower() == item.id.lower():
                raise _bad(
                    f"Request '{item.id}' depends on '{dependency}', which is not in the batch."
                )
    _check_acyclic(items)
    return items


def _item_body(item_id: str, raw: dict[str, Any], headers: dict[str, str]) -> bytes | None:
    if "body" not in raw or raw["body"] is None:
        return None
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
    if content_type is None:
        raise _bad(f"Request '{item_id}' has a body but no Content-Type header.")
    body = raw["body"]
    if "json" in content_type.lower():
        return json.dumps(body).encode()
    if isinstance(body, str):
        if content_type.lower().startswith("text/"):
            return body.encode()
        try:  # binary bodies travel as base64 strings
            return base64.b64decode(body, validate=True)
        except ValueError:
            raise _bad(f"The body of request '{item_id}' is not valid base64.") from None
    raise _bad(f"The body of request '{item_id}' does not match its Content-Type.")


def _check_acyclic(items: list[Item]) -> None:
    depends = {item.id.lower(): [d.lower() for d in item.depends_on] for item in items}
    state: dict[str, int] = {}

    def visit(node: str) -> None:
        if state.get(node) == 1:
            raise _bad("The dependsOn of the batch's requests form a cycle.")
        if state.get(node) == 2:
            return
        state[node] = 1
        for dependency in depends[node]:
            visit(dependency)
        state[node] = 2

    for node in depends:
        visit(node)


def _answer_body(response: Any) -> Any:
    """As Graph encodes sub-responses: JSON as JSON, text as a string, anything else base64."""
    data: bytes = response.get_data()
    if not data:
        return None
    content_type = (response.headers.get("Content-Type") or "").lower()
    if "json" in content_type:
        return json.loads(data)
    if content_type.startswith("text/"):
        return data.decode("utf-8", "replace")
    return base64.b64encode(data).decode()


def _run(
    app: Flask, base_url: str, item: Item, inherited: dict[str, str], envelope_id: str
) -> dict[str, Any]:
    path = "/v1.0/" + item.url.lstrip("/")
    with app.test_client() as client:
        response = client.open(
            path,
            method=item.method,
            headers={**inherited, **item.headers},
            data=item.body,
            base_url=base_url,
            environ_overrides={BATCH_ENVIRON: envelope_id},  # its log entry names the batch
        )
    headers = {
        k: v
        for k, v in response.headers.items()
        if k.lower() not in ("content-length", "strict-transport-security", "x-ms-ags-diagnostic")
    }
    answer: dict[str, Any] = {"id": item.id, "status": response.status_code, "headers": headers}
    body = _answer_body(response)
    if body is not None:
        answer["body"] = body
    return answer


def _failed_dependency(item: Item) -> dict[str, Any]:
    # Graph's wording here is not documented; the status is
    return {
        "id": item.id,
        "status": 424,
        "headers": {"Content-Type": "application/json"},
        "body": {
            "error": {
                "code": "FailedDependency",
                "message": "The request was not executed because a request it depends on failed.",
            }
        },
    }


def run_batch(
    app: Flask, base_url: str, items: list[Item], inherited: dict[str, str], envelope_id: str
) -> list[dict[str, Any]]:
    answers: list[dict[str, Any]] = []
    status: dict[str, int] = {}
    waiting = list(items)
    running: dict[Future[dict[str, Any]], Item] = {}
    with ThreadPoolExecutor(PARALLEL) as pool:
        while waiting or running:
            for item in list(waiting):
                deps = [d.lower() for d in item.depends_on]
                if any(d not in status for d in deps):
                    continue
                waiting.remove(item)
                if any(not 200 <= status[d] < 300 for d in deps):
                    answer = _failed_dependency(item)
                    status[item.id.lower()] = answer["status"]
                    answers.append(answer)
                    continue
                running[pool.submit(_run, app, base_url, item, inherited, envelope_id)] = item
            if not running:
                continue
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                item = running.pop(future)
                answer = future.result()
                status[item.id.lower()] = answer["status"]
                answers.append(answer)
    return answers


@route("POST", r"\$batch", service_time=False)
def batch(sb: Sandbox, principal: Principal) -> Response:
    items = parse_batch(request_json())
    inherited = {name: request.headers[name] for name in INHERITED if name in request.headers}
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    answers = run_batch(app, request.host_url, items, inherited, request_id())
    return json_response({"responses": answers})
