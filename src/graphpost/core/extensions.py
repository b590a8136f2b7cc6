"""Open extensions on a user or a message: named bags of values an app keeps on Graph's objects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphpost.core.common import graph_request, owner_path
from graphpost.core.errors import expect_ok
from graphpost.core.http import Operation, path_segment
from graphpost.models import Extension

EXTENSION_TYPE = "microsoft.graph.openTypeExtension"


def _base(user: str, message_id: str | None) -> str:
    base = owner_path(user)
    if message_id is not None:
        base += f"/messages/{path_segment(message_id)}"
    return f"{base}/extensions"


def list_extensions(user: str = "me", message_id: str | None = None) -> Operation[list[Extension]]:
    response = expect_ok((yield graph_request("GET", _base(user, message_id))))
    return [Extension.from_json(item) for item in (response.json() or {}).get("value", [])]


def get_extension(
    name: str, user: str = "me", message_id: str | None = None
) -> Operation[Extension | None]:
    response = yield graph_request("GET", f"{_base(user, message_id)}/{path_segment(name)}")
    if response.status == 404:
        return None
    return Extension.from_json(expect_ok(response).json() or {})


def save_extension(
    name: str, values: Mapping[str, Any], user: str = "me", message_id: str | None = None
) -> Operation[Extension]:
    """Set the extension's values (all of them: Graph's PATCH replaces), creating it if needed.

    A PATCH first, since it may be repeated safely; a POST only when there is none yet
    (a repeated POST would find it there: 409, read as done)."""
    base = _base(user, message_id)
    patched = yield graph_request(
        "PATCH", f"{base}/{path_segment(name)}", json=dict(values), idempotent=True
    )
    if patched.status in (200, 204):
        return Extension(name=name, values=dict(values), id=name)
    if patched.status != 404:
        expect_ok(patched)
    body = {"@odata.type": EXTENSION_TYPE, "extensionName": name, **values}
    created = yield graph_request("POST", base, json=body, idempotent=False)
    if created.status == 409:
        return (yield from save_extension(name, values, user, message_id))
    return Extension.from_json(expect_ok(created, 201).json() or {})


def delete_extension(name: str, user: str = "me", message_id: str | None = None) -> Operation[None]:
    response = yield graph_request("DELETE", f"{_base(user, message_id)}/{path_segment(name)}")
    if response.status != 404:
        expect_ok(response, 204)
    return None
