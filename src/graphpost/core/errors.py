"""Reading Graph's answers: an error `Response` into the right `GraphError`, and ``Retry-After``."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any

from graphpost.core.http import Response
from graphpost.errors import GraphError, Throttled

__all__ = ["error_from_response", "expect_ok", "retry_after"]

MAX_TEXT_MESSAGE = 300


def expect_ok(response: Response, *statuses: int) -> Response:
    """`response` when it is a success (any 2xx, or one of `statuses` when given), else raise."""
    if statuses and response.status in statuses:
        return response
    if not statuses and response.ok:
        return response
    raise error_from_response(response)


def error_from_response(response: Response, now: datetime | None = None) -> GraphError:
    """The `GraphError` subclass for `response`'s status, with Graph's code, message and ids.

    Reads ``{"error": {"code", "message", "innerError": {...}}}`` whatever the casing of
    ``innerError``, Entra-style ``{"error": "...", "error_description": "..."}`` bodies,
    and non-JSON bodies (proxies, gateways), falling back to the HTTP reason phrase.
    """
    status = response.status
    reason = _reason(status)
    code = reason.replace(" ", "").replace("-", "")
    message = reason
    inner: dict[str, Any] = {}
    inner_code: str | None = None

    body = _json_or_none(response)
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code = str(error.get("code") or "") or code
        message = str(error.get("message") or "") or message
        inner = _inner(error)
        inner_code = _deepest_code(error)
    elif isinstance(error, str) and error:
        code = error
        description = str(body.get("error_description") or "") if isinstance(body, dict) else ""
        message = description.strip().splitlines()[0] if description.strip() else message
    elif body is None:
        text = _short_text(response)
        if text:
            message = text

    cls = GraphError.class_for_status(status)
    return cls(
        status,
        code,
        message,
        request_id=_str(inner.get("request-id")) or response.header("request-id"),
        client_request_id=_str(inner.get("client-request-id"))
        or response.header("client-request-id"),
        date=_str(inner.get("date")) or response.header("date"),
        inner_code=inner_code,
        retry_after=retry_after(response, now) if cls is Throttled or status >= 500 else None,
    )


def retry_after(response: Response, now: datetime | None = None) -> float | None:
    """Seconds to wait from ``Retry-After``: delta-seconds (fractional accepted) or an HTTP date."""
    value = response.header("retry-after")
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def _json_or_none(response: Response) -> Any:
    if not response.content:
        return {}
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None


def _inner(error: dict[str, Any]) -> dict[str, Any]:
    for key, value in error.items():
        if key.lower() == "innererror" and isinstance(value, dict):
            return value
    return {}


def _deepest_code(error: dict[str, Any]) -> str | None:
    """OneDrive nests ever more specific codes in innerError; the 429 sample nests "429"."""
    found: str | None = None
    current = _inner(error)
    while current:
        code = current.get("code")
        if isinstance(code, str) and code and not code.isdigit():
            found = code
        current = _inner(current)
    return found


def _short_text(response: Response) -> str | None:
    content_type = (response.header("content-type") or "").lower()
    if not content_type.startswith("text/plain"):
        return None
    text = response.content.decode("utf-8", "replace").strip()
    return text[:MAX_TEXT_MESSAGE] if text else None


def _str(value: Any) -> str | None:
    return str(value) if value else None
