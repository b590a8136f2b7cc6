"""Graph's wire conventions: error bodies, request ids, OData headers and JSON responses."""

from __future__ import annotations

import json
import uuid
from typing import Any

from flask import Response, g, request

from graphpost.sandbox.context import sandbox

JSON_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
DIAGNOSTIC = json.dumps(
    {
        "ServerInfo": {
            "DataCenter": "Loopback",
            "Slice": "E",
            "Ring": "5",
            "ScaleUnit": "000",
            "RoleInstance": "GRAPHPOST-SANDBOX",
        }
    },
    separators=(",", ":"),
)


class GraphError(Exception):
    """A Graph error answer; `code` is spelled as the workload behind the URL spells it."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
        *,
        inner_error: bool = True,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}
        self.inner_error = inner_error

    def response(self) -> Response:
        response = error_response(self.status, self.code, self.message, self.inner_error)
        response.headers.update(self.headers)
        return response


def request_id() -> str:
    """This request's id, made on first use; echoed as client-request-id when the client sent none."""
    if "graph_request_id" not in g:
        g.graph_request_id = str(uuid.uuid4())
    value: str = g.graph_request_id
    return value


def client_request_id() -> str:
    return request.headers.get("client-request-id") or request_id()


def error_body(code: str, message: str, inner_error: bool = True) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if inner_error:
        # Graph's innerError date has no fraction and no Z
        error["innerError"] = {
            "date": sandbox().clock.utcnow().strftime("%Y-%m-%dT%H:%M:%S"),
            "request-id": request_id(),
            "client-request-id": client_request_id(),
        }
    return {"error": error}


def error_response(status: int, code: str, message: str, inner_error: bool = True) -> Response:
    response = Response(json.dumps(error_body(code, message, inner_error)), status=status)
    response.headers["Content-Type"] = "application/json"
    return response


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    response = Response(json.dumps(body, separators=(",", ":")), status=status)
    response.headers["Content-Type"] = JSON_TYPE
    response.headers["OData-Version"] = "4.0"
    response.headers["Cache-Control"] = "no-cache"
    if headers:
        response.headers.update(headers)
    return response


def empty_response(status: int, headers: dict[str, str] | None = None) -> Response:
    response = Response(b"", status=status)
    if headers:
        response.headers.update(headers)
    return response


def add_graph_headers(response: Response) -> Response:
    response.headers["request-id"] = request_id()
    response.headers["client-request-id"] = client_request_id()
    response.headers["x-ms-ags-diagnostic"] = DIAGNOSTIC
    response.headers["Strict-Transport-Security"] = "max-age=31536000"
    return response


# Graph refuses a request body over 4 MB ("The maximum request length supported is 4MB."); only
# the content PUTs of OneDrive and the upload URLs take more, and those stream to disk
REQUEST_LIMIT = 4 * 1024 * 1024
REQUEST_LIMIT_MESSAGE = "The maximum request length supported is 4MB."
_NOT_JSON = (
    "Unable to read JSON request payload. Please ensure Content-Type header is set and payload"
    " is of valid JSON format."
)


def request_body() -> bytes:
    """The whole request body, read at most once and never beyond Graph's 4 MB (413 past it),
    whether or not the client said its length: a body is never held whole past the limit."""
    if "graph_body" not in g:
        refuse_large_body(REQUEST_LIMIT, REQUEST_LIMIT_MESSAGE)
        raw = request.stream.read(REQUEST_LIMIT + 1)
        if len(raw) > REQUEST_LIMIT:  # chunked, no length given: found out while reading
            raise too_large(REQUEST_LIMIT_MESSAGE)
        g.graph_body = raw
    body: bytes = g.graph_body
    return body


def request_json(*, optional: bool = False) -> dict[str, Any]:
    """The JSON object in the body, or Graph's 400 when there is none (`optional`: {} then)."""
    raw = request_body()
    if not raw.strip():
        if optional:
            return {}
        raise GraphError(400, "BadRequest", "Empty Payload. JSON content expected.")
    try:
        body = json.loads(raw)
    except ValueError:
        raise GraphError(400, "BadRequest", _NOT_JSON) from None
    if not isinstance(body, dict):
        raise GraphError(400, "BadRequest", _NOT_JSON)
    return body


def ci_get(mapping: Any, name: str, default: Any = None) -> Any:
    """A property by name, ignoring case, as Graph reads request bodies; 400 when what should
    hold it is not a JSON object."""
    if not isinstance(mapping, dict):
        raise GraphError(
            400,
            "BadRequest",
            f"Cannot read '{name}': a JSON object was expected in the request body.",
        )
    if name in mapping:
        return mapping[name]
    lowered = name.lower()
    for key, value in mapping.items():
        if key.lower() == lowered:
            return value
    return default


def as_bool(value: Any, default: bool) -> bool:
    """Graph accepts JSON booleans and their string spellings ("true", "False")."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise GraphError(
        400,
        "BadRequest",
        f"Cannot convert the literal '{value}' to the expected type 'Edm.Boolean'.",
    )


def odata_context(path: str) -> str:
    return f"{sandbox().graph_url}/$metadata#{path}"


DRAIN_LIMIT = 64 * 1024 * 1024


def refuse_large_body(limit: int, message: str) -> None:
    """413 for a body whose stated length is over `limit`."""
    if (request.content_length or 0) > limit:
        raise too_large(message)


def too_large(message: str) -> GraphError:
    """Graph's 413, after reading on (up to a bound, keeping nothing) what the client is still
    sending, so that it gets the answer instead of a connection reset."""
    drained = 0
    while drained < DRAIN_LIMIT and (piece := request.stream.read(1024 * 1024)):
        drained += len(piece)
    return GraphError(413, "RequestEntityTooLarge", message)
