"""Entra ID's error answers: the token endpoint's JSON and the sign-in pages' error page."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, jsonify, make_response, render_template

from graphpost.sandbox.context import sandbox


class EntraError(Exception):
    """An OAuth error with its AADSTS code, turned into Entra's JSON by the token endpoint."""

    def __init__(
        self,
        error: str,
        code: int,
        description: str,
        *,
        status: int = 400,
        suberror: str | None = None,
    ) -> None:
        super().__init__(f"AADSTS{code}: {description}")
        self.error, self.code, self.description = error, code, description
        self.status, self.suberror = status, suberror

    def response(self) -> Response:
        return entra_error_response(
            self.error, self.code, self.description, status=self.status, suberror=self.suberror
        )


def _timestamps() -> tuple[str, str, str]:
    now = sandbox().clock.utcnow()
    return str(uuid.uuid4()), str(uuid.uuid4()), now.strftime("%Y-%m-%d %H:%M:%SZ")


def entra_error_response(
    error: str, code: int, description: str, *, status: int = 400, suberror: str | None = None
) -> Response:
    """The JSON Entra sends: AADSTS code first, trace and correlation ids and a timestamp."""
    trace_id, correlation_id, timestamp = _timestamps()
    body: dict[str, Any] = {
        "error": error,
        "error_description": f"AADSTS{code}: {description}\r\nTrace ID: {trace_id}\r\n"
        f"Correlation ID: {correlation_id}\r\nTimestamp: {timestamp}",
        "error_codes": [code],
        "timestamp": timestamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": f"{sandbox().base_url}/error?code={code}",
    }
    if suberror:
        body["suberror"] = suberror
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store, no-cache"
    response.headers["x-ms-request-id"] = trace_id
    return response


def error_page(code: int, message: str, status: int = 400) -> Response:
    """The page a person sees when Entra will not redirect back (bad client, bad redirect URI)."""
    trace_id, correlation_id, _ = _timestamps()
    html = render_template(
        "identity/error.html",
        code=code,
        message=message,
        request_id=trace_id,
        correlation_id=correlation_id,
        timestamp=sandbox().clock.iso(),
    )
    return make_response(html, status)
